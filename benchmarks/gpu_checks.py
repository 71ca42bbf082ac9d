"""GPU checks of issues 3, 4 and 6 in one short run: samplers at 10⁶ chains, RBM Gibbs sweeps and
AIS, and sparse coding at 10⁶ signals.

    python benchmarks/gpu_checks.py --device cuda [--out FILE.md]
    python benchmarks/gpu_checks.py --device cpu --smoke      # tiny sizes: checks the script runs

Each section runs on its own (a failure is printed and the next section still runs). Times are
wall-clock with a device synchronisation around each timed call, best of a few repeats after a
warm-up. Peers (TorchEBM, ebmkit, rbms, scikit-learn) run on CPU only; scikit-learn's lasso_cd is
timed on a subset of the signals with every CPU core (n_jobs=-1) and scaled per signal.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LINES: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    LINES.append(line)


def best_time(fn, device, repeats: int = 3) -> float:
    fn()  # warm-up (allocator, kernels, lazy init)
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def bandwidth_gbs(device) -> float:
    n = 1 << 26  # 256 MiB per float32 tensor
    a, b = torch.randn(n, device=device), torch.randn(n, device=device)
    c = torch.empty_like(a)
    return 3 * 4 * n / best_time(lambda: torch.add(a, b, out=c), device, 5) / 1e9


def samplers_section(device, smoke: bool) -> None:
    from ebm.energies import Gaussian
    from samplers import MALA, ULA

    chains, steps = (10_000, 20) if smoke else (1_000_000, 100)
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]], device=device)
    prec = torch.linalg.inv(cov)

    def plain(x):
        return 0.5 * ((x @ prec) * x).sum(-1)

    analytic = Gaussian(torch.zeros(2), cov.cpu()).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    x0 = torch.randn(chains, 2, device=device, generator=g)
    bw = bandwidth_gbs(device)
    say(f"### Samplers: 2-D Gaussian (cov [[1, .8], [.8, 1]]), {chains:,} chains × {steps} steps, float32, ε = 0.1")
    say()
    say(f"Memory bandwidth (out-of-place add): {bw:.0f} GB/s.")
    say()
    say("| sampler | energy | chain-steps/s | % of bandwidth bound | final var(x₁) |")
    say("|---|---|---:|---:|---:|")
    for name, make, bytes_per in (("ULA", ULA, 16), ("MALA", MALA, 40)):
        for label, energy, compiled in (("plain callable (autograd)", plain, False), ("analytic Gaussian", analytic, False),
                                        ("plain callable, compile=True", plain, True), ("analytic Gaussian, compile=True", analytic, True)):
            sampler = make(0.1, compile=compiled)  # best_time's warm-up call pays the compilation
            result = {}

            def run():
                result["x"] = sampler.run(energy, x0, steps, generator=g).x

            t = best_time(run, device)
            rate = chains * steps / t
            var = float(result["x"][:, 0].var())
            say(f"| {name} | {label} | {rate / 1e6:,.0f} M | {100 * rate / (bw * 1e9 / bytes_per):.1f}% | {var:.3f} |")
    say()


def rbm_section(device, smoke: bool) -> None:
    from ebm.energies import BernoulliRBM
    from ebm.evaluate import ais_log_partition
    from ebm.objectives import rbm_block_gibbs

    n_vis, n_hid = 784, 500
    g = torch.Generator(device=device).manual_seed(0)
    rbm = BernoulliRBM(n_vis, n_hid, weight_scale=0.05, generator=torch.Generator().manual_seed(0)).to(device)
    W = rbm.weight.detach()
    sampler = rbm_block_gibbs(rbm)
    fused = rbm_block_gibbs(rbm, compile=True)
    say(f"### RBM {n_vis}×{n_hid}, float32")
    say()
    say("| chains | 2 matmuls (ms) | Gibbs sweep v→h→v (ms) | matmul share of the sweep | compiled sweep (ms) | matmul share |")
    say("|---:|---:|---:|---:|---:|---:|")
    for chains in ((100, 1000) if smoke else (1000, 10_000, 100_000)):
        v0 = torch.bernoulli(torch.full((chains, n_vis), 0.5, device=device), generator=g)
        h0 = torch.zeros(chains, n_hid, device=device)
        hh = torch.bernoulli(torch.full((chains, n_hid), 0.5, device=device), generator=g)
        sweeps = 10

        def gemm():
            for _ in range(sweeps):
                torch.mm(v0, W)
                torch.mm(hh, W.T)

        def sweep():
            with torch.no_grad():
                sampler.run(None, (h0, v0), sweeps, generator=g)

        def fused_sweep():
            with torch.no_grad():
                fused.run(None, (h0, v0), sweeps, generator=g)

        tg, ts = best_time(gemm, device) / sweeps, best_time(sweep, device) / sweeps
        tf = best_time(fused_sweep, device) / sweeps
        say(f"| {chains:,} | {tg * 1e3:.3f} | {ts * 1e3:.3f} | {100 * tg / ts:.0f}% | {tf * 1e3:.3f} | {100 * tg / tf:.0f}% |")
    say()
    n_betas = 1450 if smoke else 14_500
    means = torch.rand(n_vis, generator=torch.Generator().manual_seed(1)) * 0.8 + 0.1
    data = torch.bernoulli(means.expand(500, n_vis), generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        rbm.visible_bias.copy_(torch.logit(means).to(device))
    ais_log_partition(rbm, n_chains=100, n_betas=30, data=data, generator=g, compile=True)  # compiles once
    for label, compiled in (("", False), (", compile=True", True)):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        est = ais_log_partition(rbm, n_chains=100, n_betas=n_betas, data=data, generator=g, compile=compiled)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        say(f"AIS (Salakhutdinov & Murray base rates{label}), 100 chains, {n_betas:,} temperatures: {dt:.2f} s "
            f"({dt / (n_betas - 1) * 1e6:.0f} µs per temperature), log Z = {float(est.log_z):.3f} ± {float(est.std_error):.3f}.")
        say()


def sparse_section(device, smoke: bool) -> None:
    import numpy as np
    from sklearn.decomposition import sparse_encode

    from benchmarks.sparse_vs_sklearn import make_problem
    from ebm.sparse import fista, objective

    n = 20_000 if smoke else 1_000_000
    subset = 2_000 if smoke else 20_000
    x, d, alpha = make_problem(n)
    xd, dd = x.to(device), d.to(device)
    result = {}

    def ours():
        result["codes"] = fista(xd, dd, alpha, tol=1e-7, compute_dtype=torch.float32, polish=True, max_iter=5000).codes

    t_ours = best_time(ours, device, repeats=2)
    ours_obj = objective(xd, result["codes"], dd, alpha)  # (n,)
    t = time.perf_counter()
    sk_codes = sparse_encode(x[:subset].numpy(), d.numpy(), algorithm="lasso_cd", alpha=alpha, n_jobs=-1)
    t_sk = (time.perf_counter() - t) * n / subset
    sk_obj = objective(x[:subset], torch.as_tensor(np.asarray(sk_codes)), d, alpha)
    rel = float((ours_obj[:subset].double().sum().cpu() - sk_obj.sum()) / sk_obj.sum())
    say(f"### Sparse coding: {n:,} signals, 64×256 unit-norm dictionary, α = {alpha:.4f}")
    say()
    say(f"ebm fista (float32 iterations + float64 polish, tol 1e-7) on {device}: {t_ours:.2f} s. "
        f"scikit-learn lasso_cd with all CPU cores (n_jobs=-1), timed on {subset:,} signals and scaled: "
        f"{t_sk:.1f} s → {t_sk / t_ours:.1f}× faster. Objective on that subset relative to lasso_cd: {rel:+.2e}.")
    say()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script")
    ap.add_argument("--out", help="also write the markdown to this file")
    ap.add_argument("--sections", nargs="*", default=["samplers", "rbm", "sparse"])
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    say(f"## GPU checks on {name} (torch {torch.__version__})")
    say()
    sections = {"samplers": samplers_section, "rbm": rbm_section, "sparse": sparse_section}
    for key in args.sections:
        t = time.perf_counter()
        try:
            sections[key](device, args.smoke)
        except Exception:  # report and go on: one broken section must not hide the others
            say(f"Section {key} failed:\n```\n{traceback.format_exc()}```")
        print(f"[{key}: {time.perf_counter() - t:.1f} s]", flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()
