"""LISTA vs ISTA/FISTA: objective gap vs depth on held-out signals, and 250x500 recovery NMSE.

Part 1 (issue 6, benchmark 2), random case: 64x256 unit-norm Gaussian dictionary, 10%-dense
codes, alpha as in sparse_vs_sklearn.py; LISTA and ALISTA (16 layers) trained on the sparse-coding
objective with ebm.train (one `train` call per network, so Adam keeps its moment estimates for the
whole run, stopped by a wall-clock callback: a quarter of --minutes each), and LISTA layer-wise
(--stage-steps-objective steps per stage).
Part 1b (benchmark 2), Gregor & LeCun's setting: scikit-learn's 8x8 digits (ebm.data.load_digits,
train 1,347 / test 450, each image minus its mean), a 256-atom dictionary learned on the training
images by ebm.sparse.learn_dictionary (online, alpha 0.1 as in benchmark 4, 10 epochs), coding
alpha = 0.1 x the median of ||D x^T||_inf over the training images (the rule of benchmark 1);
16-layer LISTA trained on the objective of the training images, (a) in one `train` call with as
many full-depth steps as (b) costs, (b) layer-wise, (c) untied layer-wise, and ALISTA layer-wise.
Both report the mean relative objective gap (P - P*)/P* on held-out signals vs layers / iterations
and the number of FISTA iterations that the 16-layer network matches.
Part 2 (benchmark 3): the 250x500 problem (Gaussian dictionary with columns of unit norm in
expectation, Bernoulli-Gaussian codes p=0.1, noiseless and 20 dB SNR); LISTA and ALISTA
trained layer-wise on the true codes of fresh signals drawn for every batch (Chen et al. 2018);
NMSE(dB) = 10 log10(||z - z0||^2 / ||z0||^2) against the true codes, vs layers.

Layer-wise schedule (Chen, Liu, Wang & Yin 2018, arXiv:1808.10038; Liu et al. 2019,
arXiv:1812.00086): for depth t = 1..16, train layers 1..t on the loss of layer t's output, in three
`ebm.train.train` calls of (stage steps)/3 Adam steps each (rounded to whole epochs for a fixed
training set) at lr, lr/5 and lr/50 (their fine-tuning decays; the phase that trains the new
layer alone is not used).

    python3 benchmarks/sparse_lista.py                  # all parts, the final tables (about 18 min on one core)
    python3 benchmarks/sparse_lista.py --quick          # smoke run (seconds of training)
    python3 benchmarks/sparse_lista.py --parts 2 --stage-steps 600
    python3 benchmarks/sparse_lista.py --device cuda --minutes 5 --train-signals 200000 --batch-size 1000

Data are drawn on the CPU with seeded generators and moved to ``--device``; training and
evaluation run there.
"""

import argparse
import functools
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ebm.data import load_digits  # noqa: E402
from ebm.sparse import ALISTA, LISTA, fista, ista, learn_dictionary, lista_objective_loss, lista_supervised_loss, objective  # noqa: E402
from ebm.train import train  # noqa: E402

DECAYS = (1.0, 0.2, 0.02)


