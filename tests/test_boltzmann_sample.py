"""`sample(n, n_steps=, generator=)` on the Boltzmann family, against exact enumeration."""

import pytest
import torch
from scipy.stats import chisquare

from ebm.energies import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM
from ebm.energies.boltzmann import binary_states


def _frequencies(samples: torch.Tensor, n: int) -> torch.Tensor:
    index = (samples.long() * (1 << torch.arange(n))).sum(-1)  # state k has bit i = unit i, as binary_states
    return torch.bincount(index, minlength=1 << n).double()


def _chi_square_pvalue(samples, energy, n):
    states = binary_states(n, 0, 1 << n, dtype=torch.float64)  # (2^n, n)
    with torch.no_grad():
        p = torch.softmax(-energy.double()(states), 0)
    counts = _frequencies(samples, n)
    return chisquare(counts.numpy(), (p * counts.sum()).numpy()).pvalue


# Tolerance: a chi-square goodness-of-fit test at p > 1e-4 (seeded, so deterministic); 20,000
# chains after 30 sweeps of a 3- or 4-unit model are far past mixing, so only sampling noise is left.
def test_bernoulli_rbm_sample_matches_enumeration():
    rbm = BernoulliRBM(3, 2, weight_scale=1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rbm.visible_bias.copy_(torch.tensor([0.5, -1.0, 0.2]))
        rbm.hidden_bias.copy_(torch.tensor([-0.3, 0.8]))
    x = rbm.sample(20000, n_steps=30, generator=torch.Generator().manual_seed(1))
    assert x.shape == (20000, 3) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert _chi_square_pvalue(x, rbm, 3) > 1e-4


def test_boltzmann_machine_sample_matches_enumeration():
    bm = BoltzmannMachine(4, weight_scale=1.0, generator=torch.Generator().manual_seed(2))
    x = bm.sample(20000, n_steps=30, generator=torch.Generator().manual_seed(3))
    assert x.shape == (20000, 4)
    assert _chi_square_pvalue(x, bm, 4) > 1e-4


def test_gaussian_bernoulli_rbm_sample_mean_and_variance():
    rbm = GaussianBernoulliRBM(1, 2, sigma=0.5, weight_scale=1.0, generator=torch.Generator().manual_seed(4))
    x = rbm.sample(20000, n_steps=30, generator=torch.Generator().manual_seed(5)).double()
    grid = torch.linspace(-8, 8, 20001, dtype=torch.float64).unsqueeze(-1)  # quadrature of exp(-F(v))
    with torch.no_grad():
        w = torch.softmax(-rbm.double()(grid), 0)
    mean = float((w * grid[:, 0]).sum())
    var = float((w * (grid[:, 0] - mean) ** 2).sum())
    se = (var / x.shape[0]) ** 0.5
    assert abs(float(x.mean()) - mean) < 5 * se  # 5 standard errors: a seeded, non-flaky bound
    assert abs(float(x.var()) - var) < 0.05 * var


def test_sample_is_reproducible_and_validates_its_arguments():
    bm = BoltzmannMachine(5, generator=torch.Generator().manual_seed(0))
    a = bm.sample(7, n_steps=4, generator=torch.Generator().manual_seed(9))
    b = bm.sample(7, n_steps=4, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    rbm = BernoulliRBM(4, 3)
    for bad in (dict(n=0), dict(n=2.5), dict(n=3, n_steps=0), dict(n=3, generator=42)):
        with pytest.raises((TypeError, ValueError), match="Fix:"):
            rbm.sample(**bad)
