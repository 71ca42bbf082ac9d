"""Exact answers for the analytic energies: densities vs scipy, log Z vs quadrature, sample moments."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from ebm.energies import Banana, DoubleWell, Gaussian, GaussianMixture, Himmelblau, NealFunnel, Ring, WavyValley
from ebm.grid import grid_log_partition, grid_sample

COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)


def test_gaussian_log_prob_matches_scipy():
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64)
    g = Gaussian(mean, COV)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = stats.multivariate_normal(mean.numpy(), COV.numpy()).logpdf(x.numpy())
    np.testing.assert_allclose(g.log_prob(x).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_mixture_log_prob_matches_scipy():
    means = torch.tensor([[-1.0, 0.0], [1.5, 0.5], [0.0, 2.0]], dtype=torch.float64)
    covs = torch.stack([COV, 0.5 * torch.eye(2, dtype=torch.float64), torch.diag(torch.tensor([0.3, 2.0], dtype=torch.float64))])
    w = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    gm = GaussianMixture(means, covs, w)
    x = 2 * torch.randn(40, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dens = sum(w[k].item() * stats.multivariate_normal(means[k].numpy(), covs[k].numpy()).pdf(x.numpy()) for k in range(3))
    np.testing.assert_allclose(gm.log_prob(x).numpy(), np.log(dens), rtol=1e-10)


@pytest.mark.parametrize("energy_cls", [Gaussian, GaussianMixture, DoubleWell, Banana, Ring, NealFunnel, Himmelblau, WavyValley])
def test_forward_gradcheck_float64(energy_cls):
    from ebm.registry import ENERGIES

    energy = next(e.example() for e in ENERGIES.values() if e.cls is energy_cls).double()
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: energy(t), (x,))


@pytest.mark.parametrize(
    "energy, bounds",
    [
        (Gaussian(torch.zeros(2, dtype=torch.float64), COV), ((-9, 9), (-9, 9))),
        (DoubleWell(), ((-4, 4), (-4, 4))),
        (DoubleWell(barrier=6.0, separation=1.5, width=0.3), ((-4, 4), (-3, 3))),
        (Banana(), ((-8, 8), (-8, 40))),
        (Ring(), ((-5, 5), (-5, 5))),
        (Ring(radius=0.3, width=0.5), ((-5, 5), (-5, 5))),
        (WavyValley(), ((-14, 14), (-6, 6))),
    ],
)
def test_log_partition_matches_grid_quadrature(energy, bounds):
    # Midpoint rule on a 1,200² grid in float64 over a box holding all but ~1e-12 of the mass.
    estimate = grid_log_partition(energy, bounds, 1200, dtype=torch.float64)
    assert float(estimate) == pytest.approx(energy.log_partition().item(), abs=1e-6)


def test_neal_funnel_log_partition_by_rescaled_quadrature():
    # Substitute x = e^{v/2} u (Jacobian e^{v/2}) so every slice has the same width in u, then
    # integrate the implemented energy by the midpoint rule: Z = ∫∫ exp(-E(e^{v/2} u, v)) e^{v/2} du dv.
    funnel = NealFunnel(scale=3.0)
    n_v, n_u = 3000, 800
    v = -30 + (torch.arange(n_v, dtype=torch.float64) + 0.5) * (60 / n_v)
    u = -14 + (torch.arange(n_u, dtype=torch.float64) + 0.5) * (28 / n_u)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    pts = torch.stack([torch.exp(vv / 2) * uu, vv], -1)  # (n_v, n_u, 2)
    log_integrand = -funnel(pts) + vv / 2
    log_z = torch.logsumexp(log_integrand.reshape(-1), 0) + math.log(60 / n_v) + math.log(28 / n_u)
    assert float(log_z) == pytest.approx(funnel.log_partition().item(), abs=1e-8)


def test_himmelblau_log_partition_is_converged():
    h = Himmelblau(temperature=10.0)
    finer = grid_log_partition(h, ((-7.5, 7.5), (-7.5, 7.5)), 2400, dtype=torch.float64)
    assert float(finer) == pytest.approx(h.log_partition().item(), abs=1e-8)


def test_tempered_gaussian_log_partition_is_exact():
    g = Gaussian(torch.zeros(2, dtype=torch.float64), COV)
    t = g.tempered(3.0)
    grid = grid_log_partition(t, ((-15, 15), (-15, 15)), 1200)
    assert t.log_partition().item() == pytest.approx(float(grid), abs=1e-6)


def test_gaussian_sample_moments():
    # 200,000 exact samples: the standard error of each mean is ~0.0022 and of each covariance
    # entry ~0.004, so a 0.02 tolerance (> 5 s.e.) makes a false failure essentially impossible.
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    g = Gaussian(mean, COV)
    x = g.sample(200_000, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(x.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), COV, atol=0.02, rtol=0)


def test_mixture_sample_weights_and_labels():
    gm = GaussianMixture(torch.tensor([[-4.0, 0.0], [4.0, 0.0]]), 0.25 * torch.eye(2), torch.tensor([0.8, 0.2]))
    x, labels = gm.sample(100_000, generator=torch.Generator().manual_seed(4), return_labels=True)
    # binomial s.e. of the fraction is 0.0013; tolerance 0.01 > 7 s.e.
    assert labels.float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert ((x[:, 0] > 0) == (labels == 1)).float().mean() > 0.999


def test_grid_sample_matches_exact_moments():
    g = Gaussian(torch.zeros(2, dtype=torch.float64), COV)
    x = grid_sample(g, ((-8, 8), (-8, 8)), 100_000, resolution=400, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(torch.cov(x.T), COV, atol=0.03, rtol=0)


def test_mixture_score_is_weighted_component_scores():
    gm = GaussianMixture(torch.tensor([[-1.0, 0.0], [1.0, 1.0]], dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    x = torch.tensor([[0.3, 0.2]], dtype=torch.float64)
    r = gm.responsibilities(x)
    expected = -(r[0, 0] * (x - gm.means[0]) + r[0, 1] * (x - gm.means[1]))
    torch.testing.assert_close(gm.score(x), expected)


@pytest.mark.parametrize("fed_noise", [True, False], ids=["products inline", "products by GEMM"])
@pytest.mark.parametrize("d", [1, 2, 4, 3, 8])
def test_gaussian_compiled_layout_gives_the_same_numbers(d, fed_noise, monkeypatch):
    """Traced by dynamo, the Gaussian subtracts its mean on 16-wide rows (d dividing 16) and, where
    `samplers.compilation.inline_small_products` advises it, its `score` multiplies by Σ⁻¹ there
    too (d ≤ 4) so inductor fuses them; every layout gives the eager numbers."""
    import ebm.energies.analytic as analytic

    monkeypatch.setattr(analytic, "inline_small_products", lambda x: fed_noise)
    torch._dynamo.reset()  # each d is a new graph of the same code objects: stay under dynamo's recompile limit
    g = torch.Generator().manual_seed(d)
    a = torch.randn(d, d, generator=g)
    energy = Gaussian(torch.randn(d, generator=g), a @ a.T + d * torch.eye(d))
    x = torch.randn(48, d, generator=g)  # 48·d is a multiple of 16 for every d here but 3
    traced = torch.compile(lambda x: energy.energy_and_score(x), backend="eager", fullgraph=True)
    e, s = energy.energy_and_score(x)
    e_traced, s_traced = traced(x)
    torch.testing.assert_close(e_traced, e, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s_traced, s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(traced(x[:5])[1], s[:5], rtol=1e-5, atol=1e-5)  # rows that do not tile
    traced_score = torch.compile(lambda x: energy.score(x), backend="eager", fullgraph=True)
    torch.testing.assert_close(traced_score(x), s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(traced_score(x[:5]), s[:5], rtol=1e-5, atol=1e-5)
