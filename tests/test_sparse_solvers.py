"""ISTA/FISTA: optimality certificates, agreement with scikit-learn, iteration guarantees, errors."""

import numpy as np
import pytest
import torch
from helpers import sparse_problem

from ebm.sparse import duality_gap, fista, ista, lipschitz_constant, objective

_problem = sparse_problem


@pytest.mark.parametrize("polish", [False, True])
def test_kkt_conditions_and_gap(polish):
    x, d, alpha = _problem()
    res = fista(x, d, alpha, tol=1e-12, max_iter=20000, polish=polish)
    assert bool(res.converged.all())
    z = res.codes
    c = (x - z @ d) @ d.T  # (n, k) correlation of the residual
    on = z != 0
    # Stationarity: c_j = α sign(z_j) on the support, |c_j| <= α off it.
    assert torch.allclose(c[on], alpha * torch.sign(z[on]), atol=1e-5)
    assert bool((c[~on].abs() <= alpha * (1 + 1e-5)).all())
    gap = duality_gap(x, z, d, alpha)
    assert bool((gap >= -1e-12).all()) and float(gap.max()) < 1e-9


def test_gap_nonnegative_and_decreasing_to_zero():
    x, d, alpha = _problem()
    g = torch.Generator().manual_seed(3)
    z_rand = torch.randn(x.shape[0], d.shape[0], generator=g, dtype=x.dtype)
    assert bool((duality_gap(x, z_rand, d, alpha) >= 0).all())
    gaps = [float(duality_gap(x, fista(x, d, alpha, max_iter=m, tol=0).codes, d, alpha).max()) for m in (1, 10, 100, 3000)]
    assert all(g >= -1e-12 for g in gaps)
    assert gaps[-1] < 1e-6 * gaps[0] and gaps[-1] < gaps[1] < gaps[0]


@pytest.mark.parametrize("polish", [False, True])
def test_matches_sklearn_lasso_cd(polish):
    sk = pytest.importorskip("sklearn.decomposition")
    x, d, alpha = _problem(n=60)
    ref = sk.sparse_encode(x.numpy(), d.numpy(), algorithm="lasso_cd", alpha=alpha, max_iter=10000)
    ref_obj = float(objective(x, torch.from_numpy(np.asarray(ref)), d, alpha).sum())
    ours = float(objective(x, fista(x, d, alpha, tol=1e-10, max_iter=20000, polish=polish).codes, d, alpha).sum())
    assert abs(ours - ref_obj) <= 1e-6 * ref_obj


def test_large_alpha_gives_exact_zeros():
    x, d, _ = _problem()
    alpha = float((x @ d.T).abs().max())
    for solver in (ista, fista):
        res = solver(x, d, alpha, max_iter=50, tol=0)
        assert bool((res.codes == 0).all())


def test_ista_objective_never_increases():
    x, d, alpha = _problem()
    z = torch.zeros(x.shape[0], d.shape[0], dtype=x.dtype)
    prev = objective(x, z, d, alpha)
    L = lipschitz_constant(d)
    for _ in range(60):
        z = ista(x, d, alpha, init=z, max_iter=1, tol=0, lipschitz=L).codes
        cur = objective(x, z, d, alpha)
        assert bool((cur <= prev + 1e-12).all())
        prev = cur


def test_fista_rate_bound():
    x, d, alpha = _problem()
    z_star = fista(x, d, alpha, tol=1e-13, max_iter=50000, polish=True).codes
    p_star = objective(x, z_star, d, alpha)
    L = float(lipschitz_constant(d))
    for k in (1, 5, 20, 80):
        z = fista(x, d, alpha, max_iter=k, tol=0, restart=False).codes
        bound = 2 * L * (z_star**2).sum(1) / (k + 1) ** 2  # z_0 = 0
        assert bool((objective(x, z, d, alpha) - p_star <= bound + 1e-10).all())