def train_layerwise(net, loss, data, steps, lr, g, args, batches_per_epoch=None):
    """Layer-wise schedule: for t = 1..n_layers, three `train` calls on the loss at depth t, lr decayed.

    ``data`` is a tensor / tuple (``batches_per_epoch`` batches per pass) or a batch function
    ``generator -> batch`` (fresh samples every step). Returns (Adam steps, seconds).
    """
    t0, done = time.perf_counter(), 0
    per_phase = max(1, steps // len(DECAYS))
    for depth in range(1, net.n_layers + 1):
        for frac in DECAYS:
            stage_loss = functools.partial(loss, n_layers=depth)
            if callable(data):
                hist = train(net, stage_loss, data, epochs=1, steps_per_epoch=per_phase, lr=lr * frac, generator=g, progress=False)
            else:
                epochs = max(1, round(per_phase / batches_per_epoch))
                hist = train(net, stage_loss, data, epochs=epochs, batch_size=args.batch_size, lr=lr * frac, generator=g, progress=False)
            done += len(hist.losses)
    return done, time.perf_counter() - t0


def _train_for(net, loss, data, seconds, quick, lr, g, args):
    """Train with one `ebm.train.train` call (one Adam state for the whole run) for a wall-clock budget."""
    t0 = time.perf_counter()
    # A callback returning True ends training after the current epoch.
    out_of_time = lambda state: time.perf_counter() - t0 >= seconds  # noqa: E731
    hist = train(net, loss, data, epochs=2 if quick else 1_000_000, batch_size=args.batch_size, lr=lr, generator=g, progress=False, callbacks=[out_of_time])
    return hist.epochs_done, time.perf_counter() - t0


def _gap_table(title, te, d, alpha, nets, info, depths):
    """Print the mean relative objective gap vs depth and each network's FISTA-equivalent depth."""
    ted, dd = te.double(), d.double()
    p_star = objective(ted, fista(ted, dd, alpha, tol=1e-10, polish=True, max_iter=50_000).codes, dd, alpha)
    rel = lambda codes: float(((objective(ted, codes.double(), dd, alpha) - p_star) / p_star).mean())  # noqa: E731
    layers = max(net.n_layers for net in nets.values())
    print(f"\n### {title} ({', '.join(info)})\n")
    print("| layers / iterations | ISTA | FISTA | " + " | ".join(nets) + " |")
    print("|---" * (3 + len(nets)) + "|")
    with torch.no_grad():
        for m in depths:
            li = " | ".join(f"{rel(net(te, n_layers=m)):.2e}" if m <= layers else "" for net in nets.values())
            print(f"| {m} | {rel(ista(te, d, alpha, max_iter=m, tol=0).codes):.2e} | {rel(fista(te, d, alpha, max_iter=m, tol=0).codes):.2e} | {li} |")
        for name, net in nets.items():
            gap = rel(net(te))
            m = _fista_equivalent(lambda m: rel(fista(te, d, alpha, max_iter=m, tol=0).codes), gap)
            print(f"\n{name}, {net.n_layers} layers: gap {gap:.2e} = FISTA at {m if m else '> 1000'} iterations ({(m or 1000) / net.n_layers:.1f}x the depth)")


def _fista_equivalent(fista_gap, gap, largest=1000):
    """Fewest FISTA iterations whose mean gap is <= ``gap``, by bisection (FISTA's mean gap falls with m here), or None."""
    if fista_gap(largest) > gap:
        return None
    lo, hi = 0, largest  # fista_gap(hi) <= gap < fista_gap(lo), with fista_gap(0) taken as infinite
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fista_gap(mid) <= gap else (mid, hi)
    return hi


def part1(quick, minutes, g, args):
    k, f, layers = 256, 64, 16
    d = torch.nn.functional.normalize(torch.randn(k, f, generator=g), dim=1)
    n_train = 2000 if quick else args.train_signals or 5000
    z = torch.randn(n_train + 1000, k, generator=g) * (torch.rand(n_train + 1000, k, generator=g) < 0.1)
    x = z @ d + 0.01 * torch.randn(n_train + 1000, f, generator=g)
    d, x = d.to(args.device), x.to(args.device)
    alpha = 0.1 * float((x @ d.T).abs().amax(1).median())
    tr, te = x[:n_train], x[n_train:]
    nets, info = {}, []
    for name, net, lr in (("LISTA", LISTA(d, alpha, n_layers=layers), 1e-3), ("ALISTA", ALISTA(d, alpha, n_layers=layers), 3e-3)):
        epochs, seconds = _train_for(net, lista_objective_loss, tr, minutes * 60 * 0.25, quick, lr, g, args)
        nets[name] = net
        info.append(f"{name} {epochs} epochs / {seconds:.0f} s")
    net = LISTA(d, alpha, n_layers=layers)
    steps = 30 if quick else args.stage_steps_objective
    n, seconds = train_layerwise(net, lista_objective_loss, tr, steps, 1e-3, g, args, batches_per_epoch=math.ceil(n_train / args.batch_size))
    nets["LISTA layer-wise"] = net
    info.append(f"LISTA layer-wise {n} steps / {seconds:.0f} s")
    _gap_table(f"LISTA vs iterations, random 64x256 (alpha={alpha:.3f}, trained on the objective of {n_train} signals", te, d, alpha, nets, info, (1, 2, 4, 8, 16, 32, 64, 128, 160, 256))


def part1_digits(quick, g, args):
    layers, k = 16, 256
    tr, _ = load_digits("train")
    te, _ = load_digits("test")
    tr, te = tr - tr.mean(1, keepdim=True), te - te.mean(1, keepdim=True)  # (n, 64), each image minus its mean
    t0 = time.perf_counter()
    d = learn_dictionary(tr, k, 0.1, n_epochs=2 if quick else 10, method="online", batch_size=256, generator=g, code_tol=1e-3).dictionary
    t_dict = time.perf_counter() - t0
    tr, te, d = tr.to(args.device), te.to(args.device), d.to(args.device)
    alpha = 0.1 * float((tr @ d.T).abs().amax(1).median())
    coherence = float((d @ d.T - torch.eye(k, device=d.device)).abs().max())
    steps = 30 if quick else args.stage_steps_objective
    per_epoch = math.ceil(tr.shape[0] / args.batch_size)
    nets, info = {}, []
    net = LISTA(d, alpha, n_layers=layers)
    t0 = time.perf_counter()
    total = steps * layers * (layers + 1) // (2 * layers)  # the layer-wise runs' steps counted in full-depth passes
    train(net, lista_objective_loss, tr, epochs=max(1, round(total / per_epoch)), batch_size=args.batch_size, lr=1e-3, generator=g, progress=False)
    nets["LISTA (one call)"] = net
    info.append(f"LISTA one call {max(1, round(total / per_epoch)) * per_epoch} steps / {time.perf_counter() - t0:.0f} s")
    for name, net, lr in (("LISTA layer-wise", LISTA(d, alpha, n_layers=layers), 1e-3),
                          ("untied LISTA layer-wise", LISTA(d, alpha, n_layers=layers, tied=False), 3e-4),
                          # ALISTA's parameters are of the size 1/L = 0.012 here (L = 84), so its lr is small.
                          ("ALISTA layer-wise", ALISTA(d, alpha, n_layers=layers), 3e-4)):
        n, seconds = train_layerwise(net, lista_objective_loss, tr, steps, lr, g, args, batches_per_epoch=per_epoch)
        nets[name] = net
        info.append(f"{name} {n} steps / {seconds:.0f} s")
    title = (f"LISTA vs iterations, digits 8x8 with a learned 256-atom dictionary (learned in {t_dict:.0f} s, mutual coherence {coherence:.2f}, "
             f"alpha={alpha:.3f}, trained on the objective of {tr.shape[0]} training images, batch {args.batch_size}, {steps} steps per layer-wise stage")
    _gap_table(title, te, d, alpha, nets, info, (1, 2, 4, 8, 16, 32, 64, 128, 160, 256))


def part2(quick, g, args):
    f, k, layers = 250, 500, 16
    d_cpu = torch.randn(k, f, generator=g) / math.sqrt(f)  # (k, f): atoms of unit norm in expectation
    d = d_cpu.to(args.device)

    def sample(n, snr_db, gen):  # drawn on the CPU with ``gen``, returned on the device
        z0 = torch.randn(n, k, generator=gen) * (torch.rand(n, k, generator=gen) < 0.1)
        clean = z0 @ d_cpu
        if snr_db is None:
            return clean.to(args.device), z0.to(args.device)
        noise = torch.randn(n, f, generator=gen)
        scale = clean.norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True) * 10 ** (-snr_db / 20)
        return (clean + scale * noise).to(args.device), z0.to(args.device)

    nmse = lambda z, z0: 10 * math.log10(float(((z - z0) ** 2).sum() / (z0**2).sum()))  # noqa: E731
    steps = 30 if quick else args.stage_steps
    for snr in (None, 20):
        alpha = 0.01 if snr is None else 0.05
        xt, z0 = sample(1000, snr, g)
        # A fresh batch from the generative model for every Adam step (the generator is train's).
        fresh = functools.partial(lambda gen, snr: sample(args.batch_size, snr, gen), snr=snr)
        nets, info = {}, []
        # lrs from 60- and 180-step-per-stage trials (noiseless): LISTA 5e-4 ~ 1e-3 > 2e-3; ALISTA 3e-2 > 1e-2, 1e-1.
        # Untied LISTA (5e-4) was 0.7 dB behind tied at 60 steps per stage and costs 1.4x the time per step.
        for name, net, lr in (("LISTA", LISTA(d, alpha, n_layers=layers), 5e-4), ("ALISTA", ALISTA(d, alpha, n_layers=layers), 3e-2)):
            n, seconds = train_layerwise(net, lista_supervised_loss, fresh, steps, lr, g, args)
            nets[name] = net
            info.append(f"{name} {n} steps / {seconds:.0f} s")
        label = "noiseless" if snr is None else f"{snr} dB"
        print(f"\n### 250x500 recovery, {label} (alpha={alpha} for ISTA/FISTA and the initial thresholds; layer-wise on the true codes, "
              f"{steps} steps of {args.batch_size} fresh signals per stage: {', '.join(info)})\n")
        print("| layers / iterations | ISTA NMSE (dB) | FISTA NMSE (dB) | " + " | ".join(f"{n} NMSE (dB)" for n in nets) + " |")
        print("|---" * (3 + len(nets)) + "|")
        with torch.no_grad():
            for m in (1, 2, 4, 8, 16, 32, 64, 128):
                li = " | ".join(f"{nmse(net(xt, n_layers=m), z0):.1f}" if m <= layers else "" for net in nets.values())
                print(f"| {m} | {nmse(ista(xt, d, alpha, max_iter=m, tol=0).codes, z0):.1f} | {nmse(fista(xt, d, alpha, max_iter=m, tol=0).codes, z0):.1f} | {li} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--minutes", type=float, default=4.0, help="part 1 (random case) training budget, a quarter per network")
    p.add_argument("--stage-steps", type=int, default=300, help="part 2: Adam steps per layer-wise stage")
    p.add_argument("--stage-steps-objective", type=int, default=300, help="parts 1 and 1b: Adam steps per layer-wise stage")
    p.add_argument("--threads", type=int, default=1, help="torch threads (2 threads on a shared 2-core VM thrash)")
    p.add_argument("--device", default="cpu", help="where training and evaluation run, e.g. cuda")
    p.add_argument("--train-signals", type=int, default=None, help="part 1 training set size (default 5,000)")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--parts", nargs="+", default=["1", "1b", "2"], help="which parts to run")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    minutes = 0.2 if args.quick else args.minutes
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"device: {where}, torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, part 1 budget {minutes} min, "
          f"stage steps {args.stage_steps_objective} (1b) / {args.stage_steps} (2)")
    t0 = time.perf_counter()
    # One seeded generator per part, so each part's data do not depend on which parts ran before it.
    if "1" in args.parts:
        part1(args.quick, minutes, torch.Generator().manual_seed(0), args)
    if "1b" in args.parts:
        part1_digits(args.quick, torch.Generator().manual_seed(1), args)
    if "2" in args.parts:
        part2(args.quick, torch.Generator().manual_seed(2), args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
