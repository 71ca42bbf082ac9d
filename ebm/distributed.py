"""Multi-process helpers for joint-embedding losses: an autograd-aware all-gather.

Batch-level SSL losses (InfoNCE, VICReg, Barlow Twins, ...) must see the *global* batch when a
model is trained with `torch.distributed` (DDP). Every rank gathers the embeddings of all ranks and
evaluates the same loss ``L(Z)`` on the concatenation ``Z = [z_0; ...; z_{W-1}]``.

Why the backward must sum: each rank back-propagates the same ``dL/dZ``. Rank ``r`` owns only the
rows ``z_r``, so it must receive ``dL/dz_r`` summed over every rank that used ``z_r``; DDP then
*averages* parameter gradients over the ``W`` ranks. Summing ``W`` identical copies and averaging
by ``W`` gives exactly the single-process gradient of ``L`` on the concatenated batch. Returning
only the local slice (a plain ``all_gather`` wrapped in autograd without the reduction) leaves the
gradient ``W`` times too small -- the bug this module's test guards against.

Example:
    >>> z_global = gather(z_local)        # (W * n, d); identity when not distributed
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["is_distributed", "world_size", "rank", "gather"]


def is_distributed() -> bool:
    """True when a `torch.distributed` process group is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


class _GatherWithGrad(torch.autograd.Function):
    """All-gather forward; backward all-reduces (sums) the gradient and keeps this rank's rows."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        ctx.n = z.shape[0]
        parts = [torch.empty_like(z) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, z.contiguous())
        return torch.cat(parts, dim=0)  # (W * n, *)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.n
        return grad[start : start + ctx.n]


def gather(z: Tensor) -> Tensor:
    """Concatenate ``z`` over all processes, with gradients that flow back to each rank's rows.

    Args:
        z: this rank's rows, ``(n, *)``; every rank must pass the same ``n``.

    Returns:
        ``(W * n, *)``, rank 0's rows first; ``z`` itself when not distributed.
    """
    if not is_distributed():
        return z
    return _GatherWithGrad.apply(z)
