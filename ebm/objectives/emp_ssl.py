"""EMP-SSL: many patches per image, a total-coding-rate expander and invariance to the patch mean.

Each image is cut into ``V`` random patches (views) whose unit-norm embeddings ``Z_v (n, d)`` should
(i) fill the space -- a large total coding rate, the log-volume of the embeddings' ellipsoid at
resolution ε -- and (ii) agree with the mean embedding of their image ``z̄_i = (1/V) Σ_v z_i^v``:

    R(Z) = ½ log det(I_d + d/(n ε) Zᵀ Z)
    L = -(1/V) Σ_v R(Z_v) - λ (1/(V n)) Σ_v Σ_i cos(z_i^v, z̄_i)

Reference: Tong, Chen, Ma & LeCun (2023), "EMP-SSL: Towards Self-Supervised Learning in One
Training Epoch", arXiv:2304.03977 (ε = 0.2, λ = 200; the paper writes ε², the authors' code and
lightly use ε, as here). The total coding rate is from Yu, Chan, You, Song & Ma (2020), "Learning
Diverse and Discriminative Representations via the Principle of Maximal Coding Rate Reduction",
arXiv:2006.08558.

Difference from lightly 1.6.0 (`EMPSSLLoss`): lightly adds ``+R`` (its `tcr_loss` returns
``+½ log det``), so minimising its loss *shrinks* the coding rate -- the opposite of the paper's
maximisation and of the authors' code, which returns ``-R``. Here the paper's sign is used; the
invariance term and ``|R|`` agree with lightly to float64 rounding
(benchmarks/peers/lightly_loss_check.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_nonnegative, check_positive
from ebm.objectives._pairs import registry_pair
from ebm.objectives._views import stack_views
from ebm.registry import register_objective

__all__ = ["EMPSSL", "total_coding_rate"]


def total_coding_rate(z: Tensor, eps: float = 0.2) -> Tensor:
    """``R(Z) = ½ log det(I + d/(n ε) ZᵀZ)`` of ``(..., n, d)`` embeddings → ``(...)``."""
    n, d = z.shape[-2:]
    gram = z.transpose(-1, -2) @ z  # (..., d, d)
    eye = torch.eye(d, dtype=z.dtype, device=z.device)
    return 0.5 * torch.linalg.slogdet(eye + (d / (n * eps)) * gram).logabsdet


@register_objective(
    "emp_ssl",
    example=lambda: (EMPSSL(), registry_pair()),
    bad_inputs=[
        (lambda: EMPSSL()(torch.randn(4, 3), torch.randn(4, 5)), ValueError, "z_2"),
        (lambda: EMPSSL()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: EMPSSL(eps=0), ValueError, "eps"),
        (lambda: EMPSSL(invariance_weight=-1), ValueError, "invariance_weight"),
    ],
)
class EMPSSL(nn.Module):
    """``L = -mean_v R(Z_v) - λ mean_{v,i} cos(z_i^v, z̄_i)`` (see the module docstring).

    Args:
        eps: ε, the coding-rate resolution (default 0.2).
        invariance_weight: λ (default 200).
        normalize: project the embeddings onto the unit sphere first (default True, as the paper).

    Shapes: ``forward(z_1, ..., z_V)``: ``V >= 1`` patch views ``(n, d)`` each, ``n >= 2`` →
    scalar. Gathered under DDP (the coding rate is a batch statistic).

    Raises:
        ValueError: no view, shapes differ, n < 2, ε <= 0, λ < 0.

    Example:
        >>> EMPSSL()(*[torch.randn(32, 16) for _ in range(8)])
    """

    def __init__(self, eps: float = 0.2, invariance_weight: float = 200.0, normalize: bool = True):
        super().__init__()
        self.eps = check_positive("eps", eps)
        self.invariance_weight = check_nonnegative("invariance_weight", invariance_weight)
        self.normalize = bool(normalize)

    def forward(self, *views: Tensor) -> Tensor:
        z = stack_views(views, why="the coding rate is a batch statistic")  # (V, n, d)
        if self.normalize:
            z = F.normalize(z, dim=-1)
        rate = total_coding_rate(z, self.eps).mean()
        agreement = F.cosine_similarity(z, z.mean(0, keepdim=True), dim=-1).mean()  # mean over (V, n)
        return -rate - self.invariance_weight * agreement

    def extra_repr(self) -> str:
        return f"ε={self.eps:g}, λ={self.invariance_weight:g}, normalize={self.normalize}"
