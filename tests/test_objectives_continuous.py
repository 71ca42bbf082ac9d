"""Continuous training principles against exact answers: the Gaussian energy's score-matching,
denoising-score-matching and NCE optima in closed form, finite-difference gradient checks in
float64, invariance to the normaliser, and clear errors."""

import math

import pytest
import torch
from helpers import finite_difference_check

import ebm.train
from ebm.energies import NoiseConditionalEnergy, QuadraticEnergy
from ebm.energy import Energy
from ebm.objectives import (
    DenoisingScoreMatching,
    MultiLevelDenoisingScoreMatching,
    NoiseContrastiveEstimation,
    ScoreMatching,
    SlicedScoreMatching,
    geometric_sigmas,
)
from ebm.objectives.noise_contrastive_estimation import _sample

TRUE_MEAN = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
TRUE_COV = torch.tensor([[1.0, 0.4, 0.1], [0.4, 0.8, -0.2], [0.1, -0.2, 0.5]], dtype=torch.float64)


def _data(n, generator):
    chol = torch.linalg.cholesky(TRUE_COV)
    return TRUE_MEAN + torch.randn(n, 3, generator=generator, dtype=torch.float64) @ chol.T  # (n, 3)


def _sample_moments(x):
    mean = x.mean(0)
    centred = x - mean
    return mean, centred.T @ centred / x.shape[0]  # 1/n covariance: the exact optimum uses it


