"""The one training loop: mini-batches, any optimiser, metrics, callbacks, checkpoints, NaN guard.

Every training principle in `ebm.objectives` is a callable ``objective(model, batch, generator=)``
returning a scalar loss to minimise; this loop owns everything around it, so no objective grows
its own loop. `fit` is the function behind ``Energy.fit``: it resolves the objective an energy
class names (``default_objective``) through the objective registry, so models never import this
module. Checkpoints (atomic, ``weights_only`` loading) live in `ebm.checkpoint` and are re-exported.

Example:
    >>> from ebm.energies import MLPEnergy
    >>> from ebm.objectives import DenoisingScoreMatching
    >>> from ebm.data import make_toy
    >>> g = torch.Generator().manual_seed(0)
    >>> x = make_toy("moons", 2048, generator=g)
    >>> model = MLPEnergy((2,))
    >>> history = train(model, DenoisingScoreMatching(0.1), x, epochs=5, lr=1e-3, generator=g)
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_energy_input, check_generator, check_int, check_nonnegative, check_positive, format_error
from ebm.checkpoint import clean_orphaned_temporaries, load_checkpoint, save_checkpoint
from ebm.registry import register_training_loop

__all__ = ["train", "fit", "default_objective", "History", "TrainState", "TrainingDiverged", "save_checkpoint", "load_checkpoint",
           "make_optimizer", "linear_lr_decay"]


class TrainingDiverged(RuntimeError):
    """Raised when the loss (or a parameter) becomes non-finite; training never hides divergence."""


@dataclass
class History:
    """What a run recorded.

    Attributes:
        losses: the loss of every optimiser step.
        epoch_losses: the mean loss of each epoch.
        metrics: ``{name: [(epoch, value), ...]}`` from the ``metrics`` functions.
        wall_time: seconds spent in `train` (metrics included), cumulative over resumed runs.
        epochs_done: completed epochs, cumulative over resumed runs.
    """

    losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    wall_time: float = 0.0
    epochs_done: int = 0

    def state_dict(self) -> dict:
        return {
            "losses": list(self.losses),
            "epoch_losses": list(self.epoch_losses),
            "metrics": {k: [list(p) for p in v] for k, v in self.metrics.items()},
            "wall_time": self.wall_time,
            "epochs_done": self.epochs_done,
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.losses = [float(v) for v in state["losses"]]
        self.epoch_losses = [float(v) for v in state["epoch_losses"]]
        self.metrics = {k: [(int(e), float(v)) for e, v in pts] for k, pts in state["metrics"].items()}
        self.wall_time = float(state["wall_time"])
        self.epochs_done = int(state["epochs_done"])


@dataclass
class TrainState:
    """What callbacks see after each epoch. A callback returning True stops training."""

    epoch: int
    step: int
    model: nn.Module
    objective: Callable
    optimizer: torch.optim.Optimizer
    history: History


def make_optimizer(params, optimizer="adam", *, lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.0):
    """Build an optimiser by name ('adam', 'adamw', 'sgd', 'lbfgs') or pass one through."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    check_choice("optimizer", optimizer, ("adam", "adamw", "sgd", "lbfgs"))
    lr = check_positive("lr", lr)
    weight_decay = check_nonnegative("weight_decay", weight_decay)
    momentum = check_nonnegative("momentum", momentum)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    return torch.optim.LBFGS(params, lr=lr, line_search_fn="strong_wolfe")


def _trainable_parameters(model: nn.Module, objective) -> list[nn.Parameter]:
    seen: set[int] = set()
    params = []
    modules = [model] + ([objective] if isinstance(objective, nn.Module) else [])
    for module in modules:
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


_GATHER_ELEMENTS = 2**22  # shuffled rows are gathered in chunks of about this many elements; batches are views


