"""Denoising score matching (Vincent, 2011) and its multi-noise-level form (Song & Ermon, 2019):
match the model's score to the score of a Gaussian corruption kernel, which needs no Hessian."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebm._validation import check_positive, check_tensor, format_error
from ebm.energy import Energy
from ebm.objectives._common import check_continuous_data, check_energy
from ebm.registry import register_objective

__all__ = ["DenoisingScoreMatching", "MultiLevelDenoisingScoreMatching", "geometric_sigmas"]


def geometric_sigmas(sigma_max: float, sigma_min: float, n_levels: int) -> Tensor:
    """Noise levels ``σ_1 > ... > σ_L`` in geometric progression (the NCSN schedule), shape ``(L,)``."""
    sigma_max = check_positive("sigma_max", sigma_max)
    sigma_min = check_positive("sigma_min", sigma_min)
    if sigma_min > sigma_max:
        raise ValueError(format_error("sigma_min", f"a value <= sigma_max ({sigma_max:g})", repr(sigma_min), "swap the two levels"))
    return torch.logspace(torch.log10(torch.tensor(sigma_max)), torch.log10(torch.tensor(sigma_min)), n_levels, dtype=torch.float64).float()


def _check_noise(noise, x: Tensor) -> Tensor:
    check_tensor("noise", noise, floating=True, finite=True)
    if noise.shape != x.shape:
        raise ValueError(format_error("noise", f"standard-normal draws of x's shape {tuple(x.shape)}", f"shape {tuple(noise.shape)}", "pass torch.randn_like(x) or leave noise=None"))
    return noise.to(dtype=x.dtype, device=x.device)


def _quadratic():
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(2)


def _example():
    g = torch.Generator().manual_seed(0)
    return DenoisingScoreMatching(0.5), (_quadratic(), torch.randn(16, 2, generator=g))


@register_objective(
    "denoising_score_matching",
    example=_example,
    bad_inputs=[
        (lambda: DenoisingScoreMatching(0.0), ValueError, "sigma"),
        (lambda: DenoisingScoreMatching(-1.0), ValueError, "sigma"),
        (lambda: DenoisingScoreMatching(0.1)(_quadratic(), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
        (lambda: DenoisingScoreMatching(0.1)(_quadratic(), torch.zeros(4, 2), noise=torch.zeros(3, 2)), ValueError, "noise"),
    ],
)
class DenoisingScoreMatching(nn.Module):
    """Denoising score matching: ``J(θ) = E_{x, ε}[ ½ ‖s_θ(x + σε) + ε/σ‖² ]``, ``ε ~ N(0, I)``.

    ``-ε/σ = -(x̃ - x)/σ²`` is the score of the corruption kernel ``N(x̃; x, σ²I)``, so the
    minimiser is the score of the *smoothed* data density ``p_data * N(0, σ²I)``: for a Gaussian
    energy the mean is the sample mean and the precision is ``(S + σ²I)⁻¹`` (S the 1/n sample
    covariance). Cost: one forward and one backward pass per step, any dimension.

    The loss is reported as is (it does not reach 0; its floor is ``d/(2σ²) - ½ E‖∇ log p_σ(x̃)‖²``
    with ``p_σ`` the smoothed data density).

    Reference: Vincent (2011), "A Connection Between Score Matching and Denoising Autoencoders",
    Neural Computation 23(7).

    Args:
        sigma: noise standard deviation ``σ > 0``.

    Call args:
        energy: an `ebm.Energy` over real vectors.
        x: clean data, ``(batch, *event_shape)``.
        generator: draws ``ε``.
        noise: optional explicit ``ε`` of ``x``'s shape (common random numbers, exact tests).

    Returns:
        The scalar loss (mean over the batch).

    Raises:
        ValueError: ``sigma <= 0``, bad shapes, non-finite data.
        TypeError: integer data or a non-Energy.

    Example:
        >>> from ebm.energies import QuadraticEnergy
        >>> loss = DenoisingScoreMatching(0.1)(QuadraticEnergy(2), torch.randn(64, 2))
    """

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = check_positive("sigma", sigma, fix="pass a noise level sigma > 0, e.g. 0.1 times the data scale")

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None, *, noise: Tensor | None = None) -> Tensor:
        check_energy(energy, "denoising score matching")
        check_continuous_data(energy, x, "denoising score matching")
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device) if noise is None else _check_noise(noise, x)
        noisy = (x + self.sigma * eps).detach()  # (batch, *event)
        score = energy.score(noisy, create_graph=True)  # (batch, *event)
        residual = (score + eps / self.sigma).reshape(x.shape[0], -1)  # (batch, D)
        return 0.5 * residual.pow(2).sum(-1).mean()

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}"


def _nc_example():
    from ebm.energies.noise_conditional import NoiseConditionalEnergy

    g = torch.Generator().manual_seed(0)
    model = NoiseConditionalEnergy(2, hidden=16, generator=g)
    return MultiLevelDenoisingScoreMatching([1.0, 0.5, 0.1]), (model, torch.randn(16, 2, generator=g))


def _nc_model():
    from ebm.energies.noise_conditional import NoiseConditionalEnergy

    return NoiseConditionalEnergy(2, hidden=8)


@register_objective(
    "multilevel_denoising_score_matching",
    example=_nc_example,
    bad_inputs=[
        (lambda: MultiLevelDenoisingScoreMatching([1.0, 0.0]), ValueError, "sigmas"),
        (lambda: MultiLevelDenoisingScoreMatching([]), ValueError, "sigmas"),
        (lambda: MultiLevelDenoisingScoreMatching([1.0, 0.1])(_quadratic(), torch.zeros(4, 2)), TypeError, "sigma"),
        (lambda: MultiLevelDenoisingScoreMatching([1.0, 0.1])(_nc_model(), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
    ],
)
class MultiLevelDenoisingScoreMatching(nn.Module):
    """Multi-level DSM (NCSN): ``J(θ) = E_σ E_{x,ε}[ λ(σ) · ½ ‖s_θ(x + σε, σ) + ε/σ‖² ]``, ``λ(σ) = σ²``.

    Each sample in the batch gets a noise level drawn uniformly from ``sigmas``; the weight
    ``λ(σ) = σ²`` makes every level's term ``½ ‖σ s_θ(x̃, σ) + ε‖²`` of order one. The model must be
    *noise conditional*: an energy called as ``energy(x, sigma)`` with ``sigma`` of shape
    ``(batch,)`` — e.g. `ebm.energies.NoiseConditionalEnergy`, whose ``.at(σ)`` gives the plain
    energy at one level, so annealed Langevin can take either ``energy`` with its ``sigmas`` or the
    list ``[energy.at(s) for s in sigmas]``.

    Reference: Song & Ermon (2019), "Generative Modeling by Estimating Gradients of the Data
    Distribution", NeurIPS, arXiv:1907.05600.

    Args:
        sigmas: the noise levels, a sequence or 1-D tensor of positive numbers (any order;
            `geometric_sigmas` builds the usual schedule).

    Call args:
        energy: a noise-conditional energy (``energy(x, sigma)``; ``energy.noise_conditional`` is True).
        x: clean data ``(batch, *event_shape)``.
        generator: draws the levels and ``ε``.

    Returns:
        The scalar loss (mean over the batch).

    Raises:
        ValueError: empty ``sigmas`` or a level ``<= 0``.
        TypeError: the energy is not noise conditional, or integer data.

    Example:
        >>> from ebm.energies import NoiseConditionalEnergy
        >>> model = NoiseConditionalEnergy(2)
        >>> loss = MultiLevelDenoisingScoreMatching(geometric_sigmas(3.0, 0.05, 10))(model, torch.randn(64, 2))
    """

    def __init__(self, sigmas: Sequence[float] | Tensor):
        super().__init__()
        values = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
        if values.numel() == 0 or not bool(torch.isfinite(values).all()) or bool((values <= 0).any()):
            raise ValueError(
                format_error("sigmas", "a non-empty sequence of finite noise levels > 0", repr(values.tolist()), "pass e.g. geometric_sigmas(sigma_max, sigma_min, n_levels)")
            )
        self.register_buffer("sigmas", values.float())

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_energy(energy, "multi-level denoising score matching")
        if not getattr(energy, "noise_conditional", False):
            raise TypeError(
                format_error(
                    "energy",
                    "a noise-conditional energy called as energy(x, sigma) (attribute noise_conditional = True)",
                    type(energy).__name__,
                    "use ebm.energies.NoiseConditionalEnergy, or DenoisingScoreMatching(sigma) for a single level",
                )
            )
        check_continuous_data(energy, x, "multi-level denoising score matching")
        batch = x.shape[0]
        idx = torch.randint(len(self.sigmas), (batch,), generator=generator, device=self.sigmas.device).to(x.device)
        sigma = self.sigmas.to(device=x.device, dtype=x.dtype)[idx]  # (batch,)
        sigma_b = sigma.reshape(batch, *([1] * (x.dim() - 1)))  # (batch, 1, ..., 1) for broadcasting
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        noisy = (x + sigma_b * eps).detach().requires_grad_(True)  # (batch, *event)
        score = energy.score(noisy, sigma, create_graph=True)  # (batch, *event)
        residual = (sigma_b * score + eps).reshape(batch, -1)  # λ(σ)=σ²: σ s + ε, (batch, D)
        return 0.5 * residual.pow(2).sum(-1).mean()

    def extra_repr(self) -> str:
        return f"levels={len(self.sigmas)}, sigma_max={float(self.sigmas.max()):g}, sigma_min={float(self.sigmas.min()):g}"
