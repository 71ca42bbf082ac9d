"""VAE with a Gaussian prior vs VAE with a latent EBM prior vs the divergence triangle.

Part 1 (2-D): 8gaussians, 2048 training and 2048 held-out points, standardised with the training
set's mean and std; each model trained by its `ebm.demos.vae_triangle` builder for 250 updates of
batch 256 (the first-wave budget); held-out log-likelihood of exp(-E) normalised by midpoint
quadrature on [-4, 4]² (300² cells), and for the VAEs also the importance-weighted bound
L_1000 - log Z_α with log Z_α of the 2-D latent prior by grid quadrature; wall time of the training.

Part 2 (8x8 digits, scikit-learn's 1347 / 450 split, intensities in [0, 1]): the same
`LatentEBMVAE` networks (k = 8, generator and encoder 2 × 128 tanh units, f_α 2 × 64, σ = 0.2)
trained with the Gaussian prior and with the EBM prior, same optimiser, epochs and batches (Adam,
5e-3 → the VAE's networks; 1e-3 → f_α); the divergence triangle with the same generator and
encoder and an `MLPEnergy` (128, 128) on x. Held-out ELBO and L_1000 in nats per image (a
Gaussian density on R^64 with σ = 0.2, so the numbers are continuous log-densities, comparable
between rows only), log Z_α of the 8-D prior by AIS from N(0, I) (200 chains × 2000 temperatures,
MALA), cross-checked by importance sampling from N(0, I) (10^6 draws). Writes the sample grids to
docs/images/vae_latent_ebm_digits.png.

Run:  python3 benchmarks/vae_latent_ebm.py [--epochs 100] [--seeds 3] [--seed 0] [--skip-2d] [--skip-digits]
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ebm import plot  # noqa: E402
from ebm.data import load_digits, make_toy  # noqa: E402
from ebm.demos.vae_triangle import FIT_2D  # noqa: E402
from ebm.energies import LatentEBMVAE, MLPEnergy  # noqa: E402
from ebm.evaluate.vae_bounds import held_out_bounds, latent_prior_log_partition  # noqa: E402
from ebm.grid import grid_log_partition  # noqa: E402
from ebm.objectives import DivergenceTriangle, VAELatentEBMLoss  # noqa: E402
from ebm.train import train  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100, help="digits: passes over the 1347 training images (batches of 100)")
parser.add_argument("--seeds", type=int, default=3, help="2-D: seeds per model")
parser.add_argument("--seed", type=int, default=0, help="digits: seed of the data order and noise (initial weights: seed + 1)")
parser.add_argument("--skip-2d", action="store_true")
parser.add_argument("--skip-digits", action="store_true")
parser.add_argument("--out", default="docs/images/vae_latent_ebm_digits.png")
args = parser.parse_args()
torch.set_num_threads(1)  # small networks: one thread is fastest on the shared 2-core machine

if not args.skip_2d:
    box = ((-4.0, 4.0), (-4.0, 4.0))
    print("| model (8gaussians, standardised, 250 steps) | held-out LL (grid) | L_1000 - log Z_α | wall time (s) | seed |")
    print("|---|---|---|---|---|")
    for seed in range(args.seeds):
        g = torch.Generator().manual_seed(seed)
        x = make_toy("8gaussians", 2048, generator=g)
        mean, std = x.mean(0), x.std(0)
        x, x_test = (x - mean) / std, (make_toy("8gaussians", 2048, generator=g) - mean) / std  # (2048, 2) each
        for name, fit in FIT_2D.items():
            t0 = time.perf_counter()
            energy = fit(x, steps=250, generator=g)
            seconds = time.perf_counter() - t0
            with torch.no_grad():
                ll = float(-energy(x_test).mean() - grid_log_partition(energy, box, 300))
            bound = f"{held_out_bounds(energy, x_test, k=1000, generator=g)['iwae']:.3f}" if isinstance(energy, LatentEBMVAE) else "—"
            print(f"| {name} | {ll:.3f} | {bound} | {seconds:.1f} | {seed} |", flush=True)

if not args.skip_digits:
    g = torch.Generator().manual_seed(args.seed)
    init = args.seed + 1
    x, _ = load_digits("train")  # (1347, 64)
    x_test, _ = load_digits("test")  # (450, 64)
    models, rows = {}, []
    for prior in ("gaussian", "ebm"):
        model = LatentEBMVAE(64, latent_dim=8, hidden=128, prior_hidden=64, prior=prior, sigma=0.2, prior_steps=60, prior_step_size=0.1,
                             generator=torch.Generator().manual_seed(init))
        t0 = time.perf_counter()
        train(model, VAELatentEBMLoss(), x, epochs=args.epochs, batch_size=100, optimizer=torch.optim.Adam(model.parameter_groups(5e-3, 1e-3)),
              max_grad_norm=10.0, generator=g, progress=False)
        seconds = time.perf_counter() - t0
        log_z = latent_prior_log_partition(model, method="ais", n_chains=200, n_betas=2000, generator=g)
        check = latent_prior_log_partition(model, method="importance", n_samples=1_000_000, generator=g)
        b = held_out_bounds(model, x_test, k=1000, log_z=log_z["log_z"], generator=g)
        models[prior] = model
        rows.append((f"VAE, {'Gaussian' if prior == 'gaussian' else 'latent EBM'} prior", b["elbo"], b["iwae"],
                     f"{log_z['log_z']:.3f} ± {log_z['stderr']:.3f} (IS {check['log_z']:.3f} ± {check['stderr']:.3f})", seconds))
    # The divergence triangle: same generator / encoder sizes, an EBM on x; its generator + encoder form a Gaussian-prior VAE.
    energy = MLPEnergy((64,), hidden=(128, 128), quadratic=0.01, generator=torch.Generator().manual_seed(init))
    triangle = DivergenceTriangle(64, latent_dim=8, hidden=128, sigma=0.2, energy_penalty=0.1, generator=torch.Generator().manual_seed(init))
    t0 = time.perf_counter()
    train(energy, triangle, x, epochs=args.epochs, batch_size=100, lr=1e-3, max_grad_norm=10.0, generator=g, progress=False)
    seconds = time.perf_counter() - t0
    as_vae = LatentEBMVAE(64, latent_dim=8, hidden=128, prior="gaussian", sigma=0.2)
    as_vae.generator_net.load_state_dict(triangle.generator_net.state_dict())
    as_vae.encoder.load_state_dict(triangle.encoder.state_dict())
    b = held_out_bounds(as_vae, x_test, k=1000, log_z=0.0, generator=g)
    rows.append(("divergence triangle (its generator + encoder)", b["elbo"], b["iwae"], "0 (Gaussian prior)", seconds))
    print(f"\n| digits, {args.epochs} epochs | held-out ELBO | held-out L_1000 | log Z_α (AIS; IS check) | wall time (s) |")
    print("|---|---|---|---|---|")
    for name, elbo, iwae, lz, seconds in rows:
        print(f"| {name} | {elbo:.2f} | {iwae:.2f} | {lz} | {seconds:.0f} |")

    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4), constrained_layout=True)
    plot.image_grid(x_test[:36], image_shape=(8, 8), ncols=6, ax=axes[0], title="held-out digits", normalize="none")
    for ax, prior, title in ((axes[1], "gaussian", "VAE, z ~ N(0, I)"), (axes[2], "ebm", "VAE + latent EBM, z ~ short-run prior")):
        samples = models[prior].sample(36, generator=g).clamp(0, 1)
        plot.image_grid(samples, image_shape=(8, 8), ncols=6, ax=ax, title=title, normalize="none")
    plot.image_grid(triangle.sample(36, noise=False, generator=g).clamp(0, 1), image_shape=(8, 8), ncols=6, ax=axes[3],
                    title="divergence triangle, generator g(z)", normalize="none")
    fig.suptitle(f"8x8 digits: samples g(z) (means), same networks and budget ({args.epochs} epochs)")
    print("wrote", plot.save(fig, Path(args.out)))
