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


# ---------------------------------------------------------------------------- model.fit: a named default objective


def test_every_energy_that_names_an_objective_names_a_registered_one():
    """The registry walk: a new energy naming a default objective cannot name a missing one."""
    import ebm.energies  # noqa: F401
    import ebm.objectives  # noqa: F401
    from ebm.registry import ENERGIES, OBJECTIVES
    from ebm.train import default_objective

    named = {entry.name: entry for entry in ENERGIES.values() if entry.cls.default_objective is not None}
    assert {"autoencoder", "denoising_autoencoder", "contractive_autoencoder", "sparse_autoencoder", "decoder", "latent_ebm_prior"} <= set(named)
    for entry in named.values():
        model = entry.example()
        assert model.default_objective in OBJECTIVES, entry.name
        assert isinstance(default_objective(model), OBJECTIVES[model.default_objective].obj)


def test_the_default_objective_carries_the_model_settings():
    from ebm.energies import ContractiveAutoencoderEnergy, DenoisingAutoencoderEnergy, SparseAutoencoderEnergy
    from ebm.objectives import ContractiveLoss, DenoisingLoss, SparseCodeLoss
    from ebm.train import default_objective

    loss = default_objective(DenoisingAutoencoderEnergy(2, 3, noise_std=0.7))
    assert type(loss) is DenoisingLoss and loss.noise_std == 0.7
    loss = default_objective(ContractiveAutoencoderEnergy(2, 3, penalty=0.25))
    assert type(loss) is ContractiveLoss and loss.penalty == 0.25
    loss = default_objective(SparseAutoencoderEnergy(2, 3, sparsity=0.05))
    assert type(loss) is SparseCodeLoss and loss.sparsity == 0.05


def test_fit_is_train_with_the_default_objective_and_the_class_defaults():
    """model.fit(y) == train(model, FreeEnergyLoss(), y, batch_size=128, lr=1e-2) bit for bit (DecoderEnergy's fit_defaults)."""
    from ebm.energies import DecoderEnergy
    from ebm.energies.decoder import make_ellipse
    from ebm.objectives import FreeEnergyLoss
    from ebm.train import train

    y = make_ellipse(300, generator=torch.Generator().manual_seed(0))
    a = DecoderEnergy(2, generator=torch.Generator().manual_seed(1))
    b = DecoderEnergy(2, generator=torch.Generator().manual_seed(1))
    ha = a.fit(y, epochs=3, generator=torch.Generator().manual_seed(2), progress=False)
    hb = train(b, FreeEnergyLoss(), y, epochs=3, batch_size=128, lr=1e-2, generator=torch.Generator().manual_seed(2), progress=False)
    assert ha.losses == hb.losses and len(ha.losses) == 3 * 3  # 300 rows in batches of 128
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_fit_defaults_apply_unless_overridden():
    from ebm.energies import AutoencoderEnergy

    model = AutoencoderEnergy(2, 2, hidden=4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(1))
    assert model.fit(x, progress=False).epochs_done == AutoencoderEnergy.fit_defaults["epochs"] == 100
    calls = []

    def counting(model, batch, generator=None):
        calls.append(batch.shape)
        return model(batch).mean()

    history = AutoencoderEnergy(2, 2, hidden=4).fit(x, objective=counting, epochs=2, batch_size=4, progress=False)
    assert history.epochs_done == 2 and calls == [(4, 2), (2, 2)] * 2


def test_fit_without_a_named_objective_says_what_to_do():
    from ebm.energies import AutoencoderEnergy, MLPEnergy

    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="names no default_objective.*Fix: pass objective="):
        MLPEnergy((2,)).fit(x, epochs=1, progress=False)

    class Misnamed(AutoencoderEnergy):
        _abstract = True  # not a registered energy: the registry test skips it
        default_objective = "no_such_objective"

    with pytest.raises(ValueError, match="Misnamed.default_objective: expected a registered objective name"):
        Misnamed(2, 2).fit(x, epochs=1, progress=False)
