"""Fitting: Lloyd and EM are monotone and agree with scikit-learn from the same start."""

import math

import numpy as np
import pytest
import torch

from ebm.energies import GMMEnergy, KMeansEnergy, PCAEnergy
from ebm.energies.kmeans import kmeans_plus_plus



def _blobs(generator, n=600, d=2, k=4, dtype=torch.float64):
    centres = 3 * torch.randn(k, d, generator=generator, dtype=dtype)
    labels = torch.randint(k, (n,), generator=generator)
    return centres[labels] + torch.randn(n, d, generator=generator, dtype=dtype) * (0.3 + torch.rand(k, 1, generator=generator, dtype=dtype)[labels])


def test_lloyd_never_increases_the_kmeans_energy(generator):
    x = _blobs(generator, k=6)
    model = KMeansEnergy.fit(x, 6, n_iter=50, generator=generator)
    h = np.array(model.history_)
    assert len(h) >= 2
    assert np.all(np.diff(h) <= 1e-12), h
    # the stored objective is the model's mean free energy at the returned centroids
    np.testing.assert_allclose(h[-1], model(x).mean().item(), rtol=1e-10)


def test_lloyd_matches_scikit_learn_from_the_same_seeds(generator):
    from sklearn.cluster import KMeans

    x = _blobs(generator, k=5)
    init = kmeans_plus_plus(x, 5, generator=generator)
    ours = KMeansEnergy.fit(x, 5, init=init, n_iter=300)
    ref = KMeans(5, init=init.numpy(), n_init=1, max_iter=300, tol=0.0, algorithm="lloyd").fit(x.numpy())
    order = np.lexsort(ref.cluster_centers_.T)
    mine = ours.centroids.detach().numpy()
    np.testing.assert_allclose(mine[np.lexsort(mine.T)], ref.cluster_centers_[order], atol=1e-8)
    np.testing.assert_allclose(ours.history_[-1] * x.shape[0], ref.inertia_, rtol=1e-8)


def test_kmeans_plus_plus_is_seeded_and_picks_data_points(generator):
    x = _blobs(generator)
    a = kmeans_plus_plus(x, 4, generator=torch.Generator().manual_seed(3))
    b = kmeans_plus_plus(x, 4, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert all(bool((x == row).all(-1).any()) for row in a)


@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
def test_em_never_decreases_the_log_likelihood(kind, generator):
    x = _blobs(generator, k=3)
    model = GMMEnergy.fit(x, 3, covariance_type=kind, n_iter=60, tol=0.0, generator=generator)
    h = np.array(model.history_)
    assert 2 <= len(h) <= 61 and model.n_iter_ == len(h) - 1
    # the ridge reg_covar=1e-6 makes the M-step not exactly the maximiser; allow that much
    assert np.all(np.diff(h) >= -1e-8), np.diff(h).min()
    np.testing.assert_allclose(h[-1], -model(x).mean().item(), rtol=1e-10)
    assert model.covariance_type == kind


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_em_matches_scikit_learn_from_the_same_start(generator):
    from sklearn.mixture import GaussianMixture

    x = _blobs(generator, k=3)
    start = GMMEnergy.fit(x, 3, n_iter=0, generator=torch.Generator().manual_seed(5))
    ours = GMMEnergy.fit(x, 3, n_iter=25, tol=0.0, generator=torch.Generator().manual_seed(5))
    ref = GaussianMixture(
        3, covariance_type="full", max_iter=25, tol=0.0, reg_covar=1e-6, n_init=1,
        weights_init=start.weights.numpy(), means_init=start.means.numpy(),
        precisions_init=np.linalg.inv(start.covariances.numpy()),
    ).fit(x.numpy())
    np.testing.assert_allclose(ours.means.numpy(), ref.means_, atol=1e-6)
    np.testing.assert_allclose(ours.weights.numpy(), ref.weights_, atol=1e-6)
    np.testing.assert_allclose(-ours(x).mean().item(), ref.score(x.numpy()), rtol=1e-6)


def test_pca_fit_reports_variances_and_accepts_generator(generator):
    x = torch.randn(300, 3, generator=generator, dtype=torch.float64) * torch.tensor([3.0, 1.0, 0.1], dtype=torch.float64)
    model = PCAEnergy.fit(x, 2, generator=generator)
    ref = torch.linalg.eigvalsh(torch.cov(x.T)).flip(0)[:2]
    torch.testing.assert_close(model.explained_variance_, ref)
    assert model.free_energy(x, 2.0).shape == (300,) and math.isinf(model.beta)
