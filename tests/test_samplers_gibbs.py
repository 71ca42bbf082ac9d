"""Gibbs samplers against exact enumeration of tiny Boltzmann machines and RBMs.

Each test draws B independent chains and compares the histogram of their final states with the
exact distribution by a Pearson chi-square test (bins with expected count < 5 pooled) at level
1e-4: the false-failure rate of each test is 1e-4 for a random seed (exact samplers give
multinomial counts; the mixing error after the given number of sweeps is far below that level).
The BM/RBM energies are written inline as plain torch callables: samplers never import ebm.
"""

import itertools

import pytest
import torch
from scipy import stats

from samplers import BlockGibbs, SingleSiteGibbs

def all_states(n, dtype=torch.float64):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=dtype)  # (2^n, n)


def state_index(x):
    n = x.shape[1]
    return (x * 2 ** torch.arange(n - 1, -1, -1, dtype=x.dtype)).sum(1).long()


def chi_square_pvalue(samples, p):
    counts = torch.bincount(state_index(samples), minlength=p.numel()).double()
    expected = p * samples.shape[0]
    small = expected < 5
    obs = torch.cat([counts[~small], counts[small].sum().view(1)])
    exp = torch.cat([expected[~small], expected[small].sum().view(1)])
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    return stats.chi2.sf(chi2, df=obs.numel() - 1)


class BM:
    """E(x) = -½ xᵀJx - bᵀx on x ∈ {0,1}ⁿ, with the flip_energy_deltas fast path."""

    def __init__(self, n, scale, seed):
        gen = torch.Generator().manual_seed(seed)
        j = torch.randn(n, n, generator=gen, dtype=torch.float64) * scale
        self.J = torch.triu(j, 1) + torch.triu(j, 1).T
        self.b = torch.randn(n, generator=gen, dtype=torch.float64)

    def __call__(self, x):
        return -0.5 * ((x @ self.J) * x).sum(-1) - x @ self.b

    def flip_energy_deltas(self, x, i):
        # flipping x_i changes E by -(1 - 2x_i)(J_i·x + b_i)  (J has zero diagonal)
        return -(1 - 2 * x[:, i]) * (x @ self.J[i] + self.b[i])


@pytest.mark.parametrize("scan", ["systematic", "random"])
@pytest.mark.parametrize("n", [4, 6])
def test_single_site_gibbs_matches_enumeration(scan, n):
    bm = BM(n, 1.0, seed=n)
    p = torch.softmax(-bm(all_states(n)), 0)
    x0 = torch.zeros(20000, n, dtype=torch.float64)
    r = SingleSiteGibbs(scan).run(bm, x0, 30, generator=torch.Generator().manual_seed(1))
    assert chi_square_pvalue(r.x, p) > 1e-4


def test_fast_path_equals_energy_difference_path():
    bm = BM(5, 1.0, seed=0)
    slow = lambda x: bm(x)  # no flip_energy_deltas attribute
    x0 = torch.zeros(256, 5, dtype=torch.float64)
    a = SingleSiteGibbs().run(bm, x0, 10, generator=torch.Generator().manual_seed(2))
    b = SingleSiteGibbs().run(slow, x0, 10, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a.x, b.x)
    torch.testing.assert_close(a.energy, bm(a.x))  # the cached energy is tracked exactly


def test_block_gibbs_on_rbm_matches_enumeration():
    nv, nh = 4, 3
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(nv, nh, generator=gen, dtype=torch.float64) * 1.5
    a = torch.randn(nv, generator=gen, dtype=torch.float64)
    c = torch.randn(nh, generator=gen, dtype=torch.float64)
    free_energy = lambda v: -v @ a - torch.nn.functional.softplus(v @ w + c).sum(-1)
    sample_h = lambda blocks, g: torch.bernoulli(torch.sigmoid(blocks[0] @ w + c), generator=g)
    sample_v = lambda blocks, g: torch.bernoulli(torch.sigmoid(blocks[1] @ w.T + a), generator=g)
    p = torch.softmax(-free_energy(all_states(nv)), 0)
    v0 = torch.zeros(20000, nv, dtype=torch.float64)
    h0 = torch.zeros(20000, nh, dtype=torch.float64)
    joint = lambda v, h: -v @ a - h @ c - ((v @ w) * h).sum(-1)
    # blocks are listed in update order: (h, v) gives the v -> h -> v sweep of an RBM
    r = BlockGibbs([lambda b, g: sample_h((b[1],), g), lambda b, g: sample_v((None, b[0]), g)]).run(
        lambda h, v: joint(v, h), (h0, v0), 30, generator=torch.Generator().manual_seed(4))
    assert chi_square_pvalue(r.x[1], p) > 1e-4
    assert r.energy.shape == (20000,)


def test_chi_square_test_can_fail():
    # The same test rejects a slightly wrong sampler: Gibbs at temperature 1.3 instead of 1.
    bm = BM(4, 1.0, seed=4)
    p = torch.softmax(-bm(all_states(4)), 0)
    r = SingleSiteGibbs().run(lambda x: bm(x) / 1.3, torch.zeros(20000, 4, dtype=torch.float64), 30, generator=torch.Generator().manual_seed(5))
    assert chi_square_pvalue(r.x, p) < 1e-4
