"""CPC: contrastive predictive coding, InfoNCE with a bilinear critic per prediction step.

A context ``c_t (n, d_c)`` (e.g. an autoregressive summary of a sequence up to time t) predicts
the encodings ``z_{t+k} (n, d)`` of the next K steps through ``f_k(z, c) = exp(zᵀ W_k c)``. The
other sequences of the batch are the negatives:

    L = -(1/K) Σ_k (1/n) Σ_i log  exp(z_{i,t+k}ᵀ W_k c_i) / Σ_j exp(z_{j,t+k}ᵀ W_k c_i)

Reference: van den Oord, Li & Vinyals (2018), "Representation Learning with Contrastive
Predictive Coding", arXiv:1807.03748 (eqs. 3-4). The matrices ``W_k`` are this module's parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_finite, check_int, check_tensor, format_error, input_checks_enabled
from ebm.distributed import gather
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["CPC"]


def _example():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(8, 5, generator=g).requires_grad_(True)
    z = torch.randn(8, 2, 4, generator=g).requires_grad_(True)
    return CPC(5, 4, steps=2), (c, z)


@register_objective(
    "cpc",
    example=_example,
    bad_inputs=[
        (lambda: CPC(5, 4, steps=2)(torch.randn(8, 5), torch.randn(8, 3, 4)), ValueError, "future"),
        (lambda: CPC(5, 4)(torch.randn(8, 6), torch.randn(8, 4)), ValueError, "context"),
        (lambda: CPC(5, 4, steps=0), ValueError, "steps"),
    ],
)
class CPC(nn.Module):
    """InfoNCE over a batch with one bilinear critic ``W_k (d, d_c)`` per future step.

    Args:
        context_dim: d_c.
        dim: d, the encoding dimension.
        steps: K future steps predicted.

    Shapes: ``forward(context, future)``: ``context (n, d_c)``, ``future (n, K, d)`` (or ``(n, d)``
    when K = 1) → scalar, in the inputs' dtype (the critics are cast; float64 input needs no ``.double()``).

    Example:
        >>> cpc = CPC(context_dim=16, dim=8, steps=3)
        >>> cpc(torch.randn(32, 16), torch.randn(32, 3, 8))
    """

    def __init__(self, context_dim: int, dim: int, steps: int = 1):
        super().__init__()
        self.context_dim = check_int("context_dim", context_dim, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        self.steps = check_int("steps", steps, minimum=1)
        self.critics = nn.Parameter(torch.randn(self.steps, self.dim, self.context_dim) / self.context_dim**0.5)  # (K, d, d_c)

    def forward(self, context: Tensor, future: Tensor) -> Tensor:
        check_tensor("context", context, ndim=2, floating=True)
        check_batch("context", context, min_batch=2, why="the other sequences of the batch are the negatives")
        if context.shape[1] != self.context_dim:
            raise ValueError(format_error("context", f"shape (n, {self.context_dim})", f"shape {tuple(context.shape)}", "match CPC(context_dim=...)"))
        check_tensor("future", future, floating=True)
        if future.dim() == 2 and self.steps == 1:
            future = future.unsqueeze(1)  # (n, 1, d)
        check_tensor("future", future, ndim=3, floating=True)
        if future.dtype != context.dtype or future.device != context.device:
            raise TypeError(format_error("future", f"the dtype and device of context ({context.dtype} on {context.device})", f"{future.dtype} on {future.device}",
                                         "convert one of them, e.g. future.to(context)"))
        if future.shape != (context.shape[0], self.steps, self.dim):
            raise ValueError(format_error("future", f"shape ({context.shape[0]}, {self.steps}, {self.dim})", f"shape {tuple(future.shape)}", "pass one encoding per sequence and prediction step"))
        if input_checks_enabled():
            check_finite("context", context)
            check_finite("future", future)
        context, future = gather(context), gather(future)
        predictions = torch.einsum("kdc,nc->nkd", self.critics.to(context.dtype), context)  # (n, K, d): W_k c_i
        scores = torch.einsum("ikd,jkd->kij", predictions, future)  # (K, n, n): z_j^T W_k c_i
        n = context.shape[0]
        target = torch.arange(n, device=context.device).repeat(self.steps)  # (K n,)
        return F.cross_entropy(scores.reshape(self.steps * n, n), target)
