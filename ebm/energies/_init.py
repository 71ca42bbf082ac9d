"""Layers whose initial weights come from an explicit generator, never from torch's global RNG.

``nn.Linear(a, b)`` draws its default initialisation from the global generator as it is built. A
constructor that was handed ``generator=`` overwrites those weights from the generator, but the
global draw has already happened, so building a model used to move everybody else's random stream.
`linear` skips that default draw whenever a generator is given.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["linear", "init_linear_", "mlp", "global_rng_untouched"]


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


def init_linear_(module: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """PyTorch's default initialisation of every ``nn.Linear`` in ``module`` — weight and bias
    uniform in ``±1/√fan_in`` — drawn from ``generator``; nothing when it is None (the layers keep
    the default draw they made). Returns ``module``."""
    if generator is None:
        return module
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            bound = 1.0 / math.sqrt(layer.in_features)
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=generator)
    return module


def mlp(sizes: Sequence[int], activation: type[nn.Module], generator: torch.Generator | None) -> nn.Sequential:
    """Linear layers ``sizes[0] → sizes[1] → … → sizes[-1]`` with ``activation()`` between them (not
    after the last), initialised from ``generator`` as `init_linear_` does."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(linear(fan_in, fan_out, generator))
        if i < len(sizes) - 2:
            layers.append(activation())
    return init_linear_(nn.Sequential(*layers), generator)


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
