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
# # Lesson 12 — Flows as energies, flow contrastive estimation, and composing concepts
#
# A normalising flow `x = T(u)`, `u ~ N(0, I)`, has an exact density by the change of variables,
#
# `log p(x) = log N(T⁻¹(x); 0, I) + log |det ∂T⁻¹/∂x|`,
#
# so as an energy `E(x) = −log p(x)` it has `log Z = 0` exactly. That makes a flow useful twice:
# as a model fitted by plain maximum likelihood, and as the **noise** distribution of noise-
# contrastive estimation that is trained along with the energy (flow contrastive estimation,
# Gao et al. 2020, arXiv:1912.00589). Last, energies compose: sums are AND, log-sum-exp is OR,
# and subtraction is NOT (Du, Li & Mordatch 2020, arXiv:2004.06030).
#
# Time: about a minute and a half on a laptop CPU. Companion script: `examples/14_flows_and_composition.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import make_toy
from ebm.energies import Gaussian, MLPEnergy, NeuralSplineFlow, RealNVP, Ring
from ebm.grid import grid_log_partition
from ebm.objectives import ExactLikelihood, FlowContrastiveEstimation, NoiseContrastiveEstimation
from ebm.train import train
from samplers import MALA

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
epochs, mala_steps = (3, 200) if QUICK else (30, 800)
generator = torch.Generator().manual_seed(0)  # the lesson's one seed
torch.set_num_threads(1)  # tiny networks: extra threads only add synchronisation on a small CPU
BOX = ((-5.0, 5.0), (-5.0, 5.0))
x_train = make_toy("8gaussians", 4000, generator=generator)  # (4000, 2)
x_test = make_toy("8gaussians", 4000, generator=generator)  # (4000, 2)


def held_out(energy):
    """Mean test log-likelihood −E(x) − log Z, log Z by midpoint quadrature on the box (float64)."""
    e = energy.double()
    log_z = grid_log_partition(e, BOX, 300)
    with torch.no_grad():
        ll = float((-e(x_test.double()) - log_z).mean())
    energy.float()
    return ll


# %% [markdown]
# ## 1. Two flows fitted by maximum likelihood
#
# `ExactLikelihood` is `mean E(x) + log Z`, and for a flow `log Z = 0`, so it is plain maximum
# likelihood. RealNVP (Dinh et al. 2017, arXiv:1605.08803) uses affine coupling layers; the
# neural spline flow (Durkan et al. 2019, arXiv:1906.04032) monotone rational-quadratic splines.
# The grid check integrates `exp(−E)` over the box: it should agree with the exact value.

# %%
flows = {"RealNVP": RealNVP(2, n_layers=6, hidden=64, generator=generator),
         "neural spline flow": NeuralSplineFlow(2, n_layers=4, n_bins=8, bound=5.0, hidden=64, generator=generator)}
for name, flow in flows.items():
    train(flow, ExactLikelihood(), x_train, epochs=epochs, batch_size=256, lr=3e-3, generator=generator, progress=False)
    with torch.no_grad():
        exact = float(flow.log_prob(x_test).mean())
    print(f"{name:20s} held-out log-likelihood {exact:7.3f} (exact)   {held_out(flow):7.3f} (grid check)")

# %% [markdown]
# ## 2. NCE with a fixed noise against FCE with a learned one
#
# NCE (Gutmann & Hyvärinen 2010) trains the energy as a classifier of data against noise samples,
# with logit `−E(x) − log q(x)`. With a fixed noise, the classifier wins easily wherever the noise
# is a poor match and then learns little more. FCE trains a flow as the noise at the same time:
# when the energy classifies well (accuracy above 0.6), the flow takes its turn and moves closer to
# the data, so the task stays hard. Same energy family, data, optimiser and number of steps.
#
# Is the learned noise worth it? Not always: here the fixed Gaussian already matches the data's
# mean and covariance, and on these 2-D toys the project's benchmark (BENCHMARKS.md, "Flow
# contrastive estimation vs NCE") finds such an NCE as good as or better than FCE at this budget,
# while FCE clearly beats NCE with a standard-normal noise. Read your own numbers below.

