"""Clustering family (CC, PCL, ProPos, ClusterFit), the E-step callback and the clustering scores.

Exact answers first: every loss against an independent loop-by-loop computation of the paper's
formula, float64 gradchecks, invariances (batch order, cluster renaming), CC's entropy at a
uniform assignment, a hand-counted Hungarian accuracy; then a 2-process DDP equivalence for the
losses that gather across processes, and bad input.
"""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import gloo_rank, run_gloo_ranks
from torch import nn

from ebm.evaluate import ari, clustering_accuracy, nmi
from ebm.objectives import (
    ClusteringEStep, ContrastiveClustering, PCL, ProPos, PseudoLabelClassification, cluster_pseudo_labels, spherical_kmeans,
)
from ebm.objectives.contrastive_clustering import cluster_contrast, cluster_entropy
from ebm.objectives.pcl import concentration
from ebm.objectives.propos import prototype_scattering

D64 = torch.float64


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- oracles (loops)
def _nt_xent_oracle(u, v, tau):
    """-(1/2n) Σ_i log exp(cos(i, p(i))/τ) / Σ_{k≠i} exp(cos(i, k)/τ) over the 2n rows of [u; v]."""
    rows = list(u) + list(v)
    n = len(u)
    total = 0.0
    for i, a in enumerate(rows):
        p = (i + n) % (2 * n)
        cos = [float(F.cosine_similarity(a, b, dim=0)) / tau for b in rows]
        den = sum(math.exp(c) for k, c in enumerate(cos) if k != i)
        total += -(cos[p] - math.log(den))
    return total / (2 * n)


def _entropy_oracle(y):
    p = [float(y[:, k].sum() / y.sum()) for k in range(y.shape[1])]
    return -sum(q * math.log(q) for q in p if q > 0)


# ----------------------------------------------------------------------------- clustering scores
def test_hungarian_accuracy_hand_case_and_brute_force():
    pred = torch.tensor([0, 0, 1, 1, 2, 2])
    labels = torch.tensor([1, 1, 0, 0, 0, 2])
    assert clustering_accuracy(pred, labels) == pytest.approx(5 / 6)  # 0→1, 1→0, 2→2
    g = _g(3)
    for _ in range(5):
        p, y = torch.randint(0, 3, (12,), generator=g), torch.randint(0, 3, (12,), generator=g)
        best = max(sum(int(perm[int(a)] == int(b)) for a, b in zip(p, y)) for perm in itertools.permutations(range(3))) / 12
        assert clustering_accuracy(p, y) == pytest.approx(best)


def test_scores_invariant_to_renaming_and_perfect_on_equal_partitions():
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    renamed = torch.tensor([5, 5, 3, 3, 9, 9, 9])
    assert clustering_accuracy(renamed, y) == nmi(renamed, y) == ari(renamed, y) == 1.0
    p = torch.tensor([0, 1, 1, 0, 2, 2, 1])
    q = (p + 1) % 3
    assert clustering_accuracy(p, y) == clustering_accuracy(q, y) and nmi(p, y) == nmi(q, y) and ari(p, y) == ari(q, y)
    # ARI by hand: pairs formula (Hubert & Arabie 1985)
    from math import comb

    table = torch.zeros(3, 3, dtype=torch.long)
    for a, b in zip(p, y):
        table[a, b] += 1
    idx = sum(comb(int(v), 2) for v in table.flatten())
    ra, cb = sum(comb(int(v), 2) for v in table.sum(1)), sum(comb(int(v), 2) for v in table.sum(0))
    expected = (ra * cb) / comb(7, 2)
    assert ari(p, y) == pytest.approx((idx - expected) / (0.5 * (ra + cb) - expected))


@pytest.mark.parametrize("bad,exc", [(torch.tensor([0.0, 1.0]), TypeError), (torch.zeros(2, 2, dtype=torch.long), ValueError), (torch.tensor([], dtype=torch.long), ValueError), (torch.tensor([0, 1, 1]), ValueError)])
def test_scores_bad_input(bad, exc):
    for fn in (clustering_accuracy, nmi, ari):
        with pytest.raises(exc, match="Fix:"):
            fn(bad, torch.tensor([0, 1]))


