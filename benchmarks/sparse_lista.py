"""LISTA vs ISTA/FISTA: objective gap vs depth on held-out signals, and 250x500 recovery NMSE.

Part 1 (issue 6, benchmark 2): 64x256 unit-norm Gaussian dictionary, 10%-dense codes, alpha as in
sparse_vs_sklearn.py; LISTA and ALISTA (16 layers) trained on the sparse-coding objective with
ebm.train (one `train` call per network, so Adam keeps its moment estimates for the whole run,
stopped by a wall-clock callback: a quarter of --minutes each);
reported: mean relative objective gap (P - P*)/P* on held-out signals vs layers / iterations.
Part 2 (benchmark 3): the 250x500 problem (Gaussian dictionary with columns of unit norm in
expectation, Bernoulli-Gaussian codes p=0.1, noiseless and 20 dB SNR); LISTA trained on FISTA
codes (supervised), each network for an eighth of --minutes per setting; NMSE(dB) = 10 log10(||z - z0||^2 / ||z0||^2)
against the true codes, vs layers.

    python3 benchmarks/sparse_lista.py [--quick] [--minutes 2]
    python3 benchmarks/sparse_lista.py --device cuda --minutes 5 --train-signals 200000 --batch-size 1000

Data are drawn on the CPU with one seeded generator and moved to ``--device``; training and
evaluation run there.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ebm.sparse import ALISTA, LISTA, fista, ista, lista_objective_loss, lista_supervised_loss, objective  # noqa: E402
from ebm.train import train  # noqa: E402


def part1(quick, minutes, g, args):
    k, f, layers = 256, 64, 16
    d = torch.nn.functional.normalize(torch.randn(k, f, generator=g), dim=1)
    n_train = 2000 if quick else args.train_signals or 5000
    z = torch.randn(n_train + 1000, k, generator=g) * (torch.rand(n_train + 1000, k, generator=g) < 0.1)
    x = z @ d + 0.01 * torch.randn(n_train + 1000, f, generator=g)
    d, x = d.to(args.device), x.to(args.device)
    alpha = 0.1 * float((x @ d.T).abs().amax(1).median())
    tr, te = x[:n_train], x[n_train:]
    p_star = objective(te.double(), fista(te.double(), d.double(), alpha, tol=1e-10, polish=True).codes, d.double(), alpha)
    nets, info = {}, []
    for name, net, lr in (("LISTA", LISTA(d, alpha, n_layers=layers), 1e-3), ("ALISTA", ALISTA(d, alpha, n_layers=layers), 3e-3)):
        epochs, seconds = _train_for(net, lista_objective_loss, tr, minutes * 60 * 0.25, quick, lr, g, args)
        nets[name] = net
        info.append(f"{name} {epochs} epochs / {seconds:.0f} s")
    rel = lambda codes: float(((objective(te.double(), codes.double(), d.double(), alpha) - p_star) / p_star).mean())  # noqa: E731
    print(f"\n### LISTA vs iterations (64x256, alpha={alpha:.3f}, trained on the objective of {n_train} signals: {', '.join(info)})\n")
    print("| layers / iterations | ISTA | FISTA | LISTA | ALISTA |")
    print("|---|---|---|---|---|")
    with torch.no_grad():
        for m in (1, 2, 4, 8, 16, 32, 64, 128, 160, 256):
            li = " | ".join(f"{rel(net(te, n_layers=m)):.2e}" if m <= layers else "" for net in nets.values())
            print(f"| {m} | {rel(ista(te, d, alpha, max_iter=m, tol=0).codes):.2e} | {rel(fista(te, d, alpha, max_iter=m, tol=0).codes):.2e} | {li} |")


def _train_for(net, loss, data, seconds, quick, lr, g, args):
    """Train with one `ebm.train.train` call (one Adam state for the whole run) for a wall-clock budget."""
    t0 = time.perf_counter()
    # A callback returning True ends training after the current epoch.
    out_of_time = lambda state: time.perf_counter() - t0 >= seconds  # noqa: E731
    hist = train(net, loss, data, epochs=2 if quick else 1_000_000, batch_size=args.batch_size, lr=lr, generator=g, progress=False, callbacks=[out_of_time])
    return hist.epochs_done, time.perf_counter() - t0


def part2(quick, minutes, g, args):
    f, k, layers = 250, 500, 16
    d_cpu = torch.randn(k, f, generator=g) / math.sqrt(f)  # (k, f): atoms of unit norm in expectation
    d = d_cpu.to(args.device)

    def sample(n, snr_db):  # drawn on the CPU (one seeded generator), returned on the device
        z0 = torch.randn(n, k, generator=g) * (torch.rand(n, k, generator=g) < 0.1)
        clean = z0 @ d_cpu
        if snr_db is None:
            return clean.to(args.device), z0.to(args.device)
        noise = torch.randn(n, f, generator=g)
        scale = clean.norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True) * 10 ** (-snr_db / 20)
        return (clean + scale * noise).to(args.device), z0.to(args.device)

    nmse = lambda z, z0: 10 * math.log10(float(((z - z0) ** 2).sum() / (z0**2).sum()))  # noqa: E731
    for snr in (None, 20):
        alpha = 0.01 if snr is None else 0.05
        n_train = 2000 if quick else args.train_signals or 4000
        x, _ = sample(n_train, snr)
        target = fista(x, d, alpha, tol=1e-5, max_iter=3000).codes
        xt, z0 = sample(1000, snr)
        nets, info = {}, []
        for name, net, lr in (("LISTA", LISTA(d, alpha, n_layers=layers), 5e-4), ("ALISTA", ALISTA(d, alpha, n_layers=layers), 3e-3)):
            epochs, seconds = _train_for(net, lista_supervised_loss, (x, target), minutes * 60 * 0.125, quick, lr, g, args)
            nets[name] = net
            info.append(f"{name} {epochs} epochs / {seconds:.0f} s")
        label = "noiseless" if snr is None else f"{snr} dB"
        print(f"\n### 250x500 recovery, {label} (alpha={alpha}, trained on {n_train} FISTA-coded signals: {', '.join(info)})\n")
        print("| layers / iterations | ISTA NMSE (dB) | FISTA NMSE (dB) | LISTA NMSE (dB) | ALISTA NMSE (dB) |")
        print("|---|---|---|---|---|")
        with torch.no_grad():
            for m in (1, 2, 4, 8, 16, 32, 64, 128):
                li = " | ".join(f"{nmse(net(xt, n_layers=m), z0):.1f}" if m <= layers else "" for net in nets.values())
                print(f"| {m} | {nmse(ista(xt, d, alpha, max_iter=m, tol=0).codes, z0):.1f} | {nmse(fista(xt, d, alpha, max_iter=m, tol=0).codes, z0):.1f} | {li} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--minutes", type=float, default=2.0, help="total training budget")
    p.add_argument("--threads", type=int, default=1, help="torch threads (2 threads on a shared 2-core VM thrash)")
    p.add_argument("--device", default="cpu", help="where training and evaluation run, e.g. cuda")
    p.add_argument("--train-signals", type=int, default=None, help="training set size (default 5,000 / 4,000)")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--parts", nargs="+", default=["1", "2"], help="which parts to run")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    minutes = 0.2 if args.quick else args.minutes
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"device: {where}, torch {torch.__version__}, batch {args.batch_size}, budget {minutes} min")
    if "1" in args.parts:
        part1(args.quick, minutes, g, args)
    if "2" in args.parts:
        part2(args.quick, minutes, g, args)


if __name__ == "__main__":
    main()
