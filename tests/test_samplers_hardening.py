"""Issue 14 (part B): divergence semantics, chain-health warnings, start checks, shared adaptation,
one AIS result, named Gibbs blocks and diagnostics whose suggested fixes work.

Every test here failed on the code before the fix (the reason is in each docstring)."""

import math
import re
import warnings
from pathlib import Path

import pytest
import torch

from ebm.energies import BernoulliRBM, Gaussian
from ebm.evaluate import AISResult as EvaluateAISResult
from ebm.evaluate import ais_log_partition
from ebm.objectives import rbm_block_gibbs
from samplers import (
    AIS, HMC, MALA, ULA, AISResult, AnnealedLangevin, BlockGibbs, GeometricPath, ParallelTempering, SamplerWarning,
    SingleSiteGibbs, acceptance_summary, autocorrelation, effective_sample_size, split_rhat,
)
from samplers.ais import summarise_log_weights

quad = lambda x: 0.5 * (x ** 2).sum(-1)
quartic = lambda x: (x ** 4).sum(-1)


def camel(z):
    """Three-hump camel: E = 2x² - 1.05x⁴ + x⁶/6 + xy + y² (three modes, steep x⁶ walls)."""
    x, y = z[..., 0], z[..., 1]
    return 2 * x ** 2 - 1.05 * x ** 4 + x ** 6 / 6 + x * y + y ** 2


def g(seed=0):
    return torch.Generator().manual_seed(seed)


# -- 1. divergence is a non-finite state; huge energy errors are counted, not fatal ---------------

