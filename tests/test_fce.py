"""Flow contrastive estimation: the value function in closed form, the alternating gradients,
recovery of a Gaussian's mean and precision (FCE and NCE side by side), and bad input."""

import copy
import math

import pytest
import torch

from ebm.energies import QuadraticEnergy, RealNVP
from ebm.objectives import FlowContrastiveEstimation, NoiseContrastiveEstimation
from ebm.train import train

MEAN = torch.tensor([1.0, -0.5])
PRECISION = torch.tensor([[2.0, 0.6], [0.6, 1.0]])


def _data(n, seed=0):
    chol = torch.linalg.cholesky(torch.linalg.inv(PRECISION))
    return MEAN + torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) @ chol.T  # (n, 2)


def _flow(seed=0, **kw):
    return RealNVP(2, n_layers=kw.pop("n_layers", 2), hidden=kw.pop("hidden", 8), generator=torch.Generator().manual_seed(seed), **kw)


@pytest.mark.parametrize("nu", [0.5, 1.0, 3.0])
def test_value_when_the_model_is_the_flow_is_the_chance_level_closed_form(nu):
    # p_θ = q exactly and c = log Z = 0: every logit is G = -log ν, so
    # J = softplus(log ν) + ν softplus(-log ν) = log(1 + ν) + ν log(1 + 1/ν), whatever the points.
    flow = _flow().double()
    fce = FlowContrastiveEstimation(flow, noise_ratio=nu).double()
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loss = fce(copy.deepcopy(flow), x, generator=torch.Generator().manual_seed(2))
    assert float(loss.detach()) == pytest.approx(math.log1p(nu) + nu * math.log1p(1 / nu), abs=1e-10)


def test_phases_alternate_and_each_trains_only_its_side():
    energy, flow = QuadraticEnergy(2).double(), _flow().double()
    fce = FlowContrastiveEstimation(flow, noise_ratio=2.0, energy_steps=1, flow_steps=2).double()
    x = _data(32).double()
    phases = []
    for step in range(6):
        phases.append(fce.next_phase())
        energy.zero_grad(set_to_none=True), fce.zero_grad(set_to_none=True)
        fce(energy, x, generator=torch.Generator().manual_seed(step)).backward()
        energy_grads = [p.grad for p in energy.parameters()] + [fce.log_normalizer.grad]
        flow_grads = [p.grad for p in flow.parameters()]
        if phases[-1] == "energy":
            assert all(g is not None for g in energy_grads) and all(g is None for g in flow_grads)
        else:
            assert all(g is None for g in energy_grads) and all(g is not None for g in flow_grads)
    assert phases == ["energy", "flow", "flow"] * 2
    assert all(p.requires_grad for p in list(energy.parameters()) + list(fce.parameters()))


def test_accuracy_threshold_schedule_follows_the_classifier():
    # Model = the flow and c = ±1, ν = 3: every logit is G = ∓1 - log 3, one sign for all points.
    # c = +1: all 24 flow samples right (G < 0), all 8 data wrong -> accuracy 24/32; c = -1 gives
    # G = 1 - log 3 < 0 as well (log 3 > 1), so shift by c = -2: G > 0, data right -> 8/32.
    flow = _flow().double()
    x = _data(8).double()
    for c, accuracy, phase in [(1.0, 0.75, "flow"), (-2.0, 0.25, "energy")]:
        fce = FlowContrastiveEstimation(flow, noise_ratio=3.0, accuracy_threshold=0.6, init_log_normalizer=c).double()
        assert fce.next_phase() == "energy"  # starts at chance level, 0.5
        fce(copy.deepcopy(flow), x, generator=torch.Generator().manual_seed(0))
        assert float(fce.accuracy) == accuracy and fce.next_phase() == phase


