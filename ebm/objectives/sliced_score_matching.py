"""Sliced score matching (Song, Garg, Shi & Ermon, 2019): score matching along random
projections, so the Hessian trace becomes one Hessian-vector product per projection."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_int
from ebm.energy import Energy
from ebm.objectives._common import check_continuous_data, check_energy
from ebm.registry import register_objective

__all__ = ["SlicedScoreMatching"]


def _quadratic():
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(2)


def _example():
    g = torch.Generator().manual_seed(0)
    return SlicedScoreMatching(2), (_quadratic(), torch.randn(16, 2, generator=g))


@register_objective(
    "sliced_score_matching",
    example=_example,
    bad_inputs=[
        (lambda: SlicedScoreMatching(0), ValueError, "n_projections"),
        (lambda: SlicedScoreMatching(1, projection="uniform"), ValueError, "projection"),
        (lambda: SlicedScoreMatching(1)(_quadratic(), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
    ],
)
class SlicedScoreMatching(nn.Module):
    """Sliced score matching: ``J(θ) = E_x E_v[ vᵀ ∇x(vᵀ s_θ(x)) + ½ (vᵀ s_θ(x))² ]``.

    With ``E[v vᵀ] = I`` this is unbiased for exact score matching. The variance-reduced form
    (SSM-VR, the default) replaces ``½ (vᵀ s)²`` by its expectation over ``v``, ``½ ‖s‖²``, which is
    exact for Gaussian or Rademacher projections:
    ``J_VR(θ) = E_x E_v[ vᵀ ∇x(vᵀ s_θ(x)) + ½ ‖s_θ(x)‖² ]``.
    Cost: one backward pass for the score plus one Hessian-vector product per projection,
    independent of the dimension.

    Reference: Song, Garg, Shi & Ermon (2019), "Sliced Score Matching: A Scalable Approach to
    Density and Score Estimation", UAI, arXiv:1905.07088.

    Args:
        n_projections: projections ``v`` per data point (``M`` in the paper).
        variance_reduction: use the SSM-VR form (default True).
        projection: ``"gaussian"`` (``v ~ N(0, I)``) or ``"rademacher"`` (entries ±1).

    Call args:
        energy: an `ebm.Energy` over real vectors; x: data ``(batch, *event_shape)``;
        generator: draws the projections.

    Returns:
        The scalar loss (mean over data points and projections).

    Raises:
        ValueError: ``n_projections < 1`` or an unknown projection.
        TypeError: integer data or a non-Energy.

    Example:
        >>> from ebm.energies import QuadraticEnergy
        >>> loss = SlicedScoreMatching(n_projections=4)(QuadraticEnergy(3), torch.randn(64, 3))
    """

    def __init__(self, n_projections: int = 1, *, variance_reduction: bool = True, projection: str = "gaussian"):
        super().__init__()
        self.n_projections = check_int("n_projections", n_projections, minimum=1)
        self.variance_reduction = bool(variance_reduction)
        self.projection = check_choice("projection", projection, ("gaussian", "rademacher"))

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_energy(energy, "sliced score matching")
        check_continuous_data(energy, x, "sliced score matching")
        m = self.n_projections
        x_rep = x.detach().repeat(m, *([1] * (x.dim() - 1))).requires_grad_(True)  # (m*batch, *event)
        if self.projection == "gaussian":
            v = torch.randn(x_rep.shape, generator=generator, dtype=x.dtype, device=x.device)
        else:
            v = torch.randint(0, 2, x_rep.shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
        score = energy.score(x_rep, create_graph=True)  # (m*batch, *event)
        vs = (v * score).reshape(x_rep.shape[0], -1).sum(-1)  # vᵀ s, (m*batch,)
        (hvp,) = torch.autograd.grad(vs.sum(), x_rep, create_graph=True)  # ∇x(vᵀ s), (m*batch, *event)
        first = (hvp * v).reshape(x_rep.shape[0], -1).sum(-1)  # vᵀ ∇x(vᵀ s), (m*batch,)
        if self.variance_reduction:
            second = 0.5 * score.reshape(x_rep.shape[0], -1).pow(2).sum(-1)
        else:
            second = 0.5 * vs.pow(2)
        return (first + second).mean()

    def extra_repr(self) -> str:
        return f"n_projections={self.n_projections}, variance_reduction={self.variance_reduction}, projection={self.projection!r}"
