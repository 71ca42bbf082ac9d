"""LISTA/ALISTA: exact ISTA at initialisation, training through ebm.train beats ISTA/FISTA."""

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


@pytest.mark.parametrize("cls", [LISTA, ALISTA])
def test_untrained_equals_ista(cls):
    x, d = _data(20)
    for layers in (1, 3, 8):
        net = cls(d, 0.05, n_layers=layers)
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


def test_trained_lista_beats_ista_and_fista_at_equal_depth():
    alpha, depth = 0.05, 4
    x, d = _data(1000)
    held, _ = _data(300, seed=1, dictionary=d)
    g = torch.Generator().manual_seed(0)
    net = LISTA(d, alpha, n_layers=depth)
    train(net, lista_objective_loss, x, epochs=6, batch_size=50, lr=3e-3, generator=g, progress=False)
    light = ALISTA(d, alpha, n_layers=depth)
    train(light, lista_objective_loss, x, epochs=6, batch_size=50, lr=3e-3, generator=g, progress=False)
    with torch.no_grad():
        e_lista = float(objective(held, net(held), d, alpha).mean())
        e_alista = float(objective(held, light(held), d, alpha).mean())
    e_ista = float(objective(held, ista(held, d, alpha, max_iter=depth, tol=0).codes, d, alpha).mean())
    e_fista = float(objective(held, fista(held, d, alpha, max_iter=depth, tol=0).codes, d, alpha).mean())
    assert e_lista < e_fista < e_ista
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