# ----------------------------------------------------------------------------- CC
def test_cc_pieces_match_oracle_and_entropy_at_uniform():
    g = _g(0)
    y_a, y_b = F.softmax(torch.randn(6, 3, generator=g, dtype=D64), 1), F.softmax(torch.randn(6, 3, generator=g, dtype=D64), 1)
    assert float(cluster_contrast(y_a, y_b, 1.0)) == pytest.approx(_nt_xent_oracle(y_a.T, y_b.T, 1.0), rel=1e-12)
    assert float(cluster_entropy(y_a, y_b)) == pytest.approx(_entropy_oracle(y_a) + _entropy_oracle(y_b), rel=1e-12)
    uniform = torch.full((5, 4), 0.25, dtype=D64)
    assert float(cluster_entropy(uniform, uniform)) == pytest.approx(2 * math.log(4), rel=1e-14)


def test_cc_forward_matches_oracle():
    torch.manual_seed(0)
    cc = ContrastiveClustering(4, 3, instance_dim=5, hidden=6).double()
    g = _g(1)
    h_a, h_b = torch.randn(7, 4, generator=g, dtype=D64), torch.randn(7, 4, generator=g, dtype=D64)
    with torch.no_grad():
        z_a, z_b = cc.instance_head(h_a), cc.instance_head(h_b)
        y_a, y_b = F.softmax(cc.cluster_head(h_a), 1), F.softmax(cc.cluster_head(h_b), 1)
        want = _nt_xent_oracle(z_a, z_b, 0.5) + _nt_xent_oracle(y_a.T, y_b.T, 1.0) - _entropy_oracle(y_a) - _entropy_oracle(y_b)
        assert float(cc(h_a, h_b)) == pytest.approx(want, rel=1e-10)


def test_cc_gradcheck_and_invariances():
    g = _g(2)
    y_a, y_b = F.softmax(torch.randn(5, 3, generator=g, dtype=D64), 1).requires_grad_(), F.softmax(torch.randn(5, 3, generator=g, dtype=D64), 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: cluster_contrast(a, b, 0.7) - cluster_entropy(a, b), (y_a, y_b))
    torch.manual_seed(0)
    cc = ContrastiveClustering(4, 3, instance_dim=5, hidden=6).double()
    h_a, h_b = torch.randn(8, 4, generator=g, dtype=D64), torch.randn(8, 4, generator=g, dtype=D64)
    base = cc(h_a, h_b)
    perm = torch.randperm(8, generator=g)
    torch.testing.assert_close(cc(h_a[perm], h_b[perm]), base)  # batch order
    cperm = torch.tensor([2, 0, 1])
    with torch.no_grad():  # rename the clusters: permute the cluster head's output units
        cc.cluster_head[2].weight.copy_(cc.cluster_head[2].weight[cperm])
        cc.cluster_head[2].bias.copy_(cc.cluster_head[2].bias[cperm])
    torch.testing.assert_close(cc(h_a, h_b), base)
    params = [h_a.clone().requires_grad_(), h_b.clone().requires_grad_()]
    assert torch.autograd.gradcheck(lambda a, b: cc(a, b), params)


# ----------------------------------------------------------------------------- PCL
def test_concentration_hand_case():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=D64)
    c = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=D64)
    labels = torch.tensor([0, 0, 1])
    phi = concentration(v, labels, c, alpha=10.0)
    assert float(phi[0]) == pytest.approx((0 + math.sqrt(2)) / (2 * math.log(12)))
    assert float(phi[1]) == pytest.approx(0.0)


def _pcl_fitted(seed=0):
    pcl = PCL(4, n_clusters=(2, 3), temperature=0.2, queue_size=16, generator=_g(seed)).double()
    pcl.e_step(torch.randn(40, 4, generator=_g(seed + 1), dtype=D64), generator=_g(seed + 2))
    return pcl


