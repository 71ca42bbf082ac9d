"""k-means (Lloyd) and GMM (EM) fit time: ebm-playground vs scikit-learn, same data, same start.

Both libraries start from the same k-means++ seeds (k-means) or the same initial parameters
(GMM) and run the same algorithm in float64 on one thread each (torch.set_num_threads(1) and
threadpoolctl for scikit-learn's BLAS/OpenMP), so the times compare implementations, not
initialisations or thread counts. Each cell is the best of `--repeats` interleaved runs. The
final objective (k-means: mean squared distance; GMM: mean log-likelihood) shows both reached the
same solution.

Run:  python benchmarks/latent_fit.py [--quick]     (prints a markdown table)
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from ebm.energies import GMMEnergy, KMeansEnergy
from ebm.energies.kmeans import kmeans_plus_plus

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Best performing initialization did not converge")  # tol=0 on purpose
g = torch.Generator().manual_seed(0)


def blobs(n, d, k):
    centres = 4 * torch.randn(k, d, generator=g, dtype=torch.float64)
    return centres[torch.randint(k, (n,), generator=g)] + torch.randn(n, d, generator=g, dtype=torch.float64)


def best(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


rows = []
sizes = [(5000, 2, 8)] if args.quick else [(5000, 2, 8), (50000, 8, 16)]
with threadpool_limits(1):
    for n, d, k in sizes:
        x = blobs(n, d, k)
        xn = x.numpy()
        init = kmeans_plus_plus(x, k, generator=g)
        iters = 100
        t_ours, t_sk = [], []
        for _ in range(args.repeats):  # interleave the two libraries
            a, ours = best(lambda: KMeansEnergy.fit(x, k, init=init, n_iter=iters), 1)
            b, ref = best(lambda: KMeans(k, init=init.numpy(), n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(xn), 1)
            t_ours.append(a)
            t_sk.append(b)
        rows.append((f"k-means, n={n}, d={d}, K={k}", ours.n_iter_, ref.n_iter_, min(t_ours), min(t_sk), ours.history_[-1], ref.inertia_ / n))

        kg = max(4, k // 2)
        start = GMMEnergy.fit(x, kg, n_iter=0, generator=torch.Generator().manual_seed(1))
        em_iters = 20 if args.quick else 50
        t_ours, t_sk = [], []
        for _ in range(args.repeats):
            a, ours = best(lambda: GMMEnergy.fit(x, kg, n_iter=em_iters, tol=None, generator=torch.Generator().manual_seed(1)), 1)
            gm = GaussianMixture(kg, covariance_type="full", max_iter=em_iters, tol=0.0, reg_covar=1e-6, n_init=1,
                                 weights_init=start.weights.numpy(), means_init=start.means.numpy(), precisions_init=np.linalg.inv(start.covariances.numpy()))
            b, ref = best(lambda: gm.fit(xn), 1)
            t_ours.append(a)
            t_sk.append(b)
        rows.append((f"GMM full, n={n}, d={d}, K={kg}", ours.n_iter_, ref.n_iter_, min(t_ours), min(t_sk), ours.history_[-1], ref.score(xn)))

print("| problem | iterations (ours / sklearn) | ours (s) | scikit-learn (s) | ratio sklearn/ours | final objective (ours / sklearn) |")
print("| --- | --- | --- | --- | --- | --- |")
for name, i1, i2, t1, t2, o1, o2 in rows:
    print(f"| {name} | {i1} / {i2} | {t1:.3f} | {t2:.3f} | {t2 / t1:.2f} | {o1:.6f} / {o2:.6f} |")