def _batches(data, batch_size: int, generator, steps_per_epoch: int | None) -> Iterable:
    """Yield one epoch of mini-batches from a tensor, a tuple of tensors, a batch function or an iterable."""
    if isinstance(data, Tensor) or (isinstance(data, tuple) and data and all(isinstance(t, Tensor) for t in data)):
        tensors = (data,) if isinstance(data, Tensor) else data
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(format_error("data", "tensors with the same first dimension", str([tuple(t.shape) for t in tensors]), "align the data"))
        order = torch.randperm(n, generator=generator, device=generator.device if generator is not None else "cpu").to(tensors[0].device)
        # One gather per chunk (a whole epoch for small data sets) instead of one per batch.
        row_elements = max(sum(t[0].numel() for t in tensors), 1) if n else 1
        rows = batch_size * max(1, _GATHER_ELEMENTS // (row_elements * batch_size))
        for start in range(0, n, rows):
            idx = order[start : start + rows]
            parts = [torch.index_select(t, 0, idx).split(batch_size) for t in tensors]  # batches order[i : i + batch_size]
            yield from parts[0] if isinstance(data, Tensor) else zip(*parts)
    elif callable(data):
        if steps_per_epoch is None:
            raise ValueError(format_error("steps_per_epoch", "an integer when data is a batch function", "None", "pass steps_per_epoch=..."))
        for _ in range(steps_per_epoch):
            yield data(generator)
    else:
        yield from data


def _loss_value(loss, epoch: int, step: int, lr) -> float:
    """The loss as a float; stops training on a non-finite loss (one scalar read per step, the guard is free)."""
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        found = type(loss).__name__ if not isinstance(loss, Tensor) else f"shape {tuple(loss.shape)}"
        raise TypeError(format_error("objective", "a callable returning a scalar tensor", found, "reduce the loss with .mean()"))
    value = loss.item()
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"loss became {value} at epoch {epoch}, step {step}. Training stopped rather than hide it. "
            f"Fix: lower the learning rate (lr={lr}), clip gradients (max_grad_norm=...), or regularise the energy "
            "(e.g. an energy-magnitude penalty or spectral norm)."
        )
    return value


def _is_plain_sgd(opt) -> bool:
    """Whether ``opt.step()`` is exactly ``p -= lr * p.grad`` (torch SGD, no momentum/decay/hooks)."""
    if type(opt) is not torch.optim.SGD or "step" in vars(opt):  # an LR scheduler wraps step()
        return False
    from torch.optim import optimizer as _optimizer

    hooks = (getattr(opt, "_optimizer_step_pre_hooks", None), getattr(opt, "_optimizer_step_post_hooks", None),
             getattr(_optimizer, "_global_optimizer_pre_hooks", None), getattr(_optimizer, "_global_optimizer_post_hooks", None))
    if any(h is None or len(h) for h in hooks):
        return False
    return all(
        g.get("momentum", 1) == 0 and g.get("weight_decay", 1) == 0 and not g.get("maximize", True) and not g.get("differentiable", True)
        and not g.get("fused") and not isinstance(g.get("lr"), Tensor)
        for g in opt.param_groups
    )


def _plain_sgd_step(opt) -> None:
    """``p -= lr * p.grad`` for every parameter with a gradient: torch SGD's update without its per-call overhead."""
    work = []
    for group in opt.param_groups:
        params = group["params"]
        grads = [p.grad for p in params]
        for g in grads:
            if g is None or g.is_sparse:
                opt.step()  # torch's own path skips missing gradients and handles sparse ones
                return
        if params:
            work.append((params, grads, -group["lr"]))
    with torch.no_grad() if torch.is_grad_enabled() else contextlib.nullcontext():
        for params, grads, alpha in work:
            torch._foreach_add_(params, grads, alpha=alpha)


