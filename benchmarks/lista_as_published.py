"""LISTA measured as Gregor & LeCun (2010) measured it: code prediction error vs iterations on natural patches.

Gregor & LeCun, "Learning Fast Approximations of Sparse Coding" (ICML 2010), judge a learned
encoder by its code prediction error ||z - z*||^2 / ||z*||^2 against the optimal codes z*, on
natural-image patches, and compare it with the number of ISTA / FISTA / coordinate-descent (CoD)
iterations that reach the same error. This script reproduces that measurement here:

1. patches: --patch x --patch (default 10x10) grey patches from the two photographs scikit-learn
   ships (ebm.sparse.sample_image_patches: each patch minus its mean, unit global variance),
   --train training and --test held-out patches;
2. a dictionary of --atoms atoms learned on the training patches (ebm.sparse.learn_dictionary,
   online, --dict-epochs epochs), at the coding alpha;
3. the optimal codes z* of every patch by a certified solve (fista, relative duality gap 1e-10);
4. LISTA (tied weights, Gregor & LeCun's form) with 1, 2, 4, 8, 16 layers, each trained on the
   prediction error itself (lista_supervised_loss: mean ||z - z*||^2, Adam through ebm.train) for
   --seconds of wall clock (one train call per network);
5. for each network, the held-out prediction error and the ISTA, FISTA (plain momentum, no restart,
   as in the paper's era) and CoD iterations that first reach it (textbook float64 iterations from
   z = 0; found on a grid, then by bisection).

Prints a markdown table and writes the figure (prediction error vs iterations, log-log, LISTA as
points at its depth) to docs/images/lista_as_published.png.

    python3 benchmarks/lista_as_published.py                 # the BENCHMARKS.md run (about 4 CPU minutes of training)
    python3 benchmarks/lista_as_published.py --quick         # smoke run
"""

import argparse
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ebm.sparse import LISTA, coordinate_descent, fista, ista, iterations_to_reach, learn_dictionary, lista_supervised_loss, prediction_error, sample_image_patches  # noqa: E402
from ebm.train import train  # noqa: E402

DEPTHS = (1, 2, 4, 8, 16)


def error_curve(solve, z_star, grid):
    """Prediction error after each iteration count of ``grid``."""
    return {m: prediction_error(solve(m), z_star) for m in grid}


def first_reaching(solve, z_star, curve, target):
    """Fewest iterations whose error is <= target: the first grid point that reaches it, refined by bisection below it."""
    grid = sorted(curve)
    hit = iterations_to_reach([curve[m] for m in grid], target)
    if hit is None:
        return None
    hi = grid[hit - 1]
    lo = grid[hit - 2] if hit > 1 else 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if prediction_error(solve(mid), z_star) <= target else (mid, hi)
    return hi


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--patch", type=int, default=10)
    p.add_argument("--atoms", type=int, default=100)
    p.add_argument("--train", type=int, default=10000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--alpha", type=float, default=0.5, help="coding and dictionary-learning l1 weight (patches have unit variance)")
    p.add_argument("--dict-epochs", type=int, default=10)
    p.add_argument("--seconds", type=float, default=45.0, help="training wall clock per network")
    p.add_argument("--max-iter", type=int, default=2000, help="largest ISTA/FISTA/CoD iteration count searched")
    p.add_argument("--figure", default=str(ROOT / "docs" / "images" / "lista_as_published.png"))
    args = p.parse_args()
    if args.quick:
        args.train, args.test, args.dict_epochs, args.seconds, args.max_iter = 1000, 200, 2, 2.0, 300
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    x = sample_image_patches(args.train + args.test, args.patch, generator=g)  # (n, f), float64
    tr, te = x[: args.train], x[args.train :]
    d = learn_dictionary(tr, args.atoms, args.alpha, n_epochs=args.dict_epochs, method="online", batch_size=256, generator=g).dictionary
    z_tr = fista(tr, d, args.alpha, tol=1e-10, max_iter=50_000).codes
    z_te = fista(te, d, args.alpha, tol=1e-10, max_iter=50_000).codes
    setup = time.perf_counter() - t0
    density = float((z_te != 0).double().mean())
    print(f"patches {args.patch}x{args.patch} from sklearn's sample images, {args.train} train / {args.test} held out; "
          f"{args.atoms} atoms learned online ({args.dict_epochs} epochs), alpha={args.alpha}; optimal codes {density:.1%} non-zero; "
          f"set-up {setup:.0f} s; training {args.seconds:.0f} s per network, one thread\n")

    trf, tef, zf = tr.float(), te.float(), z_tr.float()
    nets, info = {}, {}
    for depth in DEPTHS:
        net = LISTA(d.float(), args.alpha, n_layers=depth)
        start = time.perf_counter()
        stop = lambda state: time.perf_counter() - start >= args.seconds  # noqa: E731
        hist = train(net, lista_supervised_loss, (trf, zf), epochs=1_000_000, batch_size=100, lr=1e-3, generator=g, progress=False, callbacks=[stop])
        nets[depth], info[depth] = net, hist.epochs_done

    # Textbook iterations in float64 from zero (tol=0: a fixed count; no polish, no restart).
    solvers = {
        "ISTA": lambda m: ista(te, d, args.alpha, max_iter=m, tol=0).codes,
        "FISTA": lambda m: fista(te, d, args.alpha, max_iter=m, tol=0, restart=False).codes,
        "CoD": lambda m: coordinate_descent(te, d, args.alpha, m),
    }
    grid = sorted({m for m in list(range(1, 21)) + [round(1.25**i) for i in range(14, 60)] if m <= args.max_iter})
    curves = {name: error_curve(fn, z_te, grid) for name, fn in solvers.items()}
    print("| LISTA layers | training epochs | prediction error (held out) | ISTA iterations to reach it | FISTA | CoD | FISTA iterations / layers |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    with torch.no_grad():
        for depth, net in nets.items():
            err = prediction_error(net(tef).double(), z_te)
            need = {name: first_reaching(fn, z_te, curves[name], err) for name, fn in solvers.items()}
            rows.append((depth, err, need))
            show = lambda m: str(m) if m is not None else f"> {args.max_iter}"  # noqa: E731
            ratio = f"{need['FISTA'] / depth:.1f}x" if need["FISTA"] else f"> {args.max_iter / depth:.0f}x"
            print(f"| {depth} | {info[depth]} | {err:.3f} | {show(need['ISTA'])} | {show(need['FISTA'])} | {show(need['CoD'])} | {ratio} |")
    print("\n| iterations | " + " | ".join(solvers) + " |\n|---|---|---|---|")
    for m in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]:
        if m in grid:
            print(f"| {m} | " + " | ".join(f"{curves[name][m]:.3f}" for name in solvers) + " |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    for name, curve in curves.items():
        ax.loglog(list(curve), list(curve.values()), label=name)
    ax.loglog([r[0] for r in rows], [r[1] for r in rows], "ko-", label="LISTA (layers)")
    ax.set(xlabel="iterations (ISTA, FISTA: full steps; CoD: one coordinate) / LISTA layers", ylabel="prediction error ‖z − z*‖² / ‖z*‖²",
           title=f"Code prediction error, {args.patch}×{args.patch} natural patches, {args.atoms} atoms")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"\nfigure: {Path(args.figure).relative_to(ROOT) if Path(args.figure).is_relative_to(ROOT) else args.figure}; total {time.perf_counter() - t0:.0f} s")
    if not math.isfinite(rows[-1][1]):
        raise SystemExit("non-finite prediction error")


if __name__ == "__main__":
    main()
