"""MCMC diagnostics: autocorrelation (FFT), effective sample size (Geyer), split R-hat (Vehtari).

All functions take draws laid out as ``(n_draws, n_chains, *dims)`` — the shape of a sampler's
``result.trajectory`` — and return one number per coordinate ``(*dims,)``. They use torch only
and run on the draws' device.
"""

from __future__ import annotations

import math

import torch

from .validation import check_has_values, check_tensor, format_error

__all__ = ["autocorrelation", "effective_sample_size", "split_rhat", "acceptance_summary"]


def _check_draws(draws, min_draws: int = 4) -> torch.Tensor:
    draws = check_has_values("draws", check_tensor("draws", draws, floating=True, finite=True))
    if draws.dtype in (torch.float16, torch.bfloat16):
        draws = draws.float()  # the FFT and the normal quantile have no half-precision kernels on every device
    if draws.dim() < 2:
        fix = ("for one chain of draws, add the chain dimension: draws.unsqueeze(1)" if draws.dim() == 1
               else "pass draws laid out (n_draws, n_chains, *dims), e.g. a sampler's result.trajectory")
        raise ValueError(format_error("draws", "draws laid out (n_draws, n_chains, *dims), at least 2-D", f"shape {tuple(draws.shape)}", fix))
    if draws.shape[0] < min_draws:
        raise ValueError(format_error("draws", f"at least {min_draws} draws along dimension 0, laid out (n_draws, n_chains, *dims)", f"shape {tuple(draws.shape)}", "run the chains longer or keep more of the trajectory (smaller thin)"))
    return draws


def _autocovariance(draws: torch.Tensor) -> torch.Tensor:
    """Biased (divide-by-n) autocovariance over lags 0..n-1 along dim 0 via zero-padded FFT."""
    n = draws.shape[0]
    centred = draws - draws.mean(0, keepdim=True)
    size = 1 << (2 * n - 1).bit_length()  # pad to avoid circular wrap-around
    f = torch.fft.rfft(centred, n=size, dim=0)
    acov = torch.fft.irfft(f * f.conj(), n=size, dim=0)[:n]  # (n, n_chains, *dims)
    return acov / n


def autocorrelation(draws: torch.Tensor, max_lag: int | None = None) -> torch.Tensor:
    """Per-chain autocorrelation ρ_t = γ_t / γ_0 computed with the FFT.

    Args:
        draws: ``(n_draws, n_chains, *dims)``.
        max_lag: largest lag returned (default n_draws - 1).

    Returns:
        ``(max_lag + 1, n_chains, *dims)``, ρ_0 = 1.

    Example:
        >>> autocorrelation(torch.randn(1000, 4)).shape
        torch.Size([1000, 4])
    """
    draws = _check_draws(draws, 2)
    acov = _autocovariance(draws)
    rho = acov / acov[:1].clamp_min(torch.finfo(draws.dtype).tiny)
    return rho if max_lag is None else rho[: max_lag + 1]


