"""Normalising flows as energies: exact normalisation, the change-of-variables formula computed
independently, exact inverses, samples that follow log_prob, and bad input."""

import math

import pytest
import torch

from ebm.energies import NeuralSplineFlow, RealNVP
from ebm.energies.flows import rational_quadratic_spline
from ebm.grid import grid_log_partition, grid_points


def _flows():
    g = torch.Generator().manual_seed(0)
    return {
        "realnvp": RealNVP(2, n_layers=4, hidden=16, generator=g).double(),
        "spline": NeuralSplineFlow(2, n_layers=3, n_bins=6, bound=3.0, hidden=16, generator=g).double(),
    }


FLOWS = _flows()


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_integrates_to_one_on_a_grid(name):
    # Midpoint rule on [-12, 12]²: the base's tails beyond the box weigh < 1e-20 and the densities are
    # smooth enough (the splines are C¹) that 500² cells give |log Z| far below 1e-3.
    log_z = grid_log_partition(FLOWS[name], ((-12, 12), (-12, 12)), 500)
    assert abs(float(log_z)) < 1e-3
    assert float(FLOWS[name].log_partition()) == 0.0


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_log_prob_is_the_change_of_variables_formula(name):
    # Independent computation: z = f(x) from `transform`, the Jacobian ∂z/∂x by autograd, its
    # log |det| by slogdet, and the standard normal base density written out.
    flow = FLOWS[name]
    x = 1.5 * torch.randn(6, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x[0] = torch.tensor([3.5, -0.2], dtype=torch.float64)  # outside the spline box: linear tails
    for i in range(x.shape[0]):
        xi = x[i]
        jac = torch.autograd.functional.jacobian(lambda u: flow.transform(u)[0], xi)  # (2, 2)
        z = flow.transform(xi)[0]
        expected = -0.5 * float(z.detach() @ z.detach()) - math.log(2 * math.pi) + float(torch.linalg.slogdet(jac)[1])
        assert float(flow.log_prob(xi.unsqueeze(0)).detach()) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_inverse_undoes_transform(name):
    flow = FLOWS[name]
    x = 2.0 * torch.randn(200, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    z, log_det = flow.transform(x)
    x_back, inv_log_det = flow.inverse(z)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-10)
    torch.testing.assert_close(inv_log_det, -log_det, rtol=0, atol=1e-10)
    assert flow.transform(x.reshape(4, 50, 2))[0].shape == (4, 50, 2)  # extra batch dimensions


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_samples_follow_log_prob(name):
    # Mean of 20 000 exact samples vs the quadrature mean of exp(log_prob) on the grid. The sample
    # mean's standard error is sd/√n ≈ 0.01 for these flows (sd ≲ 1.5); 0.05 is 5 standard errors.
    flow = FLOWS[name]
    x = flow.sample(20_000, generator=torch.Generator().manual_seed(5))
    assert x.shape == (20_000, 2) and not x.requires_grad
    _, _, pts = grid_points(((-12, 12), (-12, 12)), 400, dtype=torch.float64)
    with torch.no_grad():
        w = flow.log_prob(pts).exp() * (24 / 400) ** 2  # (r², ) cell masses
    quad_mean = (w.unsqueeze(-1) * pts).sum(0)
    torch.testing.assert_close(x.mean(0), quad_mean, rtol=0, atol=0.05)


def test_rsample_log_prob_matches_log_prob_and_is_differentiable():
    flow = RealNVP(2, n_layers=2, hidden=8, generator=torch.Generator().manual_seed(0)).double()
    x, log_q = flow.rsample(10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(log_q, flow.log_prob(x.detach()), rtol=0, atol=1e-10)
    (log_q.sum() + x.sum()).backward()
    assert all(p.grad is not None for p in flow.parameters())


def test_spline_is_monotone_exactly_invertible_and_identity_outside():
    g = torch.Generator().manual_seed(0)
    u = torch.linspace(-4, 4, 801, dtype=torch.float64)
    w, h, d = (torch.randn(801, k, generator=g, dtype=torch.float64) for k in (5, 5, 4))
    w, h, d = w[:1].expand(801, 5), h[:1].expand(801, 5), d[:1].expand(801, 4)  # one spline
    y, log_der = rational_quadratic_spline(u, w, h, d, bound=3.0)
    assert bool((y.diff() > 0).all())
    outside = u.abs() > 3
    torch.testing.assert_close(y[outside], u[outside])
    assert bool((log_der[outside] == 0).all())
    # the log-derivative is the derivative (autograd through the spline's value formula)
    u_ = u.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(rational_quadratic_spline(u_, w, h, d, bound=3.0)[0].sum(), u_)
    torch.testing.assert_close(log_der, grad.log(), rtol=0, atol=1e-10)
    u_back, inv_log_der = rational_quadratic_spline(y, w, h, d, bound=3.0, inverse=True)
    torch.testing.assert_close(u_back, u, rtol=0, atol=1e-10)
    torch.testing.assert_close(inv_log_der, -log_der, rtol=0, atol=1e-10)
    # continuity at the box edge: the boundary slope is 1, so the spline meets the identity tails
    assert float(rational_quadratic_spline(torch.tensor([3.0], dtype=torch.float64), w[:1], h[:1], d[:1], 3.0)[0]) == pytest.approx(3.0)


def test_construction_does_not_touch_the_global_rng_and_is_reproducible():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = NeuralSplineFlow(2, n_layers=2, hidden=8, generator=torch.Generator().manual_seed(7))
    b = NeuralSplineFlow(2, n_layers=2, hidden=8, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_float32_flows_work_and_dtypes_are_checked():
    flow = RealNVP(3, n_layers=3, hidden=8, generator=torch.Generator().manual_seed(0))
    x = flow.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and flow(x).shape == (5,)
    with pytest.raises(TypeError, match="dtype"):
        flow(x.double())
    with pytest.raises(TypeError, match="dtype"):
        flow.transform(x.double())
    with pytest.raises(ValueError, match="Fix:"):
        flow.inverse(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="finite"):
        flow.inverse(torch.full((5, 3), float("nan")))
    with pytest.raises(ValueError, match="n"):
        flow.sample(-1)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: RealNVP(2.5), "dim"),
        (lambda: RealNVP(2, hidden=-3), "hidden"),
        (lambda: NeuralSplineFlow(2, bound=float("nan")), "bound"),
        (lambda: NeuralSplineFlow(2, n_bins=1), "n_bins"),
    ],
)
def test_bad_parameters_name_the_argument_and_the_fix(make, fragment):
    with pytest.raises((TypeError, ValueError), match=fragment) as info:
        make()
    assert "Fix:" in str(info.value)
