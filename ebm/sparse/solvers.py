"""Batched proximal-gradient LASSO solvers: ISTA and FISTA with per-signal stopping.

Both minimise, for every row of ``x (n, f)`` independently,

    P(z) = ½‖x − z D‖² + α‖z‖₁,        z (k,), D (k, f),

with the step ``z ← soft(z − (z G − B)/L, α/L)``, ``G = D Dᵀ``, ``B = x Dᵀ``, ``L = λ_max(G)``
(Daubechies, Defrise & De Mol 2004, arXiv:math/0307152). FISTA adds Nesterov momentum and reaches
``P(z_k) − P* ≤ 2L‖z_0 − z*‖² / (k + 1)²`` (Beck & Teboulle 2009, SIAM J. Imaging Sci. 2(1));
``restart=True`` resets the momentum of a signal whenever it points uphill (the gradient scheme
of O'Donoghue & Candès 2015, arXiv:1204.3982).

Speed (see BENCHMARKS.md, "Sparse coding"):

* The step is ``u = y + B/L − (y D) Dᵀ/L`` for overcomplete dictionaries (``2f ≤ k``: ``2kf``
  multiply-adds per row instead of ``k²``), else one ``addmm`` ``u = B/L + y (I − G/L)``; then the
  fused ``softshrink`` (exact zeros below the threshold). All updates are in place into
  preallocated buffers: a fresh ``(m, k)`` tensor per step costs page faults that take longer
  than the arithmetic.
* Per-signal stopping with compaction: every ``check_every`` iterations the converged rows are
  written out and the rest are gathered into smaller tensors, so converged signals cost nothing.
* ``compute_dtype=torch.float32`` iterates in single precision while the certificate (the duality
  gap) and the polish are computed in the dtype of ``x``.
* ``polish=True`` tries, at every check from iteration ``polish_after`` on, a few active-set
  rounds with exact solves on the support (`ebm.sparse.active_set.active_set_polish`) and accepts
  a signal's code only when its duality gap meets ``tol``. A polish round costs about as much as
  20-30 float32 iterations (5-7 in C, below), so it waits until the iterations have nearly
  found the supports: ``polish_after`` defaults to 50 (30 for the C polish).
* The plain call is the fast certified path: ``compute_dtype="auto"`` iterates in float32 for
  float64 ``x`` when the polish certifies the result, ``polish="auto"`` polishes whenever the gap
  criterion stops the solve, and rows the polish has not certified by ``polish_after + 100``
  (ISTA: ``+ 500``) continue in the dtype of ``x``, where their own gap can certify them.
* On CPU the iterations run in `ebm.sparse.native.prox_steps_native` (torch's GEMMs for the
  products, one C pass for the rest of a step, L2-sized row blocks that take all the steps to the
  next check) and the polish in C (`ebm.sparse.native`: per signal, the guess, the solve on the
  support by a column-wise Cholesky read straight from ``G``, and the duality gap): on one core of
  the development CPU the polish of the scikit-learn benchmark went from 0.63-0.75 s (torch ops)
  to 0.25-0.29 s, and 50 float32 steps from 4.1 s to 1.4 s (eager torch, loaded machine).
* ``compile=True`` fuses the step with ``torch.compile`` instead (`ebm.sparse.fused`): blocks of
  256 rows, padded to a fixed shape so that a shrinking batch never recompiles, advance 10 steps
  per compiled call; the first solve of a configuration pays the compilation (10-45 s here).
  ``compile="auto"`` (`ebm.sparse.compile_policy`) compiles only where the C kernels are not
  available, once a configuration's eager iterations have cost as much as the compilation.
* Subnormals: the soft threshold returns exact zeros, and momentum differences below
  ``finfo.tiny`` cannot arise for long because converged rows leave the batch; the library does not
  touch the process-wide ``torch.set_flush_denormal`` flag.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from ebm._validation import check_choice, check_int, check_nonnegative, format_error
from ebm.sparse import compile_policy, fused, native
from ebm.sparse.compile_policy import check_compile_flag
from ebm.sparse.active_set import active_set_polish
from ebm.sparse.problem import check_lipschitz, check_problem, gram_terms, lipschitz_constant

__all__ = ["SparseCode", "ista", "fista"]


@dataclass
class SparseCode:
    """Result of a sparse-coding solve.

    Attributes:
        codes: ``(n, k)`` codes in the dtype of ``x``.
        n_iter: ``(n,)`` int64, iterations each signal used.
        converged: ``(n,)`` bool, whether each signal met ``tol`` (always False when ``tol=0``).
    """

    codes: Tensor
    n_iter: Tensor
    converged: Tensor


def ista(x: Tensor, dictionary: Tensor, alpha, *, max_iter: int = 1000, tol: float = 1e-6, **kwargs) -> SparseCode:
    """ISTA (iterative shrinkage-thresholding) for ``min_z ½‖x − z D‖² + α‖z‖₁``, batched.

    ``z_{t+1} = soft(z_t − (z_t G − B)/L, α/L)`` with ``G = D Dᵀ``, ``B = x Dᵀ``, ``L ≥ λ_max(G)``;
    the objective never increases (Daubechies, Defrise & De Mol 2004, arXiv:math/0307152).

    Args:
        x: signals ``(n, f)``.
        dictionary: atoms as rows, ``(k, f)``.
        alpha: the l1 weight ``α ≥ 0`` (as in ``sklearn.decomposition.sparse_encode``).
        max_iter: iteration cap; ``max_iter=k, tol=0`` runs exactly k iterations on every signal.
        tol: per-signal stopping threshold (see `fista` for ``criterion``); 0 disables stopping.
        **kwargs: ``init``, ``criterion``, ``check_every``, ``compute_dtype``, ``lipschitz``,
            ``polish``, ``polish_rounds``, ``polish_after``, ``compile`` as in `fista` (with the
            same defaults: the plain call iterates in float32 for float64 ``x`` and polishes).

    Returns:
        `SparseCode` with codes ``(n, k)``, ``n_iter (n,)`` and ``converged (n,)``.

    Raises:
        ValueError / TypeError: shape mismatch, ``alpha < 0``, a zero atom, non-finite input.

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
        >>> ista(torch.randn(3, 4), D, 0.1).codes.shape
        torch.Size([3, 8])
    """
    return _proximal_gradient(x, dictionary, alpha, accelerated=False, restart=False, max_iter=max_iter, tol=tol, **kwargs)


def fista(
    x: Tensor,
    dictionary: Tensor,
    alpha,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
    init: Tensor | None = None,
    restart: bool = True,
    criterion: str = "gap",
    check_every: int = 10,
    compute_dtype: torch.dtype | str | None = "auto",
    lipschitz: Tensor | float | None = None,
    polish: bool | str = "auto",
    polish_rounds: int = 5,
    polish_after: int | None = None,
    compile: bool | str = "auto",
) -> SparseCode:
    """FISTA for ``min_z ½‖x − z D‖² + α‖z‖₁``, batched, with per-signal stopping.

    ``z_{t+1} = soft(y_t − (y_t G − B)/L, α/L)``, ``t_{s+1} = (1 + √(1 + 4t_s²))/2``,
    ``y_{t+1} = z_{t+1} + (t_s − 1)/t_{s+1} · (z_{t+1} − z_t)``; ``P(z_t) − P* ≤ 2L‖z_0 − z*‖²/(t+1)²``
    without restart (Beck & Teboulle 2009). Adaptive restart (O'Donoghue & Candès 2015,
    arXiv:1204.3982) sets ``t = 1`` for a signal when ``(y_{t} − z_{t+1})·(z_{t+1} − z_t) > 0``.

    Args:
        x: signals ``(n, f)``.
        dictionary: atoms as rows ``(k, f)``; same dtype and device as ``x``.
        alpha: ``α ≥ 0``.
        max_iter: iteration cap. ``max_iter=k, tol=0`` runs exactly k iterations on every signal.
        tol: a signal stops when ``gap ≤ tol · P(z)`` (``criterion="gap"``, a certificate:
            ``P(z) − P* ≤ gap``) or when ``‖z_{t+1} − z_t‖∞ ≤ tol · ‖z_{t+1}‖∞``
            (``criterion="change"``), checked every ``check_every`` iterations; 0 disables stopping.
            Values below ``64 · finfo(x.dtype).eps`` (rounding noise of the gap) are raised to it.
        init: warm start ``(n, k)``.
        restart: adaptive momentum restart.
        criterion: ``"gap"`` or ``"change"``.
        check_every: iterations between convergence checks (and compactions).
        compute_dtype: dtype of the iterations. ``"auto"`` (default): float32 for float64 ``x``
            when the polish certifies the result (``polish`` on, ``tol > 0``), else the dtype of
            ``x``; ``None``: the dtype of ``x``; or a dtype. The gap, the polish and the returned
            codes always use the dtype of ``x``; rows that the polish has not certified by
            iteration ``polish_after + 100`` continue in the dtype of ``x``.
        lipschitz: ``L``; by default ``lipschitz_constant(dictionary)`` (power iteration).
        polish: at each check from ``polish_after`` on, try active-set solves on the support
            (accepted only when the duality gap meets ``tol``; needs ``criterion="gap"``).
            ``"auto"`` (default): on when ``criterion="gap"`` and ``tol > 0``. On CPU the
            polish runs in the C kernel of `ebm.sparse.native` (built once with the system C
            compiler and cached; the torch implementation is used where it cannot be built).
        polish_rounds: primal-dual active-set rounds per polish attempt.
        polish_after: first iteration at which the polish is tried (at the checks from then on);
            default 30 with the C polish, else 50 (see the module docstring).
        compile: fuse the iterations with ``torch.compile`` (static shapes, full graph; see the
            module docstring): ``True``, ``False``, or ``"auto"`` (default), which compiles on
            CPU once a configuration's eager iterations in this process would have cost as
            much as compiling it (about 20 s) and never for calls below about 0.1 s of work
            (`ebm.sparse.compile_policy`); a compiler failure under ``"auto"`` falls back to
            the eager loop. Same algorithm; results equal the eager ones up to float rounding
            (the fused reductions sum in another order). ``True`` needs a working inductor
            backend (a C++ compiler on CPU).

    Returns:
        `SparseCode` ``(codes (n, k), n_iter (n,), converged (n,))``.

    Raises:
        ValueError / TypeError: shape mismatch, ``alpha < 0``, a zero atom, non-finite input,
            unknown ``criterion``, a ``compile`` or ``polish`` other than True, False or "auto".
        RuntimeError: ``compile=True`` without torch.compile, or when torch.compile fails (the
            message names ``compile`` and the fix, ``compile=False``).

    The plain call ``fista(x, D, alpha)`` is the fast certified configuration: float32
    iterations, the float64 duality-gap certificate and C polish (for float64 ``x``), and
    ``compile="auto"``; ``compute_dtype=None, polish=False, compile=False`` is textbook FISTA.

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(8, 4, dtype=torch.float64), dim=1)
        >>> res = fista(torch.randn(3, 4, dtype=torch.float64), D, 0.1, tol=1e-10)
        >>> bool(res.converged.all())
        True
    """
    return _proximal_gradient(
        x, dictionary, alpha, accelerated=True, restart=restart, max_iter=max_iter, tol=tol, init=init,
        criterion=criterion, check_every=check_every, compute_dtype=compute_dtype, lipschitz=lipschitz, polish=polish, polish_rounds=polish_rounds, polish_after=polish_after,
        compile=compile,
    )


def _proximal_gradient(
    x, dictionary, alpha, *, accelerated, restart, max_iter, tol, init=None, criterion="gap",
    check_every=10, compute_dtype="auto", lipschitz=None, polish="auto", polish_rounds=5, polish_after=None, compile="auto",
) -> SparseCode:
    problem, init = check_problem(x, dictionary, alpha, init=init)
    max_iter = check_int("max_iter", max_iter, minimum=0)
    tol = check_nonnegative("tol", tol)
    check_every = check_int("check_every", check_every, minimum=1)
    check_choice("criterion", criterion, ("gap", "change"))
    compile_flag = check_compile_flag(compile)
    stopping = tol > 0
    dev, rdtype = x.device, x.dtype
    if polish == "auto" and isinstance(polish, str):
        polish = stopping and criterion == "gap"  # certified by the duality gap: on by default
    elif not isinstance(polish, bool):
        raise TypeError(format_error("polish", "True, False or 'auto'", f"{type(polish).__name__} {polish!r}", "pass polish='auto' (the default), True or False"))
    if polish and criterion != "gap":
        raise ValueError(format_error("polish", "criterion='gap' (a polished code is accepted on its duality gap)", f"criterion={criterion!r}", "use criterion='gap' or polish=False"))
    if isinstance(compute_dtype, str) and compute_dtype == "auto":
        # float32 iterations only where the float64 polish certifies the result (and a float32
        # iteration costs half of a float64 one); a fixed-iteration run keeps the dtype of x.
        cdtype = torch.float32 if polish and stopping and rdtype == torch.float64 else rdtype
    elif compute_dtype is None:
        cdtype = rdtype
    elif isinstance(compute_dtype, torch.dtype) and compute_dtype.is_floating_point:
        cdtype = compute_dtype
    else:
        raise TypeError(format_error("compute_dtype", "'auto', None or a floating torch dtype", repr(compute_dtype), "pass torch.float32 or torch.float64"))
    # The C polish (one signal at a time, `ebm.sparse.native`) wherever it builds, else torch's.
    native_polish = polish and native.usable(dev, rdtype)
    if polish_after is None:
        # A round of the C polish costs about as much as 5-7 float32 iterations, of the torch
        # polish 20-30: the cheaper one pays off earlier. On the scikit-learn benchmark (AVX2,
        # one thread) 25-30 were best, 40 cost 7% more, 20 13% more (BENCHMARKS.md, "Sparse coding").
        polish_after = 30 if native_polish else 50
    polish_after = check_int("polish_after", polish_after, minimum=0)
    if not isinstance(restart, bool):
        raise TypeError(format_error("restart", "True or False", f"{type(restart).__name__} {restart!r}", "pass restart=True or restart=False"))
    check_int("polish_rounds", polish_rounds, minimum=0)
    n, k = x.shape[0], dictionary.shape[0]
    L_full = lipschitz_constant(dictionary) if lipschitz is None else check_lipschitz(lipschitz, dictionary, rdtype, dev)
    f = dictionary.shape[1]
    # Overcomplete dictionaries (2f <= k): u = y + B/L - (y D) Dᵀ/L costs 2kf per row instead of k².
    thin = 2 * f <= k

    def operators(dtype):
        """(d_c, w, b/L, α/L) of the iterations in ``dtype`` (see the module docstring)."""
        L = L_full.to(dtype)
        if thin:
            d_c = dictionary.to(dtype)  # (k, f)
            w = -(d_c.T / L)  # (f, k)
        else:  # one addmm per step: u = B/L + y (I - G/L)
            d_c, w = None, torch.eye(k, dtype=dtype, device=dev) - problem.gram.to(dtype) / L  # (k, k)
        return d_c, w, L, float((problem.alpha / L).to(dtype))  # α/L as a Python scalar: clamp's fast path

    d_c, w, L, thr = operators(cdtype)
    b_scaled = problem.corr.to(cdtype) / L  # (n, k)

    codes = torch.zeros(n, k, dtype=rdtype, device=dev) if init is None else init.clone(memory_format=torch.contiguous_format)
    n_iter = torch.full((n,), max_iter, dtype=torch.int64, device=dev)
    converged = torch.zeros(n, dtype=torch.bool, device=dev)
    if n == 0:
        return SparseCode(codes, n_iter, converged)

    rows = torch.arange(n, device=dev)  # global indices of the active signals
    z = codes.to(cdtype, copy=True)  # (m, k) active codes (a private buffer: updated in place)
    y = z.clone()
    b = b_scaled
    t = torch.ones(n, dtype=cdtype, device=dev)
    # A gap below the dtype's rounding noise cannot be certified: never ask for less than 64 eps.
    tol = max(tol, 64 * torch.finfo(rdtype).eps) if stopping else 0.0
    # Mixed precision: the float32 iterates only find the supports; the polish certifies. Rows
    # that the polish has not certified by promote_at continue in the dtype of x, where the gap
    # of the iterates can certify them too (so every returned code meets tol or says it did not).
    mixed = cdtype != rdtype
    promote_at = polish_after + (100 if accelerated else 500)  # ISTA finds supports more slowly
    # Preallocated buffers and in-place updates: fresh (m, k) tensors each step cost page faults
    # (large allocations are mmap'ed and zeroed by the OS) that take longer than the arithmetic.
    u, step = torch.empty_like(z), torch.empty_like(z)
    proj = z.new_empty(z.shape[0], f) if thin else None  # (m, f) y D
    # Fixed-size row blocks, padded: one static shape per solve whatever the batch does.
    block = fused.block_rows(n)
    d_f = d_c if thin else w  # unused by the square form, but the signature is fixed
    key = fused.config_key(fused.UNROLL, accelerated, restart, thin, block, d_f, w, cdtype, dev)
    work = n * k * (2 * f if thin else k) * (min(max_iter, compile_policy.ASSUMED_ITERATIONS) if stopping else max_iter)
    # The C iterations (`ebm.sparse.native.prox_steps_native`: torch's GEMMs, one fused C pass for
    # the rest, L2-sized row blocks) need no compilation and run as fast as the compiled ones
    # (BENCHMARKS.md): "auto" compiles only where they are unavailable.
    native_iter = compile is not True and native.usable(dev, cdtype)
    if compile_flag == "auto":
        compile = not native_iter and compile_policy.should_compile(key, work, dev, fused.is_compiled(key))
    if native_iter and not accelerated:
        y = z  # ISTA: the C kernel updates z = y = u in place
    eager_seconds = 0.0
    if compile:
        thr_t = torch.tensor(thr, dtype=cdtype, device=dev)  # a tensor: a new α must not recompile
        z, y, t, b = (fused.pad_to_blocks(v, block) for v in (z, y, t, b))
    it = 0
    while it < max_iter:
        # Run to the next check (every check_every iterations, and at max_iter).
        seg = min(check_every - it % check_every, max_iter - it)
        it += seg
        if compile:
            try:
                step = fused.fused_segment(seg, z, y, t, b, d_f, w, thr_t, block=block, accelerated=accelerated, restart=restart, thin=thin)
            except RuntimeError:
                if compile_flag is True:
                    raise
                # "auto": no working compiler here. Nothing was advanced (fused_segment compiles
                # before it steps); continue eagerly, and never try again in this process.
                compile_policy.mark_broken("the fused iterations failed to compile")
                compile, m = False, rows.numel()
                z, y, t, b = (v[:m].clone() for v in (z, y, t, b))
                u, step = torch.empty_like(z), torch.empty_like(z)
                proj = z.new_empty(m, f) if thin else None
        if native_iter:
            native.prox_steps_native(z, y, t, b, d_c, w, thr, seg, accelerated=accelerated, restart=restart, step_out=step if stopping and criterion == "change" else None)
        elif not compile:
            started = time.perf_counter()
            for _ in range(seg):
                if thin:
                    torch.add(y, b, out=u).addmm_(torch.mm(y, d_c, out=proj), w)  # (m, k)
                else:
                    torch.addmm(b, y, w, out=u)  # (m, k)
                torch._C._nn.softshrink(u, thr, out=u)  # soft threshold in one fused pass, exact zeros below thr
                if accelerated:
                    t_new = 0.5 * (1 + torch.sqrt(1 + 4 * t * t))
                    torch.sub(u, z, out=step)  # (m, k) z_{t+1} − z_t
                    if restart:
                        uphill = y.sub_(u).mul_(step).sum(1) > 0  # y is overwritten below
                        t = torch.where(uphill, torch.ones_like(t), t)
                        t_new = torch.where(uphill, torch.full_like(t_new, 0.5 * (1 + 5**0.5)), t_new)
                    torch.addcmul(u, ((t - 1) / t_new)[:, None], step, out=y)
                    t = t_new
                    z, u = u, z
                else:
                    if stopping and criterion == "change":
                        torch.sub(u, z, out=step)
                    z, u = u, z
                    y = z
            eager_seconds += time.perf_counter() - started
        if not stopping:
            continue
        if compile:  # the checks see the real rows only (views); padding is re-added after a compaction
            padded, m = (z, y, t, b), rows.numel()
            z, y, t, b, step = z[:m], y[:m], t[:m], b[:m], step[:m]
        if mixed:
            # Low-precision iterates cannot certify tol; only the (full-precision) polish ends a signal.
            done = torch.zeros(z.shape[0], dtype=torch.bool, device=dev)
        else:
            done = _check(problem, z, rows, tol, criterion, step, rdtype)
        polished = torch.zeros_like(done)
        if polish:
            # A polish round costs about as much as 20-30 float32 iterations (BENCHMARKS.md), so it is
            # tried only once the iterations have nearly found the support (from polish_after on).
            stable = ~done if it >= polish_after else torch.zeros_like(done)
            if bool(stable.any()):
                sub = stable.nonzero().squeeze(1)
                every = sub.numel() == z.shape[0]  # skip a full-size gather when all rows are tried
                # Accepted codes go straight into codes (in the dtype of x).
                z_sub, b_sub = (z, b) if every else (z[sub], b[sub])
                # The first guess needs B − z G: one batched GEMM pair in the iterations' dtype
                # (as cheap as one step) instead of k-long axpys per signal in the C polish.
                grad = _gradient(z_sub, b_sub, d_c, w, L, thin) if native_polish else None
                accept = active_set_polish(z_sub, problem, rows if every else rows[sub], tol, out=codes, rounds=polish_rounds, native=native_polish, grad=grad)
                polished[sub[accept]] = True
        compact = bool((done | polished).any())
        if compact:
            codes[rows[done]] = z[done].to(rdtype)
            fin = rows[done | polished]
            n_iter[fin] = it
            converged[fin] = True
            keep = ~(done | polished)
            rows, z, y, t, b = rows[keep], z[keep], y[keep], t[keep], b[keep]
            if native_iter and not accelerated:
                y = z
            u, step = torch.empty_like(z), torch.empty_like(z)
            proj = z.new_empty(z.shape[0], f) if thin else None
            if rows.numel() == 0:
                break
        if mixed and it >= promote_at:
            # The rows the polish could not certify go on in the dtype of x, eagerly (few rows).
            m, mixed, compile, cdtype = rows.numel(), False, False, rdtype
            d_c, w, L, thr = operators(rdtype)
            z, y, t = (v[:m].to(rdtype) for v in (z, y, t))
            b = problem.corr[rows].to(rdtype) / L  # (m, k)
            native_iter = native.usable(dev, rdtype)
            if native_iter and not accelerated:
                y = z
            u, step = torch.empty_like(z), torch.empty_like(z)
            proj = z.new_empty(m, f) if thin else None
        elif compile:
            z, y, t, b = (fused.pad_to_blocks(v, block) for v in (z, y, t, b)) if compact else padded
    codes[rows] = z[: rows.numel()].to(rdtype)
    if compile_flag == "auto" and eager_seconds > 0:
        compile_policy.record_eager(key, work, eager_seconds)
    return SparseCode(codes, n_iter, converged)


def _gradient(z: Tensor, b: Tensor, d_c: Tensor | None, w: Tensor, L: Tensor, thin: bool) -> Tensor:
    """``B − z G`` ``(m, k)`` from the iterations' operators: ``L (b + (z D) W)`` with ``W = −Dᵀ/L``
    (thin), or ``L (b + z (I − G/L) − z)``; ``z, b = B/L`` ``(m, k)``."""
    if thin:
        g = torch.addmm(b, torch.mm(z, d_c), w)  # (m, k) (B − z G)/L
    else:
        g = torch.addmm(b, z, w).sub_(z)  # (m, k)
    return g.mul_(L)


def _check(problem, z, rows, tol, criterion, step, rdtype) -> Tensor:
    """Per-signal convergence of the active rows, ``(m,)`` bool."""
    if criterion == "change":
        scale = z.abs().amax(1)
        return step.abs().amax(1) <= tol * scale
    primal, gap = gram_terms(problem, z.to(rdtype), rows=rows)
    return gap <= tol * primal