# %%
mean, cov = x_train.mean(0), torch.cov(x_train.T)  # the Gaussian noise matches the data's first two moments
energies = {}
for name in ("NCE, Gaussian noise", "FCE, RealNVP noise"):
    energy = MLPEnergy((2,), hidden=(64, 64), quadratic=0.1, generator=torch.Generator().manual_seed(1))
    if name.startswith("NCE"):
        objective = NoiseContrastiveEstimation(torch.distributions.MultivariateNormal(mean, cov), noise_ratio=1.0)
    else:
        noise_flow = RealNVP(2, n_layers=6, hidden=64, generator=torch.Generator().manual_seed(2))
        objective = FlowContrastiveEstimation(noise_flow, noise_ratio=1.0, accuracy_threshold=0.6)
    train(energy, objective, x_train, epochs=epochs, batch_size=256, lr=3e-3, generator=generator, progress=False)
    energies[name] = energy
    print(f"{name:22s} held-out log-likelihood {held_out(energy):7.3f} (grid quadrature)")
gauss_ll = float(torch.distributions.MultivariateNormal(mean, cov).log_prob(x_test).mean())
print(f"{'the Gaussian noise itself':22s} held-out log-likelihood {gauss_ll:7.3f}")

fig, axes = plt.subplots(1, 4, figsize=(17, 4), constrained_layout=True)
for ax, (name, e) in zip(axes, list(flows.items()) + list(energies.items())):
    plot.landscape(e, BOX, ax=ax, resolution=100, kind="density", title=name, colorbar=False)
plt.show()

# %% [markdown]
# ## 3. AND, OR, NOT
#
# Two concept energies: a ring of radius 2, and a Gaussian blob on the right. With `p ∝ exp(−E)`:
#
# * AND: `E_ring + E_right` — the product of the densities, mass where both agree;
# * OR: `−log(exp(−E_ring) + exp(−E_right))` — the mixture;
# * NOT: `E_ring − α E_right` — the ring, tilted away from the right. The blob's energy is
#   unbounded, so α must stay small or the tilt swamps the ring.
#
# We sample each with adapted MALA from the same start.

# %%
ring, right = Ring(radius=2.0, width=0.3), Gaussian(torch.tensor([2.0, 0.0]), 0.5 * torch.eye(2))
compositions = {"ring AND right": ring + right, "ring OR right": ring | right, "ring NOT right": ring.but_not(right, alpha=0.2)}
sampler = MALA(0.05, warmup_steps=mala_steps // 3, adapt_step_size=True)
x0 = 3 * torch.rand(512, 2, generator=generator) - 1.5  # (512, 2) spread over the middle
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
for ax, (name, energy) in zip(axes, compositions.items()):
    pts = sampler.run(energy, x0, mala_steps, generator=generator).x  # (512, 2)
    share = float((pts[:, 0] > 1.0).float().mean())
    print(f"{name:16s} mean radius {float(pts.norm(dim=1).mean()):.2f}, fraction with x₁ > 1: {share:.2f}")
    plot.landscape(energy, ((-3.5, 3.5), (-3.5, 3.5)), ax=ax, resolution=100, title=f"{name}: x₁ > 1 for {share:.2f}", colorbar=False)
    plot.samples(pts, ax=ax, size=2)
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Give RealNVP 2 coupling layers instead of 6. How much held-out log-likelihood is lost, and
#    what does its density plot get wrong between the modes?
# 2. In section 2, give NCE the standard-normal noise
#    `torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))`. Which principle wins now?
#    Explain with the classifier's view: how easy is the task, and where is the noise missing mass?
# 3. Set `accuracy_threshold=0.9` for FCE (the flow only trains when the energy is winning by a lot).
#    Compare held-out log-likelihood with the default 0.6.
# 4. In section 3, raise NOT's `alpha` to 1.0. Where do the samples go, and why does an unbounded
#    negative concept break the ring?
# 5. Compose three concepts: `ring + right + Gaussian(torch.tensor([0.0, 2.0]), 0.5 * torch.eye(2))`.
#    Predict where the mass will be before you sample.
