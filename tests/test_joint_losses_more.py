"""MMCR, KoLeo, SIGReg / LeJEPA, MSN, EMP-SSL and FroSSL: each against an independent numpy / loop
computation of its paper's formula and a closed form where one exists; float64 gradchecks;
batch-permutation and scale invariances; bad input with a "Fix:" message."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ebm.objectives import EMPSSL, MMCR, MSN, FroSSL, KoLeo, LeJEPA, SIGReg, total_coding_rate
from ebm.objectives.lejepa import random_directions
from ebm.objectives.msn import sharpen, sinkhorn_balance


def views(k=2, n=6, d=4, seed=0, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=g, dtype=torch.float64)
    return [base + noise * torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(k)]


def unit_rows(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


# ---------------------------------------------------------------- MMCR
def test_mmcr_matches_numpy_svd_loop():
    vs = views(k=3, n=5, d=4)
    z = np.stack([unit_rows(v.numpy()) for v in vs])  # (k, n, d)
    lam = 0.3
    c = z.mean(0)
    local = sum(np.linalg.svd(z[:, i, :], compute_uv=False).sum() for i in range(z.shape[1])) / z.shape[1]
    expected = -np.linalg.svd(c, compute_uv=False).sum() + lam * local
    assert MMCR(lmbda=lam)(*vs).item() == pytest.approx(expected, rel=1e-12)


def test_mmcr_closed_form_orthonormal_centroids():
    # k identical views whose n <= d rows are orthonormal: ‖C‖_* = n and each Z_i = k copies of a
    # unit row, rank one with ‖Z_i‖_* = sqrt(k).  L = -n + λ sqrt(k).
    n, d, k, lam = 3, 5, 4, 0.2
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    rows = 2.5 * q[:n]  # any positive scale: the loss normalises
    assert MMCR(lmbda=lam)(*([rows] * k)).item() == pytest.approx(-n + lam * math.sqrt(k), rel=1e-12)


def test_mmcr_gradcheck_permutation_and_scale():
    vs = [v.requires_grad_(True) for v in views(k=2, n=5, d=3)]
    assert torch.autograd.gradcheck(lambda a, b: MMCR(lmbda=0.1)(a, b), vs)
    perm = torch.tensor([3, 0, 4, 1, 2])
    scale = torch.rand(5, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + 0.5
    loss = MMCR(lmbda=0.1)
    base = loss(*vs).item()
    assert loss(*[v[perm] for v in vs]).item() == pytest.approx(base, rel=1e-12)
    assert loss(*[v * scale for v in vs]).item() == pytest.approx(base, rel=1e-12)


# ---------------------------------------------------------------- KoLeo
def test_koleo_matches_brute_force_loop():
    (x,) = views(k=1, n=7, d=3)
    z = unit_rows(x.numpy())
    total = 0.0
    for i in range(len(z)):
        rho = min(np.sqrt(((z[i] - z[j]) ** 2).sum()) for j in range(len(z)) if j != i)
        total += -math.log(rho + 1e-8)
    assert KoLeo()(x).item() == pytest.approx(total / len(z), rel=1e-12)
    a, b = views(k=2, n=7, d=3, seed=4)
    assert KoLeo()(a, b).item() == pytest.approx(KoLeo()(a).item() + KoLeo()(b).item(), rel=1e-12)  # summed over views


def test_koleo_closed_form_regular_polygon():
    # n points evenly on the unit circle: every nearest neighbour is 2 sin(π/n) away.
    n = 9
    angle = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    x = 3.0 * torch.stack([angle.cos(), angle.sin()], 1)
    assert KoLeo(eps=1e-12)(x).item() == pytest.approx(-math.log(2 * math.sin(math.pi / n)), rel=1e-10)


def test_koleo_gradcheck_permutation_scale_duplicates():
    (x,) = views(k=1, n=6, d=3, seed=5)
    assert torch.autograd.gradcheck(lambda t: KoLeo()(t), (x.requires_grad_(True),))
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    assert KoLeo()(x[perm]).item() == pytest.approx(KoLeo()(x).item(), rel=1e-12)
    assert KoLeo()(4.0 * x).item() == pytest.approx(KoLeo()(x).item(), rel=1e-12)
    dup = torch.cat([x[:3], x[:1]]).detach().requires_grad_(True)  # a duplicated point: -log(ε), finite gradient
    loss = KoLeo()(dup)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(dup.grad).all()


# ---------------------------------------------------------------- SIGReg / LeJEPA
def _epps_pulley_numpy(x, knots=17, t_max=3.0):
    """N ∫_{-T}^{T} |ECF(t) - e^{-t²/2}|² e^{-t²/2} dt on the symmetric trapezoid grid, x (n,)."""
    t = np.linspace(-t_max, t_max, 2 * knots - 1)
    ecf = np.array([np.mean(np.exp(1j * tk * x)) for tk in t])
    integrand = np.abs(ecf - np.exp(-t**2 / 2)) ** 2 * np.exp(-t**2 / 2)
    return len(x) * np.trapezoid(integrand, t)


def test_sigreg_matches_numpy_trapezoid_loop():
    vs = views(k=2, n=20, d=3, seed=6)
    a = random_directions(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = np.mean([_epps_pulley_numpy(v.numpy() @ a.numpy()[:, m]) for v in vs for m in range(5)])
    assert SIGReg()(*vs, directions=a).item() == pytest.approx(expected, rel=1e-10)
    # the generator draws the same directions
    assert SIGReg(n_directions=5)(*vs, generator=torch.Generator().manual_seed(0)).item() == pytest.approx(expected, rel=1e-10)


def test_sigreg_closed_form_epps_pulley_integral():
    # Over the whole line, with w = φ: N ∫ |φ_N - φ|² φ dt =
    #   N [ sqrt(2π)/N² Σ_jk e^{-(x_j-x_k)²/2} - (2 sqrt(π)/N) Σ_j e^{-x_j²/4} + sqrt(2π/3) ].
    # A fine grid on [-12, 12] makes the trapezoid error negligible (the integrand is analytic).
    x = torch.randn(15, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    n = len(x)
    diff = x[:, None] - x[None, :]
    closed = n * (math.sqrt(2 * math.pi) / n**2 * torch.exp(-diff**2 / 2).sum() - 2 * math.sqrt(math.pi) / n * torch.exp(-x**2 / 4).sum() + math.sqrt(2 * math.pi / 3))
    z = x[:, None]  # (n, 1); the only unit direction is ±1
    got = SIGReg(knots=2001, t_max=12.0)(z, directions=torch.ones(1, 1, dtype=torch.float64))
    assert got.item() == pytest.approx(closed.item(), rel=1e-9)


def test_sigreg_separates_gaussian_from_collapsed_and_is_permutation_invariant():
    g = torch.Generator().manual_seed(8)
    gauss = torch.randn(512, 8, dtype=torch.float64, generator=g)
    collapsed = 0.01 * torch.randn(512, 8, dtype=torch.float64, generator=g)
    a = random_directions(8, 64, dtype=torch.float64, generator=g)
    s_gauss, s_collapsed = SIGReg()(gauss, directions=a).item(), SIGReg()(collapsed, directions=a).item()
    # Under H0 the statistic is O(1) (a weighted sum of χ² terms); a collapsed batch grows like N.
    assert s_gauss < 2.0 and s_collapsed > 50.0
    perm = torch.randperm(512, generator=g)
    assert SIGReg()(gauss[perm], directions=a).item() == pytest.approx(s_gauss, rel=1e-10)


def test_lejepa_matches_formula_and_gradcheck():
    vs = views(k=4, n=6, d=3, seed=9)
    a = random_directions(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lam, n_global = 0.3, 2
    z = np.stack([v.numpy() for v in vs])
    centre = z[:n_global].mean(0)
    inv = np.mean([(z[v, i, j] - centre[i, j]) ** 2 for v in range(4) for i in range(6) for j in range(3)])
    sig = np.mean([_epps_pulley_numpy(z[v] @ a.numpy()[:, m]) for v in range(4) for m in range(4)])
    got = LeJEPA(lambda_=lam, n_global=n_global)(*vs, directions=a)
    assert got.item() == pytest.approx(lam * sig + (1 - lam) * inv, rel=1e-10)
    leaves = [v.clone().requires_grad_(True) for v in vs[:3]]
    assert torch.autograd.gradcheck(lambda *t: LeJEPA(lambda_=lam, n_global=1)(*t, directions=a), leaves)
    perm = torch.tensor([5, 2, 0, 1, 4, 3])
    assert LeJEPA(lambda_=lam, n_global=n_global)(*[v[perm] for v in vs], directions=a).item() == pytest.approx(got.item(), rel=1e-10)


# ---------------------------------------------------------------- MSN
def _msn_numpy(anchors, targets, protos, tau, temp_t, iters, lam):
    def softmax(s):
        e = np.exp(s - s.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    a, t, q = unit_rows(anchors), unit_rows(targets), unit_rows(protos)
    n, k = len(t), len(q)
    p_t = softmax(t @ q.T / tau) ** (1 / temp_t)
    p_t /= p_t.sum(1, keepdims=True)
    b = p_t / p_t.sum()
    for _ in range(iters):
        for c in range(k):
            b[:, c] /= b[:, c].sum() * k
        for r in range(n):
            b[r] /= b[r].sum() * n
    b *= n
    p_a = softmax(a @ q.T / tau)
    m = len(a) // n
    ce = np.mean([-(b[r % n] * np.log(p_a[r])).sum() for r in range(m * n)])
    mean_p = p_a.mean(0)
    return ce + lam * (math.log(k) + (mean_p * np.log(mean_p)).sum())


def test_msn_matches_numpy_loop():
    g = torch.Generator().manual_seed(10)
    n, d, k, m = 5, 4, 7, 3
    anchors = torch.randn(m * n, d, dtype=torch.float64, generator=g)
    targets = torch.randn(n, d, dtype=torch.float64, generator=g)
    msn = MSN(d, k, temperature=0.3, target_temperature=0.5, sinkhorn_iterations=4, me_max_weight=0.7, generator=g).double()
    expected = _msn_numpy(anchors.numpy(), targets.numpy(), msn.prototypes.detach().numpy(), 0.3, 0.5, 4, 0.7)
    assert msn(anchors, targets).item() == pytest.approx(expected, rel=1e-12)


def test_msn_sub_terms():
    p = torch.softmax(torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(11)), 1)
    s = sharpen(p, 0.25)
    torch.testing.assert_close(s, p**4 / (p**4).sum(1, keepdim=True))
    b = sinkhorn_balance(p, 200)  # converged: rows sum to 1, every prototype receives n/K
    torch.testing.assert_close(b.sum(1), torch.ones(6, dtype=torch.float64))
    torch.testing.assert_close(b.sum(0), torch.full((4,), 6 / 4, dtype=torch.float64))
    assert sinkhorn_balance(p, 0) is p


def test_msn_gradcheck_no_target_gradient_invariances():
    g = torch.Generator().manual_seed(12)
    anchors = torch.randn(8, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    targets = torch.randn(4, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    msn = MSN(3, 5, generator=g).double()
    assert torch.autograd.gradcheck(lambda a: msn(a, targets), (anchors,))
    msn(anchors, targets).backward()
    assert targets.grad is None and msn.prototypes.grad is not None  # targets are fixed; prototypes learn
    perm = torch.tensor([2, 0, 3, 1])
    base = msn(anchors, targets).item()
    permuted_anchors = anchors.reshape(2, 4, 3)[:, perm].reshape(8, 3)  # the same permutation in every view
    assert msn(permuted_anchors, targets[perm]).item() == pytest.approx(base, rel=1e-12)
    assert msn(3.0 * anchors, 0.5 * targets).item() == pytest.approx(base, rel=1e-12)


# ---------------------------------------------------------------- EMP-SSL
def test_emp_ssl_matches_numpy_logdet_and_cosine_loops():
    vs = views(k=4, n=6, d=3, seed=13)
    eps, lam = 0.2, 5.0
    z = np.stack([unit_rows(v.numpy()) for v in vs])
    v_, n, d = z.shape
    rate = np.mean([0.5 * np.linalg.slogdet(np.eye(d) + d / (n * eps) * z[v].T @ z[v])[1] for v in range(v_)])
    mean = z.mean(0)
    cos = np.mean([z[v, i] @ mean[i] / (np.linalg.norm(z[v, i]) * np.linalg.norm(mean[i])) for v in range(v_) for i in range(n)])
    assert EMPSSL(eps=eps, invariance_weight=lam)(*vs).item() == pytest.approx(-rate - lam * cos, rel=1e-12)


def test_emp_ssl_closed_form_orthonormal_batch_and_sign():
    # n = d orthonormal rows: ZᵀZ = I, so R = (d/2) log(1 + d/(n ε)); identical views agree (cos = 1).
    d, eps, lam = 4, 0.2, 3.0
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=torch.Generator().manual_seed(14)))
    r = d / 2 * math.log(1 + d / (d * eps))
    assert total_coding_rate(q, eps).item() == pytest.approx(r, rel=1e-12)
    assert EMPSSL(eps=eps, invariance_weight=lam)(q, q, q).item() == pytest.approx(-r - lam, rel=1e-12)
    # the paper's sign: a small step down the loss gradient (λ = 0) raises the coding rate.
    (x,) = views(k=1, n=8, d=4, seed=15)
    x.requires_grad_(True)
    EMPSSL(invariance_weight=0.0)(x).backward()
    before = total_coding_rate(F.normalize(x.detach(), dim=1)).item()
    after = total_coding_rate(F.normalize(x.detach() - 1e-3 * x.grad, dim=1)).item()
    assert after > before


def test_emp_ssl_gradcheck_permutation_and_scale():
    vs = [v.requires_grad_(True) for v in views(k=3, n=5, d=3, seed=16)]
    assert torch.autograd.gradcheck(lambda *t: EMPSSL(invariance_weight=2.0)(*t), vs)
    perm = torch.tensor([4, 2, 0, 3, 1])
    base = EMPSSL()(*vs).item()
    assert EMPSSL()(*[v[perm] for v in vs]).item() == pytest.approx(base, rel=1e-12)
    assert EMPSSL()(*[7.0 * v for v in vs]).item() == pytest.approx(base, rel=1e-12)


# ---------------------------------------------------------------- FroSSL
@pytest.mark.parametrize("n", [7, 3])  # n > d and n < d take the two Gram branches
def test_frossl_matches_numpy_eigenvalue_formula(n):
    vs = views(k=3, n=n, d=4, seed=17)
    lam = 0.6
    z = [v.numpy() / np.linalg.norm(v.numpy(), axis=0, keepdims=True) for v in vs]  # columns to unit norm
    reg = 0.0
    for zv in z:
        eig = np.linalg.eigvalsh(zv @ zv.T)  # n x n Gram, always (the loss picks the smaller)
        reg += math.log((eig**2).sum()) - 2 * math.log(eig.sum())
    mean = sum(z) / 3
    inv = sum(((zv - mean) ** 2).sum() for zv in z) * 3 / n
    assert FroSSL(invariance_weight=lam)(*vs).item() == pytest.approx(reg + lam * inv, rel=1e-12)


def test_frossl_closed_form_and_invariances():
    # identical views with orthogonal columns: K = I/d, log ‖K‖_F² = -log d per view, no invariance cost.
    d = 4
    q, _ = torch.linalg.qr(torch.randn(6, d, dtype=torch.float64, generator=torch.Generator().manual_seed(18)))
    assert FroSSL()(q, q).item() == pytest.approx(-2 * math.log(d), rel=1e-12)
    vs = [v.requires_grad_(True) for v in views(k=2, n=5, d=3, seed=19)]
    assert torch.autograd.gradcheck(lambda *t: FroSSL()(*t), vs)
    perm = torch.tensor([1, 4, 0, 2, 3])
    col_scale = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)  # per-dimension scaling: normalised away
    base = FroSSL()(*vs).item()
    assert FroSSL()(*[v[perm] for v in vs]).item() == pytest.approx(base, rel=1e-12)
    assert FroSSL()(*[v * col_scale for v in vs]).item() == pytest.approx(base, rel=1e-12)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: MMCR()(torch.randn(4, 3).long(), torch.randn(4, 3).long()), TypeError, "floating"),
        (lambda: MMCR()(torch.randn(4, 3), torch.randn(4, 3, dtype=torch.float64)), TypeError, "dtype"),
        (lambda: KoLeo()(torch.randn(2, 4, 3)), ValueError, "2-D"),
        (lambda: KoLeo()([[1.0, 2.0], [3.0, 4.0]]), TypeError, "torch.Tensor"),
        (lambda: SIGReg()(torch.randn(4, 3), generator="seed"), TypeError, "generator"),
        (lambda: SIGReg(n_directions=0), ValueError, "n_directions"),
        (lambda: LeJEPA()(), ValueError, "view"),
        (lambda: MSN(3, 4)(torch.randn(0, 3), torch.randn(2, 3)), ValueError, "anchors"),
        (lambda: MSN(3, 4)(torch.randn(4, 3), torch.randn(2, 5)), ValueError, "dim"),
        (lambda: MSN(3, 4, sinkhorn_iterations=-1), ValueError, "sinkhorn_iterations"),
        (lambda: EMPSSL()(torch.randn(4, 3), torch.randn(5, 3)), ValueError, "z_2"),
        (lambda: FroSSL()(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 2)), ValueError, "z_3"),
        (lambda: KoLeo()(torch.tensor([[0.0, 1.0], [float("nan"), 1.0]])), ValueError, "finite"),
        (lambda: FroSSL()(torch.randn(4, 3), torch.full((4, 3), float("inf"))), ValueError, "z_2: expected finite"),
        (lambda: MSN(3, 4)(torch.randn(4, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)), TypeError, "prototypes"),
        (lambda: MSN(3, 4)(torch.randn(4, 3), torch.tensor([[0.0, 1.0, float("nan")], [1.0, 0.0, 0.0]])), ValueError, "targets: expected finite"),
    ],
)
def test_bad_input_messages(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)


# ---------------------------------------------------------------- through TwoViewObjective and ebm.train
def _task(name, f, d=4):
    from ebm.augment import GaussianJitter
    from ebm.objectives import EMATarget
    from ebm.objectives.two_view import TwoViewObjective

    jit = GaussianJitter(0.1)
    losses = {"mmcr": MMCR(), "koleo": KoLeo(), "sigreg": SIGReg(n_directions=32), "lejepa": LeJEPA(n_directions=32), "emp_ssl": EMPSSL(), "frossl": FroSSL()}
    if name == "msn":
        return TwoViewObjective(MSN(d, 5), jit, target=EMATarget(f, 0.99))  # query_key mode: anchors, EMA targets
    return TwoViewObjective(losses[name], jit)


@pytest.mark.parametrize("name", ["mmcr", "koleo", "sigreg", "lejepa", "msn", "emp_ssl", "frossl"])
def test_trains_through_ebm_train_reproducibly(name):
    from ebm.energies import JointEmbeddingEnergy
    from ebm.train import train

    runs = []
    for run in range(2):
        torch.manual_seed(0)  # the encoder's initialisation only; the run's randomness is the generator
        f = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        task = _task(name, f)
        torch.manual_seed(100 + run)  # a different global state per run: nothing may draw from it
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 2, generator=g)
        before = [p.detach().clone() for p in f.parameters()]
        hist = train(JointEmbeddingEnergy(f, event_shape=(2,)), task, x, epochs=2, batch_size=32, lr=1e-2, generator=g, progress=False)
        assert len(hist.losses) == 4 and all(math.isfinite(v) for v in hist.losses)
        assert any(not torch.equal(a, b) for a, b in zip(before, f.parameters()))
        runs.append(hist.losses)
    assert runs[0] == runs[1]  # SIGReg's directions come from the training generator


def test_mmcr_identical_views_have_finite_gradients():
    # k identical views: every Z_i has rank one (k - 1 zero singular values); svdvals' gradient stays finite.
    (x,) = views(k=1, n=5, d=4, seed=20)
    x.requires_grad_(True)
    MMCR(lmbda=0.1)(x, x, x).backward()
    assert torch.isfinite(x.grad).all()
