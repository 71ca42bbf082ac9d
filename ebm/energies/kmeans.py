"""k-means as a latent-variable energy: the latent is which centroid explains x.

    E(x, k) = ‖x - c_k‖²,    F_∞(x) = min_k ‖x - c_k‖²,    F_β(x) = -1/β log Σ_k exp(-β ‖x - c_k‖²)

Only K points have zero energy, so the volume of low energy is limited by the architecture: no
contrastive term is needed (LeCun et al. 2006, §6). Fitting is Lloyd's algorithm (Lloyd 1982),
which alternates the two minimisations of Σ_n min_k ‖x_n - c_k‖² and so never increases it, from
k-means++ seeding (Arthur & Vassilvitskii 2007).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_nonnegative, check_tensor, format_error
from ebm.energies.latent import LatentEnergy, grid_free_energy
from ebm.registry import register_energy

__all__ = ["KMeansEnergy", "kmeans_plus_plus", "check_data_matrix"]


def check_data_matrix(name: str, x, min_rows: int = 1) -> Tensor:
    """Check a data matrix ``(n, d)`` of finite floats with at least ``min_rows`` rows."""
    check_tensor(name, x, ndim=2, floating=True, finite=True)
    if x.shape[0] < min_rows:
        raise ValueError(format_error(name, f"at least {min_rows} rows", f"{x.shape[0]} rows", "pass more data or fewer components"))
    return x


def _sq_dists(x: Tensor, c: Tensor) -> Tensor:
    """``‖x_n - c_k‖²`` for x ``(*batch, d)`` and c ``(k, d)`` -> ``(*batch, k)`` (exact, no cancellation trick)."""
    return (x.unsqueeze(-2) - c).pow(2).sum(-1)  # (*batch, k, d) -> (*batch, k)


def _nearest(x: Tensor, x_sq: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest centroid of each row of x ``(n, d)``: squared distances ``(n,)`` and labels ``(n,)``.

    Uses ``‖x - c‖² = ‖x‖² + (‖c‖² - 2 x·c)``: one fused matrix product over ``(n, K)``, and ‖x‖² is
    added after the min because it does not change the argmin (rounding ~1e-16·‖x‖² in float64)."""
    partial = torch.addmm(c.pow(2).sum(-1), x, c.T, alpha=-2)  # (n, K)
    vals, labels = partial.min(-1)
    return (vals + x_sq).clamp_min_(0), labels


def kmeans_plus_plus(x: Tensor, k: int, *, generator: torch.Generator | None = None) -> Tensor:
    """k-means++ seeding: each new centre is drawn with probability ∝ D(x)², the squared distance
    to the nearest centre chosen so far (Arthur & Vassilvitskii 2007).

    Args:
        x: data ``(n, d)``.
        k: number of centres, 1 <= k <= n.
        generator: random generator (explicit randomness).

    Returns:
        Centres ``(k, d)``, rows of ``x``.

    Example:
        >>> c = kmeans_plus_plus(torch.randn(100, 2), 3, generator=torch.Generator().manual_seed(0))
    """
    check_data_matrix("x", x)
    k = check_int("k", k, minimum=1, maximum=x.shape[0])
    check_generator("generator", generator)
    n = x.shape[0]
    first = torch.randint(n, (1,), generator=generator).item()
    centres = [x[first]]
    d2 = (x - x[first]).pow(2).sum(-1)  # (n,)
    for _ in range(1, k):
        if float(d2.sum()) <= 0:  # all points coincide with chosen centres: pick uniformly
            idx = torch.randint(n, (1,), generator=generator).item()
        else:
            idx = torch.multinomial(d2.cpu(), 1, generator=generator).item()
        centres.append(x[idx])
        d2 = torch.minimum(d2, (x - x[idx]).pow(2).sum(-1))
    return torch.stack(centres)  # (k, d)


def _example():
    return KMeansEnergy(torch.tensor([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]]))


