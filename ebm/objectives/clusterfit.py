"""ClusterFit: cluster a pretrained network's features, then train a fresh network to predict the clusters.

Two stages, as two composable pieces:

1. `cluster_pseudo_labels`: embed the data set with a pretrained (frozen) network ``N_pre`` and
   run k-means with K clusters on the ℓ2-normalised features (`spherical_kmeans`, i.e.
   `ebm.energies.KMeansEnergy.fit`); the cluster ids are the pseudo-labels ``ŷ_i``.
2. `PseudoLabelClassification`: train a new network ``N_cf`` *from scratch* with a linear
   classifier on top, by cross-entropy on the pseudo-labels (of augmented inputs):

       L = -(1/n) Σ_i log softmax(W f(aug(x_i)) + b)_{ŷ_i}

The point of the paper: re-learning from the clusters of a network trained on a (possibly
unrelated) pretext task discards pretext-specific detail and keeps semantic groupings, so
``N_cf``'s features transfer better than ``N_pre``'s.

Reference: Yan, Misra, Gupta, Ghadiyaram & Mahajan (2020), "ClusterFit: Improving Generalization
of Visual Representations", CVPR, arXiv:1912.03330 (§3; K = 16000 on ImageNet-scale data).

Example:
    >>> y = cluster_pseudo_labels(pretrained, x_train, 30, generator=g)
    >>> task = PseudoLabelClassification(dim=8, n_classes=30, augment=DigitAugment())
    >>> ebm.train.train(JointEmbeddingEnergy(fresh_encoder, event_shape=(64,)), task, (x_train, y), epochs=20)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_int, check_tensor, format_error
from ebm.objectives.cluster_step import spherical_kmeans
from ebm.objectives.propos import check_module_dtype
from ebm.objectives.two_view import TwoViewObjective
from ebm.registry import register_objective

__all__ = ["cluster_pseudo_labels", "PseudoLabelClassification"]


@torch.no_grad()
def cluster_pseudo_labels(network: nn.Module, x: Tensor, n_clusters: int, *, batch_size: int = 4096, generator: torch.Generator | None = None) -> Tensor:
    """Stage 1: k-means pseudo-labels of the frozen features ``network(x)``.

    Args:
        network: the pretrained network (run in eval mode, without gradients; its mode is restored).
        x: the data set ``(n, *event)``.
        n_clusters: K (ClusterFit over-clusters: K larger than the number of classes works well).
        batch_size: rows embedded at a time.
        generator: for the k-means++ seeding.

    Returns:
        Pseudo-labels ``(n,)`` long in [0, K).

    Raises:
        TypeError / ValueError: a network that is not a module, bad data, n < K.
    """
    if not isinstance(network, nn.Module):
        raise TypeError(format_error("network", "the pretrained nn.Module", type(network).__name__, "pass the encoder"))
    check_tensor("x", x, floating=True, finite=True, nonempty=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    was = network.training
    network.eval()
    try:
        z = torch.cat([network(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])  # (n, d)
    finally:
        network.train(was)
    return spherical_kmeans(z.reshape(z.shape[0], -1), n_clusters, generator=generator)[1]  # (n,)


def _example():
    # ``(model, x, labels)`` at the top level, so the registry's probes reach x; the objective
    # itself takes ``batch = (x, labels)`` as `ebm.train` passes it.
    g = torch.Generator().manual_seed(0)
    task = PseudoLabelClassification(4, 3)
    return (lambda model, x, labels, generator=None: task(model, (x, labels), generator)), (nn.Linear(5, 4), torch.randn(8, 5, generator=g), torch.arange(8) % 3)


@register_objective(
    "clusterfit",
    example=_example,
    bad_inputs=[
        (lambda: PseudoLabelClassification(4, 3)(nn.Linear(5, 4), (torch.randn(8, 5), torch.arange(8))), ValueError, "labels"),
        (lambda: PseudoLabelClassification(4, 3)(nn.Linear(5, 4), (torch.randn(8, 5), torch.arange(7) % 3)), ValueError, "labels"),
        (lambda: PseudoLabelClassification(4, 3)(nn.Linear(5, 4), torch.randn(8, 5)), ValueError, "batch"),
        (lambda: PseudoLabelClassification(4, 3)(nn.Linear(5, 6), (torch.randn(8, 5), torch.arange(8) % 3)), ValueError, "dim"),
        (lambda: PseudoLabelClassification(4, 1), ValueError, "n_classes"),
    ],
)
class PseudoLabelClassification(nn.Module):
    """Stage 2 of ClusterFit: ``objective(model, (x, pseudo_labels), generator)`` for `ebm.train`.

    Args:
        dim: the encoder's output dimension d.
        n_classes: K, the number of pseudo-label clusters.
        augment: optional ``augment(x, generator) -> x'`` applied to each batch.

    Shapes: ``batch = (x (n, *event), labels (n,) long in [0, K))`` → scalar. The model is a
    `JointEmbeddingEnergy` (its encoder ``f`` is trained) or a bare encoder ``(n, *event) -> (n, d)``;
    the linear classifier ``(d -> K)`` is this module's parameter.

    Raises:
        ValueError: a batch without labels, labels out of range or of the wrong length, features
            of the wrong dimension; TypeError: features in another dtype than the classifier.
    """

    def __init__(self, dim: int, n_classes: int, augment=None):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.augment = augment
        self.classifier = nn.Linear(self.dim, self.n_classes)

    def data_event_shape(self, model: nn.Module):
        """One training example's shape for `ebm.train`'s data check (``model.x_event_shape`` of a joint energy)."""
        return getattr(model, "x_event_shape", None)

    def forward(self, model: nn.Module, batch, generator: torch.Generator | None = None) -> Tensor:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(format_error("batch", "(x, pseudo_labels)", type(batch).__name__, "train on data=(x_train, cluster_pseudo_labels(pretrained, x_train, K))"))
        x, y = batch
        check_tensor("x", x, floating=True, nonempty=True, finite=True)
        check_tensor("labels", y, ndim=1)
        if y.is_floating_point() or y.shape[0] != x.shape[0]:
            raise ValueError(format_error("labels", f"({x.shape[0]},) integer pseudo-labels", f"{y.dtype} shape {tuple(y.shape)}", "pass cluster_pseudo_labels(...) for the same rows"))
        if bool((y < 0).any() or (y >= self.n_classes).any()):
            raise ValueError(format_error("labels", f"values in [0, {self.n_classes})", f"range [{int(y.min())}, {int(y.max())}]", "build PseudoLabelClassification(n_classes=K) with the k-means K"))
        f = TwoViewObjective.encoder_of(model)
        if self.augment is not None:
            x = self.augment(x, generator)
        if isinstance(f, nn.Module):
            check_module_dtype("x", x, f, "encoder")
        try:
            z = f(x)
        except RuntimeError as err:  # a shape the encoder cannot take: say so here, not deep inside torch
            raise ValueError(format_error("x", "inputs of the shape the encoder takes", f"shape {tuple(x.shape)} ({str(err).splitlines()[0][:120]})", "pass the training inputs (n, *event) the encoder was built for")) from err
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError(format_error("model", f"an encoder with output (n, {self.dim}) (dim)", f"output shape {tuple(z.shape)}", "build PseudoLabelClassification(dim=...) with the encoder's output size"))
        check_module_dtype("model output", z, self.classifier, "classifier")
        return F.cross_entropy(self.classifier(z), y)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_classes={self.n_classes}"
