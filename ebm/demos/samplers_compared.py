"""Story: six samplers on two hard 2-D landscapes — what each one's draws, traces and ESS per second look like."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.demos import register_demo
from ebm.energies.landscapes import Banana, NealFunnel
from samplers import HMC, MALA, NUTS, SVGD, ULA, UnderdampedLangevin, effective_sample_size


def _samplers(quick: bool):
    """(name, sampler) with step sizes a student can start from on these landscapes."""
    warmup = 50 if quick else 300
    return [
        ("ULA", ULA(0.02, thin=1)),
        ("MALA", MALA(0.05, warmup_steps=warmup, adapt_step_size=True, thin=1)),
        ("HMC", HMC(0.1, n_leapfrog=10, warmup_steps=warmup, adapt_step_size=True, thin=1)),
        ("NUTS", NUTS(warmup_steps=warmup, thin=1)),
        ("underdamped", UnderdampedLangevin(0.1, friction=1.0, thin=1)),
        ("SVGD", SVGD(0.05, thin=1)),
    ]


@register_demo("samplers", title="ULA, MALA, HMC, NUTS, underdamped Langevin and SVGD on a banana and a funnel", order=35)
def run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    n_chains, n_steps = (16, 40) if quick else (64, 400)
    landscapes = [("banana", Banana(), ((-3.5, 3.5), (-2.5, 6.0))), ("funnel", NealFunnel(), ((-4.0, 4.0), (-6.0, 6.0)))]
    paths = []
    for name, energy, bounds in landscapes:
        energy = energy.double()
        x0 = torch.randn(n_chains, 2, generator=generator, dtype=torch.float64) * 0.5
        fig, axes = plt.subplots(2, 6, figsize=(24, 7.5), constrained_layout=True)
        for col, (label, sampler) in enumerate(_samplers(quick)):
            t = time.perf_counter()
            result = sampler.run(energy, x0, n_steps, generator=generator)
            seconds = time.perf_counter() - t
            draws = result.trajectory  # (n_steps, chains, 2)
            ess = float(effective_sample_size(draws).min())
            plot.landscape(energy, bounds, ax=axes[0, col], resolution=40 if quick else 120, colorbar=False,
                           title=f"{label}: min ESS {ess:.0f}, {ess / seconds:.0f}/s with warm-up")
            plot.samples(draws[n_steps // 2:].reshape(-1, 2), ax=axes[0, col], color="tab:red", size=2)
            plot.trace_plot(draws[:, :4, 0], ax=axes[1, col], label="x₁ (4 chains)")
        fig.suptitle(f"{name}: the same start and number of iterations for every sampler (SVGD moves {n_chains} interacting particles; "
                     "its 'ESS' is not an MCMC quantity)")
        paths.append(plot.save(fig, out_dir / f"samplers_{name}.png"))
    return paths
