"""Conjugate EBMs and CLEL on standardised 8 Gaussians at the first-wave budget (250 updates of batch 256).

For each seed: the conjugate EBM (`ebm.demos.conjugate.fit_2d`), CLEL at β = 1, 5, 10
(`ebm.demos.clel.fit_2d`) and the first-wave reference, an MLP energy trained by Langevin PCD with
the settings of `ebm.demos.principles`. Held-out log-likelihood of 4000 fresh points with log Z by
midpoint quadrature on [-4, 4]² (300² cells, float64); wall time of the training call (a warm-up
fit keeps one-time imports out of it). For CLEL also the fraction of latent-guided samples (MALA,
400 steps of 0.01 on E(x, z_c) from uniform starts, 60 chains per mode, z_c the mean encoder
latent of mode c) that end in the guiding mode's angular sector (chance: 1/8). For the conjugate
EBM, how many mixture components of the bias take the posterior responsibility of some data point.

Run:  `OMP_NUM_THREADS=1 python3 benchmarks/conjugate_clel_2d.py [--seeds 3]`
"""

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

import samplers
from ebm.data import make_toy
from ebm.demos import clel, conjugate
from ebm.demos.principles import principles
from ebm.energies import MLPEnergy
from ebm.grid import grid_log_partition
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--seeds", type=int, default=3)
parser.add_argument("--steps", type=int, default=250)
args = parser.parse_args()
torch.set_num_threads(1)
BOX = ((-4.0, 4.0), (-4.0, 4.0))


def mode_of(points):  # which of the 8 modes' angular sectors (in the raw coordinates), (n,)
    return torch.round(torch.atan2(points[:, 1], points[:, 0]) / (math.pi / 4)).long() % 8


def fit_cd_mlp(x, *, steps, generator):
    model = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator))))
    batches = lambda g: x[torch.randint(x.shape[0], (256,), generator=g)]  # noqa: E731
    train(model, principles(x)["CD (Langevin PCD)"], batches, epochs=1, steps_per_epoch=steps, lr=5e-3, max_grad_norm=10.0, generator=generator, progress=False)
    return model


rows: dict[str, list[tuple]] = {}
for seed in range(args.seeds):
    g = torch.Generator().manual_seed(seed)
    raw, raw_test = make_toy("8gaussians", 2048, generator=g), make_toy("8gaussians", 4000, generator=g)
    mu, sd = raw.mean(0), raw.std(0)
    x, x_test = (raw - mu) / sd, (raw_test - mu) / sd
    labels = mode_of(raw)

    def held_out(model):
        e = model.double()
        with torch.no_grad():
            return float((-e(x_test.double()) - grid_log_partition(e, BOX, 300)).mean())

    conjugate.fit_2d(x[:64], steps=2, generator=torch.Generator().manual_seed(99))  # warm-up
    methods = {
        "conjugate EBM (GMM bias)": lambda gen: conjugate.fit_2d(x, steps=args.steps, generator=gen),
        "CLEL, β = 1": lambda gen: clel.fit_2d(x, steps=args.steps, generator=gen, beta=1.0, return_objective=True),
        "CLEL, β = 5": lambda gen: clel.fit_2d(x, steps=args.steps, generator=gen, beta=5.0, return_objective=True),
        "CLEL, β = 10": lambda gen: clel.fit_2d(x, steps=args.steps, generator=gen, beta=10.0, return_objective=True),
        "MLP energy, Langevin PCD (first wave)": lambda gen: fit_cd_mlp(x, steps=args.steps, generator=gen),
    }
    for name, fit in methods.items():
        t0 = time.perf_counter()
        out = fit(torch.Generator().manual_seed(1000 + seed))
        seconds = time.perf_counter() - t0
        model, objective = out if isinstance(out, tuple) else (out, None)
        extra = float("nan")
        if objective is not None:
            with torch.no_grad():
                emb = F.normalize(objective.encoder(x), dim=-1)
                z_c = F.normalize(torch.stack([emb[labels == c].mean(0) for c in range(8)]), dim=-1)  # (8, p)
            gen = torch.Generator().manual_seed(7)
            x0 = torch.rand(480, 2, generator=gen) * 8 - 4
            s = samplers.MALA(0.01).run(model.conditional_energy(z_c.repeat_interleave(60, 0)), x0, 400, generator=gen).x
            extra = float((mode_of(s * sd + mu) == torch.arange(8).repeat_interleave(60)).float().mean())
        elif hasattr(model, "posterior"):
            with torch.no_grad():
                extra = float(model.posterior(x)[0].argmax(-1).unique().numel())
        rows.setdefault(name, []).append((held_out(model), seconds, extra))
        print(f"seed {seed} {name:40s} LL {rows[name][-1][0]:7.3f}  wall {seconds:5.1f} s  extra {extra:.3g}", flush=True)

print(f"\n| method (standardised 8 Gaussians, {args.steps} updates of batch 256) | held-out log-lik (mean ± sd over {args.seeds} seeds) | wall time (s, median) | guided in mode (CLEL) / components used (conjugate) |")
print("|---|---|---|---|")
for name, values in rows.items():
    lls, secs, extras = zip(*values)
    spread = statistics.stdev(lls) if len(lls) > 1 else 0.0
    extra = "" if all(math.isnan(e) for e in extras) else f"{statistics.mean(extras):.2f}" if "CLEL" in name else ", ".join(f"{e:.0f}" for e in extras)
    print(f"| {name} | {statistics.mean(lls):.3f} ± {spread:.3f} | {statistics.median(secs):.1f} | {extra} |")
