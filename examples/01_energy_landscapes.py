"""01 — Energy landscapes: exact log partition functions, exact samples and the score field.

Run:  python examples/01_energy_landscapes.py   (writes figures to out/examples/01/)

Every built-in 2-D energy knows its log Z exactly; here we check that against brute-force
quadrature, draw each landscape with its score field, and compare exact samples with the density.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.energies import Banana, DoubleWell, GaussianMixture, NealFunnel, Ring
from ebm.evaluate import grid_log_partition
from ebm.grid import grid_sample

torch.manual_seed(0)  # examples seed once; the library never touches global state
generator = torch.Generator().manual_seed(0)
out = Path("out/examples/01")

# 1. log Z: closed form (or 1-D quadrature) vs a 2-D midpoint rule in float64.
cases = [
    ("double well", DoubleWell(barrier=3.0), ((-4, 4), (-4, 4))),
    ("banana", Banana(curvature=1.0), ((-8, 8), (-8, 40))),
    ("ring", Ring(radius=2.0, width=0.25), ((-5, 5), (-5, 5))),
]
print(f"{'energy':<12} {'exact log Z':>12} {'quadrature':>12}")
for name, energy, bounds in cases:
    exact = float(energy.log_partition())
    grid = float(grid_log_partition(energy, bounds, 1000, dtype=torch.float64))
    print(f"{name:<12} {exact:>12.8f} {grid:>12.8f}")

# 2. Landscapes with their score fields and exact samples.
mixture = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), torch.stack([0.3 * torch.eye(2), 0.6 * torch.eye(2)]), torch.tensor([0.7, 0.3]))
panels = [
    ("mixture 0.7 / 0.3", mixture, ((-4, 4), (-3, 3.5)), mixture.sample(400, generator=generator)),
    ("ring", Ring(), ((-3, 3), (-3, 3)), None),
    ("double well", DoubleWell(), ((-2.2, 2.2), (-2.2, 2.2)), None),
]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
for ax, (title, energy, bounds, pts) in zip(axes, panels):
    plot.landscape(energy, bounds, ax=ax, title=title)
    plot.score_field(energy, bounds, ax=ax, density=16)
    if pts is None:  # no closed-form sampler: exact samples from the fine grid instead
        pts = grid_sample(energy, bounds, 400, resolution=400, generator=generator)
    plot.samples(pts, ax=ax, label="exact samples")
print("wrote", plot.save(fig, out / "landscapes_with_scores.png"))

# 3. Neal's funnel: the density on a log scale shows scales spanning orders of magnitude.
ax = plot.landscape(NealFunnel(), ((-12, 12), (-8, 8)), kind="density", log_scale=True, title="Neal's funnel, log10 density")
print("wrote", plot.save(ax, out / "funnel.png"))
