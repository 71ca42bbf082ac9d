"""The GAN view (an energy trained against a generator, `ebm.objectives.energy_generator.fit_2d`)
against CD with persistent Langevin chains, on the same data and budget as the principles figure.

8 Gaussians, 4096 points standardised, 2048 for training and 2048 held out; `MLPEnergy` 64-64 SiLU
with the confining term 0.01‖x‖²/2 for both; batches of 256; CD: ULA k = 10, step 0.005, energy
penalty 0.1, Adam 5e-3 (`ebm.demos.principles`); GAN view: one energy update per three generator
updates, penalty 0.02, Adam 1e-2. Held-out log-likelihood with log Z by midpoint quadrature on
[-4, 4]² (300² cells, float64). Prints a markdown table: mean ± standard deviation over seeds.

Run:  python3 benchmarks/gan_view_2d.py [--steps 250 1000] [--seeds 3]
"""

import argparse
import statistics
import time

import torch

from ebm.data import make_toy
from ebm.energies import MLPEnergy
from ebm.grid import grid_log_partition
from ebm.objectives import ContrastiveDivergence
from ebm.objectives.energy_generator import fit_2d
from ebm.train import train
from samplers import ULA

parser = argparse.ArgumentParser()
parser.add_argument("--steps", nargs="+", type=int, default=[250, 1000])
parser.add_argument("--seeds", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(1)
BOX = ((-4.0, 4.0), (-4.0, 4.0))
x = make_toy("8gaussians", 4096, generator=torch.Generator().manual_seed(0))
x = (x - x.mean(0)) / x.std(0)
x_train, x_test = x[:2048], x[2048:]


def fit_cd(x, *, steps, generator):
    seed = int(torch.randint(0, 2**31, (1,), generator=generator))
    energy = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=torch.Generator().manual_seed(seed))
    cd = ContrastiveDivergence(ULA(0.005, grad_clip=10.0), k=10, persistent=True, energy_penalty=0.1)
    train(energy, cd, x, epochs=max(1, round(steps * 256 / len(x))), batch_size=256, lr=5e-3, max_grad_norm=10.0, generator=generator, progress=False)
    return energy


def held_out(energy):
    e = energy.double()
    with torch.no_grad():
        return float((-e(x_test.double()) - grid_log_partition(e, BOX, 300)).mean())


fit_cd(x_train[:256], steps=1, generator=torch.Generator().manual_seed(0))  # warm-up: one-time imports out of the timings
print("| method | updates | held-out log-lik (mean ± sd) | wall time (s, mean) |")
print("|---|---|---|---|")
for steps in args.steps:
    for name, fit in (("CD (persistent Langevin, k = 10)", fit_cd), ("GAN view (energy + generator, 1:3)", fit_2d)):
        lls, times = [], []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            energy = fit(x_train, steps=steps, generator=torch.Generator().manual_seed(100 + seed))
            times.append(time.perf_counter() - t0)
            lls.append(held_out(energy))
        sd = statistics.stdev(lls) if len(lls) > 1 else 0.0
        print(f"| {name} | {steps} | {statistics.mean(lls):.3f} ± {sd:.3f} ({', '.join(f'{v:.2f}' for v in lls)}) | {statistics.mean(times):.1f} |", flush=True)