def _fit_lbfgs(model, loss_fn, extra_params=(), steps=200):
    params = list(model.parameters()) + list(extra_params)
    opt = torch.optim.LBFGS(params, lr=1, max_iter=steps, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    opt.step(closure)
    return model


class Shifted(Energy):
    """``E(x) + c``: the same density, another normaliser."""

    def __init__(self, base, c):
        super().__init__(base.event_shape)
        self.base, self.c = base, c

    def forward(self, x):
        return self.base(x) + self.c


# ---------------------------------------------------------------- exact optima


def test_score_matching_minimiser_is_inverse_sample_covariance(generator):
    x = _data(200, generator)
    mean, cov = _sample_moments(x)
    model = QuadraticEnergy(3).double()
    # Through the shared loop with L-BFGS, full batch.
    # (the loop's L-BFGS stops at its default tolerances, hence 1e-4 rather than 1e-6)
    ebm.train.train(model, ScoreMatching(), x, epochs=5, batch_size=200, optimizer="lbfgs", lr=1.0, generator=generator)
    torch.testing.assert_close(model.mean.detach(), mean, atol=1e-4, rtol=0)
    torch.testing.assert_close(model.precision.detach(), torch.linalg.inv(cov), atol=1e-4, rtol=0)
    # And tightly with a plain L-BFGS.
    sm = ScoreMatching()
    _fit_lbfgs(model, lambda: sm(model, x))
    torch.testing.assert_close(model.mean.detach(), mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(model.precision.detach(), torch.linalg.inv(cov), atol=1e-6, rtol=0)


def test_denoising_score_matching_minimiser_is_inverse_of_smoothed_covariance(generator):
    """With the noise set {±√d e_i} paired with every point the DSM loss of a quadratic energy
    equals its expectation over Gaussian noise exactly (the loss is quadratic in ε and this set has
    mean 0 and second moment I), so the optimum is exactly (S + σ²I)⁻¹."""
    sigma, d = 0.7, 3
    x = _data(300, generator)
    mean, cov = _sample_moments(x)
    basis = math.sqrt(d) * torch.eye(d, dtype=torch.float64)
    noise_set = torch.cat([basis, -basis])  # (2d, d)
    x_rep = x.repeat_interleave(2 * d, dim=0)  # (n·2d, d)
    eps = noise_set.repeat(x.shape[0], 1)  # (n·2d, d)
    model = QuadraticEnergy(d).double()
    dsm = DenoisingScoreMatching(sigma)
    _fit_lbfgs(model, lambda: dsm(model, x_rep, noise=eps))
    torch.testing.assert_close(model.mean.detach(), mean, atol=1e-6, rtol=0)
    expected = torch.linalg.inv(cov + sigma**2 * torch.eye(d, dtype=torch.float64))
    torch.testing.assert_close(model.precision.detach(), expected, atol=1e-6, rtol=0)


def _nce_fit(x, noise, ratio, seed):
    g = torch.Generator().manual_seed(seed)
    model = QuadraticEnergy(3).double()
    nce = NoiseContrastiveEstimation(noise, noise_ratio=ratio).double()
    y = _sample(noise, ratio * x.shape[0], g)  # fixed draws: a deterministic loss for L-BFGS
    _fit_lbfgs(model, lambda: nce(model, x, noise_samples=y), extra_params=nce.parameters(), steps=300)
    true_prec = torch.linalg.inv(TRUE_COV)
    true_logz = 0.5 * 3 * math.log(2 * math.pi) + 0.5 * torch.logdet(TRUE_COV)
    with torch.no_grad():
        return (
            float((model.mean - TRUE_MEAN).norm()),
            float((model.precision - true_prec).norm()),
            float((nce.log_normalizer - true_logz).abs()),
            float((nce.log_normalizer - model.log_partition()).abs()),
        )


def _nce_noise():
    return torch.distributions.MultivariateNormal(TRUE_MEAN.clone() * 0, 2.0 * torch.eye(3, dtype=torch.float64))


def test_nce_recovers_mean_precision_and_log_normaliser():
    x = _data(2000, torch.Generator().manual_seed(3))
    mean_err, prec_err, logz_err, self_consistency = _nce_fit(x, _nce_noise(), ratio=5, seed=0)
    # Tolerances: about 3-4 standard errors of the estimators at n = 2000 (seeded, deterministic).
    assert mean_err < 0.08 and prec_err < 0.25 and logz_err < 0.08, (mean_err, prec_err, logz_err)
    # c estimates log Z of the fitted energy, not just of the truth.
    assert self_consistency < 0.05


def test_nce_error_falls_as_noise_ratio_grows():
    """Averaged over 3 noise draws (fixed seeds): ν = 10 beats ν = 1 on mean, precision and log Z
    (measured: mean squared errors 0.0059 / 0.040 / 0.0019 at ν = 1 vs 0.0015 / 0.012 / 0.0005 at ν = 10)."""
    x = _data(800, torch.Generator().manual_seed(4))
    errors = {}
    for ratio in (1, 10):
        runs = torch.tensor([_nce_fit(x, _nce_noise(), ratio, seed)[:3] for seed in range(3)])
        errors[ratio] = runs.pow(2).mean(0)  # mean squared error per quantity
    assert bool((errors[10] < errors[1]).all()), errors


# ---------------------------------------------------------------- sliced SM is unbiased for SM


@pytest.mark.parametrize("variance_reduction", [True, False])
@pytest.mark.parametrize("projection", ["gaussian", "rademacher"])
def test_sliced_score_matching_matches_exact_score_matching_in_expectation(variance_reduction, projection):
    g = torch.Generator().manual_seed(5)
    model = QuadraticEnergy(3, mean=torch.tensor([0.3, 0.0, -0.2]), precision=torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.7]])).double()
    x = _data(50, g)
    exact = ScoreMatching()(model, x).item()
    ssm = SlicedScoreMatching(4000, variance_reduction=variance_reduction, projection=projection)
    sliced = ssm(model, x, generator=g).item()
    # Monte Carlo error over 200k projections: standard deviation < 0.02 here; tolerance 0.1.
    assert abs(sliced - exact) < 0.1, (sliced, exact)


def test_sliced_score_matching_variance_reduction_lowers_variance():
    model = QuadraticEnergy(3).double()
    x = _data(64, torch.Generator().manual_seed(6))
    spread = {}
    for vr in (True, False):
        g = torch.Generator().manual_seed(7)
        values = torch.tensor([SlicedScoreMatching(1, variance_reduction=vr)(model, x, generator=g).item() for _ in range(40)])
        spread[vr] = float(values.std())
    assert spread[True] < spread[False]


# ---------------------------------------------------------------- gradient checks (float64)




def _gaussian_model():
    return QuadraticEnergy(2, mean=torch.tensor([0.2, -0.1]), precision=torch.tensor([[1.5, 0.3], [0.3, 0.8]])).double()


