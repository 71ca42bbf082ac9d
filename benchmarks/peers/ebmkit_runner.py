"""Time ebmkit's LangevinDynamics and MALA; run by benchmarks/samplers_langevin.py inside .venv-ebmkit.

ebmkit imports as `ebm`, like this project, so it runs in its own interpreter. Reads a JSON job
from argv[1], prints one JSON line {"name": seconds, ...} with the best time of `repeats`.
The energy is the same plain callable as in the main benchmark (autograd gradients; ebmkit has
no analytic-score path). ebmkit draws noise from the global RNG (it takes no generator).
"""

import json
import sys
import time

import torch
from ebm.samplers import MALA, LangevinDynamics

job = json.loads(sys.argv[1])
torch.set_num_threads(job["threads"])
torch.manual_seed(0)
mean = torch.tensor(job["mean"])
prec = torch.linalg.inv(torch.tensor(job["cov"]))


def energy(x):
    d = x - mean
    return 0.5 * ((d @ prec) * d).sum(-1)


out = {}
for chains, steps in job["sizes"]:
    x0 = torch.randn(chains, 2)
    for name, sampler in [("ula", LangevinDynamics(step_size=job["step_size"], steps=steps)), ("mala", MALA(step_size=job["step_size"], steps=steps))]:
        best = float("inf")
        for _ in range(job["repeats"]):
            t = time.perf_counter()
            x = sampler.sample(energy, x0, steps=steps)
            best = min(best, time.perf_counter() - t)
        out[f"{name}/{chains}x{steps}"] = {"seconds": best, "var": x.var(0).tolist()}
print(json.dumps(out))
