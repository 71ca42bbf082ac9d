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
# # Lesson 10 — Recovering an Ising model, and why annealing matters
#
# **Part A.** A fully visible Boltzmann machine (an Ising model on `{0, 1}¹⁰`),
# `E(x) = −½ xᵀJx − bᵀx`, with random couplings. Its 1,024 states can be enumerated, so we draw
# exact samples and know the true `J`. We refit `J` from the samples by three principles that
# never compute `Z`, in the spirit of Table 1 of the minimum probability flow paper
# (Sohl-Dickstein, Battaglino & DeWeese 2011, arXiv:0906.4779), and by exact maximum likelihood,
# the statistical floor.
#
# **Part B.** Two ways annealing rescues a sampler: AIS for `log Z`, and annealed Langevin for a
# score model whose modes are too far apart for a plain chain (Song & Ermon 2019, arXiv:1907.05600).
#
# Time: about a minute on a laptop CPU. Companion scripts: `examples/07_ising_parameter_recovery.py`,
# `examples/08_why_annealing_matters.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.energies import BoltzmannMachine, NoiseConditionalEnergy, unbalanced_modes
from ebm.evaluate import ais_log_partition
from ebm.objectives import (ExactLikelihood, MinimumProbabilityFlow, MultiLevelDenoisingScoreMatching, PseudoLikelihood,
                            RatioMatching, geometric_sigmas)
from ebm.train import train
from samplers import ULA, AnnealedLangevin

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
n_samples, lbfgs_epochs, dsm_epochs, n_chains = (1000, 3, 4, 400) if QUICK else (5000, 8, 40, 1500)
generator = torch.Generator().manual_seed(0)  # the lesson's one seed
torch.set_num_threads(1)  # tiny networks: extra threads only add synchronisation on a small CPU
N, DTYPE = 10, torch.float64  # float64: L-BFGS on exact ML stalls at float32 resolution near the optimum

j = torch.triu(torch.randn(N, N, generator=generator, dtype=DTYPE) * 0.5, 1)
truth = BoltzmannMachine(N, coupling=j + j.T, bias=torch.randn(N, generator=generator, dtype=DTYPE) * 0.3)
x = truth.exact_sample(n_samples, generator=generator)  # (n_samples, 10): exact draws by enumeration
iu = torch.triu_indices(N, N, 1)  # the 45 couplings above the diagonal
print(f"{n_samples} exact samples; true log Z = {float(truth.log_partition().detach()):.4f}")

# %% [markdown]
# ## A1. Three ways around the partition function
#
# * **Pseudo-likelihood** (Besag 1975): maximise `Σ_i log p(x_i | x_−i)`; each conditional is a
#   logistic function of the other units, so `Z` cancels.
# * **Ratio matching** (Hyvärinen 2007): match `p(x) / p(x̄ⁱ)` for every single-bit flip `x̄ⁱ` —
#   again only energy *differences*.
# * **Minimum probability flow**: minimise the initial flow out of the data,
#   `K = Σ_{x ∈ D} Σ_{x' = one flip of x} exp(½ (E(x) − E(x')))`.
#
# All three are deterministic, so L-BFGS on the full batch through the shared training loop fits
# them; `ExactLikelihood` enumerates `Z` (only possible because n = 10).

# %%
def coupling_error(model):
    diff = (model.effective_coupling() - truth.effective_coupling()).detach()[iu[0], iu[1]]
    return float(diff.pow(2).mean().sqrt())


principles = {"pseudo-likelihood": PseudoLikelihood(), "ratio matching": RatioMatching(),
              "minimum probability flow": MinimumProbabilityFlow(), "exact maximum likelihood": ExactLikelihood()}
fitted = {}
print(f"{'principle':<26} RMS coupling error   seconds")
for name, objective in principles.items():
    model = BoltzmannMachine(N, dtype=DTYPE, weight_scale=0.0)
    t0 = time.perf_counter()
    train(model, objective, x, optimizer="lbfgs", lr=1.0, epochs=lbfgs_epochs, batch_size=n_samples, generator=generator, progress=False)
    fitted[name] = model
    print(f"{name:<26} {coupling_error(model):18.4f} {time.perf_counter() - t0:9.2f}")

# %% [markdown]
# ## A2. Estimated against true couplings
#
# Points on the diagonal are perfect. The scatter around it is the sampling error of
# `n_samples` draws: every consistent principle shares it, which is why their errors are so close
# to exact maximum likelihood's.

# %%
fig, axes = plt.subplots(1, len(fitted), figsize=(4 * len(fitted), 4), constrained_layout=True)
true_j = truth.effective_coupling().detach()[iu[0], iu[1]]  # (45,)
for ax, (name, model) in zip(axes, fitted.items()):
    ax.scatter(true_j, model.effective_coupling().detach()[iu[0], iu[1]], s=10)
    ax.plot([-1.5, 1.5], [-1.5, 1.5], color="gray", lw=1)
    ax.set(title=f"{name}\nRMS error {coupling_error(model):.3f}", xlabel="true J_ij", ylabel="fitted J_ij")
