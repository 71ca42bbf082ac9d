"""Two readings of "push the energy up somewhere else": a generator that learns the contrastive
samples (the GAN view), and a classifier read as an energy (JEM).

1. 8 Gaussians (standardised), the same MLP energy and budget as the principles figure: CD with
   persistent Langevin chains against an energy trained with a generator G(z) that minimises
   E(G(z)) - H(p_G) (Kim & Bengio 2016, arXiv:1606.03439; entropy by Kozachenko–Leonenko).
   Held-out log-likelihood by grid quadrature, wall time, landscapes and samples.
2. 8×8 digits: JEM (Grathwohl et al. 2020, arXiv:1912.03263: cross-entropy + E(x) - E(x_SGLD),
   SGLD α = 1, σ = 0.01, replay buffer 10,000, 5% restarts, input noise 0.03; 10 SGLD steps instead
   of the paper's 20, and an energy-magnitude penalty 0.1 the paper does not use, without which the
   energies diverged here) against the plain classifier, same MLP and budget: test accuracy, ECE,
   OOD AUROC of -E(x) against noise and pixel-shuffled digits, and SGLD samples.

Run:  `python3 examples/18_gan_view_and_jem.py [--quick] [--out DIR]`   (writes DIR/gan_view.png, DIR/jem_digits.png;
DIR defaults to out/examples; the documentation's figures are `--out docs/images`)
"""

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits, make_toy
from ebm.energies import ClassifierEnergy, MLPEnergy
from ebm.evaluate.calibration import expected_calibration_error, ood_auroc
from ebm.grid import grid_log_partition
from ebm.objectives import JEM, SGLD, ContrastiveDivergence
from ebm.objectives.energy_generator import fit_2d
from ebm.train import train
from samplers import ULA

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a small budget (seconds)")
parser.add_argument("--out", default="out/examples", help="folder for gan_view.png and jem_digits.png")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)  # tiny networks: one CPU thread is fastest on a small, shared CPU
g = torch.Generator().manual_seed(0)
BOX = ((-4.0, 4.0), (-4.0, 4.0))

# ---------------------------------------------------------------- 1. the GAN view on a 2-D toy
steps = 40 if args.quick else 250
x = make_toy("8gaussians", 4096, generator=g)
x = (x - x.mean(0)) / x.std(0)  # standardised, as the principles figure
x_train, x_test = x[:2048], x[2048:]


def held_out(energy):
    e = energy.double()
    with torch.no_grad():
        ll = float((-e(x_test.double()) - grid_log_partition(e, BOX, 300)).mean())
    energy.float()
    return ll


def fit_cd(x, *, steps, generator):
    """The principles figure's CD: persistent ULA chains (k = 10, step 0.005), penalty 0.1, Adam 5e-3."""
    energy = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=torch.Generator().manual_seed(1))
    cd = ContrastiveDivergence(ULA(0.005, grad_clip=10.0), k=10, persistent=True, energy_penalty=0.1)
    train(energy, cd, x, epochs=max(1, round(steps * 256 / len(x))), batch_size=256, lr=5e-3, max_grad_norm=10.0, generator=generator, progress=False)
    return energy, cd.chains


print(f"1. 8 Gaussians (standardised), {len(x_train)} training points, {steps} updates of batch 256")
fits = {}
for name in ("CD (persistent Langevin, k = 10)", "GAN view (energy + generator, 1:3)"):
    t0 = time.perf_counter()
    if name.startswith("CD"):
        energy, samples = fit_cd(x_train, steps=steps, generator=torch.Generator().manual_seed(2))
    else:
        energy, objective = fit_2d(x_train, steps=steps, generator=torch.Generator().manual_seed(2), return_objective=True)
        with torch.no_grad():
            samples = objective.generator_net.rsample(512, generator=g)
    seconds = time.perf_counter() - t0
    fits[name] = (energy, samples, seconds, held_out(energy))
    print(f"  {name:38s} held-out log-lik {fits[name][3]:7.3f}   {seconds:5.1f} s")

if args.out:
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), constrained_layout=True)
    plot.data_density(x_train, BOX, ax=axes[0], resolution=100, title="data (8 Gaussians, standardised)")
    for ax, (name, (energy, samples, seconds, ll)) in zip(axes[1:], fits.items()):
        plot.landscape(energy, BOX, ax=ax, kind="density", resolution=100, colorbar=False, contours=0, title=f"{name}\nheld-out {ll:.2f}, {seconds:.1f} s")
        plot.samples(samples[:512], ax=ax, color="tab:red", size=2, label="chains" if name.startswith("CD") else "G(z)")
        ax.legend(loc="lower right", fontsize=7)
    plot.save(fig, Path(args.out) / "gan_view.png")

# ------------------------------------------------------------------------ 2. JEM on 8×8 digits
epochs = 3 if args.quick else 60
x_tr, y_tr = load_digits("train")
x_te, y_te = load_digits("test")
noise = torch.rand(450, 64, generator=g)  # OOD: uniform noise
shuffled = x_te[:, torch.randperm(64, generator=g)]  # OOD: digits with their pixels permuted
print(f"\n2. digits: {len(x_tr)} training / {len(x_te)} test images, MLP 64-128-128-10, {epochs} epochs of batch 64, Adam 1e-3")
models = {}
for name, objective in (("plain classifier", JEM(generative_weight=0)),
                        ("JEM", JEM(n_steps=10, energy_penalty=0.1, data_noise=0.03))):
    model = ClassifierEnergy(64, 10, hidden=(128, 128), generator=torch.Generator().manual_seed(5))
    t0 = time.perf_counter()
    train(model, objective, (x_tr, y_tr), epochs=epochs, batch_size=64, lr=1e-3, generator=torch.Generator().manual_seed(6), progress=False)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        logits = model.logits(x_te)
        acc = float((logits.argmax(1) == y_te).float().mean())
        ece = float(expected_calibration_error(logits, y_te))
        aurocs = [float(ood_auroc(-model(x_te), -model(o))) for o in (noise, shuffled)]
    models[name] = (model, objective)
    print(f"  {name:17s} accuracy {acc:.4f}  ECE {ece:.4f}  AUROC noise {aurocs[0]:.3f}  shuffled {aurocs[1]:.3f}  {seconds:6.1f} s")

if args.out:
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.3), constrained_layout=True)
    plot.image_grid(x_te[:64], ax=axes[0], normalize="none", title="test digits")
    plot.image_grid(models["JEM"][1].replay.chains[:64], ax=axes[1], normalize="none", title="JEM: replay-buffer samples")
    for ax, name in zip(axes[2:], ("JEM", "plain classifier")):  # fresh chains from noise, 200 SGLD steps (α = 1, σ = 0.01)
        x0 = torch.rand(64, 64, generator=torch.Generator().manual_seed(7))
        sgld = SGLD(1.0, 0.01, clamp=(0.0, 1.0))
        plot.image_grid(sgld.run(models[name][0], x0, 200, generator=torch.Generator().manual_seed(8)).x, ax=ax, normalize="none",
                        title=f"{name}: 200 SGLD steps from noise")
    plot.save(fig, Path(args.out) / "jem_digits.png")
