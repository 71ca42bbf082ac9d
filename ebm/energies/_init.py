"""Layers whose initial weights come from an explicit generator, never from torch's global RNG.

``nn.Linear(a, b)`` draws its default initialisation from the global generator as it is built. A
constructor that was handed ``generator=`` overwrites those weights from the generator, but the
global draw has already happened, so building a model used to move everybody else's random stream.
`linear` skips that default draw whenever a generator is given.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["linear", "global_rng_untouched"]


def linear(fan_in: int, fan_out: int, generator: torch.Generator | None) -> nn.Linear:
    """An ``nn.Linear(fan_in, fan_out)`` left uninitialised when `generator` is given (the caller
    initialises it from the generator); PyTorch's default initialisation otherwise.

    Args:
        fan_in, fan_out: the layer's input and output widths.
        generator: the caller's generator, or None.

    Returns:
        the layer: weight ``(fan_out, fan_in)``, bias ``(fan_out,)``.
    """
    if generator is None:
        return nn.Linear(fan_in, fan_out)
    return nn.utils.skip_init(nn.Linear, fan_in, fan_out)


@contextlib.contextmanager
def global_rng_untouched(generator: torch.Generator | None):
    """Restore torch's global CPU RNG state on exit when an explicit `generator` is given.

    For the few draws a module makes that cannot be routed to a generator (the power-iteration
    start vectors of ``nn.utils.parametrizations.spectral_norm``).
    """
    if generator is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        yield
