"""Training curves: loss per step and metrics per epoch."""

from __future__ import annotations

import numpy as np

from ebm.plot.style import new_axes


def training_curves(history, *, ax=None, metrics=None, title: str = "training", smooth: int = 0):
    """Plot the loss per step of an `ebm.train.History` (or a ``{name: values}`` dict) and its
    metrics per epoch on a second axis.

    Args:
        history: a History, or a dict mapping a curve's name to a list of values.
        metrics: which metrics to draw (default: all).
        smooth: moving-average window for the step losses (0: none).
    """
    ax = new_axes(ax, figsize=(6.0, 3.8))
    if isinstance(history, dict):
        for name, values in history.items():
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("value")
        ax.legend(fontsize=8)
        ax.set_title(title)
        return ax
    losses = np.asarray(history.losses, dtype=float)
    if smooth and len(losses) >= smooth:
        losses = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")
    ax.plot(np.arange(len(losses)), losses, color="tab:blue", lw=1, label="loss")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss", color="tab:blue")
    names = [m for m in history.metrics if metrics is None or m in metrics]
    if names:
        twin = ax.twinx()
        steps_per_epoch = max(1, len(history.losses) // max(1, history.epochs_done))
        for name, color in zip(names, ("tab:red", "tab:green", "tab:purple", "tab:orange")):
            epochs, values = zip(*history.metrics[name])
            twin.plot(np.asarray(epochs) * steps_per_epoch, values, "o-", color=color, ms=3, label=name)
        twin.set_ylabel(", ".join(names))
        twin.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    return ax
