"""Minimum probability flow (Sohl-Dickstein, Battaglino & DeWeese, 2011): minimise the initial
flow of probability out of the data states under dynamics that would converge to the model."""

from __future__ import annotations

import torch
from torch import Tensor

from ebm.objectives._binary_examples import binary_batch, quadratic, small_bm
from ebm.objectives._common import SingleFlipObjective
from ebm.registry import register_objective

__all__ = ["MinimumProbabilityFlow"]


@register_objective(
    "minimum_probability_flow",
    example=lambda: (MinimumProbabilityFlow(), (small_bm(), binary_batch())),
    bad_inputs=[
        (lambda: MinimumProbabilityFlow()(quadratic(), torch.randn(8, 4)), ValueError, "binary"),
        (lambda: MinimumProbabilityFlow()(small_bm(), binary_batch().long()), TypeError, "float"),
    ],
)
class MinimumProbabilityFlow(SingleFlipObjective):
    """MPF with single-bit-flip connectivity: ``K(θ) = E_data Σ_i exp( ½ (E(x) - E(x̄ⁱ)) )``.

    The model defines a master equation whose transition rates from a state to each one-bit
    neighbour ``x̄ⁱ`` are ``exp(½ (E(x) - E(x̄ⁱ)))`` (detailed balance with ``p_θ``). Starting at
    the data distribution, the initial rate of probability flow out of the data is ``K`` (up to
    the step size): it is zero when the data distribution is already the model's fixed point, and
    it never needs ``Z`` or sampling. With ``ΔE_i = E(x̄ⁱ) - E(x)``: ``K = E_data Σ_i exp(-ΔE_i / 2)``.
    For RBMs the energy is the free energy (the visible marginal), as in the paper.

    (Flows into neighbours that are themselves data states cancel in the exact objective; like
    the paper's experiments we keep all ``D`` neighbours, which is exact in the limit of data
    that rarely repeat and harmless otherwise.)

    Reference: Sohl-Dickstein, Battaglino & DeWeese (2011), "Minimum Probability Flow Learning",
    ICML, arXiv:0906.4779.

    Call args:
        energy: an `ebm.Energy` over binary vectors; x: binary data ``(batch, *event_shape)``;
        generator: unused (deterministic).

    Returns:
        The scalar loss (mean over the batch of the sum over bits).

    Raises:
        ValueError: non-binary data. TypeError: integer dtype or a non-Energy.

    Example:
        >>> from ebm.energies import BoltzmannMachine
        >>> x = torch.bernoulli(torch.full((32, 6), 0.5))
        >>> loss = MinimumProbabilityFlow()(BoltzmannMachine(6), x)
    """

    name = "minimum probability flow"

    def per_flip(self, deltas: Tensor) -> Tensor:
        return torch.exp(-0.5 * deltas)  # (batch, D)
