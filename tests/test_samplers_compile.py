"""``compile=True``: option validation, error translation, correctness of the fused step — fed the
generator's draws on a CPU, drawing from counter keys elsewhere (forced here by `counter_noise`).

The fast tests replace ``torch.compile`` by a stand-in (identity, or one that fails the way a
missing C++ compiler does), so the compiled step — its own noise and uniform from counter keys,
the state swap, the in-step acceptance tally — runs eagerly and is checked in milliseconds, by
structure and by exact stationary moments. The tests that really compile compare inductor's code
with that eager run of the same step (same keys) and take tens of seconds; they are marked slow.
"""

import pytest
import torch
from helpers import break_torch_compile

from samplers import HMC, MALA, ULA, SamplerDivergedError, native_normal

COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
PREC = torch.linalg.inv(COV)


def gauss_energy(x):
    return 0.5 * ((x @ PREC) * x).sum(-1)


class AnalyticGauss:
    def __call__(self, x):
        return gauss_energy(x)

    def energy_and_score(self, x):
        pd = x @ PREC
        return 0.5 * (pd * x).sum(-1), -pd


SAMPLERS = {
    "ula": lambda c: ULA(0.1, compile=c),
    "ula_record": lambda c: ULA(0.1, record_energies=True, thin=5, compile=c),
    "mala": lambda c: MALA(0.3, compile=c),
    "mala_adapt": lambda c: MALA(0.3, warmup_steps=10, adapt_step_size=True, compile=c),
    "hmc": lambda c: HMC(0.2, n_leapfrog=3, compile=c),
}


def run_pair(make, energy, n=40, steps=30):
    x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    r0 = make(False).run(energy, x0, steps, generator=torch.Generator().manual_seed(0))
    sampler = make(True)
    r1 = sampler.run(energy, x0, steps, generator=torch.Generator().manual_seed(0))
    r2 = sampler.run(energy, x0, steps, generator=torch.Generator().manual_seed(0))  # reuses the compiled step
    return r0, r1, r2


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_compile_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="compile: expected True, False or .auto.*Fix:"):
        ULA(0.1, compile=bad)
    with pytest.raises(TypeError, match="Fix:"):
        MALA(0.1, compile=bad)


def test_missing_torch_compile_raises_with_fix(monkeypatch):
    monkeypatch.delattr(torch, "compile")
    with pytest.raises(RuntimeError, match="compile: expected a torch build with torch.compile.*Fix: .*compile=False"):
        MALA(0.1, compile=True)
    MALA(0.1)  # the default never needs it


def test_backend_failure_is_reported_not_swallowed(monkeypatch):
    break_torch_compile(monkeypatch)
    with pytest.raises(RuntimeError, match="compile: expected a step that torch.compile can fuse.*InvalidCxxCompiler.*Fix: pass compile=False"):
        MALA(0.1, compile=True).run(gauss_energy, torch.zeros(3, 2), 5)


def test_user_errors_inside_the_step_pass_through(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)

    def energy(x):
        if x.abs().max() > 0:
            raise KeyError("boom")
        return x.sum(-1)

    with pytest.raises(KeyError, match="boom"):
        ULA(0.1, compile=True).run(energy, torch.zeros(3, 2), 5)


def noise_source(monkeypatch, source):
    """Force where the fused step gets its noise: "counter" (its own, from counter keys: AVX-512
    CPUs and GPUs), "native" (fed in from `samplers.native_normal`, keyed by the run's generator:
    AVX2 CPUs where it builds) or "generator" (the run's torch.randn, fed in: other CPUs)."""
    for cls in (ULA, MALA, HMC):
        monkeypatch.setattr(cls, "_noise_source", source)


def counter_noise(monkeypatch):
    noise_source(monkeypatch, "counter")


def identity_compile(monkeypatch, *, counter=True, source=None):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    noise_source(monkeypatch, source or ("counter" if counter else "generator"))


