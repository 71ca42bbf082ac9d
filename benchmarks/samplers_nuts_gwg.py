"""Effective samples per second of NUTS and Gibbs-with-gradients, side by side with ebmkit.

Targets (the same plain callables on both sides; gradients by autograd for both):
  * ``gauss10``: a 10-d Gaussian with variances 10^-2 ... 10^2 (condition number 10^4);
  * ``banana``: E = a²/2 + (b − (a² − 1))² / (2 · 0.5²), the project's default `Banana`;
  * ``ising``: a 10 × 10 periodic Ising lattice (100 units, spins s = 2x − 1, coupling J), for
    Gibbs-with-gradients; the statistic is the magnetisation mean(s).

Each run times the whole call (warm-up + draws), computes the ESS of every coordinate (our
`samplers.effective_sample_size`, Geyer's initial monotone sequence over the pooled chains) from
the returned trajectory, and reports min-ESS per second and the error of the draws' mean and
variance against the truth. ebmkit (``.venv-ebmkit``, set up by benchmarks/peers/setup_ebmkit.sh)
runs in a subprocess because it also imports as ``ebm``; its trajectory comes back through a file.

ours "plain" is the call with no options (``NUTS(warmup_steps=W)``: step size and diagonal mass
adapted); "no mass" turns the mass adaptation off (ebmkit adapts only the step size).

Usage: python3 benchmarks/samplers_nuts_gwg.py [--chains 100 10000] [--warmup 200] [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from samplers import NUTS, GibbsWithGradients, effective_sample_size  # noqa: E402

VAR10 = torch.logspace(-2, 2, 10, dtype=torch.float64)


def gauss10(x):
    return 0.5 * (x.square() / VAR10.to(x.dtype)).sum(-1)


def banana(x):
    a, b = x[..., 0], x[..., 1]
    return a * a / 2 + (b - (a * a - 1)).square() / (2 * 0.25)


def ising(coupling, n=10):
    def energy(x):
        s = (2 * x - 1).view(-1, n, n)
        return -coupling * (s * s.roll(1, 1) + s * s.roll(1, 2)).sum((1, 2))

    return energy


TRUTH = {  # (mean, variance) per coordinate
    "gauss10": (torch.zeros(10, dtype=torch.float64), VAR10),
    "banana": (torch.tensor([0.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.25 + 2.0], dtype=torch.float64)),
}


def min_ess(traj: torch.Tensor) -> float:
    return float(effective_sample_size(traj.double()).min())


def moment_error(target: str, traj: torch.Tensor) -> str:
    mean, var = TRUTH[target]
    draws = traj.reshape(-1, traj.shape[-1]).double()
    return f"{float((draws.mean(0) - mean).abs().max()):.3f} / {float((draws.var(0) / var - 1).abs().max()):.3f}"


def run_ebmkit(job: dict, x0: torch.Tensor, python: Path, timeout: float | None = None) -> tuple[float, torch.Tensor] | None:
    """ebmkit's wall time and trajectory, or None when it ran past ``timeout`` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(x0, f"{tmp}/x0.pt")
        job = dict(job, x0=f"{tmp}/x0.pt", out=f"{tmp}/traj.pt")
        try:
            out = subprocess.run([str(python), str(ROOT / "benchmarks/peers/ebmkit_nuts_gwg_runner.py"), json.dumps(job)],
                                 capture_output=True, text=True, check=True, cwd="/tmp", timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        seconds = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        return seconds, torch.load(f"{tmp}/traj.pt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, nargs="+", default=[100, 10000])
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--gwg-steps", type=int, default=2000)
    ap.add_argument("--gwg-chains", type=int, default=100)
    ap.add_argument("--coupling", type=float, default=0.2, help="Ising J (critical J is 0.4407)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=3, help="independent runs per row (the banana's min ESS varies several-fold between seeds)")
    ap.add_argument("--no-ablation", action="store_true", help="skip the 'no mass adaptation' row")
    ap.add_argument("--targets", nargs="+", default=["gauss10", "banana"], choices=["gauss10", "banana"])
    ap.add_argument("--no-gwg", action="store_true", help="skip the Gibbs-with-gradients table")
    ap.add_argument("--ebmkit", type=Path, default=ROOT / ".venv-ebmkit/bin/python",
                    help="ebmkit's interpreter (a git worktree has no .venv-ebmkit: pass the main checkout's)")
    ap.add_argument("--ebmkit-timeout", type=float, default=None, help="seconds before ebmkit's NUTS run is abandoned (its row then reads 'timed out')")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    have_peer = args.ebmkit.exists()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"capability {torch.backends.cpu.get_cpu_capability()}; warm-up {args.warmup}, draws {args.steps}")
    print("\n| target | chains | sampler | seed | seconds (warm-up + draws) | min ESS | min ESS / s | ratio to ebmkit | mean err / var rel. err |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = []
    for target, energy, dim in [t for t in (("gauss10", gauss10, 10), ("banana", banana, 2)) if t[0] in args.targets]:
        for chains in args.chains:
            rates: dict[str, list[float]] = {}
            for seed in range(args.seeds):
                g = torch.Generator().manual_seed(seed)
                x0 = torch.randn(chains, dim, generator=g, dtype=torch.float64)
                rows = []
                variants = [("ours, plain call", NUTS(warmup_steps=args.warmup, thin=1))]
                if not args.no_ablation:
                    variants.append(("ours, no mass adaptation", NUTS(warmup_steps=args.warmup, adapt_mass=False, thin=1)))
                for name, sampler in variants:
                    t = time.perf_counter()
                    r = sampler.run(energy, x0, args.steps, generator=g)
                    seconds = time.perf_counter() - t
                    rows.append((name, seconds, r.trajectory))
                peer_rate = None
                if have_peer:
                    peer = run_ebmkit({"sampler": "nuts", "target": target, "warmup": args.warmup, "steps": args.steps, "threads": args.threads, "seed": seed}, x0, args.ebmkit, args.ebmkit_timeout)
                    if peer is None:
                        print(f"| {target} | {chains} | ebmkit NUTS | {seed} | timed out (> {args.ebmkit_timeout:.0f} s) | - | - | - | - |", flush=True)
                    else:
                        rows.append(("ebmkit NUTS", *peer))
                        peer_rate = min_ess(peer[1]) / peer[0]
                for name, seconds, traj in rows:
                    ess = min_ess(traj)
                    rates.setdefault(name, []).append(ess / seconds)
                    ratio = f"{ess / seconds / peer_rate:.2f}x" if peer_rate else "-"
                    print(f"| {target} | {chains} | {name} | {seed} | {seconds:.2f} | {ess:.0f} | {ess / seconds:.1f} | {ratio} | {moment_error(target, traj)} |", flush=True)
            peer = statistics.median(rates["ebmkit NUTS"]) if rates.get("ebmkit NUTS") else None
            for name, values in rates.items():
                med = statistics.median(values)
                summary.append(f"| {target} | {chains} | {name} | {med:.1f} | {f'{med / peer:.2f}x' if peer else '-'} |")
    print(f"\nMedian over {args.seeds} seed(s):\n\n| target | chains | sampler | median min ESS / s | ratio to ebmkit |\n|---|---|---|---|---|")
    print("\n".join(summary))
    if args.no_gwg:
        return
    # Gibbs with gradients on the Ising lattice: ESS of the magnetisation per second.
    energy = ising(args.coupling)
    g = torch.Generator().manual_seed(0)
    x0 = torch.bernoulli(torch.full((args.gwg_chains, 100), 0.5, dtype=torch.float64), generator=g)
    t = time.perf_counter()
    ours = GibbsWithGradients(thin=1).run(energy, x0, args.gwg_steps, generator=g).trajectory
    ours_s = time.perf_counter() - t
    rows = [("ours GibbsWithGradients", ours_s, ours)]
    if have_peer:
        seconds, traj = run_ebmkit({"sampler": "gwg", "target": "ising", "coupling": args.coupling, "steps": args.gwg_steps, "threads": args.threads}, x0, args.ebmkit)
        rows.append(("ebmkit GibbsWithGradients", seconds, traj))
    print(f"\n| Ising 10x10, J = {args.coupling}, {args.gwg_chains} chains x {args.gwg_steps} steps | seconds | ESS(magnetisation) | ESS / s | ratio to ebmkit | mean magnetisation |")
    print("|---|---|---|---|---|---|")
    rates = []
    for name, seconds, traj in rows:
        m = (2 * traj.double() - 1).mean(-1, keepdim=True)  # (steps, chains, 1)
        burn = traj.shape[0] // 5
        ess = float(effective_sample_size(m[burn:]))
        rates.append(ess / seconds)
        print(f"| {name} | {seconds:.2f} | {ess:.0f} | {ess / seconds:.1f} | - | {float(m[burn:].mean()):+.3f} |")
    if len(rates) == 2:
        print(f"\nGibbs-with-gradients ESS/s ratio ours / ebmkit: {rates[0] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
