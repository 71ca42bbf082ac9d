"""MMCR: maximum manifold capacity representations -- spread the centroids of each sample's views.

Each sample ``i`` is seen under ``k`` augmentations; its embeddings, projected onto the unit
sphere, form a small "object manifold" ``Z_i (k, d)``. Linear separability of many such manifolds
(manifold capacity) grows when their centroids ``c_i = (1/k) Σ_v z_i^v`` are long and point in
diverse directions and when each manifold is small. With the centroid matrix ``C = [c_1; ...; c_n]``
``(n, d)`` and the nuclear norm ``‖·‖_*`` (sum of singular values):

    L = -‖C‖_* + λ (1/n) Σ_i ‖Z_i‖_*

The first term alone is the paper's objective (a large ``‖C‖_*`` needs long centroids, i.e. tight
manifolds, that are also spread over many directions); the second, weighted by λ, shrinks each
manifold directly.

Reference: Yerxa, Kuang, Simoncelli & Chung (2023), "Learning Efficient Coding of Natural Images
with Maximum Manifold Capacity Representations", NeurIPS, arXiv:2303.03307.

lightly 1.6.0 (`MMCRLoss(lmda=5e-3)`, forward ``(online, momentum)`` each ``(n, k, d)``) computes
the same quantity on the ``2k`` views ``online ∪ momentum`` but does not normalise: it expects
unit-norm inputs. Here the views are normalised inside (``normalize=False`` to skip it), and the
views are separate arguments, so ``MMCR()(*online.unbind(1), *momentum.unbind(1))`` equals
lightly's value on normalised inputs (benchmarks/peers/lightly_loss_check.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_nonnegative
from ebm.objectives._pairs import registry_pair
from ebm.objectives._views import stack_views
from ebm.registry import register_objective

__all__ = ["MMCR", "nuclear_norm"]


def nuclear_norm(m: Tensor) -> Tensor:
    """``‖M‖_* = Σ singular values`` of ``(..., p, q)`` matrices → ``(...)``."""
    return torch.linalg.svdvals(m).sum(-1)


@register_objective(
    "mmcr",
    example=lambda: (MMCR(), registry_pair()),
    bad_inputs=[
        (lambda: MMCR()(torch.randn(4, 3), torch.randn(4, 5)), ValueError, "z_2"),
        (lambda: MMCR()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: MMCR()(), ValueError, "view"),
        (lambda: MMCR(lmbda=-1.0), ValueError, "lmbda"),
    ],
)
class MMCR(nn.Module):
    """``L = -‖C‖_* + λ (1/n) Σ_i ‖Z_i‖_*`` over ``k`` views (see the module docstring).

    Args:
        lmbda: λ, the weight of the per-sample (local) nuclear norms (default 5e-3, lightly's
            default; 0 gives the centroid term alone).
        normalize: project every embedding onto the unit sphere first (default True, as the paper).

    Shapes: ``forward(z_1, ..., z_k)``: ``k >= 1`` views ``(n, d)`` each, ``n >= 2`` → scalar.
    Gathered under DDP (the centroid matrix spans the global batch).

    Raises:
        ValueError: no view, shapes differ, n < 2, negative λ. TypeError: non-float views.

    Example:
        >>> MMCR()(torch.randn(16, 8), torch.randn(16, 8))
    """

    def __init__(self, lmbda: float = 5e-3, normalize: bool = True):
        super().__init__()
        self.lmbda = check_nonnegative("lmbda", lmbda)
        self.normalize = bool(normalize)

    def forward(self, *views: Tensor) -> Tensor:
        z = stack_views(views, why="the centroid matrix is a batch statistic")  # (k, n, d)
        if self.normalize:
            z = F.normalize(z, dim=-1)
        centroids = z.mean(0)  # (n, d)
        loss = -nuclear_norm(centroids)
        if self.lmbda > 0:
            loss = loss + self.lmbda * nuclear_norm(z.transpose(0, 1)).mean()  # per sample: (k, d) -> (n,)
        return loss

    def extra_repr(self) -> str:
        return f"λ={self.lmbda:g}, normalize={self.normalize}"
