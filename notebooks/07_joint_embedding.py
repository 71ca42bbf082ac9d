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
# # Lesson 7 — Joint-embedding energies and collapse
#
# Self-supervised joint-embedding methods are energy-based models of *pairs*:
#
#     E(x, y) = D(f(x), f(y)),   here D = 1 − cos,
#
# low for two views of the same image and high for different images. Contrastive losses
# (InfoNCE; Chen et al. 2020, arXiv:2002.05709) push the energy of other pairs up; regularised
# losses (VICReg; Bardes, Ponce & LeCun 2022, arXiv:2105.04906) instead keep the embeddings from
# collapsing to one point. We train both on 8×8 digits, and switch VICReg's regularisers off to
# watch the collapse happen.
#
# Time: about a minute on a laptop CPU. Companion script: `examples/13_joint_embedding.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch
from torch import nn

from ebm.augment import DigitAugment
from ebm.data import load_digits
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import knn_accuracy, linear_probe_accuracy, rank_me
from ebm.objectives import InfoNCE, VICReg
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train

QUICK = os.environ.get("EBM_NOTEBOOK_QUICK") == "1"  # the test suite runs every lesson small
epochs = 1 if QUICK else 15
torch.manual_seed(0)  # the lesson's one seed (network initialisation)
generator = torch.Generator().manual_seed(0)
x_train, y_train = load_digits("train")  # (1347, 64) in [0, 1]
x_test, y_test = load_digits("test")  # (450, 64)
augment = DigitAugment(shift=1, rotation=15, noise=0.05, mask_prob=0.5)


def encoder():
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 8))  # 64 pixels -> 8 dims


# %% [markdown]
# ## 1. Train three encoders
#
# RankMe (Garrido et al. 2022, arXiv:2210.02885) is the effective rank of the embeddings: 8 at
# most here, 1 for a collapsed encoder. The linear probe and 5-NN accuracies ask whether the
# digits' classes can be read from the embedding (labels are never used in training).

# %%
runs = {
    "InfoNCE (τ = 0.2)": (InfoNCE(0.2), None),
    "VICReg (25, 25, 1)": (VICReg(), nn.Sequential(nn.Linear(8, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256))),
    "VICReg, μ = ν = 0 (collapse)": (VICReg(variance_weight=0.0, covariance_weight=0.0), None),
}
energies = {}
for name, (loss, head) in runs.items():
    f = encoder()
    energy = JointEmbeddingEnergy(f, distance="cosine", event_shape=(64,))
    train(energy, TwoViewObjective(loss, augment, head=head), x_train, epochs=epochs, batch_size=256, lr=2e-3,
          generator=generator, progress=False)
    f.eval()
    with torch.no_grad():
        z_train, z_test = f(x_train), f(x_test)
    print(f"{name:30s} linear probe {linear_probe_accuracy(z_train, y_train, z_test, y_test):.3f}   "
          f"5-NN {knn_accuracy(z_train, y_train, z_test, y_test):.3f}   RankMe {rank_me(z_test):.2f}")
    energies[name] = energy

# %% [markdown]
# ## 2. The pairwise energy matrix
#
# Rows are first views, columns second views of the same 30 test digits (sorted by class). A good
# energy is low on the diagonal (same image) and, ideally, in blocks of the same class.

# %%
order = y_test[:30].argsort()
views = augment.two_views(x_test[:30][order], generator)  # two (30, 64) batches
fig, axes = plt.subplots(1, len(energies), figsize=(5 * len(energies), 4.4), constrained_layout=True)
for ax, (name, energy) in zip(axes, energies.items()):
    with torch.no_grad():
        e = energy.pairwise(*views)  # (30, 30)
    image = ax.imshow(e, cmap="viridis", vmin=0, vmax=2)
    ax.set_title(name, fontsize=9)
fig.colorbar(image, ax=axes, label="E = 1 − cos")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Change InfoNCE's temperature τ from 0.2 to 1.0 and to 0.05. How do RankMe and the probe
#    accuracy move?
# 2. Train VICReg without its expander head (`head=None`). What happens to RankMe?
# 3. In the collapsed run, what do the rows of the energy matrix look like, and why does a low
#    energy on the diagonal prove nothing on its own?
# 4. Turn the augmentation off (`DigitAugment(shift=0, rotation=0, noise=0, mask_prob=0)`). What
#    does the encoder learn now?
