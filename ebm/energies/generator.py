"""A generator network ``x = G(z)``, ``z ~ N(0, I)``: the sampler that learns to propose an energy's
contrastive points (the "GAN view" of pushing the energy up at generated points).

Not an energy: a directed model whose samples are cheap (one forward pass) but whose density is
intractable, so objectives that train it (``ebm.objectives.EnergyGeneratorContrast``) estimate its
entropy from samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_generator, check_int, check_tensor, format_error
from ebm.energies._init import mlp
from ebm.energy import _as_event_shape

__all__ = ["MLPGenerator"]

_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}


class MLPGenerator(nn.Module):
    """A multilayer perceptron from a Gaussian latent to the data space: ``x = G(z)``, ``z ~ N(0, I_k)``.

    The pushforward ``p_G = G#N(0, I)`` is the generator's distribution. With ``hidden=()`` the
    network is one affine map ``G(z) = W z + b``, so ``p_G = N(b, W Wᵀ)`` exactly: the test bed
    with a known entropy ``½ log det(2πe W Wᵀ)`` (for ``k >= d``).

    Reference: the generator of Goodfellow et al. (2014), "Generative Adversarial Nets",
    arXiv:1406.2661, as used against an energy by Kim & Bengio (2016), arXiv:1606.03439.

    Args:
        latent_dim: ``k``, the dimension of ``z``.
        event_shape: shape of one sample, e.g. ``2`` or ``(64,)``.
        hidden: widths of the hidden layers (``()``: affine).
        activation: 'silu', 'relu', 'tanh', 'gelu' or 'elu'.
        generator: draws the initial weights (default: torch's global generator).

    Raises:
        ValueError: ``latent_dim < 1``, a bad width, event shape or activation.

    Example:
        >>> g = MLPGenerator(4, 2, hidden=(32, 32), generator=torch.Generator().manual_seed(0))
        >>> g.rsample(8).shape
        torch.Size([8, 2])
    """

    def __init__(self, latent_dim: int, event_shape: int | Sequence[int], hidden: Sequence[int] = (64, 64), activation: str = "silu",
                 generator: torch.Generator | None = None):
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        event_shape = _as_event_shape(event_shape)
        if len(event_shape) == 0 or any(s <= 0 for s in event_shape):
            raise ValueError(format_error("event_shape", "a non-empty shape of positive sizes", repr(tuple(event_shape)), "e.g. 2 or (64,)"))
        self.event_shape = event_shape
        check_choice("activation", activation, tuple(_ACTIVATIONS))
        check_generator("generator", generator)
        widths = [check_int("hidden", h, minimum=1) for h in hidden]
        sizes = [self.latent_dim, *widths, math.prod(event_shape)]
        self.net = mlp(sizes, _ACTIVATIONS[activation], generator)

    def forward(self, z: Tensor) -> Tensor:
        """``G(z)``: latents ``(n, k)`` -> samples ``(n, *event_shape)``."""
        ref = self.net[0].weight
        check_tensor("z", z, ndim=2, floating=True, finite=True)
        if z.shape[1] != self.latent_dim:
            raise ValueError(format_error("z", f"shape (n, {self.latent_dim})", f"shape {tuple(z.shape)}", f"draw z with {self.latent_dim} columns"))
        if z.dtype != ref.dtype or z.device != ref.device:
            raise TypeError(format_error("z", f"dtype {ref.dtype} on {ref.device} (the generator's)", f"dtype {z.dtype} on {z.device}",
                                         f"convert: z.to({ref.dtype}) / move the generator"))
        return self.net(z).reshape(z.shape[0], *self.event_shape)  # (n, *event_shape)

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` reparameterised samples ``G(z)``, ``z ~ N(0, I)``: ``(n, *event_shape)``, differentiable in G's weights."""
        n = check_int("n", n, minimum=1)
        ref = self.net[0].weight
        check_generator("generator", generator, ref.device)
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=ref.dtype, device=ref.device)  # (n, k)
        return self(z)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, event_shape={tuple(self.event_shape)}"
