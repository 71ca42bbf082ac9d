"""Benchmark: AIS log Z of a 784 x 500 Bernoulli RBM, 100 chains, 14,500 temperatures, float32.

Compares in one run: `ebm.evaluate.ais_log_partition` (Salakhutdinov & Murray's schedule, base
rates from data; two matrix products per temperature) and the `rbms` library's
`compute_partition_function_ais` (uniform schedule of the same length, which it fixes), plus the
time of the two matrix products alone per temperature (the floor). The RBM has random weights
N(0, 0.05²) and visible biases set to the log-odds of random "data" with varied pixel means.

Rows: the plain call ``ais_log_partition(rbm, ...)`` (no options: ``compile="auto"``, which fuses
this problem: 100 × 784 × temperatures ≥ the break-even), ``compile=True`` and ``compile=False``.

The floor is also reported against the core's measured FMA peak (benchmarks/peak_flops.py).

Run: python3 benchmarks/rbm_ais.py [--isa native|avx2] [--quick] [--betas N] [--threads N] [--repeats R] [--device cuda]
(``--isa avx2``: every library with AVX2 code, see benchmarks/isa_env.py; the output is markdown.)

The machine's speed drifts by tens of percent over minutes (a shared VM), so the libraries are run
in ``--repeats`` interleaved rounds (floor, compiled, eager, rbms in each); the table keeps each
one's best round and also lists the ratio rbms / compiled of every round.

With ``--device cuda`` both libraries run on the GPU (the ``rbms`` chains follow its parameters'
device) and every timed call is bracketed by ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's ebm / samplers
from isa_env import add_isa_argument, configure_inductor, isa_line, reexec_for_isa  # noqa: E402

reexec_for_isa()

import argparse  # noqa: E402
import time  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,450 temperatures instead of 14,500")
    parser.add_argument("--betas", type=int, default=None, help="number of temperatures (overrides --quick)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best of each is reported")
    parser.add_argument("--no-eager", action="store_true", help="skip the eager (uncompiled) AIS")
    add_isa_argument(parser)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    import torch

    configure_inductor()
    torch.set_num_threads(args.threads)
    from ebm.energies import BernoulliRBM
    from ebm.evaluate import ais_log_partition

    device = torch.device(args.device)

    def clock() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    n_betas = args.betas or (1450 if args.quick else 14500)
    n_chains, n_vis, n_hid = 100, 784, 500
    g = torch.Generator().manual_seed(0)
    rbm = BernoulliRBM(n_vis, n_hid, weight_scale=0.05, generator=g)
    means = torch.rand(n_vis, generator=g) * 0.8 + 0.1
    data = torch.bernoulli(means.expand(500, n_vis), generator=g)  # (500, 784)
    with torch.no_grad():
        rbm.visible_bias.copy_(torch.logit(means))
    rbm, data = rbm.to(device), data.to(device)
    g = torch.Generator(device=device).manual_seed(0)

    W = rbm.weight.detach()
    v = torch.bernoulli(torch.full((n_chains, n_vis), 0.5, device=device), generator=g)
    h = torch.bernoulli(torch.full((n_chains, n_hid), 0.5, device=device), generator=g)
    torch.mm(v, W), torch.mm(h, W.T)  # warm-up (BLAS / cuBLAS initialisation)

    def floor() -> float:
        t0 = clock()
        for _ in range(200):
            torch.mm(v, W)
            torch.mm(h, W.T)
        return (clock() - t0) / 200 * (n_betas - 1)

    t0 = clock()
    # Compiles once: 7 temperatures run one block of several temperatures and single ones, the two graph sizes.
    ais_log_partition(rbm, n_chains=n_chains, n_betas=7, data=data, generator=g, compile=True)
    compile_s = clock() - t0
    try:
        from rbms.bernoulli_bernoulli.classes import BBRBM
        from rbms.partition_function.ais import compute_partition_function_ais
    except ImportError:
        BBRBM = None
        print("rbms is not installed (pip install rbms); skipping it")

    ours_name, eager_name, peer_name = "ebm-playground ais_log_partition(compile=True)", "ebm-playground ais_log_partition(compile=False)", "rbms compute_partition_function_ais"
    plain_name = "ebm-playground ais_log_partition (plain call)"
    best: dict[str, tuple[float, float, float]] = {}  # name -> (seconds, log Z, std. error)
    round_ratios = []
    for _ in range(args.repeats):
        times = {"floor": floor()}
        for name, compiled in ((ours_name, True), (plain_name, None), (eager_name, False)):
            if name == eager_name and args.no_eager:
                continue
            kw = {} if compiled is None else {"compile": compiled}
            t0 = clock()
            est = ais_log_partition(rbm, n_chains=n_chains, n_betas=n_betas, data=data, generator=g, **kw)
            times[name] = clock() - t0
            best[name] = min(best.get(name, (float("inf"),)), (times[name], float(est.log_z), float(est.std_error)))
        if BBRBM is not None:
            torch.manual_seed(0)  # rbms draws from the global generator
            peer = BBRBM(weight_matrix=W.clone(), vbias=rbm.visible_bias.detach().clone(), hbias=rbm.hidden_bias.detach().clone())
            t0 = clock()
            log_z = compute_partition_function_ais(n_chains, n_betas, peer)
            times[peer_name] = clock() - t0
            best[peer_name] = min(best.get(peer_name, (float("inf"),)), (times[peer_name], float(log_z), float("nan")))
            round_ratios.append(times[peer_name] / times[ours_name])
        best["floor"] = min(best.get("floor", (float("inf"),)), (times["floor"], float("nan"), float("nan")))
        print("round:", ", ".join(f"{k} {t / (n_betas - 1) * 1e3:.2f} ms/temp" for k, t in times.items()), flush=True)
    from samplers.compilation import AUTO_THRESHOLDS

    work = n_chains * n_vis * (n_betas - 1)
    print(f"\nAIS log Z, RBM {n_vis}x{n_hid}, {n_chains} chains, {n_betas} temperatures, float32, torch {torch.__version__}, {args.threads} thread(s), "
          f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}\n")
    print(f"**Preliminary, machine shared with other jobs.** {isa_line()}\n")
    print(f"best of {args.repeats} interleaved rounds; load average before: {load_before}; plain call: work {work:.2g} "
          f"{'>=' if work >= AUTO_THRESHOLDS['ais'] else '<'} the auto break-even {AUTO_THRESHOLDS['ais']:.0e}, so it runs {'fused' if work >= AUTO_THRESHOLDS['ais'] else 'eagerly'}")
    print(f"(compiling the fused temperature step took {compile_s:.1f} s, once; not in the times)\n")
    isa = os.environ.get("EBM_BENCH_ISA", "native")
    print("| ISA | implementation | wall time (s) | ms / temperature | log Z estimate | std. error | time vs compiled ebm-playground | rbms time / this |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    ours = best[ours_name][0]
    gemm = best.pop("floor")[0]
    peer_t = best.get(peer_name, (float("nan"),))[0]
    print(f"| {isa} | two matmuls per temperature alone (floor) | {gemm:.1f} | {gemm / (n_betas - 1) * 1e3:.2f} | | | {gemm / ours:.2f}x | |")
    for name, (t, lz, se) in best.items():
        se_s = "" if se != se else f"{se:.3f}"
        print(f"| {isa} | {name} | {t:.1f} | {t / (n_betas - 1) * 1e3:.2f} | {lz:.2f} | {se_s} | {t / ours:.2f}x | {peer_t / t:.2f}x |")
    if round_ratios:
        print("\nrbms / compiled ebm-playground in each round: " + ", ".join(f"{r:.2f}x" for r in round_ratios))
    if device.type == "cpu":
        from peak_flops import fma_peak_gflops

        peak = fma_peak_gflops()
        floor_gflops = 2 * 2 * n_chains * n_vis * n_hid * (n_betas - 1) / gemm / 1e9  # two products, 2 flops per multiply-add
        if peak is not None:
            best_possible = peer_t / (gemm * floor_gflops / peak[0])
            print(f"\nhardware bound: the two products run at {floor_gflops:.1f} GFLOP/s, {100 * floor_gflops / peak[0]:.0f}% of this core's measured "
                  f"float32 FMA peak ({peak[0]:.1f} GFLOP/s, {peak[1]}-wide vectors, benchmarks/peak_flops.py); AIS with these two products "
                  f"can be at most {peer_t / gemm:.2f}x rbms with this BLAS, {best_possible:.2f}x with a GEMM at the FMA peak")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

if __name__ == "__main__":
    main()
