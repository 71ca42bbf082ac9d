"""A noise-conditional energy ``E_θ(x, σ)`` for multi-level denoising score matching and annealed
Langevin dynamics (Song & Ermon, 2019): one network that knows the energy of the data smoothed at
every noise level ``σ``."""

from __future__ import annotations


import torch
from torch import Tensor, nn

from ebm._validation import check_int, check_positive, format_error, input_checks_enabled
from ebm.energy import Energy
from ebm.energies._init import init_linear_, linear
from ebm.registry import register_energy

__all__ = ["NoiseConditionalEnergy", "FixedNoiseEnergy"]


@register_energy(
    "noise_conditional",
    example=lambda: NoiseConditionalEnergy(2, hidden=16, generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: NoiseConditionalEnergy(0), ValueError, "dim"),
        (lambda: NoiseConditionalEnergy(2, default_sigma=0.0), ValueError, "default_sigma"),
        (lambda: NoiseConditionalEnergy(2)(torch.zeros(3, 2), torch.zeros(3)), ValueError, "sigma"),
    ],
)
class NoiseConditionalEnergy(Energy):
    """``E_θ(x, σ) = f_θ([x, log σ]) / σ`` with ``f_θ`` an MLP with smooth (SiLU) activations.

    Dividing by ``σ`` gives scores of size ``~1/σ``, the size of the true smoothed score
    ``-(x̃ - x)/σ²`` times ``‖x̃ - x‖ ~ σ`` (the output scaling of Song & Ermon, 2020), so one
    network serves every level. Call ``energy(x, sigma)`` with ``sigma`` a number or a tensor
    broadcastable to the batch shape; ``energy(x)`` uses ``default_sigma`` (the level closest to
    the data). ``energy.at(σ)`` is the plain `Energy` at one level, for samplers that take a list
    of energies.

    Reference: Song & Ermon (2019), "Generative Modeling by Estimating Gradients of the Data
    Distribution", arXiv:1907.05600; Song & Ermon (2020), "Improved Techniques for Training
    Score-Based Generative Models", arXiv:2006.09011.

    Args:
        dim: dimension of ``x`` (event shape ``(dim,)``).
        hidden: width of the hidden layers.
        depth: number of hidden layers.
        default_sigma: the level used when ``sigma`` is not given.
        generator: initialises the weights.

    Raises:
        ValueError: ``dim < 1``, ``hidden < 1``, ``depth < 1``, ``default_sigma <= 0``, or a
            ``sigma`` that is not positive / does not broadcast to the batch.

    Example:
        >>> e = NoiseConditionalEnergy(2)
        >>> e(torch.zeros(5, 2), torch.full((5,), 0.5)).shape
        torch.Size([5])
        >>> e.score(torch.zeros(5, 2), 0.5).shape
        torch.Size([5, 2])
    """

    noise_conditional = True

    def __init__(self, dim: int, hidden: int = 128, depth: int = 2, default_sigma: float = 0.01, generator: torch.Generator | None = None):
        dim = check_int("dim", dim, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        depth = check_int("depth", depth, minimum=1)
        super().__init__((dim,))
        self.default_sigma = check_positive("default_sigma", default_sigma)
        layers: list[nn.Module] = []
        width = dim + 1
        for _ in range(depth):
            layers += [linear(width, hidden, generator), nn.SiLU()]  # initialised by init_linear_ below
            width = hidden
        layers.append(linear(width, 1, generator))
        self.net = nn.Sequential(*layers)
        init_linear_(self.net, generator)

    def _sigma(self, x: Tensor, sigma) -> Tensor:
        """``sigma`` as a tensor of the batch shape ``x.shape[:-1]``."""
        if sigma is None:
            sigma = self.default_sigma
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        try:
            sigma = torch.broadcast_to(sigma, x.shape[:-1])
        except RuntimeError:
            raise ValueError(format_error("sigma", f"a number or a tensor broadcastable to the batch shape {tuple(x.shape[:-1])}", f"shape {tuple(sigma.shape)}", "pass one noise level per sample")) from None
        # The value check reads back from the device; samplers skip it inside trusted_inputs().
        if input_checks_enabled() and (not bool((sigma > 0).all()) or not bool(torch.isfinite(sigma).all())):
            raise ValueError(format_error("sigma", "noise levels > 0", f"minimum {float(sigma.min()):.3g}", "pass positive noise levels"))
        return sigma

    def forward(self, x: Tensor, sigma=None) -> Tensor:
        sigma = self._sigma(x, sigma)  # (*batch,)
        inputs = torch.cat([x, sigma.log().unsqueeze(-1)], dim=-1)  # (*batch, dim+1)
        return self.net(inputs).squeeze(-1) / sigma

    def energy_and_score(self, x: Tensor, sigma=None, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """``(E(x, σ), -∇x E(x, σ))``, shapes ``(*batch,)`` and ``(*batch, dim)``."""
        with torch.enable_grad():
            x_ = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
            energy = self(x_, sigma)
            (grad,) = torch.autograd.grad(energy.sum(), x_, create_graph=create_graph)
        if not create_graph:
            energy = energy.detach()
        return energy, -grad

    def score(self, x: Tensor, sigma=None, *, create_graph: bool = False) -> Tensor:
        """``-∇x E(x, σ)``, shape ``(*batch, dim)``."""
        return self.energy_and_score(x, sigma, create_graph=create_graph)[1]

    def at(self, sigma: float) -> "FixedNoiseEnergy":
        """The plain energy ``x -> E(x, σ)`` at one noise level (shares this model's parameters)."""
        return FixedNoiseEnergy(self, sigma)


@register_energy(
    "noise_conditional_at",
    example=lambda: NoiseConditionalEnergy(2, hidden=16, generator=torch.Generator().manual_seed(0)).at(0.5),
    bad_params=[(lambda: NoiseConditionalEnergy(2, hidden=4).at(-1.0), ValueError, "sigma")],
)
class FixedNoiseEnergy(Energy):
    """``x -> E_θ(x, σ)`` for one fixed ``σ``: a view of a `NoiseConditionalEnergy` (no copy).

    Args:
        model: the noise-conditional energy.
        sigma: the noise level, > 0.

    Example:
        >>> levels = [NoiseConditionalEnergy(2).at(s) for s in (1.0, 0.3, 0.1)]
    """

    def __init__(self, model: NoiseConditionalEnergy, sigma: float):
        if not isinstance(model, NoiseConditionalEnergy):
            raise TypeError(format_error("model", "a NoiseConditionalEnergy", type(model).__name__, "build one with NoiseConditionalEnergy(dim)"))
        super().__init__(model.event_shape)
        self.model = model
        self.sigma = check_positive("sigma", sigma)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, self.sigma)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        return self.model.energy_and_score(x, self.sigma, create_graph=create_graph)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}"