def test_hmc_on_a_quartic_is_healthy():
    """Old code: "8 of 8 chains diverged" (a rejected NaN/inf energy error counted as divergence)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplerWarning)
        r = HMC(0.45, n_leapfrog=10).run(quartic, torch.randn(8, 2, generator=g(1)), 200, generator=g(2))
    assert not r.diverged.any() and torch.isfinite(r.x).all() and torch.isfinite(r.energy).all()
    assert float(r.acceptance_rate.mean()) > 0.5
    assert r.extras["divergent_transitions"].shape == (8,) and r.extras["divergent_transitions"].dtype == torch.long


@pytest.mark.parametrize("eps", [0.05, 0.5, 2.0])
def test_adaptive_hmc_on_the_three_hump_camel_runs_at_any_initial_step(eps):
    """Old code raised SamplerDivergedError at every initial step size."""
    r = HMC(eps, 10, warmup_steps=100, adapt_step_size=True).run(camel, torch.zeros(32, 2), 100, generator=g(3))
    assert not r.diverged.any() and torch.isfinite(r.x).all()
    assert 0.4 < float(r.acceptance_rate.mean()) < 0.95


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled-step"])
@pytest.mark.parametrize("make", [lambda c: MALA(50.0, compile=c), lambda c: HMC(3.0, 5, compile=c)], ids=["mala", "hmc"])
def test_divergent_transitions_exact_counts(monkeypatch, make, compiled):
    """On N(0, I) in 2-D from x0 = 10: a huge step gives log α ≈ -10^3..10^5 on every proposal (all
    counted), a tiny one never comes near -1000 (none counted). The compiled branch (torch.compile
    stubbed to the identity, so its in-graph tally runs) must count the same way."""
    if compiled:
        monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    x0 = torch.full((6, 2), 10.0, dtype=torch.float64)
    with pytest.warns(SamplerWarning, match="frozen"):
        r = make(compiled).run(quad, x0, 30, generator=g(4))
    assert r.extras["divergent_transitions"].tolist() == [30] * 6
    assert r.acceptance_rate.eq(0).all() and not r.diverged.any()
    small = (MALA(1e-3, compile=compiled) if isinstance(make(False), MALA) else HMC(1e-3, 5, compile=compiled))
    r = small.run(quad, x0, 30, generator=g(5))
    assert r.extras["divergent_transitions"].tolist() == [0] * 6


@pytest.mark.slow
def test_really_compiled_divergent_transitions():
    with pytest.warns(SamplerWarning):
        r = HMC(3.0, 5, compile=True).run(quad, torch.full((6, 2), 10.0), 30, generator=g(4))
    assert r.extras["divergent_transitions"].tolist() == [30] * 6


def test_parallel_tempering_reports_divergent_transitions():
    r = ParallelTempering(MALA(0.2), [1.0, 2.0, 4.0]).run(quad, torch.zeros(8, 2), 50, generator=g(6))
    assert r.extras["divergent_transitions"].shape == (8,)
    assert r.extras["divergent_transitions_all"].shape == (3, 8)


# -- 2. frozen and runaway chains are named once ----------------------------------------------------

def test_runaway_ula_is_named():
    """Old code: |x| ≈ 1e4 after 20 steps of ULA(2.5) on N(0, I), diverged all False, no word."""
    with pytest.warns(SamplerWarning, match=r"ULA: 8 of 8 chains ran away .*chains 0, 1, 2, 3, 4, 5, 6, 7\).*Fix: lower step_size") as rec:
        r = ULA(2.5).run(quad, torch.randn(8, 2, generator=g(7)), 20, generator=g(8))
    assert float(r.x.abs().max()) > 1e3 and len(rec) == 1


def test_energy_unbounded_below_is_named():
    """ULA on E = -|x|² (improper): x grows by 1.2 a step, the energy falls without bound."""
    with pytest.warns(SamplerWarning, match="ran away"):
        r = ULA(0.1).run(lambda x: -(x ** 2).sum(-1), torch.randn(4, 2, generator=g(9)), 80, generator=g(10))
    assert float(r.energy.max()) < -1e6


@pytest.mark.parametrize("make", [lambda: HMC(2.5, 10), lambda: MALA(50.0)], ids=["hmc", "mala"])
def test_frozen_chains_are_named(make):
    """Old code: 0% acceptance, chains stuck at x0, no word."""
    with pytest.warns(SamplerWarning, match=r"8 of 8 chains accepted < 1% of 50 proposals and are frozen") as rec:
        r = make().run(quad, torch.randn(8, 2, generator=g(11)), 50, generator=g(12))
    assert len(rec) == 1 and float(r.acceptance_rate.max()) < 0.01


HEALTHY = {
    "ula": lambda: (ULA(0.1), 200),
    "mala": lambda: (MALA(0.5), 200),
    "hmc": lambda: (HMC(0.3, 10), 200),
    "mala-shared": lambda: (MALA(2.0, warmup_steps=100, adapt_step_size=True), 200),
    "mala-per-chain": lambda: (MALA(2.0, warmup_steps=100, adapt_step_size=True, adaptation="per_chain"), 200),
    "hmc-adapted": lambda: (HMC(0.05, 10, warmup_steps=100, adapt_step_size=True), 200),
    "pt-mala": lambda: (ParallelTempering(MALA(0.5), [1.0, 2.0, 4.0]), 100),
    "pt-hmc": lambda: (ParallelTempering(HMC(0.3, 5), [1.0, 3.0]), 100),
}


@pytest.mark.parametrize("name", HEALTHY)
@pytest.mark.parametrize("start", ["mode", "far"])
def test_healthy_chains_never_warn(name, start):
    """The health criteria must not fire on healthy chains, started at the mode (where the energy
    then rises by ~d/2) or far out (where it falls by ~5·10⁵ while the chain comes home)."""
    sampler, n = HEALTHY[name]()
    x0 = torch.zeros(64, 2) if start == "mode" else torch.full((64, 2), 500.0) if name.startswith("ula") else torch.randn(64, 2, generator=g(13)) * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplerWarning)
        sampler.run(quad, x0, n, generator=g(14))


def test_healthy_gibbs_annealed_and_high_dimensional_runs_never_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplerWarning)
        ising = lambda x: -(x[:, :-1] * x[:, 1:]).sum(-1)
        SingleSiteGibbs().run(ising, torch.zeros(16, 8), 30, generator=g(15))
        ParallelTempering(SingleSiteGibbs(), [1.0, 2.0]).run(ising, torch.zeros(16, 8), 30, generator=g(16))
        rbm = BernoulliRBM(6, 4, generator=g(17))
        rbm_block_gibbs(rbm).run(lambda h, v: rbm(v), {"h": torch.zeros(8, 4), "v": torch.zeros(8, 6)}, 30, generator=g(18))
        e_sig = lambda x, s: 0.5 * (x ** 2).sum(-1) / (1.0 + s ** 2)
        AnnealedLangevin([4.0, 1.0, 0.1], 0.01).run(e_sig, torch.randn(32, 2, generator=g(19)) * 4, 50, generator=g(20))
        # 1,000 coordinates from the mode: the energy rises by ≈ d/2 = 500 nats, far below 1000 + 10 d.
        MALA(0.05).run(quad, torch.zeros(8, 1000), 200, generator=g(21))
        HMC(0.1, 10).run(quad, torch.zeros(8, 1000), 50, generator=g(22))


# -- 3. one energy-output check for every sampler ---------------------------------------------------

scalar_energy = lambda x: (x ** 2).sum()  # one number for the whole batch

SCALAR_CASES = {
    "ula": lambda: ULA(0.1).run(scalar_energy, torch.zeros(4, 2), 5),
    "mala": lambda: MALA(0.1).run(scalar_energy, torch.zeros(4, 2), 5),
    "hmc": lambda: HMC(0.1, 3).run(scalar_energy, torch.zeros(4, 2), 5),
    "annealed": lambda: AnnealedLangevin([1.0, 0.5], 0.1).run(lambda x, s: (x ** 2).sum(), torch.zeros(4, 2), 5),
    "pt-mala": lambda: ParallelTempering(MALA(0.1), [1.0, 2.0]).run(scalar_energy, torch.zeros(4, 2), 5),
    "pt-gibbs": lambda: ParallelTempering(SingleSiteGibbs(), [1.0, 2.0]).run(scalar_energy, torch.zeros(4, 2), 5),
    "gibbs": lambda: SingleSiteGibbs().run(scalar_energy, torch.zeros(4, 2), 5),
    "block-gibbs": lambda: BlockGibbs([lambda b, gen: b[0]]).run(scalar_energy, (torch.zeros(4, 2),), 5),
    "ais": lambda: AIS(5).run(lambda x, beta: (x ** 2).sum(), torch.zeros(4, 2), 0.0),
}


@pytest.mark.parametrize("name", SCALAR_CASES)
def test_scalar_energy_is_refused_by_every_sampler(name):
    """Old code: ParallelTempering broadcast β · scalar to one energy per replica and produced
    zero-variance chains without a word."""
    with pytest.raises(ValueError, match=r"energy: expected a callable returning one energy per chain, shape \(4,\).*Fix: reduce over the event"):
        SCALAR_CASES[name]()


# -- 4. x0 against the energy: event shape, dtype, device -----------------------------------------

def gauss2(dtype=torch.float32):
    return Gaussian(torch.zeros(2, dtype=dtype), torch.eye(2, dtype=dtype))


X0_CASES = {
    "ula": lambda e, x: ULA(0.1).run(e, x, 3),
    "mala": lambda e, x: MALA(0.1).run(e, x, 3),
    "hmc": lambda e, x: HMC(0.1, 2).run(e, x, 3),
    "annealed": lambda e, x: AnnealedLangevin([1.0], 0.1).run([e], x, 3),
    "pt": lambda e, x: ParallelTempering(MALA(0.1), [1.0, 2.0]).run(e, x, 3),
    "gibbs": lambda e, x: SingleSiteGibbs().run(e, x, 3),
    "ais": lambda e, x: AIS(3).run(GeometricPath(e, e), x, 0.0),
}


@pytest.mark.parametrize("name", X0_CASES)
def test_x0_event_shape_checked_against_the_energy(name):
    """Old code: MALA(0.1).run(energy with event_shape (2,), zeros(4, 3), 10) ran silently."""
    with pytest.raises(ValueError, match=r"x0: expected shape \(batch, \*\(2,\)\) matching energy.event_shape.*found shape \(4, 3\).*Fix:"):
        X0_CASES[name](gauss2(), torch.zeros(4, 3))


@pytest.mark.parametrize("name", X0_CASES)
def test_x0_dtype_checked_against_the_energy_and_the_fix_works(name):
    x0 = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"x0: expected dtype torch.float32 .*found dtype torch.float64.*Fix: pass x0.to\(torch.float32\), or convert the energy with energy.to\(torch.float64\)"):
        X0_CASES[name](gauss2(), x0)
    X0_CASES[name](gauss2(), x0.to(torch.float32))  # the first suggested fix
    X0_CASES[name](gauss2().to(torch.float64), x0)  # the second


def test_x0_batch_hint():
    with pytest.raises(ValueError, match=r"Fix: add the batch dimension: x0.unsqueeze\(0\)"):
        MALA(0.1).run(gauss2(), torch.zeros(2), 3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("make", [lambda: ULA(0.05), lambda: MALA(0.1), lambda: HMC(0.1, 3), lambda: MALA(0.1, warmup_steps=10, adapt_step_size=True)])
def test_half_precision_runs_in_its_own_dtype(make, dtype):
    """The README says dtype follows x0: the result must be float16 / bfloat16 too."""
    r = make().run(quad, torch.zeros(8, 2, dtype=dtype), 30, generator=g(23))
    assert r.x.dtype == dtype and r.energy.dtype == dtype
    if r.acceptance_rate is not None:
        assert r.acceptance_rate.dtype == dtype and float(r.acceptance_rate.mean()) > 0.3


# -- 5. shared step-size adaptation ---------------------------------------------------------------

def test_shared_adaptation_gives_one_step_size_per_chain_equal():
    r = MALA(2.0, warmup_steps=100, adapt_step_size=True).run(quad, torch.zeros(64, 2), 100, generator=g(24))
    assert r.step_size.shape == (64,) and bool((r.step_size == r.step_size[0]).all())
    p = MALA(2.0, warmup_steps=100, adapt_step_size=True, adaptation="per_chain").run(quad, torch.zeros(64, 2), 100, generator=g(24))
    assert float(p.step_size.std()) > 0
    with pytest.raises(ValueError, match=r"adaptation: expected one of 'shared', 'per_chain'"):
        MALA(0.1, adaptation="global")
    with pytest.raises(ValueError, match=r"adapt_step_size: expected warmup_steps > 0"):
        HMC(0.1, adapt_step_size=True)


def test_shared_adaptation_reaches_the_target_acceptance():
    """Dual averaging on the mean acceptance: the post-warm-up mean acceptance is near 0.574
    (± 0.05: 256 chains × 300 steps, the residual is the adaptation's, not sampling noise)."""
    r = MALA(0.01, warmup_steps=300, adapt_step_size=True).run(quad, torch.zeros(256, 2), 300, generator=g(25))
    assert abs(float(r.acceptance_rate.mean()) - 0.574) < 0.05


# -- 6. the README's MALA example converges ---------------------------------------------------------

def test_readme_mala_example_converges(capsys):
    """Old README: split R-hat 1.0108 > 1.01. The example is taken verbatim from the samplers guide
    page (docs/guide/samplers.md), where the README's guide sections moved."""
    readme = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "samplers.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (code,) = [b for b in blocks if "from samplers import MALA, split_rhat" in b]
    ns: dict = {}
    exec(compile(code, "docs/guide/samplers.md", "exec"), ns)
    assert float(split_rhat(ns["draws"]).max()) < 1.01
    cov = ns["draws"].reshape(-1, 2).T.cov()
    torch.testing.assert_close(cov, torch.tensor([[1.0, 0.8], [0.8, 1.0]]), atol=0.1, rtol=0)


# -- 7. one AIS result; at least two runs --------------------------------------------------------------

def test_one_ais_result_type_with_exact_summary():
    assert EvaluateAISResult is AISResult
    lw = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)  # weights 1 and 3
    f = summarise_log_weights(lw, 0.0, 1.0)
    # mean 2, sd √2, se of the mean 1: log Ẑ = log 2, se = 1/2, bracket log(2 ± 3) → (-inf, log 5).
    assert math.isclose(float(f.log_z), math.log(2.0)) and math.isclose(float(f.std_error), 0.5)
    assert float(f.log_z_low) == -math.inf and math.isclose(float(f.log_z_high), math.log(5.0))
    assert math.isclose(float(f.ess), 16 / 10)
    r = summarise_log_weights(lw, 0.0, -1.0)  # reverse: Z_1 = Z_0 / mean(w)
    assert math.isclose(float(r.log_z), -math.log(2.0)) and math.isclose(float(r.log_z_low), -math.log(5.0))
    assert float(r.log_z_high) == math.inf
    with pytest.warns(DeprecationWarning):
        assert f.log_z_se is f.std_error


