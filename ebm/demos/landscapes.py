"""Story 1: the built-in landscapes with exact samples, and the 2-D toy data sets."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import TOY_DATASETS, make_toy
from ebm.demos import register_demo
from ebm.grid import grid_sample
from ebm.registry import LANDSCAPES


@register_demo("landscapes", title="Energy landscapes with exact samples, and the toy data sets", order=10)
def run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    import ebm.energies  # noqa: F401  (registers the landscapes)

    names = list(LANDSCAPES)
    resolution = 80 if quick else 200
    n_samples = 300 if quick else 1500
    cols = 5
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), constrained_layout=True)
    for ax, name in zip(axes.flat, names):
        entry = LANDSCAPES[name]
        energy = entry.factory()
        plot.landscape(energy, entry.bounds, ax=ax, resolution=resolution, title=name, colorbar=False, **entry.extra)
        pts = grid_sample(energy, entry.bounds, n_samples, resolution=resolution * 2, generator=generator)
        plot.samples(pts, ax=ax, color="tab:red", size=2, alpha=0.5)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle("Built-in energies E(x) (dark = low energy = likely; the funnel shows log density) with exact samples (red)")
    paths = [plot.save(fig, out_dir / "landscapes.png")]

    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5), constrained_layout=True)
    for ax, name in zip(axes.flat, TOY_DATASETS):
        x = make_toy(name, 300 if quick else 2000, generator=generator)
        plot.data_density(x, ((-4.5, 4.5), (-4.5, 4.5)), ax=ax, resolution=50 if quick else 100, title=name)
    fig.suptitle("The 2-D toy data sets (FFJORD suite): kernel density estimate and points")
    paths.append(plot.save(fig, out_dir / "toy_datasets.png"))
    return paths
