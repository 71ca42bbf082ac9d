"""Input validation shared by `samplers` and `ebm` (public): the one place that owns error messages.

Every message has the same four parts, so a user always learns *which* argument was wrong,
*what* was expected, *what* was found, and *how* to fix it::

    x0: expected a floating-point tensor, found dtype torch.int64. Fix: pass x0.float().

This module imports torch only (the `samplers` package must never import `ebm`); `ebm._validation`
re-exports everything here and adds checks that know about covariance matrices and weights. The
energy checks live here because samplers need them too: `check_energy_input_like` checks a batch
against any energy (duck-typed: its ``event_shape`` and, for an ``nn.Module``, the dtype and device
of its first floating parameter or buffer), and `check_energy_output` checks what an energy returned.

Checking finiteness reads a value back from the device, which on a GPU is a host synchronisation.
Hot loops (a sampler step) therefore validate their inputs once and then run inside
`trusted_inputs()`, which turns the per-call checks of `ebm.Energy` off for that thread.
"""

from __future__ import annotations

import contextlib
import inspect
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
    "check_real",
    "check_nonnegative",
    "check_int",
    "check_probability",
    "check_choice",
    "check_generator",
    "check_same_device",
    "check_has_values",
    "check_callable_energy",
    "check_noise_conditional",
    "check_energy_input",
    "check_energy_input_like",
    "check_energy_output",
    "energy_reference_tensor",
]

_CHECKS_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("ebm_input_checks", default=True)


def format_error(argument: str, expected: str, found: str, fix: str) -> str:
    """Build the house error message: argument, expectation, finding, fix."""
    return f"{argument}: expected {expected}, found {found}. Fix: {fix}"


def input_checks_enabled() -> bool:
    """Whether per-call input checks (which may synchronise with the device) should run.

    Never inside code that torch.compile traces: a compiled step runs inside a sampler that checked
    its inputs once, and dynamo cannot trace the context variable this flag lives in."""
    if torch.compiler.is_compiling():
        return False
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
            format_error(
                name,
                "a torch.Tensor",
                _describe_type(x),
                f"convert it with torch.as_tensor({name}" + (", dtype=torch.float32)" if floating else ")"),
            )
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


