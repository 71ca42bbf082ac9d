"""The `ebm` command: draw landscapes, run the teaching demo, train models.

Commands:

    ebm landscape --list
    ebm landscape NAME --out FILE.png
    ebm demo [STORY ...] [--out DIR] [--quick] [--list]
    ebm train MODEL [options]        (see `ebm train --help`)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import ebm


def _landscape_names():
    import ebm.energies  # noqa: F401  (registers the built-in landscapes)
    from ebm.data import TOY_DATASETS
    from ebm.registry import LANDSCAPES

    return list(LANDSCAPES), list(TOY_DATASETS)


def _cmd_landscape(args) -> int:
    energies, datasets = _landscape_names()
    if args.list or args.name is None:
        if args.name is None and not args.list:
            print("ebm landscape: give a NAME (one of the names below) or --list", file=sys.stderr)
        for name in energies + datasets:
            print(name)
        return 0 if args.list else 2
    import torch

    from ebm import plot

    out = Path(args.out or f"{args.name}.png")
    generator = torch.Generator().manual_seed(args.seed)
    if args.name in energies:
        from ebm.grid import grid_sample
        from ebm.registry import LANDSCAPES

        entry = LANDSCAPES[args.name]
        energy = entry.factory()
        style = {"kind": args.kind or "energy", "log_scale": args.log} if (args.kind or args.log) else dict(entry.extra)
        ax = plot.landscape(energy, entry.bounds, resolution=args.resolution, title=f"{args.name}: {entry.description}", **style)
        if args.score:
            plot.score_field(energy, entry.bounds, ax=ax)
        if args.samples:
            pts = grid_sample(energy, entry.bounds, args.samples, resolution=max(2 * args.resolution, 200), generator=generator)
            plot.samples(pts, ax=ax, label=f"{args.samples} exact samples")
    elif args.name in datasets:
        from ebm.data import make_toy

        x = make_toy(args.name, args.samples or 5000, generator=generator)
        ax = plot.data_density(x, ((-4.5, 4.5), (-4.5, 4.5)), resolution=args.resolution, title=f"{args.name} (FFJORD toy set)")
    else:
        print(f"ebm landscape: unknown name {args.name!r}; `ebm landscape --list` prints the valid names", file=sys.stderr)
        return 2
    plot.save(ax, out)
    print(out)
    return 0


def _cmd_demo(args) -> int:
    import torch

    from ebm.demos import load_stories

    stories = load_stories()
    if args.list:
        for s in stories:
            print(f"{s.name}\t{s.title}")
        return 0
    args.only = list(args.only or []) + list(args.stories)
    if args.only:
        unknown = sorted(set(args.only) - {s.name for s in stories})
        if unknown:
            print(f"ebm demo: unknown stories {unknown}; `ebm demo --list` prints them", file=sys.stderr)
            return 2
        stories = [s for s in stories if s.name in args.only]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    for i, story in enumerate(stories, 1):
        print(f"[{i}/{len(stories)}] {story.title} ...", flush=True)
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(args.seed)  # each story reproducible on its own
        paths = story.run(out / story.name, generator, args.quick)
        for p in paths:
            print(f"      wrote {p}")
        print(f"      ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"demo finished in {time.perf_counter() - total:.1f} s; figures are in {out.resolve()}")
    return 0


def _cmd_train(args) -> int:
    return args.recipe_run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ebm", description="ebm-playground: energy-based models you can train, sample and see.")
    parser.add_argument("--version", action="version", version=f"ebm-playground {ebm.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("landscape", help="draw a built-in energy landscape or toy data set")
    p.add_argument("name", nargs="?", help="a name from `ebm landscape --list`")
    p.add_argument("--list", action="store_true", help="print every built-in energy and data set name, one per line")
    p.add_argument("--out", help="output PNG (default: NAME.png)")
    p.add_argument("--kind", choices=("energy", "density"), help="colour by energy or by normalised density (default: the preset's)")
    p.add_argument("--log", action="store_true", help="logarithmic colour scale")
    p.add_argument("--resolution", type=int, default=200, help="grid cells per side (default 200)")
    p.add_argument("--samples", type=int, default=0, help="overlay this many exact samples (data sets: points drawn)")
    p.add_argument("--score", action="store_true", help="overlay the score field -∇E")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_landscape)

    p = sub.add_parser("demo", help="run the teaching demo and write its figures")
    p.add_argument("stories", nargs="*", metavar="STORY", help="run only these stories (same as --only)")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--only", nargs="+", metavar="STORY", help="run only these stories (see --list)")
    p.add_argument("--list", action="store_true", help="list the stories")
    p.add_argument("--quick", action="store_true", help="tiny settings: seconds instead of minutes")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)

    from ebm.recipes import load_recipes

    p = sub.add_parser("train", help="train a model with a ready-made recipe (writes metrics, checkpoint, figures)")
    recipes = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    for recipe in load_recipes().values():
        rp = recipes.add_parser(recipe.name, help=recipe.help)
        rp.add_argument("--out", default=f"runs/{recipe.name}", help="output folder")
        rp.add_argument("--seed", type=int, default=0)
        recipe.add_arguments(rp)
        rp.set_defaults(func=_cmd_train, recipe_run=recipe.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, TypeError) as err:  # user errors: one clear line, no stack trace
        if os.environ.get("EBM_DEBUG"):
            raise
        print(f"ebm {args.command}: error: {err}\n(set EBM_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
