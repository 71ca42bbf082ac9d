"""Shared input checks for the joint-embedding losses (one place, one message style).

Every SSL loss takes two views' embeddings ``z_a, z_b: (n, d)`` with the same shape; row ``i`` of
both is the same source sample (the positive pair).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_finite, check_tensor, format_error, input_checks_enabled
from ebm.objectives._common import check_batch

__all__ = ["check_pair", "check_embeddings", "off_diagonal"]


def check_embeddings(name: str, z, *, min_batch: int = 1, why: str = "") -> Tensor:
    """Check one view's embeddings: a floating, finite (n, d) tensor with n >= min_batch.

    The finiteness check is one reduction and one device read (skipped inside
    `ebm._validation.trusted_inputs()`); the detailed message is built only on failure.
    """
    check_tensor(name, z, ndim=2, floating=True)
    check_batch(name, z, min_batch=min_batch, why=why)
    if input_checks_enabled():
        check_finite(name, z)
    return z


def check_pair(z_a, z_b, *, min_batch: int = 2, why: str = "the loss compares samples within the batch", names=("z_a", "z_b")) -> tuple[Tensor, Tensor]:
    """Check two views' embeddings: (n, d) floating tensors of identical shape, dtype and device."""
    check_tensor(names[0], z_a, ndim=2, floating=True)
    check_batch(names[0], z_a, min_batch=min_batch, why=why)
    check_tensor(names[1], z_b, ndim=2, floating=True)
    if z_a.shape != z_b.shape:
        raise ValueError(
            format_error(
                names[1],
                f"the shape of {names[0]} {tuple(z_a.shape)} (row i of both views is the same sample)",
                f"shape {tuple(z_b.shape)}",
                "embed the same batch under two augmentations with the same encoder output size",
            )
        )
    if z_a.dtype != z_b.dtype or z_a.device != z_b.device:
        raise TypeError(
            format_error(names[1], f"dtype {z_a.dtype} on {z_a.device}", f"dtype {z_b.dtype} on {z_b.device}", f"use {names[1]}.to({names[0]})")
        )
    if input_checks_enabled() and not bool((torch.isfinite(z_a).all() & torch.isfinite(z_b).all())):  # one device read for both
        check_finite(names[0], z_a)
        check_finite(names[1], z_b)
    return z_a, z_b


def off_diagonal(m: Tensor) -> Tensor:
    """The off-diagonal entries of a square matrix ``(d, d)`` as a flat ``(d * (d - 1),)`` tensor."""
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()  # (d - 1, d + 1) trick skips the diagonal


def registry_pair(n: int = 8, d: int = 4, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Two correlated random views ``(n, d)`` that require grad (used by registry examples)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=g)
    z_a = (base + 0.1 * torch.randn(n, d, generator=g)).requires_grad_(True)
    z_b = (base + 0.1 * torch.randn(n, d, generator=g)).requires_grad_(True)
    return z_a, z_b
