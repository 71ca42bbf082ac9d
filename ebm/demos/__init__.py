"""The stories `ebm demo` tells, one file each, in the order given by ``order``.

A story is a function ``run(out_dir, generator, quick) -> list[Path]`` that writes figures and
returns their paths. ``quick=True`` must finish in seconds (the test suite runs every story so);
the default must finish in well under a minute on a laptop CPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["Story", "STORIES", "register_demo", "load_stories"]


@dataclass
class Story:
    name: str
    title: str
    order: int
    run: Callable[[Path, torch.Generator, bool], list[Path]]


STORIES: dict[str, Story] = {}

# One module per story; add yours here.
_MODULES = ["landscapes", "principles", "latent", "sparse_coding", "sampling", "samplers_compared", "joint", "boltzmann"]


def register_demo(name: str, *, title: str, order: int):
    """Decorator: add ``run(out_dir, generator, quick)`` to `ebm demo`."""

    def decorate(fn):
        if name in STORIES:
            raise ValueError(f"demo story {name!r} registered twice")
        STORIES[name] = Story(name, title, order, fn)
        return fn

    return decorate


def load_stories() -> list[Story]:
    """Import every story module and return the stories in order."""
    for module in _MODULES:
        importlib.import_module(f"ebm.demos.{module}")
    return sorted(STORIES.values(), key=lambda s: (s.order, s.name))
