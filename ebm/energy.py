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
import math

import torch
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_positive, energy_reference_tensor, format_error, input_checks_enabled

__all__ = ["Energy", "SumEnergy", "TemperedEnergy", "OrEnergy", "NotEnergy", "Negation"]

# Energies (by id) whose input was checked by an entry point that is still running: the call of
# `self(x)` inside `score` / `energy_and_score` then does not check (and synchronise) a second time.
_VERIFIED: contextvars.ContextVar[frozenset] = contextvars.ContextVar("ebm_energy_verified", default=frozenset())


def _checked_entry_point(method):
    """Wrap an energy method ``method(self, x, ...)`` so ``x`` is checked exactly as ``__call__`` does."""
    if getattr(method, "_ebm_checks_input", False):
        return method

    @functools.wraps(method)
    def wrapper(self, x, *args, **kwargs):
        if not input_checks_enabled():  # first: compiled code must not reach the context variable
            return method(self, x, *args, **kwargs)
        verified = _VERIFIED.get()
        if id(self) in verified:
            return method(self, x, *args, **kwargs)
        self.check_input(x)
        token = _VERIFIED.set(verified | {id(self)})
        try:
            return method(self, x, *args, **kwargs)
        finally:
            _VERIFIED.reset(token)

    wrapper._ebm_checks_input = True
    return wrapper


