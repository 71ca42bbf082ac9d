"""NUTS: exact moments on Gaussians (with and without adaptation), divergences on Neal's funnel,
per-chain tree depths, bad input."""

import math

import pytest
import torch

from samplers import NUTS, SamplerWarning, effective_sample_size


def test_nuts_fixed_step_reproduces_a_standard_normal(generator):
    # No adaptation, so the chain is exactly invariant: moments within 4 standard errors of the
    # truth, the standard errors taken from the measured effective sample size.
    x0 = torch.randn(1000, 1, generator=generator, dtype=torch.float64)
    r = NUTS(0.8, warmup_steps=0, thin=1).run(lambda x: 0.5 * x.square().sum(-1), x0, 100, generator=generator)
    d = r.trajectory
    ess = float(effective_sample_size(d))
    assert abs(float(d.mean())) < 4 / math.sqrt(ess)
    assert abs(float(d.var()) - 1) < 4 * math.sqrt(2 / ess)
    assert r.extras["tree_depth"].shape == (100, 1000) and bool((r.extras["tree_depth"] >= 1).all())
    assert int(r.extras["divergent_transitions"].sum()) == 0


def test_nuts_adapts_to_a_correlated_gaussian(generator):
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    prec = torch.linalg.inv(cov)
    x0 = torch.randn(100, 2, generator=generator, dtype=torch.float64)
    r = NUTS(warmup_steps=150, thin=1).run(lambda x: 0.5 * ((x @ prec) * x).sum(-1), x0, 100, generator=generator)
    draws = r.trajectory.reshape(-1, 2)
    # 10,000 draws with ESS of a few thousand: the standard error of each covariance entry is ~0.02.
    torch.testing.assert_close(torch.cov(draws.T), cov, atol=0.06, rtol=0)
    assert 0.6 < float(r.acceptance_rate.mean()) < 0.99


@pytest.mark.slow  # ~60 s: before the metric is learned, trees reach depth 8-10
def test_nuts_mass_adaptation_on_an_ill_conditioned_10d_gaussian(generator):
    var = torch.logspace(-2, 2, 10, dtype=torch.float64)  # condition number 1e4
    x0 = torch.randn(100, 10, generator=generator, dtype=torch.float64)
    r = NUTS(warmup_steps=300, thin=1).run(lambda x: 0.5 * (x.square() / var).sum(-1), x0, 150, generator=generator)
    ratio = r.trajectory.reshape(-1, 10).var(0) / var
    assert (ratio - 1).abs().max() < 0.15, ratio
    # The adapted mass is the inverse variance (up to the window's estimation error).
    assert ((r.extras["mass"] * var).log().abs() < math.log(1.6)).all()
    # With the metric learned the trees stay shallow; without it they would need ~100 steps (depth 7).
    assert float(r.extras["tree_depth"].float().mean()) < 4.5


def test_nuts_reports_divergences_on_neals_funnel(generator):
    # Neal (2003): v ~ N(0, 3²), x_i | v ~ N(0, e^v). The neck (v << 0) needs tiny steps, so a
    # fixed ε = 0.5 diverges there: the transitions are counted per chain, the states stay finite.
    def funnel(z):
        v, x = z[:, 0], z[:, 1:]
        return v.square() / 18 + 0.5 * (x.square().sum(-1) * torch.exp(-v) + x.shape[1] * v)

    x0 = torch.randn(100, 10, generator=generator, dtype=torch.float64)
    with pytest.warns(SamplerWarning, match="frozen"):  # chains caught in the neck are named
        r = NUTS(0.5, warmup_steps=0).run(funnel, x0, 50, generator=generator)
    divergent = r.extras["divergent_transitions"]
    assert int(divergent.sum()) > 25 and int((divergent > 0).sum()) > 10
    assert bool(torch.isfinite(r.x).all()) and not bool(r.diverged.any())


def test_nuts_max_tree_depth_bounds_the_work(generator):
    x0 = torch.randn(50, 2, generator=generator)
    r = NUTS(0.01, warmup_steps=0, max_tree_depth=3).run(lambda x: 0.5 * x.square().sum(-1), x0, 20, generator=generator)
    assert int(r.extras["tree_depth"].max()) == 3 and float(r.extras["n_leapfrog"].max()) <= 20 * 7


def test_nuts_windows_follow_stans_schedule():
    assert NUTS._mass_windows(1000) == [100, 150, 250, 450, 950]
    assert NUTS._mass_windows(500) == [100, 150, 250, 450]
    assert NUTS._mass_windows(100) == []


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: NUTS(-1.0), ValueError, "step_size"),
        (lambda: NUTS(None, warmup_steps=0), ValueError, "step_size"),
        (lambda: NUTS(0.1, max_tree_depth=0), ValueError, "max_tree_depth"),
        (lambda: NUTS(0.1, target_acceptance=1.5), ValueError, "target_acceptance"),
        (lambda: NUTS(0.1, mass=torch.zeros(2)), ValueError, "mass"),
        (lambda: NUTS(0.1, mass=torch.ones(3)).run(lambda x: x.square().sum(-1), torch.zeros(4, 2), 5), ValueError, "mass"),
        (lambda: NUTS(0.1).run(lambda x: x.square().sum(), torch.zeros(4, 2), 5), ValueError, "one energy per chain"),
        (lambda: NUTS(0.1).run(lambda x: x.square().sum(-1), torch.zeros(4, 2), 0), ValueError, "n_steps"),
    ],
)
def test_bad_input_gets_a_clear_error(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)


