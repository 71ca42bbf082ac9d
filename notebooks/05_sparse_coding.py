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
# # Lesson 5 — Sparse coding as energy minimisation
#
# Sparse coding explains a signal `x (f,)` as a few atoms of a dictionary `D (k, f)`:
#
#     E(x, z) = ½‖x − z D‖² + α‖z‖₁,      inference:  z* = argmin_z E(x, z).
#
# We solve it with ISTA and FISTA (Daubechies et al. 2004; Beck & Teboulle 2009), certify the
# answer with the duality gap, learn a fast approximate encoder (LISTA, Gregor & LeCun 2010), learn
# a dictionary of digit strokes (Olshausen & Field 1996), and use the result as an energy.
#
# Time: about a minute on a laptop CPU. Companion script: `examples/09_sparse_coding.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits
from ebm.energies import SparseCodingEnergy
from ebm.sparse import LISTA, duality_gap, fista, ista, learn_dictionary, lista_objective_loss, objective
from ebm.train import train

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
g = torch.Generator().manual_seed(0)

# A synthetic problem with a known sparse truth: 128 unit atoms in R^32, ~10% active.
k, f, n = (64, 16, 300) if QUICK else (128, 32, 3000)
D = torch.nn.functional.normalize(torch.randn(k, f, generator=g, dtype=torch.float64), dim=1)  # (k, f)
codes = torch.randn(n, k, generator=g, dtype=torch.float64) * (torch.rand(n, k, generator=g, dtype=torch.float64) < 0.1)
x = codes @ D + 0.01 * torch.randn(n, f, generator=g, dtype=torch.float64)  # (n, f)
alpha = 0.1 * float((x @ D.T).abs().amax(1).median())
train_x, test_x = x[: n * 5 // 6], x[n * 5 // 6 :]

# %% [markdown]
# ## 1. ISTA against FISTA: the objective per iteration
#
# Both take a gradient step on the quadratic and then soft-threshold; FISTA adds momentum.
# `max_iter=t, tol=0` runs exactly t steps.

# %%
best = fista(test_x, D, alpha, tol=1e-10, polish=True)
p_star = objective(test_x, best.codes, D, alpha)  # (n_test,)
print(f"all certified: {bool(best.converged.all())}, max duality gap {float(duality_gap(test_x, best.codes, D, alpha).max()):.1e}")
steps = [1, 2, 4, 8, 16] if QUICK else [1, 2, 4, 8, 16, 32, 64, 128]
for name, solver in (("ISTA", ista), ("FISTA", fista)):
    excess = [float(((objective(test_x, solver(test_x, D, alpha, max_iter=t, tol=0).codes, D, alpha) - p_star) / p_star).mean()) for t in steps]
    plt.loglog(steps, excess, marker="o", label=name)
plt.xlabel("iterations")
plt.ylabel("mean relative excess objective")
plt.legend()
plt.show()

# %% [markdown]
# ## 2. LISTA: eight learned layers
#
# Untrained, LISTA *is* eight ISTA steps; training its matrices and thresholds on the objective
# makes eight layers worth many more iterations.

# %%
net = LISTA(D, alpha, n_layers=8)
train(net, lista_objective_loss, train_x, epochs=2 if QUICK else 10, batch_size=100, lr=2e-3, generator=g, progress=False)
with torch.no_grad():
    for name, z in [("ISTA x8", ista(test_x, D, alpha, max_iter=8, tol=0).codes),
                    ("FISTA x8", fista(test_x, D, alpha, max_iter=8, tol=0).codes),
                    ("LISTA 8 layers", net(test_x))]:
        print(f"{name:15s} mean relative excess {float(((objective(test_x, z, D, alpha) - p_star) / p_star).mean()):.3e}")

# %% [markdown]
# ## 3. A dictionary of digit strokes, and the energy it defines

# %%
digits, _ = load_digits("train")  # (1347, 64)
digits = digits[:300] if QUICK else digits
digits = (digits - digits.mean(1, keepdim=True)).double()
dl = learn_dictionary(digits, 36, 0.1, n_epochs=1 if QUICK else 5, method="online", batch_size=256, generator=g)
plot.image_grid(dl.dictionary.reshape(36, 8, 8), ncols=9, title="36 learned atoms")
plt.show()
energy = SparseCodingEnergy(dl.dictionary, alpha=0.1)
print("free energy F(x) = min_z E(x, z) of 3 digits:", energy(digits[:3]).detach())

# %% [markdown]
# ## Exercises
#
# 1. Double `alpha`. How does the number of non-zero codes per signal change
#    (`(best.codes != 0).sum(1).float().mean()`), and how does FISTA's iteration count change?
# 2. Give LISTA 4 layers instead of 8. How many FISTA iterations is it worth now?
# 3. Learn 64 atoms instead of 36 on the digits. Do the atoms become more stroke-like or more
#    digit-like?
# 4. The sparse-coding energy is lowest at the origin in 2-D with 8 atoms (see the guide). Why does
#    an overcomplete dictionary with an L1 cost make that inevitable?
