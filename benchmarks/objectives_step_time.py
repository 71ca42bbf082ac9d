"""Time per training step of each continuous objective on the same MLP energy and batch.

One step = loss, backward and an Adam update, as `ebm.train` does it. The MLP is 2 hidden layers
of 128 SiLU units; batch 256; dimensions 2 and 16 (exact score matching costs one extra backward
pass per dimension, the others do not). CD uses persistent ULA chains with k = 10 steps. Repeats
are interleaved and the best mean step time kept. Prints a markdown table.

Run:  python3 benchmarks/objectives_step_time.py [--quick]
"""

import argparse
import time

import torch

from ebm.energies import MLPEnergy
from ebm.objectives import ContrastiveDivergence, DenoisingScoreMatching, NoiseContrastiveEstimation, ScoreMatching, SlicedScoreMatching
from samplers import ULA


def objectives(dim):
    noise = torch.distributions.MultivariateNormal(torch.zeros(dim), 4.0 * torch.eye(dim))
    return {
        "exact SM": ScoreMatching,
        "DSM (σ = 0.1)": lambda: DenoisingScoreMatching(0.1),
        "SSM-VR (1 projection)": lambda: SlicedScoreMatching(1),
        "NCE (ν = 4)": lambda: NoiseContrastiveEstimation(noise, 4),
        "CD (PCD, ULA k = 10)": lambda: ContrastiveDivergence(ULA(0.01), k=10, persistent=True),
    }


def step_time(make, dim, steps, seed):
    g = torch.Generator().manual_seed(seed)
    model = MLPEnergy((dim,), hidden=(128, 128), generator=g)
    objective = make()
    x = torch.randn(256, dim, generator=g)
    params = list(model.parameters()) + (list(objective.parameters()) if isinstance(objective, torch.nn.Module) else [])
    opt = torch.optim.Adam(params, lr=1e-3)

    def one():
        opt.zero_grad(set_to_none=True)
        objective(model, x, generator=g).backward()
        opt.step()

    for _ in range(3):  # warm-up (lazy buffers, allocator)
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t0) / steps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer steps and one repeat")
    args = parser.parse_args()
    steps, repeats = (5, 1) if args.quick else (30, 3)
    dims = (2, 16)
    best = {}
    for r in range(repeats):
        for dim in dims:
            for name, make in objectives(dim).items():
                t = step_time(make, dim, steps, seed=r)
                best[(name, dim)] = min(best.get((name, dim), float("inf")), t)
    print(f"MLPEnergy 2x128 SiLU, batch 256, Adam; ms per step, best of {repeats} x {steps} steps; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print("| objective | " + " | ".join(f"d = {d}" for d in dims) + " |")
    print("|---|" + "---|" * len(dims))
    for name in objectives(2):
        print(f"| {name} | " + " | ".join(f"{1000 * best[(name, d)]:.1f}" for d in dims) + " |")


if __name__ == "__main__":
    main()
