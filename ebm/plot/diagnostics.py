"""MCMC diagnostic plots: trace plots and autocorrelation plots (with ESS and R-hat in the title)."""

from __future__ import annotations

import torch

from ebm._validation import check_int, check_tensor
from ebm.plot.style import new_axes
from samplers.diagnostics import autocorrelation, effective_sample_size, split_rhat


def _draws(draws) -> torch.Tensor:
    d = torch.as_tensor(draws).detach().double().cpu()
    if d.dim() == 1:
        d = d.unsqueeze(1)  # (n_draws, 1): one chain
    return check_tensor("draws", d, ndim=2, nonempty=True, finite=True)  # (n_draws, n_chains)


def trace_plot(draws, *, ax=None, max_chains: int = 8, label: str = "x", thin: int = 1, title: str | None = None):
    """Plot ``draws (n_draws, n_chains)`` (one coordinate) against the step, one line per chain.

    The title reports split R-hat (Vehtari et al. 2021, arXiv:1903.08008) and the multi-chain ESS
    when there are at least 4 draws; well-mixed chains overlap like a "hairy caterpillar".

    Args:
        draws: ``(n_draws, n_chains)`` or ``(n_draws,)`` values of one coordinate.
        ax: axes to draw on (new figure if None).
        max_chains: draw at most this many chains.
        label: y-axis label.
        thin: the sampler's thinning, so the x axis counts sampler steps.
    Returns:
        The axes.
    """
    d = _draws(draws)
    thin = check_int("thin", thin, minimum=1)
    max_chains = check_int("max_chains", max_chains, minimum=1)
    ax = new_axes(ax, figsize=(6.0, 3.2))
    steps = (torch.arange(1, d.shape[0] + 1) * thin).numpy()
    for c in range(min(max_chains, d.shape[1])):
        ax.plot(steps, d[:, c].numpy(), lw=0.7, alpha=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    if title is None:
        title = "trace"
        if d.shape[0] >= 4:
            rhat = float(split_rhat(d)) if d.shape[1] > 1 or d.shape[0] >= 8 else float("nan")
            title += f" (split R-hat {rhat:.3f}, ESS {float(effective_sample_size(d)):.0f} of {d.numel()})"
    ax.set_title(title, fontsize=10)
    return ax


def autocorrelation_plot(draws, *, ax=None, max_lag: int = 50, title: str | None = None):
    """Plot the autocorrelation ρ_t of ``draws (n_draws, n_chains)``: mean over chains and the range.

    Args:
        draws: ``(n_draws, n_chains)`` or ``(n_draws,)``.
        ax: axes to draw on (new figure if None).
        max_lag: largest lag shown.
    Returns:
        The axes.
    """
    d = _draws(draws)
    max_lag = check_int("max_lag", max_lag, minimum=1)
    rho = autocorrelation(d, max_lag=min(max_lag, d.shape[0] - 1))  # (lags, n_chains)
    lags = torch.arange(rho.shape[0]).numpy()
    ax = new_axes(ax, figsize=(5.0, 3.2))
    ax.fill_between(lags, rho.min(1).values.numpy(), rho.max(1).values.numpy(), alpha=0.25, label="range over chains")
    ax.plot(lags, rho.mean(1).numpy(), lw=1.5, label="mean over chains")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("lag")
    ax.set_ylabel("autocorrelation")
    ax.set_ylim(-0.2, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(title or "autocorrelation", fontsize=10)
    return ax
