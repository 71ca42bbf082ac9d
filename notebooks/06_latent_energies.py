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
# # Lesson 6 — Latent-variable energies and the free energy
#
# A latent-variable EBM has a joint energy `E(x, z)` and is used through its free energy
#
#     F_β(x) = −1/β log ∫ exp(−β E(x, z)) dz,        β → ∞:  F(x) = min_z E(x, z).
#
# k-means, Gaussian mixtures, PCA and autoencoders all belong here: they keep the volume of low
# energy small by their architecture instead of pushing up contrastive samples (LeCun et al.
# 2006). We fit three of them to the same ring of points, then train the lecture's ellipse model
# `E(y, z) = ‖y − g(z)‖²` with a 1-D angle `z`.
#
# Time: about a minute on a laptop CPU. Companion scripts: `examples/10_latent_family.py`,
# `examples/11_ellipse.py`.

# %%
import math
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.energies import DecoderEnergy, GMMEnergy, KMeansEnergy, PCAEnergy
from ebm.energies.decoder import make_ellipse

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
g = torch.Generator().manual_seed(0)
y = make_ellipse(512 if QUICK else 1024, radii=(2.0, 1.0), noise=0.05, generator=g)  # (n, 2)
bounds = ((-3, 3), (-2, 2))

# %% [markdown]
# ## 1. Three latent models, three landscapes
#
# PCA with one component has a *line* of zero energy; k-means has low energy only near its
# centroids; a Gaussian mixture's free energy at β = 1 is exactly `−log p(x)`.

# %%
models = {
    "PCA, 1 component": PCAEnergy.fit(y, 1),
    "k-means, 8 centroids": KMeansEnergy.fit(y, 8, generator=g),
    "GMM, 8 components": GMMEnergy.fit(y, 8, generator=g),
}
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), constrained_layout=True)
for ax, (name, model) in zip(axes, models.items()):
    plot.landscape(model, bounds, ax=ax, title=name, colorbar=False)
    plot.samples(y[:200], ax=ax, size=3)
plt.show()

# %% [markdown]
# ## 2. The ellipse: a decoder and a 1-D latent angle
#
# `DecoderEnergy` learns `g(cos z, sin z)`; its free energy is computed on a grid of angles.
# Training lowers `F` on the data; the temperature `1/β` decides how much the landscape is
# smoothed between the ring and its centre.

# %%
model = DecoderEnergy(2, hidden=32, n_grid=256, generator=g)
history = model.fit(y, epochs=3 if QUICK else 40, lr=1e-2, generator=g, progress=False)
print(f"mean free energy of the data: {history.epoch_losses[0]:.3f} (epoch 1) -> {history.epoch_losses[-1]:.4f}")
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), constrained_layout=True)
for ax, beta in zip(axes, (math.inf, 5.0, 0.5)):
    with torch.no_grad():
        plot.landscape(lambda p, b=beta: model.free_energy(p, b), bounds, ax=ax, title=f"F_β, β = {beta}", colorbar=False)
plt.show()
with torch.no_grad():
    z = model.infer(y[:5])  # (5,) the best angle of each point
print("inferred angles (degrees):", [round(math.degrees(a)) for a in z.tolist()])

# %% [markdown]
# ## Exercises
#
# 1. Fit k-means with 3 and with 30 centroids. Which one has the "right" amount of low-energy
#    volume for this ring, and how would you choose k without looking?
# 2. Fit the GMM with `covariance_type="spherical"`. How does the landscape between components
#    change?
# 3. What is `F_β` at the ring's centre for β = ∞ and for β = 0.5? Explain the difference in words
#    (hint: how many latent angles reach the centre equally well?).
# 4. Replace the ellipse by two concentric rings (`torch.cat` two `make_ellipse` calls with
#    different radii). Can a 1-D latent angle explain both?