plt.show()

# %% [markdown]
# ## B1. Annealing for log Z: AIS against enumeration
#
# AIS moves from a factorised Bernoulli base `p_0` (known `Z_0`) to the model along
# `E_β = (1 − β) E_0 + β E` with a Gibbs sweep at every β (Neal 2001, arXiv:physics/9803008).
# With the model's exact samples, reverse AIS adds a stochastic **upper** bound (Grosse, Ghahramani
# & Adams 2015, arXiv:1511.02543), so the pair brackets the truth. The fitted model is small enough
# to check. Both bounds hold *in expectation*: with few temperatures a single run can land on
# either side, and the gap between the two estimates is the honest error bar.

# %%
model = fitted["pseudo-likelihood"]
exact_log_z = float(model.log_partition().detach())
exact_draws = model.exact_sample(200, generator=generator)  # (200, 10): reverse AIS starts here
for n_betas in ((10, 30) if QUICK else (10, 30, 100)):
    est = ais_log_partition(model, data=x, n_betas=n_betas, n_chains=200, reverse_from=exact_draws, generator=generator)
    print(f"{n_betas:5d} temperatures: forward {float(est.log_z):8.4f}   reverse {float(est.log_z_upper):8.4f}   exact {exact_log_z:8.4f}")

# %% [markdown]
# ## B2. Annealing for sampling: a score model with two far-apart modes
#
# The data: weights 0.8 / 0.2 on two Gaussians 8 units apart. A noise-conditional energy
# `E_θ(x, σ)` is trained by multi-level denoising score matching over σ from 6 down to 0.1.
# The score `−∇E` carries **no** information about the relative mass of two separated modes, and
# a local Langevin chain cannot cross the gap, so plain Langevin at the smallest σ keeps whatever
# split its start had. Annealed Langevin starts at σ = 6, where the smoothed density has one mode,
# and lowers σ step by step: the mass settles in proportion to the weights.

# %%
target = unbalanced_modes(weight=0.8, separation=8.0, std=0.5)  # modes at (−4, 0) and (4, 0)
data = target.sample(2000 if QUICK else 4000, generator=generator)  # (n, 2)
sigmas = geometric_sigmas(6.0, 0.1, 10)
score_model = NoiseConditionalEnergy(2, hidden=128, depth=2, default_sigma=float(sigmas[-1]), generator=generator)
train(score_model, MultiLevelDenoisingScoreMatching(sigmas), data, epochs=dsm_epochs, batch_size=256, lr=2e-3,
      generator=generator, progress=False)

start = torch.rand(n_chains, 2, generator=generator) * 16 - 8  # (n_chains, 2) uniform on [−8, 8]²
step = 5e-4  # ULA step at the smallest σ: ε/σ_L² = 0.05
plain = ULA(step).run(score_model.at(float(sigmas[-1])), start, 1000, generator=generator).x.detach()  # 1000 steps
annealed = AnnealedLangevin(sigmas.tolist(), step).run(score_model, start, 100, generator=generator).x.detach()  # 10 × 100


def left(points):
    return float((points[:, 0] < 0).float().mean())


print(f"weight of the left mode: truth 0.800, plain Langevin {left(plain):.3f}, annealed Langevin {left(annealed):.3f}")
bounds = ((-8, 8), (-6, 6))
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
plot.landscape(target, bounds, ax=axes[0], kind="density", title="true density (0.8 / 0.2)")
for ax, pts, name in ((axes[1], plain, "plain Langevin"), (axes[2], annealed, "annealed Langevin")):
    plot.landscape(score_model.at(float(sigmas[-1])), bounds, ax=ax, title=f"{name}: left weight {left(pts):.2f}")
    plot.samples(pts, ax=ax, size=2)
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. In A1, use 500 samples instead of 5,000 (`n_samples`). By how much does every principle's
#    coupling error grow? Is the ratio close to √10, as sampling error predicts?
# 2. Add `ContrastiveDivergence(k=1)` to A1 with `optimizer="adam", lr=0.02, epochs=15,
#    batch_size=250` (as in example 07). Where does CD-1 land against the consistent principles?
# 3. Make the couplings stronger (`* 1.5` instead of `* 0.5`). Which principle degrades first, and
#    how many AIS temperatures does B1 now need to bracket `log Z` within 0.01?
# 4. In B2, start every chain on the right (`start[:, 0] = start[:, 0].abs()`). What weight does
#    plain Langevin report? And annealed Langevin?
# 5. In B2, anneal over only the last 4 noise levels (`sigmas[-4:]`). Is σ = 0.65 large enough to
#    connect the modes?
