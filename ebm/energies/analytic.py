"""Energies with exact answers: Gaussians, Gaussian mixtures and 2-D teaching landscapes.

Every energy here knows its log partition function exactly (closed form, or a 1-D / 2-D
quadrature accurate to many digits) and its score in closed form, so they are the ground truth
that samplers, objectives and plots are tested against.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebm._validation import check_covariance, check_int, check_positive, check_tensor, check_weights, format_error
from ebm.energy import Energy, NotEnergy, OrEnergy, SumEnergy, TemperedEnergy
from ebm.registry import register_energy
from samplers.compilation import inline_small_products

__all__ = ["Gaussian", "GaussianMixture"]

_LOG_2PI = math.log(2 * math.pi)


def _as_float_tensor(name: str, value) -> Tensor:
    t = torch.as_tensor(value)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return check_tensor(name, t, finite=True)


def _minus_vector(x: Tensor, v: Tensor) -> Tensor:
    """``x - v`` for ``x`` of shape ``(*batch, d)`` and ``v`` of shape ``(d,)``, laid out for compilers.

    A broadcast over a short last axis (d = 2) makes inductor's C++ loop over that axis with
    vectors that are mostly masked off (2 of 8 or 16 lanes). When the rows tile a 16-wide row
    exactly, the same subtraction is written on ``(n, 16)`` rows against ``v`` repeated, so every
    lane works: compiled ULA on 100,000 2-D Gaussian chains ran 18% faster under AVX-512 (3%
    under AVX2, where the noise draws dominate). Same numbers either way; eager code, which has no
    such loop, takes the plain subtraction (one operation instead of four).
    """
    d = v.shape[0]
    if torch.compiler.is_compiling() and d < 16 and 16 % d == 0 and x.is_contiguous() and x.numel() % 16 == 0:
        return (x.reshape(-1, 16) - v.repeat(16 // d)).reshape(x.shape)  # (n·d/16, 16) -> (*batch, d)
    return x - v


def _times_matrix(x: Tensor, m: Tensor) -> Tensor:
    """``x @ m`` for ``x`` of shape ``(*batch, d)`` and a small ``m`` of shape ``(d, d)``, laid out for compilers.

    While being compiled (d ≤ 4, where `samplers.compilation.inline_small_products` says it pays:
    measured there) the product is written as d broadcast multiply-adds on 16-wide rows (as in
    `_minus_vector`), which inductor fuses instead of calling an external GEMM. Same numbers to
    rounding; eager code keeps the GEMM.
    """
    d = m.shape[0]
    if torch.compiler.is_compiling() and d <= 4 and 16 % d == 0 and x.is_contiguous() and x.numel() % 16 == 0 and inline_small_products(x):
        rows = x.reshape(-1, 16 // d, d)  # (n·d/16, 16/d, d)
        out = rows[..., 0:1] * m[0]
        for k in range(1, d):
            out = out + rows[..., k : k + 1] * m[k]
        return out.reshape(x.shape)
    return x @ m


@register_energy(
    "gaussian",
    example=lambda: Gaussian(torch.tensor([0.5, -1.0]), torch.tensor([[1.0, 0.8], [0.8, 1.0]])),
    bad_params=[
        (lambda: Gaussian(torch.zeros(2), torch.tensor([[1.0, 2.0], [2.0, 1.0]])), ValueError, "positive-definite"),
        (lambda: Gaussian(torch.zeros(2), torch.eye(3)), ValueError, "covariance"),
        (lambda: Gaussian(torch.zeros(2, 2), torch.eye(2)), ValueError, "mean"),
    ],
)
class Gaussian(Energy):
    """Multivariate normal energy ``E(x) = ½ (x - μ)ᵀ Σ⁻¹ (x - μ)``.

    ``log Z = ½ d log 2π + ½ log det Σ``; ``score(x) = -Σ⁻¹ (x - μ)``.

    Args:
        mean: μ, shape ``(d,)``.
        covariance: Σ, shape ``(d, d)``, symmetric positive definite.

    Raises:
        ValueError: wrong shapes, non-finite values, or Σ not positive definite.

    Example:
        >>> g = Gaussian(torch.zeros(2), torch.tensor([[1.0, 0.8], [0.8, 1.0]]))
        >>> x = g.sample(1000, generator=torch.Generator().manual_seed(0))   # (1000, 2)
        >>> g.log_prob(x).shape
        torch.Size([1000])
    """

    def __init__(self, mean, covariance):
        mean = _as_float_tensor("mean", mean)
        if mean.dim() != 1:
            raise ValueError(format_error("mean", "a vector of shape (d,)", f"shape {tuple(mean.shape)}", "pass a 1-D mean"))
        d = mean.shape[0]
        covariance = check_covariance("covariance", _as_float_tensor("covariance", covariance).to(mean.dtype), d)
        super().__init__((d,))
        chol = torch.linalg.cholesky(covariance)
        self.register_buffer("mean", mean.clone())
        self.register_buffer("covariance", covariance.clone())
        self.register_buffer("scale_tril", chol)
        self.register_buffer("precision", torch.cholesky_inverse(chol))

    def forward(self, x: Tensor) -> Tensor:
        diff = _minus_vector(x, self.mean)  # (*batch, d)
        return 0.5 * ((diff @ self.precision) * diff).sum(-1)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        diff = _minus_vector(x, self.mean)
        pd = diff @ self.precision  # Σ⁻¹(x - μ), (*batch, d); precision is symmetric
        return 0.5 * (pd * diff).sum(-1), -pd

    def score(self, x: Tensor, *, create_graph: bool = False) -> Tensor:
        """``-Σ⁻¹ (x - μ)``, shape ``(*batch, d)`` (closed form; laid out for compilers, see `_times_matrix`)."""
        return -_times_matrix(_minus_vector(x, self.mean), self.precision)

    def log_partition(self) -> Tensor:
        d = self.event_shape[0]
        return 0.5 * d * _LOG_2PI + torch.log(torch.diagonal(self.scale_tril)).sum()

    def tempered_log_partition(self, temperature: float) -> Tensor:
        """log Z of ``E / T``: a Gaussian with covariance ``T Σ``."""
        d = self.event_shape[0]
        return self.log_partition() + 0.5 * d * math.log(temperature)

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples ``(n, d)`` (this energy's `sample` is exact): what reverse AIS and exactness
        tests take, where `sample` of other energies may be approximate."""
        return self.sample(n, generator=generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples, shape ``(n, d)``."""
        n = check_int("n", n, minimum=0)
        eps = torch.randn(n, self.event_shape[0], generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + eps @ self.scale_tril.T


@register_energy(
    "gaussian_mixture",
    example=lambda: GaussianMixture(
        torch.tensor([[-1.0, 0.0], [1.5, 0.5]]), torch.stack([torch.eye(2), 0.5 * torch.eye(2)]), torch.tensor([0.3, 0.7])
    ),
    bad_params=[
        (lambda: GaussianMixture(torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2), torch.tensor([0.5, 0.6])), ValueError, "sum to 1"),
        (lambda: GaussianMixture(torch.zeros(2, 2), -torch.eye(2).expand(2, 2, 2), torch.tensor([0.5, 0.5])), ValueError, "positive-definite"),
        (lambda: GaussianMixture(torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2), torch.tensor([1.5, -0.5])), ValueError, "non-negative"),
    ],
)
class GaussianMixture(Energy):
    """Gaussian mixture energy ``E(x) = -log Σ_k w_k N(x; μ_k, Σ_k)`` (normalised, so log Z = 0).

    ``score(x) = -Σ_k r_k(x) Σ_k⁻¹ (x - μ_k)`` with responsibilities ``r_k(x) ∝ w_k N(x; μ_k, Σ_k)``.

    Args:
        means: ``(k, d)``.
        covariances: ``(k, d, d)`` symmetric positive definite (or ``(d, d)``, shared).
        weights: ``(k,)`` non-negative, summing to 1 (default: uniform).

    Raises:
        ValueError: shape mismatch, non-PD covariance, weights not a probability vector.

    Example:
        >>> gm = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 0.0]]), 0.25 * torch.eye(2), torch.tensor([0.8, 0.2]))
        >>> gm.sample(4, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([4, 2])
    """

    def __init__(self, means, covariances, weights=None):
        means = _as_float_tensor("means", means)
        if means.dim() != 2:
            raise ValueError(format_error("means", "shape (k, d)", f"shape {tuple(means.shape)}", "stack one mean per row"))
        k, d = means.shape
        covariances = _as_float_tensor("covariances", covariances).to(means.dtype)
        if covariances.dim() == 2:
            covariances = covariances.expand(k, d, d)
        if covariances.dim() != 3 or covariances.shape[0] != k:
            raise ValueError(
                format_error("covariances", f"shape ({k}, {d}, {d})", f"shape {tuple(covariances.shape)}", "pass one covariance per component")
            )
        check_covariance("covariances", covariances, d)
        weights = torch.full((k,), 1.0 / k, dtype=means.dtype) if weights is None else _as_float_tensor("weights", weights).to(means.dtype)
        check_weights("weights", weights, k)
        super().__init__((d,))
        chol = torch.linalg.cholesky(covariances)
        self.register_buffer("means", means.clone())
        self.register_buffer("covariances", covariances.clone())
        self.register_buffer("weights", weights.clone())
        self.register_buffer("scale_tril", chol)
        self.register_buffer("precisions", torch.cholesky_inverse(chol))
        log_norm = 0.5 * d * _LOG_2PI + torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        self.register_buffer("_log_coef", torch.log(weights) - log_norm)  # log w_k - log Z_k, (k,)

    def _component_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        diff = x.unsqueeze(-2) - self.means  # (*batch, k, d)
        pd = torch.einsum("...kd,kde->...ke", diff, self.precisions)  # Σ_k⁻¹ (x - μ_k), (*batch, k, d)
        logits = self._log_coef - 0.5 * (pd * diff).sum(-1)  # log w_k N_k(x), (*batch, k)
        return logits, pd

    def forward(self, x: Tensor) -> Tensor:
        logits, _ = self._component_terms(x)
        return -torch.logsumexp(logits, dim=-1)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        logits, pd = self._component_terms(x)
        resp = torch.softmax(logits, dim=-1)  # (*batch, k)
        return -torch.logsumexp(logits, dim=-1), -(resp.unsqueeze(-1) * pd).sum(-2)

    def responsibilities(self, x: Tensor) -> Tensor:
        """Posterior component probabilities ``r_k(x)``, shape ``(*batch, k)``."""
        return torch.softmax(self._component_terms(x)[0], dim=-1)

    def log_partition(self) -> Tensor:
        return torch.zeros((), dtype=self.means.dtype, device=self.means.device)

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples ``(n, d)`` (this energy's `sample` is exact): what reverse AIS and exactness
        tests take, where `sample` of other energies may be approximate."""
        return self.sample(n, generator=generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None, return_labels: bool = False):
        """Exact samples ``(n, d)`` (and component labels ``(n,)`` if ``return_labels``)."""
        n = check_int("n", n, minimum=0)
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator) if n else torch.zeros(0, dtype=torch.long)
        labels = labels.to(self.means.device)
        eps = torch.randn(n, self.event_shape[0], generator=generator, dtype=self.means.dtype, device=self.means.device)
        x = self.means[labels] + torch.einsum("nij,nj->ni", self.scale_tril[labels], eps)
        return (x, labels) if return_labels else x


