"""The newer objectives (issue #18): diffusion recovery likelihood, energy discrepancy, concrete score
matching, flow matching and energy matching. For each: the loss value on hand inputs, a known
optimum (a Gaussian's mean and precision, a Boltzmann machine's couplings, or a closed-form
regression optimum) and bad input."""

import math

import pytest
import torch

from ebm.energies import BoltzmannMachine, Gaussian, QuadraticEnergy, VelocityFlowEnergy
from ebm.energies.boltzmann import binary_states
from ebm.energy import Energy
from ebm.evaluate import grid_log_partition
from ebm.objectives import ConcreteScoreMatching, DiffusionRecoveryLikelihood, EnergyDiscrepancy, EnergyMatching, ExactLikelihood, FlowMatching
from ebm.train import linear_lr_decay, train

MEAN = torch.tensor([1.0, -0.5])
PRECISION = torch.tensor([[2.0, 0.6], [0.6, 1.0]])


def _data(n, seed=0):
    chol = torch.linalg.cholesky(torch.linalg.inv(PRECISION))
    return MEAN + torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) @ chol.T  # (n, 2)


def _sample_fit(x):
    """The data's own mean and (1/n) precision: the maximum-likelihood Gaussian, the optimum a consistent objective approaches."""
    return x.mean(0), torch.linalg.inv(torch.cov(x.T, correction=0))


def _fit_gaussian(objective, x, epochs, lr=3e-2, seed=1):
    model = QuadraticEnergy(2)
    train(model, objective, x, epochs=epochs, batch_size=256, lr=lr, generator=torch.Generator().manual_seed(seed), progress=False,
          callbacks=[linear_lr_decay(epochs, final_fraction=0.05)])
    return model.mean.detach(), model.precision.detach()


# ---------------------------------------------------------------- energy discrepancy


def test_energy_discrepancy_value_on_hand_inputs():
    # E(x) = ½‖x‖² (standard normal): x = (0, 0), negatives (1, 0) and (0, 2): E' = 0.5 and 2.
    # w = 1, M = 2: log(1/2 + ½(e^{-0.5} + e^{-2})); w = 0: log(½(e^{-0.5} + e^{-2})).
    energy = QuadraticEnergy(2)
    x = torch.zeros(1, 2)
    neg = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (1, M=2, 2)
    got = EnergyDiscrepancy(0.5, n_negatives=2, w=1.0)(energy, x, negatives=neg)
    assert float(got.detach()) == pytest.approx(math.log(0.5 + 0.5 * (math.exp(-0.5) + math.exp(-2.0))), abs=1e-6)
    got0 = EnergyDiscrepancy(0.5, n_negatives=2, w=0.0)(energy, x, negatives=neg)
    assert float(got0.detach()) == pytest.approx(math.log(0.5 * (math.exp(-0.5) + math.exp(-2.0))), abs=1e-6)


def test_energy_discrepancy_bernoulli_negatives_flip_at_the_two_step_rate():
    # Two independent flips with probability ε: a bit differs from the datum with probability 2ε(1-ε).
    # The M negatives of a row share its first flip, so the rate's standard error is set by the
    # 1024 x 16 first flips: ~0.0025; tolerance 0.01 (4 standard errors).
    ed = EnergyDiscrepancy(0.1, n_negatives=8, perturbation="bernoulli")
    x = torch.bernoulli(torch.full((1024, 16), 0.5), generator=torch.Generator().manual_seed(0))
    neg = ed.perturb(x, torch.Generator().manual_seed(1))  # (1024, 8, 16)
    assert set(neg.unique().tolist()) <= {0.0, 1.0}
    assert float((neg != x.unsqueeze(1)).float().mean()) == pytest.approx(2 * 0.1 * 0.9, abs=0.01)
    loss = ed(BoltzmannMachine(16), x[:64], generator=torch.Generator().manual_seed(2))
    assert torch.isfinite(loss)


def test_energy_discrepancy_recovers_a_gaussian():
    # Tolerance: 0.1 on the mean and 12% on the precision against the sample optimum (n = 1024,
    # 120 Adam steps with a decaying rate; the Monte Carlo noise of M = 16 negatives is well below it).
    x = _data(1024)
    mean, precision = _fit_gaussian(EnergyDiscrepancy(0.5, n_negatives=16), x, epochs=30)
    m_hat, p_hat = _sample_fit(x)
    assert torch.allclose(mean, m_hat, atol=0.1)
    assert torch.allclose(precision, p_hat, rtol=0.12, atol=0.08)


# ---------------------------------------------------------------- concrete score matching

N_UNITS = 6