def test_pcl_e_step_mean_phi_is_tau_and_proto_term_matches_oracle():
    pcl = _pcl_fitted()
    for m in range(2):
        c, phi = pcl.prototypes(m)
        assert float(phi.mean()) == pytest.approx(0.2, rel=1e-12)
        torch.testing.assert_close(c.norm(dim=1), torch.ones(c.shape[0], dtype=D64))
    g = _g(5)
    q, k = torch.randn(8, 4, generator=g, dtype=D64), torch.randn(8, 4, generator=g, dtype=D64)
    total = 0.0
    for m in range(2):
        c, phi = pcl.prototypes(m)
        for i in range(8):
            vi, ki = q[i] / q[i].norm(), k[i] / k[i].norm()
            s = max(range(c.shape[0]), key=lambda j: float(ki @ c[j]))
            logits = [float(vi @ c[j] / phi[j]) for j in range(c.shape[0])]
            total += -(logits[s] - math.log(sum(math.exp(x) for x in logits))) / 8
    assert float(pcl.proto_nce(q, k)) == pytest.approx(total / 2, rel=1e-12)
    # the full loss = MoCo's instance term (queue negatives) + the prototype term
    queue = pcl.instance.queue.clone()
    inst = 0.0
    for i in range(8):
        vi, ki = q[i] / q[i].norm(), k[i] / k[i].norm()
        logits = [float(vi @ ki) / 0.2] + [float(vi @ r) / 0.2 for r in queue]
        inst += -(logits[0] - math.log(sum(math.exp(x) for x in logits))) / 8
    assert float(pcl(q, k)) == pytest.approx(inst + total / 2, rel=1e-10)


def test_pcl_warmup_is_instance_only_gradcheck_and_invariances():
    pcl = PCL(4, n_clusters=(2,), queue_size=12, generator=_g(0)).double()
    g = _g(1)
    q, k = torch.randn(6, 4, generator=g, dtype=D64), torch.randn(6, 4, generator=g, dtype=D64)
    before = pcl.instance.queue.clone()
    from ebm.objectives import MoCo

    moco = MoCo(4, queue_size=12, temperature=0.2).double()
    moco.queue.copy_(before)
    assert float(pcl(q, k)) == pytest.approx(float(moco(q, k)), rel=1e-14)  # not ready: instance only
    fitted = _pcl_fitted()
    q.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: fitted.proto_nce(a, k), (q,))
    base = fitted.proto_nce(q, k)
    perm = torch.randperm(6, generator=g)
    torch.testing.assert_close(fitted.proto_nce(q[perm], k[perm]), base)
    cperm = torch.tensor([1, 2, 0])
    with torch.no_grad():  # rename granularity 1's clusters: centroids and φ together
        fitted.centroids_1.copy_(fitted.centroids_1[cperm])
        fitted.phi_1.copy_(fitted.phi_1[cperm])
    torch.testing.assert_close(fitted.proto_nce(q, k), base)


# ----------------------------------------------------------------------------- ProPos
def test_prototype_scattering_matches_oracle():
    g = _g(0)
    o, t = torch.randn(7, 3, generator=g, dtype=D64), torch.randn(7, 3, generator=g, dtype=D64)
    labels = torch.tensor([0, 2, 2, 0, 3, 3, 0])  # cluster 1 absent
    present = [0, 2, 3]
    mu = {k: F.normalize(sum(F.normalize(o[i], dim=0) for i in range(7) if labels[i] == k), dim=0) for k in present}
    mt = {k: F.normalize(sum(F.normalize(t[i], dim=0) for i in range(7) if labels[i] == k), dim=0) for k in present}
    want = 0.0
    for k in present:
        logits = [float(mu[k] @ mt[j]) / 0.5 for j in present]
        want += -(logits[present.index(k)] - math.log(sum(math.exp(x) for x in logits))) / 3
    assert float(prototype_scattering(o, t, labels, 4, 0.5)) == pytest.approx(want, rel=1e-12)
    o.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: prototype_scattering(a, t, labels, 4, 0.5), (o,))


def _propos(seed=0, sigma=0.0):
    torch.manual_seed(seed)
    loss = ProPos(4, 3, hidden=6, sigma=sigma, predictor=nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 4))).double()
    loss.e_step(torch.randn(30, 4, generator=_g(seed + 1), dtype=D64), generator=_g(seed + 2))
    return loss