def circle_of_gaussians(n_modes: int = 8, radius: float = 2.0, std: float = 0.3) -> GaussianMixture:
    """``n_modes`` equal-weight isotropic Gaussians evenly spaced on a circle."""
    n_modes = check_int("n_modes", n_modes, minimum=1)
    radius, std = check_positive("radius", radius), check_positive("std", std)
    angles = torch.arange(n_modes, dtype=torch.get_default_dtype()) * (2 * math.pi / n_modes)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture(means, (std**2) * torch.eye(2))


def grid_of_gaussians(per_side: int = 3, spacing: float = 2.0, std: float = 0.3) -> GaussianMixture:
    """``per_side²`` equal-weight isotropic Gaussians on a square grid centred at the origin."""
    per_side = check_int("per_side", per_side, minimum=1)
    spacing, std = check_positive("spacing", spacing), check_positive("std", std)
    ticks = (torch.arange(per_side, dtype=torch.get_default_dtype()) - (per_side - 1) / 2) * spacing
    means = torch.cartesian_prod(ticks, ticks)
    return GaussianMixture(means, (std**2) * torch.eye(2))


def unbalanced_modes(weight: float = 0.8, separation: float = 8.0, std: float = 0.5) -> GaussianMixture:
    """Two far-apart modes with weights ``weight`` and ``1 - weight``: the test case where a
    population of local chains keeps its initial mode split, and tempering or annealing helps."""
    if not 0 < weight < 1:
        raise ValueError(format_error("weight", "a number in (0, 1)", repr(weight), "pass e.g. 0.8"))
    half = check_positive("separation", separation) / 2
    std = check_positive("std", std)
    return GaussianMixture(torch.tensor([[-half, 0.0], [half, 0.0]]), (std**2) * torch.eye(2), torch.tensor([weight, 1 - weight]))