def _true_bm():
    g = torch.Generator().manual_seed(11)
    j = torch.triu(torch.randn(N_UNITS, N_UNITS, generator=g, dtype=torch.float64) * 0.6, 1)
    b = torch.randn(N_UNITS, generator=g, dtype=torch.float64) * 0.4 - 0.2
    return BoltzmannMachine(N_UNITS, coupling=j + j.T, bias=b)


def _exact(model):
    states = binary_states(N_UNITS, 0, 2**N_UNITS)  # (64, n)
    with torch.no_grad():
        return states, torch.softmax(-model(states), 0)


def test_concrete_score_matching_value_on_hand_inputs():
    # One unit, bias b: E(x) = -b x. At x = 0 the flip costs Δ = E(1) - E(0) = -b, so the loss is
    # exp(2b) - 2 exp(-b) + 1.
    b = 0.7
    bm = BoltzmannMachine(1, bias=torch.tensor([b], dtype=torch.float64), dtype=torch.float64)
    got = ConcreteScoreMatching()(bm, torch.zeros(1, 1, dtype=torch.float64))
    assert float(got.detach()) == pytest.approx(math.exp(2 * b) - 2 * math.exp(-b) + 1, abs=1e-12)


def test_concrete_score_matching_true_parameters_are_stationary_for_the_exact_distribution():
    truth = _true_bm()
    states, probs = _exact(truth)
    csm = ConcreteScoreMatching()
    population = sum(p * csm(truth, s.unsqueeze(0)) for s, p in zip(states, probs))  # Σ_x p(x) ℓ(x)
    grads = torch.autograd.grad(population, [truth.coupling, truth.bias])
    assert max(float(g.abs().max()) for g in grads) < 1e-12
    wrong = BoltzmannMachine(N_UNITS, coupling=truth.effective_coupling().detach() * 0.8, bias=truth.bias.detach())
    population = sum(p * csm(wrong, s.unsqueeze(0)) for s, p in zip(states, probs))
    assert float(torch.autograd.grad(population, wrong.coupling)[0].abs().max()) > 1e-3  # the test can fail


def _lbfgs_fit(objective, x):
    model = BoltzmannMachine(N_UNITS, dtype=torch.float64, weight_scale=0.0)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=300, tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(model, x)
        loss.backward()
        return loss

    opt.step(closure)
    return model


def test_concrete_score_matching_agrees_with_exact_maximum_likelihood_on_samples():
    # 4000 exact draws (enumeration). Both estimators are consistent, so they agree with each other
    # and with the truth up to sampling error: RMS coupling difference < 0.1 (the estimators' own
    # standard errors are ~0.05 at this n).
    truth = _true_bm()
    states, probs = _exact(truth)
    x = states[torch.multinomial(probs, 4000, replacement=True, generator=torch.Generator().manual_seed(3))]
    csm, ml = _lbfgs_fit(ConcreteScoreMatching(), x), _lbfgs_fit(ExactLikelihood(), x)
    iu = torch.triu_indices(N_UNITS, N_UNITS, 1)

    def couplings(m):
        return m.effective_coupling().detach()[iu[0], iu[1]]

    assert float((couplings(csm) - couplings(ml)).pow(2).mean().sqrt()) < 0.1
    assert float((couplings(csm) - couplings(truth)).pow(2).mean().sqrt()) < 0.1
    assert float((csm.bias - ml.bias).detach().abs().max()) < 0.15


# ---------------------------------------------------------------- diffusion recovery likelihood


def test_recovery_chain_samples_the_gaussian_conditional_exactly():
    # E = Gaussian(μ, Σ), one step σ: p(x | x̃) ∝ exp(-E(x) - ‖x̃ - a x‖²/(2σ²)) is Gaussian with
    # precision P + (a²/σ²) I and mean (P + (a²/σ²) I)^{-1} (P μ + a x̃ / σ²). MALA chains (exact at
    # equilibrium): 4000 chains, 60 steps; tolerance 0.05 on the mean and 10% on the covariance
    # (standard errors ~0.01 and ~2%).
    sigma = 0.5
    a = math.sqrt(1 - sigma**2)
    energy = QuadraticEnergy(2, mean=MEAN, precision=PRECISION)
    drl = DiffusionRecoveryLikelihood([sigma], langevin_steps=60, step_ratio=0.6, metropolis=True)
    noisy = torch.tensor([0.3, 0.8]).expand(4000, 2)
    z = drl.recover(energy, noisy, torch.zeros(4000, dtype=torch.long), torch.Generator().manual_seed(0))
    cond_precision = PRECISION + (a**2 / sigma**2) * torch.eye(2)
    cond_cov = torch.linalg.inv(cond_precision)
    cond_mean = cond_cov @ (PRECISION @ MEAN + a * noisy[0] / sigma**2)
    assert torch.allclose(z.mean(0), cond_mean, atol=0.05)
    assert torch.allclose(torch.cov(z.T), cond_cov, rtol=0.1, atol=0.01)


