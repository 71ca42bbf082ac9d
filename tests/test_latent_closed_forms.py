"""Latent-variable energies against closed forms and independent computations."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from ebm.energies import DecoderEnergy, GMMEnergy, KMeansEnergy, PCAEnergy



def test_kmeans_energy_matches_brute_force_distances(generator):
    c = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    x = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    model = KMeansEnergy(c)
    brute = np.array([[np.sum((xi - ck) ** 2) for ck in c.numpy()] for xi in x.numpy()])  # (40, 5)
    np.testing.assert_allclose(model(x).detach().numpy(), brute.min(1), rtol=1e-12)
    np.testing.assert_array_equal(model.infer(x).numpy(), brute.argmin(1))
    beta = 0.7  # soft-min over the K centroids: exact sum over a discrete latent
    np.testing.assert_allclose(model.free_energy(x, beta).detach().numpy(), -logsumexp(-beta * brute, axis=1) / beta, rtol=1e-12)


@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
def test_gmm_free_energy_at_beta_one_is_minus_scipy_log_density(kind, generator):
    k, d = 3, 2
    means = torch.randn(k, d, generator=generator, dtype=torch.float64) * 2
    if kind == "full":
        a = torch.randn(k, d, d, generator=generator, dtype=torch.float64)
        covs = a @ a.transpose(-1, -2) + 0.5 * torch.eye(d, dtype=torch.float64)
        full = covs
    elif kind == "diag":
        covs = torch.rand(k, d, generator=generator, dtype=torch.float64) + 0.3
        full = torch.diag_embed(covs)
    else:
        covs = torch.rand(k, generator=generator, dtype=torch.float64) + 0.3
        full = covs[:, None, None] * torch.eye(d, dtype=torch.float64)
    w = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    model = GMMEnergy(means, covs, w)
    x = torch.randn(50, d, generator=generator, dtype=torch.float64) * 2
    logp = logsumexp(
        np.stack([np.log(w[j].item()) + multivariate_normal(means[j].numpy(), full[j].numpy()).logpdf(x.numpy()) for j in range(k)], 1), axis=1
    )
    np.testing.assert_allclose(model(x).numpy(), -logp, rtol=1e-10)
    np.testing.assert_allclose(model.log_prob(x).numpy(), logp, rtol=1e-10)
    assert model.covariance_type == kind


def test_pca_reconstruction_matches_svd(generator):
    x = torch.randn(200, 5, generator=generator, dtype=torch.float64) @ torch.randn(5, 5, generator=generator, dtype=torch.float64)
    model = PCAEnergy.fit(x, 2)
    u, s, vh = np.linalg.svd((x - x.mean(0)).numpy(), full_matrices=False)
    recon = x.mean(0).numpy() + (u[:, :2] * s[:2]) @ vh[:2]  # rank-2 truncated SVD
    np.testing.assert_allclose(model.reconstruct(x).numpy(), recon, atol=1e-10)
    np.testing.assert_allclose(model(x).numpy(), ((x.numpy() - recon) ** 2).sum(1), rtol=1e-8, atol=1e-10)
    # the sum of energies is the discarded variance
    np.testing.assert_allclose(model(x).sum().item(), (s[2:] ** 2).sum(), rtol=1e-10)


def test_pca_finite_beta_free_energy_matches_numerical_integral():
    model = PCAEnergy(torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([[0.6, 0.8]], dtype=torch.float64))
    y = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    beta = 1.7
    integrand = lambda z: math.exp(-beta * model.joint_energy(y, torch.tensor([[z]], dtype=torch.float64)).item())  # noqa: E731
    value, _ = integrate.quad(integrand, -30, 30, epsabs=1e-13)
    np.testing.assert_allclose(model.free_energy(y, beta).item(), -math.log(value) / beta, rtol=1e-9)


def test_decoder_quadrature_matches_adaptive_integral(generator):
    model = DecoderEnergy(2, hidden=8, n_grid=4096, init_scale=1.0, generator=generator).double()
    y = torch.tensor([[0.4, -0.3]], dtype=torch.float64)
    beta = 3.0
    with torch.no_grad():
        integrand = lambda z: math.exp(-beta * model.joint_energy(y, torch.tensor([z], dtype=torch.float64)).item())  # noqa: E731
        value, _ = integrate.quad(integrand, 0, 2 * math.pi, limit=200, epsabs=1e-13)
        np.testing.assert_allclose(model.free_energy(y, beta).item(), -math.log(value) / beta, rtol=1e-8)


def _models(generator):
    d = torch.float64
    return [
        KMeansEnergy(torch.randn(4, 2, generator=generator, dtype=d)),
        GMMEnergy(torch.randn(3, 2, generator=generator, dtype=d), torch.ones(3, 2, dtype=d), torch.full((3,), 1 / 3, dtype=d)),
        PCAEnergy(torch.zeros(2, dtype=d), torch.tensor([[0.6, 0.8]], dtype=d)),
        DecoderEnergy(2, hidden=8, n_grid=128, init_scale=1.0, generator=generator).double(),
    ]


def test_finite_beta_free_energy_tends_to_the_minimum(generator):
    x = torch.randn(30, 2, generator=generator, dtype=torch.float64)
    for model in _models(generator):
        with torch.no_grad():
            f_min = model.free_energy(x, math.inf)
            gaps = [(model.free_energy(x, b) - f_min).abs().max().item() for b in (1.0, 10.0, 100.0, 1e4)]
        # soft-min <= min for a discrete latent; the gap shrinks like log(K)/β or k log(β)/β
        assert gaps[-1] < 5e-3 * max(1.0, f_min.abs().max().item()), (type(model).__name__, gaps)
        assert gaps[-1] < gaps[1] < gaps[0] or gaps[0] < 1e-12, (type(model).__name__, gaps)


def test_discrete_soft_min_is_bounded_by_log_k(generator):
    model = KMeansEnergy(torch.randn(6, 2, generator=generator, dtype=torch.float64))
    x = torch.randn(20, 2, generator=generator, dtype=torch.float64)
    for beta in (0.1, 1.0, 10.0):
        gap = model.free_energy(x, math.inf) - model.free_energy(x, beta)  # (20,)
        assert bool((gap >= -1e-12).all()) and bool((gap <= math.log(6) / beta + 1e-12).all())


def test_beta_infinity_score_is_the_envelope_gradient(generator):
    model = KMeansEnergy(torch.randn(3, 2, generator=generator, dtype=torch.float64))
    x = torch.randn(10, 2, generator=generator, dtype=torch.float64)
    nearest = model.centroids[model.infer(x)].detach()
    torch.testing.assert_close(model.score(x), -2 * (x - nearest))


def test_sparse_coding_free_energy_matches_an_independent_lasso_solver(generator):
    from sklearn.decomposition import sparse_encode

    from ebm.energies import SparseCodingEnergy

    d = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    model = SparseCodingEnergy(d, alpha=0.2)
    x = torch.randn(12, 4, generator=generator, dtype=torch.float64)
    dn = model.dictionary.detach().numpy()  # unit-norm atoms
    codes = sparse_encode(x.numpy(), dn, algorithm="lasso_cd", alpha=0.2, max_iter=100000)  # coordinate descent, ½‖x - zD‖² + α‖z‖₁
    ref = 0.5 * ((x.numpy() - codes @ dn) ** 2).sum(1) + 0.2 * np.abs(codes).sum(1)
    np.testing.assert_allclose(model(x).detach().numpy(), ref, rtol=1e-6, atol=1e-9)


def test_free_energy_by_sampling_matches_pca_closed_form():
    # PCA's finite-β free energy is closed form; importance sampling around infer(x) must agree.
    # With S = 20,000 draws and a proposal twice as wide as the posterior (std 1/sqrt(2β) = 0.5),
    # the estimator's standard error is ~1e-3, so 0.01 is a > 5 s.e. tolerance.
    g = torch.Generator().manual_seed(0)
    data = torch.randn(300, 4, generator=g, dtype=torch.float64) @ torch.diag(torch.tensor([3.0, 2.0, 0.5, 0.2], dtype=torch.float64))
    model = PCAEnergy.fit(data, 2)
    x = data[:5]
    exact = model.free_energy(x, beta=2.0)
    estimate = model.free_energy_by_sampling(x, 2.0, n_samples=20_000, proposal_std=1.0, generator=g)
    torch.testing.assert_close(estimate, exact, atol=0.01, rtol=0)
    from ebm.energies import SparseCodingEnergy  # no closed form at finite β: the error points here

    sparse = SparseCodingEnergy(torch.eye(4, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError, match="free_energy_by_sampling"):
        sparse.free_energy(x, beta=2.0)
    assert torch.isfinite(sparse.free_energy_by_sampling(x, 2.0, n_samples=200, generator=g)).all()


def test_sampling_refuses_discrete_or_angular_latents():
    from ebm.energies import KMeansEnergy

    model = KMeansEnergy(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="exact"):
        model.free_energy_by_sampling(torch.zeros(2, 2, dtype=torch.float64), 1.0)
