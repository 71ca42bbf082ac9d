"""MoCo: InfoNCE against a queue of keys from a momentum encoder.

For queries ``q = f_q(x_a)`` and keys ``k = f_k(x_b)`` from the momentum (EMA) encoder, with a
queue ``Q`` of the K most recent keys (all ℓ2-normalised):

    ℓ_i = -log  exp(q_i·k_i / τ) / [exp(q_i·k_i / τ) + Σ_{j=1}^{K} exp(q_i·Q_j / τ)]

After each call the batch's keys are enqueued (first in, first out).

Reference: He, Fan, Wu, Xie & Girshick (2020), "Momentum Contrast for Unsupervised Visual
Representation Learning", arXiv:1911.05722 (eq. 1; K = 65536, τ = 0.07, momentum m = 0.999).
The momentum encoder is `ebm.objectives.momentum.EMATarget` (used by `TwoViewObjective`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_positive, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["MoCo"]


@register_objective(
    "moco",
    example=lambda: (MoCo(4, queue_size=16), registry_pair()),
    bad_inputs=[
        (lambda: MoCo(4, queue_size=16)(torch.randn(6, 4), torch.randn(6, 4)), ValueError, "multiple"),
        (lambda: MoCo(4, queue_size=16)(torch.randn(8, 3), torch.randn(8, 3)), ValueError, "dim"),
        (lambda: MoCo(4, queue_size=0), ValueError, "queue_size"),
    ],
)
class MoCo(nn.Module):
    """Contrastive loss of queries against their key and a FIFO queue of past keys.

    Args:
        dim: embedding dimension d (the queue is ``(queue_size, d)``).
        queue_size: K (default 65536, He et al. 2020); must be a multiple of the (global) batch size.
        temperature: τ > 0 (default 0.07).
        generator: for the random initial queue.

    Shapes: ``forward(q, k)``: queries ``(n, d)`` (gradients flow) and keys ``(n, d)`` (treated as
    constants: the key encoder is updated by momentum, not by gradients) → scalar.
    Buffers: ``queue (K, d)``, ``pointer ()``; `reset()` refills the queue with random unit vectors.
    The loss is computed in the queries' dtype (float64 embeddings need no ``.double()`` of the
    module); keys are stored in the queue's dtype.

    Raises:
        ValueError: K not a multiple of n, d not matching the queue, τ <= 0.

    Example:
        >>> moco = MoCo(dim=8, queue_size=256)
        >>> loss = moco(q, k)   # q, k: (32, 8)
    """

    def __init__(self, dim: int, queue_size: int = 65536, temperature: float = 0.07, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.queue_size = check_int("queue_size", queue_size, minimum=1)
        self.temperature = check_positive("temperature", temperature)
        self.register_buffer("queue", torch.empty(self.queue_size, self.dim))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.reset(generator)

    @torch.no_grad()
    def reset(self, generator: torch.Generator | None = None) -> None:
        """Refill the queue with random unit vectors and rewind the pointer."""
        check_generator("generator", generator)
        self.queue.copy_(F.normalize(torch.randn(self.queue_size, self.dim, generator=generator), dim=1))
        self.pointer.zero_()

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        check_pair(q, k, min_batch=1, names=("q", "k"))
        if q.shape[1] != self.dim:
            raise ValueError(format_error("q", f"embeddings of dim {self.dim} (the queue's)", f"shape {tuple(q.shape)}", "build MoCo(dim=...) with the encoder's output size"))
        k = gather(k.detach())  # keys from all ranks enter the shared queue
        if self.queue_size % k.shape[0] != 0:
            raise ValueError(
                format_error("queue_size", f"a multiple of the global batch size {k.shape[0]}", str(self.queue_size), "choose queue_size = m * batch_size (and drop_last batches)")
            )
        q = F.normalize(q, dim=1)
        k = F.normalize(k, dim=1)
        n_local = q.shape[0]
        start = _local_offset(n_local)
        k_local = k[start : start + n_local]
        positive = (q * k_local).sum(1, keepdim=True)  # (n, 1)
        negative = q @ self.queue.to(q.dtype, copy=True).T  # (n, K); a copy (the queue changes in place below) in the queries' dtype
        logits = torch.cat([positive, negative], dim=1) / self.temperature  # (n, 1 + K)
        loss = F.cross_entropy(logits, torch.zeros(n_local, dtype=torch.long, device=q.device))
        self._enqueue(k)
        return loss

    @torch.no_grad()
    def _enqueue(self, k: Tensor) -> None:
        p = int(self.pointer)
        self.queue[p : p + k.shape[0]] = k.to(self.queue.dtype)
        self.pointer.fill_((p + k.shape[0]) % self.queue_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, queue_size={self.queue_size}, temperature={self.temperature:g}"


def _local_offset(n_local: int) -> int:
    from ebm.distributed import rank

    return rank() * n_local
