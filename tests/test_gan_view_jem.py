"""Issue #18 (slice a): the GAN view of contrastive samples (`GeneratorContrast`, `knn_entropy`,
`MLPGenerator`) and JEM (`ClassifierEnergy`, `JEM`, `SGLD`).

Exact answers first (hand-computed losses, the logsumexp identities, the SGLD update, the entropy
estimate's scale law), then statistics with stated tolerances (the entropy of Gaussians, the
replay buffer's restart rate, the Gaussian fixed point, JEM's accuracy on digits).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import digamma, gammaln

from ebm.energies import ClassifierEnergy, MLPGenerator, QuadraticEnergy
from ebm.objectives import JEM, SGLD, GeneratorContrast, knn_entropy
from ebm.objectives.energy_generator import energy_generator_losses, fit_2d
from ebm.train import linear_lr_decay, train


# ---------------------------------------------------------------------------------- the entropy
def _kl_entropy_numpy(x: np.ndarray) -> float:
    """Kozachenko–Leonenko (k = 1) by brute force in float64, written independently."""
    n, d = x.shape
    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    rho = dist.min(1)
    log_vd = d / 2 * math.log(math.pi) - gammaln(d / 2 + 1)
    return float(digamma(n) - digamma(1) + log_vd + d * np.log(rho).mean())


def test_knn_entropy_matches_an_independent_computation():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(knn_entropy(x)) == pytest.approx(_kl_entropy_numpy(x.numpy()), abs=1e-10)


def test_knn_entropy_scale_law_is_exact():
    # ρ_i scale with c, so Ĥ(c x) = Ĥ(x) + D log c exactly (the neighbours do not change).
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert float(knn_entropy(3.0 * x) - knn_entropy(x)) == pytest.approx(2 * math.log(3.0), abs=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_knn_entropy_of_gaussians(d):
    # N(0, Σ): H = ½ log det(2πe Σ). With n = 4000 the estimator's standard deviation is about
    # d · 1.28 / √n ≈ 0.02 d and its bias is O(1/n)-small for a Gaussian in d ≤ 3; 0.1 d is > 4 sd.
    g = torch.Generator().manual_seed(d)
    a = torch.randn(d, d, generator=g, dtype=torch.float64) * 0.5 + torch.eye(d, dtype=torch.float64)
    cov = a @ a.T
    x = torch.randn(4000, d, generator=g, dtype=torch.float64) @ a.T
    truth = 0.5 * float(torch.logdet(2 * math.pi * math.e * cov))
    assert float(knn_entropy(x)) == pytest.approx(truth, abs=0.1 * d)


def test_knn_entropy_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        knn_entropy(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="finite"):
        knn_entropy(torch.tensor([[0.0, float("nan")], [1.0, 1.0]]))
    with pytest.raises(TypeError, match="Fix:"):
        knn_entropy(torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="k"):
        knn_entropy(torch.zeros(4, 2), k=0)


# ------------------------------------------------------------------------ the two players' losses
def test_energy_and_generator_losses_on_hand_inputs():
    energy = QuadraticEnergy(2).double()  # E(x) = ½‖x‖²
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)  # E = 0.5, 2
    samples = torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 0.0]], dtype=torch.float64)  # E = 0, 1, 4.5
    l_e, l_g, h = energy_generator_losses(energy, x, samples, entropy_weight=0.5)
    # nearest neighbours: √2, √2, √5; Ĥ = ψ(3) - ψ(1) + log π + (2/3) Σ log ρ_i, ψ(3) - ψ(1) = 1.5
    h_hand = 1.5 + math.log(math.pi) + (2 / 3) * (2 * math.log(math.sqrt(2)) + math.log(math.sqrt(5)))
    assert float(h) == pytest.approx(h_hand, abs=1e-12)
    l_e, l_g, h = l_e.detach(), l_g.detach(), h.detach()
    assert float(l_e) == pytest.approx(1.25 - 5.5 / 3, abs=1e-12)
    assert float(l_g) == pytest.approx(5.5 / 3 - 0.5 * h_hand, abs=1e-12)


def _gaussian_pair(mean, cov, dtype=torch.float64):
    energy = QuadraticEnergy(2, mean=mean.clone(), precision=torch.linalg.inv(cov)).to(dtype)
    gen = MLPGenerator(2, 2, hidden=(), generator=torch.Generator().manual_seed(0)).to(dtype)
    with torch.no_grad():
        gen.net[0].weight.copy_(torch.linalg.cholesky(cov))
        gen.net[0].bias.copy_(mean)
    return energy, gen


def test_phases_alternate_and_train_one_side_each():
    energy, gen = _gaussian_pair(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    gc = GeneratorContrast(gen, energy_steps=1, generator_steps=2)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    phases = []
    for _ in range(4):
        phases.append(gc.next_phase())
        for p in (*energy.parameters(), *gc.parameters()):
            p.grad = None
        gc(energy, x, generator=torch.Generator().manual_seed(1)).backward()
        e_grad = any(p.grad is not None and p.grad.abs().sum() > 0 for p in energy.parameters())
        g_grad = any(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())
        assert (e_grad, g_grad) == ((True, False) if phases[-1] == "energy" else (False, True))
    assert phases == ["energy", "generator", "generator", "energy"]


def test_generator_phase_value_is_the_energy_gap_and_gradient_is_the_generator_loss():
    energy, gen = _gaussian_pair(torch.tensor([0.5, -0.5], dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    gc = GeneratorContrast(gen, energy_steps=0, generator_steps=1, entropy_weight=1.0)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loss = gc(energy, x, generator=torch.Generator().manual_seed(5))
    loss.backward()
    samples = gen.rsample(16, generator=torch.Generator().manual_seed(5))
    l_e, l_g, _ = energy_generator_losses(energy, x, samples)
    assert float(loss.detach()) == pytest.approx(float(l_e.detach()), abs=1e-12)
    expected = torch.autograd.grad(l_g, list(gen.parameters()))
    for p, want in zip(gen.parameters(), expected):
        torch.testing.assert_close(p.grad, want)


def test_gaussian_fixed_point_is_stationary_for_both_players():
    # The known optimum: data N(μ, Σ); the energy is the maximum-likelihood Gaussian (the data's
    # mean and covariance) and the affine generator produces exactly that law. Both expected
    # gradients vanish there: the energy's because p_G has the data's first two moments, the
    # generator's because p_G = p_θ minimises KL(p_G ‖ p_θ). Averaged over 16 batches of 2000
    # generated points what is left is noise (sd ≈ 0.03 per entry); moving the energy's mean, or
    # the generator's offset, by 0.5 gives gradients ≥ 0.4. Tolerance 0.15.
    g = torch.Generator().manual_seed(0)
    mean, chol = torch.tensor([1.0, -0.5], dtype=torch.float64), torch.tensor([[1.0, 0.0], [0.6, 0.7]], dtype=torch.float64)
    x = mean + torch.randn(20000, 2, generator=g, dtype=torch.float64) @ chol.T
    mu_hat, cov_hat = x.mean(0), torch.cov(x.T, correction=0)
    shift = torch.tensor([0.5, 0.0], dtype=torch.float64)

    def mean_gradients(energy_shift, generator_shift, batches=16):
        energy, _ = _gaussian_pair(mu_hat + energy_shift, cov_hat)
        _, gen = _gaussian_pair(mu_hat + energy_shift + generator_shift, cov_hat)
        gc = GeneratorContrast(gen, n_samples=2000)
        e_sum = g_sum = 0.0
        for _ in range(batches):
            for phase in ("energy", "generator"):
                assert gc.next_phase() == phase
                for p in (*energy.parameters(), *gc.parameters()):
                    p.grad = None
                gc(energy, x, generator=g).backward()
                if phase == "energy":
                    e_sum = e_sum + torch.cat([p.grad.flatten() for p in energy.parameters()])
                else:
                    g_sum = g_sum + torch.cat([p.grad.flatten() for p in gen.parameters()])
        return float((e_sum / batches).abs().max()), float((g_sum / batches).abs().max())

    e_opt, g_opt = mean_gradients(0.0, 0.0)
    assert e_opt < 0.15 and g_opt < 0.15, (e_opt, g_opt)
    e_off, _ = mean_gradients(shift, 0.0)  # the generator follows the energy; the energy is off the data
    _, g_off = mean_gradients(0.0, shift)  # the generator is off the energy
    assert e_off > 0.4 and g_off > 0.4, (e_off, g_off)


def test_training_recovers_the_gaussian_maximum_likelihood_fit():
    # From a wrong start (standard normal energy, a random affine generator), alternating Adam
    # updates (4 generator steps per energy step, the learning rate decayed linearly to 5%) reach
    # the data's mean and covariance. Tolerance 0.1 on each entry: without the decay the game
    # still circles the optimum at ±0.25 after 60 epochs; with it the end point is within 0.03.
    g = torch.Generator().manual_seed(0)
    mean, chol = torch.tensor([1.0, -0.5]), torch.tensor([[1.0, 0.0], [0.6, 0.7]])
    x = mean + torch.randn(4096, 2, generator=g) @ chol.T
    energy = QuadraticEnergy(2)
    gen = MLPGenerator(2, 2, hidden=(), generator=torch.Generator().manual_seed(1))
    train(energy, GeneratorContrast(gen, generator_steps=4), x, epochs=60, batch_size=256, lr=2e-2, generator=g, progress=False,
          callbacks=[linear_lr_decay(60, final_fraction=0.05)])
    with torch.no_grad():
        cov_model = torch.linalg.inv(energy.precision)
    torch.testing.assert_close(energy.mean.detach(), x.mean(0), atol=0.1, rtol=0)
    torch.testing.assert_close(cov_model, torch.cov(x.T), atol=0.1, rtol=0)


def test_fit_2d_returns_a_finite_energy():
    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
    energy = fit_2d(x, steps=8, generator=torch.Generator().manual_seed(0))
    assert energy(x).shape == (512,) and bool(torch.isfinite(energy(x)).all())


def test_generator_contrast_bad_input():
    gen = MLPGenerator(2, 2, hidden=(4,))
    with pytest.raises(TypeError, match="generator_net"):
        GeneratorContrast(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="energy_steps"):
        GeneratorContrast(gen, energy_steps=0, generator_steps=0)
    with pytest.raises(ValueError, match="event shape"):
        GeneratorContrast(MLPGenerator(2, 3))(QuadraticEnergy(2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="finite"):
        GeneratorContrast(gen)(QuadraticEnergy(2), torch.full((4, 2), float("inf")))
    with pytest.raises(ValueError, match="z"):
        gen(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="n"):
        gen.rsample(0)
    with pytest.raises(ValueError, match="latent_dim"):
        MLPGenerator(0, 2)


# ----------------------------------------------------------------------------------------- JEM
def test_classifier_energy_identities():
    model = ClassifierEnergy(5, 4, hidden=(16,), generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    logits = model.logits(x).detach().numpy()
    lse = np.log(np.exp(logits).sum(1))
    np.testing.assert_allclose(model(x).detach().numpy(), -lse, rtol=1e-12)
    np.testing.assert_allclose(model.joint_energy(x, y).detach().numpy(), -logits[np.arange(7), y.numpy()], rtol=1e-12)
    softmax = np.exp(logits - lse[:, None])
    np.testing.assert_allclose(model.predict_proba(x).detach().numpy(), softmax, rtol=1e-12)
    # p(y | x) = exp(E(x) - E(x, y)): the normaliser cancels
    p = torch.exp(model(x) - model.joint_energy(x, y))
    np.testing.assert_allclose(p.detach().numpy(), softmax[np.arange(7), y.numpy()], rtol=1e-12)
    assert torch.equal(model.predict(x), torch.as_tensor(logits.argmax(1)))
    assert model(x.reshape(1, 7, 5)).shape == (1, 7)


def test_classifier_energy_bad_labels():
    model = ClassifierEnergy(5, 4, hidden=(4,))
    x = torch.rand(3, 5)
    with pytest.raises(TypeError, match="integer"):
        model.joint_energy(x, torch.zeros(3))
    with pytest.raises(ValueError, match="class indices"):
        model.joint_energy(x, torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="one label per input"):
        model.joint_energy(x, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="finite"):
        model.predict_proba(torch.full((3, 5), float("nan")))


def test_sgld_is_jems_update():
    model = ClassifierEnergy(4, 3, hidden=(8,), generator=torch.Generator().manual_seed(0)).double()
    x0 = torch.rand(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = SGLD(0.7, 0.05).run(model, x0, 1, generator=torch.Generator().manual_seed(3)).x
    xr = x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xr).sum(), xr)
    xi = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(out, x0 - 0.7 * grad + 0.05 * xi, rtol=0, atol=1e-12)


class _Identity:
    def run(self, energy, x0, n_steps, *, generator=None):
        return type("R", (), {"x": x0})()


def test_replay_buffer_restarts_at_the_stated_rate():
    # Each start is a restart with probability 0.05. Over 20 × 1000 draws the observed rate has
    # sd √(0.05 · 0.95 / 20000) ≈ 0.0015; tolerance 0.008 (> 5 sd). The sentinel 7 lies outside
    # the restart range [0, 1], so restarts are recognised exactly.
    jem = JEM(buffer_size=5000, init_range=(0.0, 1.0))
    jem.replay.sampler = _Identity()
    model = ClassifierEnergy(3, 2, hidden=(4,))
    g = torch.Generator().manual_seed(0)
    restarts = 0
    for _ in range(20):
        jem.replay.chains = torch.full((5000, 3), 7.0)
        neg = jem.replay.negatives(model, torch.rand(1000, 3, generator=g), generator=g)
        fresh = (neg != 7.0).all(1)
        assert bool((neg[fresh] >= 0).all() and (neg[fresh] <= 1).all())
        restarts += int(fresh.sum())
    assert restarts / 20000 == pytest.approx(0.05, abs=0.008)
    assert jem.replay.reinit_prob == 0.05 and jem.replay.replay_buffer_size == 5000


def test_jem_paper_defaults():
    jem = JEM()
    assert (jem.n_steps, jem.buffer_size, jem.reinit_prob, jem.sgld.step_size, jem.sgld.noise) == (20, 10_000, 0.05, 1.0, 0.01)


def test_jem_loss_is_cross_entropy_plus_the_energy_gap():
    model = ClassifierEnergy(4, 3, hidden=(8,), generator=torch.Generator().manual_seed(0)).double()
    x = torch.rand(8, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=torch.Generator().manual_seed(2))
    jem = JEM(generative_weight=0.5, n_steps=2, buffer_size=16)
    loss = jem(model, (x, y), generator=torch.Generator().manual_seed(3))
    neg = jem.replay.chains[jem.replay._replay_idx]  # the negatives just stored
    ce = torch.nn.functional.cross_entropy(model.logits(x), y)
    with torch.no_grad():
        want = ce + 0.5 * (model(x).mean() - model(neg).mean())
    assert float(loss.detach()) == pytest.approx(float(want), abs=1e-10)
    plain = JEM(generative_weight=0)(model, (x, y))
    assert float(plain.detach()) == pytest.approx(float(ce.detach()), abs=1e-12)


def test_jem_bad_input():
    model = ClassifierEnergy(4, 3, hidden=(4,))
    with pytest.raises(TypeError, match="batch"):
        JEM()(model, torch.rand(8, 4))
    with pytest.raises(ValueError, match="class indices"):
        JEM(n_steps=1, buffer_size=8)(model, (torch.rand(8, 4), torch.full((8,), 5)))
    with pytest.raises(ValueError, match="reinit_prob"):
        JEM(reinit_prob=-0.1)
    with pytest.raises(ValueError, match="init_range"):
        JEM(init_range=(0.0, 0.0))


def _digits_accuracy(objective, epochs):
    from ebm.data import load_digits

    x_tr, y_tr = load_digits("train")
    x_te, y_te = load_digits("test")
    model = ClassifierEnergy(64, 10, hidden=(128, 128), generator=torch.Generator().manual_seed(5))
    train(model, objective, (x_tr, y_tr), epochs=epochs, batch_size=64, lr=1e-3, generator=torch.Generator().manual_seed(6), progress=False)
    with torch.no_grad():
        return float((model.predict(x_te) == y_te).float().mean()), model


def test_jem_trains_a_working_classifier_quickly():
    # The quick check of the default run: 8 epochs, 5 SGLD steps. The comparison with the plain
    # classifier is the slow test below: at this budget JEM trails it (observed 0.896 against
    # 0.933), so the quick check asks for 0.8: 10 points under the value observed, far above chance.
    acc, model = _digits_accuracy(JEM(n_steps=5, energy_penalty=0.1, data_noise=0.03), 8)
    assert acc > 0.8
    with torch.no_grad():
        assert float(model(torch.rand(16, 64)).abs().max()) < 50  # the penalty keeps the energies bounded


@pytest.mark.slow
def test_jem_head_reaches_the_plain_classifier_within_two_points():
    # The example's budget (examples/18_gan_view_and_jem.py): 60 epochs of batch 64, 10 SGLD steps.
    plain, _ = _digits_accuracy(JEM(generative_weight=0), 60)
    jem, _ = _digits_accuracy(JEM(n_steps=10, energy_penalty=0.1, data_noise=0.03), 60)
    assert jem >= plain - 0.02, (jem, plain)
