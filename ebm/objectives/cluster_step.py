"""The E-step of the clustering losses: k-means over the whole data set's embeddings, once per epoch.

PCL and ProPos alternate two steps (Li et al. 2021, arXiv:2005.04966, §3.2, an EM view): the
E-step clusters the embeddings of *every* training sample (by the momentum / target encoder) with
k-means; the M-step trains the encoder for an epoch against the fixed clustering. ClusterFit
(Yan et al. 2020, arXiv:1912.03330) does the E-step once, on a pretrained network's features.

How this fits `ebm.train` without touching the loop: a loss that needs an E-step has a method
``e_step(features, generator=None)`` that stores what it needs (centroids, concentrations) in its
buffers; `ClusteringEStep` is an ordinary training callback that, after every ``every`` epochs,
embeds the data with a given network in evaluation mode and without gradients and calls it. The
buffers live in the loss module, so checkpoints carry them and a resumed run continues exactly.

The clustering is `ebm.energies.KMeansEnergy.fit` (Lloyd's algorithm from k-means++ seeds) on
ℓ2-normalised embeddings, the centroids then re-normalised: spherical k-means, as the papers run
k-means on unit-norm features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_tensor, format_error
from ebm.energies.kmeans import KMeansEnergy

__all__ = ["spherical_kmeans", "ClusteringEStep"]


@torch.no_grad()
def spherical_kmeans(z: Tensor, n_clusters: int, *, n_iter: int = 50, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """k-means on the unit sphere: Lloyd's algorithm on ``ẑ = z/‖z‖``, unit-norm centroids.

    Minimises ``Σ_i min_k ‖ẑ_i - c_k‖²`` (k-means++ seeding, `KMeansEnergy.fit`), then
    normalises the centroids; labels are the nearest (highest-cosine) normalised centroid.

    Args:
        z: embeddings ``(n, d)``, n >= n_clusters, finite.
        n_clusters: K >= 1.
        n_iter: maximum Lloyd iterations (default 50).
        generator: for the k-means++ seeding.

    Returns:
        ``(centroids (K, d) unit-norm, labels (n,) long)``.

    Raises:
        ValueError: z not a finite (n, d) matrix with n >= K, or K < 1.

    Example:
        >>> c, y = spherical_kmeans(torch.randn(100, 8), 5, generator=torch.Generator().manual_seed(0))
    """
    check_tensor("z", z, ndim=2, floating=True, finite=True)
    n_clusters = check_int("n_clusters", n_clusters, minimum=1)
    if z.shape[0] < n_clusters:
        raise ValueError(format_error("z", f"at least n_clusters = {n_clusters} rows", f"shape {tuple(z.shape)}", "cluster more samples or use fewer clusters"))
    check_generator("generator", generator)
    u = F.normalize(z.detach(), dim=1)  # (n, d)
    km = KMeansEnergy.fit(u, n_clusters, n_iter=check_int("n_iter", n_iter, minimum=0), generator=generator)
    c = F.normalize(km.centroids.detach(), dim=1)  # (K, d)
    return c, (u @ c.T).argmax(1)


class ClusteringEStep:
    """`ebm.train` callback: every ``every`` epochs, embed the whole data set and call ``loss.e_step``.

    Args:
        loss: a module with ``e_step(features (n, d), generator=None)`` (PCL, ProPos).
        data: the training inputs ``(n, *event)`` (one view, no augmentation), or a callable
            returning them.
        network: the module that embeds them (the momentum / target encoder for PCL and ProPos);
            run in evaluation mode under ``torch.no_grad`` and restored to its mode afterwards.
        every: epochs between E-steps (default 1).
        warmup: epochs trained before the first E-step (PCL warms up with the instance term only).
        batch_size: rows embedded at a time (memory), default 4096.
        generator: for the k-means seeding.

    Call: ``step(state) -> False`` (it never stops training). ``step.refresh()`` runs it now
    (e.g. before training, to start with a clustering).

    Example:
        >>> estep = ClusteringEStep(pcl, x_train, task.target, warmup=2)
        >>> ebm.train.train(energy, task, x_train, epochs=20, callbacks=[estep])
    """

    def __init__(self, loss: nn.Module, data, network: nn.Module, *, every: int = 1, warmup: int = 0, batch_size: int = 4096, generator: torch.Generator | None = None):
        if not callable(getattr(loss, "e_step", None)):
            raise TypeError(format_error("loss", "a loss with an e_step(features) method (PCL, ProPos)", type(loss).__name__, "pass the clustering loss itself, not the TwoViewObjective"))
        if not isinstance(network, nn.Module):
            raise TypeError(format_error("network", "an nn.Module that embeds the data", type(network).__name__, "pass the target encoder, e.g. task.target"))
        if not callable(data):
            check_tensor("data", data, floating=True, finite=True, nonempty=True)
        self.loss, self.data, self.network = loss, data, network
        self.every = check_int("every", every, minimum=1)
        self.warmup = check_int("warmup", warmup, minimum=0)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        check_generator("generator", generator)
        self.generator = generator

    @torch.no_grad()
    def embed(self) -> Tensor:
        """The data's embeddings ``(n, d)`` by ``network`` in evaluation mode."""
        x = self.data() if callable(self.data) else self.data
        was_training = self.network.training
        self.network.eval()
        try:
            return torch.cat([self.network(x[i : i + self.batch_size]) for i in range(0, x.shape[0], self.batch_size)])  # (n, d)
        finally:
            self.network.train(was_training)

    def refresh(self) -> None:
        """Run the E-step now."""
        self.loss.e_step(self.embed(), generator=self.generator)

    def __call__(self, state) -> bool:
        if state.epoch >= self.warmup and (state.epoch - self.warmup) % self.every == 0:
            self.refresh()
        return False

