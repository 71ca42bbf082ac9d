"""Each joint-embedding loss against a direct, loop-by-loop implementation of its paper's formula
on fixed tensors; symmetry; stop-gradients; state buffers; bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from ebm.objectives import (
    BYOL, CPC, DCL, DCLW, DINO, PIRL, WMSE, BarlowTwins, Data2Vec, DeepCluster, EMATarget, InfoNCE, MoCo,
    SimSiam, SwAV, TiCo, VCReg, VICReg, cosine_momentum, sinkhorn_knopp,
)


def views(n=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=g, dtype=torch.float64)
    return base + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64), base + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64)


def cos(u, v):
    return float(u @ v / (u.norm() * v.norm()))


# ---------------------------------------------------------------- contrastive
def test_infonce_matches_nt_xent_loop():
    a, b = views()
    tau = 0.3
    z = torch.cat([a, b])
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        p = (i + n2 // 2) % n2
        denom = sum(math.exp(cos(z[i], z[k]) / tau) for k in range(n2) if k != i)
        total += -math.log(math.exp(cos(z[i], z[p]) / tau) / denom)
    assert InfoNCE(tau)(a, b).item() == pytest.approx(total / n2, rel=1e-10)
    assert InfoNCE(tau)(b, a).item() == pytest.approx(total / n2, rel=1e-10)  # symmetric


@pytest.mark.parametrize("weighted", [False, True])
def test_dcl_matches_loop(weighted):
    a, b = views()
    tau, sigma = 0.2, 0.5
    n = a.shape[0]

    def direction(u, v):
        w = [1.0] * n
        if weighted:
            e = [math.exp(cos(u[i], v[i]) / sigma) for i in range(n)]
            w = [2 - e[i] / (sum(e) / n) for i in range(n)]
        out = 0.0
        for i in range(n):
            neg = sum(math.exp(cos(u[i], v[k]) / tau) + math.exp(cos(u[i], u[k]) / tau) for k in range(n) if k != i)
            out += -w[i] * cos(u[i], v[i]) / tau + math.log(neg)
        return out / n

    expected = 0.5 * (direction(a, b) + direction(b, a))
    loss = (DCLW(tau, sigma) if weighted else DCL(tau))(a, b)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_moco_matches_formula_and_enqueues():
    a, b = views(n=4)
    moco = MoCo(4, queue_size=8, temperature=0.1, generator=torch.Generator().manual_seed(3)).double()
    queue = moco.queue.clone()
    expected = 0.0
    for i in range(4):
        q, k = a[i] / a[i].norm(), b[i] / b[i].norm()
        pos = math.exp(float(q @ k) / 0.1)
        neg = sum(math.exp(float(q @ queue[j]) / 0.1) for j in range(8))
        expected += -math.log(pos / (pos + neg))
    assert moco(a, b).item() == pytest.approx(expected / 4, rel=1e-10)
    torch.testing.assert_close(moco.queue[:4], F.normalize(b, dim=1))
    assert int(moco.pointer) == 4
    moco(a, b)
    assert int(moco.pointer) == 0  # wrapped around


def test_moco_keys_get_no_gradient_and_queue_multiple_error():
    a, b = views(n=4)
    a.requires_grad_(True), b.requires_grad_(True)
    MoCo(4, queue_size=8).double()(a, b).backward()
    assert a.grad is not None and b.grad is None
    with pytest.raises(ValueError, match="multiple of the global batch size 3"):
        MoCo(4, queue_size=8)(torch.randn(3, 4), torch.randn(3, 4))


def test_pirl_matches_formula_and_updates_bank():
    a, b = views(n=3)
    pirl = PIRL(5, 4, temperature=0.5, weight=0.25, momentum=0.5, generator=torch.Generator().manual_seed(1)).double()
    bank = pirl.bank.clone()
    index = torch.tensor([4, 0, 2])

    def nce(v):
        out = 0.0
        for r, i in enumerate(index.tolist()):
            u = v[r] / v[r].norm()
            h = [math.exp(float(u @ bank[j]) / 0.5) for j in range(5)]
            out += -math.log(h[i] / sum(h))
        return out / 3

    assert pirl(a, b, index).item() == pytest.approx(0.25 * nce(b) + 0.75 * nce(a), rel=1e-10)
    new = F.normalize(0.5 * bank[index] + 0.5 * F.normalize(a, dim=1), dim=1)
    torch.testing.assert_close(pirl.bank[index], new)
    torch.testing.assert_close(pirl.bank[1], bank[1])


# ---------------------------------------------------------------- regularised
def _var_cov_reference(z, gamma=1.0, eps=1e-4):
    n, d = z.shape
    mean = [sum(z[i, j].item() for i in range(n)) / n for j in range(d)]
    var = [sum((z[i, j].item() - mean[j]) ** 2 for i in range(n)) / (n - 1) for j in range(d)]
    v = sum(max(0.0, gamma - math.sqrt(var[j] + eps)) for j in range(d)) / d
    c = 0.0
    for j in range(d):
        for k in range(d):
            if j != k:
                cjk = sum((z[i, j].item() - mean[j]) * (z[i, k].item() - mean[k]) for i in range(n)) / (n - 1)
                c += cjk**2
    return v, c / d


def test_vicreg_matches_authors_formula():
    a, b = views(n=7, d=3)
    a = 0.4 * a  # small std so the variance hinge is active
    lam, mu, nu = 25.0, 25.0, 1.0
    n, d = a.shape
    inv = sum((a[i, j].item() - b[i, j].item()) ** 2 for i in range(n) for j in range(d)) / (n * d)
    va, ca = _var_cov_reference(a)
    vb, cb = _var_cov_reference(b)
    expected = lam * inv + mu * (va + vb) / 2 + nu * (ca + cb)
    assert VICReg(lam, mu, nu)(a, b).item() == pytest.approx(expected, rel=1e-10)
    assert VICReg()(b, a).item() == pytest.approx(expected, rel=1e-10)
    assert va > 0  # the hinge term was exercised
    assert VCReg(mu, nu)(a, b).item() == pytest.approx((mu * va + nu * ca + mu * vb + nu * cb) / 2, rel=1e-10)


def test_barlow_twins_matches_formula():
    a, b = views(n=8, d=3)
    n, d = a.shape

    def standardise(z):
        m = z.mean(0)
        s = torch.sqrt(((z - m) ** 2).mean(0) + 1e-5)
        return (z - m) / s

    za, zb = standardise(a), standardise(b)
    expected = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(za[k, i].item() * zb[k, j].item() for k in range(n)) / n
            expected += (1 - c) ** 2 if i == j else 5e-3 * c**2
    assert BarlowTwins()(a, b).item() == pytest.approx(expected, rel=1e-10)
    assert BarlowTwins()(b, a).item() == pytest.approx(expected, rel=1e-10)


def test_wmse_whitens_and_matches_formula():
    a, b = views(n=10, d=3)
    from ebm.objectives import whiten

    w = whiten(a)
    torch.testing.assert_close(w.T @ w / 9, torch.eye(3, dtype=torch.float64))  # identity covariance

    def white(z):  # an independent whitening: Σ^{-1/2} is any W with Wᵀ Σ W = I; use Cholesky via numpy solve
        zc = z - z.mean(0)
        cov = zc.T @ zc / (z.shape[0] - 1)
        L = torch.linalg.cholesky(cov)
        return zc @ torch.linalg.inv(L).T

    wa, wb = white(a), white(b)
    expected = sum((2 - 2 * cos(wa[i], wb[i])) for i in range(10)) / 10
    assert WMSE()(a, b).item() == pytest.approx(expected, rel=1e-9)


def test_wmse_batch_too_small():
    with pytest.raises(ValueError, match="batch too small for W-MSE"):
        WMSE()(torch.randn(8, 8), torch.randn(8, 8))


def test_tico_matches_formula_and_keeps_running_covariance():
    a, b = views(n=5, d=3)
    tico = TiCo(3, beta=0.9, rho=20.0).double()
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    C = torch.zeros(3, 3, dtype=torch.float64)
    expected = []
    for _ in range(2):
        C = 0.9 * C + 0.1 * sum(torch.outer(an[i], an[i]) for i in range(5)) / 5
        expected.append(-sum(float(an[i] @ bn[i]) for i in range(5)) / 5 + 20 * sum(float(an[i] @ C @ an[i]) for i in range(5)) / 5)
    assert tico(a, b).item() == pytest.approx(expected[0], rel=1e-10)
    assert tico(a, b).item() == pytest.approx(expected[1], rel=1e-10)
    tico.reset()
    assert tico.covariance.abs().sum() == 0


# ---------------------------------------------------------------- clustering
def test_sinkhorn_equal_partition():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(12, 4, generator=g, dtype=torch.float64)
    q = sinkhorn_knopp(s, epsilon=0.5, iterations=200)
    torch.testing.assert_close(q.sum(1), torch.ones(12, dtype=torch.float64))
    torch.testing.assert_close(q.sum(0), torch.full((4,), 3.0, dtype=torch.float64), atol=1e-6, rtol=0)


def test_swav_matches_formula():
    a, b = views(n=6, d=3)
    swav = SwAV(3, 4, temperature=0.1, epsilon=0.05, generator=torch.Generator().manual_seed(2)).double()
    c = F.normalize(swav.prototypes.detach(), dim=1)

    def codes(z):  # three Sinkhorn-Knopp iterations written out (Caron et al. 2020, Alg. 1)
        Q = torch.exp(F.normalize(z, dim=1) @ c.T / 0.05).T  # (K, n)
        Q = Q / Q.sum()
        K, n = Q.shape
        for _ in range(3):
            Q = Q / Q.sum(1, keepdim=True) / K
            Q = Q / Q.sum(0, keepdim=True) / n
        return (Q * n).T

    def logp(z):
        return F.log_softmax(F.normalize(z, dim=1) @ c.T / 0.1, dim=1)

    expected = -0.5 * ((codes(b) * logp(a)).sum(1) + (codes(a) * logp(b)).sum(1)).mean()
    assert swav(a, b).item() == pytest.approx(expected.item(), rel=1e-8)
    assert swav(b, a).item() == pytest.approx(expected.item(), rel=1e-8)


def test_deepcluster_cross_view_cluster_classification():
    a, b = views(n=8, d=3)
    dc = DeepCluster(3, 2, temperature=0.5, kmeans_iterations=0, generator=torch.Generator().manual_seed(0)).double()
    c = dc.centroids.clone()
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    ya, yb = (an @ c.T).argmax(1), (bn @ c.T).argmax(1)
    expected = 0.0
    for i in range(8):
        la, lb = an[i] @ c.T / 0.5, bn[i] @ c.T / 0.5
        expected += 0.5 * (-(la[yb[i]] - torch.logsumexp(la, 0)) - (lb[ya[i]] - torch.logsumexp(lb, 0))).item()
    assert dc(a, b).item() == pytest.approx(expected / 8, rel=1e-10)


def test_deepcluster_kmeans_moves_centroids_to_cluster_means():
    pts = torch.tensor([[1.0, 0.1], [1.0, -0.1], [-0.1, 1.0], [0.1, 1.0]], dtype=torch.float64)
    dc = DeepCluster(2, 2, kmeans_iterations=3).double()
    dc.centroids.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    dc(pts, pts)
    torch.testing.assert_close(dc.centroids, torch.eye(2, dtype=torch.float64))


# ---------------------------------------------------------------- distillation
def test_byol_formula_and_stop_gradient():
    p_a, z_b = views(seed=1)
    p_b, z_a = views(seed=2)
    for t in (p_a, z_b, p_b, z_a):
        t.requires_grad_(True)
    n = p_a.shape[0]
    expected = sum(2 - 2 * cos(p_a[i].detach(), z_b[i].detach()) + 2 - 2 * cos(p_b[i].detach(), z_a[i].detach()) for i in range(n)) / n
    loss = BYOL()(p_a, z_b, p_b, z_a)
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    loss.backward()
    assert p_a.grad is not None and p_b.grad is not None
    assert z_a.grad is None and z_b.grad is None


@pytest.mark.parametrize("stop", [True, False])
def test_simsiam_formula_and_stop_gradient_toggle(stop):
    p_a, z_b = views(seed=1)
    p_b, z_a = views(seed=2)
    for t in (p_a, z_b, p_b, z_a):
        t.requires_grad_(True)
    n = p_a.shape[0]
    expected = sum(-0.5 * cos(p_a[i].detach(), z_b[i].detach()) - 0.5 * cos(p_b[i].detach(), z_a[i].detach()) for i in range(n)) / n
    loss = SimSiam(stop_gradient=stop)(p_a, z_b, p_b, z_a)
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    loss.backward()
    assert p_a.grad is not None
    assert (z_b.grad is None) == stop


def test_dino_formula_centre_and_schedule():
    s_a, t_b = views(n=5, d=4, seed=3)
    s_b, t_a = views(n=5, d=4, seed=4)
    dino = DINO(4, student_temperature=0.1, teacher_temperature=0.07, warmup_teacher_temperature=0.04, warmup_steps=2, center_momentum=0.9).double()
    center = torch.zeros(4, dtype=torch.float64)

    def H(s, t, c, tau):
        pt = torch.softmax((t - c) / tau, dim=1)
        return -(pt * torch.log_softmax(s / 0.1, dim=1)).sum(1).mean().item()

    for step, tau in enumerate([0.04, 0.055, 0.07]):
        expected = 0.5 * (H(s_a, t_b, center, tau) + H(s_b, t_a, center, tau))
        assert dino.current_teacher_temperature() == pytest.approx(tau)
        assert dino(s_a, t_b, s_b, t_a).item() == pytest.approx(expected, rel=1e-10)
        center = 0.9 * center + 0.1 * torch.cat([t_b, t_a]).mean(0)
        torch.testing.assert_close(dino.center, center)
    t_b.requires_grad_(True), s_a.requires_grad_(True)
    dino(s_a, t_b).backward()
    assert s_a.grad is not None and t_b.grad is None


def test_dino_default_teacher_temperature_is_the_authors_constant_004():
    # Session 7 (issue 17): τ_t = 0.04 at every step by default (DINO's released default), τ_s = 0.1, m = 0.9.
    s_a, t_b = views(n=5, d=4, seed=3)
    dino = DINO(4).double()
    assert (dino.student_temperature, dino.warmup_steps, dino.center_momentum) == (0.1, 0, 0.9)
    for _ in range(3):
        assert dino.current_teacher_temperature() == 0.04
        pt = torch.softmax((t_b - dino.center) / 0.04, dim=1)
        expected = -(pt * torch.log_softmax(s_a / 0.1, dim=1)).sum(1).mean().item()
        assert dino(s_a, t_b).item() == pytest.approx(expected, rel=1e-10)
    dino.reset()
    assert int(dino.step) == 0 and dino.center.abs().sum() == 0


def test_ema_target_cosine_schedule():
    online = torch.nn.Linear(2, 2)
    target = EMATarget(online, base_momentum=0.9, total_steps=4)
    w0 = target.network.weight.clone()
    with torch.no_grad():
        online.weight.add_(1.0)
    assert target.momentum() == pytest.approx(0.9)
    target.update(online)
    torch.testing.assert_close(target.network.weight, 0.9 * w0 + 0.1 * online.weight)
    assert cosine_momentum(2, 4, 0.9) == pytest.approx(1 - 0.1 * 0.5)
    assert cosine_momentum(4, 4, 0.9) == pytest.approx(1.0)
    assert all(not p.requires_grad for p in target.parameters())


def test_cpc_matches_loop():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(4, 3, generator=g, dtype=torch.float64)
    z = torch.randn(4, 2, 5, generator=g, dtype=torch.float64)
    cpc = CPC(3, 5, steps=2).double()
    W = cpc.critics.detach()
    expected = 0.0
    for k in range(2):
        for i in range(4):
            f = [float(z[j, k] @ W[k] @ c[i]) for j in range(4)]
            expected += -(f[i] - math.log(sum(math.exp(v) for v in f)))
    assert cpc(c, z).item() == pytest.approx(expected / 8, rel=1e-10)


def test_data2vec_target_is_mean_of_normalised_top_layers():
    p, h1 = views(seed=5)
    _, h2 = views(seed=6)
    _, h3 = views(seed=7)

    def ln(h):
        return (h - h.mean(1, keepdim=True)) / torch.sqrt(h.var(1, unbiased=False, keepdim=True) + 1e-5)

    y = (ln(h2) + ln(h3)) / 2
    expected = F.smooth_l1_loss(p, y, beta=0.25)
    assert Data2Vec(top_k=2)(p, [h1, h2, h3]).item() == pytest.approx(expected.item(), rel=1e-10)


# ---------------------------------------------------------------- state travels in checkpoints
def test_stateful_buffers_round_trip_through_checkpoint(tmp_path):
    from ebm.train import load_checkpoint, save_checkpoint

    a, b = views(n=4)
    moco, dino, tico = MoCo(4, queue_size=8).double(), DINO(4).double(), TiCo(4).double()
    moco(a, b), dino(a, b), tico(a, b)
    save_checkpoint(tmp_path / "c.pt", moco=moco, dino=dino, tico=tico)
    moco2, dino2, tico2 = MoCo(4, queue_size=8).double(), DINO(4).double(), TiCo(4).double()
    load_checkpoint(tmp_path / "c.pt", moco=moco2, dino=dino2, tico=tico2)
    torch.testing.assert_close(moco2.queue, moco.queue)
    assert int(moco2.pointer) == 4
    torch.testing.assert_close(dino2.center, dino.center)
    torch.testing.assert_close(tico2.covariance, tico.covariance)


def test_rpc_matches_loop_formula():
    """RPC against a direct loop over pairs (Tsai et al. 2021, eq. 3, authors' negative set)."""
    from ebm.objectives import RPC

    g = torch.Generator().manual_seed(11)
    a = torch.randn(5, 3, generator=g, dtype=torch.float64)
    b = torch.randn(5, 3, generator=g, dtype=torch.float64)
    alpha, beta, gamma, tau = 0.5, 0.01, 1.0, 2.0
    n = a.shape[0]

    def terms(x, y):
        joint = sum(float(x[i] @ y[i]) / tau - beta / 2 * (float(x[i] @ y[i]) / tau) ** 2 for i in range(n)) / n
        negs = [float(x[i] @ y[j]) / tau for i in range(n) for j in range(n) if i != j]
        negs += [float(x[i] @ x[j]) / tau for i in range(n) for j in range(n) if i != j]
        marg = sum(alpha * f + gamma / 2 * f * f for f in negs) / len(negs)
        return joint, marg

    ja, ma = terms(a, b)
    jb, mb = terms(b, a)
    expected = -((ja + jb) / 2 - (ma + mb) / 2)
    got = RPC(alpha=alpha, beta=beta, gamma=gamma, temperature=tau)(a, b)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(RPC()(b, a)) == pytest.approx(float(RPC()(a, b)), rel=1e-12)  # symmetric
