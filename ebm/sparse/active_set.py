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
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

__all__ = ["support_solve", "active_set_polish"]


def support_solve(codes: Tensor, gram: Tensor, corr: Tensor, alpha: float, *, max_support: int, chunk: int = 1024, check_signs: bool = True) -> tuple[Tensor, Tensor]:
    """Solve ``z_S G_SS = B_S − α sign(z_S)`` on each signal's current support.

    Args:
        codes: current codes ``(m, k)``; their non-zeros define the support and signs.
        gram: ``G = D Dᵀ (k, k)`` in the solve dtype (float64 recommended).
        corr: ``B = x Dᵀ (m, k)`` for the same signals, same dtype as ``gram``.
        alpha: the l1 weight.
        max_support: the largest support to try, ``min(k, f)`` (the rank of ``G`` at most).
        chunk: signals per batched Cholesky call.
        check_signs: require the solution to keep the assumed signs (False: any solve that
            factorises is returned, as the primal-dual active-set iteration needs).

    Returns:
        ``(candidate (m, k), ok (m,))`` — ``ok`` marks a successful factorisation whose solution
        keeps the assumed signs; the candidate equals ``codes`` (cast) where ``ok`` is False.
    """
    m, k = codes.shape
    dtype, dev = gram.dtype, codes.device
    support = codes != 0  # (m, k)
    size = support.sum(1)  # (m,)
    out = codes.to(dtype).clone(memory_format=torch.contiguous_format)  # (m, k), flat-indexable
    ok = size == 0  # z = 0 is its own candidate; the duality gap decides
    # Padding trick: slot i of a short support points at index k + i of G ⊕ I, so padded blocks
    # are the identity and padded right-hand sides are zero without masking the (c, s, s) blocks.
    gram_aug = torch.block_diag(gram, torch.eye(max_support + 1, dtype=dtype, device=dev))  # (k+p, k+p)
    kp = gram_aug.shape[0]
    # Signs and correlations padded once for all signals; each chunk reads its (c, s) entries by flat index.
    sign_aug = torch.nn.functional.pad(torch.sign(codes).to(dtype), (0, max_support + 1))  # (m, k+p), zero on padding
    corr_aug = torch.nn.functional.pad(corr, (0, max_support + 1))  # (m, k+p), zero on padding
    # A unique minimiser has |S| <= rank(G) <= min(k, f); larger supports are left to the iterations.
    todo = ((size > 0) & (size <= max_support)).nonzero().squeeze(1)
    todo = todo[torch.argsort(size[todo])]
    sizes_sorted = size[todo].tolist()
    flat_out = out.view(-1)  # (m k,) writes go straight into out

    def solve_chunk(start: int) -> None:
        stop = min(start + chunk, todo.shape[0])
        rows = todo[start:stop]
        c, s_max = rows.shape[0], int(sizes_sorted[stop - 1])
        sup = support[rows]  # (c, k)
        # Support indices in order, padded with k: slot = rank within the support, or s_max (dropped).
        slot = torch.where(sup, sup.cumsum(1) - 1, torch.full_like(size[rows, None], s_max))  # (c, k)
        idx = (k + torch.arange(s_max + 1, device=dev)).expand(c, s_max + 1).clone()
        idx.scatter_(1, slot, torch.arange(k, device=dev).expand(c, k))
        idx = idx[:, :s_max]  # (c, s)
        # One flat gather of the (c, s, s) blocks (gathering whole rows first costs k/s times more).
        block = torch.take(gram_aug, idx[:, :, None] * kp + idx[:, None, :])  # (c, s, s)
        flat = rows[:, None] * kp + idx  # (c, s) positions in the padded (m, k+p) tensors
        theta = torch.take(sign_aug, flat)  # (c, s), zero on padding
        rhs = torch.take(corr_aug, flat) - alpha * theta  # (c, s), zero on padding
        factor, info = torch.linalg.cholesky_ex(block)
        # Two triangular solves (faster on CPU than cholesky_solve for many small systems).
        half = torch.linalg.solve_triangular(factor, rhs.unsqueeze(-1), upper=False)
        sol = torch.linalg.solve_triangular(factor.mT, half, upper=True).squeeze(-1)  # (c, s)
        good = info == 0
        if check_signs:
            good = good & ((torch.sign(sol) == theta) | (idx >= k)).all(1)
        rows_g, idx_g, sol_g = rows[good], idx[good], sol[good]  # (g,), (g, s), (g, s)
        out[rows_g] = 0
        valid = idx_g < k  # (g, s) real support slots
        flat_out[(rows_g[:, None] * k + idx_g)[valid]] = sol_g[valid]
        ok[rows_g] = True

    starts = list(range(0, todo.shape[0], chunk))
    workers = min(torch.get_num_threads(), len(starts)) if dev.type == "cpu" else 1
    if workers > 1:
        # LAPACK factorises a batch one matrix at a time on one core: spread the chunks over the
        # cores (torch releases the GIL; chunks write disjoint rows of out and ok).
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(solve_chunk, starts))
    else:
        for start in starts:
            solve_chunk(start)
    return out, ok


