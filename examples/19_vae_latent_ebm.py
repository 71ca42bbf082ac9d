"""A VAE with a latent EBM prior, and the divergence triangle, on a 2-D toy set and on 8x8 digits.

* `LatentEBMVAE` + `VAELatentEBMLoss`: a VAE whose prior is p(z) ∝ exp(-f(z)) N(0, I); the ELBO's
  prior gradient is E_q[∇f] - E_prior[∇f], with prior samples by short-run Langevin in z
  (Pang et al. 2020, arXiv:2006.08205; Kingma & Welling 2014).
* `DivergenceTriangle` (Han et al. 2019, arXiv:1812.10907): a generator, an EBM on x and an encoder
  trained jointly by KL(Q‖P) + KL(P‖Π) - KL(Q‖Π); the generator is the EBM's sampler, no MCMC.

The held-out log-likelihood of the VAEs is bounded with the importance-weighted bound L_k minus
log Z of the latent prior (grid quadrature in 2-D, AIS in 8-D): ebm.evaluate.vae_bounds.

Run:  python examples/19_vae_latent_ebm.py [--quick]      (figures in out/examples/)
Time: --quick took 2.7 min wall (13 s of CPU) on the shared 2-core development CPU (load ~16);
the full run trains for 250 updates (2-D) and 60 epochs (digits), several minutes there.
"""

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits, make_toy
from ebm.demos.vae_triangle import fit_2d_divergence_triangle, fit_2d_vae, fit_2d_vae_latent_ebm
from ebm.energies import LatentEBMVAE
from ebm.evaluate.vae_bounds import held_out_bounds, latent_prior_log_partition
from ebm.grid import grid_log_partition
from ebm.objectives import VAELatentEBMLoss
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="fewer updates (a smoke test)")
parser.add_argument("--out", default="out/examples")
args = parser.parse_args()
torch.manual_seed(0)
torch.set_num_threads(1)  # small networks: extra threads only add synchronisation on a small CPU
g = torch.Generator().manual_seed(0)
out = Path(args.out)

# ---------------------------------------------------------------- 1. 8 Gaussians, standardised
x = make_toy("8gaussians", 2048, generator=g)
mean, std = x.mean(0), x.std(0)
x, x_test = (x - mean) / std, (make_toy("8gaussians", 2048, generator=g) - mean) / std  # (2048, 2) each
steps = 20 if args.quick else 250
box = ((-3.0, 3.0), (-3.0, 3.0))
fitted = {}
for name, fit in (("VAE, Gaussian prior", fit_2d_vae), ("VAE, latent EBM prior", fit_2d_vae_latent_ebm), ("divergence triangle", fit_2d_divergence_triangle)):
    t0 = time.perf_counter()
    result = fit(x, steps=steps, generator=g, **({"return_objective": True} if fit is fit_2d_divergence_triangle else {}))
    seconds = time.perf_counter() - t0
    energy = result[0] if isinstance(result, tuple) else result
    with torch.no_grad():
        ll = float(-energy(x_test).mean() - grid_log_partition(energy, ((-4, 4), (-4, 4)), 200))
    fitted[name] = (result, seconds, ll)
    print(f"{name}: {steps} updates in {seconds:.1f} s; held-out log-likelihood (grid quadrature) {ll:.3f}")

fig, axes = plt.subplots(2, 4, figsize=(17, 8.4), constrained_layout=True)
plot.data_density(x, box, ax=axes[0, 0], title="data (8 Gaussians, standardised)")
for ax, (name, (result, seconds, ll)) in zip(axes[0, 1:], fitted.items()):
    energy = result[0] if isinstance(result, tuple) else result
    plot.landscape(energy, box, ax=ax, kind="density", resolution=120, colorbar=False, contours=0,
                   title=f"{name}: exp(-E)\nLL {ll:.2f}, {seconds:.1f} s")
vae, ebm_vae = fitted["VAE, Gaussian prior"][0], fitted["VAE, latent EBM prior"][0]
energy, triangle = fitted["divergence triangle"][0]
for ax, samples, title in ((axes[1, 0], vae.sample(2000, noise=True, generator=g), "VAE samples, z ~ N(0, I)"),
                           (axes[1, 1], ebm_vae.sample(2000, noise=True, generator=g), "VAE + latent EBM: samples"),
                           (axes[1, 3], triangle.sample(2000, generator=g), "triangle: generator samples")):
    plot.samples(samples, ax=ax, size=2, color="tab:red")
    ax.set(xlim=box[0], ylim=box[1], title=title)
zbox = ((-3.0, 3.0), (-3.0, 3.0))
plot.landscape(ebm_vae.prior_energy, zbox, ax=axes[1, 2], title="f(z) + ½‖z‖²; encoded data (white)", colorbar=False)
with torch.no_grad():
    plot.samples(ebm_vae.infer(x[:500]), ax=axes[1, 2], size=2, color="white")
axes[1, 2].set(xlim=zbox[0], ylim=zbox[1], xlabel="z₁", ylabel="z₂")
fig.suptitle(f"VAE vs VAE + latent EBM prior vs divergence triangle on 8 Gaussians, {steps} updates of batch 256 each (2-core CPU)")
print("wrote", plot.save(fig, out / "vae_latent_ebm_toy.png"))

# ---------------------------------------------------------------- 2. 8x8 digits: held-out bounds, sample grids
digits, _ = load_digits("train")  # (1347, 64)
digits_test, _ = load_digits("test")  # (450, 64)
epochs = 3 if args.quick else 60
models = {}
for prior in ("gaussian", "ebm"):
    model = LatentEBMVAE(64, latent_dim=8, hidden=128, prior_hidden=64, prior=prior, sigma=0.2, prior_steps=60, prior_step_size=0.1,
                         generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    train(model, VAELatentEBMLoss(), digits, epochs=epochs, batch_size=100, optimizer=torch.optim.Adam(model.parameter_groups(5e-3, 1e-3)),
          max_grad_norm=10.0, generator=g, progress=False)
    seconds = time.perf_counter() - t0
    log_z = latent_prior_log_partition(model, method="ais", n_chains=100, n_betas=300 if args.quick else 1000, generator=g)
    b = held_out_bounds(model, digits_test, k=50 if args.quick else 500, log_z=log_z["log_z"], generator=g)
    models[prior] = model
    print(f"digits, {prior} prior: {epochs} epochs in {seconds:.0f} s; held-out ELBO {b['elbo']:.2f}, L_k {b['iwae']:.2f} nats "
          f"(log Z of the prior {log_z['log_z']:.3f}, AIS)")

fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), constrained_layout=True)
plot.image_grid(digits_test[:36], image_shape=(8, 8), ncols=6, ax=axes[0], title="held-out digits", normalize="none")
plot.image_grid(models["gaussian"].sample(36, generator=g).clamp(0, 1), image_shape=(8, 8), ncols=6, ax=axes[1], title="VAE, z ~ N(0, I)", normalize="none")
plot.image_grid(models["ebm"].sample(36, generator=g).clamp(0, 1), image_shape=(8, 8), ncols=6, ax=axes[2], title="VAE + latent EBM, z ~ short-run prior",
                normalize="none")
fig.suptitle(f"8x8 digits, latent dimension 8, {epochs} epochs: samples g(z)")
print("wrote", plot.save(fig, out / "vae_latent_ebm_digits.png"))
