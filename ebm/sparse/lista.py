"""Learned ISTA: an unrolled, trainable sparse encoder.

LISTA (Gregor & LeCun 2010, ICML, "Learning Fast Approximations of Sparse Coding") writes
``n_layers`` ISTA steps as a recurrent network

    z_0 = soft(x W_e, θ_0),        z_{l+1} = soft(x W_e + z_l S, θ_{l+1}),

and initialises ``W_e = Dᵀ/L (f, k)``, ``S = I − D Dᵀ/L (k, k)``, ``θ_l = α/L`` so that the untrained
network is *exactly* ``n_layers`` ISTA iterations from ``z = 0`` (the first ISTA step from zero is
``soft(x Dᵀ/L, α/L)``). Training ``W_e``, ``S`` and the thresholds makes a few layers reach what ISTA
needs many iterations for. ``LISTA(..., tied=False)`` gives each layer its own ``W_l`` and ``S_l``
(Chen, Liu, Wang & Yin 2018, NeurIPS, arXiv:1808.10038), with the same exact-ISTA initialisation.

`ALISTA`-style lighter variant (Liu, Chen, Wang & Yin 2019, ICLR, "ALISTA: Analytic Weights Are As
Good As Learned Weights in LISTA"): the matrices stay analytic (here ``Dᵀ``), and only one step size
``γ_l`` and one threshold ``θ_l`` per layer are learned,

    z_{l+1} = soft(z_l − γ_l (z_l D − x) Dᵀ, θ_l),    initialised γ_l = 1/L, θ_l = α/L.

Losses for `ebm.train.train`: `lista_objective_loss` (unsupervised, the mean sparse-coding
objective of the output codes) and `lista_supervised_loss` (mean squared error to target codes,
e.g. from `fista`). Both take ``n_layers=t`` to score the output of layer ``t``: layer-wise training
(Chen et al. 2018; Liu et al. 2019, arXiv:1812.00086) is one `ebm.train.train` call per stage
``t = 1..n_layers`` with ``functools.partial(loss, n_layers=t)`` (layers after ``t`` get no gradient).

Training to convergence: `lista_warm_start` builds a deeper network from a trained shallower one
(its encoder, inhibition matrix and thresholds copied), and `LISTAEarlyStopping` is an
`ebm.train.train` callback that measures the held-out prediction error every epoch, lowers the
learning rate on a plateau, stops when it no longer improves (or at an epoch / CPU-time budget) and
restores the best parameters.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import Tensor, nn

from ebm._validation import check_int, check_nonnegative, check_positive, check_tensor, format_error
from ebm.sparse.problem import _check_alpha, check_dictionary, check_signals, lipschitz_constant, shrink

__all__ = ["LISTA", "ALISTA", "lista_objective_loss", "lista_supervised_loss", "prediction_error", "iterations_to_reach",
           "lista_warm_start", "LISTAEarlyStopping"]


class _UnrolledISTA(nn.Module):
    """Shared set-up of the unrolled encoders: a copied dictionary, α, depth and ISTA's 1/L."""

    def __init__(self, dictionary: Tensor, alpha, n_layers: int):
        super().__init__()
        check_dictionary(dictionary)
        self.alpha = _check_alpha(alpha)
        self.n_layers = check_int("n_layers", n_layers, minimum=1)
        d = dictionary.detach().clone()
        self.register_buffer("dictionary", d)
        self._lipschitz = lipschitz_constant(d)  # initial step 1/L makes each layer one ISTA step

    def _depth(self, n_layers: int | None) -> int:
        return self.n_layers if n_layers is None else check_int("n_layers", n_layers, minimum=1, maximum=self.n_layers)