def train(
    model: nn.Module,
    objective: Callable,
    data,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    optimizer="adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    max_grad_norm: float | None = None,
    steps_per_epoch: int | None = None,
    generator: torch.Generator | None = None,
    metrics: Mapping[str, Callable[[nn.Module], float]] | None = None,
    metric_every: int = 1,
    callbacks: Iterable[Callable[[TrainState], bool | None]] = (),
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    progress: bool | None = None,
    history: History | None = None,
) -> History:
    """Minimise ``objective(model, batch, generator=generator)`` over mini-batches of ``data``.

    Args:
        model: the module being trained (usually an `ebm.Energy`).
        objective: callable ``(model, batch, generator=) -> scalar loss``. If it is an `nn.Module`,
            its parameters are trained too (e.g. NCE's log-normaliser) and its state is checkpointed.
        data: a tensor ``(n, ...)`` or tuple of tensors with the same ``n`` (shuffled each epoch with
            ``generator``), a batch function ``generator -> batch`` (give ``steps_per_epoch``), or
            any re-iterable collection of batches (e.g. a list or a DataLoader). Tensor data is
            checked once here: at least one row, finite, on the model's device, and -- for an
            energy -- shaped ``(n, *model.event_shape)`` in the model's dtype (an objective that
            consumes other shapes says so with ``data_event_shape(model)``, e.g. two-view tasks).
        epochs: the TOTAL number of epochs of the run, counted from its start: a resumed run (or a
            ``history`` that already holds some epochs) trains only the missing ones, so re-running
            the same command after a crash never trains longer than the uninterrupted run.
        batch_size: rows per step (tensor data).
        optimizer: 'adam', 'adamw', 'sgd', 'lbfgs' or a ready `torch.optim.Optimizer`.
        lr, weight_decay, momentum: optimiser settings when built by name.
        max_grad_norm: clip the global gradient norm to this value.
        steps_per_epoch: batches per epoch when ``data`` is a function.
        generator: the random generator for shuffling and for the objective's sampling.
        metrics: ``{name: fn(model) -> float}`` evaluated every ``metric_every`` epochs (and after the last).
        callbacks: ``fn(TrainState)`` after each epoch (after the metrics, before the checkpoint);
            any returning True stops training (all of them run first).
        checkpoint: path written (atomically) every ``checkpoint_every`` epochs, at the end, and
            when a callback stops the run. It holds the model, the optimiser (learning rates set by
            callbacks included), the objective if it is a module (e.g. persistent chains), the
            history and the generator's state.
        resume: continue from ``checkpoint`` if it exists (and remove temporaries of killed saves).
            Resuming is bit-identical to the uninterrupted run (same parameters, optimiser state
            and generator state) when the callbacks keep their state in the optimiser or the
            model -- as `linear_lr_decay` does -- and the same ``generator`` seed is passed.
        progress: show a progress bar (default: only on a terminal).
        history: continue an existing History (its ``epochs_done`` count toward ``epochs``).

    Each step reads the loss back once (``loss.item()``), which is also the NaN guard: a
    non-finite loss stops training before its update is applied. Two cheaper per-step paths are
    chosen automatically and change nothing about what is computed: where the objective offers
    ``analytic_gradient(model, data)`` (CD-k / PCD on a `BernoulliRBM` with tensor data, see
    `ebm.objectives.rbm_cd_gradient`), its closed-form step writes ``.grad`` instead of
    ``loss.backward()``; and a plain torch SGD (no momentum, weight decay, hooks or scheduler) is
    applied as ``p -= lr * p.grad`` in one ``torch._foreach_add_`` instead of ``opt.step()``.
    Tensor data is shuffled each epoch and gathered in large chunks, each batch being a view.

    Returns:
        The `History` of losses, metrics and wall time.

    Raises:
        TrainingDiverged: the loss or a parameter became non-finite (with advice).
        ValueError / TypeError: invalid arguments or data (empty, non-finite, wrong shape, dtype or
            device, an epoch without batches), or a checkpoint that cannot be resumed.
    """
    from tqdm.auto import tqdm

    epochs = check_int("epochs", epochs, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    metric_every = check_int("metric_every", metric_every, minimum=1)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, minimum=1)
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if max_grad_norm is not None:
        max_grad_norm = check_positive("max_grad_norm", max_grad_norm)
    check_generator("generator", generator)
    if not callable(objective):
        raise TypeError(format_error("objective", "a callable (model, batch, generator=) -> loss", type(objective).__name__, "pass an ebm.objectives instance"))
    if resume and checkpoint is None:
        raise ValueError(format_error("resume", "a checkpoint path to resume from", "resume=True without checkpoint=", "pass checkpoint='run/ckpt.pt'"))
    callbacks = list(callbacks)
    params = _trainable_parameters(model, objective)
    if not params:
        raise ValueError(format_error("model", "at least one parameter with requires_grad=True", "none", "unfreeze the parameters to train"))
    _check_data(model, objective, data, params[0])
    opt = make_optimizer(params, optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum)
    history = history or History()
    if resume:
        clean_orphaned_temporaries(checkpoint)
        if Path(checkpoint).exists():
            _resume(checkpoint, model, objective, opt, history, generator)
    start_epoch = history.epochs_done
    is_lbfgs = isinstance(opt, torch.optim.LBFGS)
    constrain = getattr(model, "constrain_parameters_", None)
    # A closed-form gradient (e.g. CD/PCD on a Bernoulli RBM) replaces autograd where the objective
    # offers one; it checks the whole data set once instead of every batch.
    analytic = getattr(objective, "analytic_gradient", None)
    trained = {id(p) for p in params}  # a ready-made optimiser holding other tensors keeps the autograd path
    own_params = all(id(p) in trained for group in opt.param_groups for p in group["params"])
    analytic_step = analytic(model, data) if callable(analytic) and isinstance(data, Tensor) and not is_lbfgs and own_params else None
    t0 = time.perf_counter()
    step = len(history.losses)
    bar = tqdm(range(start_epoch, epochs), initial=start_epoch, total=epochs, desc="training", unit="epoch",
               disable=(None if progress is None else not progress))
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        plain_sgd = _is_plain_sgd(opt)  # per epoch: callbacks may change the optimiser's settings
        with torch.no_grad() if analytic_step is not None else contextlib.nullcontext():
            for batch in _batches(data, batch_size, generator, steps_per_epoch):
                if is_lbfgs:

                    def closure(batch=batch):
                        opt.zero_grad(set_to_none=True)
                        loss = objective(model, batch, generator=generator)
                        _loss_value(loss, epoch, step, lr)
                        loss.backward()
                        return loss

                    value = _loss_value(opt.step(closure), epoch, step, lr)
                else:
                    if analytic_step is not None:
                        value = _loss_value(analytic_step(batch, generator), epoch, step, lr)  # writes the .grad
                    else:
                        opt.zero_grad(set_to_none=True)
                        loss = objective(model, batch, generator=generator)
                        value = _loss_value(loss, epoch, step, lr)  # stops before a non-finite step is taken
                        loss.backward()
                    if max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                    if plain_sgd:
                        _plain_sgd_step(opt)
                    else:
                        opt.step()
                if constrain is not None:
                    with torch.no_grad():
                        constrain()
                history.losses.append(value)
                total, count, step = total + value, count + 1, step + 1
        if count == 0:
            raise ValueError(format_error(
                "data", "at least one batch in every epoch", f"no batches in epoch {epoch + 1}",
                "pass a non-empty data set; a one-shot iterator (generator expression) is used up after one epoch, pass a list or a DataLoader"))
        _check_parameters(params, epoch)
        history.epoch_losses.append(total / count)
        history.epochs_done = epoch + 1
        last = epoch == epochs - 1
        if metrics and ((epoch + 1) % metric_every == 0 or last):
            model.eval()
            for name, fn in metrics.items():
                history.metrics.setdefault(name, []).append((epoch + 1, float(fn(model))))
        postfix = {"loss": f"{history.epoch_losses[-1]:.4g}"}
        postfix.update({k: f"{v[-1][1]:.4g}" for k, v in history.metrics.items() if v})
        bar.set_postfix(postfix)
        # Callbacks run BEFORE the checkpoint: what they change (e.g. the next epoch's learning
        # rate) is saved, so a resumed run continues exactly where the uninterrupted one would.
        state = TrainState(epoch + 1, step, model, objective, opt, history)
        stop = any([bool(cb(state)) for cb in callbacks])  # a list: every callback runs
        history.wall_time += time.perf_counter() - t0
        t0 = time.perf_counter()
        if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or last or stop):
            _save_training_checkpoint(checkpoint, model, objective, opt, history, generator)
        if stop:
            break
    bar.close()
    model.eval()
    return history