def test_exact_iteration_count_and_warm_start():
    x, d, alpha = _problem()
    res = fista(x, d, alpha, max_iter=7, tol=0)
    assert bool((res.n_iter == 7).all()) and not bool(res.converged.any())
    # 3 + 4 ISTA steps from a warm start equal 7 steps.
    a = ista(x, d, alpha, max_iter=7, tol=0).codes
    b = ista(x, d, alpha, init=ista(x, d, alpha, max_iter=3, tol=0).codes, max_iter=4, tol=0).codes
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_lipschitz_matches_eigvalsh():
    _, d, _ = _problem()
    exact = torch.linalg.eigvalsh(d @ d.T)[-1]
    L = lipschitz_constant(d)
    assert exact <= L <= exact * 1.002


@pytest.mark.parametrize("solver", [ista, fista])
def test_batched_equals_one_by_one(solver):
    x, d, alpha = _problem(n=6)
    batch = solver(x, d, alpha, tol=1e-9, max_iter=3000)
    for i in range(x.shape[0]):
        one = solver(x[i : i + 1], d, alpha, tol=1e-9, max_iter=3000)
        torch.testing.assert_close(one.codes[0], batch.codes[i], rtol=0, atol=1e-12)
        assert int(one.n_iter[0]) == int(batch.n_iter[i])


def test_float32_and_mixed_precision():
    x, d, alpha = _problem()
    ref = objective(x, fista(x, d, alpha, tol=1e-12, max_iter=20000).codes, d, alpha).sum()
    r32 = fista(x.float(), d.float(), alpha, tol=1e-5, max_iter=5000)
    assert r32.codes.dtype == torch.float32
    assert abs(float(objective(x, r32.codes.double(), d, alpha).sum() - ref)) < 1e-4 * float(ref)
    mixed = fista(x, d, alpha, tol=1e-9, compute_dtype=torch.float32, polish=True, max_iter=5000)
    assert mixed.codes.dtype == torch.float64 and bool(mixed.converged.all())
    assert abs(float(objective(x, mixed.codes, d, alpha).sum() - ref)) < 1e-8 * float(ref)


def test_change_criterion_stops_per_signal():
    x, d, alpha = _problem()
    res = fista(x, d, alpha, tol=1e-8, criterion="change", max_iter=20000)
    assert bool(res.converged.all()) and int(res.n_iter.min()) < int(res.n_iter.max())


