"""A classifier read as an energy model (JEM): logits ``f(x)`` define ``p(x, y) ∝ exp(f(x)[y])``.

    E(x, y) = -f(x)[y],    E(x) = -log Σ_y exp(f(x)[y]),    p(y | x) = softmax(f(x))[y]

The class probabilities are exactly the classifier's softmax (the normaliser ``Z`` cancels), while
the marginal energy ``E(x)`` -- free in an ordinary classifier -- becomes a density over inputs that
a generative term can train (``ebm.objectives.JEM``).

Reference: Grathwohl, Wang, Jacobsen, Duvenaud, Norouzi & Swersky (2020), "Your Classifier is
Secretly an Energy Based Model and You Should Treat it Like One", ICLR, arXiv:1912.03263.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_int, check_tensor, format_error
from ebm.energies._init import mlp
from ebm.energy import Energy, _as_event_shape
from ebm.registry import register_energy

__all__ = ["ClassifierEnergy"]

_ACTIVATIONS = {"silu": nn.SiLU, "softplus": nn.Softplus, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}


@register_energy(
    "classifier",
    example=lambda: ClassifierEnergy(4, 3, hidden=(8,), generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: ClassifierEnergy(4, 1), ValueError, "n_classes"),
        (lambda: ClassifierEnergy(4, 3, hidden=(0,)), ValueError, "hidden"),
        (lambda: ClassifierEnergy(4, 3, activation="relu"), ValueError, "activation"),
        (lambda: ClassifierEnergy((), 3), ValueError, "event_shape"),
    ],
)
class ClassifierEnergy(Energy):
    """An MLP classifier ``f: x -> logits (K,)`` as the energy ``E(x) = -logsumexp_y f(x)[y]``.

    ``E(x, y) = -f(x)[y]`` is the joint energy (`joint_energy`), ``p(y | x) = softmax f(x)``
    (`predict_proba`), and ``E(x)`` (`forward`) the marginal energy of ``x``.
    Smooth activations keep ``∇x E`` (used by SGLD) well defined.

    Reference: Grathwohl et al. (2020), arXiv:1912.03263.

    Args:
        event_shape: shape of one input, e.g. ``64`` for flat 8×8 digits.
        n_classes: ``K >= 2``.
        hidden: widths of the hidden layers.
        activation: 'silu', 'softplus', 'tanh', 'gelu' or 'elu'.
        generator: draws the initial weights (default: torch's global generator).

    Raises:
        ValueError: ``n_classes < 2``, a bad width, activation or event shape.

    Example:
        >>> f = ClassifierEnergy(64, 10, hidden=(128,))
        >>> x = torch.rand(5, 64)
        >>> f(x).shape, f.predict_proba(x).shape
        (torch.Size([5]), torch.Size([5, 10]))
    """

    input_methods = Energy.input_methods + ("logits", "joint_energy", "predict_proba", "predict")

    def __init__(self, event_shape: int | Sequence[int], n_classes: int, hidden: Sequence[int] = (128, 128), activation: str = "silu",
                 generator: torch.Generator | None = None):
        event_shape = _as_event_shape(event_shape) if event_shape != () else torch.Size(())
        if len(event_shape) == 0 or any(s <= 0 for s in event_shape):
            raise ValueError(format_error("event_shape", "a non-empty shape of positive sizes", repr(tuple(event_shape)), "e.g. 64 or (1, 8, 8)"))
        super().__init__(event_shape)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        check_choice("activation", activation, tuple(_ACTIVATIONS))
        widths = [check_int("hidden", h, minimum=1) for h in hidden]
        sizes = [math.prod(event_shape), *widths, self.n_classes]
        self.net = mlp(sizes, _ACTIVATIONS[activation], generator)

    def logits(self, x: Tensor) -> Tensor:
        """``f(x)``: ``(*batch, *event_shape) -> (*batch, K)``."""
        return self._logits(x)

    def _logits(self, x: Tensor) -> Tensor:  # unchecked: the public entry points check x once
        batch = x.shape[: x.dim() - len(self.event_shape)]
        return self.net(x.reshape(*batch, math.prod(self.event_shape)))  # (*batch, K)

    def forward(self, x: Tensor) -> Tensor:
        """``E(x) = -logsumexp_y f(x)[y]``: ``(*batch, *event_shape) -> (*batch,)``."""
        return -torch.logsumexp(self._logits(x), dim=-1)

    def joint_energy(self, x: Tensor, y: Tensor) -> Tensor:
        """``E(x, y) = -f(x)[y]`` for inputs ``(*batch, *event_shape)`` and labels ``(*batch,)`` -> ``(*batch,)``."""
        logits = self._logits(x)  # (*batch, K)
        y = check_labels("y", y, logits.shape[:-1], self.n_classes, logits.device)
        return -logits.gather(-1, y.unsqueeze(-1)).squeeze(-1)

    def predict_proba(self, x: Tensor) -> Tensor:
        """``p(y | x) = softmax f(x)``: ``(*batch, *event_shape) -> (*batch, K)``."""
        return self._logits(x).softmax(-1)

    def predict(self, x: Tensor) -> Tensor:
        """The most probable class: ``(*batch, *event_shape) -> (*batch,)`` int64."""
        return self._logits(x).argmax(-1)

    def extra_repr(self) -> str:
        return f"event_shape={tuple(self.event_shape)}, n_classes={self.n_classes}"


def check_labels(name: str, y, batch_shape, n_classes: int, device) -> Tensor:
    """Raise unless ``y`` is an integer tensor of shape ``batch_shape`` with values in ``[0, n_classes)``."""
    check_tensor(name, y)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(format_error(name, "an integer tensor of class indices", f"dtype {y.dtype}", f"pass {name}.long()"))
    if tuple(y.shape) != tuple(batch_shape):
        raise ValueError(format_error(name, f"one label per input, shape {tuple(batch_shape)}", f"shape {tuple(y.shape)}", "pass labels aligned with the inputs"))
    if y.device != device:
        raise ValueError(format_error(name, f"a tensor on {device} (the inputs' device)", f"a tensor on {y.device}", f"move it: {name}.to({str(device)!r})"))
    if y.numel() and (bool((y < 0).any()) or bool((y >= n_classes).any())):
        raise ValueError(format_error(name, f"class indices in [0, {n_classes})", f"range [{int(y.min())}, {int(y.max())}]", f"relabel the classes 0..{n_classes - 1}"))
    return y.long()
