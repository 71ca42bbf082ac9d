"""The training loop: convergence on a closed-form problem, NaN guard, checkpoints, resume, L-BFGS."""

import os

import pytest
import torch
from torch import nn

from ebm.train import History, TrainingDiverged, linear_lr_decay, load_checkpoint, save_checkpoint, train


class Line(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, dtype=torch.float64))
        self.b = nn.Parameter(torch.zeros(1, dtype=torch.float64))


def squared_error(model, batch, generator=None):
    x, y = batch
    return ((model.w * x + model.b - y) ** 2).mean()


def _line_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, dtype=torch.float64, generator=g)
    return x, 3.0 * x - 1.0 + 0.01 * torch.randn(512, dtype=torch.float64, generator=g)


def test_converges_to_least_squares_solution():
    x, y = _line_data()
    model = Line()
    history = train(model, squared_error, (x, y), epochs=60, batch_size=64, lr=0.05, generator=torch.Generator().manual_seed(1), progress=False)
    design = torch.stack([x, torch.ones_like(x)], 1)
    exact = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze()
    torch.testing.assert_close(torch.cat([model.w, model.b]).detach(), exact, atol=5e-3, rtol=0)
    assert len(history.epoch_losses) == 60 and history.epoch_losses[-1] < history.epoch_losses[0]


def test_lbfgs_path():
    x, y = _line_data()
    model = Line()
    train(model, squared_error, (x, y), epochs=3, batch_size=512, optimizer="lbfgs", lr=1.0, progress=False)
    assert model.w.item() == pytest.approx(3.0, abs=0.01)


def test_non_finite_loss_stops_with_advice():
    model = Line()

    def exploding(model, batch, generator=None):
        return ((model.w + 1) / 0.0 * 0.0).sum()  # nan

    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train(model, exploding, torch.zeros(8, dtype=torch.float64), epochs=1, progress=False)


def test_metrics_callbacks_and_constraint_hook():
    x, y = _line_data()
    model = Line()
    calls = []
    model.constrain_parameters_ = lambda: model.w.clamp_(max=1.0)
    history = train(
        model,
        squared_error,
        (x, y),
        epochs=10,
        lr=0.1,
        metrics={"w": lambda m: m.w.item()},
        metric_every=2,
        callbacks=[lambda s: calls.append(s.epoch) or s.epoch >= 4],
        progress=False,
    )
    assert calls == [1, 2, 3, 4]  # the callback stopped training after epoch 4
    assert [e for e, _ in history.metrics["w"]] == [2, 4]
    assert model.w.item() <= 1.0


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_checkpoint_round_trip_and_resume(tmp_path):
    """3 epochs + resume to 5 equals 5 uninterrupted epochs bit for bit (``epochs`` is the total)."""
    x, y = _line_data()
    ckpt = tmp_path / "run.pt"
    model = Line()
    train(model, squared_error, (x, y), epochs=3, lr=0.05, generator=torch.Generator().manual_seed(2), checkpoint=ckpt, progress=False)
    restored = Line()
    extra = load_checkpoint(ckpt, model=restored)
    assert torch.equal(restored.w, model.w) and extra["history"]["epochs_done"] == 3
    history = train(restored, squared_error, (x, y), epochs=5, lr=0.05, generator=torch.Generator().manual_seed(2), checkpoint=ckpt, resume=True, progress=False)
    assert history.epochs_done == 5 and len(history.epoch_losses) == 5
    straight = Line()
    reference = train(straight, squared_error, (x, y), epochs=5, lr=0.05, generator=torch.Generator().manual_seed(2), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(_params(restored), _params(straight)))
    assert history.losses == reference.losses


def noisy_squared_error(model, batch, generator=None):
    """A stochastic objective: every step draws from ``generator`` (so resuming must restore it)."""
    x, y = batch
    noise = 0.3 * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return ((model.w * (x + noise) + model.b - y) ** 2).mean()


class Crash(Exception):
    pass


