"""Two theory results on self-supervised learning, checked numerically.

(a) Garrido, Chen, Bardes, Najman & LeCun (2022), arXiv:2206.02574: a sample-contrastive criterion
‖ZZᵀ - I_N‖² (Gram matrix of the N samples) and a dimension-contrastive one ‖ZᵀZ - I_d‖² (the
d×d covariance, VICReg-like) differ by the constant d - N, because ‖ZZᵀ‖_F = ‖ZᵀZ‖_F. With the
diagonals removed (the forms in the paper) they differ by Σ_i ‖z_i‖⁴ - Σ_j ‖Z_{:,j}‖⁴, which vanishes
once rows and columns are normalised. So the two families train to the same embeddings; we train
both on the digits and compare.
(b) Balestriero & LeCun (2022), arXiv:2205.11508: VICReg on positive pairs given by a graph G solves
Laplacian eigenmaps: min tr(Zᵀ L Z) under a covariance constraint. We train free embeddings Z of a
noisy-ring kNN graph with ebm's VICReg on its edges and measure the principal angles between
span(Z) and the bottom non-trivial generalised eigenvectors of L v = λ D v.

Run:  `python3 examples/17_ssl_theory.py [--quick] [--out out/ssl_theory.png]`
"""

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.linalg import eigh, subspace_angles
from torch import nn

from ebm.augment import DigitAugment
from ebm.data import load_digits
from ebm.evaluate import knn_accuracy, linear_probe_accuracy
from ebm.objectives import VICReg

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--out", default="out/ssl_theory.png")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)


def sample_contrastive(z):  # ‖Z Zᵀ - I_N‖², Z scaled by 1/√N
    zs = z / math.sqrt(z.shape[0])
    return (zs @ zs.T - torch.eye(z.shape[0], dtype=z.dtype)).pow(2).sum()


def dimension_contrastive(z):  # ‖Zᵀ Z - I_d‖²
    zs = z / math.sqrt(z.shape[0])
    return (zs.T @ zs - torch.eye(z.shape[1], dtype=z.dtype)).pow(2).sum()


def off_diag_sq(m):
    return (m - torch.diag(torch.diag(m))).pow(2).sum()


# ---- (a) the algebra, on a random Z -------------------------------------------------------
z = torch.randn(64, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
gap = dimension_contrastive(z) - sample_contrastive(z)
print(f"(a) L_dim - L_sample = {gap.item():.12f}   (d - N = {8 - 64})")
zr = z.clone().requires_grad_(True)
g1 = torch.autograd.grad(sample_contrastive(zr), zr)[0]
g2 = torch.autograd.grad(dimension_contrastive(zr), zr)[0]
print(f"    max |∇L_sample - ∇L_dim| = {(g1 - g2).abs().max().item():.2e}")
lhs = off_diag_sq(z.T @ z) - off_diag_sq(z @ z.T)
rhs = z.pow(2).sum(1).pow(2).sum() - z.pow(2).sum(0).pow(2).sum()
print(f"    off-diagonal forms: L_nc - L_c = {lhs.item():.6f},  Σ‖z_i‖⁴ - Σ‖Z_:,j‖⁴ = {rhs.item():.6f}")

# ---- (a) training with each criterion (+ the same invariance term) ------------------------
x_train, y_train = load_digits("train")
x_test, y_test = load_digits("test")
aug, steps = DigitAugment(), (60 if args.quick else 400)


def train_with(criterion):
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 16))
    opt = torch.optim.Adam(f.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        xb = x_train[torch.randint(0, len(x_train), (256,), generator=g)]
        z_a, z_b = f(aug(xb, g)), f(aug(xb, g))
        z_a, z_b = z_a - z_a.mean(0), z_b - z_b.mean(0)
        loss = (z_a - z_b).pow(2).sum(1).mean() + criterion(z_a) + criterion(z_b)  # invariance + criterion
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return f(x_train), f(x_test)


quality = {}
for name, crit in (("sample-contrastive", sample_contrastive), ("dimension-contrastive", dimension_contrastive)):
    ztr, zte = train_with(crit)
    quality[name] = (linear_probe_accuracy(ztr, y_train, zte, y_test), knn_accuracy(ztr, y_train, zte, y_test), zte)
    print(f"    {name:22s} linear probe {quality[name][0]:.3f}  5-NN {quality[name][1]:.3f}")
za, zb = quality["sample-contrastive"][2], quality["dimension-contrastive"][2]
print(f"    max |Z_sample - Z_dim| on the test digits = {(za - zb).abs().max().item():.2e} (float32 rounding, amplified by training)")

# ---- (b) VICReg on a graph recovers Laplacian eigenmaps -----------------------------------
from sklearn.neighbors import kneighbors_graph

n, d, rng = 100, 2, np.random.default_rng(0)
theta = rng.uniform(0, 2 * np.pi, n)
pts = np.c_[np.cos(theta), np.sin(theta)] + 0.03 * rng.normal(size=(n, 2))  # a noisy ring
adj = kneighbors_graph(pts, 8, include_self=False).toarray()
adj = np.maximum(adj, adj.T)  # symmetric kNN graph
deg = adj.sum(1)
evals, evecs = eigh(np.diag(deg) - adj, np.diag(deg))  # L v = λ D v, ascending
target = evecs[:, 1 : d + 1]  # skip the constant eigenvector
src, dst = (torch.as_tensor(i) for i in np.nonzero(adj))  # both directions of every edge: the positive pairs
emb = nn.Parameter(torch.randn(n, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64))  # free embeddings
n_steps = 600 if args.quick else 1200
opt, vicreg = torch.optim.Adam([emb], lr=0.05), VICReg()
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
angles = []
for step in range(n_steps + 1):
    if step % 25 == 0:  # degree-weighted centring: the eigenmaps are D-orthogonal to the constant
        zc = emb.detach().numpy() - (deg[:, None] * emb.detach().numpy()).sum(0) / deg.sum()
        angles.append((step, np.degrees(subspace_angles(zc, target)).max()))
    loss = vicreg(emb[src], emb[dst])
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
print(f"(b) λ_2..λ_{d + 2} = {np.round(evals[1 : d + 2], 4)}; largest principal angle between span(Z) and the")
print(f"    eigenmaps v_2, v_3: {angles[0][1]:.1f}° at step 0 -> {angles[-1][1]:.3f}° at step {angles[-1][0]}")

fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
labels = list(quality)
ax[0].bar([0, 1], [quality[k][0] for k in labels], color=["C0", "C1"])
ax[0].set_xticks([0, 1], ["‖ZZᵀ−I‖² (samples)", "‖ZᵀZ−I‖² (dims)"])
ax[0].set_ylim(0.5, 1)
ax[0].set_title("(a) linear probe, same invariance term")
ax[1].scatter(*emb.detach().numpy().T, c=theta, s=10, cmap="hsv")
ax[1].set_title("(b) VICReg embedding Z of the ring graph")
ax[2].plot(*zip(*angles))
ax[2].set_yscale("log")
ax[2].set(xlabel="step", ylabel="largest principal angle (deg)", title="(b) span(Z) → Laplacian eigenmaps")
fig.tight_layout()
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out, dpi=110)
print("wrote", args.out)
