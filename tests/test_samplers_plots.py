"""Trace and autocorrelation plots, and the `ebm demo sampling` story in quick mode."""

import pytest
import torch

from ebm import plot


def test_trace_and_autocorrelation_plots(tmp_path):
    draws = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    ax = plot.trace_plot(draws, label="x₁")
    assert "R-hat" in ax.get_title() and len(ax.lines) == 4
    assert plot.save(ax, tmp_path / "trace.png").stat().st_size > 0
    ax = plot.autocorrelation_plot(draws, max_lag=20)
    assert ax.get_xlabel() == "lag"
    plot.save(ax, tmp_path / "acf.png")
    with pytest.raises(ValueError, match="draws"):
        plot.trace_plot(torch.full((10, 2), float("nan")))


def test_sampling_demo_quick(tmp_path):
    from ebm.demos import load_stories

    story = {s.name: s for s in load_stories()}["sampling"]
    paths = story.run(tmp_path, torch.Generator().manual_seed(0), True)
    assert [p.suffix for p in paths] == [".gif", ".png", ".png"]
    assert all(p.stat().st_size > 0 for p in paths)