# The fused step's own random numbers (not the eager loop's): in-kernel counter keys, or the C
# generator's normals fed in (float32 CPU chains where it builds).
OWN_NOISE = ["counter", pytest.param("native", marks=pytest.mark.skipif(not native_normal.available(), reason="samplers.native_normal is not built here"))]


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("energy", [gauss_energy, AnalyticGauss()], ids=["callable", "analytic"])
def test_fused_step_on_a_cpu_reads_the_eager_loops_draws(monkeypatch, name, energy):
    # On a CPU without AVX-512 the fused step is fed the generator's noise and log-uniforms
    # (torch.randn is faster there than a counter-based draw inside the kernel), drawn in the eager
    # loop's order: the fused run is the eager run, to rounding.
    identity_compile(monkeypatch, counter=False)
    r0, r1, _ = run_pair(SAMPLERS[name], energy)
    torch.testing.assert_close(r1.x, r0.x, rtol=0, atol=1e-5)
    torch.testing.assert_close(r1.energy, r0.energy, rtol=0, atol=1e-5)
    if r0.acceptance_rate is not None:
        torch.testing.assert_close(r1.acceptance_rate, r0.acceptance_rate)


@pytest.mark.parametrize("source", OWN_NOISE)
@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("energy", [gauss_energy, AnalyticGauss()], ids=["callable", "analytic"])
def test_counter_keyed_step_is_consistent_and_reproducible(monkeypatch, name, energy, source):
    """compile=True with torch.compile stubbed to the identity runs the compiled step eagerly.

    Its draws come from counter keys (not the eager loop's randn), so the checks are structural:
    reproducible from the generator, a new seed gives new chains, the cached energy is the
    energy of the returned states, recorded energies/trajectories are consistent, and the
    acceptance rate is a frequency. The same holds for the C generator's noise fed in.
    """
    identity_compile(monkeypatch, source=source)
    r0, r1, r2 = run_pair(SAMPLERS[name], energy)
    for field in ("x", "energy", "acceptance_rate", "trajectory", "energies"):
        a, b = getattr(r1, field), getattr(r2, field)
        assert (a is None and b is None) or torch.equal(a, b), field  # the reused step is deterministic
    assert not torch.equal(r1.x, r0.x)  # different random numbers from the eager loop
    x0 = torch.randn(40, 2, generator=torch.Generator().manual_seed(1))
    other = SAMPLERS[name](True).run(energy, x0, 30, generator=torch.Generator().manual_seed(7))
    assert not torch.equal(other.x, r1.x)
    torch.testing.assert_close(r1.energy, gauss_energy(r1.x), rtol=1e-5, atol=1e-5)
    if r1.energies is not None:
        torch.testing.assert_close(r1.energies[-1], r1.energy)
        torch.testing.assert_close(r1.trajectory[-1], r1.x)
    if r1.acceptance_rate is not None:
        rate = r1.acceptance_rate
        assert bool(((rate >= 0) & (rate <= 1)).all()) and 0.2 < float(rate.mean()) < 1.0
        torch.testing.assert_close(rate * 30, (rate * 30).round())  # accepted steps / 30


def test_large_batch_unrolls_only_a_self_drawing_unadjusted_step(monkeypatch):
    """At a batch too large for the small-batch unrolling, ULA drawing its own noise on an energy
    object still makes several steps per compiled call (its call's fixed cost shows at any size),
    the same chains as one step per call; a bare function steps once per call; MALA stays at one step per call and is compiled with inductor's tiling
    heuristic off (its accept kernel would otherwise stay scalar)."""
    import samplers._base as base

    calls, options = [], []

    def counting_compile(fn, **kw):
        options.append(kw.get("options", {}))

        def run(*args):
            calls.append(args[5].shape[0] if args[5].dim() == 2 else 1)  # keys (m, 2): m steps per call
            return fn(*args)
        return run

    monkeypatch.setattr(torch, "compile", counting_compile)
    noise_source(monkeypatch, "counter")
    x0 = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(1))  # 40,000 entries > the budget
    r4 = ULA(0.1, compile=True).run(AnalyticGauss(), x0, 9, generator=torch.Generator().manual_seed(0))
    assert calls == [4, 4, 1]
    calls.clear()
    ULA(0.1, compile=True).run(gauss_energy, x0, 3, generator=torch.Generator().manual_seed(0))
    assert calls == [1, 1, 1]  # a bare function, differentiated by the sampler, steps once per call
    assert "cpp.enable_tiling_heuristics" not in options[-1]
    monkeypatch.setattr(base, "_MIN_UNROLL_SELF_DRAWN", 1)
    calls.clear()
    r1 = ULA(0.1, compile=True).run(AnalyticGauss(), x0, 9, generator=torch.Generator().manual_seed(0))
    assert calls == [1] * 9
    torch.testing.assert_close(r4.x, r1.x, rtol=0, atol=1e-6)  # the same keys, step by step
    calls.clear()
    MALA(0.3, compile=True).run(gauss_energy, x0, 3, generator=torch.Generator().manual_seed(0))
    assert calls == [1, 1, 1] and options[-1]["cpp.enable_tiling_heuristics"] is False


