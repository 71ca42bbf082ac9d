"""The compiled C support solver (`ebm.sparse.native`) against the torch implementation it replaces."""

import pytest
import torch
from helpers import sparse_problem

from ebm.sparse import duality_gap, fista, ista, native, objective
from ebm.sparse.active_set import support_solve
import samplers.native as samplers_native

needs_kernel = pytest.mark.skipif(not native.available(), reason="no C compiler to build the native support solver")


def _rough_codes(x, d, alpha, iters=15):
    """Codes whose supports are partly wrong: some solves fail the sign check, some succeed."""
    return fista(x, d, alpha, tol=0, max_iter=iters).codes


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("check_signs", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_native_matches_the_torch_solver(dtype, check_signs, threads):
    x, d, alpha = sparse_problem(n=300, k=48, f=16, dtype=dtype, seed=3)
    z = _rough_codes(x, d, alpha)
    gram, corr = d @ d.T, x @ d.T
    # corr_rows: B is a larger matrix whose row corr_rows[i] belongs to signal i.
    corr_big = torch.cat((torch.zeros(5, corr.shape[1], dtype=dtype), corr.flip(0)))
    rows = 5 + torch.arange(corr.shape[0] - 1, -1, -1)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        ref, ok_ref = support_solve(z, gram, corr, alpha, max_support=10, check_signs=check_signs)
        got, ok = support_solve(z, gram, corr_big, alpha, max_support=10, check_signs=check_signs, corr_rows=rows, native=True)
    finally:
        torch.set_num_threads(saved)
    assert torch.equal(ok, ok_ref)
    assert 0 < int(ok.sum()) and (check_signs is False or int(ok.sum()) < ok.numel())  # both outcomes exercised
    # Supports of at most 10 of the 16 dimensions keep G[S, S] well conditioned: the two Cholesky
    # orders then agree to a few units of rounding.
    tol = 1e-9 if dtype == torch.float64 else 1e-3
    torch.testing.assert_close(got, ref, rtol=tol, atol=tol)
    assert torch.equal(got[~ok], z[~ok].to(dtype))  # failed rows keep their codes


@needs_kernel
def test_native_rejects_a_singular_support_like_lapack():
    x, d, alpha = sparse_problem(n=4, k=6, f=8)
    d = torch.cat((d[:5], d[:1]))  # atom 5 duplicates atom 0: G[S, S] singular when both are in S
    z = torch.zeros(4, 6, dtype=d.dtype)
    z[:, [0, 5, 2]] = 1.0  # rows use both copies
    z[3] = 0.0
    z[3, 1] = -1.0  # a regular support
    ref, ok_ref = support_solve(z, d @ d.T, x @ d.T, alpha, max_support=8, check_signs=False)
    got, ok = support_solve(z, d @ d.T, x @ d.T, alpha, max_support=8, check_signs=False, native=True)
    assert ok.tolist() == ok_ref.tolist() == [False, False, False, True]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)


@needs_kernel
def test_fista_compile_uses_the_kernel_and_falls_back_without_it(monkeypatch):
    x, d, alpha = sparse_problem(n=60)
    calls = []
    real = native.pdas_polish_native
    monkeypatch.setattr(native, "pdas_polish_native", lambda *a, **k: calls.append(1) or real(*a, **k))
    with_kernel = fista(x, d, alpha, tol=1e-10, polish=True, polish_after=10, compile=True)
    assert calls, "compile=True should run the polish with the native kernel"
    monkeypatch.setattr(native, "_LIB", [None])  # as on a machine without a C compiler
    before = len(calls)
    without = fista(x, d, alpha, tol=1e-10, polish=True, polish_after=10, compile=True)
    assert len(calls) == before  # the torch path solved the supports
    assert bool(with_kernel.converged.all()) and bool(without.converged.all())
    torch.testing.assert_close(with_kernel.codes, without.codes, rtol=0, atol=1e-9)


