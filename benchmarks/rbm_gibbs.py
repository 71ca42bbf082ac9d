"""Benchmark: one RBM Gibbs sweep v -> h -> v at 784 x 500 with 1,000 chains, float32.

Compares, in one run (interleaved, best of several repeats):
  * the two matrix products alone (v @ W and h @ W.T): the GEMM ceiling of a sweep;
  * ebm-playground: `BernoulliRBM.sample_h` / `sample_v` through `samplers.BlockGibbs`, eager and
    with ``compile=True`` (each sweep fused; uniforms from the counter-based generator inside the
    fused loops; compilation is timed separately and not in the rates);
  * scikit-learn `BernoulliRBM.gibbs` (NumPy, float32 weights);
  * the `rbms` library (`BBRBM.sample_state`, its jit-scripted Gibbs step).

The plain call (``rbm_block_gibbs(rbm)``, no options: ``compile="auto"``) is one sampler object
reused over the warm-up and the repeats, as a training loop reuses it; "auto" fuses it once its
accumulated work (block sizes × sweeps) passes the break-even, and the table says whether it was
fused when timed.

Run: python3 benchmarks/rbm_gibbs.py [--isa native|avx2] [--quick] [--threads N] [--repeats R]
(``--isa avx2``: every library with AVX2 code, see benchmarks/isa_env.py; the output is markdown.)
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


def best_time(fn, repeats: int, inner: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer chains and repeats")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads for every library")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (the best is kept)")
    add_isa_argument(parser)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch

    configure_inductor()
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    torch.set_num_threads(args.threads)
    from ebm.energies import BernoulliRBM
    from ebm.objectives import rbm_block_gibbs

    n_vis, n_hid = 784, 500
    chains = 100 if args.quick else 1000
    repeats, sweeps = (2, 3) if args.quick else (args.repeats, 10)
    g = torch.Generator().manual_seed(0)
    rbm = BernoulliRBM(n_vis, n_hid, weight_scale=0.05, generator=g)
    v0 = torch.bernoulli(torch.full((chains, n_vis), 0.5), generator=g)
    h0 = torch.zeros(chains, n_hid)
    W = rbm.weight.detach()
    hh = torch.bernoulli(torch.full((chains, n_hid), 0.5), generator=g)
    sampler = rbm_block_gibbs(rbm, compile=False)
    plain = rbm_block_gibbs(rbm)
    compiled = rbm_block_gibbs(rbm, compile=True)
    t0 = time.perf_counter()
    with torch.no_grad():
        compiled.run(None, (h0, v0), 1, generator=g)
    compile_s = time.perf_counter() - t0

    def gemm():
        torch.mm(v0, W)
        torch.mm(hh, W.T)

    def ours():
        with torch.no_grad():
            sampler.run(None, (h0, v0), sweeps, generator=g)

    def ours_compiled():
        with torch.no_grad():
            compiled.run(None, (h0, v0), sweeps, generator=g)

    plain_runs = []

    def ours_plain():
        with torch.no_grad():
            plain.run(None, (h0, v0), sweeps, generator=g)
        plain_runs.append(plain._fused)

    # The plain sampler's warm-up: run it as a loop would until "auto" fuses it (at most 100 runs);
    # the run that compiles is timed apart.
    plain_compile = None
    for i in range(100):
        t0 = time.perf_counter()
        ours_plain()
        if plain._fused:
            plain_compile = (i + 1, time.perf_counter() - t0)
            break

    from sklearn.neural_network import BernoulliRBM as SkRBM

    sk = SkRBM(n_components=n_hid, n_iter=1, random_state=0).fit(np.zeros((2, n_vis), dtype=np.float32))
    sk.components_ = W.numpy().T.copy()  # (H, V) float32
    sk.intercept_hidden_ = np.zeros(n_hid, dtype=np.float32)
    sk.intercept_visible_ = np.zeros(n_vis, dtype=np.float32)
    v_np = v0.numpy()

    def sklearn_sweeps():
        v = v_np
        for _ in range(sweeps):
            v = sk.gibbs(v)

    runners = {"GEMM only (2 matmuls)": (gemm, 1), "ebm-playground rbm_block_gibbs(compile=True)": (ours_compiled, sweeps), "ebm-playground rbm_block_gibbs (plain call)": (ours_plain, sweeps),
               "ebm-playground rbm_block_gibbs(compile=False)": (ours, sweeps), "scikit-learn BernoulliRBM.gibbs": (sklearn_sweeps, sweeps)}
    try:
        from rbms.bernoulli_bernoulli.classes import BBRBM

        peer = BBRBM(weight_matrix=W.clone(), vbias=torch.zeros(n_vis), hbias=torch.zeros(n_hid))
        peer_chains = peer.init_chains(chains, start_v=v0.clone())

        def rbms_sweeps():
            peer.sample_state(peer_chains, sweeps)  # sweeps v->h->v plus one final h draw

        runners["rbms BBRBM.sample_state"] = (rbms_sweeps, sweeps)
    except ImportError:
        print("rbms is not installed (pip install rbms); skipping it")

    times = {name: float("inf") for name in runners}
    for _ in range(repeats):  # interleave the libraries so load spikes hit all of them
        for name, (fn, per) in runners.items():
            times[name] = min(times[name], best_time(fn, 1, 3 if per == 1 else 1) / per)
    ceiling = times["GEMM only (2 matmuls)"]
    isa = os.environ.get("EBM_BENCH_ISA", "native")
    print(f"\nRBM Gibbs sweep v->h->v, {n_vis}x{n_hid}, {chains} chains, float32, torch {torch.__version__}, {args.threads} thread(s)\n")
    print(f"**Preliminary, machine shared with other jobs** (load average before {load_before}, after {' '.join(f'{x:.1f}' for x in os.getloadavg())}). {isa_line()}\n")
    print(f"(compiling the fused sweep took {compile_s:.1f} s, once; not in the rates. Plain call: "
          + (f"auto fused it in its run {plain_compile[0]} ({plain_compile[1]:.1f} s, compilation included); timed fused)" if plain_compile else "still eager after 100 runs; timed eager)") + "\n")
    print("| ISA | implementation | ms / sweep | GEMM ceiling / time | time / compiled sweep | scikit-learn time / this | rbms time / this |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ours_t = times["ebm-playground rbm_block_gibbs(compile=True)"]
    sk_t = times["scikit-learn BernoulliRBM.gibbs"]
    rb_t = times.get("rbms BBRBM.sample_state", float("nan"))
    for name, t in times.items():
        print(f"| {isa} | {name} | {t * 1e3:.2f} | {ceiling / t:.0%} | {t / ours_t:.2f}x | {sk_t / t:.2f}x | {rb_t / t:.2f}x |")


if __name__ == "__main__":
    main()