class _MarginalGaussians(Energy):
    """The exact per-level energies of Gaussian data N(μ, Σ) under a VP diffusion: level t (called with
    its label s_{t+1}) is N(ā_t μ, ā_t² Σ + s_t² I)."""

    noise_conditional = True

    def __init__(self, drl):
        super().__init__((2,))
        self.drl = drl
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, sigma=None):
        labels = self.drl.marginal[1:]  # s_1 … s_T: the label of level t is s_{t+1}
        sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[:-1])
        t = (sigma.unsqueeze(-1) - labels).abs().argmin(-1)  # (batch,)
        s = self.drl.marginal[t].unsqueeze(-1).unsqueeze(-1)  # (batch, 1, 1)
        a_bar = (1 - s**2).sqrt()
        cov = a_bar**2 * torch.linalg.inv(PRECISION) + s**2 * torch.eye(2)  # (batch, 2, 2)
        d = x - a_bar.squeeze(-1) * MEAN  # (batch, 2)
        return 0.5 * (d.unsqueeze(-2) @ torch.linalg.solve(cov, d.unsqueeze(-1))).reshape(x.shape[:-1]) + 0 * self.dummy


def test_reverse_chain_with_the_true_level_energies_samples_the_data():
    # With the exact level energies and MALA-exact conditionals, the only error is starting x̃_T from
    # N(0, I) instead of its marginal (ā_T ≈ 0.011 here): 3000 samples, tolerance 0.1 on the mean,
    # 15% on the covariance.
    drl = DiffusionRecoveryLikelihood([0.3, 0.5, 0.7, 0.9, 0.95, 0.99], langevin_steps=40, step_ratio=0.6, metropolis=True)
    x = drl.sample(_MarginalGaussians(drl), 3000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x.mean(0), MEAN, atol=0.1)
    assert torch.allclose(torch.cov(x.T), torch.linalg.inv(PRECISION), rtol=0.15, atol=0.05)


@pytest.mark.slow
def test_diffusion_recovery_likelihood_recovers_a_gaussian():
    # One level (a plain energy), MALA recovery so the chains are exact: tolerance 0.1 on the mean
    # and 12% on the precision against the sample optimum (n = 2048, 240 Adam steps, decaying rate).
    x = _data(2048)
    mean, precision = _fit_gaussian(DiffusionRecoveryLikelihood([0.5], langevin_steps=40, step_ratio=0.6, metropolis=True), x, epochs=30)
    m_hat, p_hat = _sample_fit(x)
    assert torch.allclose(mean, m_hat, atol=0.1)
    assert torch.allclose(precision, p_hat, rtol=0.12, atol=0.08)


# ---------------------------------------------------------------- flow matching


def _zero_velocity_flow(n_steps=4):
    flow = VelocityFlowEnergy(2, hidden=8, n_steps=n_steps, generator=torch.Generator().manual_seed(0)).double()
    with torch.no_grad():
        flow.net[-1].weight.zero_()
        flow.net[-1].bias.zero_()
    return flow


def test_flow_energy_of_the_zero_field_is_the_standard_normal():
    flow = _zero_velocity_flow()
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = 0.5 * x.pow(2).sum(-1) + math.log(2 * math.pi)
    torch.testing.assert_close(flow(x), expected)


def test_flow_energy_of_a_linear_field_is_the_pushed_forward_gaussian():
    # v(x, t) = c x: x(1) = e^c x(0), so p_1 = N(0, e^{2c} I) exactly; RK4 with 8 steps is accurate to ~1e-7.
    c = 0.4
    flow = _zero_velocity_flow(n_steps=8)
    with torch.no_grad():
        flow.net[-1].bias.zero_()
    flow.velocity = lambda x, t: c * x  # a closed-form field through the same integrator
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = 0.5 * x.pow(2).sum(-1) * math.exp(-2 * c) + math.log(2 * math.pi) + 2 * c
    torch.testing.assert_close(flow(x), expected, rtol=1e-6, atol=1e-6)


def test_flow_energy_is_normalised_on_the_grid():
    # A random (untrained) field: ∫ exp(-E) over a box holding the mass is 1 up to RK4 error.
    flow = VelocityFlowEnergy(2, hidden=16, n_steps=10, generator=torch.Generator().manual_seed(2)).double()
    assert float(grid_log_partition(flow, ((-7, 7), (-7, 7)), 120)) == pytest.approx(0.0, abs=0.01)


