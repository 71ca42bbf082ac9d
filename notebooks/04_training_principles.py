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
# # Lesson 4 — One data set, many training principles
#
# The same small MLP energy is trained on the 8-Gaussians toy set by several principles. They
# differ in what they ask of the model: contrastive divergence needs samples from it, noise-contrastive
# estimation needs a noise distribution, and the score-matching family only needs the slope
# `−∇E` at (noisy) data points.
#
# Time: about a minute on a laptop CPU. Companion script: `examples/06_every_principle.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import make_toy
from ebm.energies import MLPEnergy
from ebm.objectives import ContrastiveDivergence, DenoisingScoreMatching, NoiseContrastiveEstimation, SlicedScoreMatching
from ebm.train import train
from samplers import ULA

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
epochs, n = (2, 512) if QUICK else (20, 2048)
g = torch.Generator().manual_seed(0)

x = make_toy("8gaussians", n, generator=g)  # (n, 2)
x = (x - x.mean(0)) / x.std(0)  # standardised: one set of hyper-parameters for every principle
bounds = ((-3, 3), (-3, 3))
plot.data_density(x, bounds, title="data: 8 Gaussians")
plt.show()

# %% [markdown]
# ## 1. Train one model per principle
#
# * **Denoising score matching** (Vincent 2011): match `−∇E(x̃)` to `−(x̃ − x)/σ²` at noisy points.
# * **Sliced score matching** (Song et al. 2019, arXiv:1905.07088): random projections of the
#   score-matching loss, no noise scale to choose.
# * **Noise-contrastive estimation** (Gutmann & Hyvärinen 2010): tell data from Gaussian noise by
#   logistic regression on `−E(x) − log Z − log q(x)`; learns `log Z` too.
# * **Contrastive divergence** with persistent Langevin chains (Du & Mordatch 2019,
#   arXiv:1903.08689): push data energy down and the chains' energy up.

# %%
noise = torch.distributions.MultivariateNormal(torch.zeros(2), 2.0 * torch.eye(2))
objectives = {
    "denoising SM (σ=0.3)": DenoisingScoreMatching(0.3),
    "sliced SM": SlicedScoreMatching(n_projections=1),
    "NCE (ν=4)": NoiseContrastiveEstimation(noise, noise_ratio=4),
    "CD (Langevin PCD)": ContrastiveDivergence(ULA(0.05), k=5, persistent=True, n_chains=256),
}
models = {}
for name, objective in objectives.items():
    model = MLPEnergy((2,), hidden=(64, 64), generator=g)
    history = train(model, objective, x, epochs=epochs, batch_size=256, lr=2e-3, generator=g, progress=False)
    models[name] = model
    print(f"{name:<22} final loss {history.epoch_losses[-1]:+.4f}   {history.wall_time:.1f} s")

# %% [markdown]
# ## 2. The learned densities `exp(−E)`, normalised on the grid

# %%
fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4), constrained_layout=True)
for ax, (name, model) in zip(axes, models.items()):
    plot.landscape(model, bounds, ax=ax, kind="density", colorbar=False, contours=0, title=name)
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Change the denoising σ from 0.3 to 1.0 and to 0.05. Which σ separates the eight modes, and
#    what goes wrong at each extreme?
# 2. Score matching sees only local slopes. Draw samples from the DSM model with `samplers.MALA`
#    started uniformly in the box: are the eight modes equally populated? Compare with the data.
# 3. Give NCE a narrower noise (`0.5 * torch.eye(2)`). Why does the learned density degrade far
#    from the origin?
# 4. For CD, set `persistent=False` (chains restart at the data). What changes in the landscape
#    away from the data?
