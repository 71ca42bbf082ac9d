"""ProPos: prototype scattering plus positive sampling, a BYOL-style loss made for clustering.

Online network ``h`` (encoder + projector), a predictor ``g`` (owned by this loss) and an EMA target
``h'``. With unit vectors ``ô = h(x)/‖h(x)‖`` and ``t̂ = h'(x)/‖h'(x)‖`` of two views a, b:

Positive sampling alignment (PSA): the target embedding is replaced by a sample of a Gaussian around
it, ``t̃ = t + σ ε``, ``ε ~ N(0, I)`` -- a neighbour in embedding space treated as a positive:

    L_psa = ½ [ ‖ĝ(o_a) - t̃̂_b‖² + ‖ĝ(o_b) - t̃̂_a‖² ]   (mean over the batch; ĝ, t̃̂ unit vectors)

Prototype scattering loss (PSL): with the clusters of an E-step (k-means of the target embeddings of
the whole data set, `ClusteringEStep`), the batch's prototypes ``μ_k = normalise(mean_{i∈k} ô_i)``
(online) and ``μ'_k = normalise(mean_{i∈k} t̂_i)`` (target, other view) are contrasted:

    L_psl = -(1/|S|) Σ_{k∈S} log[ exp(μ_k·μ'_k / τ) / Σ_{j∈S} exp(μ_k·μ'_j / τ) ]

over the set S of clusters present in the batch, symmetrised over the views. The loss is
``L = L_psa + λ L_psl`` (only ``L_psa`` before the first E-step).

Differences from the paper, on purpose: a sample's cluster is the nearest E-step centroid of its
two target views' mean direction at training time, not a stored per-sample label (they agree while
the target has not moved; no sample indices are needed and DDP works on the gathered batch).

Reference: Huang, Chen, Zhang & Shan (2022), "Learning Representation for Clustering via Prototype
Scattering and Positive Sampling", IEEE TPAMI, arXiv:2111.11821 (defaults here: σ = 0.001,
τ = 0.5, λ = 0.1, as we read the paper's settings).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_nonnegative, check_positive, check_tensor, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair
from ebm.objectives.cluster_step import spherical_kmeans
from ebm.registry import register_objective

__all__ = ["ProPos", "prototype_scattering", "check_module_dtype"]


def check_module_dtype(name: str, z: Tensor, module: nn.Module, owner: str) -> None:
    """Raise TypeError unless ``z`` has the dtype and device of ``module``'s parameters."""
    p = next(module.parameters(), None)
    if p is not None and (z.dtype != p.dtype or z.device != p.device):
        raise TypeError(format_error(name, f"dtype {p.dtype} on {p.device} (the {owner}'s parameters)", f"dtype {z.dtype} on {z.device}", f"convert the loss with .to({name}.dtype) or the embeddings with .to({p.dtype})"))


def prototype_scattering(o: Tensor, t: Tensor, labels: Tensor, n_clusters: int, temperature: float) -> Tensor:
    """PSL: InfoNCE between online and target prototypes of the clusters present in the batch.

    Args:
        o: online embeddings ``(n, d)`` (gradients flow); t: target embeddings ``(n, d)`` (constants).
        labels: cluster of each row ``(n,)`` long in [0, n_clusters); temperature: τ.

    Returns:
        A scalar (0 when a single cluster is present).
    """
    o, t = F.normalize(o, dim=1), F.normalize(t.detach(), dim=1)
    onehot = F.one_hot(labels, n_clusters).to(o.dtype)  # (n, K)
    present = onehot.sum(0) > 0  # (K,)
    mu = F.normalize(onehot.T[present] @ o, dim=1)  # (|S|, d) online prototypes
    mu_t = F.normalize(onehot.T[present] @ t, dim=1)  # (|S|, d) target prototypes
    logits = mu @ mu_t.T / temperature  # (|S|, |S|)
    return F.cross_entropy(logits, torch.arange(logits.shape[0], device=o.device))


def _predictor(dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, dim))


def _example():
    g = torch.Generator().manual_seed(0)
    loss = ProPos(4, 3, hidden=8, generator=g)
    loss.e_step(torch.randn(30, 4, generator=g), generator=g)
    z = [torch.randn(8, 4, generator=g) for _ in range(4)]
    return loss, (z[0].requires_grad_(True), z[1], z[2].requires_grad_(True), z[3])


