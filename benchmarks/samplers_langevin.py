"""Chain-steps per second of ULA and MALA on a 2-D correlated Gaussian, side by side with peers.

Target: N(0, Σ), Σ = [[1, .8], [.8, 1]], step size ε = 0.1 for every sampler, float32, x0 ~ N(0, I).
Sizes: 1,000 chains x 1,000 steps and 100,000 chains x 100 steps (``--quick``: 10x fewer steps).

Compared, in one run, interleaved (each repeat times every entry once; the best repeat is kept,
because other jobs may share the CPU):
  * ours, energy as a plain callable (autograd), and as ``ebm.energies.analytic.Gaussian``
    (analytic ``energy_and_score``), each three ways: the **plain call** ``ULA(ε)`` / ``MALA(ε)``
    (no options: ``compile="auto"``), ``compile=False`` (eager) and ``compile=True`` (the fused
    step; its one-off compilation is timed separately, by a first untimed run per size). The
    plain sampler object is reused across a warm-up and the repeats, as a training loop reuses
    its sampler: the warm-up runs it until "auto" fuses it (its accumulated work passes the
    break-even; the run that compiles is reported apart), and the table says whether it was fused
    when timed. ``--plain-cold`` skips that warm-up: a single run's plain call, eager at these sizes;
  * TorchEBM ``LangevinDynamics`` (ULA; ``noise_scale=1`` gives the √(2ε) noise) with the same
    callable wrapped in a ``BaseModel`` and with its built-in ``GaussianModel``;
  * ebmkit ``LangevinDynamics`` and ``MALA`` (plain callable; run in ``.venv-ebmkit`` through a
    subprocess because it also imports as ``ebm``; set up by benchmarks/peers/setup_ebmkit.sh).

Hardware bounds for the compiled rows at 100,000 chains, measured in the same run:
  * memory: a stream-like triad ``a = b + s·c`` on 64 MiB float32 arrays gives the bandwidth; if
    only the chain state moved (ULA: read and write the 2-D float32 state, 16 B per chain-step;
    MALA: also the cached energy and score, 40 B) the rate could not exceed bandwidth / bytes;
  * the noise: each chain-step needs 2 normals. Under AVX2 the fused steps read normals from the C
    Philox generator (`samplers.native_normal`, ≈ 71 ops per normal, see OPS_PER_NORMAL) where it
    builds. Model of the in-kernel generators (Threefry under AVX2 without it; SplitMix64 under AVX-512 is
    counted ≈ 57 per normal, see OPS_PER_NORMAL): Threefry-4×32-20 is ≈ 269 32-bit vector
    operations per block of 4 words (20 rounds × (2 add + 2 rotate [shl, shr, and, or] + 2 xor) +
    5 key injections × 5 adds + 4), a float32 uniform 4 more (shift, mask, convert, scale), and a
    Box-Muller pair ≈ 80 (log1p, sqrt, sin, cos as SLEEF polynomials ≈ 25 each, and 4 multiplies),
    so ≈ 111 operations per normal; at ``lanes`` (8 AVX2, 16 AVX-512) × 2 vector operations per
    cycle × the clock in /proc/cpuinfo that bounds the normals per second. Measured as well: a
    compiled kernel that only draws the 200,000 normals of a step and sums them (no state traffic).

``--isa avx2`` re-runs everything with AVX2 code (see benchmarks/isa_env.py). The output is
markdown, ready to paste. Usage:
``python3 benchmarks/samplers_langevin.py [--isa native|avx2] [--quick] [--repeats 5]``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from isa_env import add_isa_argument, configure_inductor, isa_line, reexec_for_isa  # noqa: E402

reexec_for_isa()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

configure_inductor()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebm.energies.analytic import Gaussian  # noqa: E402
from samplers import MALA, ULA  # noqa: E402
from samplers.counter_rng import CounterRNG, default_algorithm  # noqa: E402
from samplers import native_normal  # noqa: E402

COV = [[1.0, 0.8], [0.8, 1.0]]
MEAN = [0.0, 0.0]
EPS = 0.1


def make_callable():
    mean, prec = torch.tensor(MEAN), torch.linalg.inv(torch.tensor(COV))

    def energy(x):
        d = x - mean
        return 0.5 * ((d @ prec) * d).sum(-1)

    return energy


def ours(kind, energy, compile=None):
    kw = {} if compile is None else {"compile": compile}  # None: the plain call
    sampler = ULA(EPS, **kw) if kind == "ula" else MALA(EPS, **kw)

    def run(x0, steps, g):
        return sampler.run(energy, x0, steps, generator=g).x

    run.sampler = sampler
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
    """Stream-like triad a = b + s·c on 64 MiB float32 arrays (one thread), in GB/s."""
    n = 1 << 24
    a, b, c = torch.empty(n), torch.randn(n), torch.randn(n)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.add(b, c, alpha=3.0, out=a)
        best = min(best, time.perf_counter() - t)
    return 3 * 4 * n / best / 1e9  # read b, read c, write a


def noise_source() -> str:
    """What the fused steps draw their noise with here: the C Philox generator (CPUs without AVX-512
    where it builds), else the in-kernel counter-based generator (`default_algorithm`)."""
    algorithm = default_algorithm(torch.device("cpu"))
    return "philox-avx2" if algorithm == "threefry" and native_normal.available() else algorithm


def noise_only(chains, repeats=5):
    """Normals per second of drawing one step's noise alone (no chain state): the C generator
    filling a buffer, or a compiled kernel that draws the noise in-kernel and sums it."""
    if noise_source() == "philox-avx2":
        out = torch.empty(chains, 2)
        native_normal.fill_normal_(out, 1, threads=1)
        best = math.inf
        for i in range(repeats):
            t = time.perf_counter()
            for j in range(10):
                native_normal.fill_normal_(out, 10 * i + j + 2, threads=1)
            best = min(best, (time.perf_counter() - t) / 10)
        return 2 * chains / best
    f = torch.compile(lambda key: CounterRNG(key).normal((chains, 2)).sum(), fullgraph=True, dynamic=False)
    keys = CounterRNG.new_keys(repeats + 1, torch.Generator().manual_seed(1))
    f(keys[0])
    best = math.inf
    for i in range(repeats):
        t = time.perf_counter()
        for _ in range(10):
            f(keys[i + 1])
        best = min(best, (time.perf_counter() - t) / 10)
    return 2 * chains / best


# Vector operations per normal (see the module docstring). SplitMix64 (the generator under AVX-512):
# ≈ 13 operations per 64-bit word (add, multiply by γ, 3 shifts, 3 masks, 3 xors, 2 multiplies) in
# half-width lanes, counted twice, plus 8 for its two float32 uniforms, per Box-Muller pair.
# Philox-4×32-10 in C under AVX2 (samplers.native_normal): 10 rounds × (2 × 7 for the two 32 × 32 → 64
# products of 8 lanes, 4 xors) per 4 words, 3 for a uniform, and a Box-Muller pair ≈ 46 (log ≈ 16,
# sqrt and scale 2, sine and cosine ≈ 26, 2 multiplies).
OPS_PER_NORMAL = {"threefry": 269 / 4 + 4 + 80 / 2, "splitmix64": (2 * 13 + 8 + 80) / 2, "philox-avx2": 180 / 4 + 3 + 46 / 2}


def noise_model_bound():
    """Normals/s by the operation-count model: lanes × 2 vector ops per cycle × clock / ops per normal."""
    lanes = 16 if torch.backends.cpu.get_cpu_capability().startswith("AVX512") and not os.environ.get("EBM_BENCH_SIMDLEN") else 8
    mhz = 0.0
    try:
        with open("/proc/cpuinfo") as f:
            mhz = max(float(ln.split(":")[1]) for ln in f if ln.startswith("cpu MHz"))
    except (OSError, ValueError):
        pass
    return lanes * 2 * mhz * 1e6 / OPS_PER_NORMAL[noise_source()], lanes, mhz


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="skip the compile=True entries")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for every library")
    ap.add_argument("--plain-cold", action="store_true", help="time the plain call without the warm-up runs (as a single run gets it: eager below the break-even)")
    add_isa_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    sizes = [[1000, 100], [100000, 10]] if args.quick else [[1000, 1000], [100000, 100]]
    energy, gauss = make_callable(), Gaussian(torch.tensor(MEAN), torch.tensor(COV))
    entries = {}
    for kind in ("ula", "mala"):
        for ename, e in (("callable", energy), ("analytic", gauss)):
            # One plain sampler per size, as a user's loop would hold one per problem.
            for chains, _ in sizes:
                entries[(kind, f"ours {ename} plain call", chains)] = ours(kind, e)
            entries[(kind, f"ours {ename} compile=False", None)] = ours(kind, e, compile=False)
            if not args.no_compile:
                entries[(kind, f"ours {ename} compile=True", None)] = ours(kind, e, compile=True)
    for name, fn in torchebm_runners(energy).items():
        entries[("ula", f"TorchEBM {name}", None)] = fn
    best, variances, fused, compile_s, plain_runs = {}, {}, {}, {}, {}
    gen = torch.Generator().manual_seed(0)
    x0s = {c: torch.randn(c, 2, generator=gen) for c, _ in sizes}
    bw = 0.0
    for (kind, name, only), fn in entries.items():
        if name.endswith("compile=True"):  # first run per size compiles; time it apart from throughput
            for chains, steps in sizes:  # the timed length, so every unrolled graph shape is compiled here
                t = time.perf_counter()
                fn(x0s[chains], steps, gen)
                compile_s[(kind, name, chains)] = time.perf_counter() - t
        if name.endswith("plain call") and not args.plain_cold:
            # Warm-up as a loop would use its sampler: run until "auto" fuses (at most 300 runs);
            # the run that compiles is reported apart. Before that, the plain call is the eager row.
            steps = dict(sizes)[only]
            for i in range(300):
                t = time.perf_counter()
                fn(x0s[only], steps, gen)
                if fn.sampler._fused:
                    compile_s[(kind, name, only)] = (time.perf_counter() - t, i + 1)
                    break
    for r in range(args.repeats):
        for (kind, name, only), fn in entries.items():
            for chains, steps in sizes:
                if only is not None and chains != only:
                    continue
                was_fused = getattr(getattr(fn, "sampler", None), "_fused", None)
                t = time.perf_counter()
                x = fn(x0s[chains], steps, gen)
                dt = time.perf_counter() - t
                key = (kind, name, chains, steps)
                sampler = getattr(fn, "sampler", None)
                if name.endswith("plain call"):
                    plain_runs[key] = plain_runs.get(key, 0) + 1
                    if sampler._fused and not was_fused and (kind, name, chains) not in compile_s:  # this run compiled: report it, do not rate it
                        compile_s[(kind, name, chains)] = (dt, plain_runs[key])
                        continue
                    fused[key] = sampler._fused
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
    noise_rate = float("nan") if args.no_compile else noise_only(sizes[1][0])
    model_rate, lanes, mhz = noise_model_bound()
    print(f"**Preliminary, machine shared with other jobs** (load average before {load_before}, after "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}). {isa_line()}")
    print(f"torch {torch.__version__}, threads={args.threads}, float32, ε={EPS}, best of {args.repeats} interleaved repeats; "
          "compilation not in the rates\n")
    print("| ISA | sampler | chains x steps | implementation | chain-steps/s | vs best peer | var(x) |")
    print("|---|---|---|---|---:|---:|---|")
    isa = os.environ.get("EBM_BENCH_ISA", "native")
    for kind in ("ula", "mala"):
        for chains, steps in sizes:
            rows = [(n, best[(k, n, c, s)]) for (k, n, c, s) in best if k == kind and c == chains and s == steps]
            peers = [chains * steps / t for n, t in rows if not n.startswith("ours")]
            top = max(peers) if peers else float("nan")
            for n, t in sorted(rows, key=lambda r: r[1]):
                rate = chains * steps / t
                var = ", ".join(f"{v:.3f}" for v in variances[(kind, n, chains, steps)])
                label = n
                if n.endswith("plain call"):
                    label += " (auto: fused)" if fused.get((kind, n, chains, steps)) else " (auto: eager)"
                print(f"| {isa} | {kind.upper()} | {chains:,} x {steps:,} | {label} | {rate / 1e6:.2f} M | {rate / top:.2f}x | {var} |")
    if compile_s:
        print("\none-off compilation (not in the rates):")
        for (kind, name, chains), t in compile_s.items():
            if isinstance(t, tuple):
                print(f"- {kind.upper()} {name} at {chains:,} chains: auto fused it in run {t[1]} of the same sampler (that run took {t[0]:.1f} s, compilation included)")
            else:
                print(f"- {kind.upper()} {name} at {chains:,} chains: first run (compilation included) {t:.1f} s")
    chains, steps = sizes[1]
    print(f"\nhardware bounds at {chains:,} chains: memory bandwidth (triad, 64 MiB float32, 1 thread) {bw:.1f} GB/s; "
          f"noise ({noise_source()}): model {model_rate / 1e6:.0f} M normals/s ({OPS_PER_NORMAL[noise_source()]:.0f} ops/normal, {lanes} lanes x 2/cycle x {mhz:.0f} MHz), "
          f"measured noise alone {'not measured (--no-compile)' if noise_rate != noise_rate else f'{noise_rate / 1e6:.0f} M normals/s'}\n")
    print("| ISA | sampler | implementation | chain-steps/s | memory bound (B/chain-step) | % of memory bound | noise bound (model / measured) | % of noise bound (model / measured) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for kind, bytes_per in (("ula", 16), ("mala", 40)):
        for impl in (f"ours analytic compile=True", f"ours callable compile=True", f"ours analytic plain call"):
            key = (kind, impl, chains, steps)
            if key not in best:
                continue
            rate = chains * steps / best[key]
            mem = bw * 1e9 / bytes_per
            nm, nmeas = model_rate / 2, noise_rate / 2
            print(f"| {isa} | {kind.upper()} | {impl} | {rate / 1e6:.2f} M | {mem / 1e6:.0f} M ({bytes_per}) | {100 * rate / mem:.1f}% | "
                  f"{nm / 1e6:.0f} M / {nmeas / 1e6:.0f} M | {100 * rate / nm:.0f}% / {100 * rate / nmeas:.0f}% |")


if __name__ == "__main__":
    main()