def active_set_polish(codes: Tensor, problem, rows: Tensor, tol: float, *, rounds: int = 5) -> tuple[Tensor, Tensor]:
    """A few primal-dual active-set (semismooth Newton) rounds, each certified by the duality gap.

    Round r guesses the support and signs from one proximal step of length ``τ = 1/mean(diag G)``,
    ``S, θ = supp, sign(soft(z_r + τ (B − z_r G), τ α))``, and solves on ``S`` (Fan, Jiao & Lu 2014,
    arXiv:1403.0515, "A primal dual active set algorithm with continuation for compressed
    sensing"). Each candidate whose relative duality gap is at most ``tol`` is accepted.

    Args:
        codes: current codes ``(m, k)`` (any floating dtype) of the problem's rows ``rows (m,)``.
        problem: the `ebm.sparse.problem.SparseProblem` (its dtype is used for the solves).
        tol: accept when ``gap ≤ tol · P``.
        rounds: active-set rounds.
    Returns:
        ``(codes (m, k) in the problem's dtype, accepted (m,) bool)``.
    """
    from ebm.sparse.problem import gram_terms

    gram = problem.gram
    k, f = problem.dictionary.shape
    tau = 1.0 / float(gram.diagonal().mean())
    # The signals still to solve are kept compacted (codes, z G, B, rows), so no round re-gathers
    # full-size tensors; only the accepted rows are written back.
    z_t = codes.to(gram.dtype)  # (t, k), never modified in place
    zg_t = _times_gram(z_t, problem)  # (t, k); kept in step with z_t, so each round costs one product
    corr_t, rows_t = problem.corr[rows], rows
    best = z_t.clone()
    accepted = torch.zeros(z_t.shape[0], dtype=torch.bool, device=z_t.device)
    todo = torch.arange(z_t.shape[0], device=z_t.device)
    for _ in range(rounds):
        u = z_t + tau * (corr_t - zg_t)  # (t, k)
        pattern = torch.sign(u) * (u.abs() > tau * problem.alpha)
        cand, ok = support_solve(pattern, gram, corr_t, problem.alpha, max_support=min(k, f), check_signs=False)
        cand_g = _times_gram(cand, problem)  # (t, k), reused by the next round's proximal guess
        primal, gap = gram_terms(problem, cand, zg=cand_g, rows=rows_t, corr=corr_t)
        win = ok & (gap <= tol * primal)
        best[todo[win]] = cand[win]
        accepted[todo[win]] = True
        nxt = ok & ~win
        if not bool(nxt.any()):
            break
        todo, z_t, zg_t, corr_t, rows_t = todo[nxt], cand[nxt], cand_g[nxt], corr_t[nxt], rows_t[nxt]
    return best, accepted


def _times_gram(z: Tensor, problem) -> Tensor:
    """``z G`` as ``(z D) Dᵀ`` when the dictionary is overcomplete (``f < k``): ``2kf`` instead of ``k²`` per row."""
    k, f = problem.dictionary.shape
    if 2 * f <= k:
        d = problem.dictionary.to(z.dtype)
        return (z @ d) @ d.T  # (m, f) -> (m, k)
    return z @ problem.gram.to(z.dtype)