def test_propos_matches_oracle_gradcheck_and_invariances():
    loss = _propos()
    g = _g(3)
    o_a, t_b, o_b, t_a = (torch.randn(8, 4, generator=g, dtype=D64) for _ in range(4))
    with torch.no_grad():
        pa, pb = F.normalize(loss.predictor(o_a), dim=1), F.normalize(loss.predictor(o_b), dim=1)
        psa = 0.5 * (float((pa - F.normalize(t_b, dim=1)).pow(2).sum(1).mean()) + float((pb - F.normalize(t_a, dim=1)).pow(2).sum(1).mean()))
        mean_dir = F.normalize(F.normalize(t_a, dim=1) + F.normalize(t_b, dim=1), dim=1)
        labels = torch.tensor([max(range(3), key=lambda j: float(mean_dir[i] @ loss.centroids[j])) for i in range(8)])
        psl = 0.5 * (float(prototype_scattering(o_a, t_b, labels, 3, 0.5)) + float(prototype_scattering(o_b, t_a, labels, 3, 0.5)))
        assert float(loss(o_a, t_b, o_b, t_a)) == pytest.approx(psa + 0.1 * psl, rel=1e-12)
        # σ = 0 alignment is BYOL's 2 - 2 cos
        assert psa == pytest.approx(0.5 * float((2 - 2 * (pa * F.normalize(t_b, dim=1)).sum(1)).mean() + (2 - 2 * (pb * F.normalize(t_a, dim=1)).sum(1)).mean()), rel=1e-10)
    base = loss(o_a, t_b, o_b, t_a)
    perm = torch.randperm(8, generator=g)
    torch.testing.assert_close(loss(o_a[perm], t_b[perm], o_b[perm], t_a[perm]), base)
    with torch.no_grad():
        loss.centroids.copy_(loss.centroids[torch.tensor([2, 0, 1])])
    torch.testing.assert_close(loss(o_a, t_b, o_b, t_a), base)
    a, b = o_a.clone().requires_grad_(), o_b.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: loss(x, t_b, y, t_a), (a, b))


def test_propos_positive_sampling_noise_uses_the_generator():
    loss = _propos(sigma=0.1)
    g = _g(4)
    z = [torch.randn(8, 4, generator=g, dtype=D64) for _ in range(4)]
    with torch.no_grad():
        assert float(loss(*z, generator=_g(7))) == float(loss(*z, generator=_g(7)))
        assert float(loss(*z, generator=_g(7))) != float(loss(*z, generator=_g(8)))


# ----------------------------------------------------------------------------- ClusterFit + E-step
def _blobs(n_per=20, seed=0):
    g = _g(seed)
    centres = torch.tensor([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]], dtype=D64)
    x = torch.cat([c + 0.3 * torch.randn(n_per, 3, generator=g, dtype=D64) for c in centres])
    return x, torch.arange(3).repeat_interleave(n_per)


def test_spherical_kmeans_and_pseudo_labels_recover_separated_clusters():
    x, y = _blobs()
    c, labels = spherical_kmeans(x, 3, generator=_g(0))
    assert clustering_accuracy(labels, y) == 1.0
    torch.testing.assert_close(c.norm(dim=1), torch.ones(3, dtype=D64))
    net = nn.Sequential(nn.Identity(), nn.BatchNorm1d(3)).double().train()
    assert clustering_accuracy(cluster_pseudo_labels(net, x, 3, generator=_g(0)), y) == 1.0
    assert net.training  # mode restored


def test_pseudo_label_classification_oracle_gradcheck_and_batch_invariance():
    torch.manual_seed(0)
    enc, task = nn.Linear(5, 4).double(), PseudoLabelClassification(4, 3).double()
    g = _g(1)
    x, y = torch.randn(9, 5, generator=g, dtype=D64), torch.arange(9) % 3
    with torch.no_grad():
        logits = task.classifier(enc(x))
        want = -sum(float(logits[i, y[i]] - torch.logsumexp(logits[i], 0)) for i in range(9)) / 9
        assert float(task(enc, (x, y))) == pytest.approx(want, rel=1e-12)
        perm = torch.randperm(9, generator=g)
        assert float(task(enc, (x[perm], y[perm]))) == pytest.approx(want, rel=1e-12)
    xx = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: task(enc, (a, y)), (xx,))