# The composition energies live in ebm/energy.py, which must not import this module (it would be an
# import circle: energies import ebm.energy). Their registry entries, whose examples are Gaussians,
# are made here instead.
def _two_gaussians() -> tuple[Gaussian, Gaussian]:
    return Gaussian(torch.zeros(2), torch.eye(2)), Gaussian(torch.ones(2), 2 * torch.eye(2))


register_energy(
    "sum",
    example=lambda: SumEnergy(*_two_gaussians()),
    bad_params=[
        (lambda: SumEnergy(_two_gaussians()[0]), ValueError, "at least two"),
        (lambda: SumEnergy(_two_gaussians()[0], lambda x: x), TypeError, "Energy"),
    ],
)(SumEnergy)
register_energy(
    "tempered",
    example=lambda: TemperedEnergy(_two_gaussians()[1], 2.0),
    bad_params=[(lambda: TemperedEnergy(_two_gaussians()[0], -1.0), ValueError, "temperature")],
)(TemperedEnergy)
register_energy(
    "or",
    example=lambda: OrEnergy(*_two_gaussians()),
    bad_params=[
        (lambda: OrEnergy(_two_gaussians()[0]), ValueError, "at least two"),
        (lambda: OrEnergy(_two_gaussians()[0], lambda x: x), TypeError, "Energy"),
    ],
)(OrEnergy)
register_energy(
    "not",
    example=lambda: NotEnergy(Gaussian(torch.zeros(2), 4 * torch.eye(2)), Gaussian(torch.ones(2), torch.eye(2)), 0.2),
    bad_params=[
        (lambda: NotEnergy(*_two_gaussians(), alpha=3.0), ValueError, "not integrable"),
        (lambda: NotEnergy(_two_gaussians()[0], _two_gaussians()[1], alpha=0.0), ValueError, "alpha"),
        (lambda: NotEnergy(_two_gaussians()[0], Gaussian(torch.zeros(3), torch.eye(3))), ValueError, "event shape"),
    ],
)(NotEnergy)
