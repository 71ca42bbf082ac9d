"""Input validation for `ebm`: re-exports the shared checks of `samplers._validation` and adds the
checks that know about energies, covariance matrices and probability vectors.

All user-facing error messages are built here (or in `samplers._validation`) with `format_error`,
so they share one shape: argument, what was expected, what was found, and the fix.
"""

from __future__ import annotations

import torch

from samplers._validation import (  # noqa: F401  (re-exported: the one validation vocabulary)
    check_choice,
    check_finite,
    check_generator,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
    check_same_device,
    check_tensor,
    format_error,
    input_checks_enabled,
    trusted_inputs,
)


def check_energy_input(name: str, x, event_shape: torch.Size, reference: torch.Tensor | None) -> torch.Tensor:
    """Check an energy's input: a floating tensor of shape (*batch, *event_shape), on the energy's
    device and dtype, with finite entries.

    Args:
        name: argument name for the message.
        x: the input.
        event_shape: the energy's event shape.
        reference: a parameter or buffer of the energy (its device and dtype rule), or None.

    Raises:
        TypeError: not a tensor, integer dtype, or dtype different from the energy's.
        ValueError: wrong trailing shape, wrong device, or non-finite entries.
    """
    check_tensor(name, x, trailing_shape=event_shape, floating=True)
    if reference is not None:
        if x.device != reference.device:
            raise ValueError(
                format_error(
                    name,
                    f"a tensor on {reference.device} (where the energy's parameters live)",
                    f"a tensor on {x.device}",
                    f"move the input with {name}.to({str(reference.device)!r}) or the energy with .to({str(x.device)!r})",
                )
            )
        if x.dtype != reference.dtype:
            raise TypeError(
                format_error(
                    name,
                    f"dtype {reference.dtype} (the energy's parameters)",
                    f"dtype {x.dtype}",
                    f"convert the input with {name}.to({reference.dtype}) or the energy with .to({x.dtype})",
                )
            )
    check_finite(name, x)
    return x


def check_covariance(name: str, cov: torch.Tensor, dim: int) -> torch.Tensor:
    """Check a (dim, dim) symmetric positive-definite matrix (or a batch of them, (..., dim, dim))."""
    check_tensor(name, cov, floating=True, finite=True)
    if cov.dim() < 2 or cov.shape[-1] != dim or cov.shape[-2] != dim:
        raise ValueError(
            format_error(name, f"shape (..., {dim}, {dim})", f"shape {tuple(cov.shape)}", f"pass {dim}x{dim} covariance matrices")
        )
    if not torch.allclose(cov, cov.transpose(-1, -2), rtol=1e-5, atol=1e-8):
        raise ValueError(format_error(name, "a symmetric matrix", "an asymmetric matrix", f"symmetrise it: ({name} + {name}.T) / 2"))
    _, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        smallest = float(torch.linalg.eigvalsh(cov).min())
        raise ValueError(
            format_error(
                name,
                "a positive-definite matrix",
                f"smallest eigenvalue {smallest:.3g}",
                f"add a small ridge, e.g. {name} + 1e-6 * torch.eye({dim})",
            )
        )
    return cov


def check_weights(name: str, weights: torch.Tensor, k: int | None = None, atol: float = 1e-5) -> torch.Tensor:
    """Check a probability vector: non-negative entries that sum to 1 (within `atol`)."""
    check_tensor(name, weights, ndim=1, floating=True, finite=True)
    if k is not None and weights.shape[0] != k:
        raise ValueError(format_error(name, f"{k} weights (one per component)", f"{weights.shape[0]}", "pass one weight per component"))
    if bool((weights < 0).any()):
        raise ValueError(format_error(name, "non-negative weights", f"minimum {float(weights.min()):.3g}", "pass probabilities >= 0"))
    total = float(weights.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(format_error(name, "weights that sum to 1", f"sum {total:.6g}", f"normalise: {name} / {name}.sum()"))
    return weights
