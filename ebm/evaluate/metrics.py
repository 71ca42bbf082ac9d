"""Metric functions for `ebm.train.train(..., metrics={...})`: each is ``fn(model) -> float``.

Example:
    >>> from ebm.evaluate.metrics import log_likelihood_metric, pseudo_likelihood_metric
    >>> history = train(rbm, ContrastiveDivergence(k=1), x, epochs=5,
    ...                 metrics={"test LL": log_likelihood_metric(x_test), "PL": pseudo_likelihood_metric(x)})
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebm._validation import check_int, check_tensor
from ebm.energies.boltzmann import MAX_ENUMERATION_BITS, GaussianBernoulliRBM
from ebm.evaluate.ais import ais_log_likelihood
from ebm.evaluate.exact import exact_log_likelihood, pseudo_log_likelihood, reconstruction_error

__all__ = [
    "log_likelihood_metric",
    "ais_log_likelihood_metric",
    "pseudo_likelihood_metric",
    "reconstruction_metric",
    "boltzmann_metrics",
]


def log_likelihood_metric(data: Tensor) -> Callable[[object], float]:
    """Exact mean log-likelihood (nats per example) of ``data`` ``(n, *event)``."""
    check_tensor("data", data, floating=True, nonempty=True)
    return lambda model: float(exact_log_likelihood(model, data))


def ais_log_likelihood_metric(data: Tensor, *, n_chains: int = 100, n_betas: int = 1000, base_data: Tensor | None = None,
                              generator: torch.Generator | None = None) -> Callable[[object], float]:
    """AIS estimate of the mean log-likelihood of ``data`` (fresh AIS run at every call)."""
    check_tensor("data", data, floating=True, nonempty=True)
    check_int("n_chains", n_chains, minimum=1)
    check_int("n_betas", n_betas, minimum=3)
    return lambda model: float(ais_log_likelihood(model, data, n_chains=n_chains, n_betas=n_betas, base_data=base_data, generator=generator)[0])


def pseudo_likelihood_metric(data: Tensor) -> Callable[[object], float]:
    """Exact per-unit pseudo-log-likelihood of binary ``data`` ``(n, units)``."""
    check_tensor("data", data, floating=True, nonempty=True)
    return lambda model: float(pseudo_log_likelihood(model, data))


def reconstruction_metric(data: Tensor) -> Callable[[object], float]:
    """Mean squared one-step mean-field reconstruction error of ``data`` under an RBM."""
    check_tensor("data", data, floating=True, nonempty=True)
    return lambda model: float(reconstruction_error(model, data))


def boltzmann_metrics(model, data: Tensor, *, ais_chains: int = 100, ais_betas: int = 1000,
                      generator: torch.Generator | None = None) -> dict[str, Callable[[object], float]]:
    """The standard monitors for a Boltzmann machine on ``data``: the exact log-likelihood when
    the smaller layer has at most 20 units (else AIS), the pseudo-likelihood for binary models,
    and the reconstruction error for RBMs."""
    out: dict[str, Callable[[object], float]] = {}
    if isinstance(model, GaussianBernoulliRBM):  # Gaussian visibles integrate out; enumerate h
        smaller = model.n_hidden
    elif hasattr(model, "n_hidden"):  # enumerate the smaller layer
        smaller = min(model.n_hidden, model.n_visible)
    else:
        smaller = getattr(model, "n", MAX_ENUMERATION_BITS + 1)
    if smaller <= 20:
        out["log_likelihood"] = log_likelihood_metric(data)
    elif hasattr(model, "n_hidden"):
        out["ais_log_likelihood"] = ais_log_likelihood_metric(data, n_chains=ais_chains, n_betas=ais_betas, generator=generator)
    if hasattr(model, "flip_energy_deltas"):
        out["pseudo_likelihood"] = pseudo_likelihood_metric(data)
    if hasattr(model, "prob_h"):
        out["reconstruction"] = reconstruction_metric(data)
    return out
