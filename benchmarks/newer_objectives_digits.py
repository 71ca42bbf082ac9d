"""The newer training principles on 8×8 digits: samples, MMD² to held-out digits, wall time.

Issue #18 asks that each new principle be shown, where its paper does, on 8×8 digits. Four
principles train on scikit-learn's digits (`ebm.data.load_digits`, 1,347 training / 450 held-out)
with one fixed, small budget each (Adam, batch 128, gradient norm clipped at 10):

* diffusion recovery likelihood (Gao et al. 2021, arXiv:2012.08125): a `NoiseConditionalEnergy`,
  six levels, 30 Langevin steps per recovery; samples by its reverse chain from N(0, I);
* energy discrepancy (Schröder et al. 2023, arXiv:2307.06431): an `MLPEnergy` (σ = 0.3, M = 16);
  samples by 500 steps of unadjusted Langevin started from the Gaussian reference below;
* flow matching (Lipman et al. 2023, arXiv:2210.02747): a `VelocityFlowEnergy`; samples by its
  ODE, and its exact held-out negative log-likelihood from the ODE (instantaneous change of
  variables, exact divergence, RK4);
* energy matching (Balcerak et al. 2025, arXiv:2504.10612): an `MLPEnergy` potential; samples by
  the paper's chain (noise-started Langevin on -∇V with the ε(t) temperature ramp).

Data: pixel values k/16 (k = 0 … 16) are dequantised, y = (k + u)/17 with u ~ U(0, 1) drawn once
(seeded), so y lies in [0, 1]⁶⁴ and has a density; the models see z = (y - m)/s with one global
mean m and standard deviation s of the training y (not per pixel: the border pixels are nearly
constant). Score: the unbiased MMD² (`ebm.evaluate.mmd`, RBF kernel) on the y scale between 500
samples and the 450 held-out digits, with ONE bandwidth for every row -- the median heuristic of
the pooled 500 training + 450 held-out digits -- so the rows are comparable. Floor: 500 training
digits; reference: 500 draws of a Gaussian with the training mean and covariance. Wall time is the
training only; sampling time is a separate column.

Run:  python benchmarks/newer_objectives_digits.py [--quick] [--figure docs/images/newer_objectives_digits.png]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from ebm.data import load_digits
from ebm.energies import MLPEnergy, NoiseConditionalEnergy, VelocityFlowEnergy
from ebm.evaluate import mmd
from ebm.objectives import DiffusionRecoveryLikelihood, EnergyDiscrepancy, EnergyMatching, FlowMatching
from ebm.train import train
from samplers import ULA

BATCH, LR, CLIP, N_SAMPLES = 128, 1e-3, 10.0, 500
DRL_SIGMAS = [0.2, 0.3, 0.4, 0.55, 0.7, 0.85]


def digits(generator: torch.Generator):
    """Dequantised digits ``(y_train (1347, 64), y_test (450, 64))`` in [0, 1], and the global ``(m, s)``."""
    x_train, _ = load_digits("train")
    x_test, _ = load_digits("test")
    y_train = (16 * x_train + torch.rand(x_train.shape, generator=generator)) / 17  # (1347, 64)
    y_test = (16 * x_test + torch.rand(x_test.shape, generator=generator)) / 17  # (450, 64)
    return y_train, y_test, float(y_train.mean()), float(y_train.std())


def _train(model, objective, z, steps, generator):
    epochs = max(1, round(steps * BATCH / z.shape[0]))
    t0 = time.perf_counter()
    train(model, objective, z, epochs=epochs, batch_size=BATCH, lr=LR, max_grad_norm=CLIP, generator=generator, progress=False)
    return time.perf_counter() - t0, epochs * math.ceil(z.shape[0] / BATCH)


def run_drl(z, steps, quick, g):
    model = NoiseConditionalEnergy(64, hidden=256, depth=2, generator=torch.Generator().manual_seed(1))
    drl = DiffusionRecoveryLikelihood(DRL_SIGMAS, langevin_steps=5 if quick else 30, step_ratio=0.3)
    seconds, updates = _train(model, drl, z, steps, g)
    t0 = time.perf_counter()
    samples = drl.sample(model, N_SAMPLES, generator=g)  # (500, 64)
    return samples, seconds, updates, time.perf_counter() - t0, {}


def run_ed(z, steps, quick, g, gaussian):
    model = MLPEnergy((64,), hidden=(256, 256), quadratic=0.01, generator=torch.Generator().manual_seed(1))
    seconds, updates = _train(model, EnergyDiscrepancy(0.3, n_negatives=16), z, steps, g)
    t0 = time.perf_counter()
    start = gaussian(N_SAMPLES)  # (500, 64): the Gaussian reference
    samples = ULA(1e-3, grad_clip=100.0).run(model, start, 50 if quick else 500, generator=g).x.detach()
    return samples, seconds, updates, time.perf_counter() - t0, {}


def run_fm(z, z_test, steps, quick, g, log_s):
    flow = VelocityFlowEnergy(64, hidden=256, depth=3, n_steps=4 if quick else 20, generator=torch.Generator().manual_seed(1))
    seconds, updates = _train(flow, FlowMatching(), z, steps, g)
    t0 = time.perf_counter()
    samples = flow.sample(N_SAMPLES, generator=g)  # (500, 64)
    sample_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = z_test[:50] if quick else z_test
    with torch.no_grad():
        nll_z = flow(test)  # (n,): -log p(z), exact up to the RK4 error
    # On the y = m + s z scale: -log p(y) = -log p(z) + 64 log s; per dimension, in nats.
    nll_y = float(nll_z.mean()) / 64 + log_s
    return samples, seconds, updates, sample_s, {"nll": nll_y, "nll_n": test.shape[0], "nll_s": time.perf_counter() - t0}


def run_em(z, steps, quick, g):
    model = MLPEnergy((64,), hidden=(256, 256), generator=torch.Generator().manual_seed(1))
    em = EnergyMatching(langevin_steps=20 if quick else 100, langevin_dt=0.01, warmup_steps=int(0.6 * steps))
    seconds, updates = _train(model, em, z, steps, g)
    sampler = EnergyMatching(langevin_steps=20 if quick else 200, langevin_dt=0.01, noise_fraction=1.0, epsilon_max=em.epsilon_max)
    t0 = time.perf_counter()
    samples = sampler.negatives(model, z[:N_SAMPLES], generator=g)  # (500, 64): every chain from noise (its x1 argument only sets the shape)
    return samples, seconds, updates, time.perf_counter() - t0, {}


def gaussian_nll(y_train, y_test) -> float:
    """Held-out -log p(y) per dimension (nats) under the training mean and covariance."""
    mu, cov = y_train.double().mean(0), torch.cov(y_train.double().T)
    dist = torch.distributions.MultivariateNormal(mu, covariance_matrix=cov)
    return float(-dist.log_prob(y_test.double()).mean()) / 64


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="optimiser updates per method (default 10,000 for FM (cheap: no ODE in training), 3,000 for the others)")
    parser.add_argument("--methods", nargs="*", default=["DRL", "ED", "FM", "EM"])
    parser.add_argument("--figure", default="docs/images/newer_objectives_digits.png")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 updates each, short chains (< 60 s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small networks on a shared 2-core machine
    g = torch.Generator().manual_seed(0)
    y_train, y_test, m, s = digits(g)
    z, z_test = (y_train - m) / s, (y_test - m) / s  # (1347, 64), (450, 64): the models' scale

    def to_y(samples):
        return samples.detach().float() * s + m  # (n, 64)

    mu, cov = z.double().mean(0), torch.cov(z.double().T)
    chol = torch.linalg.cholesky(cov)

    def gaussian(n):
        return (mu + torch.randn(n, 64, generator=g, dtype=torch.float64) @ chol.T).float()  # (n, 64)

    idx = torch.randperm(y_train.shape[0], generator=g)[:N_SAMPLES]
    h = float(mmd(y_train[idx], y_test).bandwidth)  # the median heuristic of the pooled real digits
    rows = {"training digits (floor)": (y_train[idx], None), "Gaussian, data mean/cov (reference)": (to_y(gaussian(N_SAMPLES)), None)}
    print(f"digits: y = (k + u)/17 in [0, 1]^64, models on z = (y - {m:.3f})/{s:.3f}; MMD² bandwidth {h:.3f} (median heuristic of the real digits)")
    print(f"Gaussian (data mean/cov) held-out NLL {gaussian_nll(y_train, y_test):.3f} nats/dim on y")
    steps = {k: 20 for k in args.methods} if args.quick else {k: args.steps or (10000 if k == "FM" else 3000) for k in args.methods}
    runners = {
        "DRL": ("diffusion recovery likelihood (6 levels)", lambda: run_drl(z, steps["DRL"], args.quick, g)),
        "ED": ("energy discrepancy (σ = 0.3, M = 16)", lambda: run_ed(z, steps["ED"], args.quick, g, gaussian)),
        "FM": ("flow matching (CNF)", lambda: run_fm(z, z_test, steps["FM"], args.quick, g, math.log(s))),
        "EM": ("energy matching", lambda: run_em(z, steps["EM"], args.quick, g)),
    }
    def scores(y):  # MMD² ×10³ at the median-heuristic bandwidth h and at h/3
        return f"{1e3 * float(mmd(y, y_test, bandwidth=h)):.2f} | {1e3 * float(mmd(y, y_test, bandwidth=h / 3)):.2f}"

    print(f"| method | updates | train wall (s) | sampling (s) | MMD² ×10³, h = {h:.2f} | MMD² ×10³, h/3 | note |")
    print("|---|---|---|---|---|---|---|")
    for key in ("training digits (floor)", "Gaussian, data mean/cov (reference)"):
        print(f"| {key} | – | – | – | {scores(rows[key][0])} | |")
    for key in args.methods:
        name, run = runners[key]
        samples, seconds, updates, sample_s, extra = run()
        y = to_y(samples)
        finite = bool(torch.isfinite(y).all())
        score = scores(y) if finite else "nan | nan"
        note = f"held-out NLL {extra['nll']:.3f} nats/dim on y ({extra['nll_n']} digits, {extra['nll_s']:.0f} s)" if "nll" in extra else ""
        note += "" if finite else " non-finite samples"
        rows[name] = (y, seconds)
        print(f"| {name} | {updates} | {seconds:.1f} | {sample_s:.1f} | {score} | {note} |", flush=True)
    if args.figure:
        _figure(rows, Path(args.figure))


def _figure(rows, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ebm import plot

    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 0.75 * len(rows) + 0.3), squeeze=False, constrained_layout=True)
    for ax, (name, (y, seconds)) in zip(axes[:, 0], rows.items()):
        tiles = y[:16].clamp(0, 1)  # (16, 64): clamped to the pixel range for display only
        plot.image_grid(tiles, ncols=16, ax=ax, normalize="none")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(name + ("" if seconds is None else f"  ({seconds:.0f} s training)"), fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot.save(fig, path, dpi=80)
    from PIL import Image  # matplotlib's own dependency: a 64-colour palette keeps the PNG small

    Image.open(path).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
