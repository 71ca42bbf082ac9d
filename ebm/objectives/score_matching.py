"""Exact score matching (Hyvärinen, 2005): fit the model's score to the data's without ever
touching the normaliser, using the trace of the Hessian of the energy."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm.energy import Energy
from ebm.objectives._common import check_continuous_data, check_energy
from ebm.registry import register_objective

__all__ = ["ScoreMatching", "hessian_trace"]


def hessian_trace(score: Tensor, x: Tensor) -> Tensor:
    """``tr ∇x s(x) = Σ_i ∂s_i/∂x_i`` for a score computed from ``x`` with a graph, shape ``(batch,)``.

    Exact: one backward pass per coordinate, so the cost is ``D = prod(event_shape)`` backward
    passes (fine for low dimension; use sliced or denoising score matching beyond a few dozen).

    Args:
        score: ``s(x)``, shape ``(batch, *event_shape)``, built with ``create_graph=True``.
        x: the leaf it was computed from, same shape, ``requires_grad=True``.
    """
    flat = score.reshape(score.shape[0], -1)  # (batch, D)
    trace = torch.zeros(score.shape[0], dtype=score.dtype, device=score.device)
    for i in range(flat.shape[1]):
        (grad,) = torch.autograd.grad(flat[:, i].sum(), x, create_graph=True)
        trace = trace + grad.reshape(grad.shape[0], -1)[:, i]  # ∂s_i/∂x_i, (batch,)
    return trace


def _example():
    from ebm.energies.quadratic import QuadraticEnergy

    g = torch.Generator().manual_seed(0)
    return ScoreMatching(), (QuadraticEnergy(2), torch.randn(16, 2, generator=g))


def _quadratic():
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(2)


@register_objective(
    "score_matching",
    example=_example,
    bad_inputs=[
        (lambda: ScoreMatching()(_quadratic(), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
        (lambda: ScoreMatching()(_quadratic(), torch.zeros(4, 3)), ValueError, "shape"),
        (lambda: ScoreMatching()(lambda x: x.sum(-1), torch.zeros(4, 2)), TypeError, "Energy"),
    ],
)
class ScoreMatching(nn.Module):
    """Exact score matching: ``J(θ) = E_data[ tr ∇x s_θ(x) + ½ ‖s_θ(x)‖² ]`` with ``s_θ = -∇x E_θ``.

    Equal (up to a constant) to ``½ E‖s_θ(x) - ∇x log p_data(x)‖²`` after integration by parts, so
    it never needs ``log Z``: an additive constant in the energy changes nothing. For a Gaussian
    energy its minimiser is the sample mean and the inverse of the (1/n) sample covariance.

    Cost: one forward and one backward pass for the score, plus ``D`` further backward passes for
    the exact Hessian trace (``D = prod(event_shape)``). Efficient for low dimension only; for
    images use `SlicedScoreMatching` or `DenoisingScoreMatching`.

    Reference: Hyvärinen (2005), "Estimation of Non-Normalized Statistical Models by Score
    Matching", JMLR 6:695-709.

    Args (of the call):
        energy: an `ebm.Energy` over real vectors, twice differentiable in ``x``.
        x: data, ``(batch, *event_shape)``, floating point.
        generator: unused (the objective is deterministic); accepted for the common signature.

    Returns:
        The scalar loss (mean over the batch).

    Raises:
        TypeError: ``energy`` is not an Energy, or ``x`` is integer (binary/discrete data: use
            `RatioMatching`, `MinimumProbabilityFlow` or `PseudoLikelihood`).
        ValueError: ``x`` has the wrong shape or non-finite entries.

    Example:
        >>> from ebm.energies import QuadraticEnergy
        >>> loss = ScoreMatching()(QuadraticEnergy(2), torch.randn(64, 2))
        >>> loss.backward()
    """

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_energy(energy, "score matching")
        check_continuous_data(energy, x, "score matching")
        x_ = x.detach().requires_grad_(True)  # (batch, *event)
        score = energy.score(x_, create_graph=True)  # (batch, *event)
        half_norm = 0.5 * score.reshape(score.shape[0], -1).pow(2).sum(-1)  # (batch,)
        return (hessian_trace(score, x_) + half_norm).mean()
