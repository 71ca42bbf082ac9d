"""VCReg: the variance and covariance terms of VICReg as a stand-alone regulariser.

For each view's embeddings ``Z (n, d)``, with VICReg's terms `variance_term` and `covariance_term`:

    R(Z) = α v(Z) + β c(Z),      L(Z, Z') = [R(Z) + R(Z')] / 2

It prevents collapse but says nothing about which views belong together: add it to a task loss
(supervised cross-entropy, as in the paper, or an invariance term). With ``z_b=None`` it
regularises a single batch.

Reference: Zhu, Shwartz-Ziv, Chen & LeCun (2023), "Variance-Covariance Regularization Improves
Representation Learning", arXiv:2306.13292; the terms are VICReg's (Bardes et al. 2022,
arXiv:2105.04906). Defaults α = 25, β = 1 (VICReg's μ and ν).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_nonnegative
from ebm.distributed import gather
from ebm.objectives._pairs import check_embeddings, check_pair, registry_pair
from ebm.objectives.vicreg import check_variance_hinge, covariance_term, variance_term
from ebm.registry import register_objective

__all__ = ["VCReg"]


@register_objective(
    "vcreg",
    example=lambda: (VCReg(), registry_pair()),
    bad_inputs=[
        (lambda: VCReg()(torch.randn(4, 3), torch.randn(4, 5)), ValueError, "z_b"),
        (lambda: VCReg()(torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: VCReg(covariance_weight=-2), ValueError, "covariance_weight"),
    ],
)
class VCReg(nn.Module):
    """``R(Z) = α v(Z) + β c(Z)``, averaged over the views given.

    Args:
        variance_weight: α (default 25).
        covariance_weight: β (default 1).
        gamma: target standard deviation γ > 0 (default 1).
        eps: ε > 0 inside the square root (default 1e-4).

    Shapes: ``forward(z_a, z_b=None)``: ``(n, d)`` each, n >= 2 → scalar.

    Raises:
        ValueError: shapes differ, n < 2, negative weights, γ <= 0 or ε <= 0 (the same checks as VICReg).

    Example:
        >>> VCReg()(torch.randn(16, 8))
    """

    def __init__(self, variance_weight: float = 25.0, covariance_weight: float = 1.0, gamma: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.variance_weight = check_nonnegative("variance_weight", variance_weight)
        self.covariance_weight = check_nonnegative("covariance_weight", covariance_weight)
        self.gamma, self.eps = check_variance_hinge(gamma, eps)

    def _one(self, z: Tensor) -> Tensor:
        z = gather(z)
        return self.variance_weight * variance_term(z, self.gamma, self.eps) + self.covariance_weight * covariance_term(z)

    def forward(self, z_a: Tensor, z_b: Tensor | None = None) -> Tensor:
        if z_b is None:
            check_embeddings("z_a", z_a, min_batch=2, why="variance and covariance are batch statistics")
            return self._one(z_a)
        check_pair(z_a, z_b, why="variance and covariance are batch statistics")
        return (self._one(z_a) + self._one(z_b)) / 2