def test_checkpoint_slots_hold_each_closing_levels_first_leaf():
    # Enumerate every leaf of subtrees up to 2^9 leaves: leaf n (even) writes slot popcount(n >> 1);
    # leaf n (odd) closes the sub-subtrees of 2, 4, ..., 2^m leaves (m = trailing ones of n) and reads
    # slot popcount(n >> 1) - (level - 1), which must still hold that level's first leaf n + 1 - 2^level.
    from samplers.nuts import _popcounts

    pop = _popcounts(10, "cpu").tolist()
    for depth in range(10):
        slots = {}
        for n in range(2**depth):
            if n % 2 == 0:
                slots[pop[n >> 1]] = n
                continue
            level = 1
            while (n + 1) % 2**level == 0:
                assert slots[pop[n >> 1] - (level - 1)] == n + 1 - 2**level
                level += 1
        assert max(slots, default=0) <= max(depth - 1, 0)  # depth <= L - 1: slot L - 1 stays spare


def test_gathered_and_batched_uturn_checks_agree_exactly(generator, monkeypatch):
    # Large ticks check U-turns level by level on gathered chains, small ones all levels at once:
    # the same checks, so the same random stream gives the same draws bit for bit.
    import samplers.nuts as nuts

    def banana(x):
        return x[:, 0].square() / 2 + (x[:, 1] - x[:, 0].square() + 1).square() * 2

    x0 = torch.randn(600, 2, generator=generator, dtype=torch.float64)
    runs = []
    for threshold in (1, 10**9):
        monkeypatch.setattr(nuts, "_SPARSE_CHECK_MIN_CHAINS", threshold)
        g = torch.Generator().manual_seed(3)
        runs.append(NUTS(0.05, warmup_steps=0, max_tree_depth=7, thin=1).run(banana, x0, 15, generator=g))
    assert torch.equal(runs[0].trajectory, runs[1].trajectory)
    assert torch.equal(runs[0].extras["tree_depth"], runs[1].extras["tree_depth"])
    assert float(runs[0].extras["tree_depth"].float().mean()) > 4  # deep trees: many levels close


def _same_run(a, b):
    for key in ("tree_depth", "n_leapfrog", "divergent_transitions", "mass"):
        assert torch.equal(a.extras[key], b.extras[key]), key
    assert torch.equal(a.trajectory, b.trajectory) and torch.equal(a.x, b.x)
    assert torch.equal(a.step_size, b.step_size) and torch.equal(a.acceptance_rate, b.acceptance_rate)
    assert a.extras["leapfrog_efficiency"] == pytest.approx(b.extras["leapfrog_efficiency"], rel=1e-12)


def test_mask_and_row_books_agree_exactly(generator, monkeypatch):
    # Small batches keep the per-iteration books (step-size adaptation, mass windows, draws, idle
    # chains at the barriers) with whole-batch masks, large ones on the gathered rows that ended.
    # Forced onto rows, a small batch (never compacted) must give the same draws bit for bit.
    import samplers.nuts as nuts

    def banana(x):
        return x[:, 0].square() / 2 + (x[:, 1] - x[:, 0].square() + 1).square() * 2

    x0 = torch.randn(16, 2, generator=generator, dtype=torch.float64)
    assert 16 * 2 < nuts._COMPACT_MIN_ELEMENTS
    runs = []
    for threshold in (10**9, 1):
        monkeypatch.setattr(nuts, "_ROW_BOOKS_MIN_ELEMENTS", threshold)
        g = torch.Generator().manual_seed(5)
        runs.append(NUTS(0.5, warmup_steps=150, max_tree_depth=3, thin=2).run(banana, x0, 10, generator=g))  # one mass window (75-100)
    _same_run(*runs)
    assert not torch.equal(runs[0].extras["mass"], torch.ones(2))  # the window's barrier was crossed


def test_slot_tables_and_computed_slots_agree_exactly(generator, monkeypatch):
    # Up to _TABLE_MAX_LEVELS the batched U-turn check reads checkpoint slots and closing levels from
    # tables; deeper trees compute them per tick. Both must give the same draws bit for bit.
    import samplers.nuts as nuts

    slots = nuts._Slots(8, "cpu")
    for n in range(2**7):
        k, base = n + 1, slots.pop[n >> 1].item()
        assert slots.write[n].item() == (7 if n % 2 else base)
        for level in range(1, 8):
            assert slots.read[n, level - 1].item() == max(base - (level - 1), 0)
            assert bool(slots.closes[n, level - 1]) == (k % 2**level == 0)
    x0 = torch.randn(30, 2, generator=generator, dtype=torch.float64)
    runs = []
    for levels in (12, 0):
        monkeypatch.setattr(nuts, "_TABLE_MAX_LEVELS", levels)
        g = torch.Generator().manual_seed(2)
        runs.append(NUTS(0.02, warmup_steps=0, max_tree_depth=8, thin=1).run(lambda x: 0.5 * (x.square() * torch.tensor([1.0, 100.0], dtype=x.dtype)).sum(-1), x0, 10, generator=g))
    _same_run(*runs)
    assert float(runs[0].extras["tree_depth"].float().mean()) > 4  # deep trees: many levels close
