"""Story: RBMs on bars-and-stripes — CD-1, CD-10, PCD and exact maximum likelihood side by side,
scored by the exact log-likelihood (the 9-pixel model is small enough to enumerate)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import bars_and_stripes
from ebm.demos import register_demo
from ebm.energies import BernoulliRBM
from ebm.evaluate import empirical_entropy, exact_log_likelihood
from ebm.objectives import ContrastiveDivergence, ExactLikelihood, rbm_block_gibbs
from ebm.train import linear_lr_decay, train


@register_demo("rbm", title="RBMs on bars-and-stripes: CD-1, CD-10, PCD and exact ML, scored by exact likelihood", order=40)
def run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    x = bars_and_stripes(3)  # (14, 9): each pattern once, so the best mean log-likelihood is -log 14
    best = -float(empirical_entropy(x))
    epochs = 3 if quick else 200
    repeat = 1 if quick else 8
    methods = {
        "CD-1": (ContrastiveDivergence(k=1), 0.05),
        "CD-10": (ContrastiveDivergence(k=10), 0.05),
        "PCD-1": (ContrastiveDivergence(k=1, persistent=True, n_chains=200), 0.02),
        "exact ML": (ExactLikelihood(), 0.05),
    }
    # Adam with the learning rate decayed linearly to 0; PCD gets a smaller rate because its
    # persistent chains must keep up with the changing model (Tieleman 2008).
    curves, models = {}, {}
    for name, (objective, lr) in methods.items():
        g = torch.Generator().manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        rbm = BernoulliRBM(9, 16, weight_scale=0.1, generator=g)
        history = train(rbm, objective, x.repeat(repeat, 1), epochs=epochs, batch_size=28, lr=lr, generator=g,
                        callbacks=[linear_lr_decay(epochs)], metrics={"ll": lambda m: float(exact_log_likelihood(m, x))},
                        metric_every=max(1, epochs // 25), progress=False)
        curves[name] = history.metrics["ll"]
        models[name] = rbm

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for name, points in curves.items():
        ax.plot([e for e, _ in points], [v for _, v in points], marker="o", markersize=3, label=name)
    ax.axhline(best, color="k", linestyle="--", label=f"optimum -log 14 = {best:.3f}")
    ax.axhline(-9 * math.log(2), color="gray", linestyle=":", label="uniform model")
    ax.set_xlabel("epoch")
    ax.set_ylabel("exact mean log-likelihood (nats)")
    ax.set_title("Bars-and-stripes 3×3, RBM with 16 hidden units")
    ax.legend(fontsize=8)
    paths = [plot.save(fig, out_dir / "rbm_bars_and_stripes_loglik.png")]

    rbm = models["PCD-1"]
    v0 = torch.bernoulli(torch.full((48, 9), 0.5), generator=generator)
    h0 = torch.zeros(48, rbm.n_hidden)
    with torch.no_grad():
        v = rbm_block_gibbs(rbm).run(None, {"h": h0, "v": v0}, 20 if quick else 1000, generator=generator).x[1]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), constrained_layout=True)
    plot.image_grid(v, image_shape=(3, 3), ncols=8, ax=axes[0], normalize="none", title="PCD model: samples after long Gibbs chains")
    plot.image_grid(rbm.weight.detach().T, image_shape=(3, 3), ncols=4, ax=axes[1], cmap="RdBu_r", title="PCD model: filters (columns of W)")
    paths.append(plot.save(fig, out_dir / "rbm_bars_and_stripes_samples.png"))
    return paths
