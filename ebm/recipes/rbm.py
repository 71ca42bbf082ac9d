"""`ebm train rbm`: a Bernoulli RBM on binarised digits or bars-and-stripes, trained by CD-k, PCD,
parallel-tempering PCD or exact maximum likelihood.

Writes to ``--out``: ``metrics.json`` (per-epoch pseudo-likelihood, reconstruction error and, for
n_hidden <= 20, the exact test log-likelihood; AIS test log-likelihood at the end for larger
models: ``--ais-betas`` temperatures, 2,000 by default, 0.8-1.8 s at 64 hidden units on one thread of
a shared 2-core VM; the printed standard error says whether more are needed), ``checkpoint.pt`` (model, optimiser,
persistent chains, history) and figures (filters, long-chain samples, training curves).

Example:
    ebm train rbm --data digits --hidden 64 --method pcd --epochs 50
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ebm.recipes import register_recipe
from ebm.recipes.arguments import int_at_least, positive_float


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", choices=["digits", "bars-and-stripes"], default="digits", help="binary training data")
    p.add_argument("--hidden", type=int_at_least(1), default=64, help="number of hidden units")
    p.add_argument("--method", choices=["cd", "pcd", "pt", "exact"], default="pcd",
                   help="cd (CD-k), pcd, pt (parallel-tempering PCD), exact (maximum likelihood; needs min(visible, hidden) <= 25)")
    p.add_argument("--k", type=int_at_least(1), default=1, help="Gibbs sweeps per update (cd, pcd, pt)")
    p.add_argument("--epochs", type=int_at_least(1), default=50, help="passes over the training data")
    p.add_argument("--batch-size", type=int_at_least(1), default=64, help="examples per update")
    p.add_argument("--lr", type=positive_float, default=0.01, help="Adam learning rate (decayed linearly to 0)")
    p.add_argument("--chains", type=int_at_least(1), default=256, help="persistent chains (pcd, pt)")
    p.add_argument("--ais-chains", type=int_at_least(2), default=100, help="AIS chains of the final log-likelihood estimate (n_hidden > 20)")
    p.add_argument("--ais-betas", type=int_at_least(3), default=2000,
                   help="AIS temperatures of the final log-likelihood estimate (n_hidden > 20). Its time grows linearly in "
                        "temperatures x chains: at 64 x 64 with 100 chains on 1 thread of a shared 2-core VM, 0.8-1.8 s for 2,000 and "
                        "7 s for Salakhutdinov & Murray's 14,500 (measured; see --threads); the printed standard error tells whether to raise it")


def check(args: argparse.Namespace) -> str | None:
    """Combinations of options that cannot work, as one line (None if fine)."""
    from ebm.energies.boltzmann import MAX_ENUMERATION_BITS

    n_visible = 64 if args.data == "digits" else 9
    if args.method == "exact" and min(n_visible, args.hidden) > MAX_ENUMERATION_BITS:
        return (f"--method exact: expected min(visible, hidden) <= {MAX_ENUMERATION_BITS} (it enumerates 2^min states), "
                f"found {n_visible} visible and --hidden {args.hidden}. Fix: --hidden {MAX_ENUMERATION_BITS} or less, or --method pcd")
    return None


@register_recipe("rbm", help="Bernoulli RBM on binarised digits or bars-and-stripes (CD / PCD / PT / exact ML)", add_arguments=add_arguments, check=check)
def run(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from ebm import plot
    from ebm.data import bars_and_stripes, load_digits
    from ebm.energies import BernoulliRBM
    from ebm.evaluate import ais_log_likelihood, exact_log_likelihood
    from ebm.evaluate.metrics import boltzmann_metrics
    from ebm.objectives import ContrastiveDivergence, ExactLikelihood, rbm_block_gibbs
    from ebm.train import linear_lr_decay, train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(args.seed)
    if args.data == "digits":
        x, _ = load_digits("train", binarize=True)
        x_test, _ = load_digits("test", binarize=True)
        shape = (8, 8)
    else:
        x = bars_and_stripes(3, 1000, generator=g)
        x_test = bars_and_stripes(3, 500, generator=g)
        shape = (3, 3)
    rbm = BernoulliRBM(x.shape[1], args.hidden, weight_scale=0.01, generator=g)
    with torch.no_grad():  # start the visible biases at the data's log-odds (Hinton 2012, §8.1)
        p = x.mean(0).clamp(0.01, 0.99)
        rbm.visible_bias.copy_(torch.log(p / (1 - p)))
    if args.method == "exact":
        objective = ExactLikelihood()
    elif args.method == "cd":
        objective = ContrastiveDivergence(k=args.k)
    elif args.method == "pcd":
        objective = ContrastiveDivergence(k=args.k, persistent=True, n_chains=args.chains)
    else:
        from samplers import ParallelTempering, SingleSiteGibbs, geometric_temperatures

        objective = ContrastiveDivergence(ParallelTempering(SingleSiteGibbs(), geometric_temperatures(3.0, 5)), k=args.k,
                                          persistent=True, n_chains=args.chains)
    metrics = {f"test_{k}": v for k, v in boltzmann_metrics(rbm, x_test, ais_chains=args.ais_chains, ais_betas=200, generator=g).items()
               if k != "ais_log_likelihood"}  # per-epoch AIS is too slow; it runs once at the end
    t0 = time.perf_counter()
    history = train(rbm, objective, x, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, generator=g,
                    callbacks=[linear_lr_decay(args.epochs)], metrics=metrics, checkpoint=out / "checkpoint.pt")
    train_time = time.perf_counter() - t0
    result = {"settings": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str))}, "train_seconds": train_time,
              "metrics": history.metrics, "epoch_losses": history.epoch_losses}
    if min(rbm.n_hidden, rbm.n_visible) <= 20:
        result["test_log_likelihood"] = float(exact_log_likelihood(rbm, x_test))
        result["train_log_likelihood"] = float(exact_log_likelihood(rbm, x))
    else:
        print(f"final AIS estimate of log Z: {args.ais_betas:,} temperatures x {args.ais_chains} chains "
              f"(time grows linearly with --ais-betas and --ais-chains) ...", flush=True)
        t_ais = time.perf_counter()
        ll, est = ais_log_likelihood(rbm, x_test, n_chains=args.ais_chains, n_betas=args.ais_betas, base_data=x, generator=g)
        ais_time = time.perf_counter() - t_ais
        print(f"      log Z = {float(est.log_z):.3f} ± {float(est.std_error):.3f} (standard error), ESS {float(est.ess):.1f}, {ais_time:.1f} s", flush=True)
        result["test_log_likelihood_ais"] = float(ll)
        result["ais"] = {"log_z": float(est.log_z), "std_error": float(est.std_error), "ess": float(est.ess), "n_betas": args.ais_betas,
                         "n_chains": args.ais_chains, "seconds": ais_time}
    (out / "metrics.json").write_text(json.dumps(result, indent=2))

    paths = []
    ax = plot.image_grid(rbm.weight.detach().T[:64], image_shape=shape, cmap="RdBu_r", title=f"RBM filters (columns of W), {args.method}")
    paths.append(plot.save(ax, out / "filters.png"))
    with torch.no_grad():
        v0 = torch.bernoulli(torch.full((64, rbm.n_visible), 0.5), generator=g)
        v = rbm_block_gibbs(rbm).run(None, {"h": torch.zeros(64, rbm.n_hidden), "v": v0}, 1000, generator=g).x[1]
        v = rbm.prob_v(rbm.prob_h(v))  # show the mean image of the last state's conditional
    ax = plot.image_grid(v, image_shape=shape, normalize="none", title="samples after 1,000 Gibbs sweeps (mean of p(v|h))")
    paths.append(plot.save(ax, out / "samples.png"))
    ax = plot.training_curves(history, title=f"RBM ({args.hidden} hidden) on {args.data}, {args.method}")
    paths.append(plot.save(ax, out / "curves.png"))
    plt.close("all")
    summary = result.get("test_log_likelihood", result.get("test_log_likelihood_ais"))
    print(f"trained in {train_time:.1f} s; test log-likelihood {summary:.3f} nats; wrote {out / 'metrics.json'}, {out / 'checkpoint.pt'}, "
          + ", ".join(str(p) for p in paths))
    return 0
