"""JointEmbeddingEnergy, the two-view task, augmentations and representation monitors."""

import math

import pytest
import torch
from torch import nn

from ebm.augment import DigitAugment, GaussianJitter
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import knn_accuracy, linear_probe_accuracy, normalized_std, rank_me, singular_values
from ebm.objectives import (
    BYOL, DCL, DCLW, DINO, PIRL, WMSE, BarlowTwins, Data2Vec, DeepCluster, EMATarget, InfoNCE, MoCo, SimSiam,
    SwAV, TiCo, VCReg, VICReg,
)
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train


def _enc(seed=0, d_in=3, d=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, 8), nn.Tanh(), nn.Linear(8, d)).double()


def test_energy_values_per_distance():
    f, g = _enc(0), _enc(1)
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        u, v = f(x), g(y)
    e_cos = JointEmbeddingEnergy(f, g, "cosine", event_shape=(3,))((x, y))
    e_euc = JointEmbeddingEnergy(f, g, "euclidean", event_shape=(3,))((x, y))
    e_l1 = JointEmbeddingEnergy(f, g, lambda a, b: (a - b).abs().sum(-1), event_shape=(3,))((x, y))
    for i in range(5):
        assert e_cos[i].item() == pytest.approx(1 - float(u[i] @ v[i] / (u[i].norm() * v[i].norm())), rel=1e-12)
        assert e_euc[i].item() == pytest.approx(float(((u[i] - v[i]) ** 2).sum()), rel=1e-12)
        assert e_l1[i].item() == pytest.approx(float((u[i] - v[i]).abs().sum()), rel=1e-12)


@pytest.mark.parametrize("distance", ["cosine", "euclidean", "l1"])
def test_pairwise_matrix_matches_per_pair_energies(distance):
    dist = (lambda a, b: (a - b).abs().sum(-1)) if distance == "l1" else distance
    energy = JointEmbeddingEnergy(_enc(0), _enc(1), dist, event_shape=(3,))
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.randn(6, 3, dtype=torch.float64)
    m = energy.pairwise(x, y)
    assert m.shape == (4, 6)
    for i in range(4):
        for j in range(6):
            assert m[i, j].item() == pytest.approx(energy((x[i : i + 1], y[j : j + 1])).item(), rel=1e-9, abs=1e-12)


def test_stacked_input_equals_pair_and_siamese_is_symmetric():
    energy = JointEmbeddingEnergy(_enc(), event_shape=(3,))
    assert tuple(energy.event_shape) == (2, 3)
    x, y = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(energy(torch.stack([x, y], dim=-2)), energy((x, y)))
    torch.testing.assert_close(energy((x, y)), energy((y, x)))
    assert energy((x, y)).shape == (2, 5)


def test_different_view_shapes_need_a_pair():
    energy = JointEmbeddingEnergy(_enc(d_in=3), _enc(d_in=5), event_shape=(3,), y_event_shape=(5,))
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    assert energy((x, y)).shape == (4,)
    with pytest.raises(TypeError, match="pair"):
        energy(x)
    with pytest.raises(ValueError, match="Fix:"):
        energy((x, torch.randn(4, 3, dtype=torch.float64)))
    with pytest.raises(ValueError, match="batch shape"):
        energy((x, torch.randn(3, 5, dtype=torch.float64)))


# ---------------------------------------------------------------- two-view task: every loss trains one step
def _tasks(d=4):
    mk = lambda: nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, d))  # noqa: E731
    f = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, d))
    jit = GaussianJitter(0.1)
    return f, {
        "infonce": TwoViewObjective(InfoNCE(), jit),
        "dcl": TwoViewObjective(DCL(), jit),
        "dclw": TwoViewObjective(DCLW(), jit),
        "moco": TwoViewObjective(MoCo(d, queue_size=32), jit, target=EMATarget(f, 0.99)),
        "pirl": TwoViewObjective(PIRL(64, d), jit),
        "vicreg": TwoViewObjective(VICReg(), jit),
        "vcreg": TwoViewObjective(VCReg(), jit),
        "barlow": TwoViewObjective(BarlowTwins(), jit),
        "wmse": TwoViewObjective(WMSE(w_size=16), jit),
        "tico": TwoViewObjective(TiCo(d), jit),
        "swav": TwoViewObjective(SwAV(d, 5), jit),
        "deepcluster": TwoViewObjective(DeepCluster(d, 3), jit),
        "byol": TwoViewObjective(BYOL(), jit, predictor=mk(), target=EMATarget(f, 0.99, total_steps=8)),
        "simsiam": TwoViewObjective(SimSiam(), jit, predictor=mk()),
        "dino": TwoViewObjective(DINO(6), jit, head=nn.Linear(d, 6), target=EMATarget(nn.Sequential(f, nn.Linear(d, 6)))),
        "data2vec": TwoViewObjective(Data2Vec(), jit, predictor=mk(), target=EMATarget(f, 0.99)),
    }


