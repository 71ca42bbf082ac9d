"""Teaching toggles: SimSiam without stop-gradient and VICReg with μ = ν = 0 collapse (RankMe ≈ 1);
the proper losses on the same data, encoder and budget do not. Small, seeded, CPU-fast."""

import pytest
import torch
from torch import nn

from ebm.augment import DigitAugment
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import normalized_std, rank_me
from ebm.objectives import SimSiam, VICReg
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return torch.tensor(load_digits().data[:512], dtype=torch.float32) / 16


def _run(x, loss, predictor=False, epochs=12, seed=0, lr=3e-3):
    torch.manual_seed(seed)
    if predictor:  # SimSiam's recipe: batch-norm in the encoder, a bottleneck predictor with batch-norm
        f = nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 8))
        pred = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 8))
    else:
        f, pred = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8)), None
    energy = JointEmbeddingEnergy(f, event_shape=(64,))
    task = TwoViewObjective(loss, DigitAugment(), predictor=pred)
    train(energy, task, x, epochs=epochs, batch_size=128, lr=lr, generator=torch.Generator().manual_seed(seed), progress=False)
    f.eval()
    with torch.no_grad():
        z = f(x)
    return rank_me(z), normalized_std(z)


def test_vicreg_without_variance_and_covariance_collapses(digits):
    rank_bad, std_bad = _run(digits, VICReg(variance_weight=0.0, covariance_weight=0.0))
    rank_ok, std_ok = _run(digits, VICReg())
    assert rank_bad < 1.5, rank_bad
    assert rank_ok > 4.0, rank_ok
    assert std_bad < 0.1 * std_ok


def test_simsiam_without_stop_gradient_collapses(digits):
    rank_bad, std_bad = _run(digits, SimSiam(stop_gradient=False), predictor=True, epochs=40, lr=1e-2)
    rank_ok, std_ok = _run(digits, SimSiam(), predictor=True, epochs=40, lr=1e-2)
    assert rank_bad < 1.5, rank_bad
    assert rank_ok > 4.0, rank_ok
    assert std_bad < 0.1 * std_ok  # normalised std -> 0 at collapse, ≈ 1/√d healthy