def _combined_terms(energies, combinator: type) -> list[Energy]:
    """The terms of a combination (sum or OR) of ``energies``: nested combinations of the same kind
    flattened, at least two, all ``Energy`` instances over one event shape."""
    flat: list[Energy] = []
    for e in energies:
        if not isinstance(e, Energy):
            raise TypeError(format_error("energies", "ebm.Energy instances", type(e).__name__, "wrap callables in an Energy subclass"))
        flat.extend(e.terms if isinstance(e, combinator) else [e])
    if len(flat) < 2:
        raise ValueError(format_error("energies", "at least two energies", f"{len(flat)}", "pass two or more energies"))
    shapes = {tuple(e.event_shape) for e in flat}
    if len(shapes) != 1:
        raise ValueError(format_error("energies", "one common event shape", f"event shapes {sorted(shapes)}", "combine energies over the same space"))
    return flat


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
                (``ebm.evaluate.ais_log_partition(energy, data=...)``).
        """
        raise NotImplementedError(
            format_error(
                "log_partition",
                "an energy with a tractable normalising constant",
                f"{type(self).__name__}, whose log Z has no closed form",
                "estimate it by annealed importance sampling, ebm.evaluate.ais_log_partition(energy, data=<(n, d) samples near "
                "its low-energy region>), or for a 2-D energy by quadrature, ebm.evaluate.grid_log_partition(energy, bounds)",
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
    def __add__(self, other: "Energy | Negation") -> "SumEnergy | NotEnergy":
        """AND (product of experts) ``self + other``; ``self + ~other`` is NOT (see `NotEnergy`)."""
        if isinstance(other, Negation):
            return NotEnergy(self, other.energy, other.alpha)
        return SumEnergy(self, other)

    def __or__(self, other: "Energy") -> "OrEnergy":
        """OR (mixture of the un-normalised densities): ``-log(exp(-E_self) + exp(-E_other))``."""
        return OrEnergy(self, other)

    def __invert__(self) -> "Negation":
        """``~e``: a negated concept, usable only against a base as ``base + ~e`` (see `NotEnergy`)."""
        return Negation(self)

    def but_not(self, other: "Energy", alpha: float = 1.0) -> "NotEnergy":
        """``self`` AND NOT ``other``: ``E(x) = E_self(x) - α E_other(x)`` (see `NotEnergy`)."""
        return NotEnergy(self, other, alpha)

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
        flat = _combined_terms(energies, SumEnergy)
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


class OrEnergy(Energy):
    """Disjunction of concepts: ``E(x) = -log Σ_i exp(-E_i(x))``, i.e. ``p(x) ∝ Σ_i exp(-E_i(x))``.

    A mixture of the *un-normalised* densities: written with normalised parts it is
    ``p(x) = Σ_i (Z_i / Σ_j Z_j) p_i(x)``, so each concept's weight is its partition function
    ``Z_i``, not 1/k. Two concepts of unequal spread (or energies offset by a constant) are not
    mixed evenly; shift an energy by ``log Z_i`` (or ``log w_i``) to choose the weights. Where
    every part has a log partition function, ``log Z = log Σ_i Z_i`` exactly.

    The score is the responsibility-weighted score: ``-∇E = Σ_i r_i(x) (-∇E_i(x))`` with
    ``r_i ∝ exp(-E_i(x))``.

    Reference: Du, Li & Mordatch (2020), "Compositional Visual Generation and Inference with
    Energy Based Models", arXiv:2004.06030 (disjunction, section 3); Mordatch (2018),
    "Concept Learning with Energy-Based Models", arXiv:1811.02486.

    Args:
        *energies: two or more energies with the same event shape.

    Raises:
        TypeError: a part that is not an `Energy`.
        ValueError: fewer than two energies, or event shapes that differ.

    Example:
        >>> from ebm.energies import Gaussian
        >>> either = Gaussian(-torch.ones(2), torch.eye(2)) | Gaussian(torch.ones(2), torch.eye(2))
        >>> either(torch.zeros(3, 2)).shape
        torch.Size([3])
    """

    def __init__(self, *energies: Energy):
        flat = _combined_terms(energies, OrEnergy)
        super().__init__(flat[0].event_shape)
        self.terms = nn.ModuleList(flat)

    def forward(self, x: Tensor) -> Tensor:
        return -torch.logsumexp(torch.stack([-term(x) for term in self.terms], dim=-1), dim=-1)  # (*batch, k) -> (*batch,)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        parts = [term.energy_and_score(x, create_graph=create_graph) for term in self.terms]
        neg = torch.stack([-p[0] for p in parts], dim=-1)  # (*batch, k)
        resp = torch.softmax(neg, dim=-1)  # (*batch, k)
        scores = torch.stack([p[1] for p in parts], dim=-1)  # (*batch, *event, k)
        weights = resp.reshape(*resp.shape[:-1], *([1] * len(self.event_shape)), resp.shape[-1])  # (*batch, 1.., k)
        return -torch.logsumexp(neg, dim=-1), (weights * scores).sum(-1)

    def log_partition(self) -> Tensor:
        """``log Σ_i Z_i`` (exact where every part's log Z is)."""
        return torch.logsumexp(torch.stack([term.log_partition() for term in self.terms]), dim=0)


class Negation:
    """``~energy``: a concept to be negated against a base, ``base + ~energy`` -> `NotEnergy`.

    Not an energy by itself: ``exp(+E(x))`` grows without bound, so a negation alone has no
    normalisable density.
    """

    def __init__(self, energy: Energy, alpha: float = 1.0):
        if not isinstance(energy, Energy):
            raise TypeError(format_error("energy", "an ebm.Energy", type(energy).__name__, "negate an Energy instance"))
        self.energy = energy
        self.alpha = check_positive("alpha", alpha)

    def __call__(self, *args, **kwargs):
        raise TypeError(
            format_error("~energy", "a base to negate against", "a bare negation (exp(+E) is not normalisable)", "write base + ~energy or base.but_not(energy, alpha)")
        )

    def __repr__(self) -> str:
        return f"~{self.energy!r}"


class NotEnergy(Energy):
    """Negation against a base: ``E(x) = E_base(x) - α E_neg(x)``, i.e. ``p(x) ∝ p_base(x) / p_neg(x)^α``.

    Concept negation (Du, Li & Mordatch 2020) needs the base: ``-α E_neg`` alone has
    ``∫ exp(α E_neg) = ∞`` for any confining ``E_neg``. Even with a base the result is normalisable
    only when ``E_base`` grows faster than ``α E_neg`` in every direction; with Gaussian parts
    (precisions ``P_b``, ``P_n``) that is ``P_b - α P_n`` positive definite, which is checked on
    construction, and then ``log Z`` is exact:

        ``E(x) = ½ xᵀ P x - hᵀ x + c``,  ``P = P_b - α P_n``,  ``h = P_b μ_b - α P_n μ_n``,
        ``c = ½ μ_bᵀ P_b μ_b - ½ α μ_nᵀ P_n μ_n``,
        ``log Z = (d/2) log 2π - ½ log det P + ½ hᵀ P⁻¹ h - c``.

    For other parts ``log_partition`` raises (estimate it on a grid or with AIS), and a sampler on
    a non-normalisable composition drifts away: keep α small or the base confining.

    Reference: Du, Li & Mordatch (2020), "Compositional Visual Generation and Inference with
    Energy Based Models", arXiv:2004.06030 (negation, section 3).

    Args:
        base: the energy the negation is taken against.
        negated: the concept to avoid, same event shape.
        alpha: ``α > 0``, the strength of the negation.

    Raises:
        TypeError: a part that is not an `Energy`.
        ValueError: event shapes differ, ``α <= 0``, or Gaussian parts with ``P_b - α P_n`` not
            positive definite (the composition is not normalisable).

    Example:
        >>> from ebm.energies import Gaussian
        >>> wide, centre = Gaussian(torch.zeros(2), 4 * torch.eye(2)), Gaussian(torch.zeros(2), torch.eye(2))
        >>> ring_ish = wide.but_not(centre, alpha=0.2)        # or: wide + ~centre (alpha 1)
        >>> float(ring_ish.log_partition()) > 0
        True
    """

    def __init__(self, base: Energy, negated: Energy, alpha: float = 1.0):
        for name, e in (("base", base), ("negated", negated)):
            if not isinstance(e, Energy):
                raise TypeError(format_error(name, "an ebm.Energy", type(e).__name__, "pass an Energy instance"))
        if tuple(base.event_shape) != tuple(negated.event_shape):
            raise ValueError(
                format_error("negated", f"event shape {tuple(base.event_shape)} (the base's)", f"event shape {tuple(negated.event_shape)}", "negate a concept over the same space")
            )
        super().__init__(base.event_shape)
        self.base, self.negated = base, negated
        self.alpha = check_positive("alpha", alpha)
        quad = self._quadratic_form()
        if quad is not None and not bool(torch.all(torch.linalg.eigvalsh(quad[0]) > 0)):
            raise ValueError(
                format_error(
                    "alpha",
                    "a negation the base can absorb (P_base - alpha P_negated positive definite)",
                    f"alpha={self.alpha:g}, whose P_base - alpha P_negated has a non-positive eigenvalue: exp(-E) is not integrable",
                    "lower alpha or widen the negated concept (or sharpen the base)",
                )
            )

    def _quadratic_form(self):
        """``(P, h, c)`` when both parts are Gaussian energies with ``mean`` and ``precision``; else None."""
        parts = []
        for e in (self.base, self.negated):
            mean, precision = getattr(e, "mean", None), getattr(e, "precision", None)
            if not (isinstance(mean, Tensor) and isinstance(precision, Tensor) and mean.dim() == 1 and precision.dim() == 2):
                return None
            parts.append((mean, precision))
        (mb, pb), (mn, pn) = parts
        p = pb - self.alpha * pn  # (d, d)
        h = pb @ mb - self.alpha * (pn @ mn)  # (d,)
        c = 0.5 * mb @ pb @ mb - 0.5 * self.alpha * (mn @ pn @ mn)
        return p, h, c

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) - self.alpha * self.negated(x)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        eb, sb = self.base.energy_and_score(x, create_graph=create_graph)
        en, sn = self.negated.energy_and_score(x, create_graph=create_graph)
        return eb - self.alpha * en, sb - self.alpha * sn

    def log_partition(self) -> Tensor:
        """Exact for Gaussian parts (see the class docstring); otherwise raises NotImplementedError."""
        quad = self._quadratic_form()
        if quad is None:
            return super().log_partition()
        p, h, c = quad
        d = p.shape[0]
        chol = torch.linalg.cholesky(p)
        w = torch.cholesky_solve(h.unsqueeze(-1), chol).squeeze(-1)  # P⁻¹ h, (d,)
        return 0.5 * d * math.log(2 * math.pi) - torch.log(torch.diagonal(chol)).sum() + 0.5 * h @ w - c

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}"