@register_energy(
    "kmeans",
    example=_example,
    bad_params=[
        (lambda: KMeansEnergy(torch.zeros(3)), ValueError, "centroids"),
        (lambda: KMeansEnergy(torch.tensor([[float("nan"), 0.0]])), ValueError, "centroids"),
        (lambda: KMeansEnergy(torch.zeros(2, 2), beta=-1.0), ValueError, "beta"),
        (lambda: KMeansEnergy.fit(torch.randn(2, 2), 3), ValueError, "x"),
    ],
)
class KMeansEnergy(LatentEnergy):
    """k-means energy ``F(x) = min_k ‖x - c_k‖²`` (soft-min ``-1/β log Σ_k exp(-β‖x - c_k‖²)`` at finite β).

    The latent z is a centroid index (long tensor). Gradients w.r.t. the centroids at β = ∞ follow
    the envelope theorem (only the winning centroid moves).

    Reference: Lloyd (1982), "Least squares quantization in PCM"; Arthur & Vassilvitskii (2007),
    "k-means++: the advantages of careful seeding"; LeCun et al. (2006), §6.

    Args:
        centroids: ``(k, d)`` centres (a trainable parameter).
        beta: inverse temperature of the free energy (default ∞: hard assignment).

    Raises:
        ValueError: centroids not a finite ``(k, d)`` matrix, or beta <= 0.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> model = KMeansEnergy.fit(torch.randn(200, 2), 4, generator=g)
        >>> model(torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    real_latent = False  # finite-β free energy is an exact sum / quadrature instead

    def __init__(self, centroids: Tensor, beta: float = math.inf):
        check_tensor("centroids", centroids, ndim=2, floating=True, finite=True, nonempty=True)
        super().__init__((centroids.shape[1],), beta)
        self.centroids = nn.Parameter(centroids.detach().clone())

    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[0]

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``‖x - c_z‖²``: x ``(*batch, d)``, z ``(*batch,)`` long -> ``(*batch,)``."""
        return (x - self.centroids[z]).pow(2).sum(-1)

    def infer(self, x: Tensor) -> Tensor:
        """Index of the nearest centroid, ``(*batch,)`` long."""
        return _sq_dists(x, self.centroids).argmin(-1)

    def _free_energy_at(self, x: Tensor, beta: float) -> Tensor:
        return grid_free_energy(_sq_dists(x, self.centroids), beta)  # exact: the latent is discrete

    @classmethod
    def fit(
        cls,
        x: Tensor,
        n_clusters: int,
        *,
        n_iter: int = 100,
        tol: float = 0.0,
        init: Tensor | None = None,
        beta: float = math.inf,
        generator: torch.Generator | None = None,
    ) -> "KMeansEnergy":
        """Fit by Lloyd's algorithm from k-means++ seeds.

        Each iteration assigns every point to its nearest centroid, then moves each centroid to the
        mean of its points (an empty cluster keeps its centroid), so the objective
        ``J = (1/n) Σ_n min_k ‖x_n - c_k‖²`` never increases. ``model.history_`` holds J after
        seeding and after each iteration; ``model.n_iter_`` the iterations run.

        Args:
            x: data ``(n, d)`` with n >= n_clusters.
            n_clusters: K.
            n_iter: maximum Lloyd iterations.
            tol: stop when J decreases by at most ``tol`` (0: stop when the assignment is fixed).
            init: optional initial centroids ``(K, d)`` (skips k-means++).
            beta: inverse temperature of the returned model.
            generator: random generator for the seeding.

        Returns:
            A fitted `KMeansEnergy`.
        """
        check_data_matrix("x", x)
        n_clusters = check_int("n_clusters", n_clusters, minimum=1)
        check_data_matrix("x", x, min_rows=n_clusters)
        n_iter = check_int("n_iter", n_iter, minimum=0)
        tol = check_nonnegative("tol", tol)
        if init is None:
            c = kmeans_plus_plus(x, n_clusters, generator=generator)
        else:
            check_tensor("init", init, ndim=2, floating=True, finite=True)
            if tuple(init.shape) != (n_clusters, x.shape[1]):
                raise ValueError(format_error("init", f"shape ({n_clusters}, {x.shape[1]})", f"shape {tuple(init.shape)}", "pass one row per cluster"))
            c = init.clone()
        x = x.detach()
        x_sq = x.pow(2).sum(-1)  # (n,)
        d2, labels = _nearest(x, x_sq, c)  # (n,), (n,)
        history = [float(d2.mean())]
        done = 0
        for it in range(n_iter):
            counts = torch.bincount(labels, minlength=n_clusters).to(x.dtype)  # (K,)
            sums = torch.zeros_like(c).index_add_(0, labels, x)  # (K, d)
            c = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], c)
            d2, new_labels = _nearest(x, x_sq, c)
            history.append(float(d2.mean()))
            done = it + 1
            converged = bool((new_labels == labels).all()) or (tol > 0 and history[-2] - history[-1] <= tol)
            labels = new_labels
            if converged:
                break
        model = cls(c, beta=beta)
        model.history_ = history
        model.n_iter_ = done
        return model

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}, dim={self.event_shape[0]}, beta={self.beta}"
