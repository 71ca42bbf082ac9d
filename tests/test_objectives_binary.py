"""Binary training principles on a fully visible Boltzmann machine small enough to enumerate:
exact recovery of the couplings from the (rounded) exact distribution, recovery from exact
samples with the coupling error of each principle recorded, float64 gradient checks, the generic
flip path against the closed forms, and clear errors on non-binary data."""

import pytest
import torch
from helpers import finite_difference_check

import ebm.train
from ebm.energies import BernoulliRBM, BoltzmannMachine
from ebm.energies.boltzmann import binary_states
from ebm.energy import Energy
from ebm.objectives import MinimumProbabilityFlow, PseudoLikelihood, RatioMatching
from ebm.objectives._common import flip_energy_deltas

N_UNITS = 8
PRINCIPLES = {"mpf": MinimumProbabilityFlow, "ratio_matching": RatioMatching, "pseudo_likelihood": PseudoLikelihood}


def _true_model():
    g = torch.Generator().manual_seed(11)
    j = torch.randn(N_UNITS, N_UNITS, generator=g, dtype=torch.float64) * 0.6
    j = torch.triu(j, 1)
    j = j + j.T
    b = torch.randn(N_UNITS, generator=g, dtype=torch.float64) * 0.4 - 0.2
    return BoltzmannMachine(N_UNITS, coupling=j, bias=b)


def _exact_probabilities(model):
    states = binary_states(N_UNITS, 0, 2**N_UNITS)  # (256, n)
    with torch.no_grad():
        logp = -model(states)
    return states, torch.softmax(logp, 0)


def _exact_samples(model, n, generator):
    """Exact draws by enumeration: a categorical over all 2^n states."""
    states, probs = _exact_probabilities(model)
    idx = torch.multinomial(probs, n, replacement=True, generator=generator)
    return states[idx]  # (n, N_UNITS)


def _fit(objective, x, steps=200):
    model = BoltzmannMachine(N_UNITS, dtype=torch.float64, weight_scale=0.0)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=steps, tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(model, x)
        loss.backward()
        return loss

    opt.step(closure)
    return model


def _coupling_error(model, truth):
    """Root-mean-square error over the n(n-1)/2 couplings."""
    iu = torch.triu_indices(N_UNITS, N_UNITS, 1)
    diff = (model.effective_coupling() - truth.effective_coupling()).detach()[iu[0], iu[1]]
    return float(diff.pow(2).mean().sqrt())


@pytest.mark.parametrize("name", sorted(PRINCIPLES))
def test_true_parameters_are_stationary_for_the_exact_distribution(name):
    """Consistency, exactly: the population objective Σ_x p(x) ℓ(x) (every state weighted by its
    exact probability) has zero gradient at the true couplings and biases."""
    truth = _true_model()
    states, probs = _exact_probabilities(truth)
    objective = PRINCIPLES[name]()
    population = sum(p * objective(truth, s.unsqueeze(0)) for s, p in zip(states, probs))  # Σ_x p(x) ℓ(x)
    grads = torch.autograd.grad(population, [truth.coupling, truth.bias])
    assert max(float(g.abs().max()) for g in grads) < 1e-12
    # ... and a perturbed model is not stationary (the test can fail).
    wrong = BoltzmannMachine(N_UNITS, coupling=truth.effective_coupling().detach() * 0.8, bias=truth.bias.detach())
    population = sum(p * objective(wrong, s.unsqueeze(0)) for s, p in zip(states, probs))
    assert float(torch.autograd.grad(population, wrong.coupling)[0].abs().max()) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRINCIPLES))
def test_exact_distribution_gives_exact_couplings(name):
    """All three principles are consistent: fitted to the model's own distribution (each state
    repeated round(p · 20000) times, so rounding perturbs each p by < 2.5e-5) they return the true
    couplings and biases to within that rounding."""
    truth = _true_model()
    states, probs = _exact_probabilities(truth)
    counts = torch.round(probs * 20_000).long()
    x = states.repeat_interleave(counts, dim=0)  # (≈20000, n)
    model = _fit(PRINCIPLES[name](), x)
    err = _coupling_error(model, truth)
    print(f"{name}: RMS coupling error from the rounded exact distribution {err:.2e}")
    assert err < 5e-3
    torch.testing.assert_close(model.bias.detach(), truth.bias.detach(), atol=1e-2, rtol=0)


COUPLING_ERRORS = {}


def _maximum_likelihood(model, x):
    """Exact negative log-likelihood by enumeration (the statistical floor for these samples)."""
    return model(x).mean() + model.log_partition()


@pytest.mark.parametrize("name", sorted(PRINCIPLES))
def test_exact_samples_recover_couplings(name):
    """From 3000 exact samples. Measured RMS coupling errors (seeded): recorded in
    COUPLING_ERRORS and printed with -s: MPF 0.109, pseudo-likelihood 0.113, ratio matching 0.124,
    exact maximum likelihood 0.115 on the same samples
    (ratio matching is the least statistically efficient of the three); tolerance 0.15, against a
    coupling scale of 0.6."""
    truth = _true_model()
    x = _exact_samples(truth, 3000, torch.Generator().manual_seed(12))
    model = _fit(PRINCIPLES[name](), x, steps=100)
    err = _coupling_error(model, truth)
    COUPLING_ERRORS[name] = err
    mle = _coupling_error(_fit(_maximum_likelihood, x, steps=100), truth)
    print(f"{name}: RMS coupling error {err:.4f} (exact maximum likelihood on the same samples: {mle:.4f})")
    assert err < 0.15
    # No worse than 1.3x the exact maximum-likelihood estimate from the same samples.
    assert err < 1.3 * mle


