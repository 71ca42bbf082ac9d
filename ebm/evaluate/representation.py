"""Representation monitors for joint-embedding training: collapse detectors and probes.

* `rank_me`: the effective rank of an embedding matrix (Garrido, Balestriero, Najman & LeCun 2022,
  "RankMe: Assessing the Downstream Performance of Pretrained Self-Supervised Representations by
  Their Rank", arXiv:2210.02885): with singular values ``σ_k`` of ``Z (n, d)``,

      p_k = σ_k / ‖σ‖₁ + ε,     RankMe(Z) = exp(-Σ_k p_k log p_k)     ∈ [1, min(n, d)]

  ≈ 1 at complete collapse (all embeddings on a line), ≈ d when every direction is used.
  RankMe is scale-invariant: embeddings that shrink towards 0 while keeping isotropic noise (e.g.
  behind a batch-norm in eval mode) can keep a high RankMe, so read it together with the absolute
  spectrum and `normalized_std`.
* `singular_values`: the (centred) spectrum, to plot on a log scale over training.
* `normalized_std`: the per-dimension standard deviation of ℓ2-normalised embeddings, averaged
  over dimensions: ≈ 1/√d for healthy isotropic embeddings, → 0 at collapse (Chen & He 2021,
  arXiv:2011.10566, Fig. 2).
* `linear_probe_accuracy`, `knn_accuracy`: frozen-feature classification with scikit-learn.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ebm._validation import check_int, check_positive, check_tensor, format_error

__all__ = ["rank_me", "singular_values", "normalized_std", "linear_probe_accuracy", "knn_accuracy"]


def _check_z(z, name: str = "z", min_rows: int = 1) -> Tensor:
    check_tensor(name, z, ndim=2, floating=True, finite=True)
    if z.shape[0] < min_rows:
        raise ValueError(format_error(name, f"at least {min_rows} rows", f"shape {tuple(z.shape)}", "pass more embeddings"))
    return z


@torch.no_grad()
def singular_values(z: Tensor, center: bool = True) -> Tensor:
    """Singular values of the (centred) embeddings, descending: ``(n, d) → (min(n, d),)``."""
    _check_z(z)
    if z.dtype in (torch.float16, torch.bfloat16):
        z = z.float()  # LAPACK has no half-precision SVD
    z = z - z.mean(0) if center else z
    return torch.linalg.svdvals(z)


@torch.no_grad()
def rank_me(z: Tensor, eps: float = 1e-7) -> float:
    """RankMe effective rank of ``z (n, d)`` (not centred, as in Garrido et al. 2022).

    Args:
        z: embeddings ``(n, d)``.
        eps: ε added to the normalised singular values (default 1e-7, the paper's).

    Returns:
        A float in ``[1, min(n, d)]`` (up to ε).

    Example:
        >>> rank_me(torch.randn(1000, 8))   # ≈ 8
    """
    _check_z(z)
    check_positive("eps", eps)
    s = torch.linalg.svdvals(z.double())
    p = s / s.sum().clamp_min(1e-300) + eps
    return float(torch.exp(-(p * torch.log(p)).sum()))


@torch.no_grad()
def normalized_std(z: Tensor) -> float:
    """Mean over dimensions of the std over samples of ``z / ‖z‖``; ≈ 1/√d healthy, 0 collapsed."""
    _check_z(z, min_rows=2)
    return float(F.normalize(z, dim=1).std(0).mean())


def _to_numpy(name, z, y):
    _check_z(z, name)
    if not isinstance(y, (torch.Tensor, np.ndarray)) or len(y) != z.shape[0]:
        raise ValueError(format_error(f"{name} labels", f"{z.shape[0]} labels", f"{type(y).__name__} of length {len(y) if hasattr(y, '__len__') else '?'}", "pass one label per embedding"))
    y = y.cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return z.detach().cpu().double().numpy(), y


def _check_split(train_z: Tensor, test_z: Tensor) -> None:
    if train_z.shape[1] != test_z.shape[1]:
        raise ValueError(format_error("test_z", f"embeddings of dimension {train_z.shape[1]} (train_z's)", f"shape {tuple(test_z.shape)}", "embed both splits with the same encoder"))


def linear_probe_accuracy(train_z: Tensor, train_y, test_z: Tensor, test_y, *, C: float = 1.0, max_iter: int = 2000) -> float:
    """Test accuracy of a logistic-regression probe on frozen, standardised features.

    Args:
        train_z, test_z: embeddings ``(n_train, d)``, ``(n_test, d)``.
        train_y, test_y: integer labels ``(n_train,)``, ``(n_test,)``.
        C: inverse L2 strength of scikit-learn's LogisticRegression.
        max_iter: >= 1 solver iterations.

    Returns:
        Accuracy in [0, 1].

    Raises:
        ValueError: non-finite or mis-shaped embeddings, label counts that do not match, splits of
            different dimension, or training labels of a single class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    a, ya = _to_numpy("train_z", train_z, train_y)
    b, yb = _to_numpy("test_z", test_z, test_y)
    _check_split(train_z, test_z)
    C, max_iter = check_positive("C", C), check_int("max_iter", max_iter, minimum=1)
    if len(np.unique(ya)) < 2:
        raise ValueError(format_error("train_y", "labels of at least 2 classes (a probe separates classes)", f"one class ({ya[0]!r})", "train the probe on a labelled split with several classes"))
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    probe.fit(a, ya)
    return float(probe.score(b, yb))


def knn_accuracy(train_z: Tensor, train_y, test_z: Tensor, test_y, *, k: int = 5, metric: str = "euclidean") -> float:
    """Test accuracy of a k-nearest-neighbour classifier on frozen features (k = 5, Euclidean by default).

    Args:
        train_z, test_z: embeddings ``(n_train, d)``, ``(n_test, d)``; train_y, test_y: labels.
        k: neighbours, 1 <= k <= n_train.  metric: a scikit-learn metric name or callable.

    Raises:
        ValueError: mis-shaped or non-finite embeddings, splits of different dimension, k > n_train.
    """
    from sklearn.neighbors import KNeighborsClassifier

    a, ya = _to_numpy("train_z", train_z, train_y)
    b, yb = _to_numpy("test_z", test_z, test_y)
    _check_split(train_z, test_z)
    k = check_int("k", k, minimum=1, maximum=train_z.shape[0])
    if not isinstance(metric, str) and not callable(metric):
        raise TypeError(format_error("metric", "a metric name (e.g. 'euclidean', 'cosine') or a callable", type(metric).__name__, "pass metric='euclidean'"))
    knn = KNeighborsClassifier(n_neighbors=k, metric=metric)
    knn.fit(a, ya)
    return float(knn.score(b, yb))
