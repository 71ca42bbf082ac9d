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
# # Lesson 2 — Samplers and their diagnostics
#
# We know the answer: a mixture of two Gaussians, 0.8 of the mass on the left mode and 0.2 on the
# right, modes 5 apart. We run ULA, MALA, HMC and parallel tempering from the same start and ask:
# do they accept their proposals, how many effective samples do we get per gradient, do different
# chains agree (split R-hat ≈ 1), and is the mode split right?
#
# Time: about a minute on a laptop CPU. Companion script: `examples/02_samplers_compared.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.energies import GaussianMixture
from samplers import HMC, MALA, ULA, ParallelTempering, effective_sample_size, geometric_temperatures, split_rhat

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
n_chains, n_steps, thin = (16, 60, 2) if QUICK else (100, 500, 5)
generator = torch.Generator().manual_seed(0)

target = GaussianMixture(torch.tensor([[-2.5, 0.0], [2.5, 0.0]]), 0.5 * torch.eye(2), torch.tensor([0.8, 0.2]))
x0 = torch.randn(n_chains, 2, generator=generator) * 3  # (n_chains, 2): overdispersed, both sides

# %% [markdown]
# ## 1. One table of diagnostics
#
# * **acceptance**: the fraction of Metropolis proposals accepted (ULA has no accept step);
# * **ESS per 1,000 gradients**: effective sample size of `x₁`, per cost;
# * **split R-hat**: compares halves of chains and chains with each other; above ~1.01 the chains
#   have not mixed (Vehtari et al. 2021, arXiv:1903.08008);
# * **P(left)**: the fraction of the second half of the draws with `x₁ < 0` — exactly 0.8.

# %%
def diagnose(name, sampler, grads_per_step):
    r = sampler.run(target, x0, n_steps, generator=generator)
    draws = r.trajectory[:, :, 0]  # (n_kept, n_chains)
    ess = float(effective_sample_size(draws))
    rhat = float(split_rhat(draws))
    left = float((draws[draws.shape[0] // 2 :] < 0).float().mean())
    accept = float(r.acceptance_rate.mean()) if r.acceptance_rate is not None else float("nan")
    per_1k = 1000 * ess / (n_chains * n_steps * grads_per_step)
    print(f"{name:<22} accept {accept:5.2f}   ESS/1k grads {per_1k:7.2f}   R-hat {rhat:6.3f}   P(left) {left:.3f}")
    return r


warmup = n_steps // 3
samplers = {
    "ULA (ε=0.1)": (ULA(0.1, thin=thin), 1),
    "MALA (adapted)": (MALA(0.1, warmup_steps=warmup, adapt_step_size=True, thin=thin), 1),
    "HMC (L=5, adapted)": (HMC(0.2, n_leapfrog=5, warmup_steps=warmup, adapt_step_size=True, thin=thin), 5),
    "PT + MALA (6 temps)": (ParallelTempering(MALA(0.2), geometric_temperatures(20.0, 6), thin=thin), 6),
}
results = {name: diagnose(name, s, cost) for name, (s, cost) in samplers.items()}

# %% [markdown]
# ## 2. Where the chains ended, and how they moved
#
# Only parallel tempering moves chains between the modes; the others keep the split of the start,
# which is why their R-hat is far above 1 even though every single chain looks healthy.

# %%
fig, axes = plt.subplots(2, 4, figsize=(18, 7.5), constrained_layout=True)
for col, (name, r) in enumerate(results.items()):
    plot.landscape(target, ((-6, 6), (-4, 4)), ax=axes[0, col], resolution=120, title=name, colorbar=False)
    plot.samples(r.x, ax=axes[0, col], color="tab:red", size=5)
    plot.trace_plot(r.trajectory[:, :, 0], ax=axes[1, col], label="x₁", max_chains=6, thin=thin)
plt.show()

# %% [markdown]
# ## 3. Step size against acceptance
#
# MALA's Metropolis step keeps it exact at any step size, but a step too large is rejected too
# often and a step too small moves too little.

# %%
for step in (0.05, 0.3, 1.0, 3.0):
    diagnose(f"MALA ε={step}", MALA(step, thin=thin), 1)

# %% [markdown]
# ## Exercises
#
# 1. Change MALA's step size until its acceptance drops below 0.2. What happens to the ESS per
#    gradient and to R-hat? Why is a *lower* acceptance not always worse?
# 2. Start every chain at `(-2.5, 0)` (`x0 = torch.tensor([-2.5, 0.0]).repeat(n_chains, 1)`).
#    R-hat now looks fine for MALA — is the answer right? What does this say about diagnostics
#    computed from chains that all started in one mode?
# 3. Give parallel tempering 2 temperatures instead of 6 (`geometric_temperatures(20.0, 2)`). Does
#    it still find the 0.8 / 0.2 split?
# 4. ULA has no accept step. Double its step size: which number in the table shows its bias?
