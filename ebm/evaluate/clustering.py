"""Clustering scores against reference labels: Hungarian-matched accuracy, NMI and ARI.

A clustering names its clusters arbitrarily, so accuracy is measured after the best one-to-one
relabelling: with the contingency table ``N[k, c] = #{i : pred_i = k, label_i = c}``,

    ACC = max_{π one-to-one} (1/n) Σ_k N[k, π(k)]

found by the Hungarian algorithm (Kuhn 1955) on ``-N`` (`scipy.optimize.linear_sum_assignment`).
With more predicted clusters than classes the unmatched clusters count as errors, the convention
of the deep-clustering papers (e.g. Li et al. 2021, Contrastive Clustering, arXiv:2009.09687).
NMI (normalised mutual information, arithmetic normalisation) and ARI (adjusted Rand index,
Hubert & Arabie 1985) come from scikit-learn. All three are invariant to renaming clusters.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm._validation import format_error

__all__ = ["clustering_accuracy", "nmi", "ari"]


def _labels(name: str, v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        if v.is_floating_point() or v.is_complex():
            raise TypeError(format_error(name, "integer cluster / class labels", f"dtype {v.dtype}", f"convert with {name}.long() (or argmax the probabilities)"))
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.ndim != 1:
        raise ValueError(format_error(name, "a 1-D array of labels, shape (n,)", f"shape {a.shape}", f"flatten it: {name}.reshape(-1)"))
    if a.shape[0] == 0:
        raise ValueError(format_error(name, "at least one label", "an empty array", "pass the predictions of a non-empty data set"))
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(format_error(name, "integer cluster / class labels", f"dtype {a.dtype}", "convert to integers (or argmax the probabilities)"))
    return a


def _pair(pred, labels) -> tuple[np.ndarray, np.ndarray]:
    p, y = _labels("pred", pred), _labels("labels", labels)
    if p.shape != y.shape:
        raise ValueError(format_error("labels", f"one label per prediction, shape {p.shape}", f"shape {y.shape}", "score the predictions and labels of the same samples"))
    return p, y


def clustering_accuracy(pred, labels) -> float:
    """Accuracy of a clustering after the best one-to-one matching of clusters to classes.

    ``ACC = max_π (1/n) Σ_i 1[π(pred_i) = label_i]`` over one-to-one maps π (Hungarian algorithm).

    Args:
        pred: predicted cluster ids ``(n,)`` (integers, any values).
        labels: reference classes ``(n,)`` (integers, any values).

    Returns:
        A float in ``[0, 1]``; 1 for a perfect clustering up to renaming.

    Raises:
        TypeError / ValueError: non-integer, non-1-D, empty or mismatched inputs.

    Example:
        >>> clustering_accuracy(torch.tensor([1, 1, 0, 0]), torch.tensor([0, 0, 1, 1]))
        1.0
    """
    from scipy.optimize import linear_sum_assignment

    p, y = _pair(pred, labels)
    pk, pi = np.unique(p, return_inverse=True)
    yk, yi = np.unique(y, return_inverse=True)
    table = np.zeros((len(pk), len(yk)), dtype=np.int64)  # (K_pred, K_true) contingency table
    np.add.at(table, (pi, yi), 1)
    rows, cols = linear_sum_assignment(-table)  # maximise matched counts
    return float(table[rows, cols].sum() / p.shape[0])


def nmi(pred, labels) -> float:
    """Normalised mutual information ``I(pred; labels) / mean(H(pred), H(labels))`` in ``[0, 1]`` (scikit-learn).

    Args / Raises: as `clustering_accuracy`.

    Example:
        >>> nmi(torch.tensor([0, 0, 1, 1]), torch.tensor([1, 1, 0, 0]))
        1.0
    """
    from sklearn.metrics import normalized_mutual_info_score

    p, y = _pair(pred, labels)
    return float(normalized_mutual_info_score(y, p))


def ari(pred, labels) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985): 1 for identical partitions, ≈ 0 for random ones.

    Args / Raises: as `clustering_accuracy`.

    Example:
        >>> ari(torch.tensor([0, 0, 1, 1]), torch.tensor([1, 1, 0, 0]))
        1.0
    """
    from sklearn.metrics import adjusted_rand_score

    p, y = _pair(pred, labels)
    return float(adjusted_rand_score(y, p))
