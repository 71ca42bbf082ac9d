"""How latent-variable EBMs keep the volume of low energy small, on one 2-D data set.

PCA (a line), k-means (K points), a Gaussian mixture (-log p) and three regularised autoencoders
(denoising, contractive, sparse) are fitted to the same noisy ellipse; their free energies
F(x) = min_z E(x, z) are drawn side by side (LeCun et al. 2006, §6). None of them pushes up the
energy of contrastive samples: the architecture (k < d, K centroids, a 1-D code) or a regulariser
(noise, a Jacobian penalty, an L1 code penalty) does that job.

Run:  python examples/10_latent_family.py        (about 20 s; the figure goes to out/examples/)
The same figure is the `latent_family` story of `ebm demo`.
"""

import argparse
from pathlib import Path

import torch

from ebm.energies import GMMEnergy, KMeansEnergy, PCAEnergy
from ebm.energies.decoder import make_ellipse

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="out/examples")
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)

# ---------------------------------------------------------------- the closed-form members first
x = make_ellipse(1000, radii=(2.0, 1.0), noise=0.08, generator=g)  # (1000, 2)
pca = PCAEnergy.fit(x, 1)
kmeans = KMeansEnergy.fit(x, 8, generator=g)
gmm = GMMEnergy.fit(x, 8, covariance_type="full", generator=g)
probe = torch.tensor([[2.0, 0.0], [0.0, 0.0], [3.0, 2.0]])  # on the ellipse, its centre, far away
with torch.no_grad():
    for name, model in (("PCA", pca), ("k-means", kmeans), ("GMM", gmm)):
        print(f"{name:8s} F(on ellipse, centre, far) =", [round(v, 3) for v in model(probe).tolist()])
print(f"k-means: Lloyd ran {kmeans.n_iter_} iterations, objective {kmeans.history_[0]:.4f} -> {kmeans.history_[-1]:.4f}")
print(f"GMM: EM ran {gmm.n_iter_} iterations, mean log-likelihood {gmm.history_[0]:.4f} -> {gmm.history_[-1]:.4f}")

# ---------------------------------------------------------------- temperature: soft-min vs min
# k-means at finite β is the soft-min over centroids, -1/β log Σ_k exp(-β‖x - c_k‖²) ≥ min - log(K)/β.
for beta in (1.0, 10.0, 100.0):
    gap = (kmeans.free_energy(probe, float("inf")) - kmeans.free_energy(probe, beta)).max().item()
    print(f"k-means: β = {beta:6.1f}  max(min - soft-min) = {gap:.4f}  (bound log K / β = {torch.tensor(8.0).log().item() / beta:.4f})")

# ---------------------------------------------------------------- the whole family, drawn
from ebm.demos.latent import run_family  # noqa: E402  (the demo fits the autoencoders through ebm.train)

paths = run_family(Path(args.out), g, args.quick)
print("wrote", *paths)