class LISTA(_UnrolledISTA):
    """Gregor & LeCun's LISTA encoder: ``n_layers`` learned ISTA steps.

    ``z_0 = soft(x W_0, θ_0)``, ``z_{l+1} = soft(x W_{l+1} + z_l S_{l+1}, θ_{l+1})``; untrained it
    equals ``n_layers`` ISTA iterations with step ``1/L`` from zero codes. Gregor & LeCun share
    ``W_l = W_e`` and ``S_l = S`` across layers (``tied=True``); the untied network (``tied=False``,
    one ``W_l`` and ``S_l`` per layer, as in Chen, Liu, Wang & Yin 2018, NeurIPS, arXiv:1808.10038)
    has ``n_layers`` times the parameters and the same initial map.

    Args:
        dictionary: ``(k, f)`` atoms as rows (copied; the network does not share it).
        alpha: ``α ≥ 0``.
        n_layers: number of ISTA steps unrolled (>= 1).
        shared_threshold: one threshold for all layers (True) or one per layer (False).
        tied: one encoder and one inhibition matrix for all layers (True) or one per layer (False).

    Attributes:
        tied: encoder ``W_e (f, k)`` and inhibition ``S (k, k)``; untied: ``encoders``
            (``n_layers`` tensors ``(f, k)``) and ``inhibitions`` (``n_layers − 1`` tensors ``(k, k)``;
            layer 0 has none). thresholds: ``(n_layers,)`` or ``(1,)``. dictionary (buffer ``(k, f)``), alpha,
            tied, shared_threshold.

    Raises:
        ValueError: a bad dictionary, ``alpha < 0`` or ``n_layers < 1``; ``tied=False`` with
            ``shared_threshold=True`` (an untied network has one threshold per layer).

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
        >>> LISTA(D, 0.1, n_layers=4)(torch.randn(5, 8)).shape
        torch.Size([5, 16])
        >>> LISTA(D, 0.1, n_layers=4, tied=False)(torch.randn(5, 8)).shape
        torch.Size([5, 16])
    """

    def __init__(self, dictionary: Tensor, alpha, n_layers: int, *, shared_threshold: bool = False, tied: bool = True):
        super().__init__(dictionary, alpha, n_layers)
        if not isinstance(tied, bool):
            raise TypeError(format_error("tied", "a bool", type(tied).__name__, "pass tied=True or tied=False"))
        if not tied and shared_threshold:
            raise ValueError(format_error("shared_threshold", "False when tied=False", "True", "untie the thresholds too, or keep tied=True"))
        self.tied, self.shared_threshold = tied, bool(shared_threshold)
        d, L = self.dictionary, self._lipschitz
        k = d.shape[0]
        w = d.T / L  # (f, k)
        s = torch.eye(k, dtype=d.dtype, device=d.device) - d @ d.T / L  # (k, k)
        if tied:
            self.encoder = nn.Parameter(w)
            self.inhibition = nn.Parameter(s)
        else:
            self.encoders = nn.ParameterList([nn.Parameter(w.clone()) for _ in range(self.n_layers)])
            self.inhibitions = nn.ParameterList([nn.Parameter(s.clone()) for _ in range(self.n_layers - 1)])
        self.thresholds = nn.Parameter(torch.full((1 if shared_threshold else self.n_layers,), 0.0, dtype=d.dtype, device=d.device) + self.alpha / L)

    def _threshold(self, layer: int) -> Tensor:
        return self.thresholds[0 if self.thresholds.shape[0] == 1 else layer]

    def forward(self, x: Tensor, n_layers: int | None = None) -> Tensor:
        """Codes ``(n, k)`` of signals ``x (n, f)`` after ``n_layers`` (default all) layers."""
        check_signals(x, self.dictionary)
        depth = self._depth(n_layers)
        if self.tied:
            b = x @ self.encoder  # (n, k), the same input drive for every layer
            z = shrink(b, self._threshold(0))
            for layer in range(1, depth):
                z = shrink(torch.addmm(b, z, self.inhibition), self._threshold(layer))
            return z
        z = shrink(x @ self.encoders[0], self._threshold(0))
        for layer in range(1, depth):
            z = shrink(torch.addmm(x @ self.encoders[layer], z, self.inhibitions[layer - 1]), self._threshold(layer))
        return z


