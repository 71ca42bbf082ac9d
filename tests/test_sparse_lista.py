"""LISTA/ALISTA: exact ISTA at initialisation, training through ebm.train beats ISTA/FISTA."""

import functools

import pytest
import torch

from ebm.sparse import ALISTA, LISTA, fista, ista, lista_objective_loss, lista_supervised_loss, objective
from ebm.train import train


def _data(n, k=32, f=16, seed=0, dictionary=None):
    g = torch.Generator().manual_seed(seed)
    if dictionary is None:
        dictionary = torch.nn.functional.normalize(torch.randn(k, f, generator=g, dtype=torch.float64), dim=1)
    k = dictionary.shape[0]
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * (torch.rand(n, k, generator=g, dtype=torch.float64) < 0.1)
    return z @ dictionary + 0.01 * torch.randn(n, dictionary.shape[1], generator=g, dtype=torch.float64), dictionary


@pytest.mark.parametrize("make", [LISTA, ALISTA, functools.partial(LISTA, tied=False)], ids=["LISTA", "ALISTA", "untied"])
def test_untrained_equals_ista(make):
    x, d = _data(20)
    for layers in (1, 3, 8):
        net = make(d, 0.05, n_layers=layers)
        with torch.no_grad():
            torch.testing.assert_close(net(x), ista(x, d, 0.05, max_iter=layers, tol=0).codes, rtol=0, atol=1e-14)


def test_shared_threshold_and_depth_argument():
    x, d = _data(5)
    net = LISTA(d, 0.05, n_layers=4, shared_threshold=True)
    assert net.thresholds.shape == (1,)
    with torch.no_grad():
        torch.testing.assert_close(net(x, n_layers=2), ista(x, d, 0.05, max_iter=2, tol=0).codes, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="n_layers"):
        net(x, n_layers=9)
    with pytest.raises(ValueError, match="Fix:"):
        LISTA(d, -1.0, 3)


def test_untied_layers_are_separate_parameters():
    x, d = _data(5)
    net = LISTA(d, 0.05, n_layers=3, tied=False)
    assert len(net.encoders) == 3 and len(net.inhibitions) == 2 and net.thresholds.shape == (3,)
    n_tied = sum(p.numel() for p in LISTA(d, 0.05, n_layers=3).parameters())
    assert sum(p.numel() for p in net.parameters()) == 3 * 32 * 16 + 2 * 32 * 32 + 3 == n_tied + 2 * 32 * 16 + 32 * 32
    with torch.no_grad():
        net.encoders[2].mul_(2.0)  # only the last layer's encoder changes: two layers still equal two ISTA steps
        torch.testing.assert_close(net(x, n_layers=2), ista(x, d, 0.05, max_iter=2, tol=0).codes, rtol=0, atol=1e-14)
        assert not torch.allclose(net(x), ista(x, d, 0.05, max_iter=3, tol=0).codes)
    with pytest.raises(ValueError, match="shared_threshold"):
        LISTA(d, 0.05, n_layers=3, tied=False, shared_threshold=True)
    with pytest.raises(TypeError, match="tied"):
        LISTA(d, 0.05, n_layers=3, tied="no")


@pytest.mark.parametrize("loss", [lista_objective_loss, lista_supervised_loss])
def test_loss_at_a_depth_trains_only_the_layers_it_uses(loss):
    # Layer-wise training (Chen et al. 2018) scores the output of layer t: layers after t get no gradient.
    alpha = 0.05
    x, d = _data(200)
    batch = (x, fista(x, d, alpha, tol=1e-8).codes)
    net = LISTA(d, alpha, n_layers=4, tied=False)
    with torch.no_grad():
        torch.testing.assert_close(loss(net, batch, n_layers=2), loss(LISTA(d, alpha, n_layers=2), batch), rtol=0, atol=1e-14)
    before = [p.detach().clone() for p in net.parameters()]
    hist = train(net, functools.partial(loss, n_layers=2), batch, epochs=3, batch_size=50, lr=1e-3, generator=torch.Generator().manual_seed(0), progress=False)
    assert hist.epoch_losses[-1] < hist.epoch_losses[0]
    changed = [not torch.equal(b, p) for b, p in zip(before, net.parameters())]
    names = [n for n, _ in net.named_parameters()]
    assert dict(zip(names, changed)) == {"thresholds": True, "encoders.0": True, "encoders.1": True, "encoders.2": False,
                                         "encoders.3": False, "inhibitions.0": True, "inhibitions.1": False, "inhibitions.2": False}


