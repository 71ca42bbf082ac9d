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
# # Lesson 13 — Modern samplers, and how to tell a good sample from a bad one
#
# Lesson 2 compared ULA, MALA, HMC and tempering. Here are the second wave:
#
# * **NUTS** (Hoffman & Gelman 2014, arXiv:1111.4246): HMC that chooses its own trajectory length by
#   doubling until the path turns back; step size and a diagonal mass are adapted during warm-up;
# * **underdamped (kinetic) Langevin**, BAOAB splitting (Leimkuhler & Matthews 2013,
#   arXiv:1203.5428): positions and momenta, one gradient per step, friction γ;
# * **SVGD** (Liu & Wang 2016, arXiv:1608.04471): deterministic interacting particles,
#   `x ← x + ε φ(x)`, `φ(x) = mean_j [k(x_j, x) ∇log p(x_j) + ∇_{x_j} k(x_j, x)]`;
# * **Gibbs-with-gradients** (Grathwohl et al. 2021, arXiv:2102.04509) for binary states.
#
# Then three ways to check the answer without trusting the sampler: AIS against a closed form,
# the kernel Stein discrepancy (needs only the score), and the MMD to exact samples.
#
# Time: about a minute and a half on a laptop CPU.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.energies import Banana, BoltzmannMachine, NealFunnel
from ebm.evaluate import ais_log_partition, grid_log_partition, kernel_stein_discrepancy, mmd
from samplers import MALA, NUTS, SVGD, GibbsWithGradients, SingleSiteGibbs, UnderdampedLangevin, effective_sample_size
from samplers.enumeration import enumerate_binary_states

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
n_chains, n_steps, warmup = (16, 60, 40) if QUICK else (64, 500, 300)
generator = torch.Generator().manual_seed(0)  # the lesson's one seed
torch.set_num_threads(1)  # tiny networks: extra threads only add synchronisation on a small CPU

banana = Banana(curvature=1.0, sigma_x=1.0, sigma_y=0.5).double()
funnel = NealFunnel(scale=3.0).double()


def exact_banana(n):
    """Exact draws: x ~ N(0, σx²), y = v + c(x² − σx²) with v ~ N(0, σy²) (a unit-Jacobian map)."""
    u = torch.randn(n, 2, generator=generator, dtype=torch.float64)  # (n, 2)
    a = banana.sigma_x * u[:, 0]
    return torch.stack([a, banana.sigma_y * u[:, 1] + banana.curvature * (a * a - banana.sigma_x**2)], dim=1)


# %% [markdown]
# ## 1. Four samplers on the banana and the funnel
#
# The banana's valley is narrow and curved; Neal's funnel `v ~ N(0, 3²)`, `x | v ~ N(0, eᵛ)` needs
# tiny steps in its neck (v ≪ 0) and large ones in its mouth. For each we report the smallest ESS
# over the two coordinates, and for NUTS the **divergent transitions** — leapfrog trajectories whose
# energy error blew up, the symptom of a step too large for the local curvature. On the funnel the
# exact marginal of `v` is N(0, 9): a sampler that cannot enter the neck reports `sd(v)` below 3.

# %%
def make_samplers():
    return {"MALA (adapted)": MALA(0.05, warmup_steps=warmup, adapt_step_size=True, thin=1),
            "NUTS": NUTS(warmup_steps=warmup, thin=1),
            "underdamped γ=1": UnderdampedLangevin(0.1, friction=1.0, warmup_steps=warmup, thin=1),
            "SVGD": SVGD(0.05, thin=1)}