class ALISTA(_UnrolledISTA):
    """ALISTA-style encoder: analytic matrices, learned per-layer step sizes and thresholds.

    ``z_{l+1} = soft(z_l − γ_l (z_l G − x Dᵀ), θ_l)`` with ``G = D Dᵀ``; initialised ``γ_l = 1/L``,
    ``θ_l = α/L`` (exactly ISTA). Learns ``2 · n_layers`` numbers (Liu et al. 2019, ICLR).

    Args:
        dictionary: ``(k, f)``.  alpha: ``α ≥ 0``.  n_layers: >= 1.

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
        >>> ALISTA(D, 0.1, n_layers=4)(torch.randn(5, 8)).shape
        torch.Size([5, 16])
    """

    def __init__(self, dictionary: Tensor, alpha, n_layers: int):
        super().__init__(dictionary, alpha, n_layers)
        d, L = self.dictionary, self._lipschitz
        self.register_buffer("gram", d @ d.T)  # (k, k)
        self.steps = nn.Parameter(torch.full((self.n_layers,), 1.0, dtype=d.dtype, device=d.device) / L)
        self.thresholds = nn.Parameter(torch.full((self.n_layers,), 1.0, dtype=d.dtype, device=d.device) * self.alpha / L)

    def forward(self, x: Tensor, n_layers: int | None = None) -> Tensor:
        """Codes ``(n, k)`` of ``x (n, f)`` after ``n_layers`` (default all) layers."""
        check_signals(x, self.dictionary)
        depth = self._depth(n_layers)
        corr = x @ self.dictionary.T  # (n, k)
        z = torch.zeros_like(corr)
        for layer in range(depth):
            z = shrink(z - self.steps[layer] * (z @ self.gram - corr), self.thresholds[layer])
        return z


def _signals(batch) -> Tensor:
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    check_tensor("batch", x, min_ndim=1, nonempty=True)  # a mean over zero signals is NaN
    return x


def lista_objective_loss(model: nn.Module, batch, generator: torch.Generator | None = None, *, n_layers: int | None = None) -> Tensor:
    """Mean sparse-coding objective ``½‖x − z D‖² + α‖z‖₁`` of the encoder's codes (unsupervised).

    Args:
        model: a `LISTA` or `ALISTA` (uses its ``dictionary`` and ``alpha``).
        batch: signals ``(b, f)`` or a tuple whose first entry is.
        generator: unused (the loss is deterministic); part of the `ebm.train.train` objective protocol.
        n_layers: score the codes after this many layers (default all), e.g. for layer-wise
            training with ``functools.partial(lista_objective_loss, n_layers=t)``.

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
        >>> loss = lista_objective_loss(LISTA(D, 0.1, n_layers=4), torch.randn(5, 8), n_layers=2)  # layer 2's codes
    """
    x = _signals(batch)
    z = model(x, n_layers=n_layers)  # (b, k)
    r = x - z @ model.dictionary  # (b, f)
    return (0.5 * (r * r).sum(1) + model.alpha * z.abs().sum(1)).mean()


def lista_supervised_loss(model: nn.Module, batch, generator: torch.Generator | None = None, *, n_layers: int | None = None) -> Tensor:
    """Mean squared error ``‖model(x) − z*‖²`` to target codes (Gregor & LeCun's training signal).

    Args:
        model: a `LISTA` or `ALISTA`.
        batch: a tuple ``(x (b, f), z* (b, k))``, e.g. ``(x, fista(x, D, alpha).codes)``, or the
            true codes of synthetic signals (Chen et al. 2018 train on those).
        generator: unused; part of the `ebm.train.train` objective protocol.
        n_layers: compare the codes after this many layers (default all).
    Raises:
        ValueError: ``batch`` is not a pair, is empty, or the target codes are not ``(b, k)``.
    """
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(format_error("batch", "a pair (x, target_codes)", type(batch).__name__, "pass data=(x, fista(x, D, alpha).codes)"))
    x, target = _signals(batch), batch[1]
    codes = model(x, n_layers=n_layers)  # (b, k)
    check_tensor("batch[1]", target, floating=True, finite=True)
    if target.shape != codes.shape:  # a (b,) or (1, k) target would broadcast into a wrong loss
        raise ValueError(format_error("batch[1]", f"target codes of shape {tuple(codes.shape)} (one row of k codes per signal)", f"shape {tuple(target.shape)}", "pass data=(x, fista(x, D, alpha).codes)"))
    return ((codes - target) ** 2).sum(1).mean()


