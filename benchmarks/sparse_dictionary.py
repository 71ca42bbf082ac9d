"""Dictionary learning: held-out energy vs wall time, ebm.sparse.learn_dictionary (online and batch)
against scikit-learn's MiniBatchDictionaryLearning, on scikit-learn's 8x8 digits.

Data: ebm.data.load_digits (train 1,347 / test 450 images), each image minus its mean. 64 atoms,
alpha = 0.1 (the plain l1 weight for all methods: sklearn's `alpha` in MiniBatchDictionaryLearning
is the same l1 weight with the objective 1/2||x - zD||^2 + alpha||z||_1). Held-out energy: mean
min_z 1/2||x - zD||^2 + alpha||z||_1 over the test images, codes by ebm.sparse.fista (tol 1e-6), for
every method's dictionary, measured after each epoch (times exclude the evaluation).

    python3 benchmarks/sparse_dictionary.py [--quick] [--epochs 10]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from sklearn.decomposition import MiniBatchDictionaryLearning

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ebm.data import load_digits  # noqa: E402
from ebm.sparse import fista, learn_dictionary, objective  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    epochs = 2 if args.quick else args.epochs
    alpha, k = 0.1, 64
    tr, _ = load_digits("train")
    te, _ = load_digits("test")
    tr = (tr - tr.mean(1, keepdim=True)).double()
    te = (te - te.mean(1, keepdim=True)).double()

    def held(d):
        d = torch.as_tensor(d, dtype=torch.float64)
        d = d / d.norm(dim=1, keepdim=True)
        return float(objective(te, fista(te, d, alpha, tol=1e-6, polish=True).codes, d, alpha).mean())

    rows = []
    for method in ("online", "batch"):
        energies = []
        g = torch.Generator().manual_seed(0)

        def cb(epoch, d, energies=energies):
            energies.append(held(d))  # learn_dictionary's wall_time excludes callbacks

        res = learn_dictionary(tr, k, alpha, n_epochs=epochs, method=method, batch_size=256, generator=g, callback=cb, code_tol=1e-3)
        rows.append((f"ebm learn_dictionary ({method})", res.wall_time, energies))
    # scikit-learn: one epoch = ceil(n / batch_size) mini-batch steps via partial_fit.
    mb = MiniBatchDictionaryLearning(n_components=k, alpha=alpha, batch_size=256, random_state=0, transform_algorithm="lasso_cd")
    times, energies, total = [], [], 0.0
    x_np = tr.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            t = time.perf_counter()
            for start in range(0, x_np.shape[0], 256):
                mb.partial_fit(x_np[start : start + 256])
            total += time.perf_counter() - t
            times.append(total)
            energies.append(held(mb.components_))
    rows.append(("sklearn MiniBatchDictionaryLearning", times, energies))
    print(f"digits 8x8, {k} atoms, alpha={alpha}, held-out energy (test, mean) after each epoch; time = cumulative training seconds\n")
    print("| method | " + " | ".join(f"epoch {e + 1}" for e in range(epochs)) + " |")
    print("|---|" + "---|" * epochs)
    for name, times, energies in rows:
        print(f"| {name} | " + " | ".join(f"{en:.4f} ({t:.1f} s)" for t, en in zip(times, energies)) + " |")


if __name__ == "__main__":
    main()
