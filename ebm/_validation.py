"""Input validation for `ebm`: re-exports the shared checks of the public `samplers.validation` and
adds the checks that know about covariance matrices and probability vectors.

All user-facing error messages are built here (or in `samplers.validation`) with `format_error`,
so they share one shape: argument, what was expected, what was found, and the fix.
"""

from __future__ import annotations

import torch

from samplers.validation import (  # noqa: F401  (re-exported: the one validation vocabulary)
    check_choice,
    check_energy_input,
    check_energy_input_like,
    check_energy_output,
    check_finite,
    check_has_values,
    check_generator,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
    check_real,
    check_same_device,
    check_tensor,
    energy_reference_tensor,
    format_error,
    input_checks_enabled,
    trusted_inputs,
)


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
