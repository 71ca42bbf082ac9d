"""Greedy coordinate descent (CoD) for ``min_z ½‖x − z D‖² + α‖z‖₁``, batched: the baseline of LISTA's paper.

Gregor & LeCun (2010, ICML, "Learning Fast Approximations of Sparse Coding", Algorithm 2) compare
LISTA with coordinate descent that, at every iteration, moves the one coordinate whose exact
minimiser is farthest from its current value (Li & Osher 2009, "Coordinate descent optimization
for l1 minimization with application to compressed sensing; a greedy algorithm"). With the
residual correlation ``c = B − z G`` (``G = D Dᵀ``, ``B = x Dᵀ``), coordinate ``j``'s minimiser is

    z̄_j = soft(c_j + G_jj z_j, α) / G_jj,

and one iteration picks ``j = argmax_j |z̄_j − z_j|``, sets ``z_j ← z̄_j`` and updates
``c ← c − (z̄_j − z_j) G_j``: ``O(k)`` work per signal and iteration, against ``O(k·min(k, 2f))``
for an ISTA step, so an iteration count is not a cost comparison.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_int
from ebm.sparse.problem import check_problem, shrink

__all__ = ["coordinate_descent"]


def coordinate_descent(x: Tensor, dictionary: Tensor, alpha, n_iter: int, *, init: Tensor | None = None) -> Tensor:
    """``n_iter`` greedy coordinate-descent iterations from ``z = 0`` (Gregor & LeCun 2010's CoD), batched.

    Args:
        x: signals ``(n, f)``. dictionary: atoms as rows ``(k, f)``. alpha: ``α ≥ 0``.
        n_iter: iterations (one coordinate per signal each), ``≥ 0``.
        init: codes ``(n, k)`` to continue from (the state of CoD is ``z`` alone), default zeros.

    Returns:
        codes ``(n, k)`` in the dtype of ``x``.

    Raises:
        ValueError / TypeError: as `ebm.sparse.fista` for the problem; ``n_iter < 0``.

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(8, 4, dtype=torch.float64), dim=1)
        >>> coordinate_descent(torch.randn(3, 4, dtype=torch.float64), D, 0.1, 20).shape
        torch.Size([3, 8])
    """
    problem, init = check_problem(x, dictionary, alpha, init=init)
    n_iter = check_int("n_iter", n_iter, minimum=0)
    diag = problem.gram.diagonal()  # (k,) G_jj > 0: no zero atoms
    z = torch.zeros_like(problem.corr) if init is None else init.clone()  # (n, k)
    c = problem.corr - z @ problem.gram  # (n, k) B − z G
    rows = torch.arange(z.shape[0], device=z.device)
    for _ in range(n_iter):
        target = shrink(c + diag * z, problem.alpha) / diag  # (n, k) each coordinate's minimiser
        j = (target - z).abs().argmax(1)  # (n,) the coordinate that moves most
        delta = target[rows, j] - z[rows, j]  # (n,)
        z[rows, j] += delta
        c -= delta[:, None] * problem.gram[j]  # (n, k)
    return z
