"""DirectCLR, IFM, VICRegL and EBCLR: each against an independent loop / numpy computation of its
paper's formula, float64 gradchecks, batch-permutation (and scale) invariances, the method-specific
facts (DirectCLR ignores coordinates >= d0, IFM at ε = 0 is InfoNCE, VICRegL's matches on a
hand-made case, EBCLR's replay buffer and SGLD), bad input; their DDP equivalence is in test_joint_ddp.py."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ebm.augment import GaussianJitter
from ebm.energies import JointEmbeddingEnergy
from ebm.objectives import EBCLR, IFM, DirectCLR, InfoNCE, VICReg, VICRegL
from ebm.objectives.ebclr import ebclr_contrastive_term, ebclr_generative_term, marginal_log_density, pair_energy
from ebm.objectives.ifm import perturbed_similarities
from ebm.objectives.vicregl import affine_cell_locations, nearest_matches


def pair(n=6, d=4, seed=0, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=g, dtype=torch.float64)
    return base + noise * torch.randn(n, d, generator=g, dtype=torch.float64), base + noise * torch.randn(n, d, generator=g, dtype=torch.float64)


def unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def nt_xent_loop(a, b, tau, eps=0.0):
    """NT-Xent over 2n rows written as loops; the positive's cosine minus eps, the negatives' plus eps."""
    z = unit(np.concatenate([a, b]))
    m = len(z)
    n = m // 2
    total = 0.0
    for i in range(m):
        p = (i + n) % m
        num = math.exp((z[i] @ z[p] - eps) / tau)
        den = num + sum(math.exp((z[i] @ z[k] + eps) / tau) for k in range(m) if k not in (i, p))
        total -= math.log(num / den)
    return total / m


# ---------------------------------------------------------------- DirectCLR
def test_directclr_is_nt_xent_on_the_first_d0_coordinates():
    a, b = pair(n=5, d=6)
    expected = nt_xent_loop(a.numpy()[:, :3], b.numpy()[:, :3], 0.3)
    assert DirectCLR(3, temperature=0.3)(a, b).item() == pytest.approx(expected, rel=1e-12)


def test_directclr_gives_no_gradient_beyond_d0_and_gradchecks():
    a, b = (t.requires_grad_(True) for t in pair(n=5, d=6))
    DirectCLR(4)(a, b).backward()
    assert torch.all(a.grad[:, 4:] == 0) and torch.all(b.grad[:, 4:] == 0)
    assert a.grad[:, :4].abs().sum() > 0
    a2, b2 = (t.detach().requires_grad_(True) for t in pair(n=4, d=5, seed=1))
    assert torch.autograd.gradcheck(lambda x, y: DirectCLR(3, 0.5)(x, y), (a2, b2))


def test_directclr_permutation_and_scale_invariance():
    a, b = pair(n=6, d=5)
    perm = torch.tensor([2, 5, 0, 1, 4, 3])
    scale = torch.rand(6, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) + 0.5
    loss = DirectCLR(3)
    base = loss(a, b).item()
    assert loss(a[perm], b[perm]).item() == pytest.approx(base, rel=1e-12)
    assert loss(a * scale, b * scale).item() == pytest.approx(base, rel=1e-12)


# ---------------------------------------------------------------- IFM
def test_ifm_matches_loop_and_equals_infonce_at_zero_epsilon():
    a, b = pair(n=5, d=4)
    plain, adv = nt_xent_loop(a.numpy(), b.numpy(), 0.4), nt_xent_loop(a.numpy(), b.numpy(), 0.4, eps=0.15)
    assert IFM(0.15, temperature=0.4)(a, b).item() == pytest.approx((plain + adv) / 2, rel=1e-12)
    assert IFM(0.15, temperature=0.4, alpha=3.0)(a, b).item() == pytest.approx((plain + 3 * adv) / 4, rel=1e-12)
    assert IFM(0.0, temperature=0.4)(a, b).item() == pytest.approx(InfoNCE(0.4)(a, b).item(), rel=1e-12)


def test_ifm_perturbation_makes_the_task_harder_and_gradchecks():
    sim = torch.tensor([[0.9, 0.1], [0.2, 0.8]], dtype=torch.float64)
    pos = torch.eye(2, dtype=torch.bool)
    torch.testing.assert_close(perturbed_similarities(sim, pos, 0.1), torch.tensor([[0.8, 0.2], [0.3, 0.7]], dtype=torch.float64))
    a, b = pair(n=6, d=4)
    assert IFM(0.2)(a, b) > InfoNCE()(a, b)  # the perturbed term alone is a strictly harder task
    a2, b2 = (t.requires_grad_(True) for t in pair(n=4, d=3, seed=2))
    assert torch.autograd.gradcheck(lambda x, y: IFM(0.1, 0.5)(x, y), (a2, b2))


def test_ifm_permutation_and_scale_invariance():
    a, b = pair(n=6, d=4, seed=4)
    perm = torch.tensor([5, 3, 1, 0, 2, 4])
    base = IFM()(a, b).item()
    assert IFM()(a[perm], b[perm]).item() == pytest.approx(base, rel=1e-12)
    assert IFM()(3 * a, 0.5 * b).item() == pytest.approx(base, rel=1e-12)


# ---------------------------------------------------------------- VICRegL
def test_nearest_matches_hand_made_case():
    # view a's 3 cells at x = 0, 1, 5; view b's 2 cells at x = 0.9, 4. Nearest: 0 -> 0.9 (0.9),
    # 1 -> 0.9 (0.1), 5 -> 4 (1.0); the 2 best are cell 1 (0.1) then cell 0 (0.9).
    qa = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]]])
    qb = torch.tensor([[[0.9, 0.0], [4.0, 0.0]]])
    qi, cj = nearest_matches(qa, qb, 2)
    assert qi.tolist() == [[1, 0]] and cj.tolist() == [[0, 0]]
    qi, cj = nearest_matches(qa, qb, 10)  # k larger than the map: every cell, sorted by distance
    assert qi.tolist() == [[1, 0, 2]] and cj.tolist() == [[0, 0, 1]]


def test_affine_cell_locations_identity_and_shift():
    eye = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=torch.float64)
    loc = affine_cell_locations(eye, 2, 2)
    torch.testing.assert_close(loc[0, :, :, 0], torch.tensor([[-0.5, 0.5], [-0.5, 0.5]], dtype=torch.float64))  # x
    torch.testing.assert_close(loc[0, :, :, 1], torch.tensor([[-0.5, -0.5], [0.5, 0.5]], dtype=torch.float64))  # y
    shifted = eye.clone()
    shifted[0, 0, 2] = 0.25
    torch.testing.assert_close(affine_cell_locations(shifted, 2, 2)[..., 0], loc[..., 0] + 0.25)


def vicregl_inputs(n=6, seed=0, hw_b=(2, 3)):
    g = torch.Generator().manual_seed(seed)
    z_a, z_b = torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randn(n, 3, generator=g, dtype=torch.float64)
    ya = torch.randn(n, 2, 2, 4, generator=g, dtype=torch.float64)
    yb = torch.randn(n, *hw_b, 4, generator=g, dtype=torch.float64)
    la = torch.rand(n, 2, 2, 2, generator=g, dtype=torch.float64)
    lb = torch.rand(n, *hw_b, 2, generator=g, dtype=torch.float64)
    return z_a, z_b, ya, yb, la, lb


def vicregl_loop(z_a, z_b, ya, yb, la, lb, alpha, k_ab, k_ba):
    """VICRegL by explicit loops over samples and cells (nearest neighbour by brute force)."""
    def vic(a, b):
        return VICReg()(torch.as_tensor(np.array(a)), torch.as_tensor(np.array(b))).item()

    def direction(fa, fb, qa, qb, k):
        rows_a, rows_b = [], []
        for s in range(fa.shape[0]):
            best = []
            for i in range(qa.shape[1]):
                dists = [np.linalg.norm(qa[s, i] - qb[s, j]) for j in range(qb.shape[1])]
                best.append((min(dists), i, int(np.argmin(dists))))
            for _, i, j in sorted(best)[:k]:
                rows_a.append(fa[s, i])
                rows_b.append(fb[s, j])
        return vic(rows_a, rows_b)

    fa, fb = ya.reshape(ya.shape[0], -1, ya.shape[-1]).numpy(), yb.reshape(yb.shape[0], -1, yb.shape[-1]).numpy()
    qa, qb = la.reshape(la.shape[0], -1, 2).numpy(), lb.reshape(lb.shape[0], -1, 2).numpy()
    loc = 0.5 * (direction(fa, fb, qa, qb, k_ab) + direction(fb, fa, qb, qa, k_ba))
    feat = 0.5 * (direction(fa, fb, fa, fb, k_ab) + direction(fb, fa, fb, fa, k_ba))
    return alpha * vic(z_a.numpy(), z_b.numpy()) + (1 - alpha) * (loc + feat)


def test_vicregl_matches_loop_oracle():
    args = vicregl_inputs()
    expected = vicregl_loop(*args, alpha=0.6, k_ab=3, k_ba=2)
    assert VICRegL(alpha=0.6, num_matches=(3, 2))(*args).item() == pytest.approx(expected, rel=1e-10)
    assert VICRegL(alpha=1.0)(*args).item() == pytest.approx(VICReg()(args[0], args[1]).item(), rel=1e-12)


def test_vicregl_gradcheck_and_permutation():
    args = [t.requires_grad_(True) if i < 4 else t for i, t in enumerate(vicregl_inputs(n=4, seed=1, hw_b=(2, 2)))]
    loss = VICRegL(alpha=0.5, num_matches=(3, 2))
    assert torch.autograd.gradcheck(lambda *t: loss(*t, args[4], args[5]), tuple(args[:4]))
    perm = torch.tensor([2, 0, 3, 1])
    base = loss(*args).item()
    assert loss(*[t[perm] for t in args]).item() == pytest.approx(base, rel=1e-12)


def test_vicregl_location_matching_uses_geometry():
    # identical maps and a view b that is view a shifted by one cell: location matching pairs each
    # cell of a with the cell of b that shows the same image region, whose features are equal.
    n, h, w, e = 4, 3, 3, 5
    g = torch.Generator().manual_seed(0)
    img_feat = torch.randn(n, h, w + 1, e, generator=g, dtype=torch.float64)  # features per image column
    ya, yb = img_feat[:, :, :w], img_feat[:, :, 1:]
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64).expand(n, 2, 3)
    shift = eye + torch.tensor([[0.0, 0.0, 2.0 / w], [0.0, 0.0, 0.0]], dtype=torch.float64)
    la, lb = affine_cell_locations(eye, h, w), affine_cell_locations(shift, h, w)
    loss = VICRegL(alpha=0.0, num_matches=6, variance_weight=0.0, covariance_weight=0.0)
    local = loss.local_term(ya.flatten(1, 2), yb.flatten(1, 2), la.flatten(1, 2), lb.flatten(1, 2))
    assert local.item() == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- EBCLR
def test_ebclr_terms_match_loops():
    a, b = pair(n=4, d=3)
    neg = pair(n=3, d=3, seed=5)[0]
    tau, l2 = 0.3, 0.01
    A, B, N = unit(a.numpy()), unit(b.numpy()), unit(neg.numpy())
    energy = lambda u, v: np.sum((u - v) ** 2) / tau  # noqa: E731
    assert pair_energy(a, b, tau)[1, 2].item() == pytest.approx(energy(A[1], B[2]), rel=1e-12)
    logp = lambda u: math.log(sum(math.exp(-energy(u, v)) for v in B))  # noqa: E731
    assert marginal_log_density(a, b, tau)[0].item() == pytest.approx(logp(A[0]), rel=1e-12)
    gen = -np.mean([logp(u) for u in A]) + np.mean([logp(u) for u in N]) + l2 * (np.sum(a.numpy() ** 2) + np.sum(neg.numpy() ** 2))
    assert ebclr_generative_term(a, b, neg, tau, l2).item() == pytest.approx(gen, rel=1e-12)
    # on the sphere ‖u - v‖² = 2 - 2 cos: the contrastive term is NT-Xent at temperature τ/2
    assert ebclr_contrastive_term(a, b, tau).item() == pytest.approx(nt_xent_loop(a.numpy(), b.numpy(), tau / 2), rel=1e-12)
    full = EBCLR(lambda x, g: x, (3,), temperature=tau, l2_weight=l2, generative_weight=0.5).loss(a, b, neg)
    assert full.item() == pytest.approx(nt_xent_loop(a.numpy(), b.numpy(), tau / 2) + 0.5 * gen, rel=1e-12)


def test_ebclr_loss_gradcheck_and_permutation():
    a, b = (t.requires_grad_(True) for t in pair(n=4, d=3, seed=6))
    neg = pair(n=3, d=3, seed=7)[0].requires_grad_(True)
    obj = EBCLR(lambda x, g: x, (3,), temperature=0.5)
    assert torch.autograd.gradcheck(obj.loss, (a, b, neg))
    perm, perm_neg = torch.tensor([3, 1, 0, 2]), torch.tensor([2, 0, 1])
    assert obj.loss(a[perm], b[perm], neg[perm_neg]).item() == pytest.approx(obj.loss(a, b, neg).item(), rel=1e-12)


def _ebclr_setup(bn=False):
    torch.manual_seed(0)
    layers = [nn.Linear(2, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.Tanh(), nn.Linear(16, 3)]
    net = nn.Sequential(*layers).double()
    x = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return JointEmbeddingEnergy(net, event_shape=(2,)), x


def test_ebclr_step_fills_replay_and_keeps_batchnorm_statistics():
    energy, x = _ebclr_setup(bn=True)
    obj = EBCLR(GaussianJitter(0.1), (2,), buffer_size=16, sgld_steps=3, reinit_prob=0.0).double()
    bn = energy.f[1]
    energy.train()
    with torch.no_grad():
        energy.f(x)  # one ordinary forward pass moves the running mean
    before = bn.running_mean.clone(), bn.num_batches_tracked.clone()
    g = torch.Generator().manual_seed(0)
    loss = obj(energy, x, generator=g)
    assert torch.isfinite(loss)
    # the two data views update the statistics once each; the SGLD negatives do not
    assert int(bn.num_batches_tracked) == int(before[1]) + 2
    assert int((obj.visits > 0).sum()) >= 1 and float(obj.replay.abs().sum()) > 0
    # same generator -> same loss (randomness is explicit)
    energy2, x2 = _ebclr_setup(bn=True)
    obj2 = EBCLR(GaussianJitter(0.1), (2,), buffer_size=16, sgld_steps=3, reinit_prob=0.0).double()
    energy2.train()
    with torch.no_grad():
        energy2.f(x2)
    assert obj2(energy2, x2, generator=torch.Generator().manual_seed(0)).item() == pytest.approx(loss.item(), rel=1e-12)


def test_ebclr_sgld_raises_the_marginal_density():
    energy, x = _ebclr_setup()
    obj = EBCLR(lambda v, g: v, (2,), sgld_steps=20, sgld_noise=(0.0, 0.0), sgld_step_size=0.05)
    z_ref = energy.f(x).detach()
    x0 = 3 * torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    before = marginal_log_density(energy.f(x0), z_ref, obj.temperature).mean()
    after = marginal_log_density(energy.f(obj.sgld(energy.f, x0, torch.zeros(16), z_ref)), z_ref, obj.temperature).mean()
    assert after > before


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: DirectCLR(5)(torch.randn(4, 3), torch.randn(4, 3)), ValueError, "d0"),
        (lambda: DirectCLR(2.5), (ValueError, TypeError), "d0"),
        (lambda: IFM()(torch.randn(4, 3), torch.full((4, 3), float("nan"))), ValueError, "z_b"),
        (lambda: IFM(epsilon=float("nan")), ValueError, "epsilon"),
        (lambda: VICRegL()(*vicregl_inputs()[:4], vicregl_inputs()[4][..., :1], vicregl_inputs()[5]), ValueError, "locations_a"),
        (lambda: VICRegL()(*vicregl_inputs()[:2], vicregl_inputs()[2].float(), *vicregl_inputs()[3:]), TypeError, "maps_a"),
        (lambda: VICRegL()(*vicregl_inputs()[:5], vicregl_inputs()[5][:, :1]), ValueError, "locations_b"),
        (lambda: EBCLR(lambda x, g: x, (2,), buffer_size=0), ValueError, "buffer_size"),
        (lambda: EBCLR(3, (2,)), TypeError, "augment"),
        (lambda: EBCLR(lambda x, g: x, (2,))(*_ebclr_setup()[:1], torch.randn(5, 2)), TypeError, "batch"),  # float32 vs a float64 net
        (lambda: EBCLR(lambda x, g: x, (2,), sgld_steps=-1), ValueError, "sgld_steps"),
    ],
)
def test_bad_input_is_refused_with_a_fix(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)


# DDP equivalence of all four losses: tests/test_joint_ddp.py (one pair of processes for every gathering loss).
