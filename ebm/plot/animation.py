"""GIF animations of chains moving over a 2-D energy landscape."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.animation import FuncAnimation, PillowWriter

from ebm._validation import check_int, check_tensor, format_error
from ebm.plot.landscape import landscape


def animate_chains(energy, path, out, *, bounds=((-3, 3), (-3, 3)), fps: int = 12, max_frames: int = 60, tail: int = 5, title: str | None = None) -> Path:
    """Write a GIF of chains ``path (T, n_chains, 2)`` moving over the energy's landscape.

    Args:
        energy: the 2-D energy drawn underneath.
        path: chain states over time, ``(T, n_chains, 2)``.
        out: output file (``.gif``).
        bounds: plotting box.
        fps: frames per second.
        max_frames: the trajectory is thinned to at most this many frames.
        tail: how many previous frames each chain's fading trail shows.
    Returns:
        The path of the GIF.
    """
    p = torch.as_tensor(path).detach().double().cpu()
    check_tensor("path", p, ndim=3, nonempty=True)
    if p.shape[-1] != 2:
        raise ValueError(format_error("path", "shape (T, n_chains, 2)", f"shape {tuple(p.shape)}", "pass a 2-D trajectory"))
    max_frames = check_int("max_frames", max_frames, minimum=2)
    stride = max(1, -(-p.shape[0] // max_frames))
    p = p[::stride].numpy()
    fig, ax = plt.subplots(figsize=(5.2, 4.4), constrained_layout=True)
    landscape(energy, bounds, ax=ax, resolution=150, title=title)
    (x0, x1), (y0, y1) = bounds
    # Lay the figure out once; re-running the constrained layout on every frame dominates the cost.
    fig.canvas.draw()
    fig.set_layout_engine("none")
    dots = ax.scatter(p[0, :, 0], p[0, :, 1], s=8, c="tab:red", linewidths=0)
    trail = ax.scatter([], [], s=3, c="tab:red", alpha=0.3, linewidths=0)
    label = ax.text(0.02, 0.96, "", transform=ax.transAxes, color="white", va="top", fontsize=9)

    def frame(i):
        dots.set_offsets(p[i])
        trail.set_offsets(p[max(0, i - tail) : i + 1].reshape(-1, 2))
        label.set_text(f"step {i * stride}")
        return dots, trail, label

    anim = FuncAnimation(fig, frame, frames=p.shape[0], blit=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    anim.save(out, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return out
