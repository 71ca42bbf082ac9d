"""Sparse coding speed: the plain call ebm.sparse.fista(x, D, alpha) and the tuned compiled call
against scikit-learn's sparse_encode (lasso_cd) on the same problems, in one run, on AVX-512 or
(emulated) AVX2.

Problem (issue 6): a 64x256 unit-norm Gaussian dictionary (k=256 atoms of f=64), n signals from
10%-dense Gaussian codes plus noise (sigma 0.01), alpha = 0.1 x median_i ||D x_i^T||_inf, float64.
Rows of the table, per thread count t (torch threads = t; scikit-learn with n_jobs=None, one
worker, and n_jobs=t):

* ``fista(x, D, alpha)`` -- the plain call: its defaults (tol 1e-6 relative duality gap, float32
  iterations in C, float64 gap certificate and C polish, compile="auto");
* ``fista(x, D, alpha, tol=1e-7)`` -- the plain call at the tolerance of the tuned row;
* ``fista(..., tol=1e-7, compile=True)`` -- the tuned call (iterations fused by torch.compile);
* lasso_cd, and with --textbook the textbook configuration (float64, no polish, no compile).

Columns: best-of-R wall time (interleaved repeats), the total objective relative to lasso_cd's, the
speed-up over lasso_cd, and the fraction of the hardware bound: the time the GEMMs of the
iterations that solve actually ran (sum of n_iter x the two thin products, 2kf multiply-adds per
row and step) would take at the float32 GEMM rate measured on this machine at this thread count,
divided by the measured time (1.0 = nothing but the products at full GEMM speed).

--isa avx2 re-runs this script in a child process with ATEN_CPU_CAPABILITY=avx2 (torch's own
kernels), MKL_ENABLE_INSTRUCTIONS=AVX2 and DNNL_MAX_CPU_ISA=AVX2 (the GEMMs),
EBM_NATIVE_MARCH=x86-64-v3 (the C kernels of ebm.sparse.native) and
torch._inductor.config.cpp.simdlen=256 (compile=True), so both rows come from one machine; the
capability in force is printed. OMP/MKL/OPENBLAS_NUM_THREADS default to 1 (set below, before numpy
and torch load) so every scikit-learn worker uses one core.

    python3 benchmarks/sparse_vs_sklearn.py --isa native --repeats 5
    python3 benchmarks/sparse_vs_sklearn.py --isa avx2 --repeats 5
    python3 benchmarks/sparse_vs_sklearn.py [--quick] [--n 10000] [--threads 1,2] [--textbook]
"""

import argparse
import os
import subprocess
import sys

AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "EBM_NATIVE_MARCH": "x86-64-v3", "EBM_BENCH_SIMDLEN": "256"}

if __name__ == "__main__" and "--isa" in sys.argv and sys.argv[sys.argv.index("--isa") + 1:][:1] == ["avx2"] and os.environ.get("EBM_BENCH_ISA") != "avx2":
    # Re-execute with the AVX2 settings in the environment before torch, MKL or oneDNN load.
    sys.exit(subprocess.call([sys.executable, *sys.argv], env={**os.environ, **AVX2_ENV, "EBM_BENCH_ISA": "avx2"}))

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per worker for every library (before numpy/torch load)

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import sparse_encode  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ebm.sparse import fista, native, objective  # noqa: E402

if os.environ.get("EBM_BENCH_SIMDLEN"):
    import torch._inductor.config as _inductor_config

    _inductor_config.cpp.simdlen = int(os.environ["EBM_BENCH_SIMDLEN"])


