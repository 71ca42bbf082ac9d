"""Pseudo-likelihood (Besag, 1975): replace the intractable likelihood by the product of every
unit's conditional given all the others."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from ebm.objectives._binary_examples import binary_batch, quadratic, small_bm
from ebm.objectives._common import SingleFlipObjective
from ebm.registry import register_objective

__all__ = ["PseudoLikelihood"]


@register_objective(
    "pseudo_likelihood",
    example=lambda: (PseudoLikelihood(), (small_bm(), binary_batch())),
    bad_inputs=[
        (lambda: PseudoLikelihood()(quadratic(), torch.randn(8, 4)), ValueError, "binary"),
        (lambda: PseudoLikelihood()(small_bm(), binary_batch().long()), TypeError, "float"),
    ],
)
class PseudoLikelihood(SingleFlipObjective):
    """Negative log pseudo-likelihood: ``J(θ) = -E_data Σ_i log p_θ(x_i | x_{-i})``.

    For binary units the conditional compares ``x`` with its one-bit neighbour ``x̄ⁱ``:
    ``p(x_i | x_{-i}) = e^{-E(x)} / (e^{-E(x)} + e^{-E(x̄ⁱ)}) = σ(ΔE_i)`` with
    ``ΔE_i = E(x̄ⁱ) - E(x)``, so

        ``J(θ) = E_data Σ_i softplus(-ΔE_i(x))``.

    Consistent for fully visible models; for an RBM the free energy makes it the pseudo-likelihood
    of the visible marginal.

    Reference: Besag (1975), "Statistical Analysis of Non-Lattice Data", The Statistician 24(3).

    Call args:
        energy: an `ebm.Energy` over binary vectors; x: binary data ``(batch, *event_shape)``;
        generator: unused (deterministic; all ``D`` sites are used).

    Returns:
        The scalar loss (mean over the batch of the sum over sites), in nats.

    Raises:
        ValueError: non-binary data. TypeError: integer dtype or a non-Energy.

    Example:
        >>> from ebm.energies import BoltzmannMachine
        >>> x = torch.bernoulli(torch.full((32, 6), 0.5))
        >>> loss = PseudoLikelihood()(BoltzmannMachine(6), x)
    """

    name = "pseudo-likelihood"

    def per_flip(self, deltas: Tensor) -> Tensor:
        return F.softplus(-deltas)  # (batch, D)
