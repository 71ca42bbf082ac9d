"""The LASSO / sparse-coding problem: validation, objective, duality gap, Lipschitz constant.

Shapes follow scikit-learn: signals ``x (n, f) ≈ codes z (n, k) @ dictionary D (k, f)``, and the
objective of one signal is

    P(z) = ½‖x − z D‖² + α‖z‖₁.

Everything here works in the Gram form: with ``G = D Dᵀ (k, k)`` and ``B = x Dᵀ (n, k)`` the
gradient of the smooth part is ``z G − B``, so one iteration costs one ``(n, k) @ (k, k)`` product
and the signal dimension ``f`` never enters the loop.

The dual (Kim et al. 2007; Fercoq, Gramfort & Salmon 2015, arXiv:1505.03410) of the problem is

    max_u ½‖x‖² − ½‖x − u‖²   subject to ‖u Dᵀ‖∞ ≤ α,

and the residual ``r = x − z D`` rescaled into the feasible set, ``u = r · min(1, α / ‖r Dᵀ‖∞)``,
gives a duality gap ``P(z) − dual(u) ≥ 0`` that is zero exactly at a minimiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ebm._validation import check_finite, check_int, check_nonnegative, check_tensor, format_error

__all__ = ["SparseProblem", "check_problem", "check_lipschitz", "soft_threshold", "lipschitz_constant", "objective", "duality_gap"]


def soft_threshold(u: Tensor, threshold) -> Tensor:
    """The proximal map of ``threshold·‖·‖₁``: ``sign(u) · max(|u| − threshold, 0)`` (any shape).

    Raises:
        TypeError/ValueError: ``u`` not a real floating tensor with finite entries, or a negative
            or non-finite ``threshold``.
    """
    check_tensor("u", u, floating=True)
    if u.is_complex():
        raise TypeError(format_error("u", "a real floating tensor", f"dtype {u.dtype}", "pass u.real"))
    check_finite("u", u)
    threshold = _check_alpha(threshold) if not isinstance(threshold, Tensor) or threshold.numel() == 1 else threshold
    return shrink(u, threshold)


def shrink(u: Tensor, threshold) -> Tensor:
    """`soft_threshold` without the input checks, for solvers and networks that validated once."""
    return torch.sign(u) * torch.clamp(u.abs() - threshold, min=0.0)


def _check_alpha(alpha) -> float:
    if isinstance(alpha, Tensor):
        if alpha.numel() != 1:
            raise ValueError(format_error("alpha", "a scalar", f"a tensor of shape {tuple(alpha.shape)}", "pass one float"))
        alpha = float(alpha)
    if isinstance(alpha, (str, bytes, bool)):
        raise TypeError(format_error("alpha", "a non-negative float", f"{type(alpha).__name__} {alpha!r}", "pass e.g. alpha=0.1"))
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(format_error("alpha", "a non-negative float", type(alpha).__name__, "pass e.g. alpha=0.1")) from None
    if not value == value or value in (float("inf"), float("-inf")):
        raise ValueError(format_error("alpha", "a finite non-negative float", repr(value), "pass e.g. alpha=0.1"))
    if value < 0:
        raise ValueError(format_error("alpha", "alpha >= 0 (the l1 penalty weight)", repr(value), "pass a non-negative alpha"))
    return value


def check_dictionary(dictionary, name: str = "dictionary") -> Tensor:
    """Check a ``(k, f)`` floating, finite dictionary without zero atoms (rows)."""
    check_tensor(name, dictionary, ndim=2, floating=True, finite=True)
    if dictionary.shape[0] == 0 or dictionary.shape[1] == 0:
        raise ValueError(format_error(name, "shape (k, f) with k, f >= 1", f"shape {tuple(dictionary.shape)}", "pass at least one atom"))
    norms = dictionary.norm(dim=1)
    if bool((norms == 0).any()):
        first = int((norms == 0).nonzero()[0])
        raise ValueError(
            format_error(name, "atoms (rows) with non-zero norm", f"a zero atom at row {first}", "drop that row or re-initialise it (e.g. with a random signal)")
        )
    return dictionary


def check_signals(x, dictionary: Tensor, name: str = "x") -> Tensor:
    """Check signals ``(n, f)`` against a ``(k, f)`` dictionary: shape, dtype, device, finiteness."""
    check_tensor(name, x, ndim=2, floating=True)
    f = dictionary.shape[1]
    if x.shape[1] != f:
        raise ValueError(
            format_error(name, f"shape (n, {f}) to match dictionary (k, f) = {tuple(dictionary.shape)}", f"shape {tuple(x.shape)}", f"pass signals with {f} features, or transpose the dictionary to (k, f)")
        )
    if x.dtype != dictionary.dtype:
        raise TypeError(format_error(name, f"dtype {dictionary.dtype} (the dictionary's)", f"dtype {x.dtype}", f"convert with {name}.to({dictionary.dtype})"))
    if x.device != dictionary.device:
        raise ValueError(format_error(name, f"a tensor on {dictionary.device} (the dictionary's device)", f"device {x.device}", f"move it with {name}.to({str(dictionary.device)!r})"))
    check_finite(name, x)
    return x


@dataclass
class SparseProblem:
    """A validated batch of LASSO problems in Gram form.

    Attributes:
        x: signals ``(n, f)``.  dictionary: ``(k, f)``.  alpha: the l1 weight.
        gram: ``G = D Dᵀ (k, k)``.  corr: ``B = x Dᵀ (n, k)``.  sq_norm: ``‖x‖² (n,)``.
    """

    x: Tensor
    dictionary: Tensor
    alpha: float
    gram: Tensor
    corr: Tensor
    sq_norm: Tensor

    def to(self, dtype: torch.dtype) -> "SparseProblem":
        if dtype == self.x.dtype:
            return self
        return SparseProblem(self.x.to(dtype), self.dictionary.to(dtype), self.alpha, self.gram.to(dtype), self.corr.to(dtype), self.sq_norm.to(dtype))


def check_problem(x, dictionary, alpha, *, init=None) -> tuple[SparseProblem, Tensor | None]:
    """Validate ``(x, dictionary, alpha, init)`` and build the Gram-form problem.

    Raises:
        TypeError / ValueError: wrong types, shapes, dtypes, devices, non-finite values, a zero atom
            or ``alpha < 0`` — every message names the argument and the fix.
    """
    check_dictionary(dictionary)
    check_signals(x, dictionary)
    alpha = _check_alpha(alpha)
    if init is not None:
        check_tensor("init", init, ndim=2, floating=True)
        if init.shape != (x.shape[0], dictionary.shape[0]):
            raise ValueError(format_error("init", f"codes of shape (n, k) = {(x.shape[0], dictionary.shape[0])}", f"shape {tuple(init.shape)}", "pass codes from an earlier solve of the same signals"))
        check_finite("init", init)
        init = init.to(device=x.device, dtype=x.dtype)
    gram = dictionary @ dictionary.T  # (k, k)
    corr = x @ dictionary.T  # (n, k)
    return SparseProblem(x, dictionary, alpha, gram, corr, (x * x).sum(1)), init


def lipschitz_constant(dictionary: Tensor, *, n_iter: int = 500, tol: float = 1e-7, safety: float = 1.001) -> Tensor:
    """``L = λ_max(D Dᵀ)`` by power iteration on the dictionary's device, times ``safety``.

    Power iteration approaches λ_max from below, so a small safety factor keeps ``1/L`` a valid
    step (ISTA's monotone decrease needs ``L ≥ λ_max``). It runs on the smaller of ``D Dᵀ (k, k)``
    and ``Dᵀ D (f, f)``, which share their non-zero eigenvalues, from a fixed start vector (no
    randomness), and stops when the Rayleigh quotient changes by less than ``tol`` relative.

    Args:
        dictionary: ``(k, f)`` floating, finite.
        n_iter: >= 1 power iterations at most (the estimate after i iterations is a lower bound).
        tol: >= 0, relative change of the Rayleigh quotient that stops the iteration early.
        safety: >= 1, the factor applied to the estimate (below 1 would give a step 1/L too long).
    Returns:
        A 0-dim tensor with the dictionary's dtype and device.
    Raises:
        ValueError / TypeError: a non-(k, f) or non-finite dictionary, ``n_iter < 1``, ``tol < 0``
        or ``safety < 1``.
    """
    check_tensor("dictionary", dictionary, ndim=2, floating=True, finite=True)
    if dictionary.shape[0] == 0 or dictionary.shape[1] == 0:
        raise ValueError(format_error("dictionary", "shape (k, f) with k, f >= 1", f"shape {tuple(dictionary.shape)}", "pass at least one atom"))
    n_iter = check_int("n_iter", n_iter, minimum=1)
    tol = check_nonnegative("tol", tol)
    safety = check_nonnegative("safety", safety)
    if safety < 1:
        raise ValueError(format_error("safety", "a factor >= 1 (power iteration approaches λ_max from below)", repr(safety), "pass safety >= 1 (default 1.001)"))
    d = dictionary.detach()
    m = d @ d.T if d.shape[0] <= d.shape[1] else d.T @ d  # (p, p), p = min(k, f)
    p = m.shape[0]
    # A deterministic start that is almost surely not orthogonal to the top eigenvector.
    v = torch.cos(torch.arange(1, p + 1, device=d.device, dtype=d.dtype) * 1.2345) + 1.0
    v = v / v.norm()
    value = torch.zeros((), dtype=d.dtype, device=d.device)
    for i in range(n_iter):
        w = m @ v
        new = v @ w
        v = w / w.norm().clamp_min(torch.finfo(d.dtype).tiny)
        # The host sync every 20 steps is a one-off setup cost, not per solver iteration.
        if i % 20 == 19 and float((new - value).abs()) <= tol * float(new.abs()):
            value = new
            break
        value = new
    return value * safety


# Power iterations behind the check of a user's Lipschitz constant: a Rayleigh quotient is a lower
# bound on λ_max after any number of steps, so this many is cheap (one (p, p) matvec each, p =
# min(k, f)) and never refuses a valid L; it catches L far below ‖D‖² (e.g. 0.01 for unit atoms).
_LIPSCHITZ_CHECK_ITERATIONS = 30


def check_lipschitz(lipschitz, dictionary: Tensor, dtype: torch.dtype, device) -> Tensor:
    """Validate a user's Lipschitz constant ``L`` for the step ``1/L`` of ISTA / FISTA.

    The proximal-gradient step is stable only for ``L ≥ λ_max(D Dᵀ) = ‖D‖₂²``; below it the
    iterates can grow without bound (NaN codes). ``L`` must be one finite number > 0 and at least
    a Rayleigh quotient of ``D Dᵀ`` after a few power iterations (a certified lower bound on
    ``λ_max``; relative slack 1e-4 for rounding). A value between that bound and ``λ_max`` itself
    is not caught — pass ``lipschitz_constant(D)`` (the default) when in doubt.

    Args:
        lipschitz: a float or a one-element tensor.
        dictionary: ``(k, f)``, already validated.
        dtype, device: of the returned 0-dim tensor.
    Returns:
        ``L`` as a 0-dim tensor.
    Raises:
        TypeError: not a number. ValueError: not finite, ``L <= 0``, or ``L`` below the lower bound.
    """
    if isinstance(lipschitz, Tensor):
        if lipschitz.numel() != 1:
            raise ValueError(format_error("lipschitz", "a single number", f"a tensor of shape {tuple(lipschitz.shape)}", "pass lipschitz_constant(dictionary) or a float"))
        value = float(lipschitz)
    elif isinstance(lipschitz, (int, float)) and not isinstance(lipschitz, bool):
        value = float(lipschitz)
    else:
        raise TypeError(format_error("lipschitz", "a float or a one-element tensor", type(lipschitz).__name__, "pass lipschitz_constant(dictionary) or leave it None"))
    if not (value == value and abs(value) != float("inf") and value > 0):
        raise ValueError(format_error("lipschitz", "a finite number > 0 (the step is 1/L)", repr(value), "pass lipschitz_constant(dictionary) or leave it None"))
    bound = float(lipschitz_constant(dictionary, n_iter=_LIPSCHITZ_CHECK_ITERATIONS, tol=0.0, safety=1.0))
    if value < bound * (1 - 1e-4):
        raise ValueError(
            format_error(
                "lipschitz",
                f"L >= λ_max(D Dᵀ) = ‖D‖₂² (at least {bound:.6g}, a lower bound; below it the iterates diverge)",
                repr(value),
                "leave lipschitz=None (power iteration) or pass lipschitz_constant(dictionary)",
            )
        )
    return torch.tensor(value, dtype=dtype, device=device)


def objective(x: Tensor, codes: Tensor, dictionary: Tensor, alpha: float) -> Tensor:
    """``½‖x − z D‖² + α‖z‖₁`` per signal: x ``(n, f)``, codes ``(n, k)``, dictionary ``(k, f)`` -> ``(n,)``."""
    r = x - codes @ dictionary  # (n, f)
    return 0.5 * (r * r).sum(-1) + alpha * codes.abs().sum(-1)


def gram_terms(problem: SparseProblem, z: Tensor, zg: Tensor | None = None, rows: Tensor | None = None, corr: Tensor | None = None, *, with_corr_residual: bool = False):
    """Objective, dual objective and duality gap per signal (see the module docstring).

    For overcomplete dictionaries (``2f ≤ k``) and no ``zg`` it works from the residual
    ``r = x − z D (m, f)``: two thin products (``2kf`` per row instead of ``k²``) and ``‖r‖²``
    without the cancellation of ``‖x‖² − 2 z·B + z G z``; otherwise from the Gram form.

    Args:
        z: codes ``(m, k)`` for the rows ``rows`` of the problem (all rows when None).
        zg: ``z G`` if already computed, ``(m, k)``.
        corr: ``B`` of those rows if already gathered, ``(m, k)``.
        with_corr_residual: also return ``B − z G = r Dᵀ (m, k)`` (the negative gradient, reused
            by the active-set polish).
    Returns:
        ``(primal, gap)``, each ``(m,)``, and ``B − z G`` when ``with_corr_residual``.
    """
    xx = problem.sq_norm if rows is None else problem.sq_norm[rows]
    k, f = problem.dictionary.shape
    if zg is None and 2 * f <= k:
        x = problem.x if rows is None else problem.x[rows]
        d = problem.dictionary.to(z.dtype)
        r = x.to(z.dtype) - z @ d  # (m, f)
        rr = (r * r).sum(1)  # ‖r‖²
        xr = (x * r).sum(1)
        grad = r @ d.T  # (m, k) B − z G
    else:
        if corr is None:
            corr = problem.corr if rows is None else problem.corr[rows]
        if zg is None:
            zg = z @ problem.gram  # (m, k)
        zb = (z * corr).sum(1)
        rr = (xx - 2 * zb + (z * zg).sum(1)).clamp_min(0.0)  # ‖r‖²
        xr = xx - zb
        grad = corr - zg
    primal = 0.5 * rr + problem.alpha * torch.linalg.vector_norm(z, 1, dim=1)
    # ‖r Dᵀ‖∞ as max(max, −min): two vectorised reductions, 6x faster on CPU than vector_norm(inf).
    c_inf = torch.maximum(grad.amax(1), grad.amin(1).neg())
    if problem.alpha > 0:
        s = torch.clamp(problem.alpha / c_inf.clamp_min(torch.finfo(z.dtype).tiny), max=1.0)
    else:
        s = (c_inf == 0).to(z.dtype)  # α = 0: only u = 0 is feasible unless r ⟂ atoms
    dual = s * xr - 0.5 * s * s * rr
    gap = (primal - dual).clamp_min(0.0)
    return (primal, gap, grad) if with_corr_residual else (primal, gap)


def duality_gap(x: Tensor, codes: Tensor, dictionary: Tensor, alpha) -> Tensor:
    """The duality gap ``P(z) − dual(u(z))`` per signal, ``(n,)``: ``≥ 0``, and zero exactly at the optimum.

    Computed directly from the residual ``r = x − z D`` (not the Gram shortcut used inside the
    solvers), so tests can use it as an independent certificate.

    Args:
        x: ``(n, f)``.  codes: ``(n, k)``.  dictionary: ``(k, f)``.  alpha: ``α ≥ 0``.
    Returns:
        ``(n,)`` gaps in the dtype of ``x``.
    """
    check_dictionary(dictionary)
    check_signals(x, dictionary)
    alpha = _check_alpha(alpha)
    codes = codes.to(x.dtype)
    r = x - codes @ dictionary  # (n, f)
    primal = 0.5 * (r * r).sum(1) + alpha * codes.abs().sum(1)
    c_inf = (r @ dictionary.T).abs().amax(1)  # ‖r Dᵀ‖∞, (n,)
    if alpha > 0:
        s = torch.clamp(alpha / c_inf.clamp_min(torch.finfo(x.dtype).tiny), max=1.0)
    else:
        s = (c_inf == 0).to(x.dtype)
    u = s[:, None] * r  # feasible dual point, (n, f)
    dual = 0.5 * (x * x).sum(1) - 0.5 * ((x - u) ** 2).sum(1)
    return primal - dual
