"""Figures render headless, with labelled axes and colour bars, and bad input is rejected clearly."""

import pytest
import torch

from ebm import plot
from ebm.energies import DoubleWell, Ring
from ebm.train import History


def _png_ok(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 3000


def test_landscape_has_labels_and_colorbar(tmp_path):
    ax = plot.landscape(DoubleWell(), ((-2, 2), (-2, 2)), resolution=40, kind="density", log_scale=True)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "DoubleWell"
    assert len(ax.figure.axes) == 2  # the colour bar
    plot.score_field(DoubleWell(), ((-2, 2), (-2, 2)), density=8, ax=ax)
    plot.samples(torch.randn(20, 2), ax=ax, label="data")
    assert _png_ok(plot.save(ax, tmp_path / "l.png"))


def test_trajectories_and_animation(tmp_path):
    path = torch.cumsum(0.1 * torch.randn(30, 5, 2, generator=torch.Generator().manual_seed(0)), 0)
    ax = plot.landscape(Ring(), resolution=30)
    plot.trajectories(path, ax=ax)
    assert _png_ok(plot.save(ax, tmp_path / "t.png"))
    gif = plot.animate_chains(Ring(), path, tmp_path / "chains.gif", max_frames=6)
    assert gif.read_bytes()[:6] == b"GIF89a"
    with pytest.raises(ValueError, match="path: expected shape"):
        plot.animate_chains(Ring(), torch.zeros(4, 3, 3), tmp_path / "bad.gif")


def test_image_grid_and_training_curves(tmp_path):
    ax = plot.image_grid(torch.rand(10, 64), title="filters")
    assert _png_ok(plot.save(ax, tmp_path / "g.png"))
    ax = plot.image_grid(torch.rand(6, 1, 8, 8), ncols=3, normalize="global")
    assert _png_ok(plot.save(ax, tmp_path / "g2.png"))
    with pytest.raises(ValueError, match="image_shape"):
        plot.image_grid(torch.rand(3, 10))
    h = History(losses=[3.0, 2.0, 1.5, 1.2], epoch_losses=[2.5, 1.35], metrics={"ll": [(1, -5.0), (2, -4.0)]}, epochs_done=2)
    assert _png_ok(plot.save(plot.training_curves(h), tmp_path / "c.png"))
    assert _png_ok(plot.save(plot.training_curves({"cd1": [1, 2, 3], "pcd": [1, 3, 4]}), tmp_path / "c2.png"))


def test_landscape_rejects_non_2d_energy_and_bad_bounds():
    from ebm.energies import Gaussian

    with pytest.raises(ValueError, match="energy: expected a 2-D energy"):
        plot.landscape(Gaussian(torch.zeros(3), torch.eye(3)))
    with pytest.raises(ValueError, match="bounds: expected finite limits"):
        plot.landscape(Ring(), ((1, -1), (0, 1)))
    with pytest.raises(ValueError, match="kind: expected one of"):
        plot.landscape(Ring(), kind="heat")
