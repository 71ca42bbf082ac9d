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
# # Lesson 3 — A restricted Boltzmann machine, scored exactly
#
# Bars-and-stripes on a 3×3 grid has 14 distinct patterns, so the best any model can do is a mean
# log-likelihood of `−log 14 ≈ −2.639` nats. With 9 visible units the RBM's `log Z` can be
# enumerated, so we can score every training method by its **exact** likelihood: CD-1 and CD-10
# (Hinton 2002), persistent CD (Tieleman 2008) and the exact maximum-likelihood gradient.
#
# Time: about a minute on a laptop CPU. Companion script: `examples/03_rbm_bars_and_stripes.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import bars_and_stripes
from ebm.energies import BernoulliRBM
from ebm.evaluate import empirical_entropy, exact_log_likelihood
from ebm.objectives import ContrastiveDivergence, ExactLikelihood
from ebm.train import linear_lr_decay, train

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
epochs = 10 if QUICK else 200
torch.manual_seed(0)  # the lesson's one seed

x = bars_and_stripes(3)  # (14, 9): each pattern once
best = -float(empirical_entropy(x))
plot.image_grid(x.reshape(14, 3, 3), ncols=7)  # (14, 3, 3): the data set
plt.show()

# %% [markdown]
# ## 1. Four ways to follow the likelihood gradient
#
# The gradient of the log-likelihood is `−E_data[∂E/∂θ] + E_model[∂E/∂θ]`. CD-k estimates the
# second term from k Gibbs sweeps started at the data, PCD from chains that persist across
# updates, and `ExactLikelihood` enumerates it.

# %%
methods = {
    "CD-1": (ContrastiveDivergence(k=1), 0.05),
    "CD-10": (ContrastiveDivergence(k=10), 0.05),
    "PCD-1 (200 chains)": (ContrastiveDivergence(k=1, persistent=True, n_chains=200), 0.02),
    "exact ML": (ExactLikelihood(), 0.05),
}
models = {}
fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
for name, (objective, lr) in methods.items():
    g = torch.Generator().manual_seed(int(torch.randint(2**31, (1,))))
    rbm = BernoulliRBM(9, 16, weight_scale=0.1, generator=g)
    history = train(rbm, objective, x.repeat(8, 1), epochs=epochs, batch_size=28, lr=lr, generator=g,
                    callbacks=[linear_lr_decay(epochs)], metrics={"ll": lambda m: float(exact_log_likelihood(m, x))},
                    metric_every=max(1, epochs // 20), progress=False)
    epochs_seen, ll = zip(*history.metrics["ll"])
    ax.plot(epochs_seen, ll, marker="o", markersize=3, label=f"{name}: {ll[-1]:.3f}")
    models[name] = rbm
ax.axhline(best, color="k", linestyle="--", label=f"optimum −log 14 = {best:.3f}")
ax.set_xlabel("epoch")
ax.set_ylabel("exact mean log-likelihood (nats)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 2. What did the model learn? Probabilities of all 512 patterns
#
# `−F(v) − log Z` is the exact log-probability of every visible pattern `v` (`F` is the free
# energy). A perfect model puts 1/14 on each of the 14 patterns and nothing elsewhere.

# %%
all_v = torch.tensor([[(i >> b) & 1 for b in range(9)] for i in range(512)], dtype=torch.float32)  # (512, 9)
rbm = models["exact ML"]
with torch.no_grad():
    p = torch.exp(-rbm(all_v) - rbm.log_partition())  # (512,)
top = p.argsort(descending=True)[:14]
print(f"mass on the 14 most likely patterns: {float(p[top].sum()):.3f}")
plot.image_grid(all_v[top].reshape(14, 3, 3), ncols=7)
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Give CD-1 ten times more epochs. Does it reach the exact-ML curve? CD-k's gradient is biased
#    (Carreira-Perpiñán & Hinton 2005): which direction does its final likelihood move?
# 2. Shrink the hidden layer to 4 units. What is the best exact likelihood now, and which
#    patterns does the model merge?
# 3. PCD with 20 chains instead of 200: what happens to the curve's noise?
# 4. Estimate `log Z` of the trained RBM with `ebm.evaluate.ais_log_partition` and compare it with
#    `rbm.log_partition()`. How many temperatures does AIS need for 0.01 nats?
