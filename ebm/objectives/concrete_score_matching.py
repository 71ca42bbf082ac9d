"""Concrete score matching (Meng, Choi, Song & Ermon, 2022): score matching for discrete data, with
the gradient replaced by the "concrete score" -- ratios of probabilities to a neighbourhood."""

from __future__ import annotations

import torch
from torch import Tensor

from ebm.objectives._binary_examples import binary_batch, quadratic, small_bm
from ebm.objectives._common import SingleFlipObjective
from ebm.registry import register_objective

__all__ = ["ConcreteScoreMatching"]


@register_objective(
    "concrete_score_matching",
    example=lambda: (ConcreteScoreMatching(), (small_bm(), binary_batch())),
    bad_inputs=[
        (lambda: ConcreteScoreMatching()(quadratic(), torch.randn(8, 4)), ValueError, "binary"),
        (lambda: ConcreteScoreMatching()(small_bm(), binary_batch().long()), TypeError, "float"),
        (lambda: ConcreteScoreMatching()(lambda x: x.sum(-1), binary_batch()), TypeError, "Energy"),
    ],
)
class ConcreteScoreMatching(SingleFlipObjective):
    """CSM on the one-bit-flip neighbourhood of {0, 1}^D, with the concrete score given by an energy.

    The concrete score of ``p`` at ``x`` is the vector ``c_p(x)_i = p(x̄ⁱ)/p(x) - 1`` over the ``D``
    one-bit neighbours ``x̄ⁱ`` (the discrete analogue of ``∇ log p``: zero where ``p`` is flat). An
    energy gives it without ``Z``: with ``Δ_i(x) = E(x̄ⁱ) - E(x)``, ``c_θ(x)_i = exp(-Δ_i) - 1``.
    CSM minimises ``E_data Σ_i (c_θ(x)_i - c_data(x)_i)²``; expanding the square and substituting
    ``y = x̄ⁱ`` in the cross term (the flip is its own inverse), as Meng et al. do for a general
    neighbourhood, removes the unknown data ratios:

        ``J(θ) = E_data Σ_i [ c_θ(x)_i² + 2 c_θ(x)_i - 2 c_θ(x̄ⁱ)_i ] + const
               = E_data Σ_i [ exp(-2Δ_i) - 2 exp(Δ_i) + 1 ] + const``

    (``c_θ(x̄ⁱ)_i = exp(Δ_i) - 1`` since flipping bit ``i`` of ``x̄ⁱ`` gives back ``x``). The constant
    is ``E_data Σ_i c_data(x)_i²``, so ``J`` can be negative; it is minimised where the model's
    neighbour ratios equal the data's, the maximum-likelihood answer when the model family holds the
    data distribution. Meng et al. parametrise ``c_θ`` by a free network; here it is an energy's
    (so any `ebm.Energy` over {0, 1}^D trains with it, and the result is an EBM).

    Reference: Meng, Choi, Song & Ermon (2022), "Concrete Score Matching: Generalized Score
    Matching for Discrete Data", NeurIPS, arXiv:2211.00802.

    Call args:
        energy: an `ebm.Energy` over binary vectors (closed-form flip deltas for Boltzmann machines
            and RBMs, one batched call on ``D + 1`` states otherwise); x: binary data
            ``(batch, *event_shape)``, floating dtype; generator: unused (deterministic).

    Returns:
        The scalar loss (mean over the batch of the sum over bits).

    Raises:
        ValueError: non-binary data. TypeError: integer dtype or a non-Energy.

    Example:
        >>> from ebm.energies import BoltzmannMachine
        >>> x = torch.bernoulli(torch.full((32, 6), 0.5))
        >>> loss = ConcreteScoreMatching()(BoltzmannMachine(6), x)
    """

    name = "concrete score matching"

    def per_flip(self, deltas: Tensor) -> Tensor:
        return torch.exp(-2 * deltas) - 2 * torch.exp(deltas) + 1  # (batch, D)
