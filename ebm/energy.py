"""The `Energy` interface every model in the playground implements, and its composition.

Convention: ``p(x) = exp(-E(x)) / Z`` with ``Z = ∫ exp(-E(x)) dx``. Low energy is likely.

Shapes: an energy has an ``event_shape`` (the shape of one sample). It maps
``x: (*batch, *event_shape) -> (*batch,)``: one energy per sample. Its score
``-∇x E(x)`` has the shape of ``x``.

Reference: LeCun, Chopra, Hadsell, Ranzato & Huang (2006), "A Tutorial on Energy-Based Learning".
"""

from __future__ import annotations

import contextvars
import functools

import torch
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_positive, energy_reference_tensor, format_error, input_checks_enabled

__all__ = ["Energy", "SumEnergy", "TemperedEnergy"]

# Energies (by id) whose input was checked by an entry point that is still running: the call of
# `self(x)` inside `score` / `energy_and_score` then does not check (and synchronise) a second time.
_VERIFIED: contextvars.ContextVar[frozenset] = contextvars.ContextVar("ebm_energy_verified", default=frozenset())


def _checked_entry_point(method):
    """Wrap an energy method ``method(self, x, ...)`` so ``x`` is checked exactly as ``__call__`` does."""
    if getattr(method, "_ebm_checks_input", False):
        return method

    @functools.wraps(method)
    def wrapper(self, x, *args, **kwargs):
        verified = _VERIFIED.get()
        if not input_checks_enabled() or id(self) in verified:
            return method(self, x, *args, **kwargs)
        self.check_input(x)
        token = _VERIFIED.set(verified | {id(self)})
        try:
            return method(self, x, *args, **kwargs)
        finally:
            _VERIFIED.reset(token)

    wrapper._ebm_checks_input = True
    return wrapper


def _as_event_shape(event_shape) -> torch.Size:
    """``2`` or ``(2,)`` or ``torch.Size([2])`` -> ``torch.Size([2])``; raises on anything else."""
    if isinstance(event_shape, bool):
        raise TypeError(format_error("event_shape", "an int or a tuple of ints", repr(event_shape), "pass e.g. 2 or (2,)"))
    if isinstance(event_shape, int):
        event_shape = (event_shape,)
    try:
        dims = tuple(event_shape)
    except TypeError:
        raise TypeError(format_error("event_shape", "an int or a tuple of ints", type(event_shape).__name__, "pass e.g. 2 or (2,)")) from None
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise TypeError(format_error("event_shape", "a tuple of ints", repr(event_shape), "pass e.g. (2,) or (1, 8, 8)"))
    if any(d < 1 for d in dims):
        raise ValueError(format_error("event_shape", "positive sizes", repr(event_shape), "every event dimension must be >= 1"))
    return torch.Size(dims)