def test_bad_input_messages():
    x, d, alpha = _problem()
    with pytest.raises(ValueError, match="x: .*Fix:"):
        fista(x[:, :-1], d, alpha)
    with pytest.raises(ValueError, match="alpha.*Fix:"):
        fista(x, d, -1.0)
    bad = d.clone()
    bad[2] = 0
    with pytest.raises(ValueError, match="zero atom.*Fix:"):
        ista(x, bad, alpha)
    nan = x.clone()
    nan[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite.*Fix:"):
        fista(nan, d, alpha)
    with pytest.raises(TypeError, match="Fix:"):
        fista(x.float(), d, alpha)
    with pytest.raises(ValueError, match="init.*Fix:"):
        fista(x, d, alpha, init=torch.zeros(3, 3, dtype=x.dtype))
    with pytest.raises(ValueError, match="criterion"):
        fista(x, d, alpha, criterion="nope")


@pytest.mark.parametrize("solver", [ista, fista])
def test_a_lipschitz_constant_below_the_spectral_norm_is_refused(solver):
    """lipschitz=0.01 gave all-NaN codes with converged=False, lipschitz=0 torch's clamp error.
    L below a Rayleigh quotient of D Dᵀ (a certified lower bound on λ_max) is refused; the true
    λ_max (eigvalsh) and anything above it are accepted."""
    x, d, alpha = _problem()
    lam = float(torch.linalg.eigvalsh(d @ d.T).max())
    for bad in (0.01, 0.5 * lam, 0.99 * lam):
        with pytest.raises(ValueError, match=r"lipschitz: expected L >= .*Fix:"):
            solver(x, d, alpha, lipschitz=bad)
    for bad, kind in ((0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), ("2", TypeError), (torch.ones(2), ValueError)):
        with pytest.raises(kind, match="lipschitz.*Fix:"):
            solver(x, d, alpha, lipschitz=bad)
    for good in (lam, 2 * lam, torch.tensor(lam)):
        res = solver(x, d, alpha, lipschitz=good, max_iter=300, tol=0)
        assert bool(torch.isfinite(res.codes).all())
        assert float(duality_gap(x, res.codes, d, alpha).max()) < 0.05  # descending (ISTA at L = 2λ_max: 0.013 after 300 steps), not diverging


def test_lipschitz_constant_and_solver_arguments_are_checked():
    x, d, alpha = _problem()
    for kwargs, match in (({"n_iter": 0}, "n_iter"), ({"tol": -1.0}, "tol"), ({"safety": 0.5}, "safety")):
        with pytest.raises(ValueError, match=f"{match}.*Fix:"):
            lipschitz_constant(d, **kwargs)
    with pytest.raises(ValueError, match="dictionary.*Fix:"):
        lipschitz_constant(d[0])
    with pytest.raises(ValueError, match="dictionary.*finite"):
        lipschitz_constant(torch.full((3, 2), float("nan")))
    for kwargs, kind, match in (
        ({"max_iter": -1}, ValueError, "max_iter"),
        ({"tol": -1e-3}, ValueError, "tol"),
        ({"check_every": 0}, ValueError, "check_every"),
        ({"polish_rounds": -1}, ValueError, "polish_rounds"),
        ({"restart": "yes"}, TypeError, "restart"),
        ({"polish": 1}, TypeError, "polish"),
        ({"compute_dtype": "float32"}, TypeError, "compute_dtype"),
        ({"compute_dtype": torch.int32}, TypeError, "compute_dtype"),
        ({"init": torch.zeros(x.shape[0], d.shape[0] + 1, dtype=x.dtype)}, ValueError, "init"),
        ({"init": torch.full((x.shape[0], d.shape[0]), float("nan"), dtype=x.dtype)}, ValueError, "init"),
    ):
        with pytest.raises(kind, match=f"{match}.*Fix:"):
            fista(x, d, alpha, **kwargs)
    with pytest.raises(ValueError, match="alpha.*Fix:"):
        fista(x, d, float("nan"))
    with pytest.raises(ValueError, match="alpha.*Fix:"):
        fista(x, d, torch.ones(2))


@pytest.mark.parametrize("shape", [(24, 12), (16, 12)])  # (k, f): thin (2f <= k) and square Gram iterations
def test_both_iteration_forms_certified_and_batched(shape):
    k, f = shape
    x, d, alpha = _problem(n=8, k=k, f=f)
    res = fista(x, d, alpha, tol=1e-9, compute_dtype=torch.float32, polish=True, polish_after=10, max_iter=5000)
    assert bool(res.converged.all())
    p = objective(x, res.codes, d, alpha)
    assert bool((duality_gap(x, res.codes, d, alpha) <= 1e-9 * p + 1e-15).all())
    exact = fista(x, d, alpha, tol=0, max_iter=7)
    assert bool((exact.n_iter == 7).all())
    for i in (0, 5):
        one = fista(x[i : i + 1], d, alpha, tol=0, max_iter=7)
        torch.testing.assert_close(one.codes[0], exact.codes[i], rtol=0, atol=1e-12)


def test_support_solve_reproduces_the_minimiser():
    from ebm.sparse.active_set import support_solve

    x, d, alpha = _problem(n=10)
    z = fista(x, d, alpha, tol=1e-13, max_iter=50000, polish=True).codes
    cand, ok = support_solve(z, d @ d.T, x @ d.T, alpha, max_support=min(d.shape))
    assert bool(ok.all())
    torch.testing.assert_close(cand, z, rtol=0, atol=1e-9)
    assert torch.equal(cand != 0, z != 0)
    # Chunks of 3 signals run on a thread pool when torch has several threads: same answer.
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        chunked, ok2 = support_solve(z, d @ d.T, x @ d.T, alpha, max_support=min(d.shape), chunk=3)
    finally:
        torch.set_num_threads(threads)
    assert bool(ok2.all())
    torch.testing.assert_close(chunked, cand, rtol=0, atol=1e-12)
