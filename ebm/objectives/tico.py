"""TiCo: transformation invariance plus a contrast against a running covariance of embeddings.

With ℓ2-normalised embeddings ``z_a, z_b (n, d)`` and a running covariance ``C`` (a buffer):

    C_t = β C_{t-1} + (1 - β) (1/n) Σ_i z_a,i z_a,iᵀ
    L   = -(1/n) Σ_i z_a,i · z_b,i + ρ (1/n) Σ_i z_a,iᵀ C_t z_a,i

The first term pulls positives together; the second pushes embeddings away from the directions
recent batches already occupy (a contrast with "memory", equivalent to many negatives). The
current batch's term in ``C_t`` carries gradients; the stored ``C_{t-1}`` does not.

Reference: Zhu, Moraes, Karakas, Zhang & LeCun (2022), "TiCo: Transformation Invariance and
Covariance Contrast for Self-Supervised Visual Representation Learning", arXiv:2206.10698
(β = 0.9, ρ = 20).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_int, check_nonnegative, check_probability, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["TiCo"]


@register_objective(
    "tico",
    example=lambda: (TiCo(4), registry_pair()),
    bad_inputs=[
        (lambda: TiCo(4)(torch.randn(8, 3), torch.randn(8, 3)), ValueError, "dim"),
        (lambda: TiCo(4, beta=1.5), ValueError, "beta"),
        (lambda: TiCo(4)(torch.randn(8, 4), torch.randn(7, 4)), ValueError, "z_b"),
    ],
)
class TiCo(nn.Module):
    """TiCo loss with a running covariance buffer.

    Args:
        dim: embedding dimension d (the covariance buffer is ``(d, d)``).
        beta: β in [0, 1] (default 0.9).
        rho: ρ >= 0 (default 20).

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each → scalar. Buffer ``covariance (d, d)`` (zeros
    at start; `reset()` zeroes it).

    Example:
        >>> TiCo(8)(torch.randn(16, 8), torch.randn(16, 8))
    """

    def __init__(self, dim: int, beta: float = 0.9, rho: float = 20.0):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.beta = check_probability("beta", beta, open_interval=False)
        self.rho = check_nonnegative("rho", rho)
        self.register_buffer("covariance", torch.zeros(self.dim, self.dim))

    @torch.no_grad()
    def reset(self) -> None:
        """Forget the running covariance."""
        self.covariance.zero_()

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b, min_batch=1)
        if z_a.shape[1] != self.dim:
            raise ValueError(format_error("z_a", f"embeddings of dim {self.dim}", f"shape {tuple(z_a.shape)}", "build TiCo(dim=...) with the encoder's output size"))
        a, b = F.normalize(gather(z_a), dim=1), F.normalize(gather(z_b), dim=1)
        n = a.shape[0]
        cov = self.beta * self.covariance.clone() + (1 - self.beta) * (a.T @ a) / n  # (d, d)
        loss = -(a * b).sum(1).mean() + self.rho * ((a @ cov) * a).sum(1).mean()
        with torch.no_grad():
            self.covariance.copy_(cov.detach())
        return loss