class Energy(nn.Module):
    """Base class: an un-normalised log density ``log p(x) = -E(x) - log Z``.

    Subclasses implement ``forward(x)``; they override ``score`` / ``energy_and_score`` when the
    gradient is known in closed form (samplers then skip autograd), and ``log_partition`` when Z is
    tractable.

    Every entry point that takes a batch (``energy(x)``, ``score``, ``energy_and_score``,
    ``log_prob``, in this class and, by construction, in every subclass that overrides them) checks
    ``x`` first: a floating tensor of shape ``(*batch, *event_shape)`` on the energy's device and
    dtype, with finite entries; an empty batch ``(0, *event_shape)`` is valid and gives ``(0,)``.
    Samplers validate their start once and run inside ``samplers.validation.trusted_inputs()``,
    which skips these per-call checks (the finiteness check reads back from the device).

    Training: ``energy.fit(data, **train_kwargs)`` trains with the objective the class NAMES in
    ``default_objective`` -- a key of the objective registry (``ebm.registry.OBJECTIVES``), built
    with the keyword arguments from ``default_objective_options()`` -- and the ``fit_defaults``
    of the class (e.g. epochs, lr) under any ``train_kwargs`` given. ``fit`` is a thin method
    that imports nothing above the models: it calls the training loop installed in
    ``ebm.registry.training_loop()`` (``ebm.train.fit``, registered when ``ebm`` is imported),
    which resolves the name. So models never import ``ebm.train`` or ``ebm.objectives`` and the
    import graph stays one-way (``tests/test_import_graph.py``). A new trainable energy sets
    ``default_objective = "my_objective"`` (and, if its loss has settings,
    ``default_objective_options``); ``objective=`` overrides it per call. Energies that name no
    objective raise a clear error from ``fit`` unless one is passed.

    Args:
        event_shape: shape of one sample, e.g. ``2`` or ``(2,)`` for points in the plane.

    Raises:
        TypeError, ValueError: `event_shape` is not an int or a tuple of positive ints.

    Example:
        >>> from ebm.energies import Gaussian
        >>> e = Gaussian(torch.zeros(2), torch.eye(2))
        >>> e(torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    _abstract = True  # the registry test skips classes that set this in their own body

    #: Methods whose first argument is a batch ``x`` of observations. Each is wrapped, in this class
    #: and in every subclass that overrides it, so ``x`` is checked exactly as ``energy(x)`` checks
    #: it. A subclass with more such methods (``encode``, ``infer`` ...) extends the tuple.
    input_methods: tuple[str, ...] = ("score", "energy_and_score", "log_prob")

    def __init__(self, event_shape):
        super().__init__()
        self.event_shape = _as_event_shape(event_shape)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A subclass that overrides an entry point (an analytic score, say) is checked too.
        for name in cls.input_methods:
            if name in cls.__dict__ and callable(cls.__dict__[name]):
                setattr(cls, name, _checked_entry_point(cls.__dict__[name]))

    # ------------------------------------------------------------------ the contract
    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - documented abstract method
        """The energy ``E(x)``: ``(*batch, *event_shape) -> (*batch,)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def __call__(self, x, *args, **kwargs):
        if input_checks_enabled() and id(self) not in _VERIFIED.get():
            self.check_input(x)
        return super().__call__(x, *args, **kwargs)

    def check_input(self, x, name: str = "x") -> Tensor:
        """Validate an input batch; raises TypeError/ValueError naming the problem and the fix."""
        return check_energy_input(name, x, self.event_shape, self._reference_tensor())

    @_checked_entry_point
    def score(self, x: Tensor, *, create_graph: bool = False) -> Tensor:
        """The score ``-∇x E(x)``, shape ``(*batch, *event_shape)``.

        Computed by autograd unless a subclass knows it in closed form.

        Args:
            x: points, ``(*batch, *event_shape)``.
            create_graph: keep the graph so the score can be differentiated again (needed when a
                loss depends on the score, as in score matching).
        """
        return self.energy_and_score(x, create_graph=create_graph)[1]

    @_checked_entry_point
    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """``(E(x), -∇x E(x))`` in one pass: shapes ``(*batch,)`` and ``(*batch, *event_shape)``."""
        with torch.enable_grad():
            x_ = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
            energy = self(x_)
            (grad,) = torch.autograd.grad(energy.sum(), x_, create_graph=create_graph)
        if not create_graph:
            energy = energy.detach()
        return energy, -grad

    def log_partition(self) -> Tensor:
        """``log Z = log ∫ exp(-E(x)) dx`` (a scalar tensor), where it is tractable.

        Raises:
            NotImplementedError: Z is intractable for this energy; estimate it with
                ``ebm.evaluate.grid_log_partition`` (2-D) or annealed importance sampling
                (``samplers.AIS`` along a ``samplers.GeometricPath``).
        """
        raise NotImplementedError(
            format_error(
                "log_partition",
                "an energy with a tractable normalising constant",
                f"{type(self).__name__}, whose log Z has no closed form",
                "estimate it: ebm.evaluate.grid_log_partition(energy, bounds, resolution) for 2-D energies; "
                "annealed importance sampling for any energy, samplers.AIS(n_betas).run(samplers.GeometricPath(base, energy), "
                "x0 ~ base, base_log_partition) (ebm.evaluate.ais_log_partition for RBMs)",
            )
        )

    @_checked_entry_point
    def log_prob(self, x: Tensor) -> Tensor:
        """Normalised log density ``-E(x) - log Z``, shape ``(*batch,)``."""
        return -self(x) - self.log_partition()

    # ------------------------------------------------------------------ training
    default_objective: str | None = None
    """Registry name (``ebm.registry.OBJECTIVES``) of the objective `fit` trains with; None: pass one."""

    fit_defaults: dict = {}
    """Keyword arguments of ``ebm.train.train`` that `fit` uses unless the call overrides them."""

    def default_objective_options(self) -> dict:
        """Keyword arguments for the ``default_objective``'s constructor (none by default)."""
        return {}

    def fit(self, data, *, objective=None, **train_kwargs):
        """Train this energy in place with ``ebm.train.fit`` and return its ``History``.

        Minimises ``mean_batch L(self, batch)`` for the objective ``L`` this class names in
        ``default_objective`` (or ``objective``), with ``fit_defaults`` under ``train_kwargs``.

        Args:
            data: training data, ``(n, *event_shape)`` (or anything `ebm.train.train` accepts).
            objective: an objective callable overriding the default.
            **train_kwargs: ``epochs`` (total), ``batch_size``, ``lr``, ``generator``, ... of `ebm.train.train`.

        Returns:
            The ``ebm.train.History``.

        Raises:
            TypeError: the class names no default objective and none was passed.
            ValueError: invalid data or training arguments (see `ebm.train.train`).

        Example:
            >>> history = model.fit(x, epochs=20, lr=1e-2, generator=torch.Generator().manual_seed(0))
        """
        from ebm.registry import training_loop

        return training_loop()(self, data, objective=objective, **train_kwargs)

    # ------------------------------------------------------------------ composition
    def __add__(self, other: "Energy") -> "SumEnergy":
        return SumEnergy(self, other)

    def tempered(self, temperature: float) -> "TemperedEnergy":
        """This energy at temperature T: ``E(x) / T`` (T > 1 flattens the landscape)."""
        return TemperedEnergy(self, temperature)

    # ------------------------------------------------------------------ helpers
    def _reference_tensor(self) -> Tensor | None:
        """A floating parameter or buffer whose device and dtype inputs must match (None if it has none)."""
        return energy_reference_tensor(self)

    def extra_repr(self) -> str:
        return f"event_shape={tuple(self.event_shape)}"


