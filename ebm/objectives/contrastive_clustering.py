"""CC -- Contrastive Clustering: contrast instances (rows) and clusters (columns) of two views.

Two heads sit on the encoder features ``h``: an instance head ``z = g_I(h)`` and a cluster head
``Y = softmax(g_C(h))`` with M outputs (rows: soft cluster assignments of the batch). With two
views a, b of a batch of N:

* instance level: NT-Xent (`InfoNCE`) over the 2N rows ``z``, temperature τ_I;
* cluster level: NT-Xent over the 2M *columns* ``y_k ∈ R^N`` of ``Y^a`` and ``Y^b`` (column k of
  one view is the positive of column k of the other), cosine similarity, temperature τ_C, minus
  the entropy of the cluster sizes, which rules out the trivial solution of one cluster:

      L_clu = (1/2M) Σ_k (ℓ̂_k^a + ℓ̂_k^b) - H(Y),   H(Y) = -Σ_k [P_k^a log P_k^a + P_k^b log P_k^b],
      P_k^v = Σ_i Y^v_ik / ‖Y^v‖₁

so ``H(Y) = 2 log M`` at a uniform assignment. ``L = L_ins + L_clu`` (entropy weight 1). The cluster
of a sample is ``argmax_k Y_ik`` (`ContrastiveClustering.predict`).

Reference: Li, Hu, Liu, Peng, Zhou & Peng (2021), "Contrastive Clustering", AAAI,
arXiv:2009.09687 (eqs. 2-8; τ_I = 0.5, τ_C = 1.0, instance head output 128).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_int, check_nonnegative, check_positive, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.objectives.infonce import InfoNCE
from ebm.objectives.propos import check_module_dtype
from ebm.registry import register_objective

__all__ = ["ContrastiveClustering", "cluster_contrast", "cluster_entropy"]


def cluster_contrast(y_a: Tensor, y_b: Tensor, temperature: float = 1.0) -> Tensor:
    """NT-Xent over the 2M columns of two ``(N, M)`` assignment matrices (cosine similarity)."""
    c = F.normalize(torch.cat([y_a.T, y_b.T]), dim=1)  # (2M, N) columns as vectors
    m = y_a.shape[1]
    logits = (c @ c.T / temperature).masked_fill(torch.eye(2 * m, dtype=torch.bool, device=c.device), float("-inf"))  # (2M, 2M)
    target = torch.cat([torch.arange(m, 2 * m), torch.arange(0, m)]).to(c.device)
    return F.cross_entropy(logits, target)


def cluster_entropy(y_a: Tensor, y_b: Tensor) -> Tensor:
    """``H(Y) = H(P^a) + H(P^b)`` of the cluster-size distributions ``P^v = column sums / total`` of ``(N, M)`` assignments."""
    h = y_a.new_zeros(())
    for y in (y_a, y_b):
        p = y.sum(0) / y.sum()  # (M,)
        h = h - (p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))).sum()
    return h


def _mlp(dim: int, hidden: int, out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, out))


@register_objective(
    "contrastive_clustering",
    example=lambda: (ContrastiveClustering(4, 3, instance_dim=6, hidden=8), registry_pair()),
    bad_inputs=[
        (lambda: ContrastiveClustering(4, 3)(torch.randn(8, 5), torch.randn(8, 5)), ValueError, "dim"),
        (lambda: ContrastiveClustering(4, 1), ValueError, "n_clusters"),
        (lambda: ContrastiveClustering(4, 3, cluster_temperature=0.0), ValueError, "cluster_temperature"),
        (lambda: ContrastiveClustering(4, 3)(torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)), TypeError, "dtype"),
        (lambda: ContrastiveClustering(4, 3)(torch.randn(1, 4), torch.randn(1, 4)), ValueError, "at least 2"),
    ],
)
class ContrastiveClustering(nn.Module):
    """CC loss with its own instance and cluster heads (both trained through this module's parameters).

    Args:
        dim: encoder feature dimension d.
        n_clusters: M >= 2 (the cluster head's outputs).
        instance_dim: instance head output (default 128).
        hidden: width of both heads' hidden layer (default d).
        instance_temperature: τ_I (default 0.5).
        cluster_temperature: τ_C (default 1.0).
        entropy_weight: weight of -H(Y) (default 1, the paper's).

    Shapes: ``forward(h_a, h_b)``: encoder features ``(N, d)`` each, N >= 2 → scalar;
    ``cluster_probabilities(h) (N, M)``; ``predict(h) (N,)`` long. Under DDP both levels see the
    gathered batch.

    Raises:
        ValueError: bad hyper-parameters or shapes; TypeError: features in another dtype than the heads.

    Example:
        >>> cc = ContrastiveClustering(dim=8, n_clusters=10)
        >>> loss = cc(encoder(x_a), encoder(x_b)); clusters = cc.predict(encoder(x))
    """

    def __init__(self, dim: int, n_clusters: int, *, instance_dim: int = 128, hidden: int | None = None, instance_temperature: float = 0.5, cluster_temperature: float = 1.0, entropy_weight: float = 1.0):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.n_clusters = check_int("n_clusters", n_clusters, minimum=2)
        hidden = check_int("hidden", hidden or self.dim, minimum=1)
        self.cluster_temperature = check_positive("cluster_temperature", cluster_temperature)
        self.entropy_weight = check_nonnegative("entropy_weight", entropy_weight)
        self.instance = InfoNCE(instance_temperature)
        self.instance_head = _mlp(self.dim, hidden, check_int("instance_dim", instance_dim, minimum=1))
        self.cluster_head = _mlp(self.dim, hidden, self.n_clusters)

    def _check(self, name: str, h: Tensor) -> None:
        if h.shape[1] != self.dim:
            raise ValueError(format_error(name, f"features of dim {self.dim}", f"shape {tuple(h.shape)}", "build ContrastiveClustering(dim=...) with the encoder's output size"))
        check_module_dtype(name, h, self.cluster_head, "cluster head")

    def cluster_probabilities(self, h: Tensor) -> Tensor:
        """Soft assignments ``softmax(g_C(h))``: ``(N, d) -> (N, M)``."""
        return F.softmax(self.cluster_head(h), dim=1)

    @torch.no_grad()
    def predict(self, h: Tensor) -> Tensor:
        """Hard cluster of each row, ``(N,)`` long."""
        self._check("h", h)
        return self.cluster_probabilities(h).argmax(1)

    def forward(self, h_a: Tensor, h_b: Tensor) -> Tensor:
        check_pair(h_a, h_b, names=("h_a", "h_b"))
        self._check("h_a", h_a)
        loss_ins = self.instance(self.instance_head(h_a), self.instance_head(h_b))  # gathers inside
        y_a, y_b = gather(self.cluster_probabilities(h_a)), gather(self.cluster_probabilities(h_b))  # (N, M)
        return loss_ins + cluster_contrast(y_a, y_b, self.cluster_temperature) - self.entropy_weight * cluster_entropy(y_a, y_b)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_clusters={self.n_clusters}, cluster_temperature={self.cluster_temperature:g}"

