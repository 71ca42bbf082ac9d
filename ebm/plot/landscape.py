"""Energy landscapes of 2-D energies: heat map + contours, score fields, samples and chains."""

from __future__ import annotations

import numpy as np
import torch

from ebm._validation import check_choice, check_tensor, format_error
from ebm.grid import check_bounds, energy_on_grid
from ebm.plot.style import new_axes


def landscape(
    energy,
    bounds=((-3, 3), (-3, 3)),
    *,
    resolution: int = 200,
    kind: str = "energy",
    log_scale: bool = False,
    ax=None,
    cmap: str | None = None,
    contours: int = 12,
    colorbar: bool = True,
    title: str | None = None,
    clip_quantile: float = 0.98,
):
    """Draw a 2-D energy as a heat map with contour lines.

    Args:
        energy: a 2-D energy, ``(n, 2) -> (n,)``.
        bounds: ``((x_min, x_max), (y_min, y_max))``.
        resolution: grid cells per side.
        kind: 'energy' (E, shifted so its minimum on the grid is 0) or 'density'
            (``exp(-E)`` normalised on the grid).
        log_scale: colour by log10 of the shown quantity (density) or of ``1 + E`` (energy).
        ax: axes to draw on (default: a new figure).
        cmap: colour map (default 'viridis' for energy — dark is low energy, i.e. likely — and
            'magma' for density — bright is likely).
        contours: number of contour lines (0 for none).
        colorbar: add a labelled colour bar.
        title: axes title (default: the energy's class name).
        clip_quantile: colours saturate at this quantile of the energy, so a few huge values
            (far from the data) do not wash out the picture.

    Returns:
        The axes.
    """
    check_choice("kind", kind, ("energy", "density"))
    (x0, x1), (y0, y1) = check_bounds("bounds", bounds)
    xs, ys, values = energy_on_grid(energy, bounds, resolution)
    e = values.detach().double().cpu().numpy()
    if not np.isfinite(e).any():
        raise ValueError(format_error("energy", "finite energies somewhere on the grid", "only non-finite values", "check the model or the bounds"))
    e = e - np.nanmin(e)
    if kind == "density":
        cell = (x1 - x0) * (y1 - y0) / e.size
        z = np.exp(-e)
        z = z / (z.sum() * cell)
        label = "density p(x)" + " (log10)" if log_scale else "density p(x)"
        z = np.log10(np.maximum(z, 1e-300)) if log_scale else z
        cmap = cmap or "magma"
        vmax = None
        vmin = max(np.nanmax(z) - 6, np.nanmin(z)) if log_scale else None
    else:
        vmax = np.quantile(e, clip_quantile)
        z = np.minimum(e, vmax)
        label = "energy E(x) - min E"
        if log_scale:
            z, vmax, label = np.log10(1 + z), None, "log10(1 + E(x) - min E)"
        cmap = cmap or "viridis"
        vmin = None
    ax = new_axes(ax)
    extent = (x0, x1, y0, y1)
    im = ax.imshow(z, origin="lower", extent=extent, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax, interpolation="bilinear")
    if contours:
        # Levels span the coloured range only, so no lines crowd the saturated regions.
        lo = np.nanmin(z) if vmin is None else vmin
        hi = np.nanmax(z) if vmax is None else vmax
        levels = np.linspace(lo, hi, contours + 2)[1:-1]
        ax.contour(xs.cpu().numpy(), ys.cpu().numpy(), z, levels=levels, colors="white", linewidths=0.5, alpha=0.6)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=label)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title if title is not None else type(energy).__name__)
    return ax


def score_field(energy, bounds=((-3, 3), (-3, 3)), *, density: int = 20, ax=None, color: str = "white", normalize: bool = True):
    """Arrows of the score ``-∇E(x)`` on a ``density × density`` grid (pointing downhill in energy).

    With ``normalize`` the arrows show direction only (lengths vary over orders of magnitude).
    """
    from ebm.grid import grid_points

    xs, ys, pts = grid_points(bounds, density, dtype=_dtype_of(energy))
    s = energy.score(pts).detach().double().cpu().numpy().reshape(density, density, 2)
    if normalize:
        s = s / np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
    ax = new_axes(ax)
    ax.quiver(xs.cpu().numpy(), ys.cpu().numpy(), s[..., 0], s[..., 1], color=color, alpha=0.8, width=0.003)
    return ax


def samples(points, *, ax=None, color: str = "tab:red", size: float = 4.0, alpha: float = 0.6, label: str | None = None):
    """Scatter 2-D points ``(n, 2)`` on the axes."""
    pts = _as_points("points", points)
    ax = new_axes(ax)
    ax.scatter(pts[:, 0], pts[:, 1], s=size, c=color, alpha=alpha, linewidths=0, label=label)
    if label:
        ax.legend(loc="upper right", fontsize=8)
    return ax


def trajectories(path, *, ax=None, max_chains: int = 20, color: str = "tab:orange"):
    """Draw chain paths ``(T, n_chains, 2)``: lines with the start marked ○ and the end ●."""
    p = torch.as_tensor(path).detach().double().cpu()
    check_tensor("path", p, ndim=3)
    if p.shape[-1] != 2:
        raise ValueError(format_error("path", "shape (T, n_chains, 2)", f"shape {tuple(p.shape)}", "pass a 2-D trajectory"))
    p = p[:, :max_chains].numpy()
    ax = new_axes(ax)
    for c in range(p.shape[1]):
        ax.plot(p[:, c, 0], p[:, c, 1], color=color, lw=0.8, alpha=0.8)
    ax.scatter(p[0, :, 0], p[0, :, 1], facecolors="none", edgecolors=color, s=18, label="start")
    ax.scatter(p[-1, :, 0], p[-1, :, 1], c=color, s=18, label="end")
    return ax


def data_density(
    points, bounds=None, *, resolution: int = 200, ax=None, title: str | None = None, show_points: bool = True, bandwidth_scale: float = 0.4
):
    """A 2-D data set as a Gaussian kernel density estimate with the points on top.

    The bandwidth is Scott's rule times ``bandwidth_scale``: Scott's rule assumes one Gaussian
    blob and blurs thin structures (spirals, rings) away, so it is narrowed by default.
    """
    from scipy.stats import gaussian_kde

    pts = _as_points("points", points)
    if bounds is None:
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.1 * (hi - lo)
        bounds = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    (x0, x1), (y0, y1) = check_bounds("bounds", bounds)
    kde = gaussian_kde(pts.T)
    kde.set_bandwidth(kde.factor * bandwidth_scale)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    dens = kde(np.stack([gx.ravel(), gy.ravel()])).reshape(resolution, resolution)
    ax = new_axes(ax)
    im = ax.imshow(dens, origin="lower", extent=(x0, x1, y0, y1), cmap="magma", aspect="auto")
    ax.figure.colorbar(im, ax=ax, label="kernel density estimate")
    if show_points:
        ax.scatter(pts[:, 0], pts[:, 1], s=2, c="white", alpha=0.35, linewidths=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or f"data ({len(pts)} points)")
    return ax


def _as_points(name, points) -> np.ndarray:
    p = torch.as_tensor(points).detach().double().cpu()
    check_tensor(name, p, ndim=2, nonempty=True)
    if p.shape[1] != 2:
        raise ValueError(format_error(name, "shape (n, 2)", f"shape {tuple(p.shape)}", "pass 2-D points"))
    return p.numpy()


def _dtype_of(energy):
    ref = next((t for t in list(energy.parameters()) + list(energy.buffers()) if t.is_floating_point()), None)
    return ref.dtype if ref is not None else torch.get_default_dtype()
