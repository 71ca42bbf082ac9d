"""The SSL digits benchmark's per-method settings (`benchmarks/ssl_digits.py`, issue 17, session 7).

Exact checks of what the script builds: the predictor's learning rate is scaled only for the
predictor methods and only on the predictor's parameters (every trained tensor in exactly one
group), the per-method heads and loss settings, and (slow) a one-epoch run over two seeds that
prints the ``mean ± sd`` probe column.
"""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import ssl_digits  # noqa: E402
from ebm.energies import JointEmbeddingEnergy  # noqa: E402


def _task(name):
    f = ssl_digits.encoder()
    task = ssl_digits.make_task(name, f, 100, torch.Generator().manual_seed(0), 600)
    return JointEmbeddingEnergy(f, event_shape=(64,)), task


@pytest.mark.parametrize("name", ["byol", "simsiam", "data2vec"])
def test_predictor_group_runs_ten_times_faster_and_holds_every_predictor_tensor(name):
    energy, task = _task(name)
    opt = ssl_digits.optimizer_for(energy, task, 2e-3, ssl_digits.PREDICTOR_LR_SCALE[name])
    slow, fast = opt.param_groups
    assert slow["lr"] == 2e-3 and fast["lr"] == pytest.approx(2e-2, rel=1e-12)
    assert {id(p) for p in fast["params"]} == {id(p) for p in task.predictor.parameters()}
    trained = {id(p) for m in (energy, task) for p in m.parameters() if p.requires_grad}
    grouped = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(grouped) == len(set(grouped)) and set(grouped) == trained  # each trained tensor once


@pytest.mark.parametrize("name", ["infonce", "dino", "vicreg"])
def test_other_methods_keep_the_shared_optimiser(name):
    energy, task = _task(name)
    assert ssl_digits.PREDICTOR_LR_SCALE.get(name, 1.0) == 1.0
    assert ssl_digits.optimizer_for(energy, task, 2e-3, ssl_digits.PREDICTOR_LR_SCALE.get(name, 1.0)) == "adam"


def test_per_method_heads_and_loss_settings():
    _, byol = _task("byol")
    assert byol.predictor[0].out_features == 128 and byol.target.total_steps == 600  # 8 → 128 → 8, cosine momentum
    _, d2v = _task("data2vec")
    assert d2v.loss.beta == 2.0 and d2v.loss.top_k == 1


@pytest.mark.slow  # two trainings plus two k-means evaluations of all 1,797 digits
def test_one_epoch_over_two_seeds_prints_mean_and_sd(capsys):
    ssl_digits.main(["--steps", "10", "--no-baselines", "--methods", "simsiam", "--seed", "0", "1"])
    out = capsys.readouterr().out
    assert "done simsiam (seed 0)" in out and "done simsiam (seed 1)" in out
    row = next(line for line in out.splitlines() if line.startswith("| simsiam |"))
    assert " ± " in row.split("|")[2] and row.rstrip().endswith("| 10 |")
