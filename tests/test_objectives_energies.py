"""The two energies the training principles brought: QuadraticEnergy (exact normaliser, analytic
score) and NoiseConditionalEnergy (E(x, σ), usable by samplers.AnnealedLangevin both ways)."""

import math

import pytest
import torch

from ebm.energies import NoiseConditionalEnergy, QuadraticEnergy
from samplers import AnnealedLangevin


def test_quadratic_energy_matches_the_multivariate_normal():
    mean = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    prec = torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]], dtype=torch.float64)
    e = QuadraticEnergy(3, mean=mean, precision=prec)
    torch.testing.assert_close(e.precision.detach(), prec)
    ref = torch.distributions.MultivariateNormal(mean, precision_matrix=prec)
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(e.log_prob(x).detach(), ref.log_prob(x))
    # log Z by quadrature-free identity: log Z = d/2 log 2π - ½ log det P
    assert abs(e.log_partition().item() - (1.5 * math.log(2 * math.pi) - 0.5 * float(torch.logdet(prec)))) < 1e-12


def test_quadratic_energy_samples_have_the_right_covariance():
    e = QuadraticEnergy(2, precision=torch.tensor([[2.0, 0.5], [0.5, 1.0]]))
    x = e.sample(200_000, generator=torch.Generator().manual_seed(1))
    # Standard error of each covariance entry ≈ 0.003 at this n; tolerance 0.02.
    torch.testing.assert_close(torch.cov(x.T), torch.linalg.inv(e.precision.detach()), atol=0.02, rtol=0)


def test_noise_conditional_energy_scales_and_levels():
    model = NoiseConditionalEnergy(2, hidden=8, generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    per_sample = model(x, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]))
    assert per_sample.shape == (5,)
    torch.testing.assert_close(model(x, 0.3), model.at(0.3)(x))
    torch.testing.assert_close(model.score(x, 0.3), model.at(0.3).score(x))
    with pytest.raises(ValueError, match="sigma.*Fix:"):
        model(x, torch.ones(3))


def test_annealed_langevin_accepts_the_model_or_its_levels():
    sigmas = [1.0, 0.5, 0.1]
    model = NoiseConditionalEnergy(2, hidden=8, generator=torch.Generator().manual_seed(0))
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    a = AnnealedLangevin(sigmas, 1e-3).run(model, x0, 5, generator=torch.Generator().manual_seed(2)).x
    b = AnnealedLangevin(sigmas, 1e-3).run([model.at(s) for s in sigmas], x0, 5, generator=torch.Generator().manual_seed(2)).x
    torch.testing.assert_close(a, b)
    assert torch.isfinite(a).all() and not torch.equal(a, x0)
