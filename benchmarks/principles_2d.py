"""Every training principle side by side on the 2-D toys: held-out log-likelihood and wall time.

The same data and budget as the first-wave principles figure (`ebm.demos.principles`): 2048 points
of a toy, standardised; 250 optimiser updates of batch 256 (31 epochs), Adam lr 5e-3, gradient
norm clipped at 10. Methods of the kind ``objective`` train the shared model -- `MLPEnergy`, hidden
(64, 64), confining term 0.01‖x‖²/2, the same initial weights for all -- through `ebm.train`;
methods of the kind ``fit`` bring their own model and call ``fit(x, steps=, generator=) -> Energy``
(a noise-conditional energy for multi-level DRL, a continuous flow for flow matching, and the
fit_2d functions of other modules). Either way the result is an `Energy` whose ``exp(-E)`` is the
model's density; the score is the mean log-likelihood of 4000 fresh points (standardised with the
training statistics), with log Z by midpoint quadrature on [-5, 5]² (200² cells, float64). Wall time
is the training only. The learned densities go to docs/images/principles_2d.png.

Adding a method is one line in METHODS:
    "GAN view": fitted(fit_2d),                         # fit_2d(x, *, steps, generator) -> Energy
    "My objective": objective(lambda x: MyObjective()),  # trains the shared MLPEnergy

Run:  python benchmarks/principles_2d.py [--steps 250] [--toys 8gaussians pinwheel 2spirals] [--quick]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ebm.data import make_toy
from ebm.demos import clel as clel_demo
from ebm.demos import conjugate as conjugate_demo
from ebm.demos import vae_triangle
from ebm.demos.principles import principles
from ebm.energies import MLPEnergy, NoiseConditionalEnergy, RealNVP, VelocityFlowEnergy
from ebm.grid import grid_log_partition
from ebm.objectives import energy_generator
from ebm.objectives import DenoisingScoreMatching, DiffusionRecoveryLikelihood, EnergyDiscrepancy, EnergyMatching, FlowContrastiveEstimation, FlowMatching
from ebm.train import train

BOX = ((-5.0, 5.0), (-5.0, 5.0))
PLOT_BOUNDS = ((-4.0, 4.0), (-4.0, 4.0))
BATCH, LR, CLIP, N_TRAIN, N_TEST = 256, 5e-3, 10.0, 2048, 4000


@dataclass
class Method:
    """``kind="objective"``: ``build(x) -> objective`` for the shared MLP, ``density(objective, model) -> Energy``
    (default: the model itself); ``kind="fit"``: ``build(x, *, steps, generator) -> Energy``."""

    kind: str
    build: Callable
    density: Callable | None = None


def objective(build, density=None) -> Method:
    return Method("objective", build, density)


def fitted(fit) -> Method:
    return Method("fit", fit)


def _epochs(steps: int, n: int) -> int:
    return max(1, round(steps * BATCH / n))


def fit_drl_levels(x, *, steps, generator):
    """Multi-level DRL (4 levels, σ_t = 0.2 … 0.8, 30 Langevin steps) on a NoiseConditionalEnergy; returns the level-0 energy."""
    model = NoiseConditionalEnergy(2, hidden=64, depth=2, generator=torch.Generator().manual_seed(0))
    drl = DiffusionRecoveryLikelihood([0.2, 0.4, 0.6, 0.8], langevin_steps=30, step_ratio=0.3)
    train(model, drl, x, epochs=_epochs(steps, x.shape[0]), batch_size=BATCH, lr=LR, max_grad_norm=CLIP, generator=generator, progress=False)
    return drl.data_energy(model)


def fit_flow_matching(x, *, steps, generator):
    """Conditional flow matching of a VelocityFlowEnergy (hidden 64, depth 2); its energy is the ODE's -log p (20 RK4 steps)."""
    flow = VelocityFlowEnergy(2, hidden=64, depth=2, n_steps=20, generator=torch.Generator().manual_seed(0))
    train(flow, FlowMatching(), x, epochs=_epochs(steps, x.shape[0]), batch_size=BATCH, lr=LR, max_grad_norm=CLIP, generator=generator, progress=False)
    return flow


def _first_wave(name):
    return objective(lambda x: principles(x, langevin_steps=10)[name])


METHODS: dict[str, Method] = {
    # first wave (ebm.demos.principles, exactly as in its figure)
    "CD (Langevin PCD)": _first_wave("CD (Langevin PCD)"),
    "NCE (ν = 4)": _first_wave("NCE (ν = 4)"),
    "exact SM": _first_wave("exact SM"),
    "DSM (σ = 0.15)": _first_wave("DSM (σ = 0.15)"),
    "SSM-VR (1 proj.)": _first_wave("SSM-VR (1 proj.)"),
    # second wave
    "FCE (RealNVP noise)": objective(lambda x: FlowContrastiveEstimation(RealNVP(2, n_layers=4, hidden=32, generator=torch.Generator().manual_seed(2)),
                                                                          noise_ratio=1.0, accuracy_threshold=0.6)),
    "ED (σ = 0.5, M = 16)": objective(lambda x: EnergyDiscrepancy(0.5, n_negatives=16)),
    "DRL (1 level, σ = 0.5)": objective(lambda x: DiffusionRecoveryLikelihood([0.5], langevin_steps=30)),
    "DRL (4 levels)": fitted(fit_drl_levels),
    "flow matching (CNF)": fitted(fit_flow_matching),
    "energy matching": objective(lambda x: EnergyMatching(langevin_steps=50, warmup_steps=150), density=lambda obj, model: obj.boltzmann(model)),
    # models that bring their own networks (their modules' fit_2d)
    "GAN view (energy + generator)": fitted(energy_generator.fit_2d),
    "VAE + latent EBM prior": fitted(vae_triangle.fit_2d_vae_latent_ebm),
    "divergence triangle": fitted(vae_triangle.fit_2d_divergence_triangle),
    "conjugate EBM": fitted(conjugate_demo.fit_2d),
    "CLEL (β = 1)": fitted(clel_demo.fit_2d),
}


