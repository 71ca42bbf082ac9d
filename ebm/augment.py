"""Two-view augmentations: random shifts, small affine maps, noise and masking for 8×8 digits,
and Gaussian jitter for 2-D toy points.

Joint-embedding methods learn what the augmentations leave unchanged, so the augmentations *are*
the prior: small translations, rotations and scalings, pixel noise and a masked square teach an
encoder that a digit's identity survives them. Every call takes an explicit ``generator``.

Example:
    >>> aug = DigitAugment()
    >>> x_a, x_b = aug.two_views(x, generator=g)    # x: (n, 64) -> two (n, 64) views
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm._validation import check_generator, check_int, check_nonnegative, check_probability, check_tensor, format_error

__all__ = ["DigitAugment", "GaussianJitter"]


def _check_batch(name: str, x) -> Tensor:
    """A real floating tensor with finite entries (complex, integer, NaN and inf are refused)."""
    if isinstance(x, Tensor) and x.is_complex():
        raise TypeError(format_error(name, "a real floating-point tensor", f"dtype {x.dtype}", f"pass {name}.real"))
    return check_tensor(name, x, floating=True, finite=True)


def _uniform(n: int, low: float, high: float, generator, like: Tensor) -> Tensor:
    u = torch.rand(n, generator=generator, dtype=like.dtype).to(like.device)
    return low + (high - low) * u


class DigitAugment:
    """Random affine map (shift, rotation, scale) + Gaussian noise + a masked square, per image.

    Args:
        side: image side length (default 8).
        shift: maximal translation in pixels (default 1).
        rotation: maximal rotation in degrees (default 15).
        scale: maximal relative zoom, zoom ∈ [1 - scale, 1 + scale] (default 0.1).
        noise: std of added Gaussian noise relative to the batch's maximum intensity (default 0.05).
        mask_prob: probability of blanking a random ``mask_size``² square (default 0.5).
        mask_size: side of the masked square (default 3).

    Shapes: ``__call__(x, generator)``: ``(n, side*side)``, ``(n, side, side)`` or
    ``(n, 1, side, side)`` (the layout of ``load_digits(images=True)``) → same shape.

    Example:
        >>> DigitAugment(shift=1, rotation=10)(torch.rand(5, 64), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([5, 64])
    """

    def __init__(self, side: int = 8, shift: float = 1.0, rotation: float = 15.0, scale: float = 0.1, noise: float = 0.05, mask_prob: float = 0.5, mask_size: int = 3):
        self.side = check_int("side", side, minimum=2)
        self.shift = check_nonnegative("shift", shift)
        self.rotation = check_nonnegative("rotation", rotation)
        self.scale = check_nonnegative("scale", scale)
        if self.scale >= 1:
            raise ValueError(format_error("scale", "a relative zoom in [0, 1)", repr(scale), "pass e.g. scale=0.1"))
        self.noise = check_nonnegative("noise", noise)
        self.mask_prob = check_probability("mask_prob", mask_prob, open_interval=False)
        self.mask_size = check_int("mask_size", mask_size, minimum=1, maximum=self.side)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_generator("generator", generator)
        _check_batch("x", x)
        s = self.side
        if x.shape[-1] == s * s and x.dim() == 2:
            img = x.reshape(-1, 1, s, s)  # (n, 1, s, s)
        elif x.dim() == 3 and tuple(x.shape[1:]) == (s, s):
            img = x.unsqueeze(1)  # (n, 1, s, s)
        elif x.dim() == 4 and tuple(x.shape[1:]) == (1, s, s):
            img = x  # (n, 1, s, s)
        else:
            raise ValueError(
                format_error(
                    "x",
                    f"images of shape (n, {s * s}), (n, {s}, {s}) or (n, 1, {s}, {s})",
                    f"shape {tuple(x.shape)}",
                    f"pass digits in one of these layouts, or set DigitAugment(side=...) to your image side",
                )
            )
        n = img.shape[0]
        if n == 0:
            return x.clone()  # an empty batch augments to an empty batch
        angle = _uniform(n, -1, 1, generator, x) * math.radians(self.rotation)
        zoom = _uniform(n, 1 - self.scale, 1 + self.scale, generator, x)
        t = _uniform(2 * n, -1, 1, generator, x).view(n, 2) * self.shift * 2 / s  # pixels -> [-1, 1] coords
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)  # (n, 2, 3)
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        out = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (n, 1, s, s)
        if self.noise > 0:
            peak = x.detach().abs().max().clamp_min(1e-12)
            out = out + self.noise * peak * torch.randn(out.shape, generator=generator, dtype=x.dtype).to(x.device)
        if self.mask_prob > 0:
            m = self.mask_size
            keep = torch.ones_like(out)
            rows = torch.randint(0, s - m + 1, (n,), generator=generator)
            cols = torch.randint(0, s - m + 1, (n,), generator=generator)
            apply = torch.rand(n, generator=generator) < self.mask_prob
            ar = torch.arange(s)
            inside = ((ar[None, :] >= rows[:, None]) & (ar[None, :] < rows[:, None] + m))[:, :, None] & ((ar[None, :] >= cols[:, None]) & (ar[None, :] < cols[:, None] + m))[:, None, :]  # (n, s, s)
            keep = keep * (~(inside & apply[:, None, None])).to(x.dtype).to(x.device)[:, None]
            out = out * keep
        return out.reshape(x.shape)

    def two_views(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Two independent augmentations of the same batch."""
        return self(x, generator), self(x, generator)


class GaussianJitter:
    """``x + σ ε`` with ε ~ N(0, I): the two-view augmentation for 2-D toy points.

    Shapes: ``(n, *event) → (n, *event)``.
    """

    def __init__(self, std: float = 0.1):
        self.std = check_nonnegative("std", std)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_generator("generator", generator)
        _check_batch("x", x)
        return x + self.std * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)

    def two_views(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        return self(x, generator), self(x, generator)
