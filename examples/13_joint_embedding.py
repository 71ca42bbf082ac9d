"""Joint-embedding energies on the 8×8 digits: train E(x, y) = 1 - cos(f(x), f(y)) with InfoNCE and
with VICReg, watch RankMe, and compare with the collapsing teaching toggle (VICReg with μ = ν = 0).

Run:  python3 examples/13_joint_embedding.py      (about a minute on a laptop CPU)
"""

import torch
from torch import nn

from ebm.augment import DigitAugment
from ebm.data import load_digits
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import knn_accuracy, linear_probe_accuracy, normalized_std, rank_me
from ebm.objectives import InfoNCE, VICReg
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train

torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)  # small batches train fastest on one CPU thread
generator = torch.Generator().manual_seed(0)

x_train, y_train = load_digits("train")  # (1347, 64) in [0, 1]
x_test, y_test = load_digits("test")  # (450, 64), the fixed stratified split


def encoder(d=8):
    # 64 pixels -> an 8-dim embedding (the representation the probes read).
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, d))


def expander(width=512):
    # VICReg regularises a wide "expander" output, not the 8-dim representation itself.
    return nn.Sequential(nn.Linear(8, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, width))


def report(name, f):
    f.eval()
    with torch.no_grad():
        z_train, z_test = f(x_train), f(x_test)
    print(
        f"{name:28s} linear probe {linear_probe_accuracy(z_train, y_train, z_test, y_test):.3f}  "
        f"5-NN {knn_accuracy(z_train, y_train, z_test, y_test):.3f}  RankMe {rank_me(z_test):.2f}  "
        f"std(z/|z|) {normalized_std(z_test):.3f} (healthy ≈ 1/√8 = 0.354)"
    )


runs = {
    "untrained": (None, None),
    "InfoNCE (τ = 0.2)": (InfoNCE(0.2), None),
    "VICReg (25, 25, 1)": (VICReg(), expander()),
    "VICReg, μ = ν = 0 (collapse)": (VICReg(variance_weight=0.0, covariance_weight=0.0), None),
}
for name, (loss, head) in runs.items():
    f = encoder()
    note = ""
    if loss is not None:
        energy = JointEmbeddingEnergy(f, distance="cosine", event_shape=(64,))
        task = TwoViewObjective(loss, DigitAugment(shift=1, rotation=15, noise=0.05, mask_prob=0.5), head=head)
        train(energy, task, x_train, epochs=30, batch_size=256, lr=2e-3, generator=generator, progress=False)
        # The energy of matching views is low, of other digits high:
        with torch.no_grad():
            e = energy.pairwise(*DigitAugment().two_views(x_test[:100], generator))  # (100, 100)
        eye = torch.eye(100, dtype=torch.bool)
        note = f"  mean energy E = 1 - cos: positive pairs {e[eye].mean():.3f}, other pairs {e[~eye].mean():.3f}"
    report(name, f)
    if note:
        print(note)
