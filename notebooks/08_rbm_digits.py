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
# # Lesson 8 — RBMs on digits: CD against PCD, and estimating log Z
#
# A Bernoulli RBM over 64 binary pixels `v` and `n_h` binary hidden units `h` has the energy
#
# `E(v, h) = −bᵀv − cᵀh − vᵀWh`, and summing out `h` gives the free energy
# `F(v) = −bᵀv − Σ_j softplus(c_j + (vᵀW)_j)`, with `p(v) = exp(−F(v)) / Z`.
#
# With 16 hidden units `Z = Σ_h exp(−F_h(h))` is a sum over 2¹⁶ hidden states, so the test
# log-likelihood is **exact**. We use that to compare CD-1 (Hinton 2002) with persistent CD
# (Tieleman 2008), and to check annealed importance sampling (AIS; Salakhutdinov & Murray 2008)
# against the exact answer before trusting it on a 64-hidden-unit RBM, where nothing can be enumerated.
#
# Time: about a minute on a laptop CPU. Companion script: `examples/04_rbm_digits.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits
from ebm.energies import BernoulliRBM
from ebm.evaluate import ais_log_partition, exact_log_likelihood
from ebm.objectives import ContrastiveDivergence, rbm_block_gibbs
from ebm.train import linear_lr_decay, train

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
epochs, n_betas, gibbs_steps = (3, 500, 100) if QUICK else (25, 5000, 2000)
generator = torch.Generator().manual_seed(0)  # the lesson's one seed
torch.set_num_threads(1)  # tiny networks: extra threads only add synchronisation on a small CPU

x, _ = load_digits("train", binarize=True)  # (1347, 64) pixels in {0, 1}
x_test, _ = load_digits("test", binarize=True)  # (450, 64)
plot.image_grid(x[:32], image_shape=(8, 8), ncols=16, normalize="none")
plt.show()

# %% [markdown]
# ## 1. CD-1 and PCD-1, scored exactly
#
# The log-likelihood gradient is `−E_data[∂F/∂θ] + E_model[∂F/∂θ]`. CD-1 estimates the model term
# with one block-Gibbs sweep started **at the data batch**; PCD keeps 256 chains running across
# updates, so they can wander away from the data and find the spurious modes CD never visits.
# Both start from the same weights, and the visible biases start at the pixel log-odds
# (Hinton 2012, "A Practical Guide to Training RBMs").

# %%
def fresh_rbm(n_hidden):
    rbm = BernoulliRBM(64, n_hidden, weight_scale=0.01, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        p = x.mean(0).clamp(0.01, 0.99)  # (64,)
        rbm.visible_bias.copy_(torch.log(p / (1 - p)))
    return rbm


def fit(rbm, objective):
    train(rbm, objective, x, epochs=epochs, batch_size=64, lr=0.01, generator=generator,
          callbacks=[linear_lr_decay(epochs)], progress=False)
    return rbm


models = {
    "CD-1": fit(fresh_rbm(16), ContrastiveDivergence(k=1)),
    "PCD-1": fit(fresh_rbm(16), ContrastiveDivergence(k=1, persistent=True, n_chains=256)),
}
for name, rbm in models.items():
    print(f"{name:6s} 16 hidden: exact test log-likelihood {float(exact_log_likelihood(rbm, x_test)):8.2f} nats"
          f"   (train {float(exact_log_likelihood(rbm, x)):8.2f})")

# %% [markdown]
# ## 2. What the models have learned: filters and long-chain samples
#
# Each column of `W` is a filter over the 8×8 image. A model is judged by what its **own** Markov
# chain produces after many sweeps from noise — the distribution `exp(−F)/Z` itself, not the
# one-step reconstructions CD trains on. We show the mean of `p(v | h)` at the end of the chains.

# %%
fig, axes = plt.subplots(2, 2, figsize=(10, 10), constrained_layout=True)
v0 = torch.bernoulli(torch.full((36, 64), 0.5), generator=generator)  # (36, 64) noise starts
for row, (name, rbm) in enumerate(models.items()):
    plot.image_grid(rbm.weight.detach().T, image_shape=(8, 8), ax=axes[row, 0], cmap="RdBu_r", title=f"{name}: filters")
    with torch.no_grad():
        state = {"h": torch.zeros(36, 16), "v": v0}
        v = rbm_block_gibbs(rbm).run(None, state, gibbs_steps, generator=generator).x[1]  # (36, 64)
        plot.image_grid(rbm.prob_v(rbm.prob_h(v)), image_shape=(8, 8), ax=axes[row, 1], normalize="none",
                        title=f"{name}: after {gibbs_steps} Gibbs sweeps from noise")
plt.show()

# %% [markdown]
# ## 3. AIS, checked where the answer is known
#
# AIS anneals from a base-rate model `p_0` (independent pixels with the data's marginals, so
# `log Z_0` is closed-form) to the RBM through the intermediate distributions
# `p_β ∝ p_0^{1−β} p*^β`, accumulating importance weights
# `w = Σ_k [log p*_{β_k}(v_k) − log p*_{β_{k−1}}(v_k)]`. `log Ẑ = log Z_0 + log mean(eʷ)` is a
# stochastic **lower** bound: by Jensen its expectation is at most `log Z`.

# %%
rbm16 = models["PCD-1"]
exact = float(rbm16.log_partition().detach())
for k in (n_betas // 10, n_betas):
    est = ais_log_partition(rbm16, n_chains=100, n_betas=k, data=x, generator=generator)
    print(f"{k:6d} temperatures: log Ẑ = {float(est.log_z):8.3f} ± {float(est.std_error):.3f}"
          f"   exact log Z = {exact:8.3f}   weights' ESS {float(est.ess):5.1f} / 100")

# %% [markdown]
# ## 4. A 64-hidden-unit RBM: AIS is all we have
#
# With 64 hidden units neither layer is small enough to enumerate (2⁶⁴ states), so the held-out
# log-likelihood `−mean F(v) − log Ẑ` needs AIS. Because `log Ẑ` tends to be low, this estimate
# tends to be optimistic: report it with its standard error.

# %%
rbm64 = fit(fresh_rbm(64), ContrastiveDivergence(k=1, persistent=True, n_chains=256))
est = ais_log_partition(rbm64, n_chains=100, n_betas=n_betas, data=x, generator=generator)
with torch.no_grad():
    ll64 = float(-rbm64(x_test).double().mean() - est.log_z)
print(f"PCD-1 64 hidden: AIS test log-likelihood {ll64:8.2f} ± {float(est.std_error):.2f} nats")
plot.image_grid(rbm64.weight.detach().T, image_shape=(8, 8), cmap="RdBu_r", title="64 hidden: filters")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Train CD-10 (`ContrastiveDivergence(k=10)`) next to CD-1 and PCD-1 in section 1. Does the exact
#    test log-likelihood move toward PCD's? Look at its long-chain samples in section 2 too.
# 2. In section 3, use only 50 temperatures. How far below the exact `log Z` does `log Ẑ` fall, and
#    does its standard error warn you? What happens to the weights' ESS?
# 3. Run AIS with `data=None` (a uniform base, every pixel ½). How many more temperatures does it
#    need to get within 0.1 nats of the exact answer? Why does the data-based base help?
# 4. Double the learning rate to 0.02 for PCD. Watch the exact log-likelihood and the samples: when
#    does the persistent chain stop tracking the model?
# 5. Compare the 16- and 64-hidden test log-likelihoods. Is the larger model better on held-out
#    digits, and by more than AIS's standard error?
