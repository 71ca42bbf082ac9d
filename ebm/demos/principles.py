"""Story: one data set, every principle. The same MLP energy trained on the same 2-D toy set by
contrastive divergence (Langevin PCD), noise-contrastive estimation, exact score matching,
denoising score matching and sliced score matching; their learned densities side by side, with
the wall time each took."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import make_toy
from ebm.demos import register_demo
from ebm.energies import MLPEnergy
from ebm.objectives import ContrastiveDivergence, DenoisingScoreMatching, NoiseContrastiveEstimation, ScoreMatching, SlicedScoreMatching
from ebm.train import train

__all__ = ["principles", "fit_every_principle", "run"]

BOUNDS = ((-4.0, 4.0), (-4.0, 4.0))


def principles(x: torch.Tensor, *, langevin_steps: int = 10) -> dict[str, object]:
    """The objectives compared, each with settings that work on standardised 2-D toy data ``x (n, 2)``.

    ``langevin_steps`` is k of the persistent CD chains (ULA, step 0.005, per update).
    """
    from samplers import ULA

    mean = x.mean(0)
    cov = torch.cov(x.T) * 1.5**2 + 1e-3 * torch.eye(2)  # noise a little wider than the data
    noise = torch.distributions.MultivariateNormal(mean, cov)
    return {
        "CD (Langevin PCD)": ContrastiveDivergence(ULA(0.005, grad_clip=10.0), k=langevin_steps, persistent=True, energy_penalty=0.1),
        "NCE (ν = 4)": NoiseContrastiveEstimation(noise, noise_ratio=4),
        "exact SM": ScoreMatching(),
        "DSM (σ = 0.15)": DenoisingScoreMatching(0.15),
        "SSM-VR (1 proj.)": SlicedScoreMatching(1),
    }


def fit_every_principle(
    x: torch.Tensor, *, steps: int, generator: torch.Generator, hidden=(64, 64), batch_size: int = 256, lr: float = 5e-3, langevin_steps: int = 10
):
    """Train a fresh, identically initialised `MLPEnergy` with each principle for ``steps`` updates.

    Returns:
        ``{name: (model, wall_seconds)}``.
    """
    init_seed = int(torch.randint(0, 2**31, (1,), generator=generator))
    # Warm-up: the first optimiser step of a process pays one-time imports (seconds); keep them
    # out of the first method's wall time.
    train(MLPEnergy((2,), hidden=(8,)), DenoisingScoreMatching(0.1), x[:8], epochs=1, batch_size=8, generator=generator, progress=False)
    results = {}
    for name, objective in principles(x, langevin_steps=langevin_steps).items():
        model = MLPEnergy((2,), hidden=hidden, quadratic=0.01, generator=torch.Generator().manual_seed(init_seed))
        epochs = max(1, round(steps * batch_size / x.shape[0]))
        t0 = time.perf_counter()
        train(model, objective, x, epochs=epochs, batch_size=batch_size, lr=lr, max_grad_norm=10.0, generator=generator, progress=False)
        results[name] = (model, time.perf_counter() - t0)
    return results


@register_demo("principles", title="One data set, every principle: CD, NCE, exact/denoising/sliced score matching", order=50)
def run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    n, steps, k, resolution = (256, 10, 3, 40) if quick else (2048, 250, 10, 120)
    x = make_toy("8gaussians", n, generator=generator)
    x = (x - x.mean(0)) / x.std(0)  # standardised: one set of hyper-parameters for every principle
    results = fit_every_principle(x, steps=steps, generator=generator, langevin_steps=k)
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(3.9 * (len(results) + 1), 3.9), constrained_layout=True)
    plot.data_density(x, BOUNDS, ax=axes[0], resolution=resolution, title=f"data (8 Gaussians, n={n})")
    for ax, (name, (model, seconds)) in zip(axes[1:], results.items()):
        plot.landscape(model, BOUNDS, ax=ax, kind="density", resolution=resolution, colorbar=False, title=f"{name}\n{seconds:.1f} s", contours=0)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    fig.suptitle(f"The same MLP energy, {steps} updates of batch 256 each (CD: k = {k} Langevin steps): learned density exp(-E) normalised on the grid (2-core CPU)")
    return [plot.save(fig, out_dir / "principles.png")]
