"""Underdamped Langevin (BAOAB) and SVGD: covariances of Gaussians they must reproduce, bad input."""

import math

import pytest
import torch

from samplers import SVGD, SamplerDivergedError, UnderdampedLangevin


def _gaussian(cov):
    prec = torch.linalg.inv(cov)
    return lambda x: 0.5 * ((x @ prec) * x).sum(-1)


def test_baoab_stationary_position_variance_is_exact_on_a_gaussian(generator):
    # BAOAB samples the position marginal of a Gaussian exactly at any stable step (Leimkuhler &
    # Matthews 2013): started from the target with h = 0.8 (ULA at this step would give
    # σ²/(1 − h/2) = 1.67σ²), the variance must stay σ² = 1. 4,000 chains x 200 kept steps:
    # the standard error of the variance estimate is about 0.01 (autocorrelated), so 0.05 is > 4 se.
    x0 = torch.randn(4000, 1, generator=generator, dtype=torch.float64)
    r = UnderdampedLangevin(0.8, friction=1.0, thin=1).run(lambda x: 0.5 * x.square().sum(-1), x0, 200, generator=generator)
    assert abs(float(r.trajectory.var()) - 1.0) < 0.05


def test_underdamped_reproduces_a_correlated_gaussian(generator):
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
    x0 = torch.randn(2000, 2, generator=generator, dtype=torch.float64)
    r = UnderdampedLangevin(0.3, friction=1.0, warmup_steps=200, thin=5).run(_gaussian(cov), x0, 500, generator=generator)
    draws = r.trajectory.reshape(-1, 2)
    torch.testing.assert_close(torch.cov(draws.T), cov, atol=0.04, rtol=0)
    assert draws.mean(0).abs().max() < 0.03


def test_underdamped_with_mass_on_an_ill_conditioned_10d_gaussian(generator):
    # Variances from 0.01 to 100 (condition number 1e4). With mass = 1 / variance the dynamics are
    # isotropic and one step size serves every direction; without it the same step diverges.
    var = torch.logspace(-2, 2, 10, dtype=torch.float64)
    energy = lambda x: 0.5 * (x.square() / var).sum(-1)
    x0 = torch.randn(1000, 10, generator=generator, dtype=torch.float64) * var.sqrt()
    r = UnderdampedLangevin(0.5, friction=1.0, mass=1 / var, warmup_steps=100, thin=5).run(energy, x0, 500, generator=generator)
    ratio = r.trajectory.reshape(-1, 10).var(0) / var
    assert (ratio - 1).abs().max() < 0.08, ratio
    with pytest.raises(SamplerDivergedError):
        UnderdampedLangevin(0.5, friction=1.0).run(energy, x0, 200, generator=generator)


def test_svgd_particles_reach_mean_and_covariance(generator):
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64)
    prec = torch.linalg.inv(cov)
    energy = lambda x: 0.5 * (((x - mean) @ prec) * (x - mean)).sum(-1)
    x0 = torch.randn(300, 2, generator=generator, dtype=torch.float64) * 0.5 + 4.0
    r = SVGD(0.1).run(energy, x0, 1500)
    # SVGD with n particles is deterministic; with 300 particles in 2-D its moments match to a few
    # per cent (the finite-particle error). Measured here: mean error < 0.01, covariance error < 0.05.
    torch.testing.assert_close(r.x.mean(0), mean, atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(r.x.T), cov, atol=0.15, rtol=0)


def test_svgd_sgd_step_and_fixed_bandwidth_run(generator):
    x0 = torch.randn(50, 2, generator=generator) + 3
    r = SVGD(0.05, optimizer="sgd", bandwidth=1.0, thin=10).run(lambda x: 0.5 * x.square().sum(-1), x0, 200)
    assert r.trajectory.shape == (20, 50, 2) and r.extras["bandwidth"] == 1.0
    assert float(r.x.mean(0).norm()) < float(x0.mean(0).norm())


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: UnderdampedLangevin(-0.1), ValueError, "step_size"),
        (lambda: UnderdampedLangevin(0.1, friction=0), ValueError, "friction"),
        (lambda: UnderdampedLangevin(0.1, mass=-torch.ones(2)), ValueError, "mass"),
        (lambda: UnderdampedLangevin(0.1, mass=torch.ones(3)).run(lambda x: x.square().sum(-1), torch.zeros(4, 2), 5), ValueError, "mass"),
        (lambda: UnderdampedLangevin(0.1).run(lambda x: x.square().sum(), torch.zeros(4, 2), 5), ValueError, "one energy per chain"),
        (lambda: UnderdampedLangevin(0.1).run(lambda x: x.square().sum(-1), torch.zeros(4, 2), 0), ValueError, "n_steps"),
        (lambda: SVGD(0.1).run(lambda x: x.square().sum(-1), torch.zeros(1, 2), 5), ValueError, "at least 2"),
        (lambda: SVGD(0.1, bandwidth="silverman"), ValueError, "bandwidth"),
        (lambda: SVGD(0.1, optimizer="adam"), ValueError, "optimizer"),
        (lambda: SVGD(0.1).run(lambda x: x.square().sum(-1), torch.zeros(4, 2, dtype=torch.long), 5), TypeError, "floating"),
    ],
)
def test_bad_input_gets_a_clear_error(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)
