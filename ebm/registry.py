"""Registries of every energy, objective and built-in landscape.

Each concrete `Energy` subclass and each objective is registered with a small working example
and examples of bad input. `tests/test_registry.py` walks these registries, so a new energy or
objective cannot skip the shared checks (shapes, finiteness, score vs autograd, error messages
that say how to fix the problem), and fails if an `Energy` subclass was never registered.

Example:
    >>> from ebm.registry import register_energy
    >>> @register_energy("my_energy", example=lambda: MyEnergy(), bad_params=[(lambda: MyEnergy(-1), ValueError, "scale")])
    ... class MyEnergy(Energy): ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "EnergyEntry",
    "ObjectiveEntry",
    "LandscapeEntry",
    "ENERGIES",
    "OBJECTIVES",
    "LANDSCAPES",
    "register_energy",
    "register_objective",
    "register_landscape",
    "register_training_loop",
    "training_loop",
]

BadExample = tuple[Callable[[], object], type[Exception], str]
"""(a thunk that must raise, the exception type, a fragment the message must contain)."""


@dataclass
class EnergyEntry:
    name: str
    cls: type
    example: Callable[[], object]
    bad_params: Sequence[BadExample] = ()
    binary: bool = False  # inputs are {0, 1}-valued; the registry test feeds binary data


@dataclass
class ObjectiveEntry:
    name: str
    obj: object
    example: Callable[[], tuple[Callable, tuple]]  # -> (objective, args); loss = objective(*args)
    bad_inputs: Sequence[BadExample] = ()


@dataclass
class LandscapeEntry:
    name: str
    factory: Callable[[], object]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    description: str = ""
    extra: dict = field(default_factory=dict)


ENERGIES: dict[str, EnergyEntry] = {}
OBJECTIVES: dict[str, ObjectiveEntry] = {}
LANDSCAPES: dict[str, LandscapeEntry] = {}


def _claim(registry: dict, name: str) -> None:
    if name in registry:
        raise ValueError(f"name {name!r} is registered twice; pick a unique registry name")


def register_energy(name: str, *, example: Callable[[], object], bad_params: Sequence[BadExample] = (), binary: bool = False):
    """Class decorator: list an Energy subclass with a working example and bad-parameter examples."""

    def decorate(cls):
        _claim(ENERGIES, name)
        ENERGIES[name] = EnergyEntry(name, cls, example, tuple(bad_params), binary)
        return cls

    return decorate


def register_objective(name: str, *, example: Callable[[], tuple[Callable, tuple]], bad_inputs: Sequence[BadExample] = ()):
    """Decorator for an objective class or function: `example()` returns `(objective, args)`."""

    def decorate(obj):
        _claim(OBJECTIVES, name)
        OBJECTIVES[name] = ObjectiveEntry(name, obj, example, tuple(bad_inputs))
        return obj

    return decorate


def register_landscape(name: str, factory: Callable[[], object], bounds, description: str = "", **extra) -> None:
    """List a 2-D energy preset for `ebm landscape NAME` and the demos."""
    _claim(LANDSCAPES, name)
    (x0, x1), (y0, y1) = bounds
    LANDSCAPES[name] = LandscapeEntry(name, factory, ((float(x0), float(x1)), (float(y0), float(y1))), description, dict(extra))


_TRAINING_LOOP: list[Callable] = []


def register_training_loop(fn: Callable) -> Callable:
    """Install ``fn(model, data, *, objective=None, **train_kwargs) -> History`` behind `Energy.fit`.

    `ebm.train` registers its ``fit`` when imported (and ``import ebm`` imports it), so models call
    the training loop without importing it: the import graph stays one-way.
    """
    _TRAINING_LOOP[:] = [fn]
    return fn


def training_loop() -> Callable:
    """The registered training loop (see `register_training_loop`)."""
    if not _TRAINING_LOOP:
        raise RuntimeError("training_loop: expected a registered training loop, found none. Fix: import ebm.train (importing ebm does)")
    return _TRAINING_LOOP[0]
