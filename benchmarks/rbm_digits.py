"""Benchmark: PCD training of a 64 x 16 RBM on binarised digits vs scikit-learn's BernoulliRBM.

Both use the same epochs, batch size, plain SGD learning rate and one Gibbs step per update
with as many persistent chains as the batch size (scikit-learn's PCD). The score is the exact
held-out log-likelihood (2^16 hidden states enumerated) of both models, computed by the same
function, averaged over ``--seeds`` runs (the spread between seeds is large, about 0.5-1 nat, so
the table gives the standard error of the mean); wall time is the training time alone, the best
and the median over all runs, the contenders interleaved. Two more ebm-playground rows keep the
same epochs, batch size and SGD learning rate but start the visible biases at the data's log-odds
(Hinton 2012, §8.1; scikit-learn starts them at 0) or use 100 persistent chains (PCD's chain count
is independent of the batch size); the tuned row (Adam, decayed learning rate, 256 chains) shows
what the library's defaults reach in the same epochs.

Run: python3 benchmarks/rbm_digits.py [--quick] [--threads N] [--seeds N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs instead of 20")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=10, help="runs per method, one per seed (best and median wall time, mean LL)")
    parser.add_argument("--batch-size", type=int, default=10, help="scikit-learn's default is 10")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from sklearn.neural_network import BernoulliRBM as SkRBM

    from ebm.data import load_digits
    from ebm.energies import BernoulliRBM
    from ebm.evaluate import exact_log_likelihood
    from ebm.objectives import ContrastiveDivergence
    from ebm.train import linear_lr_decay, train

    x, _ = load_digits("train", binarize=True)
    x_test, _ = load_digits("test", binarize=True)
    epochs = 2 if args.quick else 20
    batch, lr, n_hidden = args.batch_size, 0.05, 16

    def held_out(weight, vbias, hbias) -> float:
        m = BernoulliRBM(64, n_hidden).double()
        with torch.no_grad():
            m.weight.copy_(torch.as_tensor(weight))
            m.visible_bias.copy_(torch.as_tensor(vbias))
            m.hidden_bias.copy_(torch.as_tensor(hbias))
        return float(exact_log_likelihood(m, x_test.double()))

    def run_sklearn(seed):
        sk = SkRBM(n_components=n_hidden, learning_rate=lr, batch_size=batch, n_iter=epochs, random_state=seed)
        t0 = time.perf_counter()
        sk.fit(x.numpy())
        t = time.perf_counter() - t0
        return t, held_out(sk.components_.T, sk.intercept_visible_, sk.intercept_hidden_)

    def run_ours(seed, tuned=False, chains=None, log_odds=False):
        g = torch.Generator().manual_seed(seed)
        rbm = BernoulliRBM(64, n_hidden, weight_scale=0.01, generator=g)
        if log_odds:  # visible biases at the data's log-odds (Hinton 2012, §8.1), as `ebm train rbm` does
            with torch.no_grad():
                p = x.mean(0).clamp(0.01, 0.99)
                rbm.visible_bias.copy_(torch.log(p / (1 - p)))
        if tuned:
            cd = ContrastiveDivergence(k=1, persistent=True, n_chains=256)
            kw = dict(optimizer="adam", lr=0.01, callbacks=[linear_lr_decay(epochs)])
        else:
            cd = ContrastiveDivergence(k=1, persistent=True, n_chains=chains or batch)
            kw = dict(optimizer="sgd", lr=lr)
        t0 = time.perf_counter()
        train(rbm, cd, x, epochs=epochs, batch_size=batch, generator=g, progress=False, **kw)
        t = time.perf_counter() - t0
        return t, held_out(rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach())

    runs = {"scikit-learn BernoulliRBM (PCD, SGD)": run_sklearn, "ebm-playground PCD (same settings)": run_ours,
            "ebm-playground PCD (same settings, visible biases at the data log-odds)": lambda s: run_ours(s, log_odds=True),
            "ebm-playground PCD (same settings, 100 chains)": lambda s: run_ours(s, chains=100),
            "ebm-playground PCD (Adam, lr decay, 256 chains)": lambda s: run_ours(s, tuned=True)}
    if batch >= 100:  # the 100-chain row would repeat the same-settings row
        del runs["ebm-playground PCD (same settings, 100 chains)"]
    # Warm-up: the first optimiser step imports parts of torch (seconds); keep that out of the timing.
    train(BernoulliRBM(64, n_hidden), ContrastiveDivergence(k=1), x[:20], epochs=1, batch_size=10, optimizer="sgd", lr=lr, progress=False)
    results = {name: [] for name in runs}
    for seed in range(args.seeds):  # interleaved
        for name, fn in runs.items():
            results[name].append(fn(seed))
    import sklearn

    print(f"\nRBM 64x{n_hidden} on binarised digits (1,347 train / 450 test), {epochs} epochs, batch {batch}, "
          f"SGD lr {lr}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, {args.threads} thread(s), "
          f"{args.seeds} seeds, load average {os.getloadavg()[0]:.2f} at the end\n")
    print("| method | held-out exact LL (nats, mean ± s.e. over seeds) | train wall time (s, best / median) | time vs scikit-learn (best / median) |")
    print("|---|---:|---:|---:|")
    base = results["scikit-learn BernoulliRBM (PCD, SGD)"]
    base_best, base_median = min(r[0] for r in base), float(np.median([r[0] for r in base]))
    for name, rs in results.items():
        ll, times = np.array([r[1] for r in rs]), np.array([r[0] for r in rs])
        se = ll.std(ddof=1) / np.sqrt(len(ll)) if len(ll) > 1 else float("nan")
        print(f"| {name} | {ll.mean():.3f} ± {se:.3f} | {times.min():.3f} / {np.median(times):.3f} | "
              f"{times.min() / base_best:.2f}x / {np.median(times) / base_median:.2f}x |")


if __name__ == "__main__":
    main()
