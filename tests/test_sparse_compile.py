"""``fista``/``ista`` with ``compile=True``: validation, error translation, equality with the eager path.

The fast tests replace ``torch.compile`` by the identity, so the fused block step of
`ebm.sparse.fused` (padding to fixed-size row blocks, several steps per call, in-place updates,
the soft threshold as ``v − clamp(v, −λ, λ)``) runs eagerly and is compared with the eager solver
in milliseconds. The test that really compiles (inductor, tens of seconds) is marked slow.
"""

import pytest
import torch
from helpers import break_torch_compile, sparse_problem

from ebm.sparse import duality_gap, fista, fused, ista

_problem = sparse_problem


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile stubbed to the identity, with a private cache of compiled steps."""
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    monkeypatch.setattr(fused, "_CACHE", {})


# (k, f): square form (2f > k: one product with I − G/L) and thin form (2f <= k: (y D) Dᵀ).
SHAPES = [(24, 12), (64, 16)]


@pytest.mark.parametrize("k,f", SHAPES)
@pytest.mark.parametrize("solver", [fista, ista])
def test_fixed_iterations_equal_the_eager_path(eager_compile, solver, k, f):
    # n = 300 with blocks of 256 rows: two blocks, the second mostly padding; 23 = 2 calls of
    # 10 steps + 3 single steps, so both compiled functions are used.
    x, d, alpha = _problem(n=300, k=k, f=f)
    a = solver(x, d, alpha, tol=0, max_iter=23)
    b = solver(x, d, alpha, tol=0, max_iter=23, compile=True)
    torch.testing.assert_close(b.codes, a.codes, rtol=0, atol=1e-12)
    assert torch.equal(b.n_iter, a.n_iter) and not bool(b.converged.any())
    assert torch.equal(b.codes == 0, a.codes == 0)  # the soft threshold gives the same exact zeros


@pytest.mark.parametrize("k,f", SHAPES)
# polish_after is given: its default differs between the C polish (compile=True) and the torch one.
@pytest.mark.parametrize("kwargs", [{"criterion": "gap"}, {"criterion": "change"}, {"polish": True, "polish_after": 50}, {"polish": True, "polish_after": 50, "compute_dtype": torch.float32}], ids=["gap", "change", "polish", "f32-polish"])
def test_per_signal_stopping_equals_the_eager_path(eager_compile, kwargs, k, f):
    x, d, alpha = _problem(n=70, k=k, f=f)
    tol = 1e-6 if kwargs.get("criterion") == "change" else 1e-10
    a = fista(x, d, alpha, tol=tol, max_iter=5000, **kwargs)
    b = fista(x, d, alpha, tol=tol, max_iter=5000, compile=True, **kwargs)
    assert torch.equal(a.converged, b.converged) and bool(b.converged.all())
    assert torch.equal(a.n_iter, b.n_iter)
    atol = 1e-5 if kwargs.get("compute_dtype") is torch.float32 and not kwargs.get("polish") else 1e-8
    torch.testing.assert_close(b.codes, a.codes, rtol=0, atol=atol)
    if kwargs.get("criterion", "gap") == "gap":
        gap, obj = duality_gap(x, b.codes, d, alpha), 0.5 * ((x - b.codes @ d) ** 2).sum(1)
        assert bool((gap <= 1e-9 * (obj + alpha * b.codes.abs().sum(1)) + 1e-12).all())


def test_a_shrinking_batch_never_recompiles(eager_compile):
    # Signals converge at different checks, so the active batch shrinks many times; the compiled
    # functions are keyed by the fixed block shape only: one for 10 steps (and none for 1 step).
    x, d, alpha = _problem(n=300)
    res = fista(x, d, alpha, tol=1e-10, max_iter=5000, compile=True)
    assert len(set(res.n_iter.tolist())) > 3
    assert [key[0] for key in fused._CACHE] == [fused.UNROLL]
    assert {key[4] for key in fused._CACHE} == {(fused.BLOCK, 24)}
    fista(x[:280], d, alpha, tol=1e-10, max_iter=5000, compile=True)  # same block shape: reused
    assert len(fused._CACHE) == 1


def test_block_rows_and_padding():
    assert fused.block_rows(1) == 16 and fused.block_rows(40) == 64 and fused.block_rows(10_000) == fused.BLOCK
    v = torch.arange(6.0).reshape(3, 2)
    p = fused.pad_rows(v, 5)
    assert p.shape == (5, 2) and torch.equal(p[:3], v) and bool((p[3:] == 0).all())


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_compile_must_be_a_bool(bad):
    x, d, alpha = _problem(n=3)
    with pytest.raises(TypeError, match="compile: expected True, False or .auto.*Fix:"):
        fista(x, d, alpha, compile=bad)
    with pytest.raises(TypeError, match="compile: expected True, False or .auto."):
        ista(x, d, alpha, compile=bad)


def test_missing_torch_compile_raises_with_fix(monkeypatch):
    monkeypatch.delattr(torch, "compile")
    x, d, alpha = _problem(n=3)
    with pytest.raises(RuntimeError, match="compile: expected a torch build with torch.compile.*Fix: .*compile=False"):
        fista(x, d, alpha, compile=True)
    fista(x, d, alpha)  # the default never needs it


def test_backend_failure_is_reported_not_swallowed(monkeypatch):
    break_torch_compile(monkeypatch)
    monkeypatch.setattr(fused, "_CACHE", {})
    x, d, alpha = _problem(n=3)
    with pytest.raises(RuntimeError, match="compile: expected a step that torch.compile can fuse.*InvalidCxxCompiler.*Fix: pass compile=False"):
        fista(x, d, alpha, compile=True)


@pytest.mark.slow
def test_really_compiled_solves_match_eager(monkeypatch):
    """Inductor's fused block step against the eager solver: fixed iterations and certified solves."""
    monkeypatch.setattr(fused, "_CACHE", {})
    x, d, alpha = _problem(n=300, k=64, f=16)
    a = fista(x, d, alpha, tol=0, max_iter=30)
    b = fista(x, d, alpha, tol=0, max_iter=30, compile=True)
    # Fused reductions sum in another order, so a restart decision can differ only on a tie;
    # after 30 steps the iterates agree to rounding.
    torch.testing.assert_close(b.codes, a.codes, rtol=0, atol=1e-9)
    a = fista(x, d, alpha, tol=1e-9, max_iter=5000, polish=True, compute_dtype=torch.float32)
    b = fista(x, d, alpha, tol=1e-9, max_iter=5000, polish=True, compute_dtype=torch.float32, compile=True)
    assert bool(a.converged.all()) and bool(b.converged.all())
    torch.testing.assert_close(b.codes, a.codes, rtol=0, atol=1e-7)
    i = ista(x, d, alpha, tol=0, max_iter=30)
    j = ista(x, d, alpha, tol=0, max_iter=30, compile=True)
    torch.testing.assert_close(j.codes, i.codes, rtol=0, atol=1e-9)


