"""ULA, MALA, HMC and annealed Langevin: exact identities first, then statistics with stated tolerances.

Statistical checks compare estimates from independent chains (final states of B chains, which are
i.i.d.) with the exact answer at ``Z = 4.5`` standard errors: a two-sided false-failure
probability of 2(1 - Φ(4.5)) = 6.8e-6 per check, so < 1e-4 for all checks in this file together
(for a random seed; with the fixed seeds below the tests are deterministic).
"""

import math

import pytest
import torch

from samplers import HMC, MALA, ULA, AnnealedLangevin, SamplerDivergedError, SamplerWarning

Z = 4.5
COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
PREC = torch.linalg.inv(COV)
MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)

def gauss_energy(x):
    d = x - MEAN
    return 0.5 * ((d @ PREC) * d).sum(-1)


class AnalyticGauss:
    """A plain class with energy_and_score (the ebm.Energy protocol without importing ebm)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        return gauss_energy(x)

    def energy_and_score(self, x):
        self.calls += 1
        pd = (x - MEAN) @ PREC
        return 0.5 * (pd * (x - MEAN)).sum(-1), -pd


def check_moments(x, label):
    """Means and second central moments of (n, 2) i.i.d. draws against MEAN/COV within Z standard errors."""
    n = x.shape[0]
    m = x.mean(0)
    se_m = COV.diagonal().sqrt() / math.sqrt(n)
    assert ((m - MEAN).abs() < Z * se_m).all(), (label, m)
    d = x - MEAN
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        prod = d[:, i] * d[:, j]
        se = prod.std() / math.sqrt(n)
        assert abs(prod.mean() - COV[i, j]) < Z * se, (label, i, j, prod.mean())


def g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("eps", [0.2, 0.4])
def test_ula_shows_exact_stationary_bias_and_mala_removes_it(eps):
    # On N(0, σ²) ULA is the AR(1) x' = (1 - ε/σ²) x + √(2ε) ξ with variance σ²/(1 - ε/(2σ²)).
    sigma2, n = 1.0, 10000
    energy = lambda x: 0.5 * x.squeeze(-1) ** 2 / sigma2
    x0 = torch.zeros(n, 1, dtype=torch.float64)
    ula = ULA(eps).run(energy, x0, 100, generator=g(1)).x.squeeze(-1)
    mala = MALA(eps).run(energy, x0, 100, generator=g(2)).x.squeeze(-1)
    exact_ula = sigma2 / (1 - eps / (2 * sigma2))
    se = lambda v: v * math.sqrt(2 / n)  # s.e. of a Gaussian sample variance
    assert abs(ula.var() - exact_ula) < Z * se(exact_ula)
    assert abs(ula.var() - sigma2) > Z * se(exact_ula)  # the bias is really visible
    assert abs(mala.var() - sigma2) < Z * se(sigma2)


def test_energy_score_and_autograd_paths_give_identical_chains():
    x0 = torch.zeros(64, 2, dtype=torch.float64)
    class WithScore:
        def __call__(self, x):
            return gauss_energy(x)
        def score(self, x):
            return -(x - MEAN) @ PREC
    for sampler in [ULA(0.1), MALA(0.3), HMC(0.2, 3)]:
        outs = [sampler.run(e, x0, 20, generator=g(3)).x for e in (gauss_energy, WithScore(), AnalyticGauss())]
        torch.testing.assert_close(outs[0], outs[1])
        torch.testing.assert_close(outs[0], outs[2])


def test_each_proposal_evaluates_the_energy_once():
    e = AnalyticGauss()
    MALA(0.3).run(e, torch.zeros(8, 2, dtype=torch.float64), 25, generator=g())
    assert e.calls == 1 + 25
    e = AnalyticGauss()
    HMC(0.2, n_leapfrog=4).run(e, torch.zeros(8, 2, dtype=torch.float64), 10, generator=g())
    assert e.calls == 1 + 10 * 4


@pytest.mark.parametrize("name", ["mala", "mala_adapted", "hmc", "hmc_mass"])
def test_moments_of_correlated_gaussian(name):
    samplers = {
        "mala": MALA(0.3),
        "mala_adapted": MALA(0.05, warmup_steps=150, adapt_step_size=True),
        "hmc": HMC(0.25, n_leapfrog=5),
        "hmc_mass": HMC(0.3, n_leapfrog=5, mass=torch.tensor([2.0, 1.0], dtype=torch.float64)),
    }
    x0 = torch.full((4000, 2), -2.0, dtype=torch.float64)  # far from the mode: tests convergence too
    r = samplers[name].run(AnalyticGauss(), x0, 300 if name.startswith("mala") else 150, generator=g(4))
    check_moments(r.x, name)
    assert r.acceptance_rate.shape == (4000,)
    assert not r.diverged.any()


def test_adaptation_reaches_target_and_freezes_per_chain_step_sizes():
    r = MALA(0.01, warmup_steps=300, adapt_step_size=True, adaptation="per_chain").run(AnalyticGauss(), torch.zeros(500, 2, dtype=torch.float64), 400, generator=g(5))
    assert r.step_size.shape == (500,)
    assert r.step_size.min() > 0.05  # moved well away from the poor initial 0.01
    assert abs(float(r.acceptance_rate.mean()) - 0.574) < 0.08
    r = HMC(0.01, 5, warmup_steps=200, adapt_step_size=True).run(AnalyticGauss(), torch.zeros(500, 2, dtype=torch.float64), 200, generator=g(6))
    assert 0.55 < float(r.acceptance_rate.mean()) < 0.9


@pytest.mark.filterwarnings("ignore::samplers.SamplerWarning")  # the large steps freeze some chains, on purpose
@pytest.mark.parametrize("cls", ["mala", "hmc"])
def test_acceptance_decreases_with_step_size(cls):
    # HMC steps stay below the leapfrog stability limit 2/√λ_max(Σ⁻¹) ≈ 0.89: near it, acceptance
    # of L-step HMC on a Gaussian is not monotone (near-periodic trajectories), as theory says.
    steps = [0.05, 0.3, 0.8, 1.5] if cls == "mala" else [0.1, 0.3, 0.5, 0.7]
    rates, ses = [], []
    for eps in steps:
        s = MALA(eps) if cls == "mala" else HMC(eps, n_leapfrog=5)
        r = s.run(AnalyticGauss(), torch.zeros(2000, 2, dtype=torch.float64), 100, generator=g(7))
        rates.append(float(r.acceptance_rate.mean()))
        ses.append(float(r.acceptance_rate.std()) / math.sqrt(2000))  # chains are independent
    for k in range(len(steps) - 1):
        assert rates[k] - rates[k + 1] > Z * math.hypot(ses[k], ses[k + 1]), (rates, ses)


def test_trajectory_energies_and_dtype_follow_x0():
    r = MALA(0.3, thin=5, record_energies=True).run(AnalyticGauss(), torch.zeros(10, 2, dtype=torch.float64), 50, generator=g())
    assert r.trajectory.shape == (10, 10, 2) and r.trajectory.dtype == torch.float64
    assert r.energies.shape == (50, 10)
    torch.testing.assert_close(r.energies[-1], gauss_energy(r.x))
    torch.testing.assert_close(r.trajectory[-1], r.x)
    r32 = ULA(0.1).run(lambda x: 0.5 * (x ** 2).sum(-1), torch.zeros(4, 3), 5, generator=g())
    assert r32.x.dtype == torch.float32


def test_ula_grad_clip_exact_first_step():
    """One step from x0 = 1.5: the score -100·x0 has norm 212, clipped to 1 it is -x0/|x0|, so
    x1 = x0 - ε/√2 + √(2ε) ξ exactly, with ξ the first draw of the generator. A no-op grad_clip
    would give x0 - 100 ε x0 + √(2ε) ξ = -13.5 + √(2ε) ξ instead."""
    energy = lambda x: 50.0 * (x ** 2).sum(-1)
    x0 = torch.full((16, 2), 1.5, dtype=torch.float64)
    r = ULA(0.1, grad_clip=1.0).run(energy, x0, 1, generator=g(3))
    xi = torch.randn((1, 16, 2), generator=g(3), dtype=torch.float64)[0]  # the loop's noise chunk
    torch.testing.assert_close(r.x, x0 - 0.1 / math.sqrt(2) + math.sqrt(0.2) * xi, rtol=0, atol=1e-12)
    # Below the clip the score passes through unchanged (clip only shrinks); that step overshoots.
    with pytest.warns(SamplerWarning, match="ran away"):
        r = ULA(0.1, grad_clip=1e6).run(energy, x0, 1, generator=g(3))
    torch.testing.assert_close(r.x, x0 - 0.1 * 100 * x0 + math.sqrt(0.2) * xi, rtol=0, atol=1e-12)


def test_ula_clamp_holds_an_exploding_chain_at_the_box():
    """ε = 0.1 on 50|x|² multiplies x by -9 a step: unclamped the chain overflows to inf (diverges);
    the clamp must keep it finite and pinned to the faces of the box."""
    energy = lambda x: 50.0 * (x ** 2).sum(-1)
    with pytest.raises(SamplerDivergedError):
        ULA(0.1).run(energy, torch.full((16, 2), 1.5), 60, generator=g())
    r = ULA(0.1, clamp=(-2.0, 2.0)).run(energy, torch.full((16, 2), 1.5), 60, generator=g())
    assert torch.isfinite(r.x).all() and r.x.abs().max() <= 2.0
    assert (r.x.abs() == 2.0).float().mean() > 0.9  # pinned to a face, not merely inside the box


def test_annealed_langevin_callable_and_sequence_agree():
    sigmas = [2.0, 1.0, 0.5]
    e_sig = lambda x, s: 0.5 * (x ** 2).sum(-1) / (1.0 + s ** 2)  # N(0, 1) convolved with N(0, σ²)
    seq = [lambda x, s=s: e_sig(x, s) for s in sigmas]
    x0 = torch.randn(2000, 2, generator=g(8)) * 3
    a = AnnealedLangevin(sigmas, 0.05).run(e_sig, x0, 100, generator=g(9))
    b = AnnealedLangevin(sigmas, 0.05).run(seq, x0, 100, generator=g(9))
    torch.testing.assert_close(a.x, b.x)
    # At the last level the target is N(0, 1 + σ_L²) = N(0, 1.25); ULA bias at ε = 0.05 is ~1%.
    assert abs(float(a.x.var()) - 1.25 / (1 - 0.05 / 2.5)) < 0.1
    d = AnnealedLangevin(sigmas, 0.05, denoise=True).run(e_sig, x0, 100, generator=g(9))
    assert float(d.x.var()) < float(a.x.var())  # Tweedie shrinks toward the clean mean
