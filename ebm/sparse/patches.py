"""Natural-image patches from the two photographs scikit-learn ships (no download), for dictionary learning.

Gregor & LeCun (2010) learn their dictionaries and LISTA encoders on natural-image patches; here
the images are ``sklearn.datasets.load_sample_images()`` (``china.jpg`` and ``flower.jpg``,
427 × 640 RGB each).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_generator, check_int

__all__ = ["sample_image_patches"]


def sample_image_patches(n: int, size: int = 10, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
    """``n`` random ``size × size`` grey-level patches, each minus its mean, scaled to unit global variance.

    Grey level is the mean of the RGB channels, in [0, 1]; positions are drawn uniformly over both
    images. Removing each patch's mean (its DC component) is the usual preprocessing for sparse
    coding of natural images; the single global scale makes the whole set's variance 1.

    Args:
        n: number of patches (>= 1). size: patch side (2 <= size <= 427).
        generator: randomness of the positions. dtype: floating dtype of the result.

    Returns:
        ``(n, size * size)`` patches, row-major pixels.

    Raises:
        ValueError / TypeError: ``n < 1``, ``size`` out of range, a bad generator.

    Example:
        >>> sample_image_patches(5, 8, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([5, 64])
    """
    from sklearn.datasets import load_sample_images

    n = check_int("n", n, minimum=1)
    size = check_int("size", size, minimum=2, maximum=427)
    check_generator("generator", generator)
    images = [torch.tensor(im.copy(), dtype=torch.float64).mean(-1) / 255.0 for im in load_sample_images().images]  # (427, 640) each
    which = torch.randint(len(images), (n,), generator=generator)
    h, w = images[0].shape
    top = torch.randint(h - size + 1, (n,), generator=generator)
    left = torch.randint(w - size + 1, (n,), generator=generator)
    offs = torch.arange(size)
    stack = torch.stack(images)  # (2, h, w)
    ii = (top[:, None] + offs)[:, :, None]  # (n, size, 1)
    jj = (left[:, None] + offs)[:, None, :]  # (n, 1, size)
    patches = stack[which[:, None, None], ii, jj].reshape(n, size * size)  # (n, size²)
    patches = patches - patches.mean(1, keepdim=True)
    return (patches / patches.std().clamp_min(1e-12)).to(dtype)