def prediction_error(codes: Tensor, optimal: Tensor) -> float:
    """Gregor & LeCun's code prediction error ``Σ_i ‖z_i − z*_i‖² / Σ_i ‖z*_i‖²`` over a batch.

    The measure of "Learning Fast Approximations of Sparse Coding" (Gregor & LeCun 2010, ICML):
    how far an approximate encoder's codes are from the optimal codes ``z*`` of the same signals,
    relative to the codes' size (a ratio of totals, so signals with ``z* = 0`` count too).

    Args:
        codes: ``(n, k)`` approximate codes. optimal: ``(n, k)`` optimal codes (e.g. ``fista`` at a
            small ``tol``), not all zero.

    Returns:
        A Python float ``≥ 0``; 0 exactly when ``codes == optimal``.

    Raises:
        ValueError: shape mismatch, or all-zero ``optimal``.

    Example:
        >>> prediction_error(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
        0.25
    """
    if codes.shape != optimal.shape or codes.ndim != 2:
        raise ValueError(format_error("codes", f"shape (n, k) equal to optimal's {tuple(optimal.shape)}", f"shape {tuple(codes.shape)}", "pass the codes of the same signals and dictionary"))
    norm = float((optimal.double() ** 2).sum())
    if norm == 0:
        raise ValueError(format_error("optimal", "codes with at least one non-zero entry", "all zeros", "lower alpha, or use signals with non-zero optimal codes"))
    return float(((codes.double() - optimal.double()) ** 2).sum()) / norm


def iterations_to_reach(errors, target: float) -> int | None:
    """The first iteration count ``m`` (1-based) with ``errors[m − 1] ≤ target``, or None if none does.

    Args:
        errors: a sequence of errors after 1, 2, ... iterations. target: the error to reach.

    Example:
        >>> iterations_to_reach([0.5, 0.3, 0.2, 0.25, 0.1], 0.25)
        3
    """
    for m, e in enumerate(errors, start=1):
        if e <= target:
            return m
    return None


def lista_warm_start(source: LISTA, n_layers: int, *, tied: bool | None = None) -> LISTA:
    """A `LISTA` of ``n_layers`` layers that starts from a trained ``source`` network.

    Training a deep unrolled encoder from the ISTA initialisation is slow; a common practice is to
    grow it: train a shallow network, then start the deeper one from it. Layer ``l`` of the new
    network takes the parameters of the source's layer ``min(l, m − 1)`` (``m = source.n_layers``):

    - tied → tied: the encoder ``W_e (f, k)`` and inhibition ``S (k, k)`` are copied; per-layer
      thresholds ``θ_0..θ_{m−1}`` are copied and the extra layers repeat ``θ_{m−1}`` (a shared
      threshold stays shared);
    - tied → untied (``tied=False``): every layer gets ``W_l = W_e`` and ``S_l = S`` (Chen et al.
      2018's untied network starting from the tied one's map: same output at the start);
    - untied → untied: ``W_l, S_l, θ_l`` copied for ``l < m``, the extra layers repeat the last ones.

    The copy is exact: for ``n_layers = m`` the new network's output equals the source's; for a
    deeper one its first ``m`` layers do. The dictionary, ``alpha`` and dtype/device are the source's.

    Args:
        source: a trained `LISTA`.
        n_layers: depth of the new network (>= 1; smaller than the source's keeps its first layers).
        tied: tie the new network's weights (default: as the source).

    Returns:
        A new `LISTA` (parameters are copies, not shared with ``source``), with the source's
        ``shared_threshold`` setting when tied (an untied network has one threshold per layer).

    Raises:
        TypeError: ``source`` is not a `LISTA`, or ``tied`` not a bool.
        ValueError: ``n_layers < 1``; an untied source into a tied network (which layer's
            matrices to keep is not defined).

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
        >>> shallow = LISTA(D, 0.1, n_layers=2)   # ... train it ...
        >>> deep = lista_warm_start(shallow, 4)
        >>> bool(torch.equal(deep.encoder, shallow.encoder)), deep.thresholds.shape
        (True, torch.Size([4]))
    """
    if not isinstance(source, LISTA):
        raise TypeError(format_error("source", "a trained LISTA", type(source).__name__, "pass the LISTA network to start from"))
    n_layers = check_int("n_layers", n_layers, minimum=1)
    tied = source.tied if tied is None else tied
    if not isinstance(tied, bool):
        raise TypeError(format_error("tied", "a bool or None", type(tied).__name__, "pass tied=True, tied=False or leave it out"))
    if tied and not source.tied:
        raise ValueError(format_error("tied", "False for an untied source", "True", "warm-start an untied network (tied=False), or start from a tied source"))
    net = LISTA(source.dictionary, source.alpha, n_layers, shared_threshold=source.shared_threshold and tied, tied=tied)
    m = source.n_layers
    last = lambda layer: min(layer, m - 1)  # noqa: E731  (the source layer a new layer copies)
    with torch.no_grad():
        if tied:
            net.encoder.copy_(source.encoder)
            net.inhibition.copy_(source.inhibition)
        else:
            for layer in range(n_layers):
                net.encoders[layer].copy_(source.encoder if source.tied else source.encoders[last(layer)])
            for layer in range(1, n_layers):  # inhibitions[l − 1] belongs to layer l
                if source.tied:
                    net.inhibitions[layer - 1].copy_(source.inhibition)
                elif m > 1:  # a 1-layer untied source has no inhibition: the new ones keep ISTA's I − D Dᵀ/L
                    net.inhibitions[layer - 1].copy_(source.inhibitions[max(last(layer), 1) - 1])
        for layer in range(net.thresholds.shape[0]):
            net.thresholds[layer].copy_(source._threshold(last(layer)))
    return net


