"""JEPA: predict the target's embedding from the context's, conditioned on where the target is.

A joint-embedding predictive architecture has a context encoder ``f``, a target encoder ``f̄`` (an
exponential moving average of ``f``, `ebm.objectives.momentum.EMATarget`, never trained by the
gradient) and a predictor ``q`` told *where* (or *when*) the target lies relative to the context
(``c``: a patch position, a time offset, an action). Its energy is the prediction error in
embedding space, and training lowers it on related pairs ``(x, y)``:

    E(x, y; c) = ‖q(f(x), c) - sg(f̄(y))‖²
    L = (1/n) Σ_i E(x_i, y_i; c_i)  [+ μ v(f(x)) + ν c(f(x))]

The stop-gradient and the slowly moving target keep the trivial constant solution at bay (as in
BYOL); the optional VICReg variance and covariance terms ``v``, ``c`` (computed on the gathered
context embeddings) are the explicit anti-collapse regulariser that Sobal et al. use instead.

References: LeCun (2022), "A Path Towards Autonomous Machine Intelligence" (the JEPA and its
energy); Assran et al. (2023), "Self-Supervised Learning from Images with a Joint-Embedding
Predictive Architecture", arXiv:2301.08243 (I-JEPA: EMA target encoder, the predictor conditioned on
the target block's position, the L2 loss in embedding space); Sobal et al. (2022), "Joint
Embedding Predictive Architectures Focus on Slow Features", arXiv:2211.10831 (the slow-feature
failure reproduced in ``examples/15_jepa_slow_features.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_int, check_nonnegative, energy_reference_tensor, format_error
from ebm.distributed import gather
from ebm.objectives._common import check_batch, trained_encoder
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.objectives.momentum import EMATarget
from ebm.objectives.vicreg import covariance_term, variance_term
from ebm.registry import register_objective

__all__ = ["JEPA", "JEPALoss", "ConditionedPredictor", "prediction_error"]


def prediction_error(prediction: Tensor, target: Tensor) -> Tensor:
    """The JEPA energy per pair, ``‖p_i - sg(t_i)‖²``: ``(n, d), (n, d) -> (n,)`` (target detached)."""
    return (prediction - target.detach()).pow(2).sum(-1)


@register_objective(
    "jepa",
    example=lambda: (JEPALoss(variance_weight=1.0, covariance_weight=0.1), (*registry_pair(), registry_pair(seed=1)[0])),
    bad_inputs=[
        (lambda: JEPALoss()(torch.randn(4, 3), torch.randn(4, 2)), ValueError, "target"),
        (lambda: JEPALoss(variance_weight=1.0)(torch.randn(4, 3), torch.randn(4, 3)), ValueError, "context"),
        (lambda: JEPALoss(variance_weight=1.0)(torch.randn(4, 3), torch.randn(4, 3), torch.randn(1, 3)), ValueError, "context"),
        (lambda: JEPALoss(covariance_weight=-1.0), ValueError, "covariance_weight"),
    ],
)
class JEPALoss(nn.Module):
    """``mean_i ‖p_i - sg(t_i)‖² + μ v(Z) + ν c(Z)`` with ``Z`` the context embeddings (optional).

    Args:
        variance_weight: μ >= 0 on VICReg's variance hinge of the context embeddings (default 0:
            the EMA target alone prevents collapse, as in I-JEPA).
        covariance_weight: ν >= 0 on VICReg's covariance term (default 0).

    Shapes: ``forward(prediction, target, context=None)``: ``(n, d)`` each; ``context (n, d)``
    (n >= 2, the context encoder's output, as wide as the target's) is needed when μ or ν > 0. Under DDP all three are gathered over processes, so every
    rank computes the loss of the global batch → scalar.

    Raises:
        ValueError: shapes differ, a regulariser without ``context``, negative weights.

    Example:
        >>> JEPALoss()(predictor(f(x), c), target_encoder(y))
    """

    def __init__(self, variance_weight: float = 0.0, covariance_weight: float = 0.0):
        super().__init__()
        self.variance_weight = check_nonnegative("variance_weight", variance_weight)
        self.covariance_weight = check_nonnegative("covariance_weight", covariance_weight)

    @property
    def regularised(self) -> bool:
        return self.variance_weight > 0 or self.covariance_weight > 0

    def forward(self, prediction: Tensor, target: Tensor, context: Tensor | None = None) -> Tensor:
        check_pair(prediction, target, min_batch=1, names=("prediction", "target"))
        if self.regularised:
            if context is None:
                raise ValueError(format_error("context", "the context embeddings (n, d) for the variance/covariance terms", "None", "pass context=f(x), or set variance_weight = covariance_weight = 0"))
            check_pair(prediction, context, min_batch=2, why="variance and covariance are batch statistics", names=("prediction", "context"))
        loss = prediction_error(gather(prediction), gather(target)).mean()  # the global batch's mean under DDP
        if not self.regularised:
            return loss
        z = gather(context)  # (W n, d')
        return loss + self.variance_weight * variance_term(z) + self.covariance_weight * covariance_term(z)

    def extra_repr(self) -> str:
        return f"μ={self.variance_weight:g}, ν={self.covariance_weight:g}"


class ConditionedPredictor(nn.Module):
    """The predictor ``q(z, c) = W₂ φ(W₁ z + W_c c + b₁) + b₂``: the target's position enters additively.

    I-JEPA adds a positional embedding of the target block to the predictor's mask tokens; with an
    MLP the same idea is a learned embedding ``W_c c`` of the condition added to the first layer.

    Args:
        dim: embedding size d (input and output).
        condition_dim: size of the condition ``c`` (0: no condition, ``q(z) = W₂ φ(W₁ z + b₁) + b₂``).
        hidden: hidden width (default 64).

    Shapes: ``forward(z, condition=None)``: ``z (n, d)``, ``condition (n, condition_dim)`` → ``(n, d)``.

    Example:
        >>> ConditionedPredictor(8, 2)(torch.randn(5, 8), torch.randn(5, 2)).shape
        torch.Size([5, 8])
    """

    def __init__(self, dim: int, condition_dim: int = 0, hidden: int = 64):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.condition_dim = check_int("condition_dim", condition_dim, minimum=0)
        hidden = check_int("hidden", hidden, minimum=1)
        self.inp = nn.Linear(dim, hidden)
        self.cond = nn.Linear(self.condition_dim, hidden, bias=False) if self.condition_dim else None
        self.out = nn.Sequential(nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        h = self.inp(z)  # (n, hidden)
        if self.cond is not None:
            if condition is None:
                raise ValueError(format_error("condition", f"a ({z.shape[0]}, {self.condition_dim}) tensor (the target's position)", "None", "pass the condition, or build the predictor with condition_dim=0"))
            check_energy_input("condition", condition, (self.condition_dim,), self.cond.weight)
            if condition.shape != (z.shape[0], self.condition_dim):
                raise ValueError(format_error("condition", f"shape ({z.shape[0]}, {self.condition_dim})", f"shape {tuple(condition.shape)}", "pass one condition row per context row"))
            h = h + self.cond(condition)
        elif condition is not None:
            raise ValueError(format_error("condition", "None (this predictor has condition_dim=0)", f"shape {tuple(condition.shape)}", "build ConditionedPredictor(dim, condition_dim=...)"))
        return self.out(h)


def _input_width(net: nn.Module) -> torch.Size | None:
    """``(in_features,)`` when the first parameterised layer of ``net`` is an ``nn.Linear``, else None."""
    for module in net.modules():
        if isinstance(module, nn.Linear):
            return torch.Size((module.in_features,))
        if isinstance(module, (nn.Flatten, nn.Unflatten)) or next(module.parameters(recurse=False), None) is not None:
            return None
    return None


def _seeded(net: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return net


def _jitter(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def _example_task(condition_dim: int = 0):
    f = _seeded(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)), 0)
    task = JEPA(f, _seeded(ConditionedPredictor(3, condition_dim, hidden=8), 1), augment=_jitter)
    return task, (f, torch.randn(6, 4, generator=torch.Generator().manual_seed(2)))


def _call_task(make_batch, condition_dim: int = 0, model=None):
    task, (f, x) = _example_task(condition_dim)
    return task(f if model is None else model, make_batch(x))


@register_objective(
    "jepa_task",
    example=_example_task,
    bad_inputs=[
        (lambda: _call_task(lambda x: (x, x[:, :3])), ValueError, "target"),
        (lambda: _call_task(lambda x: (x, x), condition_dim=2), ValueError, "condition"),
        (lambda: _call_task(lambda x: (x, x, torch.zeros(6, 3)), condition_dim=2), ValueError, "condition"),
        (lambda: _call_task(lambda x: x[:, :3]), ValueError, "context"),
        (lambda: _call_task(lambda x: x, model=nn.Linear(4, 3)), ValueError, "online"),
        (lambda: JEPA(nn.Linear(4, 3), "q"), TypeError, "predictor"),
        (lambda: JEPA(nn.Linear(4, 3), nn.Linear(3, 3), loss=nn.MSELoss()), TypeError, "loss"),
        (lambda: JEPA(nn.Linear(4, 3), nn.Linear(3, 3))(nn.Linear(4, 3), torch.zeros(2, 4)), ValueError, "augment"),
    ],
)
class JEPA(nn.Module):
    """The JEPA training objective ``objective(model, batch, generator)`` for `ebm.train`, and its energy.

    ``E(x, y; c) = ‖q(f(x), c) - sg(f̄(y))‖²`` (`energy`); the loss is its batch mean (`JEPALoss`).

    Holds the predictor, the EMA target encoder (built here from ``encoder``, updated from the
    model's encoder before every training step) and the loss; `ebm.train` optimises the model's
    encoder and the predictor.

    Args:
        encoder: the context encoder ``f`` (the one the model trains: ``model.f`` of a
            `JointEmbeddingEnergy`, or the model itself); the target starts as its copy.
        predictor: ``q(z, c)`` (a `ConditionedPredictor`) or ``q(z)`` (any module).
        loss: a `JEPALoss` (default: no regulariser).
        base_momentum, total_steps: the EMA target's momentum and optional cosine schedule.
        augment: ``augment(x, generator)`` for bare-tensor batches (two views of one input, both
            directions predicted, no condition); None if batches are ``(context, target[, c])``.
        event_shape: the shape of one input (default: ``(in_features,)`` of the encoder's first
            ``nn.Linear`` when that is its first layer, else unchecked).

    Shapes: ``batch`` is ``(x, y)`` or ``(x, y, c)`` with ``x, y (n, *event)`` and ``c (n, k)``, or a
    bare ``x (n, *event)`` with ``augment`` → scalar.

    Raises:
        ValueError: mismatched context/target shapes, a missing condition, a bare batch without
            ``augment``, a model whose encoder is not the one the target follows.
        TypeError: a predictor that is not a module, a loss that is not a `JEPALoss`.

    Example:
        >>> task = JEPA(f, ConditionedPredictor(32, 2))
        >>> train(f, task, lambda g: (x_t, x_t1, action), ...)      # predict frame t+1 from t
    """

    def __init__(self, encoder: nn.Module, predictor: nn.Module, *, loss: JEPALoss | None = None, base_momentum: float = 0.996, total_steps: int | None = None, augment=None, event_shape=None):
        super().__init__()
        self.event_shape = torch.Size(event_shape) if event_shape is not None else _input_width(encoder)
        if not isinstance(predictor, nn.Module):
            raise TypeError(format_error("predictor", "an nn.Module q(z[, c])", type(predictor).__name__, "pass ConditionedPredictor(dim, condition_dim)"))
        if loss is not None and not isinstance(loss, JEPALoss):
            raise TypeError(format_error("loss", "a JEPALoss", type(loss).__name__, "pass loss=JEPALoss(variance_weight=..., covariance_weight=...)"))
        self.predictor = predictor
        self.target = EMATarget(encoder, base_momentum, total_steps)
        self.loss = JEPALoss() if loss is None else loss
        self.augment = augment

    encoder_of = staticmethod(trained_encoder)  # model.f of a JointEmbeddingEnergy, else the model

    def data_event_shape(self, model: nn.Module):
        return getattr(model, "x_event_shape", None) or self.event_shape

    def _check(self, f: nn.Module, x, y, condition) -> None:
        ref = energy_reference_tensor(f)
        check_energy_input("context", x, self.event_shape, ref)
        if self.event_shape is not None and x.dim() != len(self.event_shape) + 1:
            raise ValueError(format_error("context", f"one batch dimension, shape (n, {', '.join(map(str, self.event_shape))})", f"shape {tuple(x.shape)}", "flatten the batch dimensions: x.reshape(-1, *event_shape)"))
        if x.dim() < 2:
            raise ValueError(format_error("context", "a batch (n, *event)", f"shape {tuple(x.shape)}", "add a batch dimension: x.unsqueeze(0)"))
        check_batch("context", x)
        check_energy_input("target", y, None, ref)
        if y.shape != x.shape:
            raise ValueError(format_error("target", f"the context's shape {tuple(x.shape)} (row i is context i's target)", f"shape {tuple(y.shape)}", "pair every context with one target of the same shape"))
        if condition is not None:
            check_energy_input("condition", condition, None, ref)

    def _predict(self, f: nn.Module, x: Tensor, condition: Tensor | None) -> tuple[Tensor, Tensor]:
        z = f(x)  # (n, d)
        if isinstance(self.predictor, ConditionedPredictor):
            return self.predictor(z, condition), z
        if condition is not None:
            raise ValueError(format_error("condition", "None for an unconditioned predictor", f"shape {tuple(condition.shape)}", "use ConditionedPredictor(dim, condition_dim)"))
        return self.predictor(z), z

    def energy(self, model: nn.Module, x: Tensor, y: Tensor, condition: Tensor | None = None) -> Tensor:
        """``E(x, y; c) = ‖q(f(x), c) - f̄(y)‖²``: ``x, y (n, *event)``, ``c (n, k)`` → ``(n,)``."""
        f = self.encoder_of(model)
        self._check(f, x, y, condition)
        p, _ = self._predict(f, x, condition)
        return prediction_error(p, self.target(y))

    def forward(self, model: nn.Module, batch, generator: torch.Generator | None = None) -> Tensor:
        f = self.encoder_of(model)
        if isinstance(batch, (tuple, list)):
            if len(batch) not in (2, 3):
                raise ValueError(format_error("batch", "(context, target) or (context, target, condition)", f"a sequence of {len(batch)}", "return (x, y) or (x, y, c) from the batch function"))
            x, y, condition = (*batch, None) if len(batch) == 2 else batch
            self._check(f, x, y, condition)
            pairs = [(x, y)]
        else:
            if self.augment is None:
                raise ValueError(format_error("augment", "an augmentation for bare-tensor batches (two views of one input)", "None", "pass augment=DigitAugment(), or give batches as (context, target[, condition])"))
            self._check(f, batch, batch, None)
            x_a, x_b = self.augment(batch, generator), self.augment(batch, generator)
            condition, pairs = None, [(x_a, x_b), (x_b, x_a)]
        if self.training:
            self.target.update(f)
        total = 0.0
        for x, y in pairs:
            p, z = self._predict(f, x, condition)
            total = total + self.loss(p, self.target(y), z if self.loss.regularised else None)
        return total / len(pairs)
