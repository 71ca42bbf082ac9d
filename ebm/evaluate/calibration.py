"""Classifier energies: calibration and out-of-distribution detection.

A classifier with logits ``f(x) (n, C)`` is also an energy model: ``E(x, y) = −f(x)[y]`` and
``E(x) = −logsumexp_y f(x)[y]`` (Grathwohl et al. 2020, "Your Classifier is Secretly an Energy Based
Model", arXiv:1912.03263). Two numbers say how good such a model is beyond accuracy: how well its
confidences match its accuracy (ECE), and how well its energy separates in- from out-of-distribution
inputs (AUROC).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_choice, check_has_values, check_int, check_tensor, format_error

__all__ = ["expected_calibration_error", "ood_auroc"]


def expected_calibration_error(logits: Tensor, labels: Tensor, *, n_bins: int = 15, inputs: str = "logits") -> Tensor:
    """Expected calibration error with equal-width confidence bins.

    ``ECE = Σ_b (|B_b| / n) · |acc(B_b) − conf(B_b)|`` where ``B_b`` holds the predictions whose top
    probability falls in ``((b−1)/M, b/M]`` (Naeini, Cooper & Hauskrecht 2015, AAAI; the 15-bin form
    of Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of Modern Neural Networks",
    arXiv:1706.04599).

    Args:
        logits: ``(n, C)`` logits (``inputs="logits"``) or probabilities (``inputs="probs"``), C ≥ 2.
        labels: ``(n,)`` integer class labels in ``[0, C)``.
        n_bins: number of equal-width bins M ≥ 1.
        inputs: ``"logits"`` or ``"probs"``.

    Returns:
        Scalar float64 tensor in [0, 1].

    Example:
        >>> logits = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
        >>> float(expected_calibration_error(logits, torch.tensor([0, 1]))) < 0.02
        True
    """
    check_choice("inputs", inputs, ["logits", "probs"])
    check_has_values("logits", check_tensor("logits", logits, ndim=2, floating=True, finite=True, nonempty=True))
    n, classes = logits.shape
    if classes < 2:
        raise ValueError(format_error("logits", "at least 2 classes (n, C)", f"shape {tuple(logits.shape)}", "pass one column per class"))
    _check_labels(labels, n, classes)
    n_bins = check_int("n_bins", n_bins, minimum=1)
    probs = logits.double().softmax(1) if inputs == "logits" else logits.double()
    if inputs == "probs" and (bool((probs < 0).any()) or not torch.allclose(probs.sum(1), torch.ones_like(probs[:, 0]), atol=1e-4)):
        raise ValueError(format_error("logits", "probabilities: non-negative rows summing to 1", "rows that are not distributions", "pass inputs='logits' or normalise the rows"))
    confidence, predicted = probs.max(1)  # (n,), (n,)
    correct = (predicted == labels.to(predicted.device)).double()
    # bin b holds confidences in ((b-1)/M, b/M]; a confidence of exactly 0 cannot occur (C ≥ 2 rows sum to 1).
    bins = (confidence * n_bins).ceil().long().clamp_(1, n_bins) - 1  # (n,)
    count = torch.zeros(n_bins, dtype=torch.float64, device=probs.device).index_add_(0, bins, torch.ones_like(confidence))
    acc = torch.zeros_like(count).index_add_(0, bins, correct)
    conf = torch.zeros_like(count).index_add_(0, bins, confidence)
    return (acc - conf).abs().sum() / n


def ood_auroc(in_scores: Tensor, out_scores: Tensor) -> Tensor:
    """Area under the ROC curve for telling in-distribution from out-of-distribution inputs.

    Scores are "in-distribution-ness": higher means more typical. For an energy model pass
    ``-energy(x)`` (JEM's ``logsumexp f(x)``; Liu, Wang, Owens & Li 2020, "Energy-based
    Out-of-distribution Detection", arXiv:2010.03759). AUROC equals the probability that a random
    in-distribution score exceeds a random out-of-distribution one, ties counted half (the
    Mann–Whitney U statistic divided by ``n_in · n_out``; Hendrycks & Gimpel 2017, arXiv:1610.02136).

    Args:
        in_scores: ``(n_in,)``; out_scores: ``(n_out,)``; finite, non-empty.

    Returns:
        Scalar float64 tensor in [0, 1] (0.5: no separation).

    Example:
        >>> float(ood_auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])))
        1.0
    """
    a = check_has_values("in_scores", check_tensor("in_scores", in_scores, ndim=1, floating=True, finite=True, nonempty=True)).double()
    b = check_has_values("out_scores", check_tensor("out_scores", out_scores, ndim=1, floating=True, finite=True, nonempty=True)).double()
    pooled = torch.cat([a, b.to(a.device)])
    # Mid-ranks (ties share their average rank), then U = R_in − n_in(n_in + 1)/2.
    order = pooled.argsort()
    sorted_vals = pooled[order]
    ranks = torch.empty_like(pooled)
    ranks[order] = torch.arange(1, len(pooled) + 1, dtype=torch.float64, device=pooled.device)
    _, inverse, counts = torch.unique_consecutive(sorted_vals, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), dtype=torch.float64, device=pooled.device).index_add_(0, inverse, ranks[order])
    ranks[order] = (sums / counts)[inverse]
    n_in, n_out = len(a), len(b)
    u = ranks[:n_in].sum() - n_in * (n_in + 1) / 2
    return u / (n_in * n_out)


def _check_labels(labels, n: int, classes: int) -> Tensor:
    check_tensor("labels", labels, ndim=1)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(format_error("labels", "an integer tensor of class indices", f"dtype {labels.dtype}", "pass labels.long()"))
    if labels.shape[0] != n:
        raise ValueError(format_error("labels", f"{n} labels (one per row of logits)", f"{labels.shape[0]}", "pass one label per example"))
    if bool((labels < 0).any()) or bool((labels >= classes).any()):
        raise ValueError(format_error("labels", f"class indices in [0, {classes})", f"range [{int(labels.min())}, {int(labels.max())}]", "relabel the classes 0..C-1"))
    return labels