@register_objective(
    "propos",
    example=_example,
    bad_inputs=[
        (lambda: ProPos(4, 3)(*[torch.randn(8, 3) for _ in range(4)]), ValueError, "dim"),
        (lambda: ProPos(4, 1), ValueError, "n_clusters"),
        (lambda: ProPos(4, 3, sigma=-1.0), ValueError, "sigma"),
        (lambda: ProPos(4, 3)(*[torch.randn(8, 4, dtype=torch.float64) for _ in range(4)]), TypeError, "dtype"),
        (lambda: ProPos(4, 3).e_step(torch.randn(9, 5)), ValueError, "features"),
    ],
)
class ProPos(nn.Module):
    """ProPos loss: positive-sampling alignment (BYOL-like) plus prototype scattering over E-step clusters.

    Args:
        dim: embedding dimension d (projector output).
        n_clusters: K of the E-step (default: the number of classes expected).
        hidden: predictor hidden width (default 4 d); ignored if ``predictor`` is given.
        predictor: optional predictor module ``(n, d) -> (n, d)``.
        temperature: τ of the PSL (default 0.5).
        sigma: σ >= 0 of the positive sampling (default 0.001).
        weight: λ of the PSL (default 0.1).
        generator: the positive-sampling noise's generator when ``forward`` is given none.

    Shapes: ``forward(o_a, t_b, o_b, t_a, generator=None)``: online ``o (n, d)`` and target ``t (n, d)``
    embeddings of views a and b (the `TwoViewObjective` "distill" order) → scalar. Buffers
    ``centroids (K, d)``, ``ready ()``; `e_step(features (N, d))` refits the centroids.

    Raises:
        ValueError: bad hyper-parameters or shapes; TypeError: embeddings in another dtype than the predictor.

    Example:
        >>> propos = ProPos(dim=8, n_clusters=10)
        >>> task = TwoViewObjective(propos, DigitAugment(), target=EMATarget(encoder, 0.99))
    """

    def __init__(self, dim: int, n_clusters: int, *, hidden: int | None = None, predictor: nn.Module | None = None, temperature: float = 0.5, sigma: float = 1e-3, weight: float = 0.1, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.n_clusters = check_int("n_clusters", n_clusters, minimum=2)
        self.temperature = check_positive("temperature", temperature)
        self.sigma = check_nonnegative("sigma", sigma)
        self.weight = check_nonnegative("weight", weight)
        check_generator("generator", generator)
        self.generator = generator
        if predictor is not None and not isinstance(predictor, nn.Module):
            raise TypeError(format_error("predictor", "an nn.Module (n, d) -> (n, d)", type(predictor).__name__, "pass nn.Sequential(...) or None"))
        self.predictor = predictor if predictor is not None else _predictor(self.dim, check_int("hidden", hidden or 4 * self.dim, minimum=1))
        self.register_buffer("centroids", torch.zeros(self.n_clusters, self.dim))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def e_step(self, features: Tensor, generator: torch.Generator | None = None) -> None:
        """k-means (spherical) of the target embeddings of the data set ``features (N, d)``."""
        check_tensor("features", features, ndim=2, floating=True, finite=True)
        if features.shape[1] != self.dim:
            raise ValueError(format_error("features", f"embeddings of dim {self.dim}", f"shape {tuple(features.shape)}", "embed the data with the target network"))
        c, _ = spherical_kmeans(features, self.n_clusters, generator=generator)
        self.centroids.copy_(c.to(self.centroids))
        self.ready.fill_(True)

    def alignment(self, o: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        """PSA for one direction: ``mean_i ‖ĝ(o_i) - normalise(t_i + σ ε_i)‖²``."""
        noise = torch.randn(t.shape, generator=generator, dtype=t.dtype, device=t.device) if self.sigma > 0 else 0.0
        p = F.normalize(self.predictor(o), dim=1)
        return (p - F.normalize(t.detach() + self.sigma * noise, dim=1)).pow(2).sum(1).mean()

    def forward(self, o_a: Tensor, t_b: Tensor, o_b: Tensor, t_a: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_pair(o_a, t_b, names=("o_a", "t_b"))
        check_pair(o_b, t_a, names=("o_b", "t_a"))
        check_pair(o_a, o_b, names=("o_a", "o_b"))
        if o_a.shape[1] != self.dim:
            raise ValueError(format_error("o_a", f"embeddings of dim {self.dim}", f"shape {tuple(o_a.shape)}", "build ProPos(dim=...) with the projector's output size"))
        check_module_dtype("o_a", o_a, self.predictor, "predictor")
        check_generator("generator", generator)
        gen = generator if generator is not None else self.generator
        o_a, t_b, o_b, t_a = gather(o_a), gather(t_b.detach()), gather(o_b), gather(t_a.detach())
        loss = 0.5 * (self.alignment(o_a, t_b, gen) + self.alignment(o_b, t_a, gen))
        if bool(self.ready):
            with torch.no_grad():
                c = self.centroids.to(o_a.dtype)
                labels = (F.normalize(F.normalize(t_a, dim=1) + F.normalize(t_b, dim=1), dim=1) @ c.T).argmax(1)  # (n,)
            psl = 0.5 * (prototype_scattering(o_a, t_b, labels, self.n_clusters, self.temperature) + prototype_scattering(o_b, t_a, labels, self.n_clusters, self.temperature))
            loss = loss + self.weight * psl
        return loss

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_clusters={self.n_clusters}, temperature={self.temperature:g}, sigma={self.sigma:g}, weight={self.weight:g}"
