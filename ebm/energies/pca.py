"""PCA as a latent-variable energy: the latent is the code on a k-dimensional subspace.

    E(x, z) = ‖(x - μ) - z P‖²,    F_∞(x) = ‖(x - μ) - (x - μ) PᵀP‖²   (z* = (x - μ) Pᵀ)
    F_β(x) = F_∞(x) - k/(2β) · log(π/β)          (Gaussian integral over z ∈ R^k)

P has orthonormal rows, so the zero-energy set is the k-dimensional affine subspace: the
architecture (k < d) limits the volume of low energy (LeCun et al. 2006, §6). Fitted by the SVD of
the centred data (Pearson 1901; Hotelling 1933).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebm._validation import check_int, check_tensor, format_error
from ebm.energies.kmeans import check_data_matrix
from ebm.energies.latent import LatentEnergy
from ebm.registry import register_energy

__all__ = ["PCAEnergy"]


@register_energy(
    "pca",
    example=lambda: PCAEnergy(torch.tensor([0.5, -1.0]), torch.tensor([[0.6, 0.8]])),
    bad_params=[
        (lambda: PCAEnergy(torch.zeros(2), torch.tensor([[1.0, 1.0]])), ValueError, "components"),
        (lambda: PCAEnergy(torch.zeros(3), torch.tensor([[1.0, 0.0]])), ValueError, "components"),
        (lambda: PCAEnergy.fit(torch.randn(10, 2), 3), ValueError, "n_components"),
    ],
)
class PCAEnergy(LatentEnergy):
    """PCA reconstruction energy ``F(x) = ‖(x - μ) - (x - μ)PᵀP‖²`` (distance to the principal subspace).

    Reference: LeCun et al. (2006), "A Tutorial on Energy-Based Learning", §6; Pearson (1901).

    Args:
        mean: ``(d,)`` centre μ.
        components: ``(k, d)`` with orthonormal rows P (k <= d).
        beta: inverse temperature of the free energy (default ∞).

    Raises:
        ValueError: shapes that disagree, rows that are not orthonormal (tolerance 1e-4), beta <= 0.

    Example:
        >>> model = PCAEnergy(torch.zeros(2), torch.tensor([[1.0, 0.0]]))
        >>> model(torch.tensor([[3.0, 2.0]]))  # distance² to the x-axis
        tensor([4.])
    """

    def __init__(self, mean: Tensor, components: Tensor, beta: float = math.inf):
        check_tensor("mean", mean, ndim=1, floating=True, finite=True)
        check_tensor("components", components, ndim=2, floating=True, finite=True, nonempty=True)
        d = mean.shape[0]
        if components.shape[1] != d or components.shape[0] > d:
            raise ValueError(format_error("components", f"shape (k, {d}) with k <= {d}", f"shape {tuple(components.shape)}", "pass one row per principal direction, as long as mean"))
        gram = components @ components.T  # (k, k)
        err = float((gram - torch.eye(gram.shape[0], dtype=gram.dtype)).abs().max())
        if err > 1e-4:
            raise ValueError(format_error("components", "orthonormal rows (P Pᵀ = I)", f"max |P Pᵀ - I| = {err:.3g}", "orthonormalise with torch.linalg.qr(components.T).Q.T"))
        super().__init__((d,), beta)
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("components", components.detach().clone())

    @property
    def n_components(self) -> int:
        return self.components.shape[0]

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``‖(x - μ) - zP‖²``: x ``(*batch, d)``, z ``(*batch, k)`` -> ``(*batch,)``."""
        return (x - self.mean - z @ self.components).pow(2).sum(-1)

    def infer(self, x: Tensor) -> Tensor:
        """The code ``z* = (x - μ)Pᵀ``, ``(*batch, k)``."""
        return (x - self.mean) @ self.components.T

    def reconstruct(self, x: Tensor) -> Tensor:
        """Projection onto the principal subspace, ``(*batch, d)``."""
        return self.mean + self.infer(x) @ self.components

    def _free_energy_at(self, x: Tensor, beta: float) -> Tensor:
        # ∫ exp(-β‖r - zP‖²) dz = exp(-β‖r⊥‖²) (π/β)^{k/2} because P has orthonormal rows.
        return self.free_energy(x, math.inf) - self.n_components / (2 * beta) * math.log(math.pi / beta)

    @classmethod
    def fit(cls, x: Tensor, n_components: int, *, beta: float = math.inf, generator: torch.Generator | None = None) -> "PCAEnergy":
        """Fit by the SVD of the centred data: ``X - μ = U S Vᵀ``, P = the first k rows of Vᵀ.

        Args:
            x: data ``(n, d)``.
            n_components: k, 1 <= k <= min(n, d).
            beta: inverse temperature of the returned model.
            generator: unused (the SVD is deterministic); accepted so every ``fit`` has one signature.

        Returns:
            A fitted `PCAEnergy`; ``model.explained_variance_`` holds the k leading variances ``(k,)``.
        """
        check_data_matrix("x", x, min_rows=2)
        k = check_int("n_components", n_components, minimum=1, maximum=min(x.shape))
        mean = x.mean(0)
        _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)  # vh: (min(n, d), d)
        model = cls(mean, vh[:k], beta=beta)
        model.explained_variance_ = s[:k].pow(2) / (x.shape[0] - 1)
        return model

    def extra_repr(self) -> str:
        return f"n_components={self.n_components}, dim={self.event_shape[0]}, beta={self.beta}"
