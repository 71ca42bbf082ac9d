"""Chain-steps per second of ULA and MALA on a 2-D correlated Gaussian, side by side with peers.

Target: N(0, Σ), Σ = [[1, .8], [.8, 1]], step size ε = 0.1 for every sampler, float32, x0 ~ N(0, I).
Sizes: 1,000 chains x 1,000 steps and 100,000 chains x 100 steps (``--quick``: 10x fewer steps).

Compared, in one run, interleaved (each repeat times every entry once; the best repeat is kept,
because other jobs may share the CPU):
  * ours, energy as a plain callable (autograd), and as ``ebm.energies.analytic.Gaussian``
    (analytic ``energy_and_score``), each eager and with ``compile=True`` (the fused step; its
    one-off compilation is timed separately, by a first untimed run per size, and reported apart
    from the steady-state throughput);
  * TorchEBM ``LangevinDynamics`` (ULA; ``noise_scale=1`` gives the √(2ε) noise) with the same
    callable wrapped in a ``BaseModel`` and with its built-in ``GaussianModel``;
  * ebmkit ``LangevinDynamics`` and ``MALA`` (plain callable; run in ``.venv-ebmkit`` through a
    subprocess because it also imports as ``ebm``; set up by benchmarks/peers/setup_ebmkit.sh).
It also measures memory bandwidth (a large out-of-place add) to state the hardware bound at
100,000 chains. Usage: ``python3 benchmarks/samplers_langevin.py [--quick] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebm.energies.analytic import Gaussian  # noqa: E402
from samplers import MALA, ULA  # noqa: E402

COV = [[1.0, 0.8], [0.8, 1.0]]
MEAN = [0.0, 0.0]
EPS = 0.1


def make_callable():
    mean, prec = torch.tensor(MEAN), torch.linalg.inv(torch.tensor(COV))

    def energy(x):
        d = x - mean
        return 0.5 * ((d @ prec) * d).sum(-1)

    return energy


def ours(kind, energy, compile=False):
    sampler = ULA(EPS, compile=compile) if kind == "ula" else MALA(EPS, compile=compile)

    def run(x0, steps, g):
        return sampler.run(energy, x0, steps, generator=g).x

    return run


def torchebm_runners(energy):
    try:
        from torchebm.core import BaseModel, GaussianModel
        from torchebm.samplers import LangevinDynamics
    except ImportError:
        return {}

    class CallableModel(BaseModel):
        def forward(self, x):
            return energy(x)

    out = {}
    for name, model in [("callable", CallableModel()), ("GaussianModel", GaussianModel(torch.tensor(MEAN), torch.tensor(COV)))]:
        sampler = LangevinDynamics(model, step_size=EPS, noise_scale=1.0)
        out[name] = lambda x0, steps, g, s=sampler: s.sample(x=x0, n_steps=steps, generator=g)
    return out


def ebmkit(sizes, threads):
    py = ROOT / ".venv-ebmkit" / "bin" / "python"
    if not py.exists():
        return None
    job = {"threads": threads, "mean": MEAN, "cov": COV, "sizes": sizes, "step_size": EPS, "repeats": 1}
    res = subprocess.run([str(py), str(ROOT / "benchmarks/peers/ebmkit_runner.py"), json.dumps(job)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bandwidth_gbs(repeats=5):
    n = 1 << 24  # 64 MiB per float32 tensor: far beyond the caches
    a, b, c = torch.randn(n), torch.randn(n), torch.empty(n)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.add(a, b, out=c)
        best = min(best, time.perf_counter() - t)
    return 3 * 4 * n / best / 1e9  # read a, read b, write c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="skip the compile=True entries")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for every library")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [[1000, 100], [100000, 10]] if args.quick else [[1000, 1000], [100000, 100]]
    energy, gauss = make_callable(), Gaussian(torch.tensor(MEAN), torch.tensor(COV))
    entries = {}
    for kind in ("ula", "mala"):
        entries[(kind, "ours callable")] = ours(kind, energy)
        entries[(kind, "ours analytic")] = ours(kind, gauss)
        if not args.no_compile:
            entries[(kind, "ours callable compiled")] = ours(kind, energy, compile=True)
            entries[(kind, "ours analytic compiled")] = ours(kind, gauss, compile=True)
    for name, fn in torchebm_runners(energy).items():
        entries[("ula", f"TorchEBM {name}")] = fn
    best = {}
    variances = {}
    gen = torch.Generator().manual_seed(0)
    x0s = {c: torch.randn(c, 2, generator=gen) for c, _ in sizes}
    bw = 0.0
    compile_s = {}
    for (kind, name), fn in entries.items():
        if name.endswith("compiled"):  # first run per size compiles; time it apart from throughput
            for chains, steps in sizes:
                t = time.perf_counter()
                fn(x0s[chains], 1, gen)
                compile_s[(kind, name, chains)] = time.perf_counter() - t
    for _ in range(args.repeats):
        for (kind, name), fn in entries.items():
            for chains, steps in sizes:
                t = time.perf_counter()
                x = fn(x0s[chains], steps, gen)
                dt = time.perf_counter() - t
                key = (kind, name, chains, steps)
                best[key] = min(best.get(key, math.inf), dt)
                variances[key] = x.var(0).tolist()
        peer = ebmkit(sizes, args.threads)
        if peer:
            for k, v in peer.items():
                kind, size = k.split("/")
                chains, steps = map(int, size.split("x"))
                key = (kind, "ebmkit", chains, steps)
                best[key] = min(best.get(key, math.inf), v["seconds"])
                variances[key] = v["var"]
        bw = max(bw, bandwidth_gbs())
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads={args.threads}, float32, ε={EPS}, best of {args.repeats} interleaved repeats\n")
    print("| sampler | chains x steps | implementation | chain-steps/s | vs best peer | var(x) |")
    print("|---|---|---|---:|---:|---|")
    for kind in ("ula", "mala"):
        for chains, steps in sizes:
            rows = [(n, best[(k, n, c, s)]) for (k, n, c, s) in best if k == kind and c == chains and s == steps]
            peers = [chains * steps / t for n, t in rows if not n.startswith("ours")]
            top = max(peers) if peers else float("nan")
            for n, t in sorted(rows, key=lambda r: r[1]):
                rate = chains * steps / t
                var = ", ".join(f"{v:.3f}" for v in variances[(kind, n, chains, steps)])
                print(f"| {kind.upper()} | {chains:,} x {steps:,} | {n} | {rate / 1e6:.2f} M | {rate / top:.2f}x | {var} |")
    if compile_s:
        print("\none-off compilation (first run of a compiled sampler at each size, 1 step; not in the rates above):")
        for (kind, name, chains), t in compile_s.items():
            print(f"  {kind.upper()} {name} at {chains:,} chains: {t:.1f} s")
    print(f"\nmemory bandwidth (out-of-place add of 64 MiB float32 tensors): {bw:.1f} GB/s")
    for kind, bytes_per in (("ULA", 16), ("MALA", 40)):
        bound = bw * 1e9 / bytes_per
        chains, steps = sizes[1]
        impl = "ours analytic compiled" if (kind.lower(), "ours analytic compiled", chains, steps) in best else "ours analytic"
        rate = chains * steps / best[(kind.lower(), impl, chains, steps)]
        print(f"{kind} at {chains:,} chains: bound {bound / 1e6:.0f} M chain-steps/s if only the state moves "
              f"({bytes_per} B/chain-step), measured ({impl}) {rate / 1e6:.2f} M = {100 * rate / bound:.1f}% of it")


if __name__ == "__main__":
    main()
