"""Dictionary learning: ``min_{D, Z} Σ_i ½‖x_i − z_i D‖² + α‖z_i‖₁`` with unit-norm atoms.

Olshausen & Field (1996, Nature 381) learned such a dictionary from natural images and found
localised, oriented atoms. Two schemes, both alternating a code step (`fista`, warm-started) and a
dictionary step by block-coordinate descent over the atoms on the sufficient statistics
``A = Zᵀ Z (k, k)`` and ``B = Zᵀ X (k, f)`` (Mairal, Bach, Ponce & Sapiro 2009, ICML, "Online
Dictionary Learning for Sparse Coding"):

* ``method="batch"``: codes of all signals, then atom sweeps. Each atom update
  ``d_j ← u_j / ‖u_j‖``, ``u_j = B_j − A_j D + A_jj d_j``, is the exact minimiser over the unit
  sphere with the other atoms fixed (the quadratic term ``A_jj‖d_j‖²`` is constant there), and the
  code step keeps the previous code of any signal whose objective would rise — so the reported
  objective never increases.
* ``method="online"``: mini-batches; ``A`` and ``B`` are running sums with past batches down-weighted
  by ``(1 − 1/t)`` (Mairal et al. §3.4), one atom sweep per batch.

An atom no code uses (``u_j = 0``) is replaced by a random training signal, which leaves the
objective unchanged at the current codes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ebm._validation import check_choice, check_generator, check_int, check_tensor, format_error
from ebm.sparse.problem import _check_alpha, check_dictionary, check_signals, objective
from ebm.sparse.solvers import fista

__all__ = ["DictionaryLearning", "learn_dictionary"]


@dataclass
class DictionaryLearning:
    """Result of `learn_dictionary`.

    Attributes:
        dictionary: ``(k, f)`` unit-norm atoms.
        codes: ``(n, k)`` codes of the training signals at the end.
        objective: mean training objective after each epoch (list of floats, length n_epochs).
        wall_time: cumulative training seconds after each epoch (callbacks excluded).
    """

    dictionary: Tensor
    codes: Tensor
    objective: list[float] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)


def _update_atoms(dictionary: Tensor, a: Tensor, b: Tensor, x: Tensor, generator) -> Tensor:
    """One block-coordinate sweep over the atoms; ``a (k, k)``, ``b (k, f)``; returns the new ``(k, f)``."""
    d = dictionary.clone()
    tiny = torch.finfo(d.dtype).tiny
    for j in range(d.shape[0]):
        u = b[j] - a[j] @ d + a[j, j] * d[j]  # (f,)
        norm = u.norm()
        if float(norm) > tiny ** 0.5:
            d[j] = u / norm
        elif float(a[j, j]) == 0:
            # Unused atom: a fresh random signal changes nothing at the current codes.
            pick = int(torch.randint(x.shape[0], (1,), generator=generator, device="cpu"))
            fresh = x[pick]
            d[j] = fresh / fresh.norm() if float(fresh.norm()) > 0 else d[j]
    return d


def learn_dictionary(
    x: Tensor,
    n_atoms: int,
    alpha,
    *,
    n_epochs: int = 10,
    method: str = "batch",
    batch_size: int = 256,
    init: Tensor | None = None,
    code_tol: float = 1e-4,
    code_max_iter: int = 200,
    generator: torch.Generator | None = None,
    callback=None,
) -> DictionaryLearning:
    """Learn a unit-norm dictionary by alternating minimisation (batch) or online (Mairal et al. 2009).

    Minimises ``(1/n) Σ_i ½‖x_i − z_i D‖² + α‖z_i‖₁`` subject to ``‖d_j‖ = 1``.

    Args:
        x: training signals ``(n, f)``.
        n_atoms: ``k``.
        alpha: ``α ≥ 0``.
        n_epochs: passes over the data.
        method: ``"batch"`` or ``"online"``.
        batch_size: mini-batch size (online).
        init: initial dictionary ``(k, f)`` (rows are normalised); default random training signals.
        code_tol, code_max_iter: `fista` settings of the code step.
        generator: randomness for the initial atoms, the shuffling and atom replacement.
        callback: ``fn(epoch, dictionary)`` after each epoch.

    Returns:
        `DictionaryLearning` with the dictionary, final codes and per-epoch objective/time.

    Raises:
        ValueError / TypeError: bad shapes, ``alpha < 0``, unknown method, a zero atom in ``init``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> res = learn_dictionary(torch.randn(100, 8, generator=g), 12, 0.1, n_epochs=2, generator=g)
        >>> res.dictionary.shape
        torch.Size([12, 8])
    """
    check_tensor("x", x, ndim=2, floating=True, finite=True, nonempty=True)
    k = check_int("n_atoms", n_atoms, minimum=1)
    alpha = _check_alpha(alpha)
    n_epochs = check_int("n_epochs", n_epochs, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_choice("method", method, ("batch", "online"))
    check_generator("generator", generator)
    n, f = x.shape
    if init is None:
        if float(x.norm(dim=1).min()) == 0 and bool((x.norm(dim=1) == 0).all()):
            raise ValueError(format_error("x", "at least one non-zero signal", "all-zero signals", "pass data with signal in it"))
        picks = torch.randint(n, (k,), generator=generator)
        d = x[picks.to(x.device)].clone()  # (k, f)
        zero = d.norm(dim=1) == 0
        d[zero] = torch.randn(int(zero.sum()), f, generator=generator, dtype=x.dtype).to(x.device)
    else:
        check_dictionary(init, "init")
        if init.shape != (k, f):
            raise ValueError(format_error("init", f"shape (n_atoms, f) = {(k, f)}", f"shape {tuple(init.shape)}", "pass one atom per row"))
        d = init.detach().to(device=x.device, dtype=x.dtype).clone()
    d = d / d.norm(dim=1, keepdim=True)
    check_signals(x, d)
    codes = torch.zeros(n, k, dtype=x.dtype, device=x.device)
    result = DictionaryLearning(d, codes)
    t0 = time.perf_counter()
    a_sum = torch.zeros(k, k, dtype=x.dtype, device=x.device)
    b_sum = torch.zeros(k, f, dtype=x.dtype, device=x.device)
    step, callback_time = 0, 0.0
    for epoch in range(n_epochs):
        if method == "batch":
            new = fista(x, d, alpha, init=codes, tol=code_tol, max_iter=code_max_iter).codes
            # FISTA is not monotone: keep a signal's previous code if the new one is worse.
            worse = objective(x, new, d, alpha) > objective(x, codes, d, alpha)
            codes = torch.where(worse[:, None], codes, new)
            d = _update_atoms(d, codes.T @ codes, codes.T @ x, x, generator)
        else:
            order = torch.randperm(n, generator=generator).to(x.device)
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                xb = x[rows]  # (b, f)
                zb = fista(xb, d, alpha, init=codes[rows], tol=code_tol, max_iter=code_max_iter).codes
                codes[rows] = zb
                step += 1
                forget = 1.0 - 1.0 / step
                a_sum = forget * a_sum + zb.T @ zb
                b_sum = forget * b_sum + zb.T @ xb
                d = _update_atoms(d, a_sum, b_sum, xb, generator)
            codes = fista(x, d, alpha, init=codes, tol=code_tol, max_iter=code_max_iter).codes
        result.objective.append(float(objective(x, codes, d, alpha).mean()))
        result.wall_time.append(time.perf_counter() - t0 - callback_time)
        if callback is not None:
            t_cb = time.perf_counter()
            callback(epoch, d)
            callback_time += time.perf_counter() - t_cb
    result.dictionary, result.codes = d, codes
    return result
