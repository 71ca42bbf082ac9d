"""Concept composition: AND (sum), OR (log-sum-exp mixture) and NOT (negation against a base),
against closed forms and grid quadrature, plus bad input."""

import math

import pytest
import torch

from ebm import NotEnergy, OrEnergy, SumEnergy
from ebm.energies import Gaussian, GaussianMixture, QuadraticEnergy, Ring
from ebm.energy import Negation
from ebm.grid import grid_log_partition

BOX = ((-14, 14), (-14, 14))


def _g(mean, var):
    return Gaussian(torch.tensor(mean, dtype=torch.float64), var * torch.eye(2, dtype=torch.float64))


def test_or_of_gaussians_is_the_mixture_weighted_by_partition_functions():
    a, b = _g([-1.0, 0.0], 0.5), _g([2.0, 1.0], 2.0)
    either = a | b
    assert isinstance(either, OrEnergy)
    z_a, z_b = 2 * math.pi * 0.5, 2 * math.pi * 2.0  # Z = 2π √det Σ in 2-D
    assert float(either.log_partition()) == pytest.approx(math.log(z_a + z_b), abs=1e-12)
    # the normalised composition is the mixture with weights Z_i / ΣZ_j (0.2, 0.8), not (0.5, 0.5)
    mix = GaussianMixture(torch.stack([a.mean, b.mean]), torch.stack([a.covariance, b.covariance]), torch.tensor([0.2, 0.8], dtype=torch.float64))
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    torch.testing.assert_close(either.log_prob(x), mix.log_prob(x), rtol=0, atol=1e-12)
    assert float(grid_log_partition(either, BOX, 600)) == pytest.approx(math.log(z_a + z_b), abs=1e-6)


def test_or_score_is_the_responsibility_weighted_score_and_ors_flatten():
    a, b, c = _g([-1.0, 0.0], 0.5), _g([2.0, 1.0], 2.0), _g([0.0, 3.0], 1.0)
    either = (a | b) | c
    assert len(either.terms) == 3
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(either(x).sum(), x)
    e, s = either.energy_and_score(x.detach())
    torch.testing.assert_close(s, -grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(e, -torch.logsumexp(torch.stack([-a(x), -b(x), -c(x)]), 0).detach(), rtol=0, atol=1e-12)


def test_not_against_a_gaussian_base_has_the_closed_form_log_partition():
    base, neg = _g([0.0, 0.0], 4.0), _g([1.0, -0.5], 1.0)
    alpha = 0.2
    comp = base.but_not(neg, alpha)
    # by hand: P = 1/4 - 0.2 = 0.05 per axis (isotropic), h = -0.2 μ_n, c = -0.1 |μ_n|²
    p, mu_n = 0.05, torch.tensor([1.0, -0.5], dtype=torch.float64)
    h = -alpha * mu_n
    c = -0.5 * alpha * float(mu_n @ mu_n)
    expected = math.log(2 * math.pi) - math.log(p) + 0.5 * float(h @ h) / p - c
    assert float(comp.log_partition().detach()) == pytest.approx(expected, abs=1e-10)
    wide = ((-150, 150), (-150, 150))  # P = 0.05: standard deviation 4.5, centre at -h/P = (4, -2)
    assert float(grid_log_partition(comp, wide, 1000)) == pytest.approx(expected, abs=1e-6)
    x = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(comp(x), base(x) - alpha * neg(x), rtol=0, atol=1e-12)


def test_not_operator_and_quadratic_parts():
    base = QuadraticEnergy(2, mean=torch.zeros(2, dtype=torch.float64), precision=4 * torch.eye(2, dtype=torch.float64))
    neg = _g([0.5, 0.0], 1.0)
    comp = base + ~neg
    assert isinstance(comp, NotEnergy) and comp.alpha == 1.0
    # P = 4I - I = 3I, h = -μ_n, c = -½|μ_n|²
    h = -torch.tensor([0.5, 0.0], dtype=torch.float64)
    expected = math.log(2 * math.pi) - math.log(3.0) + 0.5 * float(h @ h) / 3 + 0.5 * 0.25
    assert float(comp.log_partition().detach()) == pytest.approx(expected, abs=1e-10)
    assert isinstance(base + neg, SumEnergy)


def test_not_that_cannot_be_normalised_is_refused():
    with pytest.raises(ValueError, match="not integrable") as info:
        _g([0.0, 0.0], 1.0).but_not(_g([0.0, 0.0], 1.0), alpha=1.5)
    assert "Fix:" in str(info.value)
    with pytest.raises(TypeError, match="base") as info:
        (~_g([0.0, 0.0], 1.0))(torch.zeros(2, 2))
    assert "Fix:" in str(info.value)
    with pytest.raises(ValueError, match="alpha"):
        Negation(_g([0.0, 0.0], 1.0), alpha=-1.0)


def test_not_of_non_gaussian_parts_says_to_estimate_log_z():
    comp = NotEnergy(Ring(), _g([0.0, 0.0], 1.0).float(), 0.1)
    assert comp(torch.zeros(3, 2)).shape == (3,)
    with pytest.raises(NotImplementedError, match="grid_log_partition"):
        comp.log_partition()


@pytest.mark.parametrize(
    "make, exc, fragment",
    [
        (lambda: OrEnergy(_g([0.0, 0.0], 1.0)), ValueError, "at least two"),
        (lambda: OrEnergy(_g([0.0, 0.0], 1.0), Gaussian(torch.zeros(3), torch.eye(3))), ValueError, "event shape"),
        (lambda: _g([0.0, 0.0], 1.0) | (lambda x: x), TypeError, "Energy"),
        (lambda: NotEnergy(_g([0.0, 0.0], 1.0), "ring"), TypeError, "negated"),
        (lambda: NotEnergy(_g([0.0, 0.0], 1.0), Gaussian(torch.zeros(3), torch.eye(3))), ValueError, "event shape"),
        (lambda: _g([0.0, 0.0], 1.0).but_not(_g([0.0, 0.0], 1.0), alpha=float("inf")), ValueError, "alpha"),
    ],
)
def test_bad_compositions_have_clear_errors(make, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        make()
    assert "Fix:" in str(info.value)
