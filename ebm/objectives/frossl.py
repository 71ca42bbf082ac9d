"""FroSSL: minimise the Frobenius norm of each view's normalised covariance, plus view invariance.

Each view ``Z_v (n, d)`` is normalised along the batch (every embedding dimension, a column, to
unit norm), giving ``Ẑ_v`` and the trace-one (auto)covariance ``K_v = Ẑ_vᵀ Ẑ_v / tr(Ẑ_vᵀ Ẑ_v)``.
For a trace-one PSD matrix ``log ‖K‖_F² = -S₂(K)``, minus the order-2 Rényi entropy of its
eigenvalues: minimising it spreads the variance evenly over the dimensions (no collapse), and
``‖K‖_F`` needs no eigen-decomposition (``ẐᵀẐ`` and ``ẐẐᵀ`` share it; the smaller is used). With
the mean view ``Z̄ = (1/V) Σ_v Ẑ_v``:

    L = Σ_v log ‖K_v‖_F² + λ (V/n) Σ_v ‖Ẑ_v - Z̄‖_F²

(the invariance term is ``V d`` times the mean squared error, as in the authors' code).

Reference: Skean, Dhakal, Jacobs & Sanchez Giraldo (2024), "FroSSL: Frobenius Norm Minimization
for Self-Supervised Learning", ECCV, arXiv:2310.02903 (λ = 1; the batch-dimension normalisation
of the paper's version). Matches lightly 1.6.0 `FroSSLLoss` (benchmarks/peers/lightly_loss_check.py);
lightly detaches the trace (``.item()``), which changes no gradient because the trace is the
constant ``d`` after the column normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_nonnegative
from ebm.objectives._pairs import registry_pair
from ebm.objectives._views import stack_views
from ebm.registry import register_objective

__all__ = ["FroSSL", "log_frobenius_entropy"]


def log_frobenius_entropy(z: Tensor) -> Tensor:
    """``log ‖K‖_F²`` with ``K = ZᵀZ / tr(ZᵀZ)`` for ``(..., n, d)`` → ``(...)`` (= -Rényi-2 entropy)."""
    n, d = z.shape[-2:]
    gram = z.transpose(-1, -2) @ z if n > d else z @ z.transpose(-1, -2)  # (..., min(n,d), min(n,d)): same spectrum
    trace = gram.diagonal(dim1=-2, dim2=-1).sum(-1)  # (...)
    return torch.log(gram.square().sum((-2, -1))) - 2 * torch.log(trace)


@register_objective(
    "frossl",
    example=lambda: (FroSSL(), registry_pair()),
    bad_inputs=[
        (lambda: FroSSL()(torch.randn(4, 3)), ValueError, "at least 2 view"),
        (lambda: FroSSL()(torch.randn(4, 3), torch.randn(4, 5)), ValueError, "z_2"),
        (lambda: FroSSL()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2 rows"),
        (lambda: FroSSL(invariance_weight=-1), ValueError, "invariance_weight"),
    ],
)
class FroSSL(nn.Module):
    """``L = Σ_v log ‖K_v‖_F² + λ (V/n) Σ_v ‖Ẑ_v - Z̄‖_F²`` (see the module docstring).

    Args:
        invariance_weight: λ (default 1).

    Shapes: ``forward(z_1, ..., z_V)``: ``V >= 2`` views ``(n, d)`` each, ``n >= 2`` → scalar.
    Gathered under DDP (the normalisation and covariance are batch statistics).

    Raises:
        ValueError: fewer than two views, shapes differ, n < 2, λ < 0.

    Example:
        >>> FroSSL()(torch.randn(32, 16), torch.randn(32, 16))
    """

    def __init__(self, invariance_weight: float = 1.0):
        super().__init__()
        self.invariance_weight = check_nonnegative("invariance_weight", invariance_weight)

    def forward(self, *views: Tensor) -> Tensor:
        z = stack_views(views, min_views=2, why="the covariance is a batch statistic")  # (V, n, d)
        v, n, _ = z.shape
        z = F.normalize(z, dim=1)  # every dimension to unit norm over the batch
        regulariser = log_frobenius_entropy(z).sum()
        invariance = (z - z.mean(0)).square().sum() * v / n
        return regulariser + self.invariance_weight * invariance

    def extra_repr(self) -> str:
        return f"λ={self.invariance_weight:g}"
