"""VAE with a latent EBM prior (LatentEBMVAE, VAELatentEBMLoss), the divergence triangle, and the
held-out bounds: closed forms on linear-Gaussian models first (exact posterior, probabilistic PCA,
Gaussian KLs between the three joints), then gradient routing by finite differences, then bad input."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal, kl_divergence

from ebm.energies import LatentEBMVAE, MLPEnergy, QuadraticEnergy
from ebm.energies.vae import LOG_VAR_RANGE
from ebm.evaluate.vae_bounds import held_out_bounds, latent_prior_log_partition
from ebm.objectives import DivergenceTriangle, VAELatentEBMLoss

D64 = torch.float64


def _set_linear(seq_owner, name, weight, bias):
    lin = nn.Linear(weight.shape[1], weight.shape[0]).to(D64)
    with torch.no_grad():
        lin.weight.copy_(weight)
        lin.bias.copy_(bias)
    setattr(seq_owner, name, nn.Sequential(lin))


def _raw_for(log_var):
    """The pre-squash encoder output that gives ``log_var``."""
    lo, hi = LOG_VAR_RANGE
    return torch.logit(torch.as_tensor((log_var - lo) / (hi - lo), dtype=D64)) + 2.0


def _linear_encoder(encoder, a, c, log_var):
    """q(z | x) = N(a x + c, e^{log_var}) with a (k, d), c (k,), log_var (k,)."""
    k, d = a.shape
    weight = torch.cat([a, torch.zeros(k, d, dtype=D64)])  # (2k, d)
    bias = torch.cat([c, _raw_for(log_var)])
    _set_linear(encoder, "net", weight, bias)


def _linear_vae(w, b, sigma, prior="gaussian"):
    d, k = w.shape
    model = LatentEBMVAE(d, latent_dim=k, hidden=4, prior_hidden=4, prior=prior, sigma=sigma, prior_steps=5,
                         generator=torch.Generator().manual_seed(0)).double()
    _set_linear(model, "generator_net", w, b)
    return model


def _exact_posterior(w, b, sigma):
    """p(z | x) = N(M⁻¹Wᵀ(x - b), σ² M⁻¹), M = WᵀW + σ² I (Tipping & Bishop 1999): as (a, c, log var)."""
    k = w.shape[1]
    m_inv = torch.linalg.inv(w.T @ w + sigma**2 * torch.eye(k, dtype=D64))
    a = m_inv @ w.T
    return a, -a @ b, torch.log(sigma**2 * torch.diagonal(m_inv))


def _draw(dist, n, generator):
    """``n`` draws of a MultivariateNormal from an explicit generator, ``(n, d)``."""
    eps = torch.randn(n, dist.loc.shape[0], generator=generator, dtype=D64)
    return dist.loc + eps @ dist.scale_tril.T


def _marginal(w, b, sigma):
    return MultivariateNormal(b, w @ w.T + sigma**2 * torch.eye(w.shape[0], dtype=D64))


# ---------------------------------------------------------------- closed forms: linear-Gaussian VAE
def test_exact_posterior_makes_elbo_iwae_and_free_energy_equal_log_marginal():
    g = torch.Generator().manual_seed(0)
    w, b, sigma = torch.randn(3, 1, generator=g, dtype=D64), torch.randn(3, generator=g, dtype=D64), 0.5
    model = _linear_vae(w, b, sigma)
    _linear_encoder(model.encoder, *_exact_posterior(w, b, sigma))  # k = 1: the diagonal q is exact
    x = torch.randn(16, 3, generator=g, dtype=D64) * 2
    log_p = _marginal(w, b, sigma).log_prob(x)  # (16,)
    # log p(x, z) - log q(z | x) = log p(x) for every z: the bound is tight with zero variance.
    torch.testing.assert_close(model.elbo(x, n_samples=5, generator=g), log_p, rtol=0, atol=1e-10)
    torch.testing.assert_close(model.log_marginal_bound(x, k=7, chunk=3, generator=g), log_p, rtol=0, atol=1e-10)
    const = 0.5 * math.log(2 * math.pi) + 1.5 * math.log(2 * math.pi * sigma**2)
    torch.testing.assert_close(model(x), -log_p - const, rtol=0, atol=1e-10)


def test_negative_elbo_loss_matches_closed_form_for_a_mismatched_encoder():
    g = torch.Generator().manual_seed(1)
    w, b, sigma = torch.randn(3, 1, generator=g, dtype=D64), torch.zeros(3, dtype=D64), 0.7
    model = _linear_vae(w, b, sigma)
    a, c, lv = torch.randn(1, 3, generator=g, dtype=D64), torch.tensor([0.3], dtype=D64), torch.tensor([-1.0], dtype=D64)
    _linear_encoder(model.encoder, a, c, lv)
    x = torch.randn(8, 3, generator=g, dtype=D64)
    m, v = x @ a.T + c, lv.exp()  # (8, 1), (1,)
    # ELBO = -(d/2) log 2πσ² - (‖x - W m - b‖² + ‖W‖² v) / (2σ²) - KL(N(m, v) ‖ N(0, 1)), closed form.
    recon = (x - m @ w.T - b).pow(2).sum(-1) + w.pow(2).sum() * v
    kl = 0.5 * (m.pow(2) + v - 1 - lv).sum(-1)
    elbo = -1.5 * math.log(2 * math.pi * sigma**2) - recon / (2 * sigma**2) - kl
    loss = VAELatentEBMLoss(n_samples=40_000)(model, x, generator=g)
    # Monte Carlo over z only in the reconstruction: sd per example ≈ ‖W‖ |x-part| √v / σ² / √S ≪ 0.02.
    assert abs(float(loss.detach()) + float(elbo.mean())) < 0.02


@pytest.mark.slow
def test_linear_vae_reaches_the_probabilistic_pca_optimum():
    g = torch.Generator().manual_seed(2)
    u = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=D64))[0]
    cov = u @ torch.diag(torch.tensor([4.0, 1.0, 0.5], dtype=D64)) @ u.T
    x = _draw(MultivariateNormal(torch.tensor([1.0, -1.0, 0.5], dtype=D64), cov), 4000, g)
    sigma = 0.5
    model = _linear_vae(0.1 * torch.randn(3, 1, generator=g, dtype=D64), torch.zeros(3, dtype=D64), sigma)
    _linear_encoder(model.encoder, torch.zeros(1, 3, dtype=D64), torch.zeros(1, dtype=D64), torch.zeros(1, dtype=D64))
    model.encoder.net[0].requires_grad_(True)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    loss_fn = VAELatentEBMLoss(n_samples=4)
    for step in range(1500):
        for group in opt.param_groups:
            group["lr"] = 2e-2 * (1 - step / 1500) + 1e-4
        opt.zero_grad()
        loss_fn(model, x, generator=g).backward()
        opt.step()
    evals, evecs = torch.linalg.eigh(torch.cov(x.T))
    w = model.generator_net[0].weight.detach()[:, 0]
    # Tipping & Bishop (1999) with σ fixed: W Wᵀ = (λ₁ - σ²) u₁u₁ᵀ, b = the sample mean.
    assert abs(float(w.pow(2).sum()) / float(evals[-1] - sigma**2) - 1) < 0.05
    assert abs(float(w @ evecs[:, -1]) / float(w.norm())) > 0.995
    torch.testing.assert_close(model.generator_net[0].bias.detach(), x.mean(0), atol=0.05, rtol=0)


# ---------------------------------------------------------------- f ≡ 0 is the VAE
def test_zero_tilt_reduces_to_the_gaussian_vae_exactly():
    ebm = LatentEBMVAE(3, latent_dim=2, hidden=8, prior_hidden=8, prior="ebm", prior_steps=3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ebm.prior_net[-1].weight.zero_()
        ebm.prior_net[-1].bias.zero_()  # f ≡ 0
    vae = LatentEBMVAE(3, latent_dim=2, hidden=8, prior_hidden=8, prior="gaussian", generator=torch.Generator().manual_seed(9))
    vae.load_state_dict(ebm.state_dict())
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(1))
    losses = []
    for model in (ebm, vae):
        model.zero_grad()
        loss = VAELatentEBMLoss()(model, x, generator=torch.Generator().manual_seed(2))
        loss.backward()
        losses.append(loss)
    assert float(losses[0].detach()) == float(losses[1].detach())
    for (name, p), q in zip(ebm.named_parameters(), vae.parameters()):
        if not name.startswith("prior_net"):
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0)
    assert all(p.grad is None for p in vae.prior_net.parameters())  # the Gaussian prior has nothing to learn
    torch.testing.assert_close(ebm(x), vae(x), rtol=0, atol=0)
    assert abs(latent_prior_log_partition(ebm, method="grid")["log_z"]) < 1e-7  # the midpoint rule on [-6, 6]²


# ---------------------------------------------------------------- log Z of the latent prior
def test_log_partition_estimators_on_a_linear_tilt():
    model = LatentEBMVAE(3, latent_dim=2, hidden=4, prior_hidden=4, generator=torch.Generator().manual_seed(0))
    w, b0 = torch.tensor([[0.8, -0.5]]), torch.tensor([0.3])
    _set_linear(model, "prior_net", w.double(), b0.double())
    model.prior_net.float()
    exact = 0.5 * float(w.pow(2).sum()) - float(b0)  # log E_N(0,I)[exp(-wᵀz - b)] = ½‖w‖² - b
    g = torch.Generator().manual_seed(3)
    assert abs(latent_prior_log_partition(model, method="grid")["log_z"] - exact) < 1e-6
    r = latent_prior_log_partition(model, method="importance", n_samples=200_000, generator=g)
    assert abs(r["log_z"] - exact) < 4 * r["stderr"] + 1e-4
    r = latent_prior_log_partition(model, method="ais", n_chains=100, n_betas=200, generator=g)
    assert abs(r["log_z"] - exact) < 0.05
    bounds = held_out_bounds(model, torch.randn(20, 3, generator=g), k=10, log_z=exact, generator=g)
    assert bounds["elbo"] <= bounds["iwae"] + 0.5 and bounds["log_z"] == exact


# ---------------------------------------------------------------- the divergence triangle
def _linear_triangle(sigma=0.4):
    g = torch.Generator().manual_seed(4)
    tri = DivergenceTriangle(2, latent_dim=1, hidden=4, sigma=sigma, generator=g).double()
    w, b = torch.tensor([[1.2], [-0.4]], dtype=D64), torch.tensor([0.2, 0.1], dtype=D64)
    _set_linear(tri, "generator_net", w, b)
    a, c, lv = torch.tensor([[0.5, -0.3]], dtype=D64), torch.tensor([0.1], dtype=D64), torch.tensor([-0.7], dtype=D64)
    _linear_encoder(tri.encoder, a, c, lv)
    prec = torch.tensor([[1.5, 0.2], [0.2, 0.8]], dtype=D64)
    energy = QuadraticEnergy(2, mean=torch.tensor([0.3, -0.2]), precision=prec.float()).double()
    return tri, energy, (w, b, a, c, lv, prec)


def _joint(mu_x, cov_x, a, c, lv):
    """(x, z) with x ~ N(mu_x, cov_x), z | x ~ N(a x + c, e^lv): a Gaussian on R^{d+k}."""
    mean = torch.cat([mu_x, a @ mu_x + c])
    top = torch.cat([cov_x, cov_x @ a.T], 1)
    bottom = torch.cat([a @ cov_x, a @ cov_x @ a.T + torch.diag(lv.exp())], 1)
    return MultivariateNormal(mean, torch.cat([top, bottom]))


def test_triangle_value_matches_closed_form_kls_on_a_linear_gaussian_case():
    tri, energy, (w, b, a, c, lv, prec) = _linear_triangle()
    mu_d, cov_d = torch.tensor([0.5, 0.0], dtype=D64), torch.tensor([[1.0, 0.3], [0.3, 0.6]], dtype=D64)
    sigma = tri.sigma
    q = _joint(mu_d, cov_d, a, c, lv)
    p = MultivariateNormal(torch.cat([b, torch.zeros(1, dtype=D64)]),
                           torch.cat([torch.cat([w @ w.T + sigma**2 * torch.eye(2, dtype=D64), w], 1), torch.cat([w.T, torch.eye(1, dtype=D64)], 1)]))
    pi = _joint(energy.mean.detach().double(), torch.linalg.inv(prec), a, c, lv)
    delta = float((kl_divergence(q, p) + kl_divergence(p, pi) - kl_divergence(q, pi)).detach())
    g = torch.Generator().manual_seed(5)
    data = MultivariateNormal(mu_d, cov_d)
    values, neg_elbos = [], []
    for _ in range(10):
        x = _draw(data, 40_000, g)
        values.append(float(tri(energy, x, generator=g).detach()))
        neg_elbos.append(float(tri.negative_elbo(x, generator=g).mean().detach()))
    values, neg_elbos = torch.tensor(values, dtype=D64), torch.tensor(neg_elbos, dtype=D64)
    se = float(values.std() / math.sqrt(len(values)))
    assert abs(float(values.mean()) - delta) < 4 * se + 2e-3, (float(values.mean()), delta, se)
    # E_data[-ELBO] = KL(Q‖P) + H(q_data)
    target = float(kl_divergence(q, p) + data.entropy())
    assert abs(float(neg_elbos.mean()) - target) < 4 * float(neg_elbos.std() / math.sqrt(10)) + 2e-3


def test_triangle_optimum_p_equals_q_equals_pi_is_stationary_for_all_three_models():
    """Known optimum: data N(b, WWᵀ + σ²I), q the exact posterior, π the data density -> Δ = 0 and no player moves."""
    sigma = 0.4
    tri = DivergenceTriangle(2, latent_dim=1, hidden=4, sigma=sigma, generator=torch.Generator().manual_seed(0)).double()
    w, b = torch.tensor([[1.2], [-0.4]], dtype=D64), torch.tensor([0.2, 0.1], dtype=D64)
    _set_linear(tri, "generator_net", w, b)
    _linear_encoder(tri.encoder, *_exact_posterior(w, b, sigma))
    data = _marginal(w, b, sigma)

    def grad_norms(energy):
        tri.zero_grad()
        energy.zero_grad()
        loss = tri(energy, _draw(data, 200_000, torch.Generator().manual_seed(14)), generator=torch.Generator().manual_seed(13))
        loss.backward()
        norm = lambda m: float(torch.cat([p.grad.reshape(-1) for p in m.parameters()]).norm())  # noqa: E731
        return float(loss.detach()), norm(energy), norm(tri.generator_net), norm(tri.encoder)

    optimum = QuadraticEnergy(2, mean=b.float(), precision=torch.linalg.inv(data.covariance_matrix).float()).double()
    value, *norms = grad_norms(optimum)
    assert abs(value) < 0.02  # Δ = 0 at P = Q = Π; Monte Carlo error of a 200k-sample mean ≈ 0.005
    assert max(norms) < 0.03, norms
    shifted = QuadraticEnergy(2, mean=(b + 0.5).float(), precision=torch.linalg.inv(data.covariance_matrix).float()).double()
    _, e_norm, g_norm, _ = grad_norms(shifted)
    assert g_norm > 0.2  # a wrong EBM pulls the generator toward it ...
    assert e_norm < 0.03  # ... but does not move itself: its negatives (the generator's samples) still match the data
    with torch.no_grad():
        tri.generator_net[0].bias.add_(0.5)
    _, e_norm, _, _ = grad_norms(optimum)
    assert e_norm > 0.2  # a wrong generator makes the EBM push its samples' energy up


def _directional_fd(fn, params, direction, h=1e-5):
    with torch.no_grad():
        for p, v in zip(params, direction):
            p.add_(h * v)
        up = float(fn())
        for p, v in zip(params, direction):
            p.sub_(2 * h * v)
        down = float(fn())
        for p, v in zip(params, direction):
            p.add_(h * v)
    return (up - down) / (2 * h)


def test_joint_latent_ebm_triangle_matches_closed_form_kls():
    tri, _, (w, b, a, c, lv, _) = _linear_triangle()
    tri.latent_ebm = True
    prec = torch.tensor([[1.5, 0.2, 0.1], [0.2, 0.8, -0.2], [0.1, -0.2, 1.1]], dtype=D64)
    energy = QuadraticEnergy(3, mean=torch.tensor([0.3, -0.2, 0.1]), precision=prec.float()).double()  # Π(x, z) on R^3
    mu_d, cov_d = torch.tensor([0.5, 0.0], dtype=D64), torch.tensor([[1.0, 0.3], [0.3, 0.6]], dtype=D64)
    sigma = tri.sigma
    q = _joint(mu_d, cov_d, a, c, lv)
    p = MultivariateNormal(torch.cat([b, torch.zeros(1, dtype=D64)]),
                           torch.cat([torch.cat([w @ w.T + sigma**2 * torch.eye(2, dtype=D64), w], 1), torch.cat([w.T, torch.eye(1, dtype=D64)], 1)]))
    pi = MultivariateNormal(energy.mean.detach(), torch.linalg.inv(energy.precision.detach()))
    delta = float((kl_divergence(q, p) + kl_divergence(p, pi) - kl_divergence(q, pi)).detach())
    g = torch.Generator().manual_seed(12)
    data = MultivariateNormal(mu_d, cov_d)
    values = torch.tensor([float(tri(energy, _draw(data, 40_000, g), generator=g).detach()) for _ in range(10)], dtype=D64)
    se = float(values.std() / math.sqrt(len(values)))
    assert abs(float(values.mean()) - delta) < 4 * se + 2e-3, (float(values.mean()), delta, se)


@pytest.mark.parametrize("latent_ebm", [False, True])
def test_triangle_gradients_go_to_the_right_model_with_the_right_sign(latent_ebm):
    g = torch.Generator().manual_seed(6)
    tri = DivergenceTriangle(2, latent_dim=2, hidden=6, sigma=0.3, latent_ebm=latent_ebm, generator=g).double()
    energy = MLPEnergy((4 if latent_ebm else 2,), hidden=(6,), generator=g).double()
    x = torch.randn(32, 2, generator=g, dtype=D64)
    value = lambda: tri(energy, x, generator=torch.Generator().manual_seed(7))  # noqa: E731  (same noise every call)
    tri.zero_grad()
    energy.zero_grad()
    value().backward()
    groups = {"energy (α)": (list(energy.parameters()), -1.0), "generator (θ)": (list(tri.generator_net.parameters()), 1.0),
              "encoder (φ)": (list(tri.encoder.parameters()), 1.0)}
    for name, (params, sign) in groups.items():
        direction = [torch.randn(p.shape, generator=g, dtype=D64) for p in params]
        analytic = sum(float((p.grad * v).sum()) for p, v in zip(params, direction))
        # θ and φ descend Δ̂; α ascends it (its gradient is -∂Δ̂/∂α).
        assert abs(analytic - sign * _directional_fd(value, params, direction)) < 1e-5 * (1 + abs(analytic)), name


def test_vae_loss_gradients_negatives_move_only_the_prior():
    g = torch.Generator().manual_seed(8)
    model = LatentEBMVAE(3, latent_dim=2, hidden=6, prior_hidden=6, prior_steps=4, generator=g).double()
    x = torch.randn(12, 3, generator=g, dtype=D64)
    loss_fn = VAELatentEBMLoss(n_samples=2)
    value = lambda: loss_fn(model, x, generator=torch.Generator().manual_seed(9))  # noqa: E731
    model.zero_grad()
    value().backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    # θ and φ: the gradient of the value (-ELBO - log Z_α), checked by finite differences.
    for prefix in ("generator_net", "encoder"):
        params = [p for n, p in model.named_parameters() if n.startswith(prefix)]
        names = [n for n, _ in model.named_parameters() if n.startswith(prefix)]
        direction = [torch.randn(p.shape, generator=g, dtype=D64) for p in params]
        analytic = sum(float((got[n] * v).sum()) for n, v in zip(names, direction))
        assert abs(analytic - _directional_fd(value, params, direction)) < 1e-5 * (1 + abs(analytic)), prefix
    # α: E_q[∇f] - E_prior[∇f] with the same draws (the loss draws ε first, then the Langevin chains).
    gen = torch.Generator().manual_seed(9)
    t = loss_fn.terms(model, x, generator=gen)
    z_prior = model.sample_prior_latents(12, generator=gen)
    prior = list(model.prior_net.parameters())
    expected = torch.autograd.grad(t["tilt"].mean() - model.tilt(z_prior).mean(), prior)
    for (n, _), e in zip([(n, p) for n, p in model.named_parameters() if n.startswith("prior_net")], expected):
        torch.testing.assert_close(got[n], e, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- training through ebm.train, the 2-D builders
def test_fit_2d_builders_return_energies_with_finite_densities():
    from ebm.demos.vae_triangle import FIT_2D
    from ebm.energy import Energy

    g = torch.Generator().manual_seed(10)
    x = torch.randn(300, 2, generator=g)
    grid = torch.stack(torch.meshgrid(torch.linspace(-3, 3, 7), torch.linspace(-3, 3, 7), indexing="ij"), -1).reshape(-1, 2)  # (49, 2)
    for name, fit in FIT_2D.items():
        energy = fit(x, steps=3, generator=g)
        assert isinstance(energy, Energy), name
        with torch.no_grad():
            assert bool(torch.isfinite(energy(grid)).all()), name


def test_vae_latent_ebm_training_improves_the_held_out_bound():
    from ebm.train import train

    g = torch.Generator().manual_seed(11)
    x, x_test = torch.randn(512, 2, generator=g) * 0.5 + 1.0, torch.randn(256, 2, generator=g) * 0.5 + 1.0
    model = LatentEBMVAE(2, latent_dim=2, hidden=16, prior_hidden=16, sigma=0.2, prior_steps=10, prior_step_size=0.1, generator=g)
    before = held_out_bounds(model, x_test, k=50, generator=g)["iwae"]
    train(model, VAELatentEBMLoss(), x, epochs=15, batch_size=128, optimizer=torch.optim.Adam(model.parameter_groups(1e-2, 1e-3)),
          generator=g, progress=False)
    after = held_out_bounds(model, x_test, k=50, generator=g)["iwae"]
    # N(1, 0.25 I) has log-likelihood about -0.45 per point; an untrained decoder is far off (< -10).
    assert after > before + 5 and after > -2.0


# ---------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_a_fix():
    vae = LatentEBMVAE(3, latent_dim=3, hidden=4, prior_hidden=4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="LatentEBMVAE"):
        held_out_bounds(MLPEnergy((3,)), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="grid"):
        latent_prior_log_partition(vae, method="grid")
    with pytest.raises(ValueError, match="method"):
        latent_prior_log_partition(vae, method="quadrature")
    with pytest.raises(ValueError, match="x"):
        held_out_bounds(vae, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="prior_lr"):
        vae.parameter_groups(1e-3, -1.0)
    with pytest.raises(ValueError, match="energy_penalty"):
        DivergenceTriangle(2, energy_penalty=-0.5)
    with pytest.raises(ValueError, match="event shape"):
        DivergenceTriangle(2)(MLPEnergy((3,)), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="pair"):
        DivergenceTriangle(2, latent_dim=2, latent_ebm=True)(MLPEnergy((2,)), torch.zeros(4, 2))
    with pytest.raises(TypeError, match="latent_ebm"):
        DivergenceTriangle(2, latent_ebm="yes")
    with pytest.raises(ValueError, match="x"):
        DivergenceTriangle(2, latent_dim=1, latent_ebm=True)(MLPEnergy((3,)), torch.full((4, 2), math.nan))
    with pytest.raises(ValueError, match="n_samples"):
        VAELatentEBMLoss(n_samples=0)
    with pytest.raises(ValueError, match="batch"):
        VAELatentEBMLoss()(vae, torch.full((4, 3), math.inf))
    with pytest.raises(ValueError, match="k"):
        vae.log_marginal_bound(torch.zeros(2, 3), k=0)