def effective_sample_size(draws: torch.Tensor) -> torch.Tensor:
    """Multi-chain effective sample size with Geyer's initial monotone sequence estimator.

    ``ESS = N M / τ``, ``τ = -1 + 2 Σ_k P_k`` with ``P_k = ρ_{2k} + ρ_{2k+1}`` summed while positive
    and made monotone (Geyer 1992, "Practical Markov chain Monte Carlo", Statistical Science 7(4)),
    and the multi-chain autocorrelation ``ρ_t = 1 - (W - mean_m γ_{m,t}) / var⁺`` of Vehtari,
    Gelman, Simpson, Carpenter & Bürkner (2021), Bayesian Analysis 16(2), arXiv:1903.08008.

    Args:
        draws: ``(n_draws, n_chains, *dims)`` with n_draws >= 4.

    Returns:
        ``(*dims,)`` ESS (can exceed N·M for antithetic chains, as in Stan).

    Example:
        >>> float(effective_sample_size(torch.randn(1000, 4))) > 3000
        True
    """
    draws = _check_draws(draws)
    n, m = draws.shape[0], draws.shape[1]
    acov = _autocovariance(draws)  # (n, m, *dims)
    chain_var = acov[0] * n / (n - 1)  # (m, *dims)
    w = chain_var.mean(0)  # within-chain variance (*dims,)
    b_over_n = draws.mean(0).var(0, unbiased=True) if m > 1 else torch.zeros_like(w)
    var_plus = (n - 1) / n * w + b_over_n
    rho = 1 - (w - acov.mean(1)) / var_plus.clamp_min(torch.finfo(draws.dtype).tiny)  # (n, *dims)
    n_pairs = n // 2
    pairs = rho[: 2 * n_pairs].reshape(n_pairs, 2, *rho.shape[1:]).sum(1)  # (n_pairs, *dims)
    keep = torch.cumprod((pairs > 0).to(draws.dtype), dim=0)  # initial positive sequence
    monotone = torch.cummin(pairs, dim=0).values  # initial monotone sequence
    tau = -1 + 2 * (monotone * keep).sum(0)
    tau = tau.clamp_min(1.0 / math.log10(max(n * m, 10)))  # Stan's guard against tiny τ
    return n * m / tau


def _rhat(draws: torch.Tensor) -> torch.Tensor:
    n = draws.shape[0]
    w = draws.var(0, unbiased=True).mean(0)
    b_over_n = draws.mean(0).var(0, unbiased=True)
    return ((n - 1) / n + b_over_n / w).sqrt()


def _rank_normalize(draws: torch.Tensor) -> torch.Tensor:
    flat = draws.reshape(-1, *draws.shape[2:])  # (S, *dims) pooled over chains
    s = flat.shape[0]
    ranks = flat.argsort(0).argsort(0).to(draws.dtype) + 1
    z = torch.special.ndtri((ranks - 0.375) / (s + 0.25))
    return z.reshape(draws.shape)


def split_rhat(draws: torch.Tensor, *, rank_normalize: bool = True) -> torch.Tensor:
    """Split R-hat; with ``rank_normalize`` the max of bulk and folded (tail) rank-normalised R-hat.

    Each chain is split in halves (2M chains of N/2 draws); ``R̂ = √(((N-1)/N · W + B/N) / W)``.
    Rank normalisation maps pooled ranks r to ``Φ⁻¹((r - 3/8)/(S + 1/4))``; the folded version
    uses ``|x - median|``. Values above ~1.01 suggest the chains have not mixed.
    Reference: Vehtari et al. (2021), Bayesian Analysis 16(2), arXiv:1903.08008.

    Args:
        draws: ``(n_draws, n_chains, *dims)`` with n_draws >= 4.

    Returns:
        ``(*dims,)`` R-hat values (>= ~1).

    Example:
        >>> float(split_rhat(torch.randn(1000, 4))) < 1.01
        True
    """
    draws = _check_draws(draws)
    half = draws.shape[0] // 2
    split = torch.cat([draws[:half], draws[draws.shape[0] - half :]], dim=1)  # (half, 2M, *dims)
    if not rank_normalize:
        return _rhat(split)
    bulk = _rhat(_rank_normalize(split))
    folded = (split - split.reshape(-1, *split.shape[2:]).median(0).values).abs()
    tail = _rhat(_rank_normalize(folded))
    return torch.maximum(bulk, tail)


def acceptance_summary(acceptance_rate: torch.Tensor) -> dict:
    """Mean, min and max of per-chain acceptance rates ``(batch,)`` as Python floats."""
    a = check_has_values("acceptance_rate", check_tensor("acceptance_rate", acceptance_rate, floating=True, finite=True, nonempty=True))
    if a.dim() != 1:
        raise ValueError(format_error("acceptance_rate", "one rate per chain, shape (batch,)", f"shape {tuple(a.shape)}",
                                      "pass a sampler's result.acceptance_rate, or acceptance_rate.flatten()"))
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}