def _assert_same_state(a, b):
    """Recursive bit-for-bit equality of checkpoint payloads (tensors with torch.equal)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            if key != "wall_time":
                _assert_same_state(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same_state(u, v)
    else:
        assert a == b


@pytest.mark.parametrize("objective", [squared_error, noisy_squared_error], ids=["deterministic", "stochastic"])
@pytest.mark.parametrize("crash_after", [1, 3])
def test_resume_after_a_crash_is_bit_identical(tmp_path, objective, crash_after):
    """Crash mid-run, rerun the same command with resume=True: parameters, optimiser state (Adam
    moments, the learning rate set by linear_lr_decay) and generator state equal the uninterrupted
    run's bit for bit, and the rerun trains only the missing epochs."""
    x, y = _line_data()
    epochs = 5

    def run(path, extra_callbacks=(), resume=False):
        model, g = Line(), torch.Generator().manual_seed(7)
        history = train(model, objective, (x, y), epochs=epochs, batch_size=100, lr=0.05, generator=g, checkpoint=path, resume=resume,
                        callbacks=[linear_lr_decay(epochs, final_fraction=0.1), *extra_callbacks], progress=False)
        return model, g, history

    straight_model, straight_g, straight_history = run(tmp_path / "straight.pt")

    def crash(state):
        if state.epoch == crash_after + 1:  # after epoch crash_after's checkpoint, before epoch crash_after+1's
            raise Crash

    with pytest.raises(Crash):
        run(tmp_path / "crashed.pt", [crash])
    assert torch.load(tmp_path / "crashed.pt", weights_only=True)["extra"]["history"]["epochs_done"] == crash_after
    model, g, history = run(tmp_path / "crashed.pt", resume=True)
    assert history.epochs_done == epochs and len(history.epoch_losses) == epochs
    assert all(torch.equal(a, b) for a, b in zip(_params(model), _params(straight_model)))
    assert torch.equal(g.get_state(), straight_g.get_state())
    assert history.losses == straight_history.losses
    _assert_same_state(torch.load(tmp_path / "crashed.pt", weights_only=True), torch.load(tmp_path / "straight.pt", weights_only=True))


def test_rerunning_a_finished_run_trains_nothing(tmp_path):
    x, y = _line_data()
    model = Line()
    train(model, squared_error, (x, y), epochs=3, lr=0.05, generator=torch.Generator().manual_seed(0), checkpoint=tmp_path / "c.pt", progress=False)
    again = Line()
    history = train(again, squared_error, (x, y), epochs=3, lr=0.05, generator=torch.Generator().manual_seed(0), checkpoint=tmp_path / "c.pt",
                    resume=True, progress=False)
    assert history.epochs_done == 3 and len(history.losses) == 3 * 4
    assert all(torch.equal(a, b) for a, b in zip(_params(again), _params(model)))


def test_resume_errors_are_clear(tmp_path):
    x, y = _line_data()
    with pytest.raises(ValueError, match="resume: .*Fix: pass checkpoint="):
        train(Line(), squared_error, (x, y), epochs=1, resume=True, progress=False)
    train(Line(), squared_error, (x, y), epochs=1, generator=torch.Generator().manual_seed(0), checkpoint=tmp_path / "c.pt", progress=False)
    with pytest.raises(ValueError, match="generator: .*Fix: pass generator="):
        train(Line(), squared_error, (x, y), epochs=2, checkpoint=tmp_path / "c.pt", resume=True, progress=False)
    save_checkpoint(tmp_path / "plain.pt", model=Line())
    with pytest.raises(ValueError, match="checkpoint: expected a checkpoint written by train"):
        train(Line(), squared_error, (x, y), epochs=2, checkpoint=tmp_path / "plain.pt", resume=True, progress=False)


def test_interrupted_save_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    model = Line()
    save_checkpoint(path, model=model)
    good = path.read_bytes()

    def broken_save(obj, fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model=model)
    assert path.read_bytes() == good
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        train(Line(), squared_error, _line_data(), epochs=-1)
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        train(Line(), squared_error, _line_data(), optimizer="adagrad")
    with pytest.raises(TypeError, match="scalar tensor"):
        train(Line(), lambda m, b, generator=None: (m.w * b[0]), _line_data(), epochs=1, progress=False)
    with pytest.raises(FileNotFoundError, match="Fix:"):
        load_checkpoint("/nonexistent/ckpt.pt", model=Line())


def test_history_state_round_trip():
    h = History(losses=[1.0, 0.5], epoch_losses=[0.75], metrics={"m": [(1, 0.1)]}, wall_time=2.0, epochs_done=1)
    h2 = History()
    h2.load_state_dict(h.state_dict())
    assert h2 == h