def test_ais_agrees_between_samplers_and_evaluate_and_refuses_one_chain():
    """Old code: ais_log_partition(rbm, n_chains=1) gave std_error 0 and a bracket excluding the
    truth while samplers.AIS said inf."""
    rbm = BernoulliRBM(8, 4, weight_scale=0.5, generator=g(26))
    with pytest.raises(ValueError, match=r"n_chains: expected an integer >= 2"):
        ais_log_partition(rbm, n_chains=1, n_betas=50)
    with pytest.raises(ValueError, match=r"x0: expected at least 2 annealing runs"):
        AIS(10).run(GeometricPath(quad, quad), torch.zeros(1, 2), 0.0)
    est = ais_log_partition(rbm, n_chains=200, n_betas=300, generator=g(27))
    exact = float(rbm.log_partition().detach())
    assert isinstance(est, AISResult) and est.x.shape == (200, 8)
    assert float(est.log_z_low) <= float(est.log_z) <= float(est.log_z_high)
    assert abs(float(est.log_z) - exact) < 4 * float(est.std_error) + 0.02


def test_ais_progress_callback():
    calls = []
    rbm = BernoulliRBM(8, 4, generator=g(28))
    ais_log_partition(rbm, n_chains=4, n_betas=250, generator=g(29), progress=lambda k, n: calls.append((k, n)))
    assert calls[-1] == (249, 249) and all(a[0] < b[0] for a, b in zip(calls, calls[1:])) and 2 <= len(calls) <= 101


