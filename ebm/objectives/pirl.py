"""PIRL-style memory bank: contrast each view against a running average of every sample's embedding.

A bank ``m_j`` (one ℓ2-normalised row per training sample, updated as ``m_i ← normalise(μ m_i +
(1-μ) z_a,i)``) supplies the negatives. With ``h(u, v) = exp(u·v / τ)`` and the other samples'
bank rows as negatives ``D_N(i)``:

    L_NCE(m, v) = -log h(m_i, v) / [h(m_i, v) + Σ_{j ∈ D_N(i)} h(m_j, v)]
    L = λ L_NCE(m_I, z_b) + (1 - λ) L_NCE(m_I, z_a)

``z_a`` embeds the untransformed image and ``z_b`` the transformed one (PIRL's jigsaw view).
Differences from the paper, kept small on purpose: the softmax (InfoNCE) form instead of the
binary NCE estimate, and all other bank rows (not a random 32 000) as negatives.

Reference: Misra & van der Maaten (2020), "Self-Supervised Learning of Pretext-Invariant
Representations", arXiv:1912.01991 (eq. 5; λ = 0.5, τ = 0.07, bank momentum 0.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_positive, check_probability, check_tensor, format_error
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["PIRL"]


def _example():
    z_a, z_b = registry_pair()
    return PIRL(20, 4), (z_a, z_b, torch.arange(8))


@register_objective(
    "pirl",
    example=_example,
    bad_inputs=[
        (lambda: PIRL(20, 4)(torch.randn(8, 4), torch.randn(8, 4), torch.arange(8) + 15), ValueError, "index"),
        (lambda: PIRL(20, 4)(torch.randn(8, 4), torch.randn(8, 4), torch.arange(7)), ValueError, "index"),
        (lambda: PIRL(20, 4, weight=1.5), ValueError, "weight"),
    ],
)
class PIRL(nn.Module):
    """Memory-bank contrastive loss (PIRL).

    Args:
        bank_size: number of training samples N (one bank row each).
        dim: embedding dimension d.
        temperature: τ > 0 (default 0.07).
        weight: λ in [0, 1] on the transformed-view term (default 0.5).
        momentum: bank momentum μ in [0, 1) (default 0.5).
        generator: for the random initial bank.

    Shapes: ``forward(z_a, z_b, index)``: ``z_a, z_b (n, d)``, ``index (n,)`` long in [0, N) (the
    samples' positions in the data set) → scalar. Buffer ``bank (N, d)``; `reset()` re-draws it.
    The loss is computed in the embeddings' dtype; the bank keeps its own.

    Raises:
        ValueError: index out of range or of the wrong length, bad hyper-parameters.

    Example:
        >>> pirl = PIRL(bank_size=1000, dim=8)
        >>> loss = pirl(z_a, z_b, index)
    """

    def __init__(self, bank_size: int, dim: int, temperature: float = 0.07, weight: float = 0.5, momentum: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        self.bank_size = check_int("bank_size", bank_size, minimum=2)
        self.dim = check_int("dim", dim, minimum=1)
        self.temperature = check_positive("temperature", temperature)
        self.weight = check_probability("weight", weight, open_interval=False)
        self.momentum = check_probability("momentum", momentum, open_interval=False)
        self.register_buffer("bank", torch.empty(self.bank_size, self.dim))
        self.reset(generator)

    @torch.no_grad()
    def reset(self, generator: torch.Generator | None = None) -> None:
        """Re-draw the bank as random unit vectors."""
        check_generator("generator", generator)
        self.bank.copy_(F.normalize(torch.randn(self.bank_size, self.dim, generator=generator), dim=1))

    def _nce(self, v: Tensor, index: Tensor) -> Tensor:
        logits = v @ self.bank.to(v.dtype, copy=True).T / self.temperature  # (n, N): h(m_j, v_i) in log space
        return F.cross_entropy(logits, index)  # positive m_i; every other bank row is a negative

    def forward(self, z_a: Tensor, z_b: Tensor, index: Tensor) -> Tensor:
        check_pair(z_a, z_b, min_batch=1)
        check_tensor("index", index, ndim=1)
        if index.shape[0] != z_a.shape[0] or index.is_floating_point():
            raise ValueError(format_error("index", f"a ({z_a.shape[0]},) integer tensor of sample positions", f"{index.dtype} shape {tuple(index.shape)}", "pass the batch's row indices in the data set"))
        if bool((index < 0).any() or (index >= self.bank_size).any()):
            raise ValueError(format_error("index", f"values in [0, {self.bank_size})", f"range [{int(index.min())}, {int(index.max())}]", "build PIRL(bank_size=len(dataset))"))
        a, b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
        loss = self.weight * self._nce(b, index) + (1 - self.weight) * self._nce(a, index)
        with torch.no_grad():
            self.bank[index] = F.normalize(self.momentum * self.bank[index] + (1 - self.momentum) * a.detach().to(self.bank.dtype), dim=1)
        return loss

    def extra_repr(self) -> str:
        return f"bank_size={self.bank_size}, dim={self.dim}, temperature={self.temperature:g}, weight={self.weight:g}"