def run_method(method: Method, x: torch.Tensor, steps: int, seed: int):
    """Train one method on ``x (n, 2)``; returns ``(energy, wall seconds)``."""
    generator = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    if method.kind == "fit":
        energy = method.build(x, steps=steps, generator=generator)
        return energy, time.perf_counter() - t0
    model = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=torch.Generator().manual_seed(seed))
    obj = method.build(x)
    t0 = time.perf_counter()
    train(model, obj, x, epochs=_epochs(steps, x.shape[0]), batch_size=BATCH, lr=LR, max_grad_norm=CLIP, generator=generator, progress=False)
    seconds = time.perf_counter() - t0
    return (method.density(obj, model) if method.density else model), seconds


def held_out_log_likelihood(energy, x_test: torch.Tensor) -> tuple[float, float]:
    """``(mean log p(x_test), log Z)`` with log Z by quadrature on BOX in float64."""
    e = energy.double()
    with torch.no_grad():
        log_z = grid_log_partition(e, BOX, 200)
        return float((-e(x_test.double())).mean() - log_z), float(log_z)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--toys", nargs="+", default=["8gaussians"])
    parser.add_argument("--methods", nargs="*", default=None, help="a subset of METHODS (default: all)")
    parser.add_argument("--figure", default="docs/images/principles_2d.png")
    parser.add_argument("--quick", action="store_true", help="10 steps, 256 points, 2 methods: a smoke run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny networks: one thread is fastest on the shared 2-core machine
    names = args.methods or list(METHODS)
    steps, n_train = (10, 256) if args.quick else (args.steps, N_TRAIN)
    if args.quick and not args.methods:
        names = names[:1] + ["ED (σ = 0.5, M = 16)"]
    # Warm-up: one-time imports and allocations stay out of the first method's time.
    train(MLPEnergy((2,), hidden=(8,)), DenoisingScoreMatching(0.1), torch.randn(8, 2), epochs=1, batch_size=8, progress=False)
    results = {}
    print(f"| toy | principle | held-out log-lik | log Z (grid) | wall time (s) |  ({steps} steps of batch {BATCH})")
    print("|---|---|---|---|---|")
    for toy in args.toys:
        g = torch.Generator().manual_seed(0)
        raw, raw_test = make_toy(toy, n_train, generator=g), make_toy(toy, N_TEST, generator=g)
        mu, sd = raw.mean(0), raw.std(0)
        x, x_test = (raw - mu) / sd, (raw_test - mu) / sd  # (n, 2): standardised by the training statistics
        for name in names:
            energy, seconds = run_method(METHODS[name], x, steps, seed=1)
            ll, log_z = held_out_log_likelihood(energy, x_test)
            results[(toy, name)] = (energy, seconds, ll)
            print(f"| {toy} | {name} | {ll:.3f} | {log_z:.2f} | {seconds:.1f} |", flush=True)
    if args.figure:
        _figure(results, args.toys, names, steps, Path(args.figure), resolution=40 if args.quick else 100)


def _figure(results, toys, names, steps, path: Path, resolution: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ebm import plot

    import math

    cols = min(6, len(names))
    per_toy = math.ceil(len(names) / cols)  # rows of panels per toy
    fig, axes = plt.subplots(per_toy * len(toys), cols, figsize=(2.4 * cols, 2.5 * per_toy * len(toys)), squeeze=False, constrained_layout=True)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, toy in enumerate(toys):
        for i, name in enumerate(names):
            energy, seconds, ll = results[(toy, name)]
            ax = axes[r * per_toy + i // cols][i % cols]
            ax.set_axis_on()
            plot.landscape(energy.float(), PLOT_BOUNDS, ax=ax, kind="density", resolution=resolution, colorbar=False, contours=0,
                           title=f"{toy}: {name}\nLL {ll:.2f}, {seconds:.0f} s")
            ax.set_xticks([]), ax.set_yticks([]), ax.set_xlabel(""), ax.set_ylabel("")
            ax.title.set_fontsize(7)
    fig.suptitle(f"Learned densities, {steps} updates of batch 256 each (held-out log-likelihood by grid quadrature; 2-core CPU, shared)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot.save(fig, path, dpi=80)
    from PIL import Image  # matplotlib's own dependency: a 128-colour palette keeps the PNG small

    Image.open(path).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