@pytest.mark.parametrize("source", OWN_NOISE)
@pytest.mark.parametrize("make", [lambda: MALA(0.5, compile=True), lambda: HMC(0.3, n_leapfrog=5, compile=True)], ids=["mala", "hmc"])
def test_counter_keyed_metropolis_samplers_are_exact(monkeypatch, make, source):
    """Moments of N(0, Σ) from the counter-keyed step, within 5 Monte-Carlo standard errors.

    4,000 chains x 200 steps from x0 ~ N(0, Σ) (a stationary start), final states only: the chains
    are independent, so the standard error of a mean is √(Σ_ii / n) and of a (co)variance at most
    √(2 / n) here.
    """
    identity_compile(monkeypatch, source=source)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4000, 2, generator=g) @ torch.linalg.cholesky(COV).T
    r = make().run(AnalyticGauss(), x0, 200, generator=g)
    n = r.x.shape[0]
    assert bool((r.x.mean(0).abs() < 5 * (1 / n) ** 0.5).all())
    assert bool(((torch.cov(r.x.T) - COV).abs() < 5 * (2 / n) ** 0.5).all())


@pytest.mark.parametrize("source", OWN_NOISE)
def test_counter_keyed_ula_shows_its_exact_stationary_bias(monkeypatch, source):
    """ULA on N(0, 1) with ε = 0.5 has stationary variance 1 / (1 - ε/2) = 4/3 exactly."""
    identity_compile(monkeypatch, source=source)
    g = torch.Generator().manual_seed(0)
    r = ULA(0.5, compile=True).run(lambda x: 0.5 * x.square().sum(-1), torch.randn(20000, 1, generator=g), 100, generator=g)
    n = r.x.shape[0]
    assert abs(float(r.x.var()) - 4 / 3) < 5 * (4 / 3) * (2 / n) ** 0.5


def test_counter_keyed_adaptation_reaches_its_target(monkeypatch):
    identity_compile(monkeypatch)
    g = torch.Generator().manual_seed(0)
    r = MALA(2.0, warmup_steps=300, adapt_step_size=True, compile=True).run(AnalyticGauss(), torch.randn(500, 2, generator=g), 300, generator=g)
    assert abs(float(r.acceptance_rate.mean()) - 0.574) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("source", OWN_NOISE)
