"""The shared diagnostics and plots work on every new sampler's result: ESS, split R-hat,
acceptance, divergent transitions, trace and autocorrelation plots."""

import matplotlib.pyplot as plt
import pytest
import torch

from ebm import plot
from samplers import NUTS, SVGD, GibbsWithGradients, UnderdampedLangevin, acceptance_summary, effective_sample_size, split_rhat

GAUSS = lambda x: 0.5 * x.square().sum(-1)  # noqa: E731


@pytest.mark.parametrize(
    "make, x0",
    [
        (lambda: NUTS(0.5, warmup_steps=20, thin=1), lambda g: torch.randn(8, 2, generator=g, dtype=torch.float64)),
        (lambda: UnderdampedLangevin(0.3, thin=1), lambda g: torch.randn(8, 2, generator=g, dtype=torch.float64)),
        (lambda: SVGD(0.1, thin=1), lambda g: torch.randn(8, 2, generator=g, dtype=torch.float64)),
        (lambda: GibbsWithGradients(thin=1), lambda g: torch.bernoulli(torch.full((8, 2), 0.5, dtype=torch.float64), generator=g)),
    ],
)
def test_diagnostics_and_plots_on_new_samplers(make, x0, generator):
    r = make().run(GAUSS, x0(generator), 30, generator=generator)
    draws = r.trajectory  # (30, 8, 2)
    assert draws.shape == (30, 8, 2)
    ess, rhat = effective_sample_size(draws), split_rhat(draws)
    assert ess.shape == (2,) and rhat.shape == (2,) and bool(torch.isfinite(ess).all())
    if r.acceptance_rate is not None:
        summary = acceptance_summary(r.acceptance_rate)
        assert 0.0 <= summary["min"] <= summary["mean"] <= summary["max"] <= 1.0
    if "divergent_transitions" in r.extras:
        assert r.extras["divergent_transitions"].shape == (8,)
    fig, axes = plt.subplots(1, 2)
    plot.trace_plot(draws[:, :, 0], ax=axes[0])
    plot.autocorrelation_plot(draws[:, :, 0], ax=axes[1], max_lag=10)
    plt.close(fig)