def _describe_type(x) -> str:
    """Short description of a non-tensor input for messages (a list, a numpy array, ...)."""
    kind = type(x).__name__
    shape = getattr(x, "shape", None)
    return f"{kind} with shape {tuple(shape)}" if shape is not None else kind


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise ValueError if `x` holds NaN or infinity, saying how many and where the first is.

    Tensors on the ``meta`` device hold no values, so their finiteness cannot be checked: they are
    refused with the house message (a caller that only needs shapes does not ask for finiteness).
    """
    check_has_values(name, x)
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


def check_real(name: str, value, *, fix: str | None = None) -> float:
    """Return `value` as float after checking it is a finite number (any sign)."""
    v = _as_number(name, value)
    if not math.isfinite(v):
        raise ValueError(format_error(name, "a finite number", repr(value), fix or f"pass a finite {name}"))
    return v


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


# ---------------------------------------------------------------------------------- energies
def energy_reference_tensor(energy) -> torch.Tensor | None:
    """The first floating parameter or buffer of `energy` (its dtype and device rule inputs), or None.

    Duck-typed: anything that is not an ``nn.Module`` (a plain callable) has no reference.
    """
    if not isinstance(energy, torch.nn.Module):
        return None
    for t in energy.parameters():
        if t.is_floating_point():
            return t
    for t in energy.buffers():
        if t.is_floating_point():
            return t
    return None


def check_energy_input(name: str, x, event_shape, reference: torch.Tensor | None, *, finite: bool = True) -> torch.Tensor:
    """Check an energy's input: a floating tensor of shape ``(*batch, *event_shape)`` on the energy's
    device and with its dtype, with finite entries.

    Args:
        name: argument name for the message (``x``, ``x0``, ...).
        x: the input, ``(*batch, *event_shape)``.
        event_shape: the energy's event shape (None: any shape).
        reference: a floating parameter or buffer of the energy (its device and dtype rule), or None.
        finite: also require finite entries (reads a value back from the device).

    Returns:
        `x`, unchanged.

    Raises:
        TypeError: not a tensor, not floating point (integer, complex), or a dtype different from
            the energy's.
        ValueError: wrong trailing shape, wrong device, or non-finite entries.

    Example:
        >>> check_energy_input("x", torch.zeros(5, 2), (2,), None).shape
        torch.Size([5, 2])
    """
    if isinstance(x, torch.Tensor) and x.is_complex():
        raise TypeError(format_error(name, "a real floating-point tensor", f"dtype {x.dtype}", f"pass {name}.real (or {name}.abs()) as float"))
    check_tensor(name, x, trailing_shape=event_shape, floating=True)
    if reference is not None:
        if x.device != reference.device:
            raise ValueError(
                format_error(
                    name,
                    f"a tensor on {reference.device} (where the energy's parameters live)",
                    f"a tensor on {x.device}",
                    f"move the input with {name}.to({str(reference.device)!r}) or the energy with energy.to({str(x.device)!r})",
                )
            )
        if x.dtype != reference.dtype:
            to_energy = {torch.float64: "energy.double()", torch.float32: "energy.float()", torch.float16: "energy.half()"}.get(
                x.dtype, f"energy.to({x.dtype})"
            )
            raise TypeError(
                format_error(
                    name,
                    f"dtype {reference.dtype} (the energy's parameters)",
                    f"dtype {x.dtype}",
                    f"convert the input with {name}.to({reference.dtype}) or the energy with {to_energy}",
                )
            )
    elif x.dtype in (torch.float16, torch.bfloat16):
        # An energy without parameters computes in the input's dtype; half precision underflows
        # the exponentials of log densities, so ask for float32 instead of returning garbage.
        raise TypeError(format_error(name, "float32 or float64", f"dtype {x.dtype}", f"pass {name}.float()"))
    if finite:
        check_finite(name, x)
    return x


def check_energy_input_like(name: str, x, energy, *, finite: bool = True) -> torch.Tensor:
    """Check `x` against an energy: its ``event_shape`` (if it has one) and, for an ``nn.Module``,
    the dtype and device of its first floating parameter or buffer.

    Samplers call this once on ``x0`` so a mismatch is reported in the user's words (``x0``) with
    the fix (``x0.to(torch.float32)`` or ``energy.double()``), not by torch deep inside a matmul.

    Args:
        name: argument name for the message.
        x: the batch, ``(*batch, *event_shape)``.
        energy: any energy callable; ``getattr(energy, "event_shape", None)`` is used if present.
        finite: also require finite entries.

    Returns:
        `x`, unchanged.

    Raises:
        TypeError, ValueError: as `check_energy_input`.

    Example:
        >>> check_energy_input_like("x0", torch.zeros(4, 2), lambda x: (x ** 2).sum(-1)).shape
        torch.Size([4, 2])
    """
    event_shape = getattr(energy, "event_shape", None)
    return check_energy_input(name, x, event_shape, energy_reference_tensor(energy), finite=finite)


def check_energy_output(e, s, x: torch.Tensor) -> None:
    """Check an energy's output once, at initialisation: shape ``(batch,)``, finite, score shape.

    Args:
        e: the energies returned for `x`, expected shape ``(batch,)``.
        s: the score returned for `x` (or None), expected with the shape of `x`.
        x: the batch the energy was evaluated on, ``(batch, *event)``.

    Raises:
        ValueError: a wrong energy or score shape, or non-finite energies.
    """
    batch = x.shape[0]
    if not isinstance(e, torch.Tensor) or e.shape != (batch,):
        found = f"shape {tuple(e.shape)}" if isinstance(e, torch.Tensor) else type(e).__name__
        raise ValueError(
            format_error(
                "energy",
                f"a callable returning one energy per chain, shape ({batch},)",
                found,
                "reduce over the event dimensions, e.g. return E.sum(dim=-1) or E.flatten(1).sum(1)",
            )
        )
    if s is not None and (not isinstance(s, torch.Tensor) or s.shape != x.shape):
        raise ValueError(format_error("energy.score", f"shape {tuple(x.shape)} like x", f"{getattr(s, 'shape', type(s))}", "return -dE/dx with the shape of x"))
    if not bool(torch.isfinite(e).all()):
        bad = (~torch.isfinite(e)).nonzero().flatten()[:10].tolist()
        raise ValueError(format_error("energy(x0)", "finite energies at the initial states", f"non-finite energy for chains {bad}", "start the chains inside the support of the energy"))


def check_has_values(name: str, x: torch.Tensor) -> torch.Tensor:
    """Refuse a tensor without values (the ``meta`` device) where a number must be read from it."""
    if x.device.type == "meta":
        raise ValueError(format_error(name, "a tensor with values (on a real device)", "a tensor on the meta device", f"materialise it, e.g. {name}.to('cpu')"))
    return x


def check_callable_energy(name: str, energy) -> object:
    """An energy must be callable: ``energy(x) -> (batch,)``."""
    if not callable(energy):
        raise TypeError(format_error(name, "a callable energy(x) -> (batch,) (an ebm.Energy or a function)", type(energy).__name__, f"pass a function of x, e.g. {name}=lambda x: 0.5 * (x ** 2).sum(-1)"))
    return energy


def check_noise_conditional(name: str, energy) -> object:
    """A noise-conditional energy is called as ``energy(x, sigma)``: refuse a one-argument callable up front."""
    check_callable_energy(name, energy)
    try:
        inspect.signature(energy).bind(None, 1.0)
    except TypeError:
        raise TypeError(format_error(name, "a noise-conditional energy called as energy(x, sigma) (e.g. ebm.energies.NoiseConditionalEnergy)",
                                     "a callable that does not take (x, sigma)", f"wrap it: {name}=lambda x, sigma: E(x, sigma), or pass one energy per level")) from None
    except ValueError:  # no introspectable signature (a builtin): let the call decide
        pass
    return energy