@pytest.mark.parametrize("name", ["ula", "ula_record", "mala", "hmc"])
@pytest.mark.parametrize("energy", [gauss_energy, AnalyticGauss()], ids=["callable", "analytic"])
def test_really_compiled_step_matches_its_eager_run_to_rounding(monkeypatch, name, energy, source):
    """Real torch.compile (inductor) vs the same step run eagerly: same keys (or the same C-drawn
    noise), so the same chains up to float32 rounding. Fixed step sizes only: with adaptation, dual
    averaging multiplies rounding differences in α by √t/γ, so per-chain step sizes (and then
    chains) drift apart.
    """
    noise_source(monkeypatch, source)
    _, r1, r2 = run_pair(SAMPLERS[name], energy)
    assert torch.equal(r2.x, r1.x)  # the cached compiled step is deterministic
    identity_compile(monkeypatch, source=source)
    _, r0, _ = run_pair(SAMPLERS[name], energy)
    torch.testing.assert_close(r1.x, r0.x, rtol=0, atol=1e-4)
    torch.testing.assert_close(r1.energy, r0.energy, rtol=0, atol=1e-4)
    if r0.acceptance_rate is not None:
        assert float((r1.acceptance_rate - r0.acceptance_rate).abs().max()) <= 1 / 30 + 1e-6
    if r0.energies is not None:
        torch.testing.assert_close(r1.energies, r0.energies, rtol=0, atol=1e-4)
        torch.testing.assert_close(r1.trajectory, r0.trajectory, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_really_compiled_sampler_still_reports_divergence():
    with pytest.raises(SamplerDivergedError) as err:
        ULA(5.0, compile=True).run(lambda x: (x**4).sum(-1), torch.ones(4, 2), 20, generator=torch.Generator().manual_seed(0))
    assert bool(err.value.result.diverged.all())


@pytest.mark.slow
def test_really_compiled_mala_on_a_wide_event_matches_eager(monkeypatch):
    """A (4, 5) event (20 coordinates): the noise and the accept test reduce over two event dims."""
    energy = lambda x: 0.5 * x.square().flatten(1).sum(1)
    x0 = torch.randn(64, 4, 5, generator=torch.Generator().manual_seed(1))
    counter_noise(monkeypatch)
    r1 = MALA(0.2, compile=True).run(energy, x0, 20, generator=torch.Generator().manual_seed(0))
    identity_compile(monkeypatch)
    r0 = MALA(0.2, compile=True).run(energy, x0, 20, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(r1.x, r0.x, rtol=0, atol=1e-5)
    assert torch.equal(r1.acceptance_rate, r0.acceptance_rate)


def test_full_bias_addmm_is_split_into_mm_and_add():
    """The CPU post-grad pass: addmm with a full-size bias becomes mm + add; a row bias is kept."""
    from torch.fx.experimental.proxy_tensor import make_fx

    from samplers.compilation import UnfuseFullBiasAddmm

    if UnfuseFullBiasAddmm is None:
        pytest.skip("this torch has no inductor custom-pass interface; compile_step runs without the pass")
    aten = torch.ops.aten
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 2, generator=g), torch.randn(2, 3, generator=g)
    full, row = torch.randn(50, 3, generator=g), torch.randn(3, generator=g)

    def f(a, b, full, row):
        return torch.addmm(full, a, b), torch.addmm(row, a, b)

    gm = make_fx(f, tracing_mode="fake")(a, b, full, row)
    UnfuseFullBiasAddmm()(gm.graph)
    gm.recompile()
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert targets.count(aten.addmm.default) == 1 and aten.mm.default in targets
    for got, want in zip(gm(a, b, full, row), f(a, b, full, row)):
        torch.testing.assert_close(got, want)


# -- compile="auto": the default ------------------------------------------------------------


def counting_compile(monkeypatch):
    """Stand torch.compile in by the identity and count how often it is called."""
    calls = []

    def fake(fn, **kw):
        calls.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", fake)
    return calls


def test_auto_is_the_default_everywhere():
    import inspect

    from ebm.evaluate import ais_log_partition
    from ebm.objectives import rbm_block_gibbs
    from samplers import AIS, AnnealedLangevin, BlockGibbs

    for cls in (ULA, MALA):
        assert cls(0.1).compile == "auto"
    assert HMC(0.1).compile == "auto" and BlockGibbs([lambda b, g: b[0]]).compile == "auto" and AIS(3).compile == "auto"
    for fn in (AnnealedLangevin.__init__, rbm_block_gibbs, ais_log_partition):
        assert inspect.signature(fn).parameters["compile"].default == "auto"


def test_auto_never_compiles_a_teaching_run(monkeypatch):
    calls = counting_compile(monkeypatch)
    x0 = torch.zeros(100, 2)
    for make in (lambda: ULA(0.05), lambda: MALA(0.1), lambda: HMC(0.1, n_leapfrog=3)):
        sampler = make()
        for _ in range(5):
            sampler.run(gauss_energy, x0, 200)
        assert sampler._fused is False
    assert calls == []


def test_auto_compiles_once_the_accumulated_work_reaches_the_threshold(monkeypatch):
    """The rule: work = chains × event size × steps, summed per (energy, shape); fused from the threshold on."""
    calls = counting_compile(monkeypatch)
    counter_noise(monkeypatch)
    sampler = MALA(0.3)
    sampler._auto.threshold = 2 * 40 * 2 * 30  # two runs of 40 2-D chains × 30 steps
    x0 = torch.randn(40, 2, generator=torch.Generator().manual_seed(1))
    r1 = sampler.run(gauss_energy, x0, 30, generator=torch.Generator().manual_seed(0))
    assert sampler._fused is False and calls == []
    sampler.run(gauss_energy, x0, 30, generator=torch.Generator().manual_seed(0))
    assert sampler._fused is True and len(calls) == 1
    sampler.run(gauss_energy, torch.zeros(3, 2), 30)  # another shape starts its own total
    assert sampler._fused is False
    r3 = sampler.run(gauss_energy, x0, 30, generator=torch.Generator().manual_seed(0))
    assert sampler._fused is True and len(calls) == 1  # the compiled step is reused
    forced = MALA(0.3, compile=True).run(gauss_energy, x0, 30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(r3.x, forced.x) and not torch.equal(r1.x, r3.x)  # fused = the counter-keyed step


def test_auto_falls_back_to_eager_with_one_warning(monkeypatch):
    import warnings

    from samplers import compilation as _compile

    break_torch_compile(monkeypatch)
    monkeypatch.setattr(_compile, "_warned", set())
    sampler = ULA(0.1)
    sampler._auto.threshold = 0
    x0 = torch.zeros(50, 2)
    with pytest.warns(RuntimeWarning, match=r'ULA\(compile="auto"\): running the step eagerly .*InvalidCxxCompiler'):
        r = sampler.run(gauss_energy, x0, 20, generator=torch.Generator().manual_seed(0))
    assert r.x.shape == (50, 2) and bool(torch.isfinite(r.x).all())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second run is silent and eager
        sampler.run(gauss_energy, x0, 20, generator=torch.Generator().manual_seed(0))
    assert sampler._fused is False
    with pytest.raises(RuntimeError, match="compile: expected a step that torch.compile can fuse"):
        ULA(0.1, compile=True).run(gauss_energy, x0, 5)


def test_auto_without_a_compiler_runs_eagerly_and_warns_once(monkeypatch):
    from samplers import compilation as _compile

    calls = counting_compile(monkeypatch)
    monkeypatch.setattr(_compile, "_warned", set())
    monkeypatch.setattr(_compile, "compile_unavailable", lambda device: "no C++ compiler found (test)")
    sampler = MALA(0.2)
    sampler._auto.threshold = 0
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler found"):
        r = sampler.run(gauss_energy, torch.zeros(10, 2), 10, generator=torch.Generator().manual_seed(0))
    assert calls == [] and r.acceptance_rate.shape == (10,)


def test_auto_block_gibbs_with_torch_draws_falls_back_to_the_generator(monkeypatch):
    """Conditionals that draw with torch functions cannot take a CounterRNG: auto runs them eagerly with the generator."""
    from samplers import BlockGibbs
    from samplers import compilation as _compile

    monkeypatch.setattr(_compile, "_warned", set())

    def broken(fn, **kw):
        def fail(*args):
            from torch._dynamo.exc import Unsupported

            raise Unsupported("torch.bernoulli with a CounterRNG")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    draw = lambda b, g: torch.bernoulli(torch.full_like(b[0], 0.3), generator=g)  # noqa: E731
    sampler = BlockGibbs([draw])
    sampler._auto.threshold = 0
    with pytest.warns(RuntimeWarning, match="BlockGibbs"):
        r = sampler.run(None, (torch.zeros(2000, 4),), 3, generator=torch.Generator().manual_seed(0))
    assert abs(float(r.x[0].mean()) - 0.3) < 0.026  # 8,000 draws: 5 standard errors ≈ 0.026


@pytest.mark.slow
def test_auto_block_gibbs_really_falls_back_for_torch_draws(monkeypatch):
    """With the real torch.compile: a conditional calling torch.bernoulli(generator=CounterRNG) cannot be fused."""
    from samplers import BlockGibbs
    from samplers import compilation as _compile

    monkeypatch.setattr(_compile, "_warned", set())
    draw = lambda b, g: torch.bernoulli(torch.full_like(b[0], 0.3), generator=g)  # noqa: E731
    sampler = BlockGibbs([draw])
    sampler._auto.threshold = 0
    with pytest.warns(RuntimeWarning, match="BlockGibbs"):
        r = sampler.run(None, (torch.zeros(2000, 4),), 3, generator=torch.Generator().manual_seed(0))
    assert abs(float(r.x[0].mean()) - 0.3) < 0.026


def test_auto_ais_fuses_only_paths_with_their_own_transition(monkeypatch):
    import math

    from samplers import AIS, GeometricPath

    calls = counting_compile(monkeypatch)
    base = lambda x: 0.5 * (x**2).sum(-1)  # noqa: E731
    ais = AIS(50, step_size=0.5)
    ais._auto.threshold = 0
    r = ais.run(GeometricPath(base, lambda x: base(x) / 4), torch.randn(400, 2, generator=torch.Generator().manual_seed(0)), math.log(2 * math.pi), generator=torch.Generator().manual_seed(1))
    assert calls == [] and abs(float(r.log_z) - math.log(8 * math.pi)) < 0.15


def test_inductor_caches_are_on():
    """Compiled steps are reused across processes through inductor's FX-graph and AOT-autograd caches."""
    import os

    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    if os.environ.get("TORCHINDUCTOR_FX_GRAPH_CACHE") == "0":
        pytest.skip("the environment turns the FX-graph cache off")
    assert inductor_config.fx_graph_cache is True
    assert functorch_config.enable_autograd_cache is True


@pytest.mark.parametrize("method", ["__call__", "score", "energy_and_score", "log_prob"])
def test_ebm_energies_trace_whole_under_dynamo(method):
    # Regression: the per-call input checks of `ebm.Energy` read a context variable, which dynamo
    # cannot trace, so `ULA(ε, compile=True)` (and compile="auto" past its threshold) failed on
    # every `ebm` energy. Traced code now skips the checks (the sampler checked x0 once).
    from ebm.energies.analytic import Gaussian

    gauss = Gaussian(torch.zeros(2), COV)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    fn = getattr(gauss, method)
    traced = torch.compile(lambda x: fn(x), backend="eager", fullgraph=True)
    out, ref = traced(x), fn(x)
    for a, b in zip(out if isinstance(out, tuple) else (out,), ref if isinstance(ref, tuple) else (ref,)):
        torch.testing.assert_close(a, b)


@pytest.mark.slow  # a real inductor compile of each step
@pytest.mark.parametrize("make", [lambda: ULA(0.1, compile=True), lambda: MALA(0.3, compile=True)], ids=["ula", "mala"])
def test_compiled_samplers_run_an_ebm_energy(make):
    from ebm.energies.analytic import Gaussian

    x0 = torch.randn(200, 2, generator=torch.Generator().manual_seed(1))
    r = make().run(Gaussian(torch.zeros(2), COV), x0, 50, generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(r.x).all())


def test_compiled_steps_key_inductors_cache_by_the_vector_width(monkeypatch):
    """Inductor's disk cache does not key graphs by ATEN_CPU_CAPABILITY: an AVX2 process's graph loaded
    by an AVX-512 process crashed (fista(compile=True), shared cache). compile_step names the width."""
    import torch._inductor.config as inductor_config
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    from samplers.compilation import compile_step

    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: seen.append(kw.get("options", {})) or fn)
    compile_step(lambda x: x + 1)
    width = pick_vec_isa().bit_width()
    assert seen[-1].get("cpp.simdlen") == (width or None)
    monkeypatch.setattr(inductor_config.cpp, "simdlen", 256)  # a user's own choice is left alone
    compile_step(lambda x: x + 1)
    assert "cpp.simdlen" not in seen[-1]
    compile_step(lambda x: x + 1, options={"cpp.enable_tiling_heuristics": False})
    assert seen[-1]["cpp.enable_tiling_heuristics"] is False and "cpp.simdlen" not in seen[-1]


def test_small_products_are_inlined_only_in_one_step_graphs_fed_their_noise(monkeypatch):
    import samplers.compilation as compilation

    assert compilation.steps_per_call(2_000) == 8 and compilation.steps_per_call(200_000) == 1
    big, small = torch.zeros(100_000, 2), torch.zeros(1_000, 2)
    monkeypatch.setattr(compilation, "default_algorithm", lambda device: "threefry")  # a CPU without AVX-512
    assert compilation.fused_steps_read_noise("cpu") and not compilation.fused_steps_read_noise("meta")
    assert compilation.inline_small_products(big) and not compilation.inline_small_products(small)
    monkeypatch.setattr(compilation, "default_algorithm", lambda device: "splitmix64")  # AVX-512: noise drawn in-kernel
    assert not compilation.fused_steps_read_noise("cpu") and not compilation.inline_small_products(big)