def _check_data(model: nn.Module, objective, data, reference: Tensor) -> None:
    """Validate tensor data once, where it enters (batch functions and iterables are checked by the energy per call).

    The shape of one example is ``objective.data_event_shape(model)`` where the objective defines
    it (e.g. two-view objectives train a pair energy on single views), else ``model.event_shape``.
    """
    if isinstance(data, (tuple, list)) and len(data) == 0:
        raise ValueError(format_error("data", "a non-empty tensor, tuple of tensors, batch function or collection of batches", "an empty " + type(data).__name__, "pass the training set"))
    if isinstance(data, Tensor):
        tensors = (data,)
    elif isinstance(data, tuple) and all(isinstance(t, Tensor) for t in data):
        tensors = data
    else:
        return
    if any(t.dim() == 0 for t in tensors):
        raise ValueError(format_error("data", "tensors with a first (example) dimension, (n, ...)", "a 0-d tensor", "stack the examples: data.reshape(1, -1)"))
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(format_error("data", "tensors with the same first dimension", str([tuple(t.shape) for t in tensors]), "align the data"))
    if n == 0:
        raise ValueError(format_error("data", "at least one example (n >= 1 rows)", f"shape {tuple(tensors[0].shape)} with no rows",
                                      "pass the training set; check the split or filter that produced it"))
    shape_of = getattr(objective, "data_event_shape", None)
    event_shape = shape_of(model) if callable(shape_of) else getattr(model, "event_shape", None)
    if isinstance(data, Tensor) and isinstance(event_shape, torch.Size):
        if tuple(data.shape[1:]) != tuple(event_shape):
            raise ValueError(format_error("data", f"shape (n, {', '.join(map(str, event_shape))}) for a model with event_shape {tuple(event_shape)}",
                                          f"shape {tuple(data.shape)}", f"reshape it: data.reshape(-1, *{tuple(event_shape)})"))
        check_energy_input("data", data, event_shape, reference)  # floating, dtype and device of the model, finite
        return
    for t in tensors:
        if t.device != reference.device:
            raise ValueError(format_error("data", f"tensors on {reference.device} (the model's device)", f"a tensor on {t.device}", f"move it: data.to({str(reference.device)!r})"))
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(format_error("data", "finite values", f"{bad} NaN or infinite entries", "drop or impute those rows before training"))


