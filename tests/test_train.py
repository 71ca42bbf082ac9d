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


# ---------------------------------------------------------------------------- data enters checked


def _energy():
    from ebm.energies import MLPEnergy

    return MLPEnergy((2,), generator=torch.Generator().manual_seed(0))


def _energy_loss(model, batch, generator=None):
    return model(batch).mean()


@pytest.mark.parametrize(
    "data, error, fragment",
    [
        (torch.zeros(0, 2), ValueError, "no rows"),
        (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), ValueError, "finite"),
        (torch.zeros(8, 3), ValueError, "event_shape"),
        (torch.zeros(8), ValueError, "reshape it"),
        (torch.zeros(4, 8, 2), ValueError, "reshape it"),
        (torch.zeros(8, 2, dtype=torch.float64), TypeError, "dtype"),
        (torch.zeros(8, 2, dtype=torch.long), TypeError, "float"),
        ([], ValueError, "empty list"),
        ((), ValueError, "empty tuple"),
        (torch.tensor(1.0), ValueError, "0-d"),
    ],
)
def test_bad_data_is_refused_before_training(data, error, fragment):
    model = _energy()
    before = _params(model)
    with pytest.raises(error, match=fragment) as info:
        train(model, _energy_loss, data, epochs=1, progress=False)
    assert "Fix:" in str(info.value) and "\n" not in str(info.value)
    assert all(torch.equal(a, b) for a, b in zip(_params(model), before))


def test_bad_tuple_data_for_a_plain_module():
    x, y = _line_data()
    with pytest.raises(ValueError, match="no rows"):
        train(Line(), squared_error, (x[:0], y[:0]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="finite"):
        train(Line(), squared_error, (x, torch.full_like(y, float("inf"))), epochs=1, progress=False)
    with pytest.raises(ValueError, match="same first dimension"):
        train(Line(), squared_error, (x, y[:10]), epochs=1, progress=False)


def test_an_epoch_without_batches_stops_instead_of_reporting_zero_loss():
    x, y = _line_data()
    one_shot = ((x[i : i + 64], y[i : i + 64]) for i in range(0, 512, 64))  # used up after one epoch
    with pytest.raises(ValueError, match="no batches in epoch 2"):
        train(Line(), squared_error, one_shot, epochs=2, progress=False)


def test_non_finite_loss_stops_before_the_update():
    model = Line()
    calls = []

    def explodes_at_step_3(model, batch, generator=None):
        calls.append(1)
        loss = ((model.w * batch - 1.0) ** 2).mean()
        return loss * float("inf") if len(calls) == 3 else loss

    with pytest.raises(TrainingDiverged, match="loss became inf at epoch 0, step 2"):
        train(model, explodes_at_step_3, torch.ones(64, dtype=torch.float64), batch_size=16, epochs=1, lr=0.1, optimizer="sgd", progress=False)
    # two SGD steps on (w - 1)^2 from w = 0 with lr 0.1: w = 0.2, then 0.36; the third step never happened
    assert model.w.item() == pytest.approx(0.36, abs=1e-12)


# ---------------------------------------------------------------------------- checkpoints


def _kill_script(path, size):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "import torch\n"
        "from ebm.train import save_checkpoint\n"
        f"m = torch.nn.Module(); m.register_buffer('big', torch.zeros({size}))\n"
        "i = 0\n"
        "while True:\n"
        "    m.big[0] = i\n"
        f"    save_checkpoint({str(path)!r}, model=m, extra={{'i': i}})\n"
        "    print(i, flush=True)\n"
        "    i += 1\n"
    )


