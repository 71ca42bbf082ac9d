"""Generic AIS (`ebm.evaluate.ais_any`) against quadrature: error versus the number of temperatures.

Two 2-D energies whose log Z is known by quadrature (`ebm.evaluate.grid_log_partition`, float64,
1,000 × 1,000 midpoint grid on a box holding the mass):
  * ``eight_modes``: the built-in landscape of eight Gaussians on a circle (separated modes);
  * ``mlp``: an `MLPEnergy` (2 × 64 SiLU) trained by denoising score matching on the ``8gaussians``
    toy (20 epochs of 2,000 points), i.e. a learned, non-analytic energy.
For each, ``ais_log_partition_any(energy, data=...)`` (Gaussian base fitted to 2,000 data points and
widened 1.5×, MALA kernel with 2 steps per temperature, 200 chains) at 10 ... 3,000 temperatures:
the estimate, its standard error, the reverse bound where exact samples exist, and the wall time.

Usage: python3 benchmarks/ais_any.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebm.data import make_toy  # noqa: E402
from ebm.energies import MLPEnergy  # noqa: E402
from ebm.evaluate import grid_log_partition  # noqa: E402
from ebm.evaluate.ais_any import ais_log_partition_any  # noqa: E402
from ebm.grid import grid_sample  # noqa: E402
from ebm.objectives import DenoisingScoreMatching  # noqa: E402
from ebm.registry import LANDSCAPES  # noqa: E402
from ebm.train import train  # noqa: E402


def trained_mlp(generator, epochs):
    data = make_toy("8gaussians", 2000, generator, dtype=torch.float64)
    model = MLPEnergy((2,), hidden=(64, 64), generator=generator).double()
    train(model, DenoisingScoreMatching(0.3), data, epochs=epochs, batch_size=200, lr=3e-3, generator=generator, progress=False)
    return model.requires_grad_(False), data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    temps = [10, 30, 100, 300] if args.quick else [10, 30, 100, 300, 1000, 3000]
    resolution = 300 if args.quick else 1000
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread; 200 chains, MALA x 2 per temperature")
    entry = LANDSCAPES["eight_modes"]
    eight = entry.factory().double()
    mlp, mlp_data = trained_mlp(g, 5 if args.quick else 20)
    cases = [("eight_modes", eight, entry.bounds, grid_sample(eight, entry.bounds, 2000, generator=g, dtype=torch.float64)),
             ("mlp (DSM on 8gaussians)", mlp, ((-6.0, 6.0), (-6.0, 6.0)), mlp_data)]
    print("\n| energy | temperatures | log Z (quadrature) | AIS estimate | std. error | error | reverse bound | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, energy, bounds, data in cases:
        truth = float(grid_log_partition(energy, bounds, resolution, dtype=torch.float64))
        sampler = getattr(energy, "sample", None)
        for k in temps:
            t = time.perf_counter()
            r = ais_log_partition_any(energy, data=data, n_chains=200, n_betas=k, generator=g,
                                      reverse_from=sampler(200, generator=g).double() if callable(sampler) else None)
            seconds = time.perf_counter() - t
            upper = "-" if r.log_z_upper is None else f"{float(r.log_z_upper):.4f}"
            print(f"| {name} | {k} | {truth:.4f} | {float(r.log_z):.4f} | {float(r.std_error):.4f} | {float(r.log_z) - truth:+.4f} | {upper} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
