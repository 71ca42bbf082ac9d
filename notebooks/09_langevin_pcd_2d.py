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
# # Lesson 9 — Persistent Langevin chains carve out a 2-D energy
#
# An MLP energy `E_θ(x)` on the plane, trained by maximum likelihood with the contrastive gradient
#
# `∇_θ L = E_data[∇_θ E_θ(x⁺)] − E_model[∇_θ E_θ(x⁻)]`,
#
# where the negatives `x⁻` come from **short Langevin chains**
# `x ← x − ε ∇E(x) + √(2ε) ξ` (ULA, 10 steps per update) that start from a **replay buffer** of
# earlier negatives, restarted from uniform noise 5% of the time (Du & Mordatch 2019,
# arXiv:1903.08689). A small penalty `α (E(x⁺)² + E(x⁻)²)` keeps the energies bounded.
#
# Because the data are 2-D we can do what is impossible in high dimension: compute `log Z` by
# quadrature on a grid and score the model by its exact held-out log-likelihood.
#
# Time: about a minute on a laptop CPU. Companion script: `examples/05_langevin_pcd_2d.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import make_toy
from ebm.energies import MLPEnergy
from ebm.evaluate import mmd
from ebm.grid import grid_log_partition
from ebm.objectives import ContrastiveDivergence
from ebm.train import train
from samplers import ULA

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
n_points, snapshots, long_steps = (1500, [0, 2, 4, 8], 100) if QUICK else (4000, [0, 3, 10, 30], 500)
generator = torch.Generator().manual_seed(0)  # the lesson's one seed
torch.set_num_threads(1)  # tiny networks: extra threads only add synchronisation on a small CPU
BOUNDS = ((-4.5, 4.5), (-4.5, 4.5))

x = make_toy("8gaussians", n_points, generator=generator)  # (n, 2)
x_test = make_toy("8gaussians", 2000, generator=generator)  # (2000, 2) held out
model = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=generator)  # + 0.01‖x‖² keeps exp(−E) integrable
plot.data_density(x, BOUNDS, title="data: 8 Gaussians")
plt.show()

# %% [markdown]
# ## 1. The objective
#
# `ContrastiveDivergence` with a sampler and a replay buffer is Langevin PCD. Its loss is
# `mean E(x⁺) − mean E(x⁻)` (plus the penalty): the negatives are constants, so its gradient is
# exactly the contrastive gradient above. The buffer is the model's memory of where its own
# samples live.

# %%
objective = ContrastiveDivergence(
    ULA(step_size=0.01),  # x' = x − ε∇E(x) + √(2ε) ξ
    k=10,  # Langevin steps per update
    replay_buffer_size=5000,
    reinit_prob=0.05,
    energy_penalty=0.1,
)


def held_out_log_likelihood(energy):
    """Mean −E(x) − log Z on the test points, log Z by midpoint quadrature on the box (float64)."""
    e = energy.double()
    log_z = grid_log_partition(e, BOUNDS, 200)
    with torch.no_grad():
        ll = float((-e(x_test.double()) - log_z).mean())
    energy.float()
    return ll


# %% [markdown]
# ## 2. Watching the landscape form
#
# We train in stages and draw `E(x)` (dark = low energy) after each. The held-out log-likelihood is
# printed alongside: it can only be computed because `log Z` is a 2-D integral here.

# %%
fig, axes = plt.subplots(1, len(snapshots), figsize=(4.2 * len(snapshots), 4), constrained_layout=True)
done, histories = 0, []
for ax, epoch in zip(axes, snapshots):
    if epoch > done:
        histories.append(train(model, objective, x, epochs=epoch - done, batch_size=128, lr=5e-3, generator=generator, progress=False))
        done = epoch
    ll = held_out_log_likelihood(model)
    print(f"after {epoch:3d} epochs: held-out log-likelihood {ll:7.3f} nats")
    plot.landscape(model, BOUNDS, ax=ax, resolution=100, title=f"E(x) after {epoch} epochs", colorbar=False)
plot.samples(objective.chains[:500].detach(), ax=axes[-1], color="tab:red", size=5, alpha=0.7, label="replay buffer")
plt.show()

# %% [markdown]
# ## 3. Are the buffer's samples the model's samples?
#
# The buffer holds states after only 10 Langevin steps from wherever they were: it is **not** an
# exact sample of `exp(−E)/Z`. We compare it, and fresh long chains started from uniform noise, with
# held-out data by the unbiased MMD² (Gretton et al. 2012): about 0 when two samples come from
# the same distribution. The "data vs data" row is the noise floor at this sample size.

# %%
noise = torch.rand(1000, 2, generator=generator) * 9 - 4.5  # (1000, 2) uniform on the box
long_run = ULA(step_size=0.01).run(model, noise, long_steps, generator=generator).x.detach()  # (1000, 2)
buffer = objective.chains[:1000].detach()  # (1000, 2)
for name, pts in (("data vs data", x[:1000]), ("replay buffer", buffer), (f"{long_steps} ULA steps from noise", long_run)):
    print(f"{name:26s} MMD² to held-out data {float(mmd(pts, x_test[:1000])):8.4f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
for ax, (name, pts) in zip(axes, (("replay buffer", buffer), (f"{long_steps} ULA steps from noise", long_run))):
    plot.landscape(model, BOUNDS, ax=ax, resolution=80, title=name, colorbar=False)
    plot.samples(pts, ax=ax, color="tab:red", size=3)
losses = torch.tensor([v for h in histories for v in h.losses])
axes[2].plot(losses.numpy())
axes[2].set(title="training loss (per update)", xlabel="update", ylabel="mean E(x⁺) − mean E(x⁻) + penalty")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Set `reinit_prob=0.0`. The buffer never sees fresh noise: look for spurious low-energy regions
#    far from the data in the final landscape, and at the "from noise" MMD².
# 2. Turn the buffer off (`replay_buffer_size=0, persistent=False`): the chains now start at the
#    data batch (CD-10). How does the landscape between the modes change, and the held-out
#    log-likelihood?
# 3. Set `energy_penalty=0.0` and print `model(x).mean()` after training. What has happened to the
#    energy's scale, and to the loss curve?
# 4. Halve the Langevin step to `ULA(step_size=0.005)` (keep k=10). Do the negatives still reach the
#    outer modes? Compare the buffer's plot.
# 5. Swap the data for `make_toy("2spirals", ...)` or `"checkerboard"`. Which shapes does 30 epochs
#    of Langevin PCD capture, and which need more?
