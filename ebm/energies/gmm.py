"""A Gaussian mixture as a latent-variable energy: the latent is the component.

    E(x, k) = -log π_k - log N(x; μ_k, Σ_k)
    F_β(x) = -1/β log Σ_k exp(-β E(x, k)),    F_1(x) = -log p(x),    F_∞(x) = min_k E(x, k)

At β = 1 the free energy is exactly the negative log-likelihood, so ``log_partition() = 0``.
Fitted by expectation-maximisation (Dempster, Laird & Rubin 1977), which never decreases the
log-likelihood; full, diagonal and spherical covariances.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebm._validation import check_choice, check_covariance, check_int, check_nonnegative, check_tensor, check_weights, format_error
from ebm.energies.kmeans import _sq_dists, check_data_matrix, kmeans_plus_plus
from ebm.energies.latent import LatentEnergy, grid_free_energy
from ebm.registry import register_energy

__all__ = ["GMMEnergy"]

_TYPES = ("full", "diag", "spherical")


def _example():
    means = torch.tensor([[0.0, 0.0], [2.0, 1.0]])
    covs = torch.stack([torch.eye(2), torch.tensor([[1.0, 0.3], [0.3, 0.5]])])
    return GMMEnergy(means, covs, torch.tensor([0.4, 0.6]))


@register_energy(
    "gmm",
    example=_example,
    bad_params=[
        (lambda: GMMEnergy(torch.zeros(2, 2), torch.stack([torch.eye(2), -torch.eye(2)]), torch.tensor([0.5, 0.5])), ValueError, "covariances"),
        (lambda: GMMEnergy(torch.zeros(2, 2), torch.ones(2), torch.tensor([0.7, 0.7])), ValueError, "weights"),
        (lambda: GMMEnergy(torch.zeros(2, 2), torch.ones(3, 2), torch.tensor([0.5, 0.5])), ValueError, "covariances"),
        (lambda: GMMEnergy.fit(torch.randn(50, 2), 2, covariance_type="tied"), ValueError, "covariance_type"),
    ],
)
class GMMEnergy(LatentEnergy):
    """Gaussian-mixture energy; ``forward`` is the free energy at ``beta`` (default 1: ``-log p(x)``).

    Reference: Dempster, Laird & Rubin (1977), "Maximum likelihood from incomplete data via the EM
    algorithm"; LeCun et al. (2006), §6.

    Args:
        means: ``(K, d)``.
        covariances: ``(K, d, d)`` full, ``(K, d)`` diagonal variances, or ``(K,)`` spherical variances.
        weights: ``(K,)`` mixing proportions summing to 1.
        beta: inverse temperature of the free energy (1: negative log-likelihood; ∞: hard assignment).

    Raises:
        ValueError: mismatched shapes, a covariance that is not positive definite, weights that are
            not a probability vector, or beta <= 0.

    Example:
        >>> model = GMMEnergy(torch.zeros(1, 2), torch.eye(2)[None], torch.ones(1))
        >>> model(torch.zeros(3, 2))  # -log N(0; 0, I) = log(2π)
        tensor([1.8379, 1.8379, 1.8379])
    """

    real_latent = False  # finite-β free energy is an exact sum / quadrature instead

    def __init__(self, means: Tensor, covariances: Tensor, weights: Tensor, beta: float = 1.0):
        check_tensor("means", means, ndim=2, floating=True, finite=True, nonempty=True)
        k, d = means.shape
        check_tensor("covariances", covariances, floating=True, finite=True)
        if tuple(covariances.shape) == (k, d, d):
            kind, full = "full", covariances
        elif tuple(covariances.shape) == (k, d):
            kind, full = "diag", torch.diag_embed(covariances)
        elif tuple(covariances.shape) == (k,):
            kind, full = "spherical", covariances[:, None, None] * torch.eye(d, dtype=means.dtype, device=means.device)
        else:
            raise ValueError(
                format_error("covariances", f"shape ({k}, {d}, {d}), ({k}, {d}) or ({k},)", f"shape {tuple(covariances.shape)}", "pass full, diagonal or spherical covariances, one per component")
            )
        if kind != "full" and bool((covariances <= 0).any()):
            raise ValueError(format_error("covariances", "positive variances", f"minimum {float(covariances.min()):.3g}", "pass variances > 0"))
        check_covariance("covariances", full, d)
        check_weights("weights", weights, k)
        super().__init__((d,), beta)
        self.covariance_type = kind
        self.register_buffer("means", means.detach().clone())
        self.register_buffer("covariances", full.detach().clone())  # (K, d, d), always full
        self.register_buffer("weights", weights.detach().clone())

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def component_energies(self, x: Tensor) -> Tensor:
        """``E(x, k) = -log π_k - log N(x; μ_k, Σ_k)`` for every k: x ``(*batch, d)`` -> ``(*batch, K)``."""
        d = self.event_shape[0]
        chol = torch.linalg.cholesky(self.covariances)  # (K, d, d)
        eye = torch.eye(d, dtype=chol.dtype, device=chol.device)
        chol_inv = torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False)  # (K, d, d) = L⁻¹
        diff = x.unsqueeze(-2) - self.means  # (*batch, K, d)
        # One small matrix product per component instead of N·K triangular solves: y = L⁻¹ (x - μ).
        y = torch.einsum("...kd,ked->...ke", diff, chol_inv)  # (*batch, K, d)
        maha = y.pow(2).sum(-1)  # (*batch, K)
        logdet = 2 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)  # (K,)
        log_normal = -0.5 * (d * math.log(2 * math.pi) + logdet + maha)
        return -(self.weights.log() + log_normal)

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``E(x, z)``: x ``(*batch, d)``, z ``(*batch,)`` long component index -> ``(*batch,)``."""
        return self.component_energies(x).gather(-1, z.unsqueeze(-1)).squeeze(-1)

    def infer(self, x: Tensor) -> Tensor:
        """The most responsible component ``argmin_k E(x, k)``, ``(*batch,)`` long."""
        return self.component_energies(x).argmin(-1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """Posterior ``p(k | x)``, ``(*batch, K)``."""
        return torch.softmax(-self.component_energies(x), dim=-1)

    def _free_energy_at(self, x: Tensor, beta: float) -> Tensor:
        return grid_free_energy(self.component_energies(x), beta)  # exact: the latent is discrete

    def log_partition(self) -> Tensor:
        """0 at β = 1 (the free energy is a normalised ``-log p``); otherwise intractable in general."""
        if self.beta == 1.0:
            return self.means.new_zeros(())
        return super().log_partition()

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples ``(n, d)`` (this energy's `sample` is exact): what reverse AIS and exactness
        tests take, where `sample` of other energies may be approximate."""
        return self.sample(n, generator=generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``(n, d)`` samples from the mixture (ancestral: component, then Gaussian)."""
        n = check_int("n", n, minimum=1)
        k = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=generator).to(self.means.device)
        eps = torch.randn(n, self.event_shape[0], generator=generator, dtype=self.means.dtype).to(self.means.device)
        chol = torch.linalg.cholesky(self.covariances)[k]  # (n, d, d)
        return self.means[k] + (chol @ eps.unsqueeze(-1)).squeeze(-1)

    @classmethod
    def fit(
        cls,
        x: Tensor,
        n_components: int,
        *,
        covariance_type: str = "full",
        n_iter: int = 100,
        tol: float | None = 1e-6,
        reg_covar: float = 1e-6,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> "GMMEnergy":
        """Fit by EM from k-means++ seeds (hard assignment to the nearest seed, then an M-step).

        E-step: responsibilities ``r_nk = p(k | x_n)``. M-step: ``N_k = Σ_n r_nk``, ``π_k = N_k / n``,
        ``μ_k = Σ_n r_nk x_n / N_k``, ``Σ_k = Σ_n r_nk (x_n - μ_k)(x_n - μ_k)ᵀ / N_k + reg·I``
        (diagonal: its diagonal; spherical: the mean of the diagonal). ``model.history_`` holds the
        mean log-likelihood of each parameter set visited (non-decreasing up to the tiny ridge).

        Args:
            x: data ``(n, d)`` with n >= n_components.
            n_components: K.
            covariance_type: 'full', 'diag' or 'spherical'.
            n_iter: maximum EM iterations.
            tol: stop when the mean log-likelihood improves by less than ``tol`` (None: run all ``n_iter``).
            reg_covar: ridge added to every covariance (keeps them positive definite).
            beta: inverse temperature of the returned model.
            generator: random generator for the seeding.

        Returns:
            A fitted `GMMEnergy`.
        """
        check_choice("covariance_type", covariance_type, _TYPES)
        check_data_matrix("x", x)
        n_components = check_int("n_components", n_components, minimum=1)
        check_data_matrix("x", x, min_rows=n_components)
        n_iter = check_int("n_iter", n_iter, minimum=0)
        tol = None if tol is None else check_nonnegative("tol", tol)
        reg_covar = check_nonnegative("reg_covar", reg_covar)
        x = x.detach()
        seeds = kmeans_plus_plus(x, n_components, generator=generator)
        resp = torch.nn.functional.one_hot(_sq_dists(x, seeds).argmin(-1), n_components).to(x.dtype)  # (n, K)
        model = cls(*_m_step(x, resp, covariance_type, reg_covar), beta=beta)
        history = []
        for it in range(n_iter + 1):
            energies = model.component_energies(x)  # (n, K)
            history.append(float(torch.logsumexp(-energies, -1).mean()))  # mean log p(x)
            if it == n_iter or (tol is not None and len(history) > 1 and history[-1] - history[-2] < tol):
                break
            resp = torch.softmax(-energies, -1)
            model = cls(*_m_step(x, resp, covariance_type, reg_covar), beta=beta)
        model.history_ = history
        model.n_iter_ = len(history) - 1
        return model

    def extra_repr(self) -> str:
        return f"n_components={self.n_components}, dim={self.event_shape[0]}, covariance_type={self.covariance_type!r}, beta={self.beta}"


def _m_step(x: Tensor, resp: Tensor, covariance_type: str, reg: float):
    """Maximisation step: ``x (n, d)``, ``resp (n, K)`` -> means ``(K, d)``, covariances, weights ``(K,)``."""
    n, d = x.shape
    nk = resp.sum(0) + 10 * torch.finfo(x.dtype).eps  # (K,)  guards an empty component
    means = (resp.T @ x) / nk[:, None]  # (K, d)
    diff = x.unsqueeze(1) - means  # (n, K, d)
    if covariance_type == "full":
        cov = torch.einsum("nk,nki,nkj->kij", resp, diff, diff) / nk[:, None, None]  # (K, d, d)
        cov = 0.5 * (cov + cov.transpose(-1, -2)) + reg * torch.eye(d, dtype=x.dtype, device=x.device)
    else:
        var = torch.einsum("nk,nki->ki", resp, diff.pow(2)) / nk[:, None] + reg  # (K, d)
        cov = var if covariance_type == "diag" else var.mean(-1)  # (K, d) or (K,)
    return means, cov, nk / nk.sum()
