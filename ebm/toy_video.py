"""A moving-dot video with a slow or a fast distractor (the testbed of Sobal et al. 2022).

Each video is ``T`` frames of a ``size × size`` image: a Gaussian dot moving with constant velocity
(chosen so it stays inside the frame) on top of a uniform-noise background. The background is the
distractor, and its speed is the point:

    "fixed"     one noise image per video, the same in every frame (a slow feature)
    "changing"  a fresh noise image in every frame (a fast feature: unpredictable)
    "none"      no background

    frame_t = exp(-‖pixel - p_t‖² / (2 s²)) + a u_t,   p_t = p_0 + t v,   u ~ U(0, 1)^(size × size)

Reference: Sobal, S V, Jalagam, Carion, Cho & LeCun (2022), "Joint Embedding Predictive
Architectures Focus on Slow Features", arXiv:2211.10831 (a dot in a 28×28 frame moved by
actions, uniform or structured noise that is fixed per sequence or changes every step).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_choice, check_generator, check_int, check_nonnegative, check_positive, format_error

__all__ = ["moving_dot_video"]

_NOISE = ("fixed", "changing", "none")


def moving_dot_video(
    n: int,
    steps: int,
    size: int = 16,
    *,
    noise: str = "fixed",
    noise_level: float = 1.0,
    dot_width: float = 1.0,
    max_speed: float = 1.0,
    margin: float = 2.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` videos of a dot moving at constant velocity over a fixed or changing noise background.

    Args:
        n: number of videos.
        steps: frames per video ``T`` (>= 1).
        size: frame side in pixels (>= 4).
        noise: ``"fixed"`` (one background per video), ``"changing"`` (a new one per frame) or ``"none"``.
        noise_level: amplitude ``a`` of the uniform background (>= 0).
        dot_width: the dot's Gaussian width ``s`` in pixels (> 0).
        max_speed: each velocity component is uniform in ``[-max_speed, max_speed]`` pixels/frame.
        margin: the dot's centre stays in ``[margin, size - 1 - margin]`` (needs ``size - 1 > 2 margin``).
        generator: random generator (positions, velocities, noise).
        dtype: floating dtype of the outputs.

    Returns:
        ``frames (n, T, size, size)``, ``positions (n, T, 2)`` (row, column of the dot's centre, in
        pixels) and ``velocities (n, 2)`` (pixels per frame).

    Raises:
        ValueError: non-positive sizes, an unknown ``noise``, a margin that leaves no room.

    Example:
        >>> frames, pos, vel = moving_dot_video(4, 8, 16, noise="fixed", generator=torch.Generator().manual_seed(0))
        >>> frames.shape, pos.shape, vel.shape
        (torch.Size([4, 8, 16, 16]), torch.Size([4, 8, 2]), torch.Size([4, 2]))
    """
    n = check_int("n", n, minimum=1)
    steps = check_int("steps", steps, minimum=1)
    size = check_int("size", size, minimum=4)
    noise = check_choice("noise", noise, _NOISE)
    noise_level = check_nonnegative("noise_level", noise_level)
    dot_width = check_positive("dot_width", dot_width)
    max_speed = check_nonnegative("max_speed", max_speed)
    margin = check_nonnegative("margin", margin)
    check_generator("generator", generator)
    if not dtype.is_floating_point:
        raise TypeError(format_error("dtype", "a floating dtype", str(dtype), "pass dtype=torch.float32"))
    room = size - 1 - 2 * margin
    if room <= 0:
        raise ValueError(format_error("margin", f"< (size - 1) / 2 = {(size - 1) / 2:g}", f"{margin:g}", "lower the margin or enlarge the frame"))
    # Velocities first, then a start point from the range that keeps the whole path inside.
    velocity = (2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1) * max_speed  # (n, 2)
    travel = velocity * (steps - 1)  # (n, 2)
    low = margin + (-travel).clamp(min=0)  # (n, 2)
    high = size - 1 - margin - travel.clamp(min=0)  # (n, 2)
    # A path longer than the room is slowed down to fit.
    too_long = high < low
    if bool(too_long.any()):
        scale = torch.where(too_long, room / travel.abs().clamp(min=1e-12), torch.ones_like(travel))
        velocity, travel = velocity * scale, travel * scale
        low, high = margin + (-travel).clamp(min=0), size - 1 - margin - travel.clamp(min=0)
    start = low + (high - low) * torch.rand(n, 2, generator=generator, dtype=torch.float64)  # (n, 2)
    t = torch.arange(steps, dtype=torch.float64)
    positions = start[:, None, :] + t[None, :, None] * velocity[:, None, :]  # (n, T, 2)
    grid = torch.arange(size, dtype=torch.float64)
    d_row = (grid[None, None, :] - positions[..., 0:1]) ** 2  # (n, T, size)
    d_col = (grid[None, None, :] - positions[..., 1:2]) ** 2  # (n, T, size)
    frames = torch.exp(-(d_row[..., :, None] + d_col[..., None, :]) / (2 * dot_width**2))  # (n, T, size, size)
    if noise == "fixed":
        frames = frames + noise_level * torch.rand(n, 1, size, size, generator=generator, dtype=torch.float64)
    elif noise == "changing":
        frames = frames + noise_level * torch.rand(n, steps, size, size, generator=generator, dtype=torch.float64)
    return frames.to(dtype), positions.to(dtype), velocity.to(dtype)
