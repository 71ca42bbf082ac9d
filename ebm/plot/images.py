"""Image grids: RBM filters, dictionary atoms, samples."""

from __future__ import annotations

import math

import numpy as np
import torch

from ebm._validation import check_int, check_tensor, format_error
from ebm.plot.style import new_axes


def image_grid(images, *, image_shape=None, ncols: int | None = None, ax=None, cmap: str = "gray", title: str | None = None, normalize: str = "each"):
    """Tile images into one picture.

    Args:
        images: ``(n, h, w)``, ``(n, 1, h, w)``, or flat ``(n, h*w)`` with ``image_shape=(h, w)``
            (square images are inferred).
        image_shape: ``(h, w)`` for flat input.
        ncols: images per row (default: about √n).
        normalize: 'each' rescales every tile to [0, 1] (filters), 'global' one range for all
            (samples), 'none' shows values as they are.
    Returns:
        The axes.
    """
    x = torch.as_tensor(images).detach().double().cpu()
    check_tensor("images", x, min_ndim=2, nonempty=True)
    if x.dim() == 4:
        if x.shape[1] != 1:
            raise ValueError(format_error("images", "single-channel (n, 1, h, w)", f"shape {tuple(x.shape)}", "plot one channel at a time"))
        x = x[:, 0]
    if x.dim() == 2:
        if image_shape is None:
            side = int(round(math.sqrt(x.shape[1])))
            if side * side != x.shape[1]:
                raise ValueError(format_error("image_shape", "(h, w) for non-square flat images", "None", "pass image_shape=(h, w)"))
            image_shape = (side, side)
        x = x.reshape(-1, *image_shape)  # (n, h, w)
    n, h, w = x.shape
    ncols = check_int("ncols", ncols, minimum=1) if ncols is not None else int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    if normalize == "each":
        lo = x.amin(dim=(1, 2), keepdim=True)
        hi = x.amax(dim=(1, 2), keepdim=True)
        x = (x - lo) / (hi - lo).clamp_min(1e-12)
    elif normalize == "global":
        x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    canvas = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1), np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = x[i].numpy()
    ax = new_axes(ax, figsize=(max(3.0, 0.45 * ncols * w / 8 * 2), max(3.0, 0.45 * nrows * h / 8 * 2)))
    ax.imshow(np.ma.masked_invalid(canvas), cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
