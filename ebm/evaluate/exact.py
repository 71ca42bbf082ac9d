"""Exact evaluation of binary energies: log-likelihood, pseudo-likelihood, reconstruction error,
and the entropy of an empirical data distribution (the best mean log-likelihood any model can reach).

All results are returned as float64 scalars (Python floats through ``float(...)``) so that they
compare across model dtypes.

References:
    Besag (1975), "Statistical analysis of non-lattice data" (pseudo-likelihood).
    Hinton (2012), "A Practical Guide to Training Restricted Boltzmann Machines" (reconstruction error
    is a cheap but unreliable monitor; prefer likelihoods where they can be computed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm._validation import check_int, check_tensor, format_error

__all__ = ["exact_log_likelihood", "pseudo_log_likelihood", "reconstruction_error", "empirical_entropy"]


def _check_data(name: str, model, data) -> Tensor:
    check_tensor(name, data, floating=True, nonempty=True)
    model.check_input(data, name)
    return data


def exact_log_likelihood(model, data: Tensor, *, reduction: str = "mean") -> Tensor:
    """Exact ``log p(x) = -E(x) - log Z`` of ``data`` under ``model`` (``log Z`` by enumeration).

    Args:
        model: an energy whose ``log_partition()`` is exact (RBMs up to 25 units in their smaller
            layer, Boltzmann machines up to 25 units).
        data: ``(n, *event_shape)``, n ≥ 1.
        reduction: ``"mean"`` (a scalar, nats per example) or ``"none"`` (shape ``(n,)``).

    Returns:
        A float64 tensor: the mean log-likelihood, or one value per row.

    Raises:
        ValueError: empty or invalid data, or a model too large to enumerate (the message suggests AIS).

    Example:
        >>> from ebm.energies import BernoulliRBM
        >>> rbm = BernoulliRBM(9, 4)
        >>> ll = exact_log_likelihood(rbm, torch.bernoulli(torch.full((10, 9), 0.5)))
    """
    if reduction not in ("mean", "none"):
        raise ValueError(format_error("reduction", "'mean' or 'none'", repr(reduction), "pass reduction='mean'"))
    _check_data("data", model, data)
    with torch.no_grad():
        log_z = model.log_partition().double()
        ll = -model(data).double() - log_z  # (n,)
    return ll.mean() if reduction == "mean" else ll


def pseudo_log_likelihood(model, data: Tensor, *, chunk_size: int = 256) -> Tensor:
    """Exact pseudo-log-likelihood over all units, normalised per unit:

        PL(x) = (1/n) Σ_i log p(x_i | x_-i),     p(x_i | x_-i) = σ(E(x with x_i flipped) - E(x)).

    Dividing by the number of units n makes it comparable across model sizes (a uniform model
    scores ``-log 2``). Uses the model's ``all_flip_energy_deltas`` when it has one, else its
    ``flip_energy_deltas`` unit by unit, else two energy calls per unit.

    Reference: Besag (1975), "Statistical analysis of non-lattice data".

    Args:
        model: a binary energy over ``(n,)`` vectors in {0, 1}.
        data: ``(m, n)`` binary rows, m ≥ 1.
        chunk_size: rows evaluated at once (bounds memory at ``chunk_size · n · n_hidden`` for RBMs).

    Returns:
        Scalar float64 tensor: the mean over rows of the per-unit pseudo-log-likelihood.

    Raises:
        ValueError: empty or non-binary data, or a model with more than one event dimension.

    Example:
        >>> from ebm.energies import BoltzmannMachine
        >>> pl = pseudo_log_likelihood(BoltzmannMachine(5), torch.ones(3, 5))
    """
    _check_data("data", model, data)
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    if data.dim() != 2:
        raise ValueError(format_error("data", "a 2-D tensor (m, n)", f"shape {tuple(data.shape)}", "flatten each example to a vector"))
    n = data.shape[1]
    total = torch.zeros((), dtype=torch.float64, device=data.device)
    with torch.no_grad():
        for start in range(0, data.shape[0], chunk_size):
            x = data[start : start + chunk_size]  # (c, n)
            deltas = _all_deltas(model, x)  # (c, n)
            total = total + (-F.softplus(-deltas.double())).sum()
    return total / (data.shape[0] * n)


def _all_deltas(model, x: Tensor) -> Tensor:
    if hasattr(model, "all_flip_energy_deltas"):
        return model.all_flip_energy_deltas(x)
    if hasattr(model, "flip_energy_deltas"):
        return torch.stack([model.flip_energy_deltas(x, i) for i in range(x.shape[1])], dim=-1)
    energy = model(x)
    cols = []
    for i in range(x.shape[1]):
        flipped = x.clone()
        flipped[:, i] = 1 - flipped[:, i]
        cols.append(model(flipped) - energy)
    return torch.stack(cols, dim=-1)


def reconstruction_error(model, data: Tensor) -> Tensor:
    """Mean squared reconstruction error of one mean-field up-down pass, ``‖x - E[v | p(h|x)]‖² / n``.

    For RBMs ``x → p(h|x) → prob_v(·)`` (the mean of ``p(v | h)``); averaged over rows and units.
    Cheap to monitor, but not a likelihood: it can improve while the model gets worse (Hinton 2012).

    Args:
        model: an RBM (``prob_h`` and ``prob_v``).
        data: ``(m, n_visible)``, m ≥ 1.

    Returns:
        Scalar float64 tensor.

    Raises:
        TypeError: the model has no ``prob_h`` / ``prob_v``.
        ValueError: empty or invalid data.
    """
    if not (hasattr(model, "prob_h") and hasattr(model, "prob_v")):
        raise TypeError(format_error("model", "an RBM with prob_h and prob_v", type(model).__name__, "use pseudo_log_likelihood for fully visible models"))
    _check_data("data", model, data)
    with torch.no_grad():
        recon = model.prob_v(model.prob_h(data))  # (m, n_visible)
        return ((recon.double() - data.double()) ** 2).mean()


def empirical_entropy(data: Tensor) -> Tensor:
    """Entropy (nats) of the empirical distribution of the rows of ``data``.

    ``-H`` is the best mean log-likelihood any model can reach on ``data`` (attained by the
    empirical distribution itself), e.g. ``log 14`` for the 14 patterns of 3×3 bars-and-stripes.

    Args:
        data: ``(m, ...)`` with m ≥ 1; any real dtype (rows are compared exactly).

    Returns:
        Scalar float64 tensor.

    Raises:
        TypeError: not a tensor, or complex.
        ValueError: empty, or NaN/inf entries (NaN never equals itself, so rows would not match).
    """
    if isinstance(data, Tensor) and data.is_complex():
        raise TypeError(format_error("data", "a real tensor", f"dtype {data.dtype}", "pass data.real"))
    check_tensor("data", data, nonempty=True, finite=data.is_floating_point() if isinstance(data, Tensor) else False)
    if data.device.type == "meta":
        raise ValueError(format_error("data", "a tensor with values", "a meta tensor", "pass the data on a real device (cpu or cuda)"))
    _, counts = torch.unique(data.reshape(data.shape[0], -1), dim=0, return_counts=True)
    p = counts.double() / data.shape[0]
    return -(p * p.log()).sum()
