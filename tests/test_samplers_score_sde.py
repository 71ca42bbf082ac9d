"""Score-model samplers against a Gaussian data distribution, whose smoothed densities are exact:
data N(μ, Σ) smoothed by N(0, σ² I) is N(μ, Σ + σ² I), with score −(Σ + σ² I)⁻¹ (x − μ)."""

import math

import pytest
import torch

from ebm.energies import NoiseConditionalEnergy
from samplers import PredictorCorrector, ProbabilityFlowODE

MU = torch.tensor([1.0, -0.5], dtype=torch.float64)
SIGMA = torch.tensor([[0.5, 0.3], [0.3, 0.4]], dtype=torch.float64)


class SmoothedGaussian:
    """The exact noise-conditional energy of Gaussian data (a test oracle)."""

    def _prec(self, sigma):
        return torch.linalg.inv(SIGMA + sigma**2 * torch.eye(2, dtype=torch.float64))

    def __call__(self, x, sigma):
        r = x - MU
        return 0.5 * ((r @ self._prec(sigma)) * r).sum(-1)

    def score(self, x, sigma):
        return -(x - MU) @ self._prec(sigma)


def _log_normal(x, cov):
    return torch.distributions.MultivariateNormal(MU, cov).log_prob(x)


def test_ode_log_likelihood_is_exact_with_the_exact_prior(generator):
    x = torch.randn(20, 2, generator=generator, dtype=torch.float64)
    ode = ProbabilityFlowODE(50.0, 0.01)
    prior = lambda z: _log_normal(z, SIGMA + 50.0**2 * torch.eye(2, dtype=torch.float64))
    want = _log_normal(x, SIGMA + 0.01**2 * torch.eye(2, dtype=torch.float64))
    # RK4 is fourth order: the error falls 16-fold when the steps double (measured: 1e-4 at 100 steps).
    errors = [float((ode.log_likelihood(SmoothedGaussian(), x, n, prior=prior) - want).abs().max()) for n in (100, 200)]
    assert errors[1] < 1e-5 and 10 < errors[0] / errors[1] < 20, errors
    # The default prior N(0, σ_max² I) ignores the data's mean: the flow stretches x − μ by about
    # σ_max / ‖Σ‖^½, so the error is of order ‖x − μ‖‖μ‖ / (‖Σ‖^½ σ_max), falling as 1 / σ_max
    # (measured: 0.17 nats at σ_max = 50, ten times less at 500).
    errors = []
    for sigma_max in (50.0, 500.0):
        approx = ProbabilityFlowODE(sigma_max, 0.01).log_likelihood(SmoothedGaussian(), x, 150)
        errors.append(float((approx - want).abs().max()))
    assert errors[0] < 0.3 and 8 < errors[0] / errors[1] < 12, errors


def test_hutchinson_divergence_is_unbiased(generator):
    # One row repeated: every copy gets its own Rademacher probe, so the mean over copies estimates
    # the exact value; the probes' spread for this Σ is ~0.01 nats, so 4000 copies give se ~2e-4.
    x = torch.tensor([[0.3, 0.2]], dtype=torch.float64).repeat(4000, 1)
    ode = ProbabilityFlowODE(50.0, 0.01, divergence="hutchinson")
    exact = ProbabilityFlowODE(50.0, 0.01).log_likelihood(SmoothedGaussian(), x[:1], 60)
    est = ode.log_likelihood(SmoothedGaussian(), x, 60, generator=generator)
    assert float(est.std()) > 1e-4  # really stochastic
    assert abs(float(est.mean() - exact)) < 4 * float(est.std()) / math.sqrt(len(est))


def test_ode_maps_the_prior_to_the_data_distribution(generator):
    prior_cov = SIGMA + 50.0**2 * torch.eye(2, dtype=torch.float64)
    z = MU + torch.randn(4000, 2, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(prior_cov).T
    x = ProbabilityFlowODE(50.0, 0.01).run(SmoothedGaussian(), z, 100).x
    # The flow of a Gaussian is linear, so the pushed-forward samples are exactly Gaussian with the
    # data's covariance; the tolerance is the sampling error of 4,000 draws (se ≈ 0.01).
    torch.testing.assert_close(torch.cov(x.T), SIGMA, atol=0.04, rtol=0)
    torch.testing.assert_close(x.mean(0), MU, atol=0.04, rtol=0)


def test_predictor_corrector_samples_the_data_distribution(generator):
    z = 20.0 * torch.randn(4000, 2, generator=generator, dtype=torch.float64)
    x = PredictorCorrector(20.0, 0.01, snr=0.16, n_corrector=1).run(SmoothedGaussian(), z, 300, generator=generator).x
    # Discretisation bias at 300 levels plus the sampling error of 4,000 draws (se ≈ 0.01).
    torch.testing.assert_close(torch.cov(x.T), SIGMA, atol=0.05, rtol=0)
    torch.testing.assert_close(x.mean(0), MU, atol=0.05, rtol=0)


def test_samplers_run_on_a_noise_conditional_energy(generator):
    model = NoiseConditionalEnergy(2, hidden=16, generator=torch.Generator().manual_seed(0)).double()
    z = 5.0 * torch.randn(16, 2, generator=generator, dtype=torch.float64)
    assert PredictorCorrector(5.0, 0.05).run(model, z, 20, generator=generator).x.shape == (16, 2)
    ll = ProbabilityFlowODE(5.0, 0.05).log_likelihood(model, torch.randn(8, 2, dtype=torch.float64, generator=generator), 10)
    assert ll.shape == (8,) and bool(torch.isfinite(ll).all())


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: PredictorCorrector(1.0, 2.0), ValueError, "sigma_min"),
        (lambda: PredictorCorrector(10.0, 0.1, snr=0), ValueError, "snr"),
        (lambda: PredictorCorrector(10.0, 0.1, n_corrector=-1), ValueError, "n_corrector"),
        (lambda: PredictorCorrector(10.0, 0.1).run(SmoothedGaussian(), torch.zeros(4, 2, dtype=torch.float64), 1), ValueError, "n_steps"),
        (lambda: PredictorCorrector(10.0, 0.1).run(lambda x, s: x.sum(), torch.zeros(4, 2, dtype=torch.float64), 5), ValueError, "one energy per row"),
        (lambda: ProbabilityFlowODE(10.0, 0.1, divergence="skilling"), ValueError, "divergence"),
        (lambda: ProbabilityFlowODE(10.0, 0.1).run("model", torch.zeros(4, 2), 5), TypeError, "callable"),
        (lambda: ProbabilityFlowODE(10.0, 0.1).log_likelihood(SmoothedGaussian(), torch.zeros(4, 2, dtype=torch.long), 5), TypeError, "floating"),
    ],
)
def test_bad_input_gets_a_clear_error(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)
