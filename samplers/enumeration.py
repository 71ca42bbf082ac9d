"""Exact, independent samples of a small binary model by enumerating all of its states.

For ``x ∈ {0, 1}^n`` with log-weight ``w(x)`` (``-E(x)``, or a marginal such as an RBM's hidden
free energy), ``p(x) = exp(w(x) − log Z)``. With n up to `MAX_UNITS` the 2ⁿ states can be walked
in chunks: a first pass computes ``log Z``, a second walks the cumulative distribution and places
sorted uniforms with ``searchsorted`` (inverse-CDF sampling), so memory stays at one chunk of
states however large 2ⁿ is. The draws are exact — the reference against which tests and lessons
compare MCMC.

State ``k`` has bit ``i`` equal to ``(k >> i) & 1`` (unit 0 the least significant), as in
``ebm.energies.boltzmann.binary_states``.
"""

from __future__ import annotations

import torch

from .validation import check_generator, check_int, format_error

__all__ = ["MAX_UNITS", "enumerate_binary_states", "sample_by_enumeration"]

MAX_UNITS = 25
"""At most 2^25 (≈ 3.4e7) states are enumerated (a few seconds on a CPU)."""

_CHUNK = 1 << 14


def enumerate_binary_states(n: int, start: int, stop: int, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """The binary expansions of the integers ``start .. stop-1``: ``(stop − start, n)``."""
    return _bits(torch.arange(start, stop, device=device), n).to(dtype)


def _bits(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Bit ``i`` of each index: ``(m,) -> (m, n)`` integers."""
    return (idx.unsqueeze(-1) >> torch.arange(n, device=idx.device)) & 1


def sample_by_enumeration(log_weight, n_units: int, n_samples: int, *, generator: torch.Generator | None = None,
                          dtype=torch.float64, device=None) -> torch.Tensor:
    """Draw ``n_samples`` exact independent samples from ``p(x) ∝ exp(log_weight(x))`` on ``{0, 1}^n``.

    Args:
        log_weight: ``(m, n) -> (m,)``, the un-normalised log-probability of a batch of states
            (e.g. ``lambda x: -energy(x)``); called on chunks of at most 16,384 states, in ``dtype``.
        n_units: n, at most `MAX_UNITS`.
        n_samples: number of draws (>= 1).
        generator: torch.Generator on ``device``, or None.
        dtype, device: of the states handed to ``log_weight`` and of the result.

    Returns:
        ``(n_samples, n_units)`` states in {0, 1}, in random order.

    Raises:
        ValueError: n_units above the limit (the message names MCMC alternatives), or a
            ``log_weight`` that returns the wrong shape or non-finite values.

    Example:
        >>> x = sample_by_enumeration(lambda s: -s.sum(-1), 3, 1000, generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([1000, 3])
    """
    n_units = check_int("n_units", n_units, minimum=1)
    if n_units > MAX_UNITS:
        raise ValueError(format_error("n_units", f"at most {MAX_UNITS} units to enumerate (2^{MAX_UNITS} states)", f"{n_units}",
                                      "sample with MCMC instead: samplers.SingleSiteGibbs, samplers.GibbsWithGradients or samplers.ParallelTempering"))
    n_samples = check_int("n_samples", n_samples, minimum=1)
    check_generator("generator", generator, device or "cpu")
    total = 1 << n_units

    def chunk_weights(start: int) -> torch.Tensor:
        states = enumerate_binary_states(n_units, start, min(start + _CHUNK, total), dtype=dtype, device=device)
        w = log_weight(states)
        if not isinstance(w, torch.Tensor) or w.shape != (states.shape[0],):
            raise ValueError(format_error("log_weight", f"a function (m, {n_units}) -> (m,)", f"{getattr(w, 'shape', type(w).__name__)}", "return one log-weight per state"))
        if not bool(torch.isfinite(w).all()):
            raise ValueError(format_error("log_weight", "finite log-weights on every state", "non-finite values", "check the model's parameters"))
        return w.detach().double()

    with torch.no_grad():
        log_z = torch.stack([torch.logsumexp(chunk_weights(s), 0) for s in range(0, total, _CHUNK)]).logsumexp(0)
        u, _ = torch.rand(n_samples, generator=generator, dtype=torch.float64, device=device).sort()  # (n_samples,)
        index = torch.empty(n_samples, dtype=torch.long, device=device)
        mass_before = torch.zeros((), dtype=torch.float64, device=device)
        placed = 0
        for start in range(0, total, _CHUNK):
            cdf = mass_before + (chunk_weights(start) - log_z).exp().cumsum(0)  # (m,)
            last = start + _CHUNK >= total
            upto = n_samples if last else int(torch.searchsorted(u, cdf[-1], right=True))
            if upto > placed:
                pos = torch.searchsorted(cdf, u[placed:upto], right=True).clamp_(max=cdf.shape[0] - 1)  # rounding at the top
                index[placed:upto] = start + pos
                placed = upto
            mass_before = cdf[-1]
        perm = torch.randperm(n_samples, generator=generator, device=device)  # sorted uniforms -> random order
        return _bits(index[perm], n_units).to(dtype)
