"""Training LISTA to convergence: warm start from a shallower network, early stopping on the validation error."""

import pytest
import torch

from ebm.sparse import LISTA, LISTAEarlyStopping, fista, lista_supervised_loss, lista_warm_start
from ebm.train import train


def _problem(n=300, k=24, f=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = torch.nn.functional.normalize(torch.randn(k, f, generator=g, dtype=torch.float64), dim=1)
    x = torch.randn(n, f, generator=g, dtype=torch.float64)
    return x, d, fista(x, d, 0.2, tol=1e-10, max_iter=20_000).codes


def _perturbed(net, seed=1):
    """A 'trained' network: every parameter moved off the ISTA initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


@pytest.mark.parametrize("src_tied,new_tied", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("m", [1, 3])
def test_warm_start_copies_the_parameters(src_tied, new_tied, m):
    x, d, _ = _problem(20)
    src = _perturbed(LISTA(d, 0.2, n_layers=m, tied=src_tied))
    for n in (1, m, m + 3):
        net = lista_warm_start(src, n, tied=new_tied)
        assert net.n_layers == n and net.tied is new_tied
        k = min(n, m)
        with torch.no_grad():  # the first min(n, m) layers are exactly the source's map
            torch.testing.assert_close(net(x, n_layers=k), src(x, n_layers=k), rtol=0, atol=0)
        assert net.thresholds.shape == (n,)  # one threshold per layer, also from a 1-layer source
        if n >= m:  # the extra layers repeat the last source layer's threshold
            torch.testing.assert_close(net.thresholds, torch.cat([src.thresholds, src.thresholds[-1:].repeat(n - m)]), rtol=0, atol=0)
    deep = lista_warm_start(src, m + 2, tied=new_tied)
    if new_tied:
        assert torch.equal(deep.encoder, src.encoder) and torch.equal(deep.inhibition, src.inhibition)
        torch.testing.assert_close(deep.thresholds, torch.cat([src.thresholds, src.thresholds[-1:].repeat(2)]), rtol=0, atol=0)
    elif src_tied:
        assert all(torch.equal(w, src.encoder) for w in deep.encoders) and all(torch.equal(s, src.inhibition) for s in deep.inhibitions)
    with torch.no_grad():  # copies, not shared storage
        (deep.encoder if new_tied else deep.encoders[0]).add_(1.0)
    assert not torch.equal(deep.encoder if new_tied else deep.encoders[0], src.encoder if src_tied else src.encoders[0])


def test_warm_start_tied_shared_threshold_and_bad_input():
    _, d, _ = _problem(5)
    src = _perturbed(LISTA(d, 0.2, n_layers=2, shared_threshold=True))
    deep = lista_warm_start(src, 5)
    assert deep.thresholds.shape == (1,) and torch.equal(deep.thresholds, src.thresholds)
    assert lista_warm_start(src, 5, tied=False).thresholds.shape == (5,)
    with pytest.raises(ValueError, match="tied"):
        lista_warm_start(LISTA(d, 0.2, n_layers=2, tied=False), 4, tied=True)
    with pytest.raises(TypeError, match="Fix:"):
        lista_warm_start(torch.nn.Linear(2, 2), 4)
    with pytest.raises(ValueError, match="n_layers"):
        lista_warm_start(src, 0)


def test_early_stopping_stops_on_a_plateau_and_restores_the_best_epoch():
    # min_improvement=0.99 makes every epoch after the first a non-improvement: with patience 2,
    # epochs 2-3 lower the lr once (1e-3 -> 1e-4), epochs 4-5 would go below min_lr: stop after epoch 5.
    x, d, z = _problem()
    net = LISTA(d, 0.2, n_layers=3)
    stop = LISTAEarlyStopping(x[200:], z[200:], patience=2, factor=0.1, min_lr=5e-5, min_improvement=0.99)
    saved = {}
    first = lambda state: saved.setdefault("p", [p.detach().clone() for p in state.model.parameters()]) and None  # noqa: E731  (after epoch 1; None: never stops)
    hist = train(net, lista_supervised_loss, (x[:200], z[:200]), epochs=100, batch_size=50, lr=1e-3, generator=torch.Generator().manual_seed(0),
                 progress=False, callbacks=[first, stop])
    assert hist.epochs_done == 5 and stop.stop_reason == "plateau" and stop.lr_decays == 1
    assert stop.best_epoch == 1 and len(stop.errors) == 5 and stop.errors[0] == stop.best_error
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), saved["p"]))  # the best (first) epoch's parameters are back
    assert stop.error(net) == stop.best_error


def test_early_stopping_improves_and_keeps_the_best():
    x, d, z = _problem()
    net = LISTA(d, 0.2, n_layers=2)
    start = LISTAEarlyStopping(x[200:], z[200:]).error(net)
    stop = LISTAEarlyStopping(x[200:], z[200:], patience=3, max_epochs=15)
    hist = train(net, lista_supervised_loss, (x[:200], z[:200]), epochs=100, batch_size=20, lr=3e-3, generator=torch.Generator().manual_seed(0),
                 progress=False, callbacks=[stop])
    assert hist.epochs_done == 15 and stop.stop_reason == "max_epochs"
    # Trained on the prediction error, 2 layers get well below 2 ISTA steps (exact: the initial network is 2 ISTA steps).
    assert stop.best_error < 0.8 * start and stop.best_error == min(stop.errors) and stop.error(net) == stop.best_error


def test_early_stopping_cpu_budget():
    x, d, z = _problem(60)
    stop = LISTAEarlyStopping(x[40:], z[40:], cpu_seconds=1e-9)
    hist = train(LISTA(d, 0.2, 2), lista_supervised_loss, (x[:40], z[:40]), epochs=50, progress=False, callbacks=[stop])
    assert hist.epochs_done == 1 and stop.stop_reason == "cpu_seconds" and stop.cpu_time > 0
    spent = stop.cpu_time
    sum(range(200_000))  # CPU work after the stop is not counted
    assert stop.cpu_time == spent


@pytest.mark.parametrize("kwargs,match", [({"factor": 1.0}, "factor"), ({"factor": 0.0}, "factor"), ({"patience": 0}, "patience"),
                                          ({"min_lr": 0.0}, "min_lr"), ({"max_epochs": 0}, "max_epochs"), ({"cpu_seconds": -1.0}, "cpu_seconds"),
                                          ({"min_improvement": -0.1}, "min_improvement")])
def test_early_stopping_bad_settings(kwargs, match):
    x, _, z = _problem(10)
    with pytest.raises(ValueError, match=match):
        LISTAEarlyStopping(x, z, **kwargs)


def test_early_stopping_bad_validation_data():
    x, _, z = _problem(10)
    with pytest.raises(ValueError, match="z_val"):
        LISTAEarlyStopping(x, z[:5])
    with pytest.raises(ValueError, match="z_val"):
        LISTAEarlyStopping(x, torch.zeros_like(z))
    with pytest.raises(ValueError, match="x_val"):
        LISTAEarlyStopping(x.clone().fill_(float("nan")), z)


def test_record_start_keeps_a_warm_start_that_training_cannot_beat():
    # lr so large that every epoch is worse than the start: the start (epoch 0) is restored.
    x, d, z = _problem()
    net = LISTA(d, 0.2, n_layers=3)
    stop = LISTAEarlyStopping(x[200:], z[200:], max_epochs=3)
    start = stop.record_start(net)
    before = [p.detach().clone() for p in net.parameters()]
    train(net, lista_supervised_loss, (x[:200], z[:200]), epochs=3, batch_size=50, lr=0.5, generator=torch.Generator().manual_seed(0),
          progress=False, callbacks=[stop])
    assert min(stop.errors) > start and stop.best_epoch == 0 and stop.start_error == start == stop.best_error
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
