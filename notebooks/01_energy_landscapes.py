# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 1 — Energy landscapes
#
# An energy-based model assigns every point `x` an energy `E(x)` and a probability
# `p(x) = exp(−E(x)) / Z`. **Low energy is likely.** In this lesson we draw 2-D energies, check
# their normaliser `Z` against numerical integration, look at the score field `−∇E` that samplers
# follow, and compare exact samples with the density.
#
# Time: about 20 seconds on a laptop CPU. Companion script: `examples/01_energy_landscapes.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.energies import Banana, DoubleWell, GaussianMixture, NealFunnel, Ring
from ebm.evaluate import grid_log_partition
from ebm.grid import grid_sample

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
RESOLUTION = 200 if QUICK else 1000
generator = torch.Generator().manual_seed(0)  # the lesson's one seed

# %% [markdown]
# ## 1. The normaliser `log Z`, exactly and by quadrature
#
# Each built-in landscape knows `log Z = log ∫ exp(−E(x)) dx` in closed form (or by 1-D
# quadrature). On a grid, the same integral is a sum: `Z ≈ Σ exp(−E(xᵢ)) · cell area`.

# %%
cases = [
    ("double well", DoubleWell(barrier=3.0), ((-4, 4), (-4, 4))),
    ("banana", Banana(curvature=1.0), ((-8, 8), (-8, 40))),
    ("ring", Ring(radius=2.0, width=0.25), ((-5, 5), (-5, 5))),
]
for name, energy, bounds in cases:
    exact = float(energy.log_partition())
    grid = float(grid_log_partition(energy, bounds, RESOLUTION, dtype=torch.float64))
    print(f"{name:<12} exact {exact:10.6f}   grid {grid:10.6f}")

# %% [markdown]
# ## 2. Landscapes, score fields and exact samples
#
# Dark is low energy. The arrows are the score `−∇E(x)`: they point downhill, towards likely
# regions. The red points are exact samples.

# %%
mixture = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), torch.stack([0.3 * torch.eye(2), 0.6 * torch.eye(2)]), torch.tensor([0.7, 0.3]))
panels = [
    ("mixture 0.7 / 0.3", mixture, ((-4, 4), (-3, 3.5))),
    ("ring", Ring(), ((-3, 3), (-3, 3))),
    ("double well", DoubleWell(), ((-2.2, 2.2), (-2.2, 2.2))),
]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
for ax, (title, energy, bounds) in zip(axes, panels):
    plot.landscape(energy, bounds, ax=ax, title=title)
    plot.score_field(energy, bounds, ax=ax, density=16)
    pts = grid_sample(energy, bounds, 400, resolution=200 if QUICK else 400, generator=generator)  # (400, 2)
    plot.samples(pts, ax=ax, label="exact samples")
plt.show()

# %% [markdown]
# ## 3. Scales that span orders of magnitude: Neal's funnel
#
# On a linear scale the funnel's neck is invisible; a log scale shows it. Samplers with one fixed
# step size struggle in exactly this neck.

# %%
plot.landscape(NealFunnel(), ((-12, 12), (-8, 8)), kind="density", log_scale=True, title="Neal's funnel, log10 density")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Raise the double well's `barrier` from 3 to 8. How do `log Z` and the picture change? Which
#    region holds the probability mass?
# 2. Shrink the grid resolution of section 1 to 50. How large is the quadrature error now for the
#    ring, and why is the ring the hardest of the three? (Hint: its `width`.)
# 3. Take `e = DoubleWell()` and draw `e.tempered(4.0)` next to it. What does temperature do to
#    the landscape and to the samples?
# 4. `e1 + e2` is a product of experts. Draw `Ring() + DoubleWell()`: where is its energy low?
