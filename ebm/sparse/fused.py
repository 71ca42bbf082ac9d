"""Fused proximal-gradient steps (``torch.compile``) on fixed-size row blocks, for ``fista(compile=True)``.

One step of the solvers in `ebm.sparse.solvers` is, per signal (row),

    u = soft(y − (y G − B)/L, α/L),   z ← u,   y ← u + (t − 1)/t' · (u − z)   (FISTA),

with ``soft(v, λ) = v − clamp(v, −λ, λ)``. Eagerly that is two thin matrix products and about
twenty element-wise passes over ``(m, k)`` tensors; inductor fuses the passes into a few loops
per step (`ebm.sparse.compile_policy.compile_step`: static shapes, full graph, compile failures
reported as a ``compile`` error).

Why row blocks: the solvers drop converged signals, so the batch shrinks, and a static-shape
graph recompiles for every new size. Here the rows are padded to a multiple of ``block`` and each
compiled call advances one ``(block, k)`` slice by ``unroll`` steps, so one solve compiles at
most two graphs (``unroll`` steps and one step) whatever the batch does; padded rows have
``B = 0, z = y = 0`` and stay exactly zero. Several steps per call keep a block in the L2 cache
from one step to the next (a ``(256, 256)`` float32 block is 256 kB) and amortise the call
overhead. The compiled graphs are cached per problem configuration, so later solves with the same
shapes reuse them.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["block_rows", "pad_rows", "pad_to_blocks", "fused_segment", "config_key", "is_compiled"]

BLOCK = 256  # rows per compiled call
UNROLL = 10  # proximal steps per compiled call (check_every's default: one call per block per check)
_CACHE: dict = {}
_GOLDEN = 0.5 * (1 + 5**0.5)  # t' after a restart: (1 + √(1 + 4·1²))/2


def _make_steps(n_steps: int, accelerated: bool, restart: bool, thin: bool):
    """``n_steps`` proximal-gradient steps on one block, updating ``z, y, t`` in place; returns the last ``u − z``."""

    def steps(z, y, t, b, d, w, thr):
        zc, yc, tc = z, y, t
        for _ in range(n_steps):
            # thin: u = y + B/L − (y D) Dᵀ/L (w = −Dᵀ/L); else u = B/L + y (I − G/L) (w = I − G/L).
            v = yc + b + (yc @ d) @ w if thin else b + yc @ w
            u = v - torch.clamp(v, -thr, thr)  # soft threshold; exactly zero where |v| ≤ thr
            step = u - zc
            if accelerated:
                t_new = 0.5 * (1 + torch.sqrt(1 + 4 * tc * tc))
                if restart:
                    uphill = ((yc - u) * step).sum(1) > 0
                    tc = torch.where(uphill, torch.ones_like(tc), tc)
                    t_new = torch.where(uphill, torch.full_like(t_new, _GOLDEN), t_new)
                yc = u + ((tc - 1) / t_new)[:, None] * step
                tc = t_new
            else:
                yc = u
            zc = u
        z.copy_(zc)
        y.copy_(yc)
        t.copy_(tc)
        return step

    return steps


def config_key(n_steps, accelerated, restart, thin, block, d, w, dtype, device):
    """The cache key of one compiled function: variant, block shape ``(block, k)``, ``d`` and ``w`` shapes, dtype, device."""
    return (n_steps, accelerated, restart, thin, (block, w.shape[1]), tuple(d.shape), tuple(w.shape), dtype, torch.device(device))


def is_compiled(key) -> bool:
    """Whether the function of `config_key` ``key`` is already compiled in this process."""
    return key in _CACHE


def _compiled(n_steps, accelerated, restart, thin, z, d, w):
    """The compiled ``n_steps`` function for this configuration (compiled once, then cached).

    A new function is compiled right away on zero blocks (which it leaves zero), so that a
    compilation failure surfaces before any real row has been advanced.
    """
    from ebm.sparse.compile_policy import compile_step

    key = config_key(n_steps, accelerated, restart, thin, z.shape[0], d, w, z.dtype, z.device)
    fn = _CACHE.get(key)
    if fn is None:
        fn = compile_step(_make_steps(n_steps, accelerated, restart, thin))
        zeros = torch.zeros_like(z)
        fn(zeros, zeros.clone(), torch.ones(z.shape[0], dtype=z.dtype, device=z.device), zeros.clone(), d, w, torch.zeros((), dtype=z.dtype, device=z.device))
        _CACHE[key] = fn
    return fn


def block_rows(m: int) -> int:
    """Rows per compiled call for a batch of ``m`` signals: `BLOCK`, or a power of two ≥ 16 for small batches."""
    return min(BLOCK, max(16, 1 << max(m - 1, 0).bit_length()))


def pad_rows(v: Tensor, rows: int) -> Tensor:
    """``v`` with zero rows appended up to ``rows`` rows, in a fresh contiguous tensor."""
    out = v.new_zeros((rows,) + tuple(v.shape[1:]))
    out[: v.shape[0]] = v
    return out


def pad_to_blocks(v: Tensor, block: int) -> Tensor:
    """``v`` padded with zero rows to the next multiple of ``block`` rows (see `pad_rows`)."""
    return pad_rows(v, -(-v.shape[0] // block) * block)


def fused_segment(n_steps: int, z: Tensor, y: Tensor, t: Tensor, b: Tensor, d: Tensor, w: Tensor, thr: Tensor, *, block: int, accelerated: bool, restart: bool, thin: bool) -> Tensor:
    """Advance every row ``n_steps`` steps with the compiled block function.

    Args:
        z, y: ``(M, k)`` iterates and extrapolated points, ``M`` a multiple of ``block`` (padded
            rows zero); updated in place. ``block``: rows per compiled call (divides ``M``).
        t: ``(M,)`` momentum counters, updated in place.
        b: ``(M, k)`` ``B/L`` (zero on padded rows).
        d: ``(k, f)`` dictionary (``thin``) or unused; w: ``(f, k)`` ``−Dᵀ/L`` or ``(k, k)`` ``I − G/L``.
        thr: 0-dim ``α/L``.
        accelerated, restart, thin: the step variant (FISTA or ISTA, adaptive restart, thin form).

    Returns:
        ``(M, k)`` the last step's ``z_{t+1} − z_t`` (for the ``"change"`` criterion).
    """
    step = torch.empty_like(z)
    # Compile every variant this segment needs before touching a row: a failure leaves z, y, t intact.
    for n in ([UNROLL] if n_steps >= UNROLL else []) + ([1] if n_steps % UNROLL else []):
        _compiled(n, accelerated, restart, thin, z[:block], d, w)
    done = 0
    while done < n_steps:
        n = UNROLL if n_steps - done >= UNROLL else 1
        for lo in range(0, z.shape[0], block):
            hi = lo + block
            fn = _compiled(n, accelerated, restart, thin, z[lo:hi], d, w)
            step[lo:hi] = fn(z[lo:hi], y[lo:hi], t[lo:hi], b[lo:hi], d, w, thr)
        done += n
    return step