def test_flow_matching_value_on_hand_inputs():
    # Zero field: the loss is ‖u_t‖² = ‖x_1 - (1 - σ_min) x_0‖², whatever t.
    flow = _zero_velocity_flow()
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    noise = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    got = FlowMatching(sigma_min=0.1)(flow, x, t=torch.tensor([0.3], dtype=torch.float64), noise=noise)
    assert float(got.detach()) == pytest.approx((1.0 - 0.9 * 0.5) ** 2 + (2.0 + 0.9) ** 2, abs=1e-12)


@pytest.mark.slow
def test_flow_matching_recovers_a_gaussian():
    # The ODE model's samples: tolerance 0.1 on the mean and 15% on the precision (4000 samples;
    # 480 Adam steps of a 32-wide velocity field); its energy at data points within 0.3 nats of the truth.
    x = _data(2048)
    flow = VelocityFlowEnergy(2, hidden=32, n_steps=10, generator=torch.Generator().manual_seed(0))
    train(flow, FlowMatching(), x, epochs=60, batch_size=256, lr=1e-2, generator=torch.Generator().manual_seed(1), progress=False,
          callbacks=[linear_lr_decay(60, final_fraction=0.05)])
    s = flow.sample(4000, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(s.mean(0), MEAN, atol=0.1)
    assert torch.allclose(torch.linalg.inv(torch.cov(s.T)), PRECISION, rtol=0.15, atol=0.1)
    truth = Gaussian(MEAN, torch.linalg.inv(PRECISION))
    pts = _data(20, seed=5)
    with torch.no_grad():
        assert float((flow(pts) + truth.log_prob(pts)).abs().mean()) < 0.3


# ---------------------------------------------------------------- energy matching


def test_energy_matching_flow_term_optimum_in_closed_form():
    # Data = a point mass at 0, σ = 0, independent pairs, no contrastive term: x_t = (1 - t) x_0 and
    # the target is -x_0, so a quadratic V = ½ q ‖x‖² minimises E[w(t) ‖q (1 - t) x_0 - x_0‖²] at
    # q* = E[w (1 - t)] / E[w (1 - t)²]; with the gate onset a = 0.8 that is 0.49333 / 0.33267 = 1.4830
    # (P = q I exactly: the problem is isotropic). Tolerance 3% (2400 Adam steps on Monte Carlo batches).
    a = 0.8
    num = (1 - (1 - a) ** 2) / 2 + (1 - a) ** 3 / (3 * (1 - a))  # ∫ w (1 - t) dt
    den = (1 - (1 - a) ** 3) / 3 + (1 - a) ** 4 / (4 * (1 - a))  # ∫ w (1 - t)² dt
    q = num / den
    em = EnergyMatching(sigma=0.0, lambda_cd=0.0, coupling="independent", flow_weight_cutoff=a)
    model = QuadraticEnergy(2, precision=2.0 * torch.eye(2))
    x = torch.zeros(4096, 2)
    train(model, em, x, epochs=150, batch_size=256, lr=2e-2, generator=torch.Generator().manual_seed(0), progress=False,
          callbacks=[linear_lr_decay(150, final_fraction=0.02)])
    assert torch.allclose(model.precision.detach(), q * torch.eye(2), rtol=0.03, atol=0.03)
    assert torch.allclose(model.mean.detach(), torch.zeros(2), atol=0.05)


def test_energy_matching_value_on_hand_inputs_and_gate():
    # V = ½‖x‖² (score -x), σ = 0, independent pairs, t drawn from the generator: recompute by hand.
    em = EnergyMatching(sigma=0.0, lambda_cd=0.0, coupling="independent")
    x1 = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0]], dtype=torch.float64)
    model = QuadraticEnergy(2).double()
    got = em(model, x1, generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    x0 = torch.randn(x1.shape, generator=g, dtype=torch.float64)
    t = torch.rand(3, generator=g, dtype=torch.float64)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    w = ((1 - t) / 0.2).clamp(0, 1)
    expected = (w * (-xt - (x1 - x0)).pow(2).mean(-1)).mean()
    assert float(got.detach()) == pytest.approx(float(expected), abs=1e-12)
    assert em.temperature(0.5) == 0.0 and em.temperature(1.0) == pytest.approx(0.15) and em.temperature(0.9) == pytest.approx(0.075)


def test_energy_matching_ot_pairing_is_optimal():
    # Exact assignment against brute force over all 5! pairings.
    import itertools

    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    perm = EnergyMatching._ot_pairing(x0, x1)
    cost = float((x0[perm] - x1).pow(2).sum())
    best = min(float((x0[list(p)] - x1).pow(2).sum()) for p in itertools.permutations(range(5)))
    assert cost == pytest.approx(best, abs=1e-5)


def test_energy_matching_negatives_sample_the_boltzmann_density_at_epsilon_max():
    # Data-started chains run Langevin on V at temperature ε_max: for V = ε_max · E_Gauss they target
    # N(μ, Σ). 2000 chains, 800 steps of dt = 0.2 (relaxation time ~1/(ε_max λ_min(P)) ≈ 10, ULA bias ~ dt ε_max λ_max(P) / 4 ≈ 4%): tolerance 0.1
    # on the mean and 15% on the covariance.
    eps = 0.15
    em = EnergyMatching(epsilon_max=eps, noise_fraction=0.0, langevin_steps=800, langevin_dt=0.2)
    v = QuadraticEnergy(2, mean=MEAN, precision=PRECISION * eps)
    start = torch.zeros(2000, 2)
    neg = em.negatives(v, start, torch.Generator().manual_seed(0))
    assert torch.allclose(neg.mean(0), MEAN, atol=0.1)
    assert torch.allclose(torch.cov(neg.T), torch.linalg.inv(PRECISION), rtol=0.15, atol=0.05)
    assert torch.allclose(em.boltzmann(v)(neg[:5]), v(neg[:5]) / eps)


def test_energy_matching_switches_the_contrastive_term_on_after_warm_up():
    em = EnergyMatching(langevin_steps=2, warmup_steps=2)
    model, x = QuadraticEnergy(2), _data(16)
    values = []
    for step in range(3):
        em.zero_grad()
        values.append(em(model, x, generator=torch.Generator().manual_seed(0)).detach())
    assert float(values[0]) == pytest.approx(float(values[1]))  # same draws, pure flow term
    assert float(values[2]) != pytest.approx(float(values[0]))  # the contrastive term joined
    assert int(em.calls) == 3


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make, exc, fragment",
    [
        (lambda: DiffusionRecoveryLikelihood([0.3, 0.5])(QuadraticEnergy(2), torch.zeros(4, 2)), TypeError, "noise-conditional"),
        (lambda: DiffusionRecoveryLikelihood([1.2]), ValueError, "sigmas"),
        (lambda: EnergyDiscrepancy(0.5)(QuadraticEnergy(2), torch.full((4, 2), float("nan"))), ValueError, "finite"),
        (lambda: EnergyDiscrepancy(0.5)(QuadraticEnergy(2), torch.zeros(0, 2)), ValueError, "empty"),
        (lambda: ConcreteScoreMatching()(BoltzmannMachine(3), torch.full((2, 3), 0.5)), ValueError, "binary"),
        (lambda: FlowMatching()(QuadraticEnergy(2), torch.zeros(4, 2)), TypeError, "velocity"),
        (lambda: EnergyMatching(tau_star=-0.1), ValueError, "tau_star"),
        (lambda: VelocityFlowEnergy(2).sample(0), ValueError, "n"),
    ],
)
def test_bad_input_is_refused_with_a_fix(make, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        make()
    assert "Fix:" in str(info.value)


def test_every_newer_objective_runs_in_float64():
    """Dtype-agnostic: each objective on a float64 model and float64 data gives a float64 loss with gradients."""
    from ebm.energies import NoiseConditionalEnergy

    g = torch.Generator().manual_seed(0)
    x = _data(32).double()
    bits = torch.bernoulli(torch.full((32, 5), 0.5, dtype=torch.float64), generator=g)
    cases = [
        (EnergyDiscrepancy(0.5, n_negatives=4), QuadraticEnergy(2).double(), x),
        (EnergyDiscrepancy(0.2, n_negatives=4, perturbation="bernoulli"), BoltzmannMachine(5, dtype=torch.float64), bits),
        (ConcreteScoreMatching(), BoltzmannMachine(5, dtype=torch.float64), bits),
        (DiffusionRecoveryLikelihood([0.3, 0.6], langevin_steps=3, metropolis=True), NoiseConditionalEnergy(2, hidden=8, generator=g).double(), x),
        (FlowMatching(), VelocityFlowEnergy(2, hidden=8, n_steps=2, generator=g).double(), x),
        (EnergyMatching(langevin_steps=3), QuadraticEnergy(2).double(), x),
    ]
    for objective, model, data in cases:
        loss = objective(model, data, generator=g)
        assert loss.dtype == torch.float64 and torch.isfinite(loss)
        grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
        assert any(gr is not None and bool(gr.abs().sum() > 0) for gr in grads), type(objective).__name__
