"""Latent-space EBM prior (Pang et al. 2020, arXiv:2006.08205) on a 2-D toy set and on 8x8 digits.

A generator x = g(z) + σε with an energy-based prior p(z) ∝ exp(-f(z)) N(0, I). Training draws
prior and posterior latents by short-run Langevin (ULA from `samplers`) in the low-dimensional
latent space and follows the maximum-likelihood gradient (ebm.objectives.LatentPriorLoss).

Run:  python examples/12_latent_ebm_prior.py [--quick]      (figures in out/examples/)
Time on the 2-core development CPU (shared): about 2 minutes (--quick: under a minute).
"""

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits, make_toy
from ebm.energies import LatentEBMPrior

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke test)")
parser.add_argument("--out", default="out/examples")
args = parser.parse_args()
torch.manual_seed(0)
torch.set_num_threads(1)  # tiny networks: extra threads only add synchronisation on a small CPU
g = torch.Generator().manual_seed(0)
out = Path(args.out)


def mmd2(a, b, bandwidth=0.5):
    """Biased Gaussian-kernel MMD² between samples a (n, d) and b (m, d)."""
    k = lambda u, v: torch.exp(-torch.cdist(u, v).pow(2) / (2 * bandwidth**2))  # noqa: E731
    return float(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())


# ---------------------------------------------------------------- 1. a 2-D toy set
x = make_toy("8gaussians", 2000, generator=g)
scale = x.std()
x = x / scale  # unit scale, so σ = 0.15 is a small observation noise
ref = make_toy("8gaussians", 1000, generator=g) / scale  # fresh data for the MMD
model = LatentEBMPrior(2, latent_dim=2, hidden=64, prior_hidden=64, sigma=0.15, prior_steps=40, posterior_steps=20, generator=g)
before = model.sample(1000, generator=g)
t0 = time.perf_counter()
history = model.fit(x, epochs=4 if args.quick else 25, batch_size=100, lr=2e-3, generator=g, progress=False)
after = model.sample(1000, generator=g)
print(f"toy: trained in {time.perf_counter() - t0:.0f} s; MMD² to data {mmd2(before, ref):.3f} (init) -> {mmd2(after, ref):.3f}")

fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), constrained_layout=True)
bounds = ((-2.5, 2.5), (-2.5, 2.5))
plot.data_density(x, bounds, ax=axes[0], title="data (8 Gaussians)")
plot.samples(before, ax=axes[1], color="tab:gray", size=2)
axes[1].set(xlim=bounds[0], ylim=bounds[1], title="samples g(z) before training")
plot.samples(after, ax=axes[2], color="tab:red", size=2)
axes[2].set(xlim=bounds[0], ylim=bounds[1], title="samples g(z), z ~ short-run prior")
for ax in axes[:3]:
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
plot.landscape(model.prior_energy, ((-3, 3), (-3, 3)), ax=axes[3], title="learned prior energy f(z) + ½‖z‖²", log_scale=True)
axes[3].set_xlabel("z₁")
axes[3].set_ylabel("z₂")
fig.suptitle("Latent-space EBM prior on a 2-D toy set: samples before and after training, and the learned prior energy in z (right)")
print("wrote", plot.save(fig, out / "latent_prior_toy.png"))

# ---------------------------------------------------------------- 2. 8x8 digits
digits, _ = load_digits("train")  # (1347, 64) in [0, 1]
net = LatentEBMPrior(64, latent_dim=8, hidden=128, prior_hidden=64, sigma=0.2, prior_steps=40, posterior_steps=20, posterior_step_size=0.005, generator=g)
t0 = time.perf_counter()
history = net.fit(digits, epochs=3 if args.quick else 30, batch_size=100, lr=1e-3, generator=g, progress=False)
print(f"digits: trained in {time.perf_counter() - t0:.0f} s; final loss {history.epoch_losses[-1]:.3f}")
with torch.no_grad():
    z_post = net.sample_posterior_latents(digits[:16], generator=g)
    recon = net.decode(z_post).clamp(0, 1)
samples = net.sample(32, generator=g).clamp(0, 1)

fig, axes = plt.subplots(1, 4, figsize=(18, 4.6), constrained_layout=True)
plot.image_grid(digits[:16], image_shape=(8, 8), ncols=4, ax=axes[0], title="data", normalize="none")
plot.image_grid(recon, image_shape=(8, 8), ncols=4, ax=axes[1], title="g(z), z ~ short-run posterior", normalize="none")
plot.image_grid(samples, image_shape=(8, 8), ncols=8, ax=axes[2], title="samples g(z), z ~ short-run EBM prior", normalize="none")
plot.training_curves(history, ax=axes[3], title="training loss")
fig.suptitle("Latent-space EBM prior on 8x8 digits (latent dimension 8)")
print("wrote", plot.save(fig, out / "latent_prior_digits.png"))
