"""A Gaussian energy with learnable mean and precision: the exactly solvable test bed of the
training principles (score matching, denoising score matching and NCE all have closed-form or
well-known optima for it)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_covariance, check_int, check_tensor, format_error
from ebm.energy import Energy
from ebm.registry import register_energy

__all__ = ["QuadraticEnergy"]


def _bad_mean():
    return QuadraticEnergy(2, mean=torch.zeros(3))


@register_energy(
    "quadratic",
    example=lambda: QuadraticEnergy(3, mean=torch.tensor([0.5, -1.0, 0.0]), precision=torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])),
    bad_params=[
        (lambda: QuadraticEnergy(0), ValueError, "dim"),
        (_bad_mean, ValueError, "mean"),
        (lambda: QuadraticEnergy(2, precision=-torch.eye(2)), ValueError, "precision"),
    ],
)
class QuadraticEnergy(Energy):
    """``E(x) = ½ (x - μ)ᵀ P (x - μ)`` with learnable mean ``μ`` and precision ``P = L Lᵀ``.

    ``L`` is lower triangular with a positive diagonal (stored as its log), so every parameter
    value is a valid Gaussian and gradient methods cannot leave the model family. The normaliser
    is exact: ``log Z = (d/2) log 2π - ½ log det P = (d/2) log 2π - Σ_i log L_ii``; the score is
    analytic: ``-∇E(x) = -P (x - μ)``.

    Args:
        dim: dimension ``d`` of ``x``.
        mean: initial ``μ``, shape ``(d,)`` (default zeros).
        precision: initial ``P``, shape ``(d, d)``, symmetric positive definite (default identity).

    Raises:
        ValueError: ``dim < 1``, a mean of the wrong shape, or a precision that is not SPD.

    Example:
        >>> e = QuadraticEnergy(2)
        >>> e(torch.zeros(4, 2)).shape
        torch.Size([4])
        >>> float(e.log_partition())  # log 2π for the standard normal in 2-D
        1.8378770664093453
    """

    def __init__(self, dim: int, mean: Tensor | None = None, precision: Tensor | None = None):
        dim = check_int("dim", dim, minimum=1)
        super().__init__((dim,))
        if mean is None:
            mean = torch.zeros(dim)
        check_tensor("mean", mean, floating=True, finite=True)
        if tuple(mean.shape) != (dim,):
            raise ValueError(format_error("mean", f"shape ({dim},)", f"shape {tuple(mean.shape)}", f"pass one value per dimension ({dim})"))
        if precision is None:
            precision = torch.eye(dim, dtype=mean.dtype)
        check_covariance("precision", precision, dim)
        chol = torch.linalg.cholesky(precision.to(mean.dtype))  # (d, d) lower, positive diagonal
        self.mean = nn.Parameter(mean.clone())
        self.log_diag = nn.Parameter(chol.diagonal().log())  # (d,)
        self.off_diag = nn.Parameter(chol.tril(-1).clone())  # (d, d); only the strict lower part is used
        self.register_buffer("_tril_mask", torch.ones(dim, dim, dtype=torch.bool).tril(-1), persistent=False)

    @property
    def cholesky(self) -> Tensor:
        """``L``, shape ``(d, d)``: lower triangular with positive diagonal, ``P = L Lᵀ``."""
        return torch.where(self._tril_mask, self.off_diag, torch.zeros_like(self.off_diag)) + torch.diag(self.log_diag.exp())

    @property
    def precision(self) -> Tensor:
        """``P = L Lᵀ``, shape ``(d, d)``."""
        chol = self.cholesky
        return chol @ chol.T

    @property
    def covariance(self) -> Tensor:
        """``P⁻¹``, shape ``(d, d)``."""
        return torch.cholesky_inverse(self.cholesky)

    def forward(self, x: Tensor) -> Tensor:
        z = (x - self.mean) @ self.cholesky  # (*batch, d): Lᵀ(x - μ) as a row vector
        return 0.5 * z.pow(2).sum(-1)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        # Closed form: no autograd pass; with create_graph the result stays differentiable.
        with torch.enable_grad() if create_graph else torch.no_grad():
            diff = x - self.mean  # (*batch, d)
            chol = self.cholesky
            z = diff @ chol  # (*batch, d)
            energy = 0.5 * z.pow(2).sum(-1)
            score = -(z @ chol.T)  # -P (x - μ), (*batch, d)
        return energy, score

    def log_partition(self) -> Tensor:
        d = self.event_shape[0]
        return 0.5 * d * math.log(2 * math.pi) - self.log_diag.sum()

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples ``(n, d)`` (this energy's `sample` is exact): what reverse AIS and exactness
        tests take, where `sample` of other energies may be approximate."""
        return self.sample(n, generator=generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples ``(n, d)``: ``x = μ + L⁻ᵀ ε`` with ``ε ~ N(0, I)``."""
        n = check_int("n", n, minimum=1)
        with torch.no_grad():
            eps = torch.randn(n, self.event_shape[0], generator=generator, dtype=self.mean.dtype, device=self.mean.device)  # (n, d)
            # Solve Lᵀ y = ε for y (row-wise): y has covariance (L Lᵀ)⁻¹.
            y = torch.linalg.solve_triangular(self.cholesky.T, eps.T, upper=True).T  # (n, d)
            return self.mean + y
