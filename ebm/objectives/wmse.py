"""W-MSE: whiten each view's batch, then pull the positive pairs together.

For one view's (sub-)batch ``Z (n, d)``: centre it, take the Cholesky factor ``L`` of its
covariance ``Σ = Z_cᵀ Z_c / (n - 1) = L Lᵀ`` and whiten, ``W = Z_c L⁻ᵀ`` (so ``Cov(W) = I``). Then

    L = (1/n) Σ_i ‖ w_a,i/‖w_a,i‖ - w_b,i/‖w_b,i‖ ‖²   (= 2 - 2 cos(w_a,i, w_b,i) on average)

Whitening scatters the batch over the sphere, so the MSE cannot be minimised by collapse. The
whitening needs ``n > d`` rows per sub-batch (the covariance must be invertible).

Reference: Ermolov, Siarohin, Sangineto & Sebe (2021), "Whitening for Self-Supervised
Representation Learning", arXiv:2007.06346 (eqs. 3-5; sub-batch size ``w_size`` and repeats
``w_iter`` are the paper's hyper-parameters; whitening the whole batch is w_iter = 1 with one sub-batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_nonnegative, check_tensor, format_error
from ebm.objectives._common import check_batch
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["WMSE", "whiten"]


def whiten(z: Tensor, eps: float = 0.0, *, name: str = "z") -> Tensor:
    """Cholesky whitening ``(n, d) → (n, d)`` with identity sample covariance (``eps`` adds a ridge).

    ``W = Z_c L⁻ᵀ`` with ``L Lᵀ = Z_cᵀ Z_c / (n - 1) + ε I`` (Ermolov et al. 2021, arXiv:2007.06346).

    Args:
        z: ``(n, d)`` embeddings, n >= 2.
        eps: ridge ε >= 0 added to the covariance. With ε = 0 the covariance must be positive
            definite: a rank-deficient batch (n <= d, repeated or collinear rows, a collapsed
            dimension) has no whitening, and this raises instead of returning garbage.

    Returns:
        ``(n, d)`` whitened rows (exactly identity covariance when ε = 0).

    Raises:
        ValueError: fewer than 2 rows, ε < 0, or a covariance that is not positive definite
            (the message suggests ``eps``, e.g. 1e-4 times the embeddings' variance).
        name: the argument name used in error messages (W-MSE passes ``z_a`` / ``z_b``).
    """
    check_tensor(name, z, ndim=2, floating=True)
    check_batch(name, z, min_batch=2, why="whitening uses the batch covariance")
    eps = check_nonnegative("eps", eps)
    n, d = z.shape
    zc = z - z.mean(0)
    cov = zc.T @ zc / (n - 1) + eps * torch.eye(d, dtype=z.dtype, device=z.device)  # (d, d)
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool(info != 0):  # torch.linalg.cholesky reads info back too; this only replaces LAPACK's message
        raise ValueError(
            format_error(
                name,
                f"a batch whose ({d}, {d}) covariance is positive definite (W-MSE whitens it)",
                f"a rank-deficient covariance (the leading minor of order {int(info)} is not positive) with eps={eps:g}",
                "pass eps > 0 (e.g. WMSE(eps=1e-4)) to add a ridge, use more rows than the embedding dimension, or check the encoder for collapsed outputs",
            )
        )
    # W = Z_c L^{-T}:  solve L Wᵀ = Z_cᵀ
    return torch.linalg.solve_triangular(chol, zc.T, upper=False).T  # (n, d)


@register_objective(
    "wmse",
    example=lambda: (WMSE(), registry_pair(n=12, d=4)),
    bad_inputs=[
        (lambda: WMSE()(torch.randn(4, 8), torch.randn(4, 8)), ValueError, "too small"),
        (lambda: WMSE(w_size=4)(torch.randn(16, 6), torch.randn(16, 6)), ValueError, "w_size"),
        (lambda: WMSE()(torch.randn(16, 3), torch.randn(15, 3)), ValueError, "z_b"),
    ],
)
class WMSE(nn.Module):
    """Whitened normalised-MSE between two views.

    Args:
        w_size: rows per whitening sub-batch (must exceed d); None whitens the whole batch.
        w_iter: how many random sub-batch partitions to average over (default 1).
        eps: ridge added to the covariance before the Cholesky factorisation (default 0).

    Shapes: ``forward(z_a, z_b, generator=None)``: ``(n, d)`` each with n > d (and n a multiple of
    ``w_size`` when given) → scalar. ``generator`` draws the sub-batch partition.

    Raises:
        ValueError: batch too small for whitening (n <= d or w_size <= d), shapes differ, or a
            rank-deficient sub-batch with ``eps = 0`` (the message suggests ``eps``).

    Example:
        >>> WMSE()(torch.randn(64, 8), torch.randn(64, 8))
    """

    def __init__(self, w_size: int | None = None, w_iter: int = 1, eps: float = 0.0):
        super().__init__()
        self.w_size = None if w_size is None else check_int("w_size", w_size, minimum=2)
        self.w_iter = check_int("w_iter", w_iter, minimum=1)
        self.eps = check_nonnegative("eps", eps)

    def forward(self, z_a: Tensor, z_b: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_pair(z_a, z_b)
        check_generator("generator", generator)
        z_a, z_b = gather(z_a), gather(z_b)
        n, d = z_a.shape
        size = n if self.w_size is None else self.w_size
        if size <= d:
            name = "w_size" if self.w_size is not None else "z_a"
            raise ValueError(
                format_error(name, f"whitening sub-batches of more than d = {d} rows (batch too small for W-MSE)", f"{size} rows", f"use batches (and w_size) of at least {2 * d} rows, or a smaller embedding")
            )
        if n % size != 0:
            raise ValueError(format_error("w_size", f"a divisor of the batch size {n}", str(size), "make batch_size a multiple of w_size"))
        total = z_a.new_zeros(())
        for _ in range(self.w_iter):
            order = torch.arange(n) if size == n else torch.randperm(n, generator=generator)
            for chunk in order.to(z_a.device).view(-1, size):  # (n / size, size)
                w_a = F.normalize(whiten(z_a[chunk], self.eps, name="z_a"), dim=1)
                w_b = F.normalize(whiten(z_b[chunk], self.eps, name="z_b"), dim=1)
                total = total + (w_a - w_b).pow(2).sum(1).mean()
        return total / (self.w_iter * (n // size))
