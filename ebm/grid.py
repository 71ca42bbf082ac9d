"""Regular 2-D grids: where landscapes are drawn and where 2-D partition functions are integrated.

A low-level module (imports only `ebm._validation`), so energies, evaluation and plots can all
use it without importing upward.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebm._validation import check_int, format_error, trusted_inputs

__all__ = ["check_bounds", "grid_points", "energy_on_grid", "grid_log_partition", "grid_sample"]


def check_bounds(name: str, bounds) -> tuple[tuple[float, float], tuple[float, float]]:
    """Validate ``((x_min, x_max), (y_min, y_max))`` with finite, increasing limits."""
    try:
        (x0, x1), (y0, y1) = bounds
        x0, x1, y0, y1 = (float(v) for v in (x0, x1, y0, y1))
    except (TypeError, ValueError):
        raise ValueError(format_error(name, "((x_min, x_max), (y_min, y_max))", repr(bounds), "pass two (low, high) pairs")) from None
    if not all(math.isfinite(v) for v in (x0, x1, y0, y1)) or x0 >= x1 or y0 >= y1:
        raise ValueError(format_error(name, "finite limits with low < high", repr(bounds), "e.g. ((-3, 3), (-3, 3))"))
    return (x0, x1), (y0, y1)


def grid_points(bounds, resolution: int, *, dtype=None, device=None) -> tuple[Tensor, Tensor, Tensor]:
    """Cell centres of a ``resolution × resolution`` grid (midpoint rule).

    Returns:
        ``(xs (r,), ys (r,), points (r*r, 2))``; ``points`` is ordered row by row (y outer, x inner),
        so ``values.reshape(r, r)`` is indexed ``[y, x]`` as matplotlib's imshow/contour expect.
    """
    (x0, x1), (y0, y1) = check_bounds("bounds", bounds)
    r = check_int("resolution", resolution, minimum=2)
    dtype = dtype or torch.get_default_dtype()
    xs = x0 + (torch.arange(r, dtype=dtype, device=device) + 0.5) * ((x1 - x0) / r)
    ys = y0 + (torch.arange(r, dtype=dtype, device=device) + 0.5) * ((y1 - y0) / r)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return xs, ys, torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # (r*r, 2)


def energy_on_grid(energy, bounds, resolution: int = 200, *, chunk: int = 65536, dtype=None) -> tuple[Tensor, Tensor, Tensor]:
    """Evaluate a 2-D energy on a grid: returns ``(xs (r,), ys (r,), E (r, r))`` with ``E[i, j] = E(xs[j], ys[i])``.

    Raises:
        ValueError: the energy is not 2-D, or bad bounds/resolution.
    """
    if not callable(energy):
        raise TypeError(format_error("energy", "an energy callable (batch, 2) -> (batch,)", type(energy).__name__, "pass an ebm.Energy or a function of x"))
    shape = tuple(getattr(energy, "event_shape", (2,)))
    if shape != (2,):
        raise ValueError(format_error("energy", "a 2-D energy (event_shape (2,))", f"event_shape {shape}", "plot a 2-D model or a 2-D slice of it"))
    ref = next((t for t in list(energy.parameters()) + list(energy.buffers()) if t.is_floating_point()), None) if hasattr(energy, "parameters") else None
    dtype = dtype or (ref.dtype if ref is not None else torch.get_default_dtype())
    device = ref.device if ref is not None else None
    xs, ys, pts = grid_points(bounds, resolution, dtype=dtype, device=device)
    with torch.no_grad(), trusted_inputs():
        values = torch.cat([energy(pts[i : i + chunk]) for i in range(0, pts.shape[0], chunk)])
    return xs, ys, values.reshape(len(ys), len(xs))  # (r, r), [y, x]


def grid_log_partition(energy, bounds, resolution: int = 400, *, dtype=None) -> Tensor:
    """``log Z ≈ log Σ_cells exp(-E(c)) · ΔxΔy`` by the midpoint rule on a 2-D box.

    Accurate when the box holds essentially all the mass and the grid resolves the energy's
    smallest length scale (the midpoint rule converges fast for smooth, decaying integrands).
    Evaluate in float64 (``energy.double()``) for many digits.

    Args:
        energy: a 2-D energy, ``(n, 2) -> (n,)``.
        bounds: ``((x_min, x_max), (y_min, y_max))``.
        resolution: cells per side.
        dtype: grid dtype (default: the energy's own, or torch's default for parameter-free energies).

    Returns:
        Scalar tensor, the log partition function restricted to the box.

    Example:
        >>> from ebm.energies import Gaussian
        >>> grid_log_partition(Gaussian(torch.zeros(2), torch.eye(2)).double(), ((-8, 8), (-8, 8)), 400)
    """
    xs, ys, values = energy_on_grid(energy, bounds, resolution, dtype=dtype)
    if not bool(torch.isfinite(values).all()):
        raise ValueError(format_error("energy", "finite energies on the whole grid", "non-finite values", "shrink the bounds"))
    (x0, x1), (y0, y1) = check_bounds("bounds", bounds)
    cell = math.log((x1 - x0) / len(xs)) + math.log((y1 - y0) / len(ys))
    return torch.logsumexp(-values.reshape(-1), dim=0) + cell


def grid_sample(energy, bounds, n: int, *, resolution: int = 400, generator: torch.Generator | None = None, dtype=None) -> Tensor:
    """Draw ``n`` points ``(n, 2)`` from a 2-D energy restricted to a box, by the grid.

    Picks a cell with probability ∝ ``exp(-E(centre))`` and a uniform point inside it: exact for
    the piecewise-constant density on the grid, so with a fine grid these are the reference
    samples that MCMC output is compared with (for any 2-D energy, no sampler involved).
    """
    n = check_int("n", n, minimum=1)
    (x0, x1), (y0, y1) = check_bounds("bounds", bounds)
    xs, ys, values = energy_on_grid(energy, bounds, resolution, dtype=dtype)
    logits = -values.reshape(-1)
    probs = torch.softmax(logits - logits.max(), dim=0).to(torch.float64).cpu()
    cells = torch.multinomial(probs, n, replacement=True, generator=generator)
    r = len(xs)
    row, col = cells // r, cells % r
    jitter = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    px = x0 + (col.to(torch.float64) + jitter[:, 0]) * ((x1 - x0) / r)
    py = y0 + (row.to(torch.float64) + jitter[:, 1]) * ((y1 - y0) / r)
    return torch.stack([px, py], 1).to(values.dtype)
