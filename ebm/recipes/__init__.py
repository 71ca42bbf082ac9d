"""Recipes for `ebm train MODEL ...`: one file each, registered with `register_recipe`.

A recipe adds its own command-line options and runs a complete training job that writes metrics
(JSON), a checkpoint and figures to ``--out``.
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


RECIPES: dict[str, Recipe] = {}

# One module per recipe; add yours here.
_MODULES: list[str] = ["latent_prior", "rbm"]


def register_recipe(name: str, *, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Decorator: ``run(args) -> exit code`` becomes `ebm train NAME`."""

    def decorate(fn):
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} registered twice")
        RECIPES[name] = Recipe(name, help, add_arguments, fn)
        return fn

    return decorate


def load_recipes() -> dict[str, Recipe]:
    for module in _MODULES:
        importlib.import_module(f"ebm.recipes.{module}")
    return RECIPES
