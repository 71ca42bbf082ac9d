"""The training loop: convergence on a closed-form problem, NaN guard, checkpoints, resume, L-BFGS."""

import os

import pytest
import torch
from torch import nn

from ebm.train import History, TrainingDiverged, load_checkpoint, save_checkpoint, train


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


def test_checkpoint_round_trip_and_resume(tmp_path):
    x, y = _line_data()
    ckpt = tmp_path / "run.pt"
    g = torch.Generator().manual_seed(2)
    model = Line()
    train(model, squared_error, (x, y), epochs=3, lr=0.05, generator=g, checkpoint=ckpt, progress=False)
    restored = Line()
    extra = load_checkpoint(ckpt, model=restored)
    assert torch.equal(restored.w, model.w) and extra["history"]["epochs_done"] == 3
    history = train(restored, squared_error, (x, y), epochs=2, lr=0.05, generator=g, checkpoint=ckpt, resume=True, progress=False)
    assert history.epochs_done == 5 and len(history.epoch_losses) == 5


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
