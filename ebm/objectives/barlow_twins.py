"""Barlow Twins: make the cross-correlation matrix of the two views the identity.

Standardise each embedding dimension over the batch (``ẑ = (z - mean) / std``, biased std, as
batch-norm without affine parameters), form ``C = ẑ_aᵀ ẑ_b / n`` (d, d), and

    L = Σ_i (1 - C_ii)² + λ Σ_i Σ_{j≠i} C_ij²

Reference: Zbontar, Jing, Misra, LeCun & Deny (2021), "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction", arXiv:2103.03230 (eq. 1; λ = 5e-3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_nonnegative
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, off_diagonal, registry_pair
from ebm.registry import register_objective

__all__ = ["BarlowTwins"]


def _standardise(z: Tensor, eps: float) -> Tensor:
    return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)  # (n, d)


@register_objective(
    "barlow_twins",
    example=lambda: (BarlowTwins(), registry_pair()),
    bad_inputs=[
        (lambda: BarlowTwins()(torch.randn(4, 3), torch.randn(4, 2)), ValueError, "z_b"),
        (lambda: BarlowTwins()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: BarlowTwins(redundancy_weight=-1), ValueError, "redundancy_weight"),
    ],
)
class BarlowTwins(nn.Module):
    """``L = Σ_i (1 - C_ii)² + λ Σ_{i≠j} C_ij²`` with the batch cross-correlation ``C``.

    Args:
        redundancy_weight: λ (default 5e-3, Zbontar et al. 2021).
        eps: added to the variance before the square root (default 1e-5, batch-norm's).

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each, n >= 2 → scalar. Gathered under DDP.

    Example:
        >>> BarlowTwins()(torch.randn(16, 8), torch.randn(16, 8))
    """

    def __init__(self, redundancy_weight: float = 5e-3, eps: float = 1e-5):
        super().__init__()
        self.redundancy_weight = check_nonnegative("redundancy_weight", redundancy_weight)
        self.eps = eps

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b, why="the cross-correlation is a batch statistic")
        z_a, z_b = gather(z_a), gather(z_b)
        n = z_a.shape[0]
        c = _standardise(z_a, self.eps).T @ _standardise(z_b, self.eps) / n  # (d, d)
        return (1 - c.diagonal()).pow(2).sum() + self.redundancy_weight * off_diagonal(c).pow(2).sum()