class LISTAEarlyStopping:
    """`ebm.train.train` callback: held-out prediction error, learning-rate decay on plateaus, early stopping.

    After every epoch it measures Gregor & LeCun's prediction error
    ``e = Σ‖model(x_val) − z*‖² / Σ‖z*‖²`` on a validation split (keep it separate from the test
    signals). An epoch *improves* when ``e < best · (1 − min_improvement)``; the best parameters are
    kept. After ``patience`` epochs without improvement every learning rate is multiplied by
    ``factor`` (reduce-on-plateau); when that would take it below ``min_lr``, training stops. It
    also stops after ``max_epochs`` epochs or ``cpu_seconds`` of process CPU time
    (``time.process_time()``, counted from the callback's creation: a budget that does not depend
    on how loaded a shared machine is). `record_start` scores the untrained (e.g. warm-started)
    network as epoch 0. Whenever it stops the run it loads the best parameters back
    into the model; call `restore` after `ebm.train.train` in case the run ended by its own
    ``epochs`` instead.

    Args:
        x_val: ``(n, f)`` validation signals. z_val: ``(n, k)`` their optimal codes (e.g. `fista`
            at a small ``tol``), not all zero.
        patience: epochs without improvement before the learning rate is lowered (>= 1).
        factor: learning-rate multiplier on a plateau, in ``(0, 1)``.
        min_lr: stop instead of lowering the learning rate below this (> 0).
        min_improvement: relative decrease of ``e`` that counts as an improvement (>= 0).
        max_epochs: stop after this many epochs (None: no limit).
        cpu_seconds: stop once the process has used this much CPU time (None: no limit).

    Attributes:
        errors: validation error after each epoch. best_error, best_epoch (1-based; 0 = the
        start, when `record_start` scored it). start_error: the error `record_start` measured.
        lr_decays: how many times the learning rate was lowered. stop_reason: ``"plateau"``,
        ``"max_epochs"``, ``"cpu_seconds"`` or None (still running). cpu_time: CPU seconds used (until the stop).

    Raises:
        ValueError / TypeError: bad arguments (shapes, non-finite codes, out-of-range settings).

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
        >>> x, z = torch.randn(60, 8), torch.randn(60, 16)   # signals and their optimal codes, e.g. fista(x, D, 0.1).codes
        >>> stop = LISTAEarlyStopping(x[40:], z[40:], patience=3, max_epochs=200)
        >>> net = LISTA(D, 0.1, n_layers=4)
        >>> stop.record_start(net) > 0   # epoch 0: the untrained network
        True
        >>> # train(net, lista_supervised_loss, (x[:40], z[:40]), epochs=200, callbacks=[stop]); stop.restore(net)
    """

    def __init__(self, x_val: Tensor, z_val: Tensor, *, patience: int = 5, factor: float = 0.5, min_lr: float = 1e-5,
                 min_improvement: float = 1e-3, max_epochs: int | None = None, cpu_seconds: float | None = None):
        check_tensor("x_val", x_val, ndim=2, floating=True, finite=True, nonempty=True)
        check_tensor("z_val", z_val, ndim=2, floating=True, finite=True, nonempty=True)
        if z_val.shape[0] != x_val.shape[0]:
            raise ValueError(format_error("z_val", f"one row of codes per validation signal ({x_val.shape[0]} rows)", f"{z_val.shape[0]} rows",
                                          "pass the optimal codes of x_val"))
        if not bool((z_val != 0).any()):
            raise ValueError(format_error("z_val", "codes with at least one non-zero entry", "all zeros", "lower alpha, or use other validation signals"))
        self.x_val, self.z_val = x_val, z_val
        self.patience = check_int("patience", patience, minimum=1)
        self.factor = check_positive("factor", factor)
        if self.factor >= 1:
            raise ValueError(format_error("factor", "a learning-rate multiplier in (0, 1)", repr(factor), "pass e.g. factor=0.5"))
        self.min_lr = check_positive("min_lr", min_lr)
        self.min_improvement = check_nonnegative("min_improvement", min_improvement)
        self.max_epochs = None if max_epochs is None else check_int("max_epochs", max_epochs, minimum=1)
        self.cpu_seconds = None if cpu_seconds is None else check_positive("cpu_seconds", cpu_seconds)
        self._cpu0, self._cpu_end = time.process_time(), None
        self.errors: list[float] = []
        self.best_error, self.best_epoch, self.lr_decays = float("inf"), 0, 0
        self.stop_reason: str | None = None
        self.start_error: float | None = None
        self._best_state = None
        self._bad = 0

    def record_start(self, model: torch.nn.Module) -> float:
        """Score ``model`` before training (epoch 0) and keep its parameters as the best so far.

        With a warm-started network this guarantees that training never ends worse (on the
        validation split) than where it started. Returns the starting error.
        """
        e = self.error(model)
        if e < self.best_error:
            self.best_error, self.best_epoch, self._bad = e, 0, 0
            self._best_state = copy.deepcopy(model.state_dict())
        self.start_error = e
        return e

    @property
    def cpu_time(self) -> float:
        """CPU seconds from the callback's creation to its stop (or `restore`), or to now while running."""
        return (time.process_time() if self._cpu_end is None else self._cpu_end) - self._cpu0

    def error(self, model: torch.nn.Module) -> float:
        """The validation prediction error of ``model`` now."""
        was_training = model.training
        model.eval()
        with torch.no_grad():
            codes = model(self.x_val)  # (n, k)
        model.train(was_training)
        return prediction_error(codes, self.z_val)

    def __call__(self, state) -> bool:
        model, epoch = state.model, len(self.errors) + 1
        e = self.error(model)
        if e != e:  # NaN: the loss guard of train stops divergence first; this is a last check
            raise ValueError(format_error("model", "finite codes on the validation signals", "NaN codes", "lower the learning rate"))
        self.errors.append(e)
        if e < self.best_error * (1 - self.min_improvement):
            self.best_error, self.best_epoch, self._bad = e, epoch, 0
            self._best_state = copy.deepcopy(model.state_dict())
        else:
            self._bad += 1
        if self._bad >= self.patience:
            self._bad = 0
            groups = state.optimizer.param_groups
            if any(g["lr"] * self.factor < self.min_lr for g in groups):
                self.stop_reason = "plateau"
            else:
                for g in groups:
                    g["lr"] *= self.factor
                self.lr_decays += 1
        if self.stop_reason is None and self.max_epochs is not None and epoch >= self.max_epochs:
            self.stop_reason = "max_epochs"
        if self.stop_reason is None and self.cpu_seconds is not None and self.cpu_time >= self.cpu_seconds:
            self.stop_reason = "cpu_seconds"
        if self.stop_reason is not None:
            self._cpu_end = time.process_time()
            self.restore(model)
            return True
        return False

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best parameters seen so far into ``model`` (nothing to do before the first epoch); stops the CPU clock."""
        if self._cpu_end is None:
            self._cpu_end = time.process_time()
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
