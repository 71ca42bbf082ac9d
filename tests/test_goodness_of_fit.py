"""Goodness of fit: KSD, MMD, Fisher divergence, classifier two-sample test, ECE and AUROC,
each against an independent computation (double sums, autograd kernels, sklearn)."""

import math

import pytest
import torch

from ebm.energies import Gaussian
from ebm.evaluate import (
    classifier_two_sample_test,
    expected_calibration_error,
    fisher_divergence,
    kernel_stein_discrepancy,
    median_bandwidth,
    mmd,
    ood_auroc,
)


def _stein_kernel_by_autograd(score_fn, x, kernel, h, c=1.0, beta=-0.5):
    """u_p(x_i, x_j) by the definition, differentiating the kernel with autograd (pair by pair)."""
    s = score_fn(x)
    n, d = x.shape
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            a = x[i].clone().requires_grad_(True)
            b = x[j].clone().requires_grad_(True)
            r2 = (a - b).square().sum()
            k = torch.exp(-r2 / (2 * h * h)) if kernel == "rbf" else (c * c + r2) ** beta
            (ga, gb) = torch.autograd.grad(k, (a, b), create_graph=True)
            trace = sum(torch.autograd.grad(ga[t], b, retain_graph=True)[0][t] for t in range(d))
            total = total + k * (s[i] @ s[j]) + s[i] @ gb + ga @ s[j] + trace
    return total / (n * (n - 1))


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_ksd_equals_the_definition_on_small_inputs(kernel, generator):
    target = Gaussian(torch.tensor([0.5, -0.2]), torch.tensor([[1.0, 0.3], [0.3, 0.7]])).double()
    x = torch.randn(7, 2, generator=generator, dtype=torch.float64)
    got = kernel_stein_discrepancy(target.score, x, kernel=kernel, bandwidth=0.8)
    want = _stein_kernel_by_autograd(target.score, x, kernel, 0.8)
    torch.testing.assert_close(got.statistic, want, rtol=1e-10, atol=1e-12)


def test_ksd_is_near_zero_on_exact_samples_and_grows_with_a_shift(generator):
    target = Gaussian(torch.zeros(2), torch.eye(2)).double()
    x = target.sample(800, generator=generator)
    # Under p = q the U-statistic has mean 0 and standard deviation O(1/n). Over 20 seeds at n = 800
    # (measured when the test was written): sd 0.0021, largest |KSD| 0.0046; shifted by 0.25 the
    # smallest value was 0.047. So 0.01 (~5 sd) and 0.02 separate the cases with room on both sides.
    base = float(kernel_stein_discrepancy(target.score, x))
    assert abs(base) < 0.01
    shifted = [float(kernel_stein_discrepancy(target.score, x + shift)) for shift in (0.25, 0.5, 1.0)]
    assert base < shifted[0] < shifted[1] < shifted[2]
    assert shifted[0] > 0.02


def test_mmd_equals_the_double_sum_and_is_unbiased(generator):
    x = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(5, 3, generator=generator, dtype=torch.float64) + 0.3
    h = 1.3
    k = lambda a, b: math.exp(-float((a - b).square().sum()) / (2 * h * h))
    m, n = len(x), len(y)
    want = (
        sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        + sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        - 2 * sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    )
    assert float(mmd(x, y, bandwidth=h)) == pytest.approx(want, rel=1e-12)
    # Unbiased: over 400 repeats of equal distributions the mean is 0 within 4 standard errors.
    stats = torch.tensor([float(mmd(torch.randn(30, 2, generator=generator), torch.randn(30, 2, generator=generator), bandwidth=1.0)) for _ in range(400)])
    assert abs(float(stats.mean())) < 4 * float(stats.std()) / 20


def test_mmd_permutation_test_detects_a_shift(generator):
    x = torch.randn(100, 2, generator=generator)
    same = mmd(x, torch.randn(100, 2, generator=generator), n_permutations=99, generator=generator)
    shifted = mmd(x, torch.randn(100, 2, generator=generator) + 0.8, n_permutations=99, generator=generator)
    assert shifted.p_value == pytest.approx(0.01) and same.p_value > 0.05
    assert same.bandwidth == pytest.approx(median_bandwidth(x, torch.randn(100, 2, generator=generator)), rel=0.3)


