"""Bars-and-stripes (3×3) with a 16-hidden-unit RBM: CD-1, CD-10, PCD and exact maximum likelihood,
scored after every few epochs by the *exact* log-likelihood (the 9 visible units enumerate).

The best any model can do on the 14 distinct patterns is -log 14 ≈ -2.639 nats (the data entropy).
CD-k follows a biased gradient (Hinton 2002), PCD a noisy but asymptotically unbiased one
(Tieleman 2008); the exact gradient (enumerating log Z) is the reference.

Run: python3 examples/03_rbm_bars_and_stripes.py [--quick]   (writes out/examples/rbm_bars_and_stripes.png)
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import bars_and_stripes
from ebm.energies import BernoulliRBM
from ebm.evaluate import empirical_entropy, exact_log_likelihood
from ebm.objectives import ContrastiveDivergence, ExactLikelihood
from ebm.train import linear_lr_decay, train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
torch.manual_seed(0)  # the example's one seed; the generators below are drawn from it
epochs = 20 if args.quick else 500

x = bars_and_stripes(3)  # (14, 9) each pattern once
best = -float(empirical_entropy(x))
methods = {
    "CD-1": (ContrastiveDivergence(k=1), 0.05),
    "CD-10": (ContrastiveDivergence(k=10), 0.05),
    "PCD-1 (200 chains)": (ContrastiveDivergence(k=1, persistent=True, n_chains=200), 0.02),
    "exact ML": (ExactLikelihood(), 0.05),
}
fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
for name, (objective, lr) in methods.items():
    g = torch.Generator().manual_seed(int(torch.randint(2**31, (1,))))
    rbm = BernoulliRBM(9, 16, weight_scale=0.1, generator=g)
    history = train(rbm, objective, x.repeat(8, 1), epochs=epochs, batch_size=28, lr=lr, generator=g,
                    callbacks=[linear_lr_decay(epochs)],  # Adam, step size decayed linearly to 0
                    metrics={"ll": lambda m: float(exact_log_likelihood(m, x))}, metric_every=max(1, epochs // 25), progress=False)
    epochs_seen, ll = zip(*history.metrics["ll"])
    ax.plot(epochs_seen, ll, marker="o", markersize=3, label=f"{name}: final {ll[-1]:.3f}")
    print(f"{name:20s} exact LL {ll[-1]:.3f} (optimum {best:.3f}), {history.wall_time:.1f} s")
ax.axhline(best, color="k", linestyle="--", label=f"optimum -log 14 = {best:.3f}")
ax.set_xlabel("epoch")
ax.set_ylabel("exact mean log-likelihood (nats)")
ax.set_title("RBM 9×16 on bars-and-stripes")
ax.legend(fontsize=8)
out = Path("out/examples")
out.mkdir(parents=True, exist_ok=True)
print("wrote", plot.save(fig, out / "rbm_bars_and_stripes.png"))