results = {}
for target_name, energy in (("banana", banana), ("funnel", funnel)):
    x0 = torch.randn(n_chains, 2, generator=generator, dtype=torch.float64) * 0.5  # (n_chains, 2)
    for name, sampler in make_samplers().items():
        r = sampler.run(energy, x0, n_steps, generator=generator)
        draws = r.trajectory[-n_steps // 2:]  # (n_kept, n_chains, 2): the second half
        results[target_name, name] = draws
        ess = float(effective_sample_size(draws).min())
        extra = f"divergences {int(r.extras['divergent_transitions'].sum()):4d}" if name == "NUTS" else ""
        spread = f"sd(v) {float(draws[..., 1].std()):5.2f} (exact 3.00)" if target_name == "funnel" else f"mean y {float(draws[..., 1].mean()):5.2f} (exact 0)"
        print(f"{target_name:7s} {name:17s} min ESS {ess:7.1f}   {spread}   {extra}")

fig, axes = plt.subplots(2, 4, figsize=(18, 8), constrained_layout=True)
for row, (target_name, energy, bounds) in enumerate((("banana", banana, ((-3.5, 3.5), (-2.5, 6.0))), ("funnel", funnel, ((-6, 6), (-8, 8))))):
    for col, name in enumerate(make_samplers()):
        plot.landscape(energy, bounds, ax=axes[row, col], resolution=80, colorbar=False, log_scale=True, title=f"{target_name}: {name}")
        draws = results[target_name, name]
        pts = draws[-1] if name == "SVGD" else draws.reshape(-1, 2)  # SVGD: its final particles; MCMC: (n_kept · n_chains, 2)
        plot.samples(pts, ax=axes[row, col], size=8 if name == "SVGD" else 2)
plt.show()

# %% [markdown]
# What to read in the table: on the funnel NUTS reports many divergences — its adapted step fits
# the mouth and is too large for the neck, and every divergence marks a region it samples badly
# (Betancourt 2017, arXiv:1701.02434). Underdamped Langevin has no accept step, so with one fixed
# step its `sd(v)` can be far from 3 in either direction: it is biased where the curvature changes.
# If a chain never moves, the samplers warn (a `SamplerWarning` naming the chain) rather than hide it.
# SVGD's particles are not a Markov chain: its "ESS" is not an MCMC quantity, so judge it in
# section 4 by KSD and MMD instead.
#
# ## 2. Gibbs-with-gradients against exact enumeration
#
# A 14-unit Boltzmann machine has 16,384 states: enumerate them and the exact marginals
# `P(x_i = 1)` are a sum. Gibbs-with-gradients proposes one flip per step, choosing *which* unit
# from the gradient's first-order estimate of every flip's energy change, then accepts or rejects
# (Metropolis–Hastings). Single-site Gibbs updates every unit in turn. We give both the same number
# of single-unit updates and compare the marginals with the truth.

# %%
n_units = 14
j = torch.triu(torch.randn(n_units, n_units, generator=generator, dtype=torch.float64) * 0.4, 1)
bm = BoltzmannMachine(n_units, coupling=j + j.T, bias=torch.randn(n_units, generator=generator, dtype=torch.float64) * 0.3)
states = enumerate_binary_states(n_units, 0, 2**n_units)  # (16384, 14)
with torch.no_grad():
    exact_marginals = torch.softmax(-bm(states), 0) @ states  # (14,)

flips = 140 if QUICK else 2800  # single-unit updates per chain
start = torch.bernoulli(torch.full((64, n_units), 0.5, dtype=torch.float64), generator=generator)  # (64, 14)
gwg = GibbsWithGradients(thin=1).run(bm, start, flips, generator=generator)
gibbs = SingleSiteGibbs(thin=1).run(bm, start, flips // n_units, generator=generator)
for name, r in (("Gibbs-with-gradients", gwg), ("single-site Gibbs", gibbs)):
    draws = r.trajectory[r.trajectory.shape[0] // 2:].reshape(-1, n_units)  # (n_kept · 64, 14)
    err = float((draws.mean(0) - exact_marginals).abs().max())
    accept = f"   acceptance {float(r.acceptance_rate.mean()):.2f}" if r.acceptance_rate is not None else ""
    print(f"{name:22s} max |marginal error| {err:.3f}{accept}")

# %% [markdown]
# ## 3. AIS for any energy, checked against the closed form
#
# The banana's `log Z = log(2π σx σy)` exactly, and a 2-D grid gives a second check.
# `ais_log_partition(energy, data=...)` fits a Gaussian base to samples, widens it 1.5×, and
# anneals along `E_β = (1 − β) E_0 + β E` with MALA moves (Neal 2001, arXiv:physics/9803008).

# %%
truth = float(banana.log_partition())
quad = float(grid_log_partition(banana, ((-8, 8), (-6, 40)), 600))
for n_betas in ((30, 300) if QUICK else (30, 300, 3000)):
    est = ais_log_partition(banana, data=exact_banana(2000), n_betas=n_betas, n_chains=200, generator=generator)
    print(f"{n_betas:5d} temperatures: AIS {float(est.log_z):7.4f} ± {float(est.std_error):.4f}   "
          f"quadrature {quad:7.4f}   closed form {truth:7.4f}")

# %% [markdown]
# ## 4. Goodness of fit: KSD and MMD
#
# The **kernel Stein discrepancy** (Liu, Lee & Jordan 2016, arXiv:1602.03253) needs only the model's
# score `s = −∇E`: `KSD² = E_{x,x'~q} u_p(x, x')`, zero in expectation exactly when the samples `q`
# come from `p`. The **MMD²** (Gretton et al. 2012) compares two samples; here the sampler's draws
# against exact banana draws. Both are unbiased U-statistics, so values near 0 can be slightly
# negative; the "exact draws" row is the floor. The estimators' expectations do not depend on the
# number of points, only their noise does (SVGD has just its particles). We use the IMQ kernel for KSD
# (Gorham & Mackey 2017, arXiv:1703.01717), which detects non-convergence that RBF can miss.

# %%
reference = exact_banana(1000)
print(f"{'banana samples':22s} {'points':>6s} {'KSD² (IMQ)':>11s} {'MMD² to exact':>14s}")
rows = {"exact draws": exact_banana(500)}
for name in make_samplers():
    draws = results["banana", name]  # (n_kept, n_chains, 2)
    # MCMC: every 10th state of the second half; SVGD: its final particles (earlier states are not samples)
    rows[name] = draws[-1] if name == "SVGD" else draws[::10].reshape(-1, 2)
for name, pts in rows.items():
    ksd = float(kernel_stein_discrepancy(banana.score, pts, kernel="imq"))
    print(f"{name:22s} {pts.shape[0]:6d} {ksd:11.4f} {float(mmd(pts, reference)):14.4f}")

# %% [markdown]
# ## Exercises
#
# 1. Give NUTS `max_tree_depth=3` (at most 8 leapfrog steps) on the funnel. What happens to the
#    divergences and to `sd(v)`? Which part of the funnel is now missing from the plot?
# 2. Raise underdamped Langevin's friction to γ = 10, then lower it to 0.1. Which setting gives the
#    higher min ESS on the banana, and which behaves like ULA?
# 3. Run SVGD with 4 particles instead of 64 (`n_chains`). How do its KSD and MMD change? What
#    does the repulsive term `∇k` do when there are only a few particles?
# 4. In section 2, strengthen the couplings (`* 1.0` instead of `* 0.4`). Which sampler's marginal
#    error grows faster? Look at GWG's acceptance rate.
# 5. In section 3, anneal from a base far too narrow: `from ebm.evaluate.ais_any import
#    ais_log_partition_any`, then `ais_log_partition_any(banana, base=(torch.zeros(2, dtype=torch.float64),
#    0.1 * torch.eye(2, dtype=torch.float64)), n_betas=300, generator=generator)`. How many
#    temperatures does AIS now need, and does its standard error warn you that the estimate is off?
