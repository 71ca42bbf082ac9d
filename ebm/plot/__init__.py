"""Figures: energy landscapes, score fields, samples and chains, image grids, training curves and
chain animations. Headless-safe (uses matplotlib's Agg backend unless one was chosen).

Every function draws on a given ``ax`` (or makes a new figure) and returns the matplotlib object
it drew, so figures compose; `save` writes one to disk.
"""

import matplotlib

if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "module://matplotlib_inline.backend_inline"):
    import os

    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")

from ebm.plot.animation import animate_chains
from ebm.plot.curves import training_curves
from ebm.plot.diagnostics import autocorrelation_plot, trace_plot
from ebm.plot.images import image_grid
from ebm.plot.landscape import data_density, landscape, samples, score_field, trajectories
from ebm.plot.style import new_axes, save

__all__ = [
    "landscape",
    "score_field",
    "samples",
    "trajectories",
    "data_density",
    "image_grid",
    "training_curves",
    "animate_chains",
    "trace_plot",
    "autocorrelation_plot",
    "new_axes",
    "save",
]
