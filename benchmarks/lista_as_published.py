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
   prediction error itself (lista_supervised_loss: mean ||z - z*||^2, Adam through ebm.train) until
   the prediction error on a validation split (--val patches, separate from the test patches) stops
   improving: LISTAEarlyStopping lowers the learning rate by --factor after --patience epochs
   without improvement and stops when it would go below --min-lr, or at --max-epochs epochs or
   --cpu-seconds of CPU time per network (budgets in epochs and CPU time, not wall clock: the
   machine is shared), keeping the best epoch's parameters (the start counts as epoch 0). Each network starts from the trained
   shallower one (lista_warm_start: shared W_e, S and thresholds copied, the extra layers repeating
   the last threshold; --no-warm-start starts each from ISTA). With --untied, a second row trains
   untied networks (one W_l, S_l per layer; Chen et al. 2018) of 2..16 layers, each started from
   the trained tied network of the same depth;
5. for each network, the held-out prediction error and the ISTA, FISTA (plain momentum, no restart,
   as in the paper's era) and CoD iterations that first reach it (textbook float64 iterations from
   z = 0; found on a grid, then by bisection).

Prints a markdown table and writes the figure (prediction error vs iterations, log-log, LISTA as
points at its depth) to docs/images/lista_as_published.png.

    python3 benchmarks/lista_as_published.py --untied        # the BENCHMARKS.md run
    python3 benchmarks/lista_as_published.py --quick         # smoke run
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ebm.sparse import LISTA, LISTAEarlyStopping, coordinate_descent, fista, ista, iterations_to_reach, learn_dictionary, lista_supervised_loss, lista_warm_start, prediction_error, sample_image_patches  # noqa: E402
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