@pytest.mark.parametrize("name", sorted(_tasks()[1]))
def test_every_loss_trains_through_ebm_train(name, tmp_path):
    f, tasks = _tasks()
    task = tasks[name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    data = (x, torch.arange(64)) if name == "pirl" else x
    energy = JointEmbeddingEnergy(f, event_shape=(2,))
    before = [p.detach().clone() for p in f.parameters()]
    hist = train(energy, task, data, epochs=2, batch_size=32, lr=1e-2, generator=g, checkpoint=tmp_path / "ck.pt", progress=False)
    assert len(hist.losses) == 4 and all(math.isfinite(v) for v in hist.losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, f.parameters()))
    assert (tmp_path / "ck.pt").exists()


def test_two_view_errors():
    f = nn.Linear(2, 4)
    with pytest.raises(ValueError, match="target"):
        TwoViewObjective(MoCo(4, queue_size=8), GaussianJitter())
    with pytest.raises(ValueError, match="predictor"):
        TwoViewObjective(BYOL(), GaussianJitter(), target=EMATarget(f))
    with pytest.raises(ValueError, match="index"):
        TwoViewObjective(PIRL(8, 4), GaussianJitter())(f, torch.randn(8, 2))


# ---------------------------------------------------------------- augmentations
def test_digit_augment_is_seeded_and_identity_when_off():
    x = torch.rand(6, 64)
    a1 = DigitAugment()(x, torch.Generator().manual_seed(0))
    a2 = DigitAugment()(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a1, a2)
    off = DigitAugment(shift=0, rotation=0, scale=0, noise=0, mask_prob=0)
    torch.testing.assert_close(off(x, torch.Generator().manual_seed(0)), x, atol=1e-5, rtol=0)
    # a pure one-pixel shift moves the image by one pixel
    img = torch.zeros(1, 8, 8)
    img[0, 3, 3] = 1.0
    shifted = DigitAugment(shift=1, rotation=0, scale=0, noise=0, mask_prob=0)(img, torch.Generator().manual_seed(0))
    assert shifted.sum().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="Fix:"):
        DigitAugment()(torch.rand(3, 10))


def test_digit_mask_blanks_a_square():
    x = torch.ones(20, 64)
    out = DigitAugment(shift=0, rotation=0, scale=0, noise=0, mask_prob=1.0, mask_size=3)(x, torch.Generator().manual_seed(0))
    zeros = (out.abs() < 1e-6).sum(1)
    assert torch.all(zeros == 9)


# ---------------------------------------------------------------- monitors
def test_rank_me_closed_forms():
    # orthogonal columns of equal norm: p_k = 1/d -> RankMe = d
    q, _ = torch.linalg.qr(torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    assert rank_me(q) == pytest.approx(6.0, rel=1e-5)
    # singular values (3, 1): p = (3/4, 1/4) -> exp(H)
    z = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert rank_me(z) == pytest.approx(math.exp(h), rel=1e-5)
    assert rank_me(torch.ones(10, 4)) == pytest.approx(1.0, abs=1e-4)  # complete collapse
    torch.testing.assert_close(singular_values(z, center=False), torch.tensor([3.0, 1.0], dtype=torch.float64))


def test_normalized_std_healthy_vs_collapsed():
    z = torch.randn(20000, 16, generator=torch.Generator().manual_seed(0))
    assert normalized_std(z) == pytest.approx(1 / math.sqrt(16), rel=0.02)  # isotropic: 1/√d (±2% at n = 20000)
    assert normalized_std(torch.ones(100, 16) + 1e-9 * z[:100]) < 1e-6


def test_probes_separate_separable_classes():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    z = torch.randn(200, 3, generator=g) + 4 * y[:, None].float()
    assert linear_probe_accuracy(z[:100], y[:100], z[100:], y[100:]) == 1.0
    assert knn_accuracy(z[:100], y[:100], z[100:], y[100:]) == 1.0
    with pytest.raises(ValueError, match="labels"):
        knn_accuracy(z[:100], y[:50], z[100:], y[100:])


def test_probes_refuse_inputs_that_scikit_learn_would_reject_deep_inside():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(20) % 2
    z = torch.randn(20, 3, generator=g)
    with pytest.raises(ValueError, match="test_z.*dimension.*Fix:"):
        knn_accuracy(z, y, torch.randn(5, 4, generator=g), y[:5])
    with pytest.raises(ValueError, match="test_z.*dimension.*Fix:"):
        linear_probe_accuracy(z, y, torch.randn(5, 4, generator=g), y[:5])
    with pytest.raises(ValueError, match="k.*Fix:"):
        knn_accuracy(z, y, z, y, k=21)
    with pytest.raises(TypeError, match="metric.*Fix:"):
        knn_accuracy(z, y, z, y, metric=3)
    with pytest.raises(ValueError, match="train_y.*2 classes.*Fix:"):
        linear_probe_accuracy(z, torch.zeros(20, dtype=torch.long), z, y)
    with pytest.raises(ValueError, match="max_iter.*Fix:"):
        linear_probe_accuracy(z, y, z, y, max_iter=0)
    assert knn_accuracy(z, y, z, y, k=20) <= 1.0  # k = n_train is allowed