# -- 8. named Gibbs blocks ---------------------------------------------------------------------------

def test_rbm_block_gibbs_block_order_is_checked():
    """Old code: (v0, h0) swapped ran silently when n_visible == n_hidden."""
    square = BernoulliRBM(5, 5, generator=g(30))
    h0, v0 = torch.zeros(3, 5), torch.ones(3, 5)
    with pytest.raises(ValueError, match=r"x0: expected a dict \{'h': \.\.\., 'v': \.\.\.\}.*share the event shape.*Fix: pass x0=\{'h': h0, 'v': v0\}"):
        rbm_block_gibbs(square).run(None, (h0, v0), 2)
    r = rbm_block_gibbs(square).run(None, {"v": v0, "h": h0}, 2, generator=g(31))
    assert r.x[1] is r.extras["blocks"]["v"]
    with pytest.raises(ValueError, match=r"x0: expected a dict with exactly the blocks \['h', 'v'\]"):
        rbm_block_gibbs(square).run(None, {"v": v0}, 2)
    tall = BernoulliRBM(6, 4, generator=g(32))
    rbm_block_gibbs(tall).run(None, (torch.zeros(3, 4), torch.ones(3, 6)), 2)  # the documented order
    with pytest.raises(ValueError, match=r"the blocks look swapped"):
        rbm_block_gibbs(tall).run(None, (torch.ones(3, 6), torch.zeros(3, 4)), 2)


