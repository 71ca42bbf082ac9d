"""The `ebm` command: draw landscapes, run the teaching demo, train models.

Commands:

    ebm landscape --list
    ebm landscape NAME --out FILE.png
    ebm demo [STORY ...] [--out DIR] [--quick] [--list]
    ebm train MODEL [options]        (see `ebm train --help`)
    ebm playground [--port N] [--host 127.0.0.1] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import ebm
from ebm.recipes.arguments import int_at_least, resolve_file_target, writable_file_target, writable_folder


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, except where the text already states it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False or action.default == argparse.SUPPRESS or not action.option_strings:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are ONE line on stderr (exit status 2), with the help pointer."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _fail(command: str, message: str) -> int:
    """Print a user error as one line and return the exit status 2."""
    print(f"ebm {command}: error: {message}", file=sys.stderr)
    return 2


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
    if args.name not in energies and args.name not in datasets:
        return _fail("landscape", f"unknown name {args.name!r}; `ebm landscape --list` prints the valid names")
    out = resolve_file_target(args.out, f"{args.name}.png")
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in formats:
        return _fail("landscape", f"--out: expected a file ending in one of {', '.join('.' + f for f in sorted(formats))}, found {out}")
    import torch

    from ebm import plot

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
    print(plot.save(ax, out))  # the file actually written
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
            return _fail("demo", f"unknown stories {unknown}; `ebm demo --list` prints them")
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
    problem = args.recipe_check(args) if args.recipe_check is not None else None  # combinations of options, before any work
    if problem:
        return _fail(f"train {args.model}", problem)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)  # the command owns its process; the library never does this
    return args.recipe_run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ebm", description="ebm-playground: energy-based models you can train, sample and see.")
    parser.add_argument("--version", action="version", version=f"ebm-playground {ebm.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("landscape", help="draw a built-in energy landscape or toy data set", description="Draw a built-in energy landscape or toy data set to an image file.")
    p.add_argument("name", nargs="?", help="a name from `ebm landscape --list`")
    p.add_argument("--list", action="store_true", help="print every built-in energy and data set name, one per line")
    p.add_argument("--out", type=writable_file_target,
                   help="output image (default: NAME.png here; a folder or a path ending in '/' gets NAME.png inside it; no suffix adds .png)")
    p.add_argument("--kind", choices=("energy", "density"), help="colour by energy or by normalised density (default: the preset's)")
    p.add_argument("--log", action="store_true", help="logarithmic colour scale")
    p.add_argument("--resolution", type=int_at_least(2), default=200, help="grid cells per side")
    p.add_argument("--samples", type=int_at_least(0), default=0, help="energies: overlay this many exact samples (0: none); data sets: points drawn (0: 5000)")
    p.add_argument("--score", action="store_true", help="overlay the score field -∇E")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the random generator (samples)")
    p.set_defaults(func=_cmd_landscape)

    p = sub.add_parser("demo", help="run the teaching demo and write its figures", description="Run the teaching demo's stories and write their figures.")
    p.add_argument("stories", nargs="*", metavar="STORY", help="run only these stories (same as --only; default: all)")
    p.add_argument("--out", type=writable_folder, default="out/demo", help="output folder")
    p.add_argument("--only", nargs="+", metavar="STORY", help="run only these stories (see --list; default: all)")
    p.add_argument("--list", action="store_true", help="list the stories")
    p.add_argument("--quick", action="store_true", help="tiny settings: seconds instead of minutes")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of each story's random generator")
    p.set_defaults(func=_cmd_demo)

    from ebm.recipes import load_recipes

    p = sub.add_parser("train", help="train a model with a ready-made recipe (writes metrics, checkpoint, figures)",
                       description="Train a model with a ready-made recipe; `ebm train MODEL --help` lists its options.")
    recipes = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    for recipe in load_recipes().values():
        rp = recipes.add_parser(recipe.name, help=recipe.help, description=recipe.help)
        rp.add_argument("--out", type=writable_folder, default=f"runs/{recipe.name}", help="output folder (created if missing)")
        rp.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the one random generator (data, initial weights, sampling)")
        rp.add_argument("--threads", type=int_at_least(1), default=None,
                        help="CPU threads for torch (torch.set_num_threads; default: torch's choice). Small models run fastest on 1 "
                             "on a busy machine: the rbm recipe's final AIS (2,000 x 100 at 64 x 64) took 1.8 s on 1 thread and 176 s "
                             "on 2 on a 2-core VM shared with other jobs")
        recipe.add_arguments(rp)
        rp.set_defaults(func=_cmd_train, recipe_run=recipe.run, recipe_check=recipe.check)

    from ebm.playground.cli import add_parser as add_playground  # the server itself is imported lazily

    add_playground(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as err:  # user errors and I/O failures: one clear line, no stack trace
        if os.environ.get("EBM_DEBUG"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"ebm {args.command}: error: {message} (EBM_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