def test_available_is_false_without_a_compiler(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_LIB", [])
    monkeypatch.setenv("EBM_PLAYGROUND_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    monkeypatch.setattr(samplers_native.shutil, "which", lambda name: None)
    assert native.available() is False
    with pytest.raises(RuntimeError, match="not available"):
        native.support_solve_native(*([None] * 12), workers=1)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("threads", [1, 2])
def test_native_polish_matches_the_torch_rounds(dtype, threads):
    from ebm.sparse.active_set import active_set_polish
    from ebm.sparse.problem import check_problem, duality_gap, objective

    x, d, alpha = sparse_problem(n=400, k=48, f=16, dtype=dtype, seed=5)
    problem, _ = check_problem(x, d, alpha)
    z = _rough_codes(x, d, alpha, iters=20)
    rows = torch.arange(100, 400)  # a subset: results go to out[rows]
    tol = 1e-7 if dtype == torch.float64 else 1e-4
    saved = torch.get_num_threads()
    outs = []
    try:
        torch.set_num_threads(threads)
        for use_native in (False, True):
            out = torch.full((400, 48), 7.0, dtype=dtype)  # untouched rows must keep this
            accepted = active_set_polish(z[rows], problem, rows, tol, out=out, rounds=3, native=use_native)
            outs.append((out, accepted))
    finally:
        torch.set_num_threads(saved)
    (ref, acc_ref), (got, acc) = outs
    assert torch.equal(acc, acc_ref)
    assert 0 < int(acc.sum()) < acc.numel()  # some signals certified, some left to the iterations
    done = rows[acc]
    torch.testing.assert_close(got[done], ref[done], rtol=tol, atol=tol)
    assert bool((got[rows[~acc]] == 7.0).all()) and bool((got[:100] == 7.0).all())
    gap, p = duality_gap(x[done], got[done], d, alpha), objective(x[done], got[done], d, alpha)
    assert bool((gap <= 2 * tol * p).all())  # each accepted code is certified


@needs_kernel
def test_a_transposed_warm_start_gives_the_eager_answer():
    """The C polish writes rows by flat offset: a non-contiguous init must not scramble the codes."""
    x, d, alpha = sparse_problem(n=60)
    init = torch.zeros(d.shape[0], x.shape[0], dtype=x.dtype).T  # (n, k), column-major
    compiled = fista(x, d, alpha, tol=1e-10, polish=True, polish_after=10, compile=True, init=init)
    eager = fista(x, d, alpha, tol=1e-10, polish=True, polish_after=10, init=init.contiguous())
    assert bool(compiled.converged.all())
    torch.testing.assert_close(compiled.codes, eager.codes, rtol=0, atol=1e-9)


# --- The plain call is the fast certified path -------------------------------------------------


@needs_kernel
@pytest.mark.parametrize("solver", [fista, ista])
@pytest.mark.parametrize("k,f", [(24, 12), (64, 16)])  # square (2f > k) and thin (2f <= k) iterations
def test_native_iterations_equal_the_torch_iterations(monkeypatch, solver, k, f):
    """Fixed iterations (tol=0 keeps float64, no polish): the C pass against eager torch, same rounding up to summation order."""
    x, d, alpha = sparse_problem(n=300, k=k, f=f)  # 300 rows: two blocks of prox_steps_native
    c = solver(x, d, alpha, tol=0, max_iter=23)
    monkeypatch.setattr(native, "_LIB", [None])  # the torch iterations
    t = solver(x, d, alpha, tol=0, max_iter=23)
    torch.testing.assert_close(c.codes, t.codes, rtol=0, atol=1e-12)
    assert torch.equal(c.codes == 0, t.codes == 0)


@needs_kernel
def test_the_change_criterion_on_the_native_iterations(monkeypatch):
    x, d, alpha = sparse_problem(n=70, k=64, f=16)
    c = fista(x, d, alpha, tol=1e-6, criterion="change", max_iter=5000)
    monkeypatch.setattr(native, "_LIB", [None])
    t = fista(x, d, alpha, tol=1e-6, criterion="change", max_iter=5000)
    assert bool(c.converged.all()) and torch.equal(c.n_iter, t.n_iter)
    torch.testing.assert_close(c.codes, t.codes, rtol=0, atol=1e-9)


@needs_kernel
@pytest.mark.parametrize("solver", [fista, ista])
def test_the_plain_call_takes_the_fast_path_and_is_certified(monkeypatch, solver):
    """fista(x, D, alpha): float32 C iterations, the C polish on float64, every code certified to tol."""
    x, d, alpha = sparse_problem(n=200, k=64, f=16)
    seen = {"steps": [], "polish": 0}
    steps, polish = native.prox_steps_native, native.pdas_polish_native
    monkeypatch.setattr(native, "prox_steps_native", lambda z, *a, **kw: seen["steps"].append((z.dtype, z.shape[0])) or steps(z, *a, **kw))
    monkeypatch.setattr(native, "pdas_polish_native", lambda *a, **kw: seen.__setitem__("polish", seen["polish"] + 1) or polish(*a, **kw))
    res = solver(x, d, alpha, max_iter=5000)
    # float32 iterations on every row first; rows the polish has not certified by iteration
    # polish_after + 100 (ISTA: + 500) go on in float64 (a few for FISTA).
    assert seen["steps"][0] == (torch.float32, 200) and seen["polish"] > 0
    if solver is fista:
        assert all(n <= 200 // 4 for dtype, n in seen["steps"] if dtype == torch.float64)
    textbook = solver(x, d, alpha, compute_dtype=None, polish=False, compile=False, max_iter=5000)
    # Textbook ISTA leaves some signals unconverged at 5000 iterations; the plain call no more.
    assert res.codes.dtype == torch.float64 and int(res.converged.sum()) >= int(textbook.converged.sum())
    if solver is fista:
        assert bool(res.converged.all())
    ok = res.converged
    gap, p = duality_gap(x[ok], res.codes[ok], d, alpha), objective(x[ok], res.codes[ok], d, alpha)
    assert bool((gap <= 1e-6 * p + 1e-15).all())  # the default tol, certified by an independent gap


def test_fixed_iterations_keep_the_dtype_of_x():
    """tol=0 (a fixed number of iterations) is textbook FISTA in the dtype of x: no float32, no polish."""
    x, d, alpha = sparse_problem(n=20)
    plain = fista(x, d, alpha, tol=0, max_iter=15)
    textbook = fista(x, d, alpha, tol=0, max_iter=15, compute_dtype=None, polish=False, compile=False)
    torch.testing.assert_close(plain.codes, textbook.codes, rtol=0, atol=0)


@needs_kernel
def test_rows_the_polish_cannot_certify_finish_in_float64():
    """polish_rounds=0 never certifies: the float32 rows are promoted at polish_after + 100 and certified by their own gap."""
    x, d, alpha = sparse_problem(n=40)
    res = fista(x, d, alpha, tol=1e-10, polish_rounds=0, polish_after=20, max_iter=20_000)
    assert bool(res.converged.all()) and int(res.n_iter.min()) >= 120
    gap, p = duality_gap(x, res.codes, d, alpha), objective(x, res.codes, d, alpha)
    assert bool((gap <= 1e-10 * p + 1e-15).all())


def test_polish_and_compute_dtype_are_checked():
    x, d, alpha = sparse_problem(n=3)
    with pytest.raises(TypeError, match="polish: expected True, False or 'auto'.*Fix:"):
        fista(x, d, alpha, polish="yes")
    with pytest.raises(TypeError, match="compute_dtype: expected 'auto', None or a floating torch dtype.*Fix:"):
        fista(x, d, alpha, compute_dtype=torch.int32)


def test_ebm_native_march_is_checked_and_keys_the_cache(monkeypatch):
    monkeypatch.setenv("EBM_NATIVE_MARCH", "x86-64-v3")
    assert native.target_march() == "x86-64-v3"
    monkeypatch.setenv("EBM_NATIVE_MARCH", "native; rm -rf /")
    with pytest.raises(ValueError, match="EBM_NATIVE_MARCH: expected a -march value.*Fix:"):
        native.target_march()


@needs_kernel
def test_native_cholesky_panels_match_lapack_on_large_supports():
    """Supports of 20-60 atoms (several rank-4 panels plus a remainder) against LAPACK's Cholesky."""
    x, d, alpha = sparse_problem(n=200, k=128, f=64, seed=11)
    z = _rough_codes(x, d, alpha, iters=10)
    sizes = (z != 0).sum(1)
    assert int(sizes.min()) < 30 and int(sizes.max()) > 45  # many panel/remainder combinations
    ref, ok_ref = support_solve(z, d @ d.T, x @ d.T, alpha, max_support=64, check_signs=False)
    got, ok = support_solve(z, d @ d.T, x @ d.T, alpha, max_support=64, check_signs=False, native=True)
    assert torch.equal(ok, ok_ref) and bool(ok.all())
    torch.testing.assert_close(got, ref, rtol=1e-8, atol=1e-8)


@needs_kernel
@pytest.mark.parametrize("single", [False, True])
def test_the_polish_takes_the_first_gradient_from_the_caller(single):
    """``grad0`` (B − z G from a batched GEMM, in float32 for float32 iterates) only places the first
    guess: the same signals are certified as when the kernel computes it, each within tol."""
    from ebm.sparse.problem import check_problem

    x, d, alpha = sparse_problem(n=300, k=96, f=32, seed=7)
    problem, _ = check_problem(x, d, alpha)
    z = _rough_codes(x, d, alpha, iters=25)
    z = z.float() if single else z
    grad0 = (x @ d.T).to(z.dtype) - (z @ d.to(z.dtype)) @ d.T.to(z.dtype)  # (n, k) B − z G
    rows, tol = torch.arange(300), 1e-8
    outs = []
    for g in (None, grad0):
        out = torch.zeros(300, 96, dtype=torch.float64)
        outs.append((out, native.pdas_polish_native(problem, z, rows, 1.0, tol, 5, out, 1, grad0=g)))
    (ref, acc_ref), (got, acc) = outs
    assert 0 < int(acc.sum()) and torch.equal(acc, acc_ref)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-10)
    gap, p = duality_gap(x[acc], got[acc], d, alpha), objective(x[acc], got[acc], d, alpha)
    assert bool((gap <= tol * p * (1 + 1e-6)).all())
    with pytest.raises(ValueError, match="grad0"):
        native.pdas_polish_native(problem, z, rows, 1.0, tol, 5, torch.zeros(300, 96, dtype=torch.float64), 1, grad0=grad0[:10])