# --- compile="auto" -------------------------------------------------------------------------------


@pytest.fixture
def auto_policy(monkeypatch):
    """A fresh compile_policy state, and no C kernels (so that "auto" considers torch.compile)."""
    from ebm.sparse import compile_policy, native

    monkeypatch.setattr(compile_policy, "_SPENT", {})
    monkeypatch.setattr(compile_policy, "_BROKEN", [])
    monkeypatch.setattr(native, "_LIB", [None])
    return compile_policy


def test_auto_never_compiles_a_small_solve(eager_compile, auto_policy):
    x, d, alpha = _problem(n=300, k=64, f=16)
    for _ in range(3):
        fista(x, d, alpha)
    assert fused._CACHE == {} and auto_policy._SPENT == {}  # below MIN_WORK: not even counted


def test_auto_compiles_once_the_eager_time_reaches_the_compile_cost(eager_compile, auto_policy, monkeypatch):
    x, d, alpha = _problem(n=300, k=64, f=16)
    monkeypatch.setattr(auto_policy, "MIN_WORK", 0.0)
    monkeypatch.setattr(auto_policy, "COMPILE_SECONDS", 1e9)
    eager = fista(x, d, alpha)
    assert fused._CACHE == {} and len(auto_policy._SPENT) == 1  # eager, and its time counted
    (key,) = auto_policy._SPENT
    auto_policy._SPENT[key] = 1e9  # as if this configuration had already cost a compilation
    compiled = fista(x, d, alpha)
    assert list(fused._CACHE) == [key]
    ok = eager.converged
    assert torch.equal(compiled.converged, ok) and int(ok.sum()) > 290
    torch.testing.assert_close(compiled.codes[ok], eager.codes[ok], rtol=0, atol=1e-9)  # polished: exact solves
    monkeypatch.setattr(auto_policy, "_SPENT", {})
    fista(x[:10], d, alpha)  # a compiled configuration is reused whatever the call's size
    assert len(fused._CACHE) == 1


def test_auto_prefers_the_c_iterations(eager_compile, monkeypatch):
    from ebm.sparse import compile_policy, native

    if not native.available():
        pytest.skip("no C compiler")
    monkeypatch.setattr(compile_policy, "MIN_WORK", 0.0)
    monkeypatch.setattr(compile_policy, "COMPILE_SECONDS", 0.0)
    fista(*_problem(n=300, k=64, f=16))
    assert fused._CACHE == {}  # the C iterations need no compilation


def test_auto_falls_back_when_the_compiler_is_broken(monkeypatch, auto_policy):
    break_torch_compile(monkeypatch)
    monkeypatch.setattr(fused, "_CACHE", {})
    monkeypatch.setattr(auto_policy, "MIN_WORK", 0.0)
    monkeypatch.setattr(auto_policy, "COMPILE_SECONDS", 0.0)
    x, d, alpha = _problem(n=70)
    res = fista(x, d, alpha)  # tries to compile, fails before advancing a row, goes on eagerly
    assert auto_policy._BROKEN and bool(res.converged.all())
    gap, obj = duality_gap(x, res.codes, d, alpha), 0.5 * ((x - res.codes @ d) ** 2).sum(1) + alpha * res.codes.abs().sum(1)
    assert bool((gap <= 1e-6 * obj + 1e-15).all())
    with pytest.raises(RuntimeError, match="compile: expected a step that torch.compile can fuse"):
        fista(x, d, alpha, compile=True)  # an explicit request still reports the failure