class SumEnergy(Energy):
    """Product of experts: ``E(x) = Σ_i E_i(x)``, i.e. ``p(x) ∝ Π_i p_i(x)``.

    Reference: Hinton (2002), "Training Products of Experts by Minimizing Contrastive Divergence".

    Args:
        *energies: two or more energies with the same event shape.

    Raises:
        ValueError: fewer than two energies, or event shapes that differ.

    Example:
        >>> from ebm.energies import DoubleWell, Ring
        >>> poe = DoubleWell() + Ring()
    """

    def __init__(self, *energies: Energy):
        flat: list[Energy] = []
        for e in energies:
            if not isinstance(e, Energy):
                raise TypeError(format_error("energies", "ebm.Energy instances", type(e).__name__, "wrap callables in an Energy subclass"))
            flat.extend(e.terms if isinstance(e, SumEnergy) else [e])
        if len(flat) < 2:
            raise ValueError(format_error("energies", "at least two energies", f"{len(flat)}", "pass two or more energies"))
        shapes = {tuple(e.event_shape) for e in flat}
        if len(shapes) != 1:
            raise ValueError(
                format_error("energies", "one common event shape", f"event shapes {sorted(shapes)}", "combine energies over the same space")
            )
        super().__init__(flat[0].event_shape)
        self.terms = nn.ModuleList(flat)

    def forward(self, x: Tensor) -> Tensor:
        return sum(term(x) for term in self.terms)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        # Each term may have an analytic score; summing term-wise keeps that advantage.
        parts = [term.energy_and_score(x, create_graph=create_graph) for term in self.terms]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)


class TemperedEnergy(Energy):
    """An energy at temperature T: ``E_T(x) = E(x) / T``, so ``p_T(x) ∝ p(x)^(1/T)``.

    Args:
        energy: the base energy.
        temperature: T > 0. T > 1 flattens the landscape, T < 1 sharpens it.

    Raises:
        ValueError: T is not a finite positive number.
    """

    def __init__(self, energy: Energy, temperature: float):
        if not isinstance(energy, Energy):
            raise TypeError(format_error("energy", "an ebm.Energy", type(energy).__name__, "pass an Energy instance"))
        super().__init__(energy.event_shape)
        self.base = energy
        self.temperature = check_positive("temperature", temperature)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) / self.temperature

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        energy, score = self.base.energy_and_score(x, create_graph=create_graph)
        return energy / self.temperature, score / self.temperature

    def log_partition(self) -> Tensor:
        if self.temperature == 1.0:
            return self.base.log_partition()
        tempered = getattr(self.base, "tempered_log_partition", None)
        if tempered is None:
            return super().log_partition()
        return tempered(self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}"
