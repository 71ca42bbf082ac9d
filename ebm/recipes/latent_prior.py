"""`ebm train latent_prior`: the latent-space EBM prior model (Pang et al. 2020, arXiv:2006.08205)
on a 2-D toy set or on 8x8 digits; writes metrics.json, model.pt (checkpoint) and samples.png."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ebm.recipes import register_recipe
from ebm.recipes.arguments import int_at_least, positive_float


def _data_choices() -> list[str]:
    from ebm.data import TOY_DATASETS

    return ["digits", *TOY_DATASETS]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", choices=_data_choices(), default="digits", metavar="DATA",
                   help="'digits' or a 2-D toy set: " + ", ".join(_data_choices()[1:]))
    p.add_argument("--epochs", type=int_at_least(1), default=30, help="passes over the training data")
    p.add_argument("--latent-dim", type=int_at_least(1), default=None, help="latent dimension (default: 8 for digits, 2 for toy sets)")
    p.add_argument("--sigma", type=positive_float, default=None, help="observation noise σ (default: 0.2 digits, 0.15 toy)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    p.add_argument("--prior-steps", type=int_at_least(1), default=40, help="short-run Langevin steps on the latent prior")
    p.add_argument("--posterior-steps", type=int_at_least(1), default=20, help="short-run Langevin steps on the latent posterior")


@register_recipe("latent_prior", help="latent-space EBM prior with short-run latent Langevin (Pang et al. 2020)", add_arguments=_add_arguments)
def run(args: argparse.Namespace) -> int:
    from ebm import plot
    from ebm.data import load_digits, make_toy
    from ebm.energies import LatentEBMPrior
    from ebm.train import save_checkpoint

    g = torch.Generator().manual_seed(args.seed)
    out = Path(args.out)
    digits = args.data == "digits"
    if digits:
        x, _ = load_digits("train")  # (1347, 64)
    else:
        x = make_toy(args.data, 2000, generator=g)
        x = x / x.std()  # unit scale for the default σ
    model = LatentEBMPrior(
        x.shape[1],
        latent_dim=args.latent_dim or (8 if digits else 2),
        hidden=128 if digits else 64,
        sigma=args.sigma or (0.2 if digits else 0.15),
        prior_steps=args.prior_steps,
        posterior_steps=args.posterior_steps,
        posterior_step_size=0.005 if digits else 0.01,
        generator=g,
    )
    history = model.fit(x, epochs=args.epochs, batch_size=100, lr=args.lr, generator=g)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.pt", model=model)
    (out / "metrics.json").write_text(json.dumps({"epoch_losses": history.epoch_losses, "wall_time_s": history.wall_time}, indent=1))
    samples = model.sample(64 if digits else 2000, generator=g)
    if digits:
        ax = plot.image_grid(samples.clamp(0, 1), image_shape=(8, 8), ncols=8, title="samples g(z), z ~ short-run EBM prior", normalize="none")
    else:
        ax = plot.data_density(samples, ((-2.5, 2.5), (-2.5, 2.5)), title=f"samples g(z) after training on {args.data}")
    path = plot.save(ax, out / "samples.png")
    print(f"final loss {history.epoch_losses[-1]:.4g}; wrote {out / 'metrics.json'}, {out / 'model.pt'}, {path}")
    return 0
