"""Input validation shared by `samplers` and `ebm`: the one place that owns error messages.

Every message has the same four parts, so a user always learns *which* argument was wrong,
*what* was expected, *what* was found, and *how* to fix it::

    x0: expected a floating-point tensor, found dtype torch.int64. Fix: pass x0.float().

This module imports torch only (the `samplers` package must never import `ebm`); `ebm._validation`
re-exports everything here and adds checks that know about energies.

Checking finiteness reads a value back from the device, which on a GPU is a host synchronisation.
Hot loops (a sampler step) therefore validate their inputs once and then run inside
`trusted_inputs()`, which turns the per-call checks of `ebm.Energy` off for that thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Sequence

import torch

__all__ = [
    "format_error",
    "input_checks_enabled",
    "trusted_inputs",
    "check_tensor",
    "check_finite",
    "check_positive",
    "check_nonnegative",
    "check_int",
    "check_probability",
    "check_choice",
    "check_generator",
    "check_same_device",
]

_CHECKS_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("ebm_input_checks", default=True)


def format_error(argument: str, expected: str, found: str, fix: str) -> str:
    """Build the house error message: argument, expectation, finding, fix."""
    return f"{argument}: expected {expected}, found {found}. Fix: {fix}"


def input_checks_enabled() -> bool:
    """Whether per-call input checks (which may synchronise with the device) should run."""
    return _CHECKS_ENABLED.get()


@contextlib.contextmanager
def trusted_inputs():
    """Skip per-call input checks inside the block (the caller has validated its inputs once).

    Used by samplers so that a step never waits on the device to check finiteness; divergence is
    then detected from the cached energies, without a per-step synchronisation.
    """
    token = _CHECKS_ENABLED.set(False)
    try:
        yield
    finally:
        _CHECKS_ENABLED.reset(token)


def _describe_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_tensor(
    name: str,
    x,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    trailing_shape: Sequence[int] | None = None,
    floating: bool = False,
    finite: bool = False,
    nonempty: bool = False,
) -> torch.Tensor:
    """Check that `x` is a tensor of the expected layout and return it.

    Args:
        name: the argument's name as the user wrote it (used in the message).
        x: the value to check.
        ndim: exact number of dimensions, if required.
        min_ndim: minimum number of dimensions, if required.
        trailing_shape: the required trailing dimensions (e.g. an energy's event shape).
        floating: require a floating-point dtype.
        finite: require every entry to be finite (reads back from the device).
        nonempty: require at least one row (dimension 0 > 0).

    Raises:
        TypeError: `x` is not a tensor, or has the wrong kind of dtype.
        ValueError: wrong shape, empty, or non-finite entries.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            format_error(name, "a torch.Tensor", f"{type(x).__name__}", f"wrap it with torch.as_tensor({name})")
        )
    if floating and not x.is_floating_point():
        raise TypeError(
            format_error(name, "a floating-point tensor", f"dtype {x.dtype}", f"pass {name}.float() or {name}.double()")
        )
    if ndim is not None and x.dim() != ndim:
        raise ValueError(
            format_error(name, f"a {ndim}-D tensor", f"shape {_describe_shape(x.shape)}", "reshape it to the documented shape")
        )
    if min_ndim is not None and x.dim() < min_ndim:
        raise ValueError(
            format_error(
                name,
                f"at least {min_ndim} dimension(s)",
                f"shape {_describe_shape(x.shape)}",
                f"add a batch dimension, e.g. {name}.unsqueeze(0)",
            )
        )
    if trailing_shape is not None:
        trailing = tuple(int(s) for s in trailing_shape)
        k = len(trailing)
        if x.dim() < k or tuple(x.shape[x.dim() - k :]) != trailing:
            raise ValueError(
                format_error(
                    name,
                    f"shape (*batch, {', '.join(map(str, trailing))})" if k else "any shape",
                    f"shape {_describe_shape(x.shape)}",
                    f"the last {k} dimension(s) must equal the event shape {_describe_shape(trailing)}",
                )
            )
    if nonempty and (x.dim() == 0 or x.shape[0] == 0):
        raise ValueError(format_error(name, "at least one row", f"shape {_describe_shape(x.shape)}", "pass a non-empty batch"))
    if finite:
        check_finite(name, x)
    return x


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise ValueError if `x` holds NaN or infinity, saying how many and where the first is."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        count = int(bad.sum())
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            format_error(
                name,
                "finite values",
                f"{count} non-finite entr{'y' if count == 1 else 'ies'} (first at index {first})",
                "remove or impute NaN/inf before calling; if they came from training, lower the step size",
            )
        )
    return x


def _as_number(name: str, value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(format_error(name, "a single number", f"a tensor of shape {_describe_shape(value.shape)}", "pass a Python float"))
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(format_error(name, "a number", f"{type(value).__name__}", "pass a Python float"))
    return float(value)


def check_positive(name: str, value, *, fix: str | None = None) -> float:
    """Return `value` as float after checking it is a finite number > 0."""
    v = _as_number(name, value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(format_error(name, "a finite number > 0", repr(value), fix or f"pass a positive {name}"))
    return v


def check_nonnegative(name: str, value, *, fix: str | None = None) -> float:
    """Return `value` as float after checking it is a finite number >= 0."""
    v = _as_number(name, value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(format_error(name, "a finite number >= 0", repr(value), fix or f"pass a non-negative {name}"))
    return v


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return `value` after checking it is an integer within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(format_error(name, "an integer", f"{type(value).__name__} {value!r}", f"pass {name} as an int"))
    if minimum is not None and value < minimum:
        raise ValueError(format_error(name, f"an integer >= {minimum}", repr(value), f"pass {name} >= {minimum}"))
    if maximum is not None and value > maximum:
        raise ValueError(format_error(name, f"an integer <= {maximum}", repr(value), f"pass {name} <= {maximum}"))
    return value


def check_probability(name: str, value, *, open_interval: bool = True) -> float:
    """Return `value` after checking it lies in (0, 1) (or [0, 1] with open_interval=False)."""
    v = _as_number(name, value)
    ok = (0 < v < 1) if open_interval else (0 <= v <= 1)
    if not ok:
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(format_error(name, f"a number in {interval}", repr(value), f"pass {name} in {interval}"))
    return v


def check_choice(name: str, value, choices: Sequence) -> object:
    """Return `value` after checking it is one of `choices`."""
    if value not in choices:
        raise ValueError(
            format_error(name, f"one of {', '.join(map(repr, choices))}", repr(value), "pick one of the listed values")
        )
    return value


def check_generator(name: str, generator, device: torch.device | None = None):
    """Check that `generator` is None or a torch.Generator on `device`'s type."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            format_error(name, "a torch.Generator or None", type(generator).__name__, "pass torch.Generator().manual_seed(seed)")
        )
    if device is not None and generator.device.type != torch.device(device).type:
        raise ValueError(
            format_error(
                name,
                f"a generator on device type {torch.device(device).type!r}",
                f"a generator on {generator.device}",
                f"create it with torch.Generator(device={str(device)!r})",
            )
        )
    return generator


def check_same_device(name: str, x: torch.Tensor, reference: torch.Tensor, reference_name: str) -> torch.Tensor:
    """Check that `x` lives on the same device as `reference`."""
    if x.device != reference.device:
        raise ValueError(
            format_error(
                name,
                f"a tensor on {reference.device} (where {reference_name} lives)",
                f"a tensor on {x.device}",
                f"move it with {name}.to({str(reference.device)!r})",
            )
        )
    return x