def test_block_gibbs_dict_first_sweep_matches_tuple():
    """The same draws whether the state is given as a dict or a tuple (distinct shapes)."""
    rbm = BernoulliRBM(6, 4, generator=g(33))
    h0, v0 = torch.zeros(3, 4), torch.bernoulli(torch.full((3, 6), 0.5), generator=g(34))
    a = rbm_block_gibbs(rbm).run(None, (h0, v0), 3, generator=g(35))
    b = rbm_block_gibbs(rbm).run(None, {"h": h0, "v": v0}, 3, generator=g(35))
    torch.testing.assert_close(a.x[1], b.x[1], rtol=0, atol=0)


# -- 9. every diagnostic's suggested fix works ---------------------------------------------------------

@pytest.mark.parametrize("fn", [effective_sample_size, split_rhat, autocorrelation])
@pytest.mark.parametrize("bad", [torch.randn(1000, generator=g(36)), torch.randint(0, 5, (100, 4), generator=g(37))], ids=["1-D", "int"])
def test_diagnostic_fix_is_runnable(fn, bad):
    """Old code: effective_sample_size(torch.randn(1000)) suggested unsqueeze(0), which then failed."""
    with pytest.raises((ValueError, TypeError)) as err:
        fn(bad)
    fixes = re.findall(r"draws\.\w+\([^)]*\)", str(err.value).split("Fix:")[1])
    assert fixes, str(err.value)
    out = fn(eval(fixes[0], {"draws": bad}))  # the suggestion, run as written
    assert torch.isfinite(out).all()


def test_acceptance_summary_fix_is_runnable():
    bad = torch.rand(4, 2, generator=g(38))
    with pytest.raises(ValueError) as err:
        acceptance_summary(bad)
    (fix,) = re.findall(r"acceptance_rate\.\w+\(\)", str(err.value).split("Fix:")[1])
    assert acceptance_summary(eval(fix, {"acceptance_rate": bad}))["max"] <= 1
