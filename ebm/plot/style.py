"""Shared figure plumbing: new axes and saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def new_axes(ax=None, *, figsize=(5.0, 4.2)):
    """Return ``ax`` if given, else the axes of a new figure."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def save(fig_or_ax, path, *, dpi: int = 120) -> Path:
    """Write a figure (or the figure of an axes) to ``path``, creating folders; closes it."""
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
