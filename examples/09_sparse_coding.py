"""Sparse coding as energy minimisation: solve, learn a fast encoder, learn a dictionary.

E(x, z) = 1/2 ||x - z D||^2 + alpha ||z||_1; inference is min_z E (FISTA, certified by the duality
gap), LISTA learns to approximate it in a few layers, and dictionary learning fits D itself.
Run: python3 examples/09_sparse_coding.py   (about a minute on a laptop CPU)
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ebm.data import load_digits  # noqa: E402
from ebm.energies import SparseCodingEnergy  # noqa: E402
from ebm.sparse import LISTA, duality_gap, fista, ista, learn_dictionary, lista_objective_loss, objective  # noqa: E402
from ebm.train import train  # noqa: E402

torch.manual_seed(0)
g = torch.Generator().manual_seed(0)

# 1. A synthetic problem: 128 unit-norm atoms in R^32, signals made of ~10% of them.
k, f = 128, 32
D = torch.nn.functional.normalize(torch.randn(k, f, generator=g, dtype=torch.float64), dim=1)  # (k, f)
codes = torch.randn(3000, k, generator=g, dtype=torch.float64) * (torch.rand(3000, k, generator=g, dtype=torch.float64) < 0.1)
x = codes @ D + 0.01 * torch.randn(3000, f, generator=g, dtype=torch.float64)  # (n, f)
alpha = 0.1 * float((x @ D.T).abs().amax(1).median())
train_x, test_x = x[:2500], x[2500:]

# 2. Solve exactly: FISTA stops each signal when its duality gap certifies 1e-8 relative accuracy.
res = fista(test_x, D, alpha, tol=1e-8, polish=True)
print(f"FISTA: all converged = {bool(res.converged.all())}, mean iterations = {res.n_iter.float().mean():.1f}, "
      f"max gap = {float(duality_gap(test_x, res.codes, D, alpha).max()):.2e}")
p_star = objective(test_x, res.codes, D, alpha)

# 3. LISTA: 8 learned layers vs 8 ISTA / FISTA iterations (relative excess objective on held-out data).
net = LISTA(D, alpha, n_layers=8)
train(net, lista_objective_loss, train_x, epochs=10, batch_size=100, lr=2e-3, generator=g, progress=False)
with torch.no_grad():
    for name, z in [("ISTA x8", ista(test_x, D, alpha, max_iter=8, tol=0).codes),
                    ("FISTA x8", fista(test_x, D, alpha, max_iter=8, tol=0).codes),
                    ("LISTA 8 layers", net(test_x))]:
        print(f"{name:15s} mean (P - P*)/P* = {float(((objective(test_x, z, D, alpha) - p_star) / p_star).mean()):.3e}")

# 4. Dictionary learning on 8x8 digits (Olshausen & Field 1996; Mairal et al. 2009).
digits, _ = load_digits("train")
digits = (digits - digits.mean(1, keepdim=True)).double()
dl = learn_dictionary(digits, 36, 0.1, n_epochs=5, method="online", batch_size=256, generator=g)
print("dictionary learning objective per epoch:", [round(v, 4) for v in dl.objective])

# 5. The same model as an Energy: F(x) = min_z E(x, z), with envelope-theorem gradients.
energy = SparseCodingEnergy(dl.dictionary, alpha=0.1)
print("free energy of 3 test digits:", energy(digits[:3]).detach())
