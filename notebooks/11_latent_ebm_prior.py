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
# # Lesson 11 — An energy-based prior in latent space
#
# A generator `x = g_θ(z) + σε` whose latent prior is an EBM: an exponential tilt of a Gaussian,
#
# `p_α(z) ∝ exp(−f_α(z)) N(z; 0, I)`, so the joint energy is
# `E(x, z) = f_α(z) + ½‖z‖² + ‖x − g_θ(z)‖² / (2σ²)`
#
# (Pang, Han, Nijkamp, Zhu & Wu 2020, arXiv:2006.08205). Maximum likelihood needs samples of the
# prior `p_α(z)` and of the posterior `p(z | x)`; both come from **short-run Langevin in the
# low-dimensional latent space**, which is cheap and mixes far better than Langevin over pixels.
# The gradients are
#
# `∇_α: E_post[∇_α f_α(z)] − E_prior[∇_α f_α(z)]`  and  `∇_θ: E_post[∇_θ ‖x − g_θ(z)‖² / (2σ²)]`.
#
# Time: about a minute and a half on a laptop CPU. Companion script: `examples/12_latent_ebm_prior.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits, make_toy
from ebm.energies import LatentEBMPrior
from ebm.evaluate import mmd

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
toy_epochs, digit_epochs = (3, 2) if QUICK else (20, 15)
generator = torch.Generator().manual_seed(0)  # the lesson's one seed
torch.set_num_threads(1)  # tiny networks: extra threads only add synchronisation on a small CPU

x = make_toy("8gaussians", 2000, generator=generator)  # (2000, 2)
scale = x.std()
x = x / scale  # unit scale, so σ = 0.15 is a small observation noise
x_ref = make_toy("8gaussians", 1000, generator=generator) / scale  # (1000, 2) fresh data for MMD

# %% [markdown]
# ## 1. A 2-D toy set with a 2-D latent
#
# `fit` runs the shared training loop with the model's default objective (`LatentPriorLoss`):
# 40 prior and 20 posterior Langevin steps per update.

# %%
model = LatentEBMPrior(2, latent_dim=2, hidden=64, prior_hidden=64, sigma=0.15, prior_steps=40, posterior_steps=20, generator=generator)
before = model.sample(1000, generator=generator)  # (1000, 2)
history = model.fit(x, epochs=toy_epochs, batch_size=100, lr=2e-3, generator=generator, progress=False)
after = model.sample(1000, generator=generator)  # (1000, 2): z from the short-run EBM prior

# %% [markdown]
# ## 2. What does the tilt `f_α` buy?
#
# The same trained generator fed with latents from the plain Gaussian `N(0, I)` instead of the
# EBM prior shows how much of the structure the prior carries: the generator alone has to map one
# Gaussian blob onto eight modes, and the tilt can move the latent mass into the right places.
# The unbiased MMD² (Gretton et al. 2012) to fresh data measures each (≈ 0 for a perfect model;
# the "data vs data" row is the noise floor).

# %%
with torch.no_grad():
    gaussian_only = model.decode(torch.randn(1000, 2, generator=generator))  # (1000, 2)
for name, pts in (("data vs data", x[:1000]), ("before training", before), ("g(z), z ~ N(0, I)", gaussian_only),
                  ("g(z), z ~ EBM prior", after)):
    print(f"{name:22s} MMD² {float(mmd(pts, x_ref)):8.4f}")

fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), constrained_layout=True)
bounds = ((-2.5, 2.5), (-2.5, 2.5))
plot.data_density(x, bounds, ax=axes[0], title="data (8 Gaussians)")
for ax, pts, title in ((axes[1], gaussian_only, "g(z), z ~ N(0, I)"), (axes[2], after, "g(z), z ~ short-run EBM prior")):
    plot.samples(pts, ax=ax, color="tab:red", size=2)
    ax.set(xlim=bounds[0], ylim=bounds[1], title=title)
plot.landscape(model.prior_energy, ((-3, 3), (-3, 3)), ax=axes[3], title="prior energy f(z) + ½‖z‖² over z", log_scale=True)
plt.show()

# %% [markdown]
# ## 3. 8×8 digits with an 8-D latent
#
# The same model on 64-pixel digits. The posterior samples `z ~ p(z | x)` give reconstructions
# `g(z)`; the prior samples give new digits. Compare with lesson 6, where the latent was found by
# optimisation only and there was no prior to sample from.

# %%
digits, _ = load_digits("train")  # (1347, 64) in [0, 1]
net = LatentEBMPrior(64, latent_dim=8, hidden=128, prior_hidden=64, sigma=0.2, prior_steps=40, posterior_steps=20,
                     posterior_step_size=0.005, generator=generator)
history = net.fit(digits, epochs=digit_epochs, batch_size=100, lr=1e-3, generator=generator, progress=False)
with torch.no_grad():
    recon = net.decode(net.sample_posterior_latents(digits[:16], generator=generator)).clamp(0, 1)  # (16, 64)
samples = net.sample(32, generator=generator).clamp(0, 1)  # (32, 64)

fig, axes = plt.subplots(1, 4, figsize=(18, 4.6), constrained_layout=True)
plot.image_grid(digits[:16], image_shape=(8, 8), ncols=4, ax=axes[0], title="data", normalize="none")
plot.image_grid(recon, image_shape=(8, 8), ncols=4, ax=axes[1], title="g(z), z ~ short-run posterior", normalize="none")
plot.image_grid(samples, image_shape=(8, 8), ncols=8, ax=axes[2], title="g(z), z ~ short-run EBM prior", normalize="none")
plot.training_curves(history, ax=axes[3], title="training loss")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Set `prior_steps=5` on the toy model (a prior chain too short to leave `N(0, I)`). How do the
#    MMD² of the EBM-prior samples and the prior-energy plot change?
# 2. Raise the observation noise to `sigma=0.5`. What happens to the samples `g(z)`, and why does
#    a larger σ make the posterior easier to sample but the model blurrier?
# 3. Use `latent_dim=1` for the toy set. Can a 1-D latent with a tilted prior still produce eight
#    modes? Plot `model.prior_energy` as a curve over z ∈ [−3, 3].
# 4. For the digits, compare `net.sample(32, noise=True)` with the noiseless samples. Which one is
#    a sample of the model's `p(x)`?
# 5. Replace the posterior Langevin by the MAP latent `net.infer(digits[:16])` in section 3. Are
#    the reconstructions sharper or blurrier, and why?
