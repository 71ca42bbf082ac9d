"""The ellipse demo's latent-variable energy: a small decoder of a 1-D latent angle.

    E(y, z) = ‖y - g(z)‖²,    z ∈ [0, 2π)
    F_∞(y) = min_z E(y, z),    F_β(y) = -1/β log ∫₀^{2π} exp(-β E(y, z)) dz

The decoder sees ``(cos z, sin z)`` so g is periodic and its image is a closed curve: the
zero-energy set is one-dimensional whatever the weights, which is how the architecture limits the
volume of low energy. Inference and the finite-β integral use a uniform grid of ``n_grid`` angles
(a Riemann sum with Δz = 2π/n_grid; for a smooth g its error shrinks as the grid is refined, and
at β = ∞ the minimiser is the best grid angle). This is the lecture picture of the NYU Deep
Learning course (LeCun & Canziani 2021, week 7/8 "latent variable EBMs").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_nonnegative, check_positive
from ebm.energies.latent import LatentEnergy, grid_free_energy
from ebm.energies._init import linear
from ebm.registry import register_energy

__all__ = ["DecoderEnergy", "make_ellipse"]


def make_ellipse(n: int, *, radii: tuple[float, float] = (2.0, 1.0), noise: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """Points on an ellipse from a uniform latent angle plus Gaussian noise.

        θ ~ U[0, 2π),   y = (a cos θ, b sin θ) + σ ε

    Args:
        n: number of points.
        radii: semi-axes (a, b).
        noise: σ >= 0.
        generator: random generator.

    Returns:
        ``(n, 2)`` points.
    """
    n = check_int("n", n, minimum=1)
    a, b = (check_positive("radii", r) for r in radii)
    noise = check_nonnegative("noise", noise)
    check_generator("generator", generator)
    theta = 2 * math.pi * torch.rand(n, generator=generator)
    y = torch.stack([a * theta.cos(), b * theta.sin()], -1)  # (n, 2)
    return y + noise * torch.randn(n, 2, generator=generator)


@register_energy(
    "decoder",
    example=lambda: DecoderEnergy(2, hidden=8, n_grid=64, generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: DecoderEnergy(0), ValueError, "dim"),
        (lambda: DecoderEnergy(2, n_grid=2), ValueError, "n_grid"),
        (lambda: DecoderEnergy(2, beta=0.0), ValueError, "beta"),
    ],
)
class DecoderEnergy(LatentEnergy):
    """``E(y, z) = ‖y - g(cos z, sin z)‖²`` with a small MLP decoder g and a 1-D latent angle z.

    Reference: LeCun et al. (2006), §6; LeCun & Canziani (2021), NYU Deep Learning course,
    "Latent-variable energy-based models" (the ellipse example).

    Args:
        dim: dimension d of y.
        hidden: width of the decoder's two hidden layers.
        n_grid: number of grid angles used for inference and the finite-β quadrature.
        beta: inverse temperature of the free energy (default ∞).
        init_scale: scale of the initial output layer (small: the untrained curve is a tiny loop).
        generator: random generator for the initial weights.

    Raises:
        ValueError: dim < 1, hidden < 1, n_grid < 8, beta <= 0.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> model = DecoderEnergy(2, generator=g)
        >>> model(torch.zeros(4, 2)).shape
        torch.Size([4])
    """

    real_latent = False  # finite-β free energy is an exact sum / quadrature instead

    def __init__(
        self,
        dim: int = 2,
        *,
        hidden: int = 32,
        n_grid: int = 256,
        beta: float = math.inf,
        init_scale: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        dim = check_int("dim", dim, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        self.n_grid = check_int("n_grid", n_grid, minimum=8)
        init_scale = check_positive("init_scale", init_scale)
        check_generator("generator", generator)
        super().__init__((dim,), beta)
        # no global-RNG draw when a generator is given: every weight is set below
        self.decoder = nn.Sequential(linear(2, hidden, generator), nn.Tanh(), linear(hidden, hidden, generator), nn.Tanh(), linear(hidden, dim, generator))
        with torch.no_grad():
            for layer in self.decoder:
                if isinstance(layer, nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    layer.weight.copy_((2 * torch.rand(layer.weight.shape, generator=generator) - 1) * bound)
                    layer.bias.zero_()
            self.decoder[-1].weight.mul_(init_scale)

    def grid(self) -> Tensor:
        """The ``(n_grid,)`` angles ``2π i / n_grid``."""
        ref = self.decoder[0].weight
        return torch.arange(self.n_grid, dtype=ref.dtype, device=ref.device) * (2 * math.pi / self.n_grid)

    def decode(self, z: Tensor) -> Tensor:
        """``g(z)``: angles ``(*batch,)`` -> points ``(*batch, d)``."""
        return self.decoder(torch.stack([z.cos(), z.sin()], -1))

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``‖x - g(z)‖²``: x ``(*batch, d)``, z ``(*batch,)`` angles -> ``(*batch,)``."""
        return (x - self.decode(z)).pow(2).sum(-1)

    def grid_energies(self, x: Tensor) -> Tensor:
        """``E(x, z_i)`` on the grid: x ``(*batch, d)`` -> ``(*batch, n_grid)``."""
        curve = self.decode(self.grid())  # (n_grid, d)
        return (x.unsqueeze(-2) - curve).pow(2).sum(-1)

    def infer(self, x: Tensor) -> Tensor:
        """The best grid angle ``argmin_i E(x, z_i)``, ``(*batch,)``."""
        return self.grid()[self.grid_energies(x).argmin(-1)]

    def _free_energy_at(self, x: Tensor, beta: float) -> Tensor:
        return grid_free_energy(self.grid_energies(x), beta, math.log(2 * math.pi / self.n_grid))

    # Training: ``fit(y)`` (from `ebm.Energy`) minimises the free energy of the data, ``mean F_β(y)``;
    # no contrastive term is needed, the 1-D latent keeps the low-energy set a curve.
    default_objective = "free_energy"  # resolved by ebm.train.fit through ebm.registry.OBJECTIVES
    fit_defaults = {"epochs": 200, "batch_size": 128, "lr": 1e-2}

    def extra_repr(self) -> str:
        return f"dim={self.event_shape[0]}, n_grid={self.n_grid}, beta={self.beta}"
