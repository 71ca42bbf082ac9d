"""Normalising flows as exact-density energies, flow contrastive estimation against NCE, and
concept composition (AND / OR / NOT) sampled with MALA, all on 2-D toys.

1. RealNVP and a neural spline flow fitted to 8 Gaussians by maximum likelihood (log Z = 0 exactly).
2. The same MLP energy trained by NCE with a fixed Gaussian noise and by flow contrastive estimation
   (Gao et al. 2020, arXiv:1912.00589), same data, optimiser and number of steps; held-out
   log-likelihood by grid quadrature of each energy's log Z.
3. Concept energies composed: AND (sum), OR (log-sum-exp), NOT (base - α concept); MALA samples.

Run:  `python3 examples/14_flows_and_composition.py [--quick] [--plot out.png]`
"""

import argparse
import time

import torch

import samplers
from ebm.data import make_toy
from ebm.energies import Gaussian, MLPEnergy, NeuralSplineFlow, RealNVP, Ring
from ebm.grid import grid_log_partition
from ebm.objectives import ExactLikelihood, FlowContrastiveEstimation, NoiseContrastiveEstimation
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a smaller budget (about a quarter of the steps)")
parser.add_argument("--plot", default=None, help="save a figure of the composed concepts here")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)  # tiny networks: one CPU thread is fastest on a small, shared CPU
g = torch.Generator().manual_seed(0)
BOX = ((-5.0, 5.0), (-5.0, 5.0))
epochs = 15 if args.quick else 60
x_train, x_test = make_toy("8gaussians", 4000, generator=g), make_toy("8gaussians", 4000, generator=g)  # (4000, 2) each


def held_out(energy):
    """Mean test log-likelihood -E(x) - log Z, log Z by midpoint quadrature on the box (float64)."""
    e = energy.double()
    log_z = grid_log_partition(e, BOX, 300)
    with torch.no_grad():
        ll = float((-e(x_test.double()) - log_z).mean())
    energy.float()
    return ll


# 1. Flows by maximum likelihood: ExactLikelihood is mean E(x) + log Z, and log Z = 0 for a flow.
print(f"8 Gaussians, {x_train.shape[0]} training points, {epochs} epochs of batch 256, Adam")
for flow in (RealNVP(2, n_layers=6, hidden=64, generator=g), NeuralSplineFlow(2, n_layers=4, n_bins=8, bound=5.0, hidden=64, generator=g)):
    t0 = time.perf_counter()
    train(flow, ExactLikelihood(), x_train, epochs=epochs, batch_size=256, lr=3e-3, generator=g, progress=False)
    with torch.no_grad():
        exact = float(flow.log_prob(x_test).mean())
    print(f"  {type(flow).__name__:18s} held-out log-lik {exact:7.3f} (exact)  {held_out(flow):7.3f} (grid check)  {time.perf_counter() - t0:5.1f} s")

# 2. NCE with a fixed Gaussian noise vs FCE with a jointly trained flow: same energy family, same steps.
results = {}
mean, cov = x_train.mean(0), torch.cov(x_train.T)  # the Gaussian noise matches the data's first two moments
for name in ("NCE, Gaussian noise", "FCE, RealNVP noise"):
    energy = MLPEnergy((2,), hidden=(64, 64), quadratic=0.1, generator=torch.Generator().manual_seed(1))
    if name.startswith("NCE"):
        objective = NoiseContrastiveEstimation(torch.distributions.MultivariateNormal(mean, cov), noise_ratio=1.0)
    else:
        flow = RealNVP(2, n_layers=6, hidden=64, generator=torch.Generator().manual_seed(2))
        objective = FlowContrastiveEstimation(flow, noise_ratio=1.0, accuracy_threshold=0.6)  # flow's turn once the energy wins
    t0 = time.perf_counter()
    train(energy, objective, x_train, epochs=epochs, batch_size=256, lr=3e-3, generator=torch.Generator().manual_seed(3), progress=False)
    results[name] = (held_out(energy), time.perf_counter() - t0)
    print(f"  {name:22s} held-out log-lik {results[name][0]:7.3f} (grid quadrature)  {results[name][1]:5.1f} s")
print(f"  Gaussian fitted to the data: {float(torch.distributions.MultivariateNormal(mean, cov).log_prob(x_test).mean()):7.3f}")

# 3. Concepts: a ring, and a blob on the right. AND = both, OR = either, NOT = ring but not the right.
# The blob's energy is unbounded, so NOT tilts the whole ring leftwards: keep alpha small (Du et al. 2020).
ring, right = Ring(radius=2.0, width=0.3), Gaussian(torch.tensor([2.0, 0.0]), 0.5 * torch.eye(2))
compositions = {"ring AND right": ring + right, "ring OR right": ring | right, "ring NOT right": ring.but_not(right, alpha=0.2)}
sampler = samplers.MALA(0.05, warmup_steps=300, adapt_step_size=True)
x0 = 3 * torch.rand(512, 2, generator=g) - 1.5  # (512, 2) spread over the middle
samples = {}
for name, energy in compositions.items():
    x = sampler.run(energy, x0, 300 if args.quick else 1000, generator=g).x  # (512, 2)
    samples[name] = x
    right_side = float((x[:, 0] > 1.0).float().mean())
    print(f"  {name:16s} mean radius {float(x.norm(dim=1).mean()):.2f}, fraction with x > 1: {right_side:.2f}")
if args.plot:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, (name, x) in zip(axes, samples.items()):
        ax.scatter(x[:, 0], x[:, 1], s=3)
        ax.set(title=name, xlim=(-3, 3), ylim=(-3, 3), aspect="equal")
    fig.savefig(args.plot, dpi=100)
