"""Recipes for `ebm train MODEL ...`: one file each, registered with `register_recipe`.

A recipe adds its own command-line options and runs a complete training job that writes metrics
(JSON), a checkpoint and figures to ``--out``. Every option is validated before any work: single
values by their ``type=`` (see `ebm.recipes.arguments`), combinations by the recipe's ``check(args)``,
which returns a one-line problem description or None; the `ebm` command prints it and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Recipe", "RECIPES", "register_recipe", "load_recipes"]


@dataclass
class Recipe:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    check: Callable[[argparse.Namespace], str | None] | None = None


RECIPES: dict[str, Recipe] = {}

# One module per recipe; add yours here.
_MODULES: list[str] = ["latent_prior", "rbm"]


def register_recipe(name: str, *, help: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                    check: Callable[[argparse.Namespace], str | None] | None = None):
    """Decorator: ``run(args) -> exit code`` becomes `ebm train NAME`; ``check(args)`` (optional)
    returns a problem with a combination of options (one line) or None, before any work."""

    def decorate(fn):
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} registered twice")
        RECIPES[name] = Recipe(name, help, add_arguments, fn, check)
        return fn

    return decorate


def load_recipes() -> dict[str, Recipe]:
    for module in _MODULES:
        importlib.import_module(f"ebm.recipes.{module}")
    return RECIPES
