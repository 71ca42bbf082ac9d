"""DeepCluster-style loss: k-means pseudo-labels of one view are the classification targets of the other.

Online, DeepCluster-v2 flavoured: the centroids ``c_k`` (unit vectors, a buffer) are refined by a
few spherical k-means (Lloyd) steps on the current batch's detached embeddings of both views;
each sample is assigned ``y_i = argmax_k ẑ_i · c_k``; the loss classifies each view into the
other view's cluster with the centroids as a fixed cosine classifier:

    L = ½ [ CE(ẑ_a Cᵀ / τ, y_b) + CE(ẑ_b Cᵀ / τ, y_a) ]

Clusters left empty by a batch keep their previous centroid.

Reference: Caron, Bojanowski, Joulin & Douze (2018), "Deep Clustering for Unsupervised Learning of
Visual Features", arXiv:1807.05520; the online variant with prototypes equal to centroids and a
temperature follows DeepCluster-v2 in Caron et al. (2020), arXiv:2006.09882 (τ = 0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_positive, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["DeepCluster"]


@register_objective(
    "deepcluster",
    example=lambda: (DeepCluster(4, 3), registry_pair()),
    bad_inputs=[
        (lambda: DeepCluster(4, 3)(torch.randn(8, 5), torch.randn(8, 5)), ValueError, "dim"),
        (lambda: DeepCluster(4, 1), ValueError, "n_clusters"),
        (lambda: DeepCluster(4, 3)(torch.randn(8, 4), torch.randn(8, 2)), ValueError, "z_b"),
    ],
)
class DeepCluster(nn.Module):
    """Cross-view classification into online spherical k-means clusters.

    Args:
        dim: embedding dimension d.
        n_clusters: K.
        temperature: τ (default 0.1).
        kmeans_iterations: Lloyd steps per call (default 3).
        generator: for the initial centroids.

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each → scalar. Buffer ``centroids (K, d)``;
    `reset()` re-draws them.

    Example:
        >>> DeepCluster(dim=8, n_clusters=10)(torch.randn(32, 8), torch.randn(32, 8))
    """

    def __init__(self, dim: int, n_clusters: int, temperature: float = 0.1, kmeans_iterations: int = 3, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.n_clusters = check_int("n_clusters", n_clusters, minimum=2)
        self.temperature = check_positive("temperature", temperature)
        self.kmeans_iterations = check_int("kmeans_iterations", kmeans_iterations, minimum=0)
        self.register_buffer("centroids", torch.empty(self.n_clusters, self.dim))
        self.reset(generator)

    @torch.no_grad()
    def reset(self, generator: torch.Generator | None = None) -> None:
        """Re-draw the centroids as random unit vectors."""
        check_generator("generator", generator)
        self.centroids.copy_(F.normalize(torch.randn(self.n_clusters, self.dim, generator=generator), dim=1))

    @torch.no_grad()
    def _kmeans(self, z: Tensor) -> None:
        c = self.centroids.to(z.dtype)
        for _ in range(self.kmeans_iterations):
            labels = (z @ c.T).argmax(1)  # (m,)
            sums = torch.zeros_like(c).index_add_(0, labels, z)  # (K, d)
            counts = torch.bincount(labels, minlength=self.n_clusters)  # (K,)
            c = torch.where(counts[:, None] > 0, F.normalize(sums, dim=1), c)
        self.centroids.copy_(c)

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b)
        if z_a.shape[1] != self.dim:
            raise ValueError(format_error("z_a", f"embeddings of dim {self.dim}", f"shape {tuple(z_a.shape)}", "build DeepCluster(dim=...) with the encoder's output size"))
        a, b = F.normalize(gather(z_a), dim=1), F.normalize(gather(z_b), dim=1)
        self._kmeans(torch.cat([a, b]).detach())
        c = self.centroids.to(a.dtype).clone()
        with torch.no_grad():
            y_a, y_b = (a @ c.T).argmax(1), (b @ c.T).argmax(1)
        return 0.5 * (F.cross_entropy(a @ c.T / self.temperature, y_b) + F.cross_entropy(b @ c.T / self.temperature, y_a))