def _resume(path, model, objective, opt, history: History, generator) -> None:
    """Load a training checkpoint written by `train` into the model, objective, optimiser, history and generator."""
    extra = load_checkpoint(path)  # check that it is train's own checkpoint before touching the modules
    if "history" not in extra:
        raise ValueError(format_error("checkpoint", "a checkpoint written by train() (it holds the training history)", f"{path} without one",
                                      "resume from train's own checkpoint, or load this one with load_checkpoint and train without resume"))
    if "generator_state" in extra and generator is None:
        raise ValueError(format_error("generator", "the run's generator, to continue its random stream", "None (the checkpoint holds a generator state)",
                                      "pass generator=torch.Generator().manual_seed(...) as in the first run"))
    load_checkpoint(path, model=model, objective=objective if isinstance(objective, nn.Module) else None, optimizer=opt)
    if "generator_state" in extra:
        generator.set_state(extra["generator_state"])
    history.load_state_dict(extra["history"])


def _check_parameters(params, epoch: int) -> None:
    for p in params:
        if not bool(torch.isfinite(p).all()):
            raise TrainingDiverged(
                f"a parameter of shape {tuple(p.shape)} became non-finite during epoch {epoch}. "
                "Fix: lower the learning rate or clip gradients (max_grad_norm=...)."
            )


