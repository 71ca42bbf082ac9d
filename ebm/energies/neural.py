"""Neural energies: a multilayer perceptron ``E_θ(x)`` for any event shape."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_int, check_nonnegative, format_error
from ebm.energies._init import global_rng_untouched, linear
from ebm.energy import Energy, _as_event_shape
from ebm.registry import register_energy

__all__ = ["MLPEnergy"]

# Smooth activations only: scores (and score-matching losses, which differentiate the score) need
# the energy to be twice differentiable. ReLU's Hessian is zero almost everywhere.
_ACTIVATIONS = {"silu": nn.SiLU, "softplus": nn.Softplus, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}


@register_energy(
    "mlp",
    example=lambda: MLPEnergy((2,), hidden=(16, 16), generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: MLPEnergy((2,), activation="relu"), ValueError, "activation"),
        (lambda: MLPEnergy((2,), hidden=(0,)), ValueError, "hidden"),
        (lambda: MLPEnergy(()), ValueError, "event_shape"),
    ],
)
class MLPEnergy(Energy):
    """A multilayer perceptron energy ``E_θ(x) = MLP(flatten(x))`` with a scalar output.

    The default model for continuous-data demos. Smooth activations keep the score and its
    derivatives defined. Optional spectral normalisation (Miyato et al. 2018, arXiv:1802.05957)
    bounds each layer's Lipschitz constant, which keeps Langevin-trained energies smooth.
    An optional quadratic term ``γ‖x‖²/2`` makes ``exp(-E)`` integrable whatever the network does.

    Args:
        event_shape: shape of one sample, e.g. ``2``, ``(2,)`` or ``(1, 8, 8)``.
        hidden: widths of the hidden layers.
        activation: one of 'silu', 'softplus', 'tanh', 'gelu', 'elu'.
        spectral_norm: wrap each linear layer in spectral normalisation.
        quadratic: γ >= 0, weight of the confining term ``γ‖x‖²/2`` (0 disables it).
        generator: generator for the initial weights (default: torch's global one). When given,
            building the model leaves the global RNG untouched.

    Example:
        >>> e = MLPEnergy((2,), hidden=(64, 64))
        >>> e(torch.randn(10, 2)).shape
        torch.Size([10])
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        hidden: Sequence[int] = (128, 128),
        activation: str = "silu",
        spectral_norm: bool = False,
        quadratic: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        event_shape = _as_event_shape(event_shape) if event_shape != () else torch.Size(())
        if len(event_shape) == 0 or any(s <= 0 for s in event_shape):
            raise ValueError(format_error("event_shape", "a non-empty shape of positive sizes", repr(tuple(event_shape)), "e.g. (2,) or (1, 8, 8)"))
        super().__init__(event_shape)
        check_choice("activation", activation, tuple(_ACTIVATIONS))
        widths = [check_int("hidden", h, minimum=1) for h in hidden]
        self.quadratic = check_nonnegative("quadratic", quadratic, fix="pass 0 to disable it")
        sizes = [math.prod(event_shape), *widths, 1]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer = linear(fan_in, fan_out, generator)  # no global-RNG draw when a generator is given
            if generator is not None:
                bound = 1 / math.sqrt(fan_in)  # PyTorch's default (Kaiming-uniform-like) range, drawn reproducibly
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)
            if spectral_norm:
                with global_rng_untouched(generator):  # its power-iteration start vectors
                    layer = nn.utils.parametrizations.spectral_norm(layer)
            layers.append(layer)
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[: x.dim() - len(self.event_shape)]
        flat = x.reshape(*batch, math.prod(self.event_shape))  # (*batch, prod(event_shape)); -1 fails on empty batches
        energy = self.net(flat).squeeze(-1)  # (*batch,)
        if self.quadratic:
            energy = energy + 0.5 * self.quadratic * (flat * flat).sum(-1)
        return energy
