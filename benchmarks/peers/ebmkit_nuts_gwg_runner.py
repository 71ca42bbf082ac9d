"""Run ebmkit's NUTS and GibbsWithGradients for benchmarks/samplers_nuts_gwg.py inside .venv-ebmkit.

ebmkit imports as `ebm`, like this project, so it runs in its own interpreter. Reads a JSON job from
argv[1], runs the sampler once, saves the trajectory to job["out"] (torch.save) and prints one JSON
line {"seconds": wall time including warm-up}. ebmkit draws from the global RNG (it takes no generator).
"""

import json
import math
import sys
import time

import torch
from ebm.samplers import NUTS, GibbsWithGradients

job = json.loads(sys.argv[1])
torch.set_num_threads(job["threads"])
torch.manual_seed(job.get("seed", 0))
x0 = torch.load(job["x0"])

if job["target"] == "gauss10":
    var = torch.logspace(-2, 2, 10, dtype=x0.dtype)

    def energy(x):
        return 0.5 * (x.square() / var).sum(-1)

elif job["target"] == "banana":

    def energy(x):
        a, b = x[..., 0], x[..., 1]
        return a * a / 2 + (b - (a * a - 1)).square() / (2 * 0.25)

elif job["target"] == "ising":
    n = int(math.isqrt(x0.shape[1]))
    coupling = job["coupling"]

    def energy(x):
        s = (2 * x - 1).view(-1, n, n)
        return -coupling * (s * s.roll(1, 1) + s * s.roll(1, 2)).sum((1, 2))

else:
    raise SystemExit(f"unknown target {job['target']}")

if job["sampler"] == "nuts":
    sampler = NUTS(step_size=0.1, warmup=job["warmup"], target_accept=0.8)
else:
    sampler = GibbsWithGradients()
t = time.perf_counter()
traj = sampler.sample(energy, x0, steps=job["steps"], return_trajectory=True)
seconds = time.perf_counter() - t
torch.save(traj[1:].contiguous(), job["out"])  # drop the initial state: (steps, chains, *event)
print(json.dumps({"seconds": seconds}))