def _save_training_checkpoint(path, model, objective, optimizer, history, generator) -> None:
    modules = {"model": model, "optimizer": optimizer}
    if isinstance(objective, nn.Module):
        modules["objective"] = objective
    extra = {"history": history.state_dict()}
    if generator is not None:
        extra["generator_state"] = generator.get_state()
    save_checkpoint(path, extra=extra, **modules)


def linear_lr_decay(epochs: int, *, final_fraction: float = 0.0) -> Callable[[TrainState], None]:
    """Callback: decay every learning rate linearly to ``final_fraction`` of its start over ``epochs``.

    Stochastic-approximation methods (PCD, CD-k) need a decaying step size to settle near the
    optimum (Tieleman 2008; Fischer & Igel 2010 show CD/PCD likelihoods drifting down without it).

    Example:
        >>> train(rbm, ContrastiveDivergence(k=1, persistent=True), x, epochs=200, callbacks=[linear_lr_decay(200)])
    """
    epochs = check_int("epochs", epochs, minimum=1)
    final_fraction = check_nonnegative("final_fraction", final_fraction)

    def callback(state: TrainState) -> None:
        frac = max(0.0, 1.0 - state.epoch / epochs) * (1.0 - final_fraction) + final_fraction
        for group in state.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])  # saved with the optimiser's checkpoint
            group["lr"] = group["initial_lr"] * frac

    return callback


def default_objective(model: nn.Module):
    """The objective ``model`` names in ``default_objective``, built from the objective registry.

    Args:
        model: an energy whose class sets ``default_objective = "<registry name>"`` and, if the
            loss has settings, ``default_objective_options() -> dict``.

    Returns:
        The objective instance.

    Raises:
        TypeError: the model names no default objective.
        ValueError: the name is not in ``ebm.registry.OBJECTIVES``.
    """
    import ebm.objectives  # noqa: F401  (registers every objective)
    from ebm.registry import OBJECTIVES

    name = getattr(model, "default_objective", None)
    if name is None:
        raise TypeError(format_error("objective", f"an objective, since {type(model).__name__} names no default_objective", "None",
                                     "pass objective=... (see ebm.objectives), or set default_objective on the class"))
    if name not in OBJECTIVES:
        raise ValueError(format_error(f"{type(model).__name__}.default_objective", f"a registered objective name (one of {sorted(OBJECTIVES)})",
                                      repr(name), "register the objective with ebm.registry.register_objective or fix the name"))
    options = getattr(model, "default_objective_options", dict)()
    return OBJECTIVES[name].obj(**options)


@register_training_loop
def fit(model: nn.Module, data, *, objective: Callable | None = None, **train_kwargs) -> History:
    """Train ``model`` with the objective its class names (or ``objective``): what ``Energy.fit`` runs.

    Minimises ``mean_batch L(model, batch)`` with `train`; the class's ``fit_defaults`` (e.g.
    epochs, lr) apply unless ``train_kwargs`` override them. See the `ebm.Energy` docstring for
    how an energy names its default objective without importing the objectives (the import graph
    stays one-way: models never import the training loop).

    Args:
        model: the energy to train in place.
        data: training data, ``(n, *event_shape)`` or anything `train` accepts.
        objective: overrides the default objective.
        **train_kwargs: keyword arguments of `train` (``epochs`` is the total).

    Returns:
        The `History`.

    Raises:
        TypeError / ValueError: as `default_objective` and `train`.

    Example:
        >>> model = DecoderEnergy(2, generator=torch.Generator().manual_seed(0))
        >>> history = fit(model, make_ellipse(512), epochs=5, progress=False)    # same as model.fit(...)
    """
    if objective is None:
        objective = default_objective(model)
    options = {**getattr(model, "fit_defaults", {}), **train_kwargs}
    return train(model, objective, data, **options)
