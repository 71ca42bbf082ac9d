"""Conjugate EBMs (Wu et al. 2021) and CLEL (Lee et al. 2023): exact answers first.

Conjugate EBM: the closed-form marginal against quadrature over z, the closed-form posterior
against the normalised joint, and the known case where the model is a Gaussian mixture in x
(linear natural parameters plus the confining term) against `ebm.energies.GMMEnergy`.
CLEL: the marginal against quadrature over the circle, the von Mises-Fisher normaliser against
its closed forms, each loss term against an independent computation, where gradients flow (and
where they must not), the latent term's known optimum, and bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ebm.augment import GaussianJitter
from ebm.energies import CLELEnergy, ConjugateEBM, GMMEnergy
from ebm.energies.clel import von_mises_fisher_log_normalizer
from ebm.energies.conjugate import gaussian_log_normalizer
from ebm.grid import grid_log_partition
from ebm.objectives import CLEL
from samplers import ULA


def _cebm(latent_dim=1, n_components=3, hidden=(8,), seed=0, **kw):
    return ConjugateEBM(2, latent_dim=latent_dim, n_components=n_components, hidden=hidden, generator=torch.Generator().manual_seed(seed), **kw).double()


# ---------------------------------------------------------------------------------------------- conjugate EBM
def test_gaussian_log_normalizer_is_the_log_integral():
    m, s = 0.7, 1.3
    eta1, eta2 = torch.tensor(m / s**2, dtype=torch.double), torch.tensor(-0.5 / s**2, dtype=torch.double)
    z = torch.linspace(-20, 20, 400001, dtype=torch.double)
    log_integral = torch.logsumexp(eta1 * z + eta2 * z**2 - 0.5 * math.log(2 * math.pi), 0) + torch.log(z[1] - z[0])  # base measure (2π)^-1/2
    torch.testing.assert_close(gaussian_log_normalizer(eta1, eta2), log_integral, rtol=0, atol=1e-9)


@pytest.mark.parametrize("n_components", [1, 3])
def test_marginal_energy_is_minus_log_integral_over_z_1d(n_components):
    model = _cebm(latent_dim=1, n_components=n_components)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.double)
    z = torch.linspace(-40, 40, 160001, dtype=torch.double)  # midpoint-like rule; the integrand is smooth and decays
    with torch.no_grad():
        joint = model.joint_energy(x[:, None].expand(5, z.numel(), 2), z[None, :, None].expand(5, z.numel(), 1))  # (5, Z)
        by_quadrature = -(torch.logsumexp(-joint, 1) + torch.log(z[1] - z[0]))
        torch.testing.assert_close(model(x), by_quadrature, rtol=0, atol=1e-8)


def test_marginal_energy_is_minus_log_integral_over_z_2d():
    model = _cebm(latent_dim=2, n_components=2, seed=3, quadratic=0.3)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(2), dtype=torch.double)
    t = torch.linspace(-25, 25, 1001, dtype=torch.double)
    zz = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)  # (Z, 2)
    with torch.no_grad():
        joint = model.joint_energy(x[:, None].expand(3, zz.shape[0], 2), zz[None].expand(3, -1, 2))  # (3, Z)
        by_quadrature = -(torch.logsumexp(-joint, 1) + 2 * torch.log(t[1] - t[0]))
        torch.testing.assert_close(model(x), by_quadrature, rtol=0, atol=1e-7)
        # LatentEnergy's free energy at β = 1 is the same marginal; by importance sampling it agrees statistically.
        torch.testing.assert_close(model.free_energy(x), model(x))


def test_posterior_is_the_normalised_joint():
    model = _cebm(latent_dim=1, n_components=4, seed=5)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3), dtype=torch.double)
    z = torch.linspace(-40, 40, 160001, dtype=torch.double)
    dz = z[1] - z[0]
    with torch.no_grad():
        joint = model.joint_energy(x[:, None].expand(4, z.numel(), 2), z[None, :, None].expand(4, z.numel(), 1))  # (4, Z)
        log_post_grid = -joint - torch.logsumexp(-joint - 0.0, 1, keepdim=True) - torch.log(dz)  # normalised on the grid
        log_post = model.posterior_log_prob(x[:, None].expand(4, z.numel(), 2), z[None, :, None].expand(4, z.numel(), 1))
        keep = log_post_grid > -30  # compare where the density is not negligible
        torch.testing.assert_close(log_post[keep], log_post_grid[keep], rtol=0, atol=1e-7)
        # First two moments of the closed-form mixture against the grid's.
        p = torch.exp(log_post_grid) * dz
        mean_grid = (p * z).sum(1)
        weights, means, stds = model.posterior(x)
        torch.testing.assert_close(model.encode(x)[:, 0], mean_grid, rtol=0, atol=1e-8)
        second = (weights * (means[..., 0] ** 2 + stds[..., 0] ** 2)).sum(1)
        torch.testing.assert_close(second, (p * z**2).sum(1), rtol=0, atol=1e-7)


def test_posterior_samples_match_the_posterior_mean():
    model = _cebm(latent_dim=2, n_components=3, seed=7)
    x = torch.randn(1, 2, generator=torch.Generator().manual_seed(4), dtype=torch.double).expand(20000, 2)
    z = model.sample_posterior(x, generator=torch.Generator().manual_seed(5))
    mean = model.encode(x[:1])[0].detach()
    se = z.std(0) / math.sqrt(z.shape[0])
    # 5 standard errors: a false failure has probability < 1e-6 per coordinate.
    assert ((z.mean(0) - mean).abs() <= 5 * se).all()


def test_linear_conjugate_ebm_is_a_gaussian_mixture():
    """η₁ = Wx + b, η₂ = c constant and the confining term γ‖x‖²/2 make p(x) a GMM, derived here by hand.

    Per component, exp(A(λ + η(x)) - γ‖x‖²/2) is Gaussian in x with precision P = γI - WᵀT⁻¹W and mean
    P⁻¹WᵀT⁻¹(λ₁ + b), T = diag(τ), τ = -2(λ₂ + c); the mixture weights follow from each component's mass.
    """
    gamma = 2.0
    model = ConjugateEBM(2, latent_dim=2, n_components=3, hidden=(), quadratic=gamma, generator=torch.Generator().manual_seed(11)).double()
    W = torch.tensor([[0.8, -0.3], [0.2, 0.5]], dtype=torch.double)
    b = torch.tensor([0.1, -0.2], dtype=torch.double)
    c = torch.tensor([-0.4, -0.1], dtype=torch.double)
    with torch.no_grad():
        lin1, lin2 = model.head1[0], model.head2[0]
        lin1.weight.copy_(W), lin1.bias.copy_(b)
        lin2.weight.zero_(), lin2.bias.copy_(torch.log(torch.expm1(-c)))  # -softplus(bias) = c
        model.prior_means.copy_(torch.tensor([[1.0, 0.0], [-1.0, 1.5], [0.0, -2.0]]))
        model.prior_log_stds.copy_(torch.log(torch.tensor([[1.0, 0.5], [0.8, 1.2], [1.5, 0.7]])))
    means, covs, log_mass = [], [], []
    for k in range(3):
        var = torch.exp(2 * model.prior_log_stds[k])
        lam1, lam2 = model.prior_means[k] / var, -0.5 / var
        tau = -2 * (lam2 + c)
        Tinv = torch.diag(1 / tau)
        P = gamma * torch.eye(2, dtype=torch.double) - W.T @ Tinv @ W
        v = lam1 + b
        m = torch.linalg.solve(P, W.T @ Tinv @ v)
        const = -math.log(3) + 0.5 * v @ Tinv @ v - 0.5 * torch.log(tau).sum() - (-(lam1**2) / (4 * lam2) - 0.5 * torch.log(-2 * lam2)).sum()
        log_mass.append(const + 0.5 * m @ P @ m + math.log(2 * math.pi) - 0.5 * torch.logdet(P))
        means.append(m), covs.append(torch.linalg.inv(P))
    log_mass = torch.stack(log_mass)
    log_z = torch.logsumexp(log_mass, 0)
    gmm = GMMEnergy(torch.stack(means), torch.stack(covs), torch.softmax(log_mass, 0), beta=1.0)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(6), dtype=torch.double) * 2
    with torch.no_grad():
        torch.testing.assert_close(model(x), gmm(x) - log_z, rtol=0, atol=1e-10)
        torch.testing.assert_close(grid_log_partition(model, ((-12, 12), (-12, 12)), 600), log_z, rtol=0, atol=1e-6)


def test_conjugate_fit_uses_cd_and_learns():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 2, generator=g) * 0.5 + torch.tensor([1.0, -1.0])
    model = ConjugateEBM(2, latent_dim=2, n_components=2, hidden=(16,), quadratic=0.01, generator=g)
    with torch.no_grad():
        before = float(model(x).mean() - model(torch.randn(512, 2, generator=g) * 2).mean())
    history = model.fit(x, epochs=6, batch_size=128, progress=False, generator=g)
    with torch.no_grad():
        after = float(model(x).mean() - model(torch.randn(512, 2, generator=g) * 2).mean())
    assert len(history.losses) == 24 and all(math.isfinite(v) for v in history.losses)
    assert after < before  # data energy pushed below broad-noise energy


# ---------------------------------------------------------------------------------------------- CLEL
def _clel(latent_dim=2, beta=1.5, seed=0):
    return CLELEnergy(2, feature_dim=4, latent_dim=latent_dim, hidden=(8,), projection_hidden=8, beta=beta, generator=torch.Generator().manual_seed(seed)).double()


@pytest.mark.parametrize("beta", [0.3, 2.0, 40.0])
def test_vmf_log_normalizer_closed_forms(beta):
    theta = torch.linspace(0, 2 * math.pi, 200001, dtype=torch.double)[:-1]
    circle = float(torch.logsumexp(beta * torch.cos(theta), 0) + math.log(2 * math.pi / theta.numel()))
    assert von_mises_fisher_log_normalizer(beta, 2) == pytest.approx(circle, abs=1e-10)
    sphere = math.log(4 * math.pi) + beta + math.log1p(-math.exp(-2 * beta)) - math.log(2 * beta)  # 4π sinh(β)/β
    assert von_mises_fisher_log_normalizer(beta, 3) == pytest.approx(sphere, abs=1e-10)
    assert von_mises_fisher_log_normalizer(0.0, 3) == pytest.approx(math.log(4 * math.pi))


def test_clel_marginal_is_minus_log_integral_over_the_circle():
    model = _clel(latent_dim=2)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.double)
    theta = torch.linspace(0, 2 * math.pi, 20001, dtype=torch.double)[:-1]
    z = torch.stack([torch.cos(theta), torch.sin(theta)], -1)  # (Z, 2) on the unit circle
    with torch.no_grad():
        joint = model.joint_energy(x[:, None].expand(6, z.shape[0], 2), z[None].expand(6, -1, 2))  # (6, Z)
        marginal = -(torch.logsumexp(-joint, 1) + math.log(2 * math.pi / theta.numel()))
        torch.testing.assert_close(model(x) - model.latent_log_normalizer(), marginal, rtol=0, atol=1e-10)
        # and p(z | x) is the normalised joint
        log_post = model.posterior_log_prob(x[:, None].expand(6, z.shape[0], 2), z[None].expand(6, -1, 2))
        torch.testing.assert_close(log_post, -joint + marginal[:, None], rtol=0, atol=1e-10)


class _Seeded:
    """Gaussian jitter drawing from its own replayable stream (so the test can redo every draw)."""

    def __init__(self, std):
        self.std = std

    def __call__(self, x, generator=None):
        return x + self.std * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def test_clel_terms_against_an_independent_computation():
    torch.manual_seed(0)
    model = _clel(latent_dim=3, beta=1.7)
    encoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    objective = CLEL(encoder, _Seeded(0.2), sampler=ULA(0.01), k=2, energy_penalty=0.3, temperature=0.4)
    g = torch.Generator().manual_seed(9)
    x = torch.randn(6, 2, generator=g, dtype=torch.double)
    neg = torch.randn(5, 2, generator=g, dtype=torch.double)
    terms = objective.terms(model, x, neg, generator=torch.Generator().manual_seed(4))
    # Independent recomputation, in numpy where it is a formula.
    g2 = torch.Generator().manual_seed(4)
    v0, v1, v2 = (x + 0.2 * torch.randn(x.shape, generator=g2, dtype=x.dtype) for _ in range(3))
    with torch.no_grad():
        f_pos, f_neg = model.net(x).numpy(), model.net(neg).numpy()
        e_pos, e_neg = 0.5 * (f_pos**2).sum(1), 0.5 * (f_neg**2).sum(1)
        ebm = e_pos.mean() - e_neg.mean() + 0.3 * ((e_pos**2).mean() + (e_neg**2).mean())
        g_pos = model.projection(model.net(x)).numpy()
        z = encoder(v0).numpy()
        cos = (g_pos * z).sum(1) / np.linalg.norm(g_pos, axis=1) / np.linalg.norm(z, axis=1)
        latent = (-1.7 * cos).mean() + von_mises_fisher_log_normalizer(1.7, 3)
        h = np.concatenate([encoder(v1).numpy(), encoder(v2).numpy()])
        h /= np.linalg.norm(h, axis=1, keepdims=True)
        k = model.projection(model.net(neg)).numpy()
        k /= np.linalg.norm(k, axis=1, keepdims=True)
        losses = []
        for i in range(12):
            positive = (i + 6) % 12
            others = [h[i] @ h[j] / 0.4 for j in range(12) if j != i] + [h[i] @ kk / 0.4 for kk in k]
            losses.append(-(h[i] @ h[positive] / 0.4) + np.log(np.sum(np.exp(others))))
    assert float(terms["ebm"].detach()) == pytest.approx(ebm, abs=1e-10)
    assert float(terms["latent"].detach()) == pytest.approx(latent, abs=1e-10)
    assert float(terms["contrastive"].detach()) == pytest.approx(np.mean(losses), abs=1e-10)


def test_clel_gradients_flow_where_they_must():
    torch.manual_seed(0)
    model = _clel(latent_dim=3)
    encoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    objective = CLEL(encoder, GaussianJitter(0.1), sampler=ULA(0.01), k=2)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.double)
    neg = torch.randn(8, 2, generator=torch.Generator().manual_seed(2), dtype=torch.double)
    terms = objective.terms(model, x, neg, generator=torch.Generator().manual_seed(3))
    f_params, g_params, h_params = list(model.net.parameters()), list(model.projection.parameters()), list(encoder.parameters())

    def grads(term, params):
        return [gr for gr in torch.autograd.grad(terms[term], params, retain_graph=True, allow_unused=True)]

    def moved(gs):
        return any(gr is not None and float(gr.abs().max()) > 0 for gr in gs)

    assert moved(grads("ebm", f_params)) and not moved(grads("ebm", g_params + h_params))  # the marginal ignores g and h
    assert moved(grads("latent", f_params)) and moved(grads("latent", g_params))
    assert not moved(grads("latent", h_params))  # the contrastive latent is a stop-gradient target
    assert moved(grads("contrastive", h_params)) and not moved(grads("contrastive", f_params + g_params))  # EBM negatives detached


def test_clel_latent_term_known_optimum():
    """Trained on the latent term alone, ĝ(x) turns to the target direction: -log p(z|x) -> -β + log C(β)."""
    torch.manual_seed(0)
    model = _clel(latent_dim=3, beta=2.0)
    target = F.normalize(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.double), dim=-1)
    encoder = nn.Linear(2, 3).double()
    with torch.no_grad():  # the encoder maps everything to the target direction
        encoder.weight.zero_(), encoder.bias.copy_(target[0])
    objective = CLEL(encoder, None, sampler=ULA(0.01), k=1)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1), dtype=torch.double)
    opt = torch.optim.Adam(model.projection.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = objective.terms(model, x, x[:2])["latent"]
        loss.backward()
        opt.step()
    optimum = -2.0 + von_mises_fisher_log_normalizer(2.0, 3)
    assert float(loss.detach()) == pytest.approx(optimum, abs=1e-3)
    assert float((model.project(x) @ target[0]).min().detach()) > 0.999


def test_clel_trains_through_the_loop_and_fit():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g)
    model = CLELEnergy(2, feature_dim=4, latent_dim=3, hidden=(16,), projection_hidden=8, quadratic=0.01, generator=g)
    history = model.fit(x, epochs=2, batch_size=64, progress=False, generator=g)  # default objective: CLEL with an MLP encoder
    assert len(history.losses) == 8 and all(math.isfinite(v) for v in history.losses)


def test_clel_bad_input():
    model = _clel(latent_dim=3)
    x = torch.randn(4, 2, dtype=torch.double)
    with pytest.raises(ValueError, match="unit"):
        model.joint_energy(x, torch.ones(4, 3, dtype=torch.double))
    with pytest.raises(ValueError, match="Fix:"):
        model.posterior_log_prob(x, torch.ones(4, 2, dtype=torch.double))
    objective = CLEL(nn.Linear(2, 3).double(), None, sampler=ULA(0.01), k=1)
    with pytest.raises(ValueError, match="at least 2"):
        objective(model, x[:1])
    with pytest.raises(ValueError, match="finite"):
        objective(model, torch.full((4, 2), float("nan"), dtype=torch.double))
    with pytest.raises(TypeError, match="CLELEnergy"):
        objective(_cebm(), x)
    with pytest.raises(ValueError, match="sampler"):
        CLEL(nn.Linear(2, 3).double(), None)(model, x)
    with pytest.raises(ValueError, match="negatives"):
        from ebm.objectives import InfoNCE

        InfoNCE()(torch.randn(4, 3), torch.randn(4, 3), negatives=torch.randn(2, 5))


def test_conjugate_bad_input():
    model = _cebm(latent_dim=2)
    x = torch.randn(4, 2, dtype=torch.double)
    with pytest.raises(ValueError, match="z"):
        model.joint_energy(x, torch.zeros(4, 3, dtype=torch.double))
    with pytest.raises(ValueError, match="finite"):
        model.posterior(torch.full((4, 2), float("nan"), dtype=torch.double))
    with pytest.raises(ValueError, match="beta"):
        model.free_energy(x, beta=2.0)


@pytest.mark.slow
def test_clel_known_optimum_gaussian():
    """With f linear, E(x) = ½‖Wx + b‖² is a Gaussian; CLEL's maximum-likelihood part must recover the data's.

    Statistical: 1500 updates of batch 256, persistent Langevin chains, β = 0.01 (the paper's weight, so
    the latent term barely moves W); tolerance 15% on each covariance entry's scale and 0.15 on the mean,
    several times the run-to-run spread seen over seeds.
    """
    from ebm.train import train

    g = torch.Generator().manual_seed(0)
    cov = torch.tensor([[0.5, 0.2], [0.2, 1.5]])
    mean = torch.tensor([1.0, -0.5])
    x = torch.distributions.MultivariateNormal(mean, cov).sample((8192,))
    model = CLELEnergy(2, feature_dim=2, latent_dim=2, hidden=(), projection_hidden=8, beta=0.01, generator=g)
    objective = CLEL(nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)), GaussianJitter(0.1), sampler=ULA(0.01), k=20,
                     replay_buffer_size=0, energy_penalty=0.0)
    train(model, objective, x, epochs=48, batch_size=256, lr=5e-3, generator=g, progress=False)
    W, b = model.net[0].weight.detach(), model.net[0].bias.detach()
    learned_cov = torch.linalg.inv(W.T @ W)
    learned_mean = -torch.linalg.solve(W, b)
    assert torch.allclose(learned_mean, mean, atol=0.15), learned_mean
    assert torch.allclose(learned_cov, cov, atol=0.15 * 1.5), learned_cov