def test_fisher_divergence_closed_form():
    # model N(0, I), target N(μ, I): s_θ − s = −μ at every point, so the divergence is ½‖μ‖².
    model = Gaussian(torch.zeros(3), torch.eye(3)).double()
    mu = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float(fisher_divergence(model, x, lambda z: -(z - mu))) == pytest.approx(0.5 * float(mu.square().sum()))


def test_classifier_two_sample_test(generator):
    x = torch.randn(300, 2, generator=generator)
    same = classifier_two_sample_test(x, torch.randn(300, 2, generator=generator), generator=generator)
    different = classifier_two_sample_test(x, torch.randn(300, 2, generator=generator) * 0.3, generator=generator)
    assert same.p_value > 0.01 and abs(same.extras["accuracy"] - 0.5) < 0.1
    assert different.p_value < 1e-6 and different.extras["accuracy"] > 0.75


def test_ece_against_a_direct_loop(generator):
    logits = torch.randn(200, 4, generator=generator) * 2
    labels = torch.randint(0, 4, (200,), generator=generator)
    probs = logits.double().softmax(1)
    conf, pred = probs.max(1)
    want = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            want += float(inside.double().mean()) * abs(float((pred[inside] == labels[inside]).double().mean()) - float(conf[inside].mean()))
    assert float(expected_calibration_error(logits, labels, n_bins=10)) == pytest.approx(want, abs=1e-12)


def test_auroc_matches_sklearn_with_ties(generator):
    from sklearn.metrics import roc_auc_score

    a = torch.randint(0, 5, (40,), generator=generator).double()
    b = torch.randint(-2, 3, (30,), generator=generator).double()
    want = roc_auc_score([1] * 40 + [0] * 30, torch.cat([a, b]).numpy())
    assert float(ood_auroc(a, b)) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: kernel_stein_discrepancy(lambda x: x, torch.zeros(1, 2)), ValueError, "at least 2"),
        (lambda: kernel_stein_discrepancy(lambda x: x[:, :1], torch.randn(5, 2)), ValueError, "shape"),
        (lambda: kernel_stein_discrepancy(lambda x: x, torch.randn(5, 2), kernel="cosine"), ValueError, "kernel"),
        (lambda: kernel_stein_discrepancy(lambda x: x, torch.randn(5, 2), bandwidth=-1.0), ValueError, "bandwidth"),
        (lambda: kernel_stein_discrepancy(lambda x: x, torch.randn(5, 2), kernel="imq", imq_beta=0.5), ValueError, "imq_beta"),
        (lambda: kernel_stein_discrepancy(lambda x: x * float("nan"), torch.randn(5, 2)), ValueError, "finite"),
        (lambda: mmd(torch.randn(5, 2), torch.randn(5, 3)), ValueError, "event shape"),
        (lambda: mmd(torch.randn(5, 2), torch.randn(1, 2)), ValueError, "at least 2"),
        (lambda: mmd(torch.zeros(5, 2), torch.zeros(5, 2)), ValueError, "distinct"),
        (lambda: mmd([[0.0, 1.0]], torch.randn(5, 2)), TypeError, "torch.Tensor"),
        (lambda: fisher_divergence(Gaussian(torch.zeros(2), torch.eye(2)), torch.randn(4, 2), torch.zeros(4, 3)), ValueError, "shape"),
        (lambda: classifier_two_sample_test(torch.randn(3, 2), torch.randn(10, 2)), ValueError, "at least 4"),
        (lambda: classifier_two_sample_test(torch.randn(10, 2), torch.randn(10, 2), classifier="tree"), ValueError, "classifier"),
        (lambda: expected_calibration_error(torch.randn(4, 3), torch.tensor([0, 1, 2, 3])), ValueError, "class indices"),
        (lambda: expected_calibration_error(torch.randn(4, 3), torch.zeros(4)), TypeError, "integer"),
        (lambda: expected_calibration_error(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), n_bins=0), ValueError, "n_bins"),
        (lambda: ood_auroc(torch.tensor([]), torch.tensor([1.0])), ValueError, "at least one"),
        (lambda: ood_auroc(torch.tensor([1.0, float("nan")]), torch.tensor([1.0])), ValueError, "finite"),
    ],
)
def test_bad_input_gets_a_clear_error(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)
