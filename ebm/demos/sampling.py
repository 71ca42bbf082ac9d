"""Story: MALA chains exploring a multimodal landscape, and what parallel tempering adds."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.demos import register_demo
from ebm.energies.analytic import GaussianMixture
from samplers import MALA, ParallelTempering, geometric_temperatures


def _landscape() -> GaussianMixture:
    """Four modes with unequal weights on a square: a landscape with real barriers."""
    means = torch.tensor([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0]])
    return GaussianMixture(means, 0.3 * torch.eye(2), torch.tensor([0.1, 0.2, 0.3, 0.4]))


@register_demo("sampling", title="MALA chains on a multimodal landscape (GIF), and parallel tempering", order=30)
def run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    energy = _landscape()
    bounds = ((-4.5, 4.5), (-4.5, 4.5))
    n_chains, n_steps = (40, 40) if quick else (150, 200)
    x0 = torch.rand(n_chains, 2, generator=generator) * 9 - 4.5  # uniform over the box
    mala = MALA(0.05, thin=1).run(energy, x0, n_steps, generator=generator)
    paths = [plot.animate_chains(energy, mala.trajectory, out_dir / "mala_chains.gif", bounds=bounds, max_frames=5 if quick else 30,
                                 title=f"MALA, {n_chains} chains (acceptance {float(mala.acceptance_rate.mean()):.2f})")]

    # Same budget, one chain population started in the lightest mode: MALA stays, PT finds all four.
    start = torch.tensor([-2.0, -2.0]).expand(n_chains, 2).clone()
    stuck = MALA(0.05).run(energy, start, n_steps, generator=generator)
    pt = ParallelTempering(MALA(0.05), geometric_temperatures(30.0, 6)).run(energy, start, n_steps, generator=generator)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    for ax, (title, pts) in zip(axes, [("exact samples", energy.sample(n_chains, generator=generator)),
                                        ("MALA from the lightest mode", stuck.x),
                                        (f"parallel tempering (swap acc. {float(pt.extras['swap_acceptance'].mean()):.2f})", pt.x)]):
        plot.landscape(energy, bounds, ax=ax, resolution=50 if quick else 160, title=title, colorbar=False)
        plot.samples(pts, ax=ax, color="tab:red", size=6)
    fig.suptitle("Modes weighted 0.1 / 0.2 / 0.3 / 0.4: local moves cannot cross the barriers; tempered replicas can")
    paths.append(plot.save(fig, out_dir / "parallel_tempering.png"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), constrained_layout=True)
    plot.trace_plot(mala.trajectory[:, :, 0], ax=axes[0], label="x₁")
    plot.autocorrelation_plot(mala.trajectory[:, :, 0], ax=axes[1], max_lag=min(50, n_steps - 1))
    fig.suptitle("MALA diagnostics: chains stuck in different modes give R-hat well above 1")
    paths.append(plot.save(fig, out_dir / "mala_diagnostics.png"))
    return paths