def make_problem(n, k=256, f=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(k, f, generator=g, dtype=torch.float64)
    d = d / d.norm(dim=1, keepdim=True)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * (torch.rand(n, k, generator=g, dtype=torch.float64) < 0.1)
    x = z @ d + 0.01 * torch.randn(n, f, generator=g, dtype=torch.float64)
    alpha = 0.1 * float((x @ d.T).abs().amax(1).median())
    return x, d, alpha


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown CPU")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    return f"{name} ({'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'} in hardware, {os.cpu_count()} logical CPUs)"


def gemm_rate(n, k, f, repeats=7) -> float:
    """Measured float32 multiply-adds per second of the two thin products (n, k) @ (k, f) and (n, f) @ (f, k)."""
    g = torch.Generator().manual_seed(1)
    y, d, w = (torch.randn(*s, generator=g) for s in ((n, k), (k, f), (f, k)))
    p, u = torch.empty(n, f), torch.empty(n, k)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(torch.mm(y, d, out=p), w, out=u)
        best = min(best, time.perf_counter() - t)
    return 2 * n * k * f / best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--isa", choices=["native", "avx2"], default="native", help="avx2: re-run with AVX2 kernels everywhere (see the module docstring)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts, each a separate block of the table")
    p.add_argument("--textbook", action="store_true", help="add the float64, unpolished, uncompiled row (slow)")
    args = p.parse_args()
    n = 1000 if args.quick else args.n
    x, d, alpha = make_problem(n)
    k, f = d.shape
    xn, dn = x.numpy(), d.numpy()
    isa = os.environ.get("EBM_BENCH_ISA", "native")
    native.available()
    print(f"**Preliminary, machine shared with other jobs.** CPU: {cpu_name()}. ISA row: {isa} -- torch CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, C kernels -march={native.target_march()}, inductor simdlen "
          f"{os.environ.get('EBM_BENCH_SIMDLEN', 'default')}, MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'unset')}. "
          f"n={n}, dictionary {k}x{f}, alpha={alpha:.4f}, float64 data, best of {args.repeats} interleaved repeats, "
          f"torch {torch.__version__}, load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    tuned_kw = dict(tol=1e-7, compute_dtype=torch.float32, polish=True, max_iter=5000)
    first = []
    print("| ISA | threads | call | time (s) | objective rel. to lasso_cd | vs lasso_cd (n_jobs=None) | vs lasso_cd (n_jobs=threads) | fraction of GEMM bound |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        rate = gemm_rate(n, k, f)
        best, objs, iters = {}, {}, {}
        # First calls, outside the table: the plain one (C kernels already built and cached on
        # disk after the first ever run) and the compiled one (dynamo + inductor, or inductor's
        # FX-graph cache from an earlier process).
        for name, fn in (("plain call", lambda: fista(x, d, alpha)), ("compile=True", lambda: fista(x, d, alpha, compile=True, **tuned_kw))):
            t = time.perf_counter()
            fn()
            first.append((name, threads, time.perf_counter() - t))

        def run(name, fn):
            t = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t
            best[name] = min(best.get(name, np.inf), dt)
            codes = out.codes if hasattr(out, "codes") else torch.as_tensor(np.asarray(out))
            objs[name] = float(objective(x, codes, d, alpha).sum())
            if hasattr(out, "n_iter"):
                iters[name] = int(out.n_iter.sum())

        cd1, cdt = "sklearn lasso_cd (n_jobs=None)", f"sklearn lasso_cd (n_jobs={threads})"
        rows = [
            (cd1, lambda: sparse_encode(xn, dn, algorithm="lasso_cd", alpha=alpha)),
            ("`fista(x, D, alpha)` (plain call)", lambda: fista(x, d, alpha)),
            ("`fista(x, D, alpha, tol=1e-7)` (plain, tuned tol)", lambda: fista(x, d, alpha, tol=1e-7)),
            ("`fista(x, D, alpha, tol=1e-7, compile=True)` (tuned)", lambda: fista(x, d, alpha, compile=True, **tuned_kw)),
        ]
        if threads > 1:
            rows.insert(1, (cdt, lambda: sparse_encode(xn, dn, algorithm="lasso_cd", alpha=alpha, n_jobs=threads)))
        if args.textbook:
            rows.append(("textbook (float64, polish=False, compile=False)", lambda: fista(x, d, alpha, tol=1e-7, compute_dtype=None, polish=False, compile=False, max_iter=5000)))
        for _ in range(args.repeats):  # interleaved repeats, best of R
            for name, fn in rows:
                run(name, fn)
        ref, base = objs[cd1], best[cd1]
        base_t = best.get(cdt, base)
        for name, _ in rows:
            bound = f"{2 * iters[name] * k * f / rate / best[name]:.2f}" if name in iters else ""
            print(f"| {isa} | {threads} | {name} | {best[name]:.3f} | {(objs[name] - ref) / ref:+.1e} | {base / best[name]:.2f}x | {base_t / best[name]:.2f}x | {bound} |")
        print(f"| {isa} | {threads} | (float32 GEMM rate measured: {2 * rate / 1e9:.0f} GFLOP/s) | | | | | |")
    print()
    for name, threads, seconds in first:
        print(f"- {isa}, {threads} thread(s): first {name} in this process: {seconds:.1f} s (not in the table)")
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