def test_trained_lista_beats_ista_and_fista_at_equal_depth():
    alpha, depth = 0.05, 4
    x, d = _data(1000)
    held, _ = _data(300, seed=1, dictionary=d)
    g = torch.Generator().manual_seed(0)
    net = LISTA(d, alpha, n_layers=depth)
    train(net, lista_objective_loss, x, epochs=6, batch_size=50, lr=3e-3, generator=g, progress=False)
    light = ALISTA(d, alpha, n_layers=depth)
    train(light, lista_objective_loss, x, epochs=6, batch_size=50, lr=3e-3, generator=g, progress=False)
    untied = LISTA(d, alpha, n_layers=depth, tied=False)
    train(untied, lista_objective_loss, x, epochs=6, batch_size=50, lr=1e-3, generator=g, progress=False)
    with torch.no_grad():
        e_lista = float(objective(held, net(held), d, alpha).mean())
        e_alista = float(objective(held, light(held), d, alpha).mean())
        e_untied = float(objective(held, untied(held), d, alpha).mean())
    e_ista = float(objective(held, ista(held, d, alpha, max_iter=depth, tol=0).codes, d, alpha).mean())
    e_fista = float(objective(held, fista(held, d, alpha, max_iter=depth, tol=0).codes, d, alpha).mean())
    assert e_lista < e_fista < e_ista
    assert e_untied < e_fista
    assert e_alista < e_ista


def test_supervised_training_reduces_code_error():
    alpha = 0.05
    x, d = _data(500)
    target = fista(x, d, alpha, tol=1e-8).codes
    net = LISTA(d, alpha, n_layers=3)
    with torch.no_grad():
        before = float(lista_supervised_loss(net, (x, target)))
    train(net, lista_supervised_loss, (x, target), epochs=5, batch_size=50, lr=2e-3, generator=torch.Generator().manual_seed(0), progress=False)
    with torch.no_grad():
        after = float(lista_supervised_loss(net, (x, target)))
    assert after < 0.7 * before
    with pytest.raises(ValueError, match="Fix:"):
        lista_supervised_loss(net, x)


def test_prediction_error_is_exact_on_a_constructed_case():
    from ebm.sparse import iterations_to_reach, prediction_error

    optimal = torch.tensor([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0]])  # Σ‖z*‖² = 25 (the zero row counts too)
    codes = torch.tensor([[3.0, 1.0, 2.0], [0.0, 2.0, 0.0]])  # Σ‖z − z*‖² = 1 + 4 + 4 = 9
    assert prediction_error(codes, optimal) == 9 / 25
    assert prediction_error(optimal, optimal) == 0.0
    assert iterations_to_reach([0.9, 0.5, 0.36, 0.4, 0.1], 9 / 25) == 3 and iterations_to_reach([0.9, 0.5], 0.1) is None
    with pytest.raises(ValueError, match="optimal: .*Fix:"):
        prediction_error(codes, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="codes: .*Fix:"):
        prediction_error(codes[:, :2], optimal)


def test_coordinate_descent_reaches_the_lasso_minimiser():
    from helpers import sparse_problem

    from ebm.sparse import coordinate_descent, duality_gap, fista

    x, d, alpha = sparse_problem(n=20, k=16, f=12)
    z = coordinate_descent(x, d, alpha, 3000)
    assert float(duality_gap(x, z, d, alpha).max()) < 1e-9
    torch.testing.assert_close(z, fista(x, d, alpha, tol=1e-12).codes, rtol=0, atol=1e-6)
    one = coordinate_descent(x, d, alpha, 1)  # one iteration moves exactly one coordinate per signal
    assert bool(((one != 0).sum(1) <= 1).all())
    torch.testing.assert_close(coordinate_descent(x, d, alpha, 7, init=coordinate_descent(x, d, alpha, 5)), coordinate_descent(x, d, alpha, 12), rtol=0, atol=1e-12)


def test_sample_image_patches_are_seeded_and_normalised():
    from ebm.sparse import sample_image_patches

    a = sample_image_patches(300, 8, generator=torch.Generator().manual_seed(1))
    b = sample_image_patches(300, 8, generator=torch.Generator().manual_seed(1))
    assert a.shape == (300, 64) and torch.equal(a, b)
    torch.testing.assert_close(a.mean(1), torch.zeros(300, dtype=a.dtype), rtol=0, atol=1e-12)  # DC removed
    assert abs(float(a.std()) - 1.0) < 1e-12
    with pytest.raises(ValueError, match="size"):
        sample_image_patches(3, 1)
