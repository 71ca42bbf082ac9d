"""KoLeo: the Kozachenko-Leonenko entropy regulariser -- push every embedding away from its nearest neighbour.

The Kozachenko-Leonenko estimator of the differential entropy of points on a ``d``-dimensional
space is, up to constants, ``(d/n) Σ_i log ρ_i`` with ``ρ_i = min_{j≠i} ‖z_i - z_j‖`` the distance to
the nearest neighbour in the batch. Maximising it spreads the embeddings uniformly; on unit-norm
embeddings ``ẑ = z/‖z‖`` the regulariser is

    L(Z) = -(1/n) Σ_i log(ρ_i + ε),   ρ_i = min_{j≠i} ‖ẑ_i - ẑ_j‖

Only the nearest neighbour carries gradient (the arg-min is a hard choice).

References: Sablayrolles, Douze, Schmid & Jégou (2019), "Spreading vectors for similarity
search", ICLR, arXiv:1806.03198; used as a regulariser (weight 0.1) on the student's
class token of each global crop in DINOv2: Oquab et al. (2023), arXiv:2304.07193.

Differences from the peers, on purpose: DINOv2 and lightly 1.6.0 (`KoLeoLoss`) compute it on each
process's own batch; here the batch is gathered under DDP, so the nearest neighbour is searched in
the global batch (DDP equals one process on the concatenated batch). lightly measures the distance
with `torch.nn.PairwiseDistance`, which adds ε to every coordinate difference; here it is the plain
Euclidean distance (the two differ by O(ε) -- see BENCHMARKS.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_positive
from ebm.objectives._pairs import registry_pair
from ebm.objectives._views import stack_views
from ebm.registry import register_objective

__all__ = ["KoLeo", "nearest_neighbour_distance"]


def nearest_neighbour_distance(z: Tensor) -> Tensor:
    """``ρ_i = min_{j≠i} ‖z_i - z_j‖`` for ``(..., n, d)`` points → ``(..., n)`` (n >= 2)."""
    n = z.shape[-2]
    with torch.no_grad():
        d2 = torch.cdist(z, z).pow(2)  # (..., n, n)
        d2 = d2 + torch.diag(torch.full((n,), float("inf"), dtype=z.dtype, device=z.device))
        nearest = d2.argmin(-1)  # (..., n)
    neighbours = torch.take_along_dim(z, nearest.unsqueeze(-1), dim=-2)  # (..., n, d)
    return torch.linalg.vector_norm(z - neighbours, dim=-1)  # (..., n)


@register_objective(
    "koleo",
    example=lambda: (KoLeo(), registry_pair()),
    bad_inputs=[
        (lambda: KoLeo()(torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: KoLeo()(torch.randn(4, 3), torch.randn(5, 3)), ValueError, "z_2"),
        (lambda: KoLeo(eps=0), ValueError, "eps"),
        (lambda: KoLeo()(torch.randint(0, 2, (4, 3))), TypeError, "floating"),
    ],
)
class KoLeo(nn.Module):
    """``L = -(1/n) Σ_i log(min_{j≠i} ‖ẑ_i - ẑ_j‖ + ε)``, summed over the views given.

    Args:
        eps: ε inside the logarithm, which bounds the loss of duplicated points (default 1e-8,
            DINOv2's).
        normalize: project onto the unit sphere first (default True, as DINOv2).

    Shapes: ``forward(z_1, ..., z_k)``: ``k >= 1`` views ``(n, d)`` each, ``n >= 2`` → scalar,
    the sum over views of each view's regulariser (DINOv2 sums it over the global crops).
    Gathered under DDP.

    Raises:
        ValueError: no view, shapes differ, n < 2, ε <= 0. TypeError: non-float views.

    Example:
        >>> KoLeo()(torch.randn(32, 16))
    """

    def __init__(self, eps: float = 1e-8, normalize: bool = True):
        super().__init__()
        self.eps = check_positive("eps", eps)
        self.normalize = bool(normalize)

    def forward(self, *views: Tensor) -> Tensor:
        z = stack_views(views, why="each point needs a nearest neighbour in the batch")  # (k, n, d)
        if self.normalize:
            z = F.normalize(z, dim=-1, eps=self.eps)
        rho = nearest_neighbour_distance(z)  # (k, n)
        return -torch.log(rho + self.eps).mean(-1).sum()

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}, normalize={self.normalize}"