def fit(net, data, val, args, generator):
    """Train ``net`` to convergence on the validation error; returns (epochs run, the callback)."""
    stop = LISTAEarlyStopping(*val, patience=args.patience, factor=args.factor, min_lr=args.min_lr, min_improvement=args.min_improvement,
                              max_epochs=args.max_epochs, cpu_seconds=args.cpu_seconds)
    stop.record_start(net)  # epoch 0: a warm-started network never ends worse than it started
    hist = train(net, lista_supervised_loss, data, epochs=args.max_epochs, batch_size=args.batch_size, lr=args.lr, generator=generator,
                 progress=False, callbacks=[stop])
    stop.restore(net)
    stop.stop_reason = stop.stop_reason or "max_epochs"
    return hist.epochs_done, stop


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--patch", type=int, default=10)
    p.add_argument("--atoms", type=int, default=100)
    p.add_argument("--train", type=int, default=10000)
    p.add_argument("--val", type=int, default=1000, help="validation patches (early stopping), separate from the test patches")
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--alpha", type=float, default=0.5, help="coding and dictionary-learning l1 weight (patches have unit variance)")
    p.add_argument("--dict-epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--patience", type=int, default=10, help="epochs without validation improvement before the learning rate is lowered")
    p.add_argument("--factor", type=float, default=0.3, help="learning-rate multiplier on a plateau")
    p.add_argument("--min-lr", type=float, default=1e-6, help="stop instead of lowering the learning rate below this")
    p.add_argument("--min-improvement", type=float, default=0.0, help="relative decrease of the validation error that counts as progress")
    p.add_argument("--max-epochs", type=int, default=1000, help="epoch budget per network")
    p.add_argument("--cpu-seconds", type=float, default=600.0, help="CPU-time budget per network (process CPU time, one thread)")
    p.add_argument("--no-warm-start", action="store_true", help="start every network from the ISTA initialisation")
    p.add_argument("--untied", action="store_true", help="also train untied networks (2..16 layers), each from the trained tied one")
    p.add_argument("--max-iter", type=int, default=2000, help="largest ISTA/FISTA/CoD iteration count searched")
    p.add_argument("--figure", default=str(ROOT / "docs" / "images" / "lista_as_published.png"))
    args = p.parse_args()
    if args.quick:
        args.train, args.val, args.test, args.dict_epochs, args.max_epochs, args.max_iter = 1000, 200, 200, 2, 3, 300
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    x = sample_image_patches(args.train + args.val + args.test, args.patch, generator=g)  # (n, f), float64
    tr, va, te = x[: args.train], x[args.train : args.train + args.val], x[args.train + args.val :]
    d = learn_dictionary(tr, args.atoms, args.alpha, n_epochs=args.dict_epochs, method="online", batch_size=256, generator=g).dictionary
    z_tr, z_va, z_te = (fista(v, d, args.alpha, tol=1e-10, max_iter=50_000).codes for v in (tr, va, te))
    setup = time.perf_counter() - t0
    density = float((z_te != 0).double().mean())
    print(f"patches {args.patch}x{args.patch} from sklearn's sample images, {args.train} train / {args.val} validation / {args.test} test; "
          f"{args.atoms} atoms learned online ({args.dict_epochs} epochs), alpha={args.alpha}; optimal codes {density:.1%} non-zero; "
          f"set-up {setup:.0f} s; one thread; load average at start {os.getloadavg()[0]:.1f}\n")

    trf, zf, val = tr.float(), z_tr.float(), (va.float(), z_va.float())
    tef = te.float()
    nets, info = {}, {}
    prev = None
    for depth in DEPTHS:
        net = LISTA(d.float(), args.alpha, n_layers=depth) if prev is None or args.no_warm_start else lista_warm_start(prev, depth)
        info[("tied", depth)] = fit(net, (trf, zf), val, args, g)
        nets[("tied", depth)] = prev = net
        e, cb = info[("tied", depth)]
        print(f"  tied {depth:2d} layers: {e} epochs (best {cb.best_epoch}), {cb.lr_decays} lr decays, stop: {cb.stop_reason}, "
              f"{cb.cpu_time:.0f} CPU s, validation error {cb.best_error:.4f}; load {os.getloadavg()[0]:.1f}", flush=True)
    if args.untied:
        for depth in DEPTHS[1:]:
            net = lista_warm_start(nets[("tied", depth)], depth, tied=False)
            info[("untied", depth)] = fit(net, (trf, zf), val, args, g)
            nets[("untied", depth)] = net
            e, cb = info[("untied", depth)]
            print(f"  untied {depth:2d} layers: {e} epochs (best {cb.best_epoch}), {cb.lr_decays} lr decays, stop: {cb.stop_reason}, "
                  f"{cb.cpu_time:.0f} CPU s, validation error {cb.best_error:.4f}; load {os.getloadavg()[0]:.1f}", flush=True)

    # Textbook iterations in float64 from zero (tol=0: a fixed count; no polish, no restart).
    solvers = {
        "ISTA": lambda m: ista(te, d, args.alpha, max_iter=m, tol=0).codes,
        "FISTA": lambda m: fista(te, d, args.alpha, max_iter=m, tol=0, restart=False).codes,
        "CoD": lambda m: coordinate_descent(te, d, args.alpha, m),
    }
    grid = sorted({m for m in list(range(1, 21)) + [round(1.25**i) for i in range(14, 60)] if m <= args.max_iter})
    curves = {name: error_curve(fn, z_te, grid) for name, fn in solvers.items()}
    print("\n| LISTA | layers | epochs (best) | lr decays | stop | CPU s | prediction error (validation) | prediction error (test) | ISTA iterations to reach it | FISTA | CoD | ISTA iterations / layers | FISTA iterations / layers |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    show = lambda m: str(m) if m is not None else f"> {args.max_iter}"  # noqa: E731
    with torch.no_grad():
        for (kind, depth), net in nets.items():
            err = prediction_error(net(tef).double(), z_te)
            need = {name: first_reaching(fn, z_te, curves[name], err) for name, fn in solvers.items()}
            rows.append((kind, depth, err, need))
            epochs, cb = info[(kind, depth)]
            ratio = lambda name: f"{need[name] / depth:.1f}x" if need[name] else f"> {args.max_iter / depth:.0f}x"  # noqa: E731
            print(f"| {kind} | {depth} | {epochs} ({cb.best_epoch}) | {cb.lr_decays} | {cb.stop_reason} | {cb.cpu_time:.0f} | {cb.best_error:.4f} | {err:.4f} | "
                  f"{show(need['ISTA'])} | {show(need['FISTA'])} | {show(need['CoD'])} | {ratio('ISTA')} | {ratio('FISTA')} |")
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
    for kind, style in (("tied", "ko-"), ("untied", "ks--")):
        pts = [(r[1], r[2]) for r in rows if r[0] == kind]
        if pts:
            ax.loglog(*zip(*pts), style, mfc="white" if kind == "untied" else None, label=f"LISTA, {kind} (x = layers)")
    ax.set(xlabel="iterations (ISTA, FISTA: full steps; CoD: one coordinate) / LISTA layers", ylabel="prediction error ‖z − z*‖² / ‖z*‖²",
           title=f"Code prediction error, {args.patch}×{args.patch} natural patches, {args.atoms} atoms")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"\nfigure: {Path(args.figure).relative_to(ROOT) if Path(args.figure).is_relative_to(ROOT) else args.figure}; total {time.perf_counter() - t0:.0f} s")
    if not all(math.isfinite(r[2]) for r in rows):
        raise SystemExit("non-finite prediction error")


if __name__ == "__main__":
    main()
