"""Sparse coding speed: ebm.sparse.fista (float32 iterations + certified float64 active-set polish,
eager and with compile=True) against scikit-learn's sparse_encode (lasso_cd, lasso_lars) on the
same problems, in one run.

Problem (issue 6): a 64x256 unit-norm Gaussian dictionary (k=256 atoms of f=64), n signals from
10%-dense Gaussian codes plus noise (sigma 0.01), alpha = 0.1 x median_i ||D x_i^T||_inf. Reported:
best-of-R wall time, the total objective relative to lasso_cd's, and the speed-up over lasso_cd.
Our solver stops each signal when its float64 duality gap is <= 1e-7 x its objective, so its total
objective is within 1e-7 relative of the optimum (and hence of lasso_cd's).

Both libraries get the same number of cores per block of the table: torch threads = t, and
scikit-learn's sparse_encode with n_jobs = t (joblib workers over slices of the signals) besides
its default n_jobs=None (one worker). OMP/MKL/OPENBLAS_NUM_THREADS default to 1 (set below, before
numpy and torch load), so numpy's BLAS in the main process uses one core and each joblib worker
one core; torch.set_num_threads(t) sets torch's count per block.

compile=True pays a one-off compilation on its first solve at each thread count (the fused steps
are then cached for these shapes); that time is measured on a first call outside the repeats and
printed under the table, as for the samplers. The final table of BENCHMARKS.md ("Against scikit-learn") is

    python3 benchmarks/sparse_vs_sklearn.py --repeats 3 --no-lars

    python3 benchmarks/sparse_vs_sklearn.py [--quick] [--n 10000] [--repeats 3] [--threads 1,2] [--no-lars] [--no-f64]
"""

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per worker for every library (before numpy/torch load)

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import sparse_encode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ebm.sparse import fista, objective  # noqa: E402


def make_problem(n, k=256, f=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(k, f, generator=g, dtype=torch.float64)
    d = d / d.norm(dim=1, keepdim=True)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * (torch.rand(n, k, generator=g, dtype=torch.float64) < 0.1)
    x = z @ d + 0.01 * torch.randn(n, f, generator=g, dtype=torch.float64)
    alpha = 0.1 * float((x @ d.T).abs().amax(1).median())
    return x, d, alpha


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts, each a separate block of the table")
    p.add_argument("--no-lars", action="store_true")
    p.add_argument("--no-f64", action="store_true", help="skip the float64-iterations row")
    args = p.parse_args()
    n = 1000 if args.quick else args.n
    x, d, alpha = make_problem(n)
    xn, dn = x.numpy(), d.numpy()
    print(f"n={n}, dictionary 256x64, alpha={alpha:.4f}, best of {args.repeats} interleaved repeats, "
          f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    ours_kw = dict(tol=1e-7, compute_dtype=torch.float32, polish=True, max_iter=5000)
    first = []
    print("| threads | solver | time (s) | objective rel. to lasso_cd | speed-up vs lasso_cd (n_jobs=1) | vs lasso_cd (n_jobs=threads) |")
    print("|---|---|---|---|---|---|")
    for threads in [int(t) for t in args.threads.split(",")]:
        # Same core count for both libraries: torch's intra-op threads, and scikit-learn's joblib
        # workers (sparse_encode splits the signals into n_jobs slices). Its default n_jobs=None
        # is one worker, so that row is always measured too.
        torch.set_num_threads(threads)
        best, objs = {}, {}
        # The first compile=True solve compiles the fused steps (dynamo compiles once per thread
        # count); it is timed separately and kept out of the table.
        t = time.perf_counter()
        fista(x, d, alpha, compile=True, **ours_kw)
        first.append((threads, time.perf_counter() - t))

        def run(name, fn):
            t = time.perf_counter()
            codes = fn()
            dt = time.perf_counter() - t
            best[name] = min(best.get(name, np.inf), dt)
            objs[name] = float(objective(x, torch.as_tensor(np.asarray(codes)), d, alpha).sum())

        ours = lambda: fista(x, d, alpha, **ours_kw).codes  # noqa: E731
        ours_c = lambda: fista(x, d, alpha, compile=True, **ours_kw).codes  # noqa: E731
        ours64 = lambda: fista(x, d, alpha, tol=1e-7, polish=True, max_iter=5000).codes  # noqa: E731
        cd1 = "sklearn lasso_cd (n_jobs=None: 1 worker)"
        cdt = f"sklearn lasso_cd (n_jobs={threads})"
        for r in range(args.repeats):  # interleaved repeats, best of R
            run(cd1, lambda: sparse_encode(xn, dn, algorithm="lasso_cd", alpha=alpha))
            if threads > 1:
                run(cdt, lambda: sparse_encode(xn, dn, algorithm="lasso_cd", alpha=alpha, n_jobs=threads))
            run("ebm fista (f32 iterations + f64 polish)", ours)
            run("ebm fista (f32 iterations + f64 polish, compile=True)", ours_c)
            if not args.no_f64:
                run("ebm fista (f64 + polish)", ours64)
            if r == 0 and not args.no_lars:
                run("sklearn lasso_lars (n_jobs=None)", lambda: sparse_encode(xn, dn, algorithm="lasso_lars", alpha=alpha))
        ref, base = objs[cd1], best[cd1]
        base_t = best.get(cdt, base)
        for name in best:
            print(f"| {threads} | {name} | {best[name]:.3f} | {(objs[name] - ref) / ref:+.2e} | {base / best[name]:.2f}x | {base_t / best[name]:.2f}x |")
    for threads, seconds in first:
        print(f"\ncompile=True, {threads} thread(s): first solve (compilation + one solve, not in the table) {seconds:.1f} s", end="")
    print(f"\n\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
