"""Active-set Newton polish: solve the LASSO exactly once the signs of the solution are known.

If ``S`` is the support of a LASSO minimiser and ``θ`` its signs, the optimality conditions on
``S`` are linear,

    z_S G_SS = B_S − α θ_S,        |B_j − (z G)_j| ≤ α  for j ∉ S,

so one symmetric solve with the ``|S| × |S|`` block of the Gram matrix gives the exact minimiser
(feature-sign search, Lee, Battle, Raina & Ng 2007, NIPS). A few proximal-gradient iterations
identify ``S`` and ``θ`` long before they reach high accuracy, so "iterate a little, then solve on
the support and check the certificate" is far cheaper than iterating to 1e-6. A candidate is
accepted only if its signs agree with ``θ`` — the caller then checks the duality gap, which also
covers the off-support conditions, so a wrong guess can never be returned.

Signals are processed in chunks sorted by support size, so padding to the chunk's largest support
wastes little; padded rows and columns are the identity.

This module is the device-generic torch implementation; on CPU, ``native=True`` hands the same
work to the compiled C kernels of `ebm.sparse.native` (one signal at a time, no padding), which
every CPU solve of `fista` and `ista` uses.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from ebm.sparse import native as native_kernel

__all__ = ["active_set_polish", "support_solve"]


def support_solve(codes: Tensor, gram: Tensor, corr: Tensor, alpha: float, *, max_support: int, chunk: int = 128, check_signs: bool = True, corr_rows: Tensor | None = None, native: bool = False) -> tuple[Tensor, Tensor]:
    """Solve ``z_S G_SS = B_S − α sign(z_S)`` on each signal's current support.

    Args:
        codes: current codes ``(m, k)``; their non-zeros define the support and signs.
        gram: ``G = D Dᵀ (k, k)`` in the solve dtype (float64 recommended).
        corr: ``B = x Dᵀ (m, k)`` for the same signals, same dtype as ``gram``; or, with
            ``corr_rows (m,)``, a larger ``B`` whose row ``corr_rows[i]`` belongs to signal ``i``
            (saves gathering full rows when only the support entries are read).
        alpha: the l1 weight.
        max_support: the largest support to try, ``min(k, f)`` (the rank of ``G`` at most).
        chunk: signals per batched Cholesky call. Small chunks keep the ``(c, s, s)`` blocks in
            the L2 cache (128 signals of support 45 in float64: 2 MB), which measured faster than
            1024 (BENCHMARKS.md, "Against scikit-learn").
        check_signs: require the solution to keep the assumed signs (False: any solve that
            factorises is returned, as the primal-dual active-set iteration needs).
        native: solve with the compiled C kernel of `ebm.sparse.native` (CPU, float32/float64)
            when it is available, instead of batched torch ops; same systems, same acceptance
            rules, the rounding of another Cholesky ordering (by columns, right-looking).

    Returns:
        ``(candidate (m, k), ok (m,))`` — ``ok`` marks a successful factorisation whose solution
        keeps the assumed signs; the candidate equals ``codes`` (cast) where ``ok`` is False.
    """
    m, k = codes.shape
    dtype, dev = gram.dtype, codes.device
    codes, corr = codes.contiguous(), corr.contiguous()  # read by flat index
    # Every support index at once, row-major: row r's atoms, ascending, are cols[start[r]:start[r] + size[r]]
    # (one nonzero pass; summing a bool (m, k) mask per row costs more than this whole pass).
    nz = (codes != 0).nonzero()  # (nnz, 2)
    cols = nz[:, 1]
    size = torch.bincount(nz[:, 0], minlength=m)  # (m,)
    start = torch.cumsum(size, 0) - size  # (m,)
    out = torch.zeros(m, k, dtype=dtype, device=dev)  # (m, k), flat-indexable; off-support entries stay 0
    ok = size == 0  # z = 0 is its own candidate; the duality gap decides
    # A unique minimiser has |S| <= rank(G) <= min(k, f); larger supports are left to the iterations.
    todo = ((size > 0) & (size <= max_support)).nonzero().squeeze(1)
    workers = torch.get_num_threads() if dev.type == "cpu" else 1
    if native and native_kernel.usable(dev, dtype):
        rows_b = None if corr_rows is None else corr_rows.contiguous()
        native_kernel.support_solve_native(gram.contiguous(), todo, start, size, cols.contiguous(), codes.to(dtype), corr.to(dtype), rows_b, alpha, check_signs, out, ok, workers)
        return _keep_failed(out, ok, codes)
    todo = todo[torch.argsort(size[todo], stable=True)]  # sorted by size: little padding per chunk
    # Padding trick: slot i of a short support points at index k + i of G ⊕ I, so padded blocks
    # are the identity and padded right-hand sides are zero without masking the (c, s, s) blocks.
    gram_aug = torch.block_diag(gram, torch.eye(max_support + 1, dtype=dtype, device=dev))  # (k+p, k+p)
    kp = gram_aug.shape[0]
    sizes_list = size[todo].tolist()
    flat_codes, flat_corr, flat_out = codes.view(-1), corr.view(-1), out.view(-1)

    def solve_chunk(lo: int) -> None:
        hi = min(lo + chunk, todo.shape[0])
        rows = todo[lo:hi]
        s_max = int(sizes_list[hi - 1])
        slot = torch.arange(s_max, device=dev)  # (s,)
        valid = slot < size[rows, None]  # (c, s) real support slots
        at = (start[rows, None] + slot).clamp(max=cols.shape[0] - 1)  # (c, s) positions in cols
        idx = torch.where(valid, cols[at], k + slot)  # (c, s) support atoms, padded with k + slot
        at_k = idx.clamp(max=k - 1)
        flat = rows[:, None] * k + at_k  # (c, s) positions in the (m, k) tensors
        theta = torch.sign(flat_codes.take(flat)).to(dtype) * valid  # (c, s), zero on padding
        flat_b = flat if corr_rows is None else corr_rows[rows, None] * k + at_k
        rhs = (flat_corr.take(flat_b) - alpha * theta) * valid  # (c, s), zero on padding
        # One flat gather of the (c, s, s) blocks (gathering whole rows first costs k/s times more).
        block = gram_aug.take(idx[:, :, None] * kp + idx[:, None, :])  # (c, s, s)
        factor, info = torch.linalg.cholesky_ex(block)
        # Two triangular solves (faster on CPU than cholesky_solve for many small systems).
        half = torch.linalg.solve_triangular(factor, rhs.unsqueeze(-1), upper=False)
        sol = torch.linalg.solve_triangular(factor.mT, half, upper=True).squeeze(-1)  # (c, s)
        good = info == 0
        if check_signs:
            good = good & ((torch.sign(sol) == theta) | ~valid).all(1)
        valid_g = valid[good]
        flat_out[flat[good][valid_g]] = sol[good][valid_g]
        ok[rows[good]] = True

    starts = list(range(0, todo.shape[0], chunk))
    workers = min(workers, len(starts))
    if workers > 1:
        # LAPACK factorises a batch one matrix at a time on one core: spread the chunks over the
        # cores (torch releases the GIL; chunks write disjoint rows of out and ok).
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(solve_chunk, starts))
    else:
        for start_row in starts:
            solve_chunk(start_row)
    return _keep_failed(out, ok, codes)


def _keep_failed(out: Tensor, ok: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
    """Rows whose solve failed keep their codes (cast), as `support_solve` promises."""
    failed = ~ok
    if bool(failed.any()):
        out[failed] = codes[failed].to(out.dtype)
    return out, ok


def active_set_polish(codes: Tensor, problem, rows: Tensor, tol: float, *, out: Tensor, rounds: int = 5, native: bool = False, grad: Tensor | None = None) -> Tensor:
    """A few primal-dual active-set (semismooth Newton) rounds, each certified by the duality gap.

    Round r guesses the support and signs from one proximal step of length ``τ = 1/mean(diag G)``,
    ``S, θ = supp, sign(soft(z_r + τ (B − z_r G), τ α))``, and solves on ``S`` (Fan, Jiao & Lu 2014,
    arXiv:1403.0515, "A primal dual active set algorithm with continuation for compressed
    sensing"). Each candidate whose relative duality gap is at most ``tol`` is accepted.

    Args:
        codes: current codes ``(m, k)`` (any floating dtype) of the problem's rows ``rows (m,)``.
        problem: the `ebm.sparse.problem.SparseProblem` (its dtype is used for the solves).
        tol: accept when ``gap ≤ tol · P``.
        out: ``(n, k)`` codes of all the problem's signals (its dtype); each accepted code is written
            straight into its row ``out[rows[i]]`` (no full-size copy of the candidates).
        rounds: active-set rounds.
        native: run the rounds in C (`ebm.sparse.native.pdas_polish_native`: the same guesses,
            solves and certificate per signal, without the batched intermediates) when the
            kernel is available on this CPU; else the torch implementation below.
        grad: ``(m, k)`` ``B − codes G`` of these rows if the caller has it (any floating dtype;
            it only places the first guess, never the certificate), else None: computed here.
    Returns:
        ``accepted (m,)`` bool.
    """
    from ebm.sparse.problem import gram_terms

    gram = problem.gram
    k, f = problem.dictionary.shape
    tau = 1.0 / float(gram.diagonal().mean())
    if native and native_kernel.usable(codes.device, gram.dtype) and out.dtype == gram.dtype and out.is_contiguous():
        # The same rounds per signal in C: no (m, k) intermediates, no padded batches. The kernel
        # writes rows of out by flat offset, hence the contiguity.
        return native_kernel.pdas_polish_native(problem, codes, rows, tau, tol, rounds, out, torch.get_num_threads(), grad0=grad)
    # The signals still to solve are kept compacted (codes, B − z G, rows), so no round re-gathers
    # full-size tensors; B is read at the support entries only, and accepted rows are written back.
    z_t, rows_t = codes.to(gram.dtype), rows  # (t, k), never modified in place
    grad_t = grad.to(gram.dtype) if grad is not None else gram_terms(problem, z_t, rows=rows_t, with_corr_residual=True)[2]  # (t, k) B − z G
    accepted = torch.zeros(z_t.shape[0], dtype=torch.bool, device=z_t.device)
    todo = torch.arange(z_t.shape[0], device=z_t.device)
    for _ in range(rounds):
        # The proximal guess soft(z + τ (B − z G), τ α): its non-zeros and signs are S and θ.
        guess = torch.nn.functional.softshrink(torch.add(z_t, grad_t, alpha=tau), tau * problem.alpha)
        cand, ok = support_solve(guess, gram, problem.corr, problem.alpha, max_support=min(k, f), check_signs=False, corr_rows=rows_t, native=native)
        primal, gap, cand_grad = gram_terms(problem, cand, rows=rows_t, with_corr_residual=True)
        win = ok & (gap <= tol * primal)
        out[rows_t[win]] = cand[win].to(out.dtype)
        accepted[todo[win]] = True
        nxt = ok & ~win
        if not bool(nxt.any()):
            break
        todo, z_t, grad_t, rows_t = todo[nxt], cand[nxt], cand_grad[nxt], rows_t[nxt]
    return accepted