def test_estep_callback_runs_through_train_on_schedule():
    from ebm.objectives import EMATarget
    from ebm.objectives.two_view import TwoViewObjective
    from ebm.train import train

    x, _ = _blobs(8)
    x = x.float()
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    pcl = PCL(4, n_clusters=(3,), queue_size=24, generator=_g(0))
    task = TwoViewObjective(pcl, lambda v, generator: v + 0.05 * torch.randn(v.shape, generator=generator), target=EMATarget(f, 0.9))
    calls = []
    estep = ClusteringEStep(pcl, x, task.target, every=2, warmup=1, generator=_g(1))
    orig = pcl.e_step
    pcl.e_step = lambda z, generator=None: (calls.append(z.shape), orig(z, generator=generator))[1]
    train(f, task, x, epochs=5, batch_size=12, generator=_g(2), callbacks=[lambda s: calls.append(s.epoch) and False, estep], progress=False)
    assert calls == [1, (24, 4), 2, 3, (24, 4), 4, 5, (24, 4)]  # warm-up 1 epoch, then every 2: after epochs 1, 3, 5
    assert bool(pcl.ready) and task.target.network.training


def test_estep_bad_input():
    with pytest.raises(TypeError, match="e_step"):
        ClusteringEStep(nn.Linear(2, 2), torch.randn(4, 2), nn.Identity())
    with pytest.raises(ValueError, match="every"):
        ClusteringEStep(PCL(2, n_clusters=(2,), queue_size=4), torch.randn(4, 2), nn.Identity(), every=0)


# ----------------------------------------------------------------------------- DDP equivalence

class _Both(nn.Module):
    """Network + loss in one module, so DDP averages the loss's own parameters (CC heads, ProPos predictor) too."""

    def __init__(self, name):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 4)).double()
        self.name = name
        if name == "cc":
            self.loss = ContrastiveClustering(4, 3, instance_dim=5, hidden=6).double()
        elif name == "propos":
            self.loss = _propos(sigma=0.05)
        else:
            self.loss = _pcl_fitted()

    def forward(self, x_a, x_b):
        z_a, z_b = self.net(x_a), self.net(x_b)
        if self.name == "cc":
            return self.loss(z_a, z_b)
        if self.name == "propos":
            return self.loss(z_a, z_b.detach() * 1.1, z_b, z_a.detach() * 0.9, generator=_g(11))
        return self.loss(z_a, z_b.detach())


def _data():
    g = _g(1)
    x_a = torch.randn(8, 5, generator=g, dtype=D64)
    return x_a, x_a + 0.2 * torch.randn(8, 5, generator=g, dtype=D64)


def _worker(rank, world, port, out_dir):
    with gloo_rank(rank, world, port):
        out = {}
        x_a, x_b = _data()
        rows = slice(rank * 4, rank * 4 + 4)
        for name in ("cc", "propos", "pcl"):
            model = _Both(name)
            ddp = torch.nn.parallel.DistributedDataParallel(model)
            loss = ddp(x_a[rows], x_b[rows])
            loss.backward()
            out[name] = (loss.item(), [p.grad.clone() for p in model.parameters()])
        torch.save(out, f"{out_dir}/rank{rank}.pt")


def test_ddp_two_processes_equal_one_process_on_the_concatenated_batch(tmp_path):
    res = run_gloo_ranks(_worker, tmp_path)
    x_a, x_b = _data()
    for name in ("cc", "propos", "pcl"):
        model = _Both(name)
        loss = model(x_a, x_b)
        loss.backward()
        losses = [res[r][name][0] for r in range(2)]
        if name == "pcl":  # MoCo's instance term is each rank's own mean; their average is the global loss
            assert sum(losses) / 2 == pytest.approx(loss.item(), rel=1e-12)
        else:
            assert losses[0] == pytest.approx(loss.item(), rel=1e-12) and losses[1] == pytest.approx(loss.item(), rel=1e-12), name
        for r in range(2):
            for g_ddp, p in zip(res[r][name][1], model.parameters()):
                torch.testing.assert_close(g_ddp, p.grad, rtol=1e-10, atol=1e-12, msg=name)
