"""RBMs on binarised 8×8 digits: filters, samples from long Gibbs chains, and held-out
log-likelihood — exact for 16 hidden units (2^16 hidden states enumerated), AIS for 64.

AIS (Salakhutdinov & Murray 2008) anneals from a base-rate model with the data's pixel marginals;
its log Z is a stochastic lower bound, so the AIS log-likelihood is slightly optimistic: it is
printed with its standard error.

Run: python3 examples/04_rbm_digits.py [--quick]   (writes out/examples/rbm_digits.png)
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits
from ebm.energies import BernoulliRBM
from ebm.evaluate import ais_log_likelihood, exact_log_likelihood
from ebm.objectives import ContrastiveDivergence, rbm_block_gibbs
from ebm.train import linear_lr_decay, train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
g = torch.Generator().manual_seed(0)  # the only seed
epochs = 3 if args.quick else 40
x, _ = load_digits("train", binarize=True)  # (1347, 64)
x_test, _ = load_digits("test", binarize=True)  # (450, 64)

fig, axes = plt.subplots(2, 2, figsize=(10, 10), constrained_layout=True)
for row, n_hidden in enumerate((16, 64)):
    rbm = BernoulliRBM(64, n_hidden, weight_scale=0.01, generator=g)
    with torch.no_grad():  # visible biases start at the pixel log-odds (Hinton 2012, "A Practical Guide")
        p = x.mean(0).clamp(0.01, 0.99)
        rbm.visible_bias.copy_(torch.log(p / (1 - p)))
    pcd = ContrastiveDivergence(k=1, persistent=True, n_chains=256)
    train(rbm, pcd, x, epochs=epochs, batch_size=64, lr=0.01, generator=g, callbacks=[linear_lr_decay(epochs)], progress=False)
    if n_hidden <= 20:
        ll = float(exact_log_likelihood(rbm, x_test))
        label = f"exact test LL {ll:.2f} nats"
    else:
        ll_t, est = ais_log_likelihood(rbm, x_test, n_chains=100, n_betas=1000 if args.quick else 10000, base_data=x, generator=g)
        label = f"AIS test LL {float(ll_t):.2f} ± {float(est.std_error):.2f} nats"
    print(f"{n_hidden} hidden units: {label}")
    plot.image_grid(rbm.weight.detach().T[:64], image_shape=(8, 8), ax=axes[row, 0], cmap="RdBu_r",
                    title=f"{n_hidden} hidden: filters (columns of W)")
    with torch.no_grad():
        v0 = torch.bernoulli(torch.full((36, 64), 0.5), generator=g)
        v = rbm_block_gibbs(rbm).run(None, {"h": torch.zeros(36, n_hidden), "v": v0}, 100 if args.quick else 5000, generator=g).x[1]
    plot.image_grid(rbm.prob_v(rbm.prob_h(v)).detach(), image_shape=(8, 8), ax=axes[row, 1], normalize="none",
                    title=f"{n_hidden} hidden: Gibbs samples (mean of p(v|h))\n{label}")
out = Path("out/examples")
out.mkdir(parents=True, exist_ok=True)
print("wrote", plot.save(fig, out / "rbm_digits.png"))