def test_a_real_kill_mid_save_leaves_an_orphan_that_the_next_save_and_resume_clean(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "ckpt.pt"
    size = 4_000_000  # 16 MB: a save takes long enough to be caught in the middle
    orphans = []
    for _attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", _kill_script(path, size)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "0"  # one good checkpoint exists
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and not orphans:
                orphans = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()  # reaped: its PID no longer runs
        orphans = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        if orphans:
            break
    assert orphans, "never caught the child mid-save"
    assert all(p.name.startswith(f"ckpt.pt.{proc.pid}.") for p in orphans)
    m = torch.nn.Module()
    m.register_buffer("big", torch.empty(size))
    extra = load_checkpoint(path, m)  # the last good checkpoint loads
    assert m.big[0].item() == extra["i"] and m.big[1:].abs().sum() == 0
    live = tmp_path / f"ckpt.pt.{os.getpid()}.abcdefgh.tmp"  # a save in progress in a live process
    other = tmp_path / "notes.1.x.tmp"  # not our pattern for this target
    live.write_bytes(b"x")
    other.write_bytes(b"x")
    save_checkpoint(path, model=m, extra={"i": -1})
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["ckpt.pt", live.name, other.name]), left
    # resume cleans too (an orphan of the same dead process next to a training checkpoint)
    x, y = _line_data()
    run = tmp_path / "run.pt"
    train(Line(), squared_error, (x, y), epochs=1, generator=torch.Generator().manual_seed(0), checkpoint=run, progress=False)
    orphan = tmp_path / f"run.pt.{proc.pid}.zyxwvuts.tmp"
    orphan.write_bytes(b"partial")
    train(Line(), squared_error, (x, y), epochs=1, generator=torch.Generator().manual_seed(0), checkpoint=run, resume=True, progress=False)
    assert not orphan.exists()


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_weights_only_refuses_code_with_one_clear_line(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"state": {"model": _Payload(marker)}, "extra": {}}, tmp_path / "evil.pt")
    with pytest.raises(ValueError) as info:
        load_checkpoint(tmp_path / "evil.pt", model=Line())
    message = str(info.value)
    assert "\n" not in message and "refused and nothing ran" in message and "system" in message and "Fix:" in message
    assert not marker.exists()
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no page-long UnpicklingError chained


@pytest.mark.parametrize(
    "write, fragment",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: torch.save(torch.zeros(3), p), "holding a Tensor"),
        (lambda p: torch.save({"weights": torch.zeros(3)}, p), "without our 'state' and 'extra'"),
        (lambda p: p.write_bytes(b"not a torch file at all"), "not a torch file"),
        (lambda p: p.write_bytes(_good_bytes()[:200]), "truncated or corrupt"),
    ],
    ids=["empty", "foreign-tensor", "foreign-dict", "garbage", "truncated"],
)
def test_foreign_or_broken_files_get_the_house_message(tmp_path, write, fragment):
    path = tmp_path / "ckpt.pt"
    write(path)
    with pytest.raises(ValueError, match=fragment) as info:
        load_checkpoint(path, model=Line())
    assert str(info.value).startswith("path: expected a checkpoint written by ebm.train.save_checkpoint") and "Fix:" in str(info.value)


def _good_bytes():
    import io

    buffer = io.BytesIO()
    torch.save({"state": {"model": Line().state_dict()}, "extra": {}}, buffer)
    return buffer.getvalue()


def test_load_checkpoint_natural_calls(tmp_path):
    path = tmp_path / "c.pt"
    model = Line()
    with torch.no_grad():
        model.w.fill_(2.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(path, model=model, optimizer=opt, extra={"k": 1})
    a, b = Line(), Line()
    assert load_checkpoint(path, a) == {"k": 1} and a.w.item() == 2.5  # positional model
    assert load_checkpoint(path, b, optimizer=torch.optim.SGD(b.parameters(), lr=0.1)) == {"k": 1}
    with pytest.raises(TypeError, match=r"name the others: load_checkpoint\(path, model, optimizer=opt"):
        load_checkpoint(path, Line(), opt)
    with pytest.raises(TypeError, match="pass it once"):
        load_checkpoint(path, Line(), model=Line())
    with pytest.raises(TypeError, match="load_state_dict"):
        load_checkpoint(path, "model.pt")
    with pytest.raises(KeyError, match="saved entries"):
        load_checkpoint(path, objective=Line())
    with pytest.raises(ValueError, match="Missing key"):
        load_checkpoint(path, torch.nn.Linear(3, 3))