def test_flow_phase_gradient_ascends_the_nce_loss():
    # Flow phase: the loss's value is J and its gradient is -∂J/∂α, with J recomputed by hand from
    # the same reparameterised samples (same generator seed).
    energy, flow = QuadraticEnergy(2).double(), _flow().double()
    fce = FlowContrastiveEstimation(flow, noise_ratio=1.5, energy_steps=0, flow_steps=1).double()
    x = _data(16).double()
    loss = fce(energy, x, generator=torch.Generator().manual_seed(3))
    got = torch.autograd.grad(loss, list(flow.parameters()))
    y, log_q = flow.rsample(24, generator=torch.Generator().manual_seed(3))
    j = fce.value(energy, x, y, log_q)
    want = torch.autograd.grad(j, list(flow.parameters()))
    assert float(loss.detach()) == pytest.approx(float(j.detach()), abs=1e-12)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, -b, rtol=0, atol=1e-12)


def test_zero_flow_steps_freezes_the_flow_noise():
    flow = _flow()
    before = [p.clone() for p in flow.parameters()]
    fce = FlowContrastiveEstimation(flow, flow_steps=0)
    train(QuadraticEnergy(2), fce, _data(64), epochs=2, batch_size=32, lr=1e-2, generator=torch.Generator().manual_seed(0), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, flow.parameters()))


def _recover(objective, epochs):
    energy = QuadraticEnergy(2)
    train(energy, objective, _data(2000), epochs=epochs, batch_size=250, lr=2e-2, generator=torch.Generator().manual_seed(1), progress=False)
    return energy


@pytest.mark.parametrize("method", ["fce", "nce"])
def test_fce_and_nce_recover_a_gaussians_mean_and_precision(method):
    # 2000 samples: the maximum-likelihood estimates themselves are off by ~1/√2000 ≈ 0.02 in the mean
    # and ~√(2/2000)·|P| ≈ 0.06 in the precision; NCE-type estimators are a little less efficient,
    # and the runs are short, so the tolerances are 0.1 (mean) and 0.3 (precision entries), while
    # the initial guess (0, I) is off by 1.0 in the mean and 1.0 in the precision.
    if method == "fce":
        objective = FlowContrastiveEstimation(RealNVP(2, n_layers=4, hidden=16, generator=torch.Generator().manual_seed(0)), noise_ratio=1.0)
        energy = _recover(objective, epochs=40)
    else:
        noise = torch.distributions.MultivariateNormal(torch.zeros(2), 4 * torch.eye(2))
        objective = NoiseContrastiveEstimation(noise, noise_ratio=1.0)
        energy = _recover(objective, epochs=20)
    torch.testing.assert_close(energy.mean.detach(), MEAN, rtol=0, atol=0.1)
    torch.testing.assert_close(energy.precision.detach(), PRECISION, rtol=0, atol=0.3)
    # the learnt log-normaliser is the model's own log Z (NCE's self-normalisation)
    assert float(objective.log_normalizer.detach()) == pytest.approx(float(energy.log_partition().detach()), abs=0.15)


@pytest.mark.parametrize(
    "make, exc, fragment",
    [
        (lambda: FlowContrastiveEstimation(torch.distributions.Normal(0.0, 1.0)), TypeError, "flow"),
        (lambda: FlowContrastiveEstimation(_flow(), noise_ratio=-1.0), ValueError, "noise_ratio"),
        (lambda: FlowContrastiveEstimation(_flow(), energy_steps=-1), ValueError, "energy_steps"),
        (lambda: FlowContrastiveEstimation(_flow(), flow_steps=1.5), TypeError, "flow_steps"),
        (lambda: FlowContrastiveEstimation(_flow(), accuracy_threshold=0.0), ValueError, "accuracy_threshold"),
        (lambda: FlowContrastiveEstimation(_flow(), flow_steps=0, accuracy_threshold=0.6), ValueError, "accuracy_threshold"),
        (lambda: FlowContrastiveEstimation(_flow())("energy", torch.zeros(4, 2)), TypeError, "energy"),
        (lambda: FlowContrastiveEstimation(_flow())(QuadraticEnergy(2), torch.zeros(0, 2)), ValueError, "non-empty"),
        (lambda: FlowContrastiveEstimation(_flow())(QuadraticEnergy(2), torch.full((4, 2), float("nan"))), ValueError, "finite"),
        (lambda: FlowContrastiveEstimation(_flow().double())(QuadraticEnergy(2), torch.zeros(4, 2)), TypeError, "dtype"),
    ],
)
def test_bad_input_has_clear_errors(make, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        make()
    assert "Fix:" in str(info.value)
