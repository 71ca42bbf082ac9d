"""VICReg: variance-invariance-covariance regularisation (no negatives, no asymmetry).

Following the authors' released code (facebookresearch/vicreg), for embeddings ``Z, Z' (n, d)``:

    s(Z, Z') = (1 / (n d)) Σ_i ‖z_i - z'_i‖²                       (invariance: the mean squared error)
    v(Z)     = (1 / d) Σ_j max(0, γ - sqrt(Var(z^j) + ε))           (variance hinge, γ = 1, ε = 1e-4)
    c(Z)     = (1 / d) Σ_{j≠k} C(Z)_{jk}²,  C(Z) = (1/(n-1)) Σ_i (z_i - z̄)(z_i - z̄)ᵀ
    L = λ s(Z, Z') + μ [v(Z) + v(Z')] / 2 + ν [c(Z) + c(Z')]

Reference: Bardes, Ponce & LeCun (2022), "VICReg: Variance-Invariance-Covariance Regularization
for Self-Supervised Learning", arXiv:2105.04906 (λ = μ = 25, ν = 1). With μ = ν = 0 only the
invariance term is left and the embeddings collapse (a teaching toggle).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_nonnegative, check_positive
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, off_diagonal, registry_pair
from ebm.registry import register_objective

__all__ = ["VICReg", "variance_term", "covariance_term", "check_variance_hinge"]


def check_variance_hinge(gamma, eps) -> tuple[float, float]:
    """Validate the variance hinge's ``γ > 0`` (target std) and ``ε > 0`` (inside the square root).

    Shared by `VICReg` and `VCReg` so both accept and refuse the same values: ``ε < 0`` makes
    ``sqrt(Var + ε)`` NaN for a collapsed dimension, ``ε = 0`` gives an infinite gradient there,
    and ``γ <= 0`` switches the hinge off. Returns ``(gamma, eps)`` as floats.
    """
    return check_positive("gamma", gamma, fix="pass gamma > 0 (VICReg uses 1)"), check_positive("eps", eps, fix="pass eps > 0 (VICReg uses 1e-4)")


def variance_term(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """``v(Z) = mean_j relu(γ - sqrt(Var(z^j) + ε))`` (unbiased variance); ``(n, d)`` → scalar."""
    std = torch.sqrt(z.var(dim=0) + eps)  # (d,)
    return F.relu(gamma - std).mean()


def covariance_term(z: Tensor) -> Tensor:
    """``c(Z) = Σ_{j≠k} C_jk² / d`` with the unbiased covariance ``C``; ``(n, d)`` → scalar."""
    n, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (n - 1)  # (d, d)
    return off_diagonal(cov).pow(2).sum() / d


@register_objective(
    "vicreg",
    example=lambda: (VICReg(), registry_pair()),
    bad_inputs=[
        (lambda: VICReg()(torch.randn(4, 3), torch.randn(4, 5)), ValueError, "z_b"),
        (lambda: VICReg()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: VICReg(variance_weight=-1.0), ValueError, "variance_weight"),
    ],
)
class VICReg(nn.Module):
    """``L = λ s(Z, Z') + μ [v(Z) + v(Z')]/2 + ν [c(Z) + c(Z')]`` (see the module docstring).

    Args:
        invariance_weight: λ (default 25).
        variance_weight: μ (default 25).
        covariance_weight: ν (default 1).
        gamma: target standard deviation γ (default 1).
        eps: ε inside the square root (default 1e-4).

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each, n >= 2 → scalar. Gathered under DDP (the
    variance and covariance are global-batch statistics).

    Raises:
        ValueError: shapes differ, n < 2, negative weights.

    Example:
        >>> VICReg()(torch.randn(16, 8), torch.randn(16, 8))
    """

    def __init__(self, invariance_weight: float = 25.0, variance_weight: float = 25.0, covariance_weight: float = 1.0, gamma: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.invariance_weight = check_nonnegative("invariance_weight", invariance_weight)
        self.variance_weight = check_nonnegative("variance_weight", variance_weight)
        self.covariance_weight = check_nonnegative("covariance_weight", covariance_weight)
        self.gamma, self.eps = check_variance_hinge(gamma, eps)

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b, why="variance and covariance are batch statistics")
        z_a, z_b = gather(z_a), gather(z_b)
        invariance = F.mse_loss(z_a, z_b)
        variance = (variance_term(z_a, self.gamma, self.eps) + variance_term(z_b, self.gamma, self.eps)) / 2
        covariance = covariance_term(z_a) + covariance_term(z_b)
        return self.invariance_weight * invariance + self.variance_weight * variance + self.covariance_weight * covariance

    def extra_repr(self) -> str:
        return f"λ={self.invariance_weight:g}, μ={self.variance_weight:g}, ν={self.covariance_weight:g}"
