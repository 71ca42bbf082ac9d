"""How well does a model fit? Kernel discrepancies and two-sample tests from samples and scores.

* `kernel_stein_discrepancy` — needs only the model's score ``s(x) = -∇E(x)`` and samples ``x``
  from the distribution under test: no partition function, no samples from the model.
* `mmd` — compares two sets of samples (model samples against data, say).
* `fisher_divergence` — compares the model's score with a known true score at given points.
* `classifier_two_sample_test` — a classifier's held-out accuracy at telling the two sets apart.

Kernels (``r = x - y``, ``h`` the bandwidth, ``c``, ``β`` the IMQ constants)::

    RBF:  k(x, y) = exp(-‖r‖² / (2h²))          IMQ:  k(x, y) = (c² + ‖r‖²)^β,  -1 < β < 0

``bandwidth="median"`` (the default) sets ``h`` to the median of the pairwise distances between the
pooled points (the median heuristic; Gretton et al. 2012, §8); the bandwidth used is returned in
the result, so a reported number always says which kernel produced it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ebm._validation import check_choice, check_generator, check_has_values, check_int, check_positive, check_probability, check_tensor, format_error

__all__ = [
    "DiscrepancyResult",
    "median_bandwidth",
    "kernel_stein_discrepancy",
    "mmd",
    "fisher_divergence",
    "classifier_two_sample_test",
]


@dataclass
class DiscrepancyResult:
    """A discrepancy or test statistic with what produced it.

    Attributes:
        statistic: the estimate (a float64 scalar tensor; for KSD and MMD the unbiased U-statistic,
            which can be slightly negative when the two distributions agree).
        bandwidth: the kernel bandwidth used (None where no kernel is involved).
        p_value: the test's p-value where one was computed, else None.
        extras: method-specific numbers (e.g. the classifier's accuracy and test-set size).
    """

    statistic: Tensor
    bandwidth: float | None = None
    p_value: float | None = None
    extras: dict | None = None

    def __float__(self) -> float:
        return float(self.statistic)


def _as_points(name: str, x) -> Tensor:
    x = check_has_values(name, check_tensor(name, x, min_ndim=2, floating=True, finite=True, nonempty=True))
    return x.flatten(1)  # (n, d): an event of any shape is a flat vector for the kernel


def _pairwise_sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """‖x_i − y_j‖² ``(n, m)``, clamped at 0 (the expansion can round slightly below)."""
    return (x.square().sum(1, keepdim=True) + y.square().sum(1) - 2 * x @ y.T).clamp_min_(0)


def median_bandwidth(x: Tensor, y: Tensor | None = None, *, max_points: int = 2000) -> float:
    """The median heuristic: the median distance between distinct pooled points.

    Args:
        x: ``(n, *event)`` points; ``y``: optional second set, pooled with ``x``.
        max_points: the median is taken over the first ``max_points`` pooled points (the heuristic
            is a scale, not an estimate that needs every pair; this bounds the cost at 4·10⁶ pairs).

    Returns:
        The bandwidth ``h > 0`` (a float).

    Raises:
        ValueError: fewer than two distinct points (no scale to read off).
    """
    pts = _as_points("x", x)
    if y is not None:
        pts = torch.cat([pts, _as_points("y", y)])
    pts = pts[:max_points].double()
    d2 = _pairwise_sq_dists(pts, pts)
    off = d2[~torch.eye(len(pts), dtype=torch.bool, device=pts.device)]
    off = off[off > 0]
    if off.numel() == 0:
        raise ValueError(format_error("x", "at least two distinct points to set the bandwidth", "all points equal", "pass bandwidth= explicitly"))
    return float(off.median().sqrt())


def _bandwidth(bandwidth, x: Tensor, y: Tensor | None = None) -> float:
    if isinstance(bandwidth, str):
        check_choice("bandwidth", bandwidth, ["median"])
        return median_bandwidth(x, y)
    return check_positive("bandwidth", bandwidth, fix="pass a positive kernel bandwidth, or bandwidth='median'")


def _kernel_profile(kernel: str, d2: Tensor, h: float, c: float, beta: float) -> tuple[Tensor, Tensor, Tensor]:
    """``φ(t)``, ``φ'(t)``, ``φ''(t)`` at ``t = ‖r‖²`` for ``k(x, y) = φ(‖x − y‖²)``."""
    if kernel == "rbf":
        phi = torch.exp(-d2 / (2 * h * h))
        return phi, -phi / (2 * h * h), phi / (4 * h**4)
    base = c * c + d2
    return base.pow(beta), beta * base.pow(beta - 1), beta * (beta - 1) * base.pow(beta - 2)


def kernel_stein_discrepancy(
    score_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    kernel: str = "rbf",
    bandwidth: float | str = "median",
    imq_c: float = 1.0,
    imq_beta: float = -0.5,
) -> DiscrepancyResult:
    """Kernel Stein discrepancy KSD² between the model with score ``s`` and the samples ``x``.

    ``KSD² = E_{x,x'~q} u_p(x, x')`` with the Stein kernel (``r = x − x'``, ``k = φ(‖r‖²)``)::

        u_p(x, x') = k s(x)·s(x') + s(x)·∇_{x'}k + ∇_x k·s(x') + tr ∇_x∇_{x'} k
                   = φ s·s' − 2φ' s·r + 2φ' r·s' − 2dφ' − 4φ''‖r‖²,

    estimated by the U-statistic ``1/(n(n−1)) Σ_{i≠j} u_p(x_i, x_j)`` (unbiased; zero in expectation
    when ``q = p``). Needs no normalising constant: only the score.

    References: Liu, Lee & Jordan (2016), "A Kernelized Stein Discrepancy for Goodness-of-fit Tests",
    ICML, arXiv:1602.03253 (the U-statistic, eq. 14); Chwialkowski, Strathmann & Gretton (2016),
    arXiv:1602.02964; Gorham & Mackey (2017), "Measuring Sample Quality with Kernels",
    arXiv:1703.01717 (the IMQ kernel, β ∈ (−1, 0), which detects non-convergence where RBF can fail
    in higher dimensions).

    Args:
        score_fn: ``(n, *event) -> (n, *event)``, the model's score ``-∇E``: an ``ebm.Energy``'s
            ``score`` method, or any callable.
        x: samples ``(n, *event)``, n ≥ 2.
        kernel: ``"rbf"`` or ``"imq"``.
        bandwidth: RBF bandwidth ``h`` or ``"median"`` (ignored by IMQ, whose scale is ``imq_c``).
        imq_c, imq_beta: IMQ constants, ``c > 0`` and ``−1 < β < 0`` (defaults 1 and −½ as in
            Gorham & Mackey 2017).

    Returns:
        DiscrepancyResult with the float64 U-statistic and the bandwidth used.

    Raises:
        ValueError/TypeError: bad samples, a score of the wrong shape or non-finite, bad constants.

    Example:
        >>> from ebm.energies import Gaussian
        >>> g = Gaussian(torch.zeros(2), torch.eye(2))
        >>> ksd = kernel_stein_discrepancy(g.score, g.sample(500, generator=torch.Generator().manual_seed(0)))
        >>> abs(float(ksd)) < 0.05
        True
    """
    if not callable(score_fn):
        raise TypeError(format_error("score_fn", "a callable x -> score (e.g. energy.score)", type(score_fn).__name__, "pass energy.score"))
    check_has_values("x", check_tensor("x", x, min_ndim=2, floating=True, finite=True, nonempty=True))
    n = x.shape[0]
    if n < 2:
        raise ValueError(format_error("x", "at least 2 samples (the U-statistic averages over pairs)", f"{n}", "pass more samples"))
    check_choice("kernel", kernel, ["rbf", "imq"])
    c = check_positive("imq_c", imq_c)
    if not (isinstance(imq_beta, (int, float)) and -1 < imq_beta < 0):
        raise ValueError(format_error("imq_beta", "a number in (-1, 0)", repr(imq_beta), "pass imq_beta=-0.5"))
    h = _bandwidth(bandwidth, x) if kernel == "rbf" else None
    with torch.no_grad():
        s = score_fn(x)
    if not isinstance(s, Tensor) or s.shape != x.shape:
        raise ValueError(format_error("score_fn(x)", f"a tensor of shape {tuple(x.shape)} like x", f"{getattr(s, 'shape', type(s).__name__)}", "return -dE/dx with the shape of x"))
    if not bool(torch.isfinite(s).all()):
        raise ValueError(format_error("score_fn(x)", "finite scores at the samples", "non-finite scores", "check the model at these points"))
    xs, s = x.flatten(1).double(), s.flatten(1).double()  # (n, d)
    d = xs.shape[1]
    d2 = _pairwise_sq_dists(xs, xs)  # (n, n)
    phi, dphi, ddphi = _kernel_profile(kernel, d2, h or 1.0, c, float(imq_beta))
    s_dot_r = (s * xs).sum(1, keepdim=True) - s @ xs.T  # s_i·(x_i − x_j)  (n, n)
    r_dot_s = xs @ s.T - (xs * s).sum(1)  # (x_i − x_j)·s_j  (n, n)
    u = phi * (s @ s.T) - 2 * dphi * s_dot_r + 2 * dphi * r_dot_s - 2 * d * dphi - 4 * ddphi * d2
    u.fill_diagonal_(0)
    stat = u.sum() / (n * (n - 1))
    return DiscrepancyResult(stat, bandwidth=h, extras={"kernel": kernel, "n": n})


def mmd(
    x: Tensor,
    y: Tensor,
    *,
    bandwidth: float | str = "median",
    n_permutations: int = 0,
    generator: torch.Generator | None = None,
) -> DiscrepancyResult:
    """Unbiased squared maximum mean discrepancy between samples ``x ~ p`` and ``y ~ q`` (RBF kernel).

    ``MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j) − 2/(mn) Σ_{i,j} k(x_i, y_j)``

    (Gretton, Borgwardt, Rasch, Schölkopf & Smola 2012, "A Kernel Two-Sample Test", JMLR 13,
    Lemma 6). Its expectation is exactly MMD², zero when ``p = q``. With ``n_permutations > 0`` it
    also returns the permutation-test p-value ``(1 + #{MMD²_perm ≥ MMD²}) / (1 + n_permutations)``.

    Args:
        x: ``(m, *event)``, m ≥ 2; y: ``(n, *event)``, n ≥ 2, the same event shape.
        bandwidth: RBF bandwidth or ``"median"`` (median heuristic over the pooled points).
        n_permutations: permutations for the p-value (0: none).
        generator: for the permutations.

    Returns:
        DiscrepancyResult: float64 statistic, bandwidth, p-value (or None).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> r = mmd(torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g) + 1.0)
        >>> float(r) > 0.05
        True
    """
    xs, ys = _as_points("x", x), _as_points("y", y)
    if xs.shape[1] != ys.shape[1] or x.shape[1:] != y.shape[1:]:
        raise ValueError(format_error("y", f"samples with the event shape of x {tuple(x.shape[1:])}", f"{tuple(y.shape[1:])}", "compare samples of the same space"))
    for name, t in (("x", xs), ("y", ys)):
        if t.shape[0] < 2:
            raise ValueError(format_error(name, "at least 2 samples (the unbiased estimate averages over pairs)", f"{t.shape[0]}", "pass more samples"))
    if xs.device != ys.device:
        raise ValueError(format_error("y", f"a tensor on {xs.device} like x", f"{ys.device}", f"move it with y.to({str(xs.device)!r})"))
    n_permutations = check_int("n_permutations", n_permutations, minimum=0)
    check_generator("generator", generator, xs.device)
    h = _bandwidth(bandwidth, x, y)
    pooled = torch.cat([xs, ys]).double()  # (m + n, d)
    k = torch.exp(-_pairwise_sq_dists(pooled, pooled) / (2 * h * h))  # (m + n, m + n)
    m = xs.shape[0]

    def statistic(idx: Tensor | None) -> Tensor:
        kk = k if idx is None else k[idx][:, idx]
        kxx, kyy, kxy = kk[:m, :m], kk[m:, m:], kk[:m, m:]
        nx, ny = kxx.shape[0], kyy.shape[0]
        return (
            (kxx.sum() - kxx.diagonal().sum()) / (nx * (nx - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (ny * (ny - 1))
            - 2 * kxy.mean()
        )

    stat = statistic(None)
    p_value = None
    if n_permutations:
        total = pooled.shape[0]
        exceed = sum(bool(statistic(torch.randperm(total, generator=generator, device=pooled.device)) >= stat) for _ in range(n_permutations))
        p_value = (1 + exceed) / (1 + n_permutations)
    return DiscrepancyResult(stat, bandwidth=h, p_value=p_value, extras={"m": m, "n": ys.shape[0]})


def fisher_divergence(energy, x: Tensor, true_score: Callable[[Tensor], Tensor] | Tensor) -> Tensor:
    """Fisher divergence ``½ E_x ‖s_θ(x) − s(x)‖²`` between a model and a known target, at points ``x``.

    ``s_θ = −∇E_θ`` is the model's score and ``s`` the target's. It is the quantity that score
    matching minimises (Hyvärinen 2005, "Estimation of Non-Normalized Statistical Models by Score
    Matching", JMLR 6), here computed directly because the true score is known (synthetic targets).

    Args:
        energy: an ``ebm.Energy`` (its ``score`` is used) or a callable returning the model's score.
        x: evaluation points ``(n, *event)``, usually samples of the target.
        true_score: the target's score, a callable ``x -> (n, *event)`` or a tensor of that shape.

    Returns:
        Scalar float64 tensor.

    Example:
        >>> from ebm.energies import Gaussian
        >>> model = Gaussian(torch.zeros(2), torch.eye(2))
        >>> float(fisher_divergence(model, torch.ones(4, 2), lambda x: -x))
        0.0
    """
    check_tensor("x", x, min_ndim=1, floating=True, finite=True, nonempty=True)
    score_fn = getattr(energy, "score", None) or (energy if callable(energy) else None)
    if score_fn is None:
        raise TypeError(format_error("energy", "an ebm.Energy or a score callable", type(energy).__name__, "pass energy or energy.score"))
    model = score_fn(x)
    target = true_score(x) if callable(true_score) else true_score
    for name, t in (("energy.score(x)", model), ("true_score", target)):
        if not isinstance(t, Tensor) or t.shape != x.shape:
            raise ValueError(format_error(name, f"a tensor of shape {tuple(x.shape)} like x", f"{getattr(t, 'shape', type(t).__name__)}", "return scores with the shape of x"))
        check_tensor(name, t, floating=True, finite=True)
    diff = (model.detach().double() - target.detach().double()).reshape(x.shape[0], -1)  # (n, d)
    return 0.5 * diff.square().sum(1).mean()


def classifier_two_sample_test(
    x: Tensor,
    y: Tensor,
    *,
    classifier: str | object = "knn",
    test_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> DiscrepancyResult:
    """Classifier two-sample test: can a classifier tell ``x`` from ``y`` on held-out points?

    The pooled, labelled points are split at random; a classifier is fitted on one part and its
    accuracy ``acc`` measured on the other. Under ``p = q`` no classifier beats chance, and
    ``n_te · acc ~ Binomial(n_te, ½)``: the one-sided p-value is ``P(Binomial(n_te, ½) ≥ n_te·acc)``
    (Lopez-Paz & Oquab 2017, "Revisiting Classifier Two-Sample Tests", ICLR, arXiv:1610.06545).
    The statistic is ``acc − ½`` (0 when indistinguishable, up to ½).

    Args:
        x: ``(m, *event)``; y: ``(n, *event)``, the same event shape; at least 4 points each.
        classifier: ``"knn"`` (k-nearest neighbours with ``k = ⌈√n_train⌉``, the default: no tuning,
            consistent), ``"logistic"``, ``"mlp"`` (scikit-learn, seeded from ``generator``), or any
            object with scikit-learn's ``fit(X, y)`` / ``predict(X)``.
        test_fraction: share of the pooled points held out, in (0, 1).
        generator: for the split (and the seed of a scikit-learn model).

    Returns:
        DiscrepancyResult: statistic ``acc − ½``, the p-value, and ``extras`` with ``accuracy`` and
        ``n_test``.
    """
    from scipy.stats import binom

    xs, ys = _as_points("x", x), _as_points("y", y)
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(format_error("y", f"samples with the event shape of x {tuple(x.shape[1:])}", f"{tuple(y.shape[1:])}", "compare samples of the same space"))
    for name, t in (("x", xs), ("y", ys)):
        if t.shape[0] < 4:
            raise ValueError(format_error(name, "at least 4 samples (some to fit, some to test)", f"{t.shape[0]}", "pass more samples"))
    test_fraction = check_probability("test_fraction", test_fraction)
    check_generator("generator", generator, "cpu")
    if isinstance(classifier, str):
        check_choice("classifier", classifier, ["knn", "logistic", "mlp"])
    elif not (hasattr(classifier, "fit") and hasattr(classifier, "predict")):
        raise TypeError(format_error("classifier", "'knn', 'logistic', 'mlp' or an object with fit/predict", type(classifier).__name__, "pass a scikit-learn classifier"))
    pooled = torch.cat([xs, ys]).detach().double().cpu().numpy()  # (m + n, d)
    labels = torch.cat([torch.zeros(len(xs)), torch.ones(len(ys))]).numpy()
    total = len(pooled)
    perm = torch.randperm(total, generator=generator).numpy()
    n_test = max(2, min(total - 2, int(round(test_fraction * total))))
    test, fit = perm[:n_test], perm[n_test:]
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    if classifier == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        model = KNeighborsClassifier(n_neighbors=max(1, math.ceil(math.sqrt(len(fit)))))
    elif classifier == "logistic":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=1000)
    elif classifier == "mlp":
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=500, random_state=seed)
    else:
        model = classifier
    model.fit(pooled[fit], labels[fit])
    correct = int((model.predict(pooled[test]) == labels[test]).sum())
    accuracy = correct / n_test
    p_value = float(binom.sf(correct - 1, n_test, 0.5))  # P(Binomial ≥ correct)
    return DiscrepancyResult(torch.tensor(accuracy - 0.5, dtype=torch.float64), p_value=p_value, extras={"accuracy": accuracy, "n_test": n_test})
