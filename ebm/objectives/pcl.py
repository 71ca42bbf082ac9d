"""PCL: Prototypical Contrastive Learning -- ProtoNCE, instance contrast plus contrast against k-means prototypes.

An EM view of contrastive learning. E-step (once per epoch, `ClusteringEStep`): cluster the momentum
encoder's embeddings ``v'`` of the whole data set with k-means at M granularities ``K_1, ..., K_M``,
giving prototypes ``c^m_k`` (unit vectors) and a concentration per prototype

    φ_k = Σ_{z=1}^{Z} ‖v'_z - c_k‖₂ / (Z log(Z + α)),     α = 10,

over the ``Z`` members of cluster k, so that loose clusters get a high temperature. The φ of each
granularity are rescaled to have mean τ (singleton or empty clusters take the largest φ, and φ is
clipped to its 10th-90th percentiles, as in the authors' implementation). M-step (the loss):

    L = L_MoCo(v, v')  +  (1/M) Σ_m  -(1/n) Σ_i log[ exp(v_i·c^m_{s(i)} / φ^m_{s(i)}) / Σ_j exp(v_i·c^m_j / φ^m_j) ]

with ``v = q/‖q‖`` the queries, ``v'`` the keys, ``s(i)`` the cluster of sample i. Until the first
E-step (PCL's warm-up epochs) only the instance term is used.

Differences from the paper, on purpose: the prototype term contrasts against all ``K_m``
prototypes rather than a random ``r`` of them (K is small here), and ``s(i)`` is the nearest
prototype of the key ``v'_i`` at training time rather than the label stored by the E-step (the two
agree while the momentum encoder has not moved; this keeps the loss free of sample indices and
works unchanged under DDP).

Reference: Li, Zhou, Xiong & Hoi (2021), "Prototypical Contrastive Learning of Unsupervised
Representations", ICLR, arXiv:2005.04966 (eq. 6 ProtoNCE, eq. 5 φ; α = 10; τ = 0.2 in PCL v2;
K = {25000, 50000, 100000} on ImageNet).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_int, check_positive, check_tensor, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.objectives.cluster_step import spherical_kmeans
from ebm.objectives.moco import MoCo
from ebm.registry import register_objective

__all__ = ["PCL", "concentration"]


@torch.no_grad()
def concentration(v: Tensor, labels: Tensor, centroids: Tensor, alpha: float = 10.0) -> Tensor:
    """PCL's per-cluster concentration ``φ_k = Σ_{i∈k} ‖v_i - c_k‖ / (Z_k log(Z_k + α))`` (raw, not rescaled).

    Args:
        v: unit embeddings ``(n, d)``; labels: cluster ids ``(n,)`` in [0, K); centroids: ``(K, d)``.
        alpha: α > 0, smooths small clusters (default 10).

    Returns:
        ``(K,)``; NaN for empty clusters (the caller decides what they get).

    Example:
        >>> concentration(F.normalize(torch.randn(20, 3), dim=1), torch.arange(20) % 2, F.normalize(torch.randn(2, 3), dim=1))
    """
    check_positive("alpha", alpha)
    k = centroids.shape[0]
    dist = (v - centroids[labels]).norm(dim=1)  # (n,)
    total = torch.zeros(k, dtype=v.dtype, device=v.device).index_add_(0, labels, dist)  # (K,)
    z = torch.bincount(labels, minlength=k).to(v.dtype)  # (K,)
    return total / (z * torch.log(z + alpha))  # 0/0 = NaN for empty clusters


def _example():
    pcl = PCL(4, n_clusters=(2, 3), queue_size=16)
    pcl.e_step(torch.randn(30, 4, generator=torch.Generator().manual_seed(1)), generator=torch.Generator().manual_seed(0))
    return pcl, registry_pair()


@register_objective(
    "pcl",
    example=_example,
    bad_inputs=[
        (lambda: PCL(4, n_clusters=(2, 3), queue_size=16)(torch.randn(8, 3), torch.randn(8, 3)), ValueError, "dim"),
        (lambda: PCL(4, n_clusters=(1,)), ValueError, "n_clusters"),
        (lambda: PCL(4, n_clusters=()), ValueError, "n_clusters"),
        (lambda: PCL(4, n_clusters=(3,), queue_size=16).e_step(torch.randn(2, 4)), ValueError, "z"),
        (lambda: PCL(4, n_clusters=(3,), queue_size=16).e_step(torch.randn(9, 5)), ValueError, "features"),
        (lambda: PCL(4, alpha=0.0), ValueError, "alpha"),
    ],
)
class PCL(nn.Module):
    """ProtoNCE (PCL): MoCo's instance loss plus contrast against multi-granularity k-means prototypes.

    Args:
        dim: embedding dimension d.
        n_clusters: the granularities ``(K_1, ..., K_M)``, each >= 2 (default (10, 20, 40)).
        temperature: τ of the instance term and the mean of every φ (default 0.2).
        queue_size: MoCo queue length (multiple of the global batch size; default 4096).
        alpha: α of the concentration (default 10).
        generator: for MoCo's initial queue.

    Shapes: ``forward(q, k)``: queries ``(n, d)`` and momentum keys ``(n, d)`` (constants) → scalar.
    ``e_step(features (N, d))`` refits the buffers ``centroids_m (K_m, d)``, ``phi_m (K_m,)``.
    Under DDP the prototype term is computed on the gathered batch; MoCo's instance term is the
    per-rank mean (DDP's gradient average equals the global mean's gradient).

    Raises:
        ValueError: bad hyper-parameters, embeddings of the wrong dimension, too few features.

    Example:
        >>> pcl = PCL(dim=8, n_clusters=(10, 20), queue_size=512)
        >>> pcl.e_step(target(x_train))            # or ClusteringEStep(pcl, x_train, target)
        >>> loss = pcl(q, k)
    """

    def __init__(self, dim: int, n_clusters=(10, 20, 40), temperature: float = 0.2, queue_size: int = 4096, alpha: float = 10.0, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        if isinstance(n_clusters, int):
            n_clusters = (n_clusters,)
        ks = tuple(n_clusters) if isinstance(n_clusters, (tuple, list)) else None
        if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 2 for k in ks):
            raise ValueError(format_error("n_clusters", "a non-empty tuple of cluster counts, each an int >= 2", repr(n_clusters), "pass e.g. n_clusters=(10, 20, 40)"))
        self.n_clusters = ks
        self.temperature = check_positive("temperature", temperature)
        self.alpha = check_positive("alpha", alpha)
        self.instance = MoCo(dim, queue_size=queue_size, temperature=temperature, generator=generator)
        for m, k in enumerate(ks):
            self.register_buffer(f"centroids_{m}", torch.zeros(k, dim))
            self.register_buffer(f"phi_{m}", torch.full((k,), self.temperature))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def prototypes(self, m: int) -> tuple[Tensor, Tensor]:
        """Granularity m's ``(centroids (K_m, d), φ (K_m,))``."""
        return getattr(self, f"centroids_{m}"), getattr(self, f"phi_{m}")

    @torch.no_grad()
    def e_step(self, features: Tensor, generator: torch.Generator | None = None) -> None:
        """Cluster ``features (N, d)`` (the momentum encoder's embeddings of the data set) at every granularity."""
        check_tensor("features", features, ndim=2, floating=True, finite=True)
        if features.shape[1] != self.dim:
            raise ValueError(format_error("features", f"embeddings of dim {self.dim}", f"shape {tuple(features.shape)}", "embed the data with the key (target) encoder"))
        v = F.normalize(features, dim=1)  # (N, d)
        for m, k in enumerate(self.n_clusters):
            c, labels = spherical_kmeans(v, k, generator=generator)
            phi = concentration(v, labels, c, self.alpha)  # (K,)
            sizes = torch.bincount(labels, minlength=k)
            good = sizes > 1
            if bool(good.any()):
                lo, hi = torch.quantile(phi[good], 0.1), torch.quantile(phi[good], 0.9)
                phi = torch.where(good, phi, phi[good].max()).clamp(lo, hi)
            else:  # every cluster a singleton: no spread to estimate
                phi = torch.ones_like(phi)
            phi = self.temperature * phi / phi.mean()
            cb, pb = self.prototypes(m)
            cb.copy_(c.to(cb))
            pb.copy_(phi.to(pb))
        self.ready.fill_(True)

    def proto_nce(self, q: Tensor, k: Tensor) -> Tensor:
        """The prototype term ``(1/M) Σ_m CE(v Cᵀ / φ, s(k))`` on (gathered) queries and keys ``(n, d)``."""
        v, key = F.normalize(q, dim=1), F.normalize(k.detach(), dim=1)
        total = q.new_zeros(())
        for m in range(len(self.n_clusters)):
            c, phi = (t.to(q.dtype) for t in self.prototypes(m))
            with torch.no_grad():
                s = (key @ c.T).argmax(1)  # (n,) nearest prototype of the key
            total = total + F.cross_entropy(v @ c.T / phi, s)  # (n, K_m) logits, column j scaled by 1/φ_j
        return total / len(self.n_clusters)

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        check_pair(q, k, min_batch=1, names=("q", "k"))
        if q.shape[1] != self.dim:
            raise ValueError(format_error("q", f"embeddings of dim {self.dim}", f"shape {tuple(q.shape)}", "build PCL(dim=...) with the encoder's output size"))
        loss = self.instance(q, k)
        if bool(self.ready):
            loss = loss + self.proto_nce(gather(q), gather(k.detach()))
        return loss

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_clusters={self.n_clusters}, temperature={self.temperature:g}, alpha={self.alpha:g}"