@pytest.mark.parametrize(
    "make",
    [
        lambda: ScoreMatching(),
        lambda: DenoisingScoreMatching(0.3),
        lambda: SlicedScoreMatching(3),
        lambda: SlicedScoreMatching(2, variance_reduction=False, projection="rademacher"),
        lambda: NoiseContrastiveEstimation(
            torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), 3 * torch.eye(2, dtype=torch.float64)), 3
        ).double(),
    ],
)
def test_gradcheck_float64(make):
    objective = make()
    model = _gaussian_model()
    x = torch.randn(12, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    params = list(model.parameters()) + list(objective.parameters())

    def loss_fn():  # the same random numbers every call
        return objective(model, x, generator=torch.Generator().manual_seed(9))

    finite_difference_check(loss_fn, params)


def test_gradcheck_float64_multilevel_dsm_neural():
    model = NoiseConditionalEnergy(2, hidden=6, depth=1, generator=torch.Generator().manual_seed(0)).double()
    objective = MultiLevelDenoisingScoreMatching([1.0, 0.3, 0.1])
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    finite_difference_check(lambda: objective(model, x, generator=torch.Generator().manual_seed(2)), list(model.parameters()))


# ---------------------------------------------------------------- invariances


@pytest.mark.parametrize("make", [ScoreMatching, lambda: DenoisingScoreMatching(0.2), lambda: SlicedScoreMatching(2)])
def test_score_objectives_ignore_the_normaliser(make):
    objective = make()
    model = _gaussian_model()
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    base = objective(model, x, generator=torch.Generator().manual_seed(4))
    shifted = objective(Shifted(model, 17.5), x, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(base, shifted)


def test_nce_absorbs_a_constant_into_the_log_normaliser():
    noise = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), 3 * torch.eye(2, dtype=torch.float64))
    model = _gaussian_model()
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    a = NoiseContrastiveEstimation(noise, 2).double()
    b = NoiseContrastiveEstimation(noise, 2, init_log_normalizer=-4.0).double()
    la = a(model, x, generator=torch.Generator().manual_seed(5))
    lb = b(Shifted(model, 4.0), x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(la, lb)


def test_nce_noise_is_reproducible_and_leaves_global_rng_alone():
    noise = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    nce = NoiseContrastiveEstimation(noise, 4)
    model = QuadraticEnergy(2)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    a = nce(model, x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(state, torch.get_rng_state())
    b = nce(model, x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


# ---------------------------------------------------------------- training loop and bad inputs


@pytest.mark.parametrize(
    "make",
    [
        ScoreMatching,
        lambda: DenoisingScoreMatching(0.3),
        lambda: SlicedScoreMatching(2),
        lambda: NoiseContrastiveEstimation(torch.distributions.MultivariateNormal(torch.zeros(3), 3 * torch.eye(3)), 2),
    ],
)
def test_trains_through_the_shared_loop(make, generator):
    x = _data(512, generator).float()
    model = QuadraticEnergy(3)
    history = ebm.train.train(model, make(), x, epochs=15, batch_size=128, lr=0.05, generator=generator)
    assert len(history.losses) == 60
    # The losses are noisy (DSM, SSM, NCE draw noise), so judge the parameters: the mean starts 1.15 away.
    assert float((model.mean.detach() - TRUE_MEAN.float()).norm()) < 0.3


def test_multilevel_dsm_trains_noise_conditional_energy(generator):
    x = _data(512, generator).float()
    model = NoiseConditionalEnergy(3, hidden=32, generator=generator)
    objective = MultiLevelDenoisingScoreMatching(geometric_sigmas(2.0, 0.1, 5))
    history = ebm.train.train(model, objective, x, epochs=10, batch_size=128, lr=3e-3, generator=generator)
    assert history.epoch_losses[-1] < history.epoch_losses[0]


def test_bad_inputs_have_clear_errors():
    model = QuadraticEnergy(2)
    with pytest.raises(ValueError, match="sigma.*Fix:"):
        DenoisingScoreMatching(-0.1)
    with pytest.raises(TypeError, match="real-valued.*Fix:"):
        ScoreMatching()(model, torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="event shape.*Fix:"):
        NoiseContrastiveEstimation(torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3)), 1)(model, torch.zeros(3, 2))
    with pytest.raises(TypeError, match="noise_conditional.*Fix:"):
        MultiLevelDenoisingScoreMatching([1.0, 0.1])(model, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="finite"):
        ScoreMatching()(model, torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="sigma_min"):
        geometric_sigmas(0.1, 1.0, 3)
