"""`ebm train latent_prior`: the latent-space EBM prior model (Pang et al. 2020, arXiv:2006.08205)
on a 2-D toy set or on 8x8 digits; writes metrics.json, model.pt (checkpoint) and samples.png."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ebm.recipes import register_recipe


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", help="'digits' or a toy set name from ebm.data.TOY_DATASETS (default digits)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--latent-dim", type=int, default=None, help="default: 8 for digits, 2 for toy sets")
    p.add_argument("--sigma", type=float, default=None, help="observation noise (default: 0.2 digits, 0.15 toy)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--prior-steps", type=int, default=40)
    p.add_argument("--posterior-steps", type=int, default=20)


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
