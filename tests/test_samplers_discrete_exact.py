"""Exact sampling by enumeration, and Gibbs-with-gradients against it."""

import pytest
import torch

from samplers import GibbsWithGradients, sample_by_enumeration
from samplers.enumeration import enumerate_binary_states


def _ising(n, generator, scale=0.5):
    J = torch.randn(n, n, generator=generator, dtype=torch.float64) * scale
    J = (J + J.T) / 2
    J.fill_diagonal_(0)
    b = torch.randn(n, generator=generator, dtype=torch.float64) * 0.3
    return lambda x: -0.5 * ((x @ J) * x).sum(-1) - x @ b


def _exact_probs(energy, n):
    states = enumerate_binary_states(n, 0, 2**n)
    with torch.no_grad():
        return torch.softmax(-energy(states), 0)  # (2^n,)


def _histogram(x, n):
    idx = (x.long() << torch.arange(n)).sum(-1)
    return torch.bincount(idx, minlength=2**n).double() / len(x)


def test_enumeration_draws_have_the_exact_frequencies_across_chunks(generator):
    # n = 15 spans two chunks of 2^14 states; weights concentrated on few states to make the
    # check sharp: chi-square of 200,000 draws against the exact probabilities of the 30 likeliest.
    energy = lambda s: 3.0 * s.sum(-1) - 2.0 * s[:, 14]
    x = sample_by_enumeration(lambda s: -energy(s), 15, 200_000, generator=generator)
    p = _exact_probs(energy, 15)
    freq = _histogram(x, 15)
    top = p.argsort(descending=True)[:30]
    expected = p[top] * len(x)
    chi2 = float(((freq[top] * len(x) - expected) ** 2 / expected).sum())
    assert chi2 < 60  # 30 cells: the 0.999 quantile of chi-square(30) is 59.7


def test_gibbs_with_gradients_matches_enumeration_on_a_12_unit_boltzmann_machine(generator):
    n = 12
    energy = _ising(n, generator)
    p = _exact_probs(energy, n)
    x0 = torch.bernoulli(torch.full((2000, n), 0.5, dtype=torch.float64), generator=generator)
    r = GibbsWithGradients(thin=10).run(energy, x0, 400, generator=generator)
    draws = r.trajectory[10:].reshape(-1, n)  # drop the first 100 steps; 60,000 draws
    tv = 0.5 * float((_histogram(draws, n) - p).abs().sum())
    # The noise floor: the same number of exact independent draws. GWG's draws are correlated
    # along each chain (10 steps apart), so allow 1.2x the exact-sample TV. Over 5 seeds when the
    # test was written: exact TV 0.082-0.089, GWG 0.083-0.091 (ratio <= 1.03), acceptance 0.95.
    exact = sample_by_enumeration(lambda s: -energy(s), n, len(draws), generator=generator)
    tv_exact = 0.5 * float((_histogram(exact, n) - p).abs().sum())
    assert tv < 1.2 * tv_exact, (tv, tv_exact)
    assert 0.2 < float(r.acceptance_rate.mean()) <= 1.0


def test_categorical_gibbs_with_gradients_matches_enumeration_on_a_potts_model(generator):
    sites, k = 3, 3
    w = torch.randn(sites, k, sites, k, generator=generator, dtype=torch.float64) * 0.8
    w = (w + w.permute(2, 3, 0, 1)) / 2
    for i in range(sites):
        w[i, :, i, :] = 0
    energy = lambda x: -0.5 * torch.einsum("bik,ikjl,bjl->b", x, w, x)
    labels = torch.cartesian_prod(*[torch.arange(k)] * sites)  # (27, 3)
    states = torch.nn.functional.one_hot(labels, k).double()
    p = torch.softmax(-energy(states), 0)
    x0 = torch.nn.functional.one_hot(torch.randint(0, k, (1000, sites), generator=generator), k).double()
    r = GibbsWithGradients(categorical=True, thin=5).run(energy, x0, 200, generator=generator)
    draws = r.trajectory[4:].argmax(-1).reshape(-1, sites)  # (36,000, 3)
    idx = (draws * torch.tensor([k * k, k, 1])).sum(-1)
    freq = torch.bincount(idx, minlength=k**sites).double() / len(idx)
    order = (labels * torch.tensor([k * k, k, 1])).sum(-1)
    tv = 0.5 * float((freq[order] - p).abs().sum())
    assert tv < 0.03, tv  # 27 states, 36,000 correlated draws: exact draws give TV ≈ 0.01


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: sample_by_enumeration(lambda s: -s.sum(-1), 30, 5), ValueError, "at most 25"),
        (lambda: sample_by_enumeration(lambda s: -s.sum(), 3, 5), ValueError, "one log-weight per state"),
        (lambda: sample_by_enumeration(lambda s: s.sum(-1) * float("nan"), 3, 5), ValueError, "finite"),
        (lambda: sample_by_enumeration(lambda s: -s.sum(-1), 3, 0), ValueError, "n_samples"),
        (lambda: GibbsWithGradients().run(lambda x: x.sum(-1), torch.full((4, 3), 0.5), 5), ValueError, "{0, 1}"),
        (lambda: GibbsWithGradients().run(lambda x: x.sum(-1), torch.zeros(4, 3, 2), 5), ValueError, "flatten"),
        (lambda: GibbsWithGradients(categorical=True).run(lambda x: x.sum((-1, -2)), torch.zeros(4, 3, 2), 5), ValueError, "one-hot"),
        (lambda: GibbsWithGradients(categorical="yes"), TypeError, "bool"),
    ],
)
def test_bad_input_gets_a_clear_error(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)


def test_exact_sample_of_boltzmann_models_matches_enumeration(generator):
    from ebm.energies import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM

    bm = BoltzmannMachine(6, generator=generator).double()
    bm.coupling.data.mul_(3)
    x = bm.exact_sample(50_000, generator=generator)
    p = _exact_probs(bm, 6)
    tv = 0.5 * float((_histogram(x, 6) - p).abs().sum())
    assert tv < 0.02  # 64 states, 50,000 exact draws: the expected TV is ≈ 0.013
    for rbm in (BernoulliRBM(6, 3, weight_scale=1.0, generator=generator).double(), BernoulliRBM(3, 6, weight_scale=1.0, generator=generator).double()):
        v = rbm.exact_sample(50_000, generator=generator)
        tv = 0.5 * float((_histogram(v, rbm.n_visible) - _exact_probs(rbm, rbm.n_visible)).abs().sum())
        assert tv < 0.03, (rbm.n_visible, tv)
    grbm = GaussianBernoulliRBM(2, 3, weight_scale=1.0, generator=generator).double()
    v = grbm.exact_sample(20_000, generator=generator)
    # The mean of v is E[b + W h] under the exact hidden marginal, enumerable here.
    states = enumerate_binary_states(3, 0, 8)
    ph = torch.softmax(grbm._hidden_marginal()(states), 0)
    want = (ph[:, None] * (states @ grbm.weight.detach().T + grbm.visible_bias.detach())).sum(0)
    torch.testing.assert_close(v.mean(0), want, atol=0.05, rtol=0)
