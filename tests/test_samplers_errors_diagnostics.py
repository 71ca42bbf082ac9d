"""Bad input gives clear errors (argument, expectation, finding, 'Fix:'); diagnostics vs closed forms."""

import math

import pytest
import torch

from samplers import (
    AIS, HMC, MALA, ULA, BlockGibbs, ParallelTempering, SamplerDivergedError, SamplerWarning, SingleSiteGibbs,
    autocorrelation, effective_sample_size, split_rhat,
)

quad = lambda x: 0.5 * (x ** 2).sum(-1)


@pytest.mark.parametrize("sampler", [ULA(0.1), MALA(0.1), HMC(0.1, 3)])
def test_non_finite_x0_and_bad_energy_shape(sampler):
    x0 = torch.zeros(4, 2)
    x0[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x0: expected finite.*Fix:"):
        sampler.run(quad, x0, 5)
    with pytest.raises(ValueError, match=r"energy: expected .*shape \(4,\).*Fix:"):
        sampler.run(lambda x: 0.5 * x ** 2, torch.zeros(4, 2), 5)  # forgot to sum over the event
    with pytest.raises(TypeError, match="x0: expected a floating-point tensor"):
        sampler.run(quad, torch.zeros(4, 2, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="n_steps"):
        sampler.run(quad, torch.zeros(4, 2), 0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_step_size_must_be_positive(bad):
    for cls in (ULA, MALA, HMC):
        with pytest.raises(ValueError, match=r"step_size: expected a finite number > 0.*Fix:"):
            cls(bad)


class NaNLater:
    """Returns NaN for chains 2 and 5 from the 6th call on: an energy that breaks mid-run."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        e = quad(x)
        if self.calls > 5:
            e = e.clone()
            e[[2, 5]] = float("nan")
        return e


def test_nan_mid_run_is_reported_with_chain_indices():
    # ULA has no accept step: the NaN energy's gradient moves the state to NaN, a real divergence.
    with pytest.raises(SamplerDivergedError, match=r"2 of 8 chains diverged .*chains 2, 5\).*Fix: lower step_size") as info:
        ULA(0.1, record_energies=True).run(NaNLater(), torch.zeros(8, 2), 20, generator=torch.Generator().manual_seed(0))
    assert info.value.result.diverged.nonzero().flatten().tolist() == [2, 5]


@pytest.mark.parametrize("make", [lambda: MALA(0.1), lambda: HMC(0.1, 2)])
def test_nan_proposals_are_rejected_counted_and_warned(make):
    """A Metropolis sampler rejects NaN proposals: the chain stays finite (no divergence), every
    rejected NaN proposal is a divergent transition, and the frozen chains are named in a warning."""
    sampler = make()
    with pytest.warns(SamplerWarning, match=r"2 of 8 chains accepted < 1% of 500 proposals.*chains 2, 5;.*divergent transitions"):
        r = sampler.run(NaNLater(), torch.zeros(8, 2), 500, generator=torch.Generator().manual_seed(0))
    assert not r.diverged.any() and torch.isfinite(r.x).all()
    calls_per_step = 1 if isinstance(sampler, MALA) else 2  # HMC(0.1, 2): two leapfrog evaluations
    broken_from = 5 // calls_per_step  # the 6th energy call (the first is the initial state)
    n_div = r.extras["divergent_transitions"]
    assert n_div[[0, 1, 3, 4, 6, 7]].eq(0).all()
    assert n_div[[2, 5]].ge(500 - broken_from - 1).all()


def test_gibbs_tempering_ais_errors():
    with pytest.raises(ValueError, match=r"x0: expected binary"):
        SingleSiteGibbs().run(quad, torch.full((3, 4), 0.5), 2)
    with pytest.raises(ValueError, match="scan"):
        SingleSiteGibbs(scan="diagonal")
    with pytest.raises(TypeError, match="conditionals"):
        BlockGibbs([1, 2])
    with pytest.raises(ValueError, match=r"temperatures: expected an increasing ladder starting at 1.0"):
        ParallelTempering(MALA(0.1), [2.0, 1.0])
    with pytest.raises(TypeError, match="kernel"):
        ParallelTempering(object(), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"betas: expected an increasing schedule from 0.0 to 1.0"):
        AIS([0.0, 0.5])
    with pytest.raises(TypeError, match="generator"):
        ULA(0.1).run(quad, torch.zeros(2, 2), 1, generator="seed")  # type: ignore[arg-type]


def test_gibbs_energy_overflow_is_reported():
    e = lambda x: torch.where(x.sum(-1) > 2, torch.tensor(float("nan")), -x.sum(-1))
    with pytest.raises(SamplerDivergedError, match="SingleSiteGibbs"):
        SingleSiteGibbs().run(e, torch.zeros(16, 5), 5, generator=torch.Generator().manual_seed(0))


def ar1(phi, n, m, seed):
    gen = torch.Generator().manual_seed(seed)
    e = torch.randn(n, m, generator=gen, dtype=torch.float64)
    y = torch.zeros(n, m, dtype=torch.float64)
    y[0] = e[0]
    for t in range(1, n):
        y[t] = phi * y[t - 1] + math.sqrt(1 - phi ** 2) * e[t]
    return y


def test_autocorrelation_and_ess_of_ar1_match_closed_form():
    # AR(1) with coefficient φ: ρ_t = φ^t and τ = (1 + φ)/(1 - φ).
    phi, n, m = 0.8, 4000, 8
    y = ar1(phi, n, m, seed=0)
    rho = autocorrelation(y, max_lag=5).mean(1)
    torch.testing.assert_close(rho, phi ** torch.arange(6, dtype=torch.float64), atol=0.03, rtol=0)
    ess = float(effective_sample_size(y))
    expected = n * m * (1 - phi) / (1 + phi)
    assert abs(ess / expected - 1) < 0.15, (ess, expected)  # estimator s.d. is ~5% at this length
    iid = torch.randn(1000, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert 3000 < float(effective_sample_size(iid)) < 5000


def test_split_rhat_flags_unmixed_chains():
    y = ar1(0.5, 1000, 4, seed=2)
    assert float(split_rhat(y)) < 1.01
    shifted = y.clone()
    shifted[:, 0] += 2.0  # one chain stuck elsewhere
    assert float(split_rhat(shifted)) > 1.1
    trend = y + torch.linspace(0, 3, 1000, dtype=torch.float64)[:, None]  # non-stationary: splitting catches it
    assert float(split_rhat(trend)) > 1.1
    assert split_rhat(torch.randn(100, 4, 3, dtype=torch.float64)).shape == (3,)
    with pytest.raises(ValueError, match="draws"):
        split_rhat(torch.randn(2, 4))