@pytest.mark.slow
def test_contrastive_divergence_recovers_couplings_too():
    """CD-1 (ContrastiveDivergence, one single-site Gibbs sweep from the data) on the same 3000
    samples, Adam 15 epochs: measured RMS coupling error 0.148 (seeded) — above MPF / PL / ratio
    matching (0.11-0.12) because CD-1 is biased for strong couplings (Carreira-Perpiñán & Hinton
    2005) and Adam's noise floor stays. Tolerance 0.2 (from 0.54 at the start), set from the spread
    over 20 seed pairs (samples Generator(12 + 100 s), training Generator(13 + 100 s), s = 0..19,
    2-core Xeon VM): mean 0.130, SD 0.014, range 0.098-0.150, so 0.2 is 5 SD above the mean;
    s = 0..5 gave identical errors under ATEN_CPU_CAPABILITY=avx2. Slow: 2-40 s."""
    from ebm.objectives import ContrastiveDivergence

    truth = _true_model()
    x = _exact_samples(truth, 3000, torch.Generator().manual_seed(12))
    model = BoltzmannMachine(N_UNITS, dtype=torch.float64, weight_scale=0.0)
    g = torch.Generator().manual_seed(13)
    ebm.train.train(model, ContrastiveDivergence(k=1), x, epochs=15, batch_size=250, lr=0.02, generator=g)
    err = _coupling_error(model, truth)
    COUPLING_ERRORS["cd1"] = err
    print(f"CD-1: RMS coupling error {err:.4f}")
    assert err < 0.2


def test_lbfgs_through_the_shared_loop_recovers_couplings():
    truth = _true_model()
    x = _exact_samples(truth, 3000, torch.Generator().manual_seed(12))
    model = BoltzmannMachine(N_UNITS, dtype=torch.float64, weight_scale=0.0)
    ebm.train.train(model, MinimumProbabilityFlow(), x, epochs=4, batch_size=3000, optimizer="lbfgs", lr=1.0)
    assert _coupling_error(model, truth) < 0.15


@pytest.mark.parametrize("name", sorted(PRINCIPLES))
def test_adam_through_the_shared_loop(name, generator):
    truth = _true_model()
    x = _exact_samples(truth, 2000, generator)
    model = BoltzmannMachine(N_UNITS, dtype=torch.float64, weight_scale=0.0)
    start = _coupling_error(model, truth)
    ebm.train.train(model, PRINCIPLES[name](), x, epochs=10, batch_size=200, lr=0.05, generator=generator)
    assert _coupling_error(model, truth) < 0.5 * start


class Plain(Energy):
    """Hides the closed-form flip deltas, forcing the generic batched path."""

    def __init__(self, base, shift=0.0):
        super().__init__(base.event_shape)
        self.base, self.shift = base, shift

    def forward(self, x):
        return self.base(x) + self.shift


@pytest.mark.parametrize("make", [lambda: _true_model(), lambda: BernoulliRBM(6, 3, weight_scale=0.5, generator=torch.Generator().manual_seed(0)).double()])
def test_generic_flip_path_matches_closed_form(make):
    model = make()
    n = model.event_shape[0]
    x = torch.bernoulli(torch.full((7, n), 0.5, dtype=torch.float64), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(flip_energy_deltas(Plain(model), x), flip_energy_deltas(model, x))
    # And both equal brute force: evaluate the flipped state directly.
    for i in range(n):
        flipped = x.clone()
        flipped[:, i] = 1 - flipped[:, i]
        torch.testing.assert_close(flip_energy_deltas(model, x)[:, i], (model(flipped) - model(x)).detach(), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", sorted(PRINCIPLES))
def test_binary_objectives_ignore_the_normaliser(name):
    model = _true_model()
    x = _exact_samples(model, 50, torch.Generator().manual_seed(2))
    torch.testing.assert_close(PRINCIPLES[name]()(model, x), PRINCIPLES[name]()(Plain(model, shift=-9.0), x))




@pytest.mark.parametrize("name", sorted(PRINCIPLES))
@pytest.mark.parametrize("kind", ["bm", "rbm"])
def test_gradcheck_float64(name, kind):
    if kind == "bm":
        model = BoltzmannMachine(5, weight_scale=0.5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    else:
        model = BernoulliRBM(5, 3, weight_scale=0.5, generator=torch.Generator().manual_seed(0)).double()
    x = torch.bernoulli(torch.full((9, 5), 0.5, dtype=torch.float64), generator=torch.Generator().manual_seed(3))
    objective = PRINCIPLES[name]()
    finite_difference_check(lambda: objective(model, x), list(model.parameters()))


@pytest.mark.parametrize("name", sorted(PRINCIPLES))
def test_rbm_trains_through_free_energy(name, generator):
    truth = _true_model()
    x = _exact_samples(truth, 500, generator)
    rbm = BernoulliRBM(N_UNITS, 6, weight_scale=0.1, generator=generator).double()
    history = ebm.train.train(rbm, PRINCIPLES[name](), x, epochs=5, batch_size=100, lr=0.02, generator=generator)
    assert history.epoch_losses[-1] < history.epoch_losses[0]


@pytest.mark.parametrize("name", sorted(PRINCIPLES))
def test_non_binary_data_is_refused_with_a_fix(name):
    from ebm.energies import QuadraticEnergy

    with pytest.raises(ValueError, match="binary.*Fix:"):
        PRINCIPLES[name]()(QuadraticEnergy(3), torch.full((4, 3), 0.5))
    with pytest.raises(TypeError, match="Fix:"):
        PRINCIPLES[name]()(BoltzmannMachine(3), torch.ones(4, 3, dtype=torch.long))
