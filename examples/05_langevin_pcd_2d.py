"""A 2-D neural energy trained by persistent contrastive divergence with Langevin negatives.

The negative samples come from short Langevin (ULA) chains started from a replay buffer of past
negatives, restarted from uniform noise 5% of the time (Du & Mordatch 2019, arXiv:1903.08689);
a small energy-magnitude penalty α(E(x⁺)² + E(x⁻)²) keeps the energies bounded. Snapshots of the
energy landscape show the data's shape being carved out over training.

Run: python3 examples/05_langevin_pcd_2d.py [--quick]   (writes out/examples/langevin_pcd_2d.png;
the full run takes a few minutes on a 2-core CPU: 2,500 updates of 10 Langevin steps each)
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import make_toy
from ebm.energies import MLPEnergy
from ebm.objectives import ContrastiveDivergence
from ebm.train import train
from samplers import ULA

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--data", default="8gaussians")
args = parser.parse_args()

g = torch.Generator().manual_seed(0)  # the only seed: everything below draws from g
x = make_toy(args.data, 2000 if args.quick else 8000, generator=g)  # (n, 2)
model = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=g)
objective = ContrastiveDivergence(
    ULA(step_size=0.01),  # x' = x - ε∇E(x) + √(2ε) ξ
    k=10,  # Langevin steps per update
    replay_buffer_size=5000,
    reinit_prob=0.05,
    energy_penalty=0.1,
)

snapshots = [0, 2, 5, 10] if args.quick else [0, 5, 15, 40]
bounds = ((-4.5, 4.5), (-4.5, 4.5))
fig, axes = plt.subplots(1, len(snapshots) + 1, figsize=(4.2 * (len(snapshots) + 1), 4), constrained_layout=True)
done = 0
for ax, epoch in zip(axes, snapshots):
    if epoch > done:
        train(model, objective, x, epochs=epoch - done, batch_size=128, lr=5e-3, generator=g, progress=False)
        done = epoch
    plot.landscape(model, bounds, ax=ax, resolution=100, title=f"E(x) after {epoch} epochs", colorbar=False)
plot.data_density(x, bounds, ax=axes[-1], resolution=80, title=f"data: {args.data}")
negatives = objective.chains[:500].detach()  # (500, 2) a sample of the replay buffer
plot.samples(negatives, ax=axes[len(snapshots) - 1], color="tab:red", size=5, alpha=0.7, label="replay buffer")
fig.suptitle("Langevin PCD with a replay buffer (Du & Mordatch 2019): energy landscape over training (dark = low energy)")
out = Path("out/examples")
out.mkdir(parents=True, exist_ok=True)
print("wrote", plot.save(fig, out / "langevin_pcd_2d.png"))
