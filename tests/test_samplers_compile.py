"""``compile=True``: option validation, error translation, and equality with the eager chains.

The fast tests replace ``torch.compile`` by a stand-in (identity, or one that fails the way a
missing C++ compiler does) so that the wrapper around the kernel — the pure step, the state swap,
the accept buffer — is checked bit-for-bit in milliseconds. The tests that really compile take
tens of seconds on a shared CPU and are marked slow.
"""

import pytest
import torch

from samplers import HMC, MALA, ULA, SamplerDivergedError

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
    with pytest.raises(TypeError, match="compile: expected a bool.*Fix:"):
        ULA(0.1, compile=bad)
    with pytest.raises(TypeError, match="Fix:"):
        MALA(0.1, compile=bad)


def test_missing_torch_compile_raises_with_fix(monkeypatch):
    monkeypatch.delattr(torch, "compile")
    with pytest.raises(RuntimeError, match="compile: expected a torch build with torch.compile.*Fix: .*compile=False"):
        MALA(0.1, compile=True)
    MALA(0.1)  # the default never needs it


def test_backend_failure_is_reported_not_swallowed(monkeypatch):
    from torch._inductor.exc import InvalidCxxCompiler

    def broken_compile(fn, **kwargs):
        assert kwargs["fullgraph"] is True and kwargs["dynamic"] is False

        def fail(*args):
            raise InvalidCxxCompiler()

        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
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


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("energy", [gauss_energy, AnalyticGauss()], ids=["callable", "analytic"])
def test_compiled_wrapper_is_bit_identical_with_identity_compile(monkeypatch, name, energy):
    """With torch.compile replaced by the identity, compile=True must reproduce compile=False exactly."""
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    r0, r1, r2 = run_pair(SAMPLERS[name], energy)
    for r in (r1, r2):
        assert torch.equal(r.x, r0.x) and torch.equal(r.energy, r0.energy)
        for field in ("acceptance_rate", "trajectory", "energies"):
            a, b = getattr(r0, field), getattr(r, field)
            assert (a is None and b is None) or torch.equal(a, b), field
        if isinstance(r0.step_size, torch.Tensor):
            assert torch.equal(r.step_size, r0.step_size)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ula", "ula_record", "mala", "hmc"])
@pytest.mark.parametrize("energy", [gauss_energy, AnalyticGauss()], ids=["callable", "analytic"])
def test_really_compiled_step_matches_eager_to_rounding(name, energy):
    """Real torch.compile (inductor): same noise, same accept rule -> same chains up to float32 rounding.

    Fixed step sizes only: with adaptation, dual averaging multiplies rounding differences in α by
    √t/γ, so per-chain step sizes (and then chains) drift apart at the 1e-5 level and beyond.
    """
    r0, r1, r2 = run_pair(SAMPLERS[name], energy)
    assert torch.equal(r2.x, r1.x)  # the cached compiled step is deterministic
    torch.testing.assert_close(r1.x, r0.x, rtol=0, atol=1e-5)
    torch.testing.assert_close(r1.energy, r0.energy, rtol=0, atol=1e-5)
    if r0.acceptance_rate is not None:
        assert torch.equal(r1.acceptance_rate, r0.acceptance_rate)
    if r0.energies is not None:
        torch.testing.assert_close(r1.energies, r0.energies, rtol=0, atol=1e-5)
        torch.testing.assert_close(r1.trajectory, r0.trajectory, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_really_compiled_sampler_still_reports_divergence():
    with pytest.raises(SamplerDivergedError) as err:
        ULA(5.0, compile=True).run(lambda x: (x**4).sum(-1), torch.ones(4, 2), 20, generator=torch.Generator().manual_seed(0))
    assert bool(err.value.result.diverged.all())


@pytest.mark.slow
def test_really_compiled_mala_on_a_wide_event_matches_eager():
    """A (4, 5) event (20 coordinates) takes inductor's vectorised CPU path, unlike the 2-D tests."""
    energy = lambda x: 0.5 * x.square().flatten(1).sum(1)  # noqa: E731
    x0 = torch.randn(64, 4, 5, generator=torch.Generator().manual_seed(1))
    r0 = MALA(0.2).run(energy, x0, 20, generator=torch.Generator().manual_seed(0))
    r1 = MALA(0.2, compile=True).run(energy, x0, 20, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(r1.x, r0.x, rtol=0, atol=1e-5)
    assert torch.equal(r1.acceptance_rate, r0.acceptance_rate)
