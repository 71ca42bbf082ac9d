"""Ratio matching (Hyvärinen, 2007): score matching's idea for binary data, matching ratios of
probabilities between a state and its one-bit neighbours instead of gradients."""

from __future__ import annotations

import torch
from torch import Tensor

from ebm.objectives._binary_examples import binary_batch, quadratic, small_bm
from ebm.objectives._common import SingleFlipObjective
from ebm.registry import register_objective

__all__ = ["RatioMatching"]


@register_objective(
    "ratio_matching",
    example=lambda: (RatioMatching(), (small_bm(), binary_batch())),
    bad_inputs=[
        (lambda: RatioMatching()(quadratic(), torch.randn(8, 4)), ValueError, "binary"),
        (lambda: RatioMatching()(small_bm(), binary_batch().long()), TypeError, "float"),
        (lambda: RatioMatching()(lambda x: x.sum(-1), binary_batch()), TypeError, "Energy"),
    ],
)
class RatioMatching(SingleFlipObjective):
    """Ratio matching: ``J(θ) = E_data Σ_i g( p_θ(x) / p_θ(x̄ⁱ) )²`` with ``g(u) = 1 / (1 + u)``.

    ``x̄ⁱ`` is ``x`` with bit ``i`` flipped. The ratio is free of ``Z``: with
    ``ΔE_i = E(x̄ⁱ) - E(x)``, ``p(x)/p(x̄ⁱ) = exp(ΔE_i)`` and ``g = σ(-ΔE_i)``, so

        ``J(θ) = E_data Σ_i σ(-ΔE_i(x))²``.

    Minimising pushes every data state below its one-bit neighbours in energy. This is the form of
    Marlin, Swersky, Chen & de Freitas (2010), which corrects the objective as first printed.
    Cost: the ``D`` flip deltas per data point (closed form for Boltzmann machines and RBMs, one
    batched energy call on ``D+1`` states otherwise).

    References: Hyvärinen (2007), "Some extensions of score matching", Computational Statistics &
    Data Analysis 51; Marlin, Swersky, Chen & de Freitas (2010), "Inductive Principles for
    Restricted Boltzmann Machine Learning", AISTATS.

    Call args:
        energy: an `ebm.Energy` over binary vectors (``BoltzmannMachine``, ``BernoulliRBM`` through
            its free energy, or any energy defined on {0, 1}^D).
        x: binary data ``(batch, *event_shape)`` in {0, 1} (floating dtype).
        generator: unused (deterministic); accepted for the common signature.

    Returns:
        The scalar loss (mean over the batch of the sum over bits).

    Raises:
        ValueError: non-binary data (real-valued data: use a score-matching objective).
        TypeError: integer dtype, or a non-Energy.

    Example:
        >>> from ebm.energies import BoltzmannMachine
        >>> x = torch.bernoulli(torch.full((32, 6), 0.5))
        >>> loss = RatioMatching()(BoltzmannMachine(6), x)
    """

    name = "ratio matching"

    def per_flip(self, deltas: Tensor) -> Tensor:
        return torch.sigmoid(-deltas).pow(2)  # (batch, D)
