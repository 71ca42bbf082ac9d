"""The counter-based generator: known answers first, then distribution tests at fixed seeds.

Every statistical test below runs at a fixed key, so it either always passes or always fails; the
thresholds are set at a level (p > 1e-4, or 5 standard errors) that a correct generator passes
with overwhelming probability, and `test_the_tests_can_fail` shows that the same checks reject a
flawed stream.
"""

import math

import pytest
import torch
from scipy import stats

from samplers import BlockGibbs
from samplers.counter_rng import CounterRNG, bernoulli, normal, splitmix64, uniform

MASK = (1 << 64) - 1


def reference_splitmix64(state: int, n: int) -> list[int]:
    """SplitMix64 written from its definition with Python integers (Steele et al. 2014)."""
    out = []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append(z ^ (z >> 31))
    return out


@pytest.mark.parametrize("key", [0, 1, 123456789, (1 << 62) - 1])
def test_bits_are_splitmix64_from_the_key(key):
    words = CounterRNG(torch.tensor(key)).bits(5)
    assert [int(w) & MASK for w in words] == reference_splitmix64(key, 5)


def test_first_output_for_state_zero_is_the_published_value():
    # The widely quoted first SplitMix64 output from state 0.
    assert int(splitmix64(torch.tensor(0x9E3779B97F4A7C15 - (1 << 64)))) & MASK == 0xE220A8397B1DCDAF


def test_key_rows_and_scalar_keys_give_the_same_stream():
    rows = CounterRNG.new_keys(3, torch.Generator().manual_seed(0))
    assert rows.shape == (3, 2) and rows.dtype == torch.int64
    a = CounterRNG(rows[1]).uniform((100,))
    b = CounterRNG(rows[1, 0]).uniform((100,))
    assert torch.equal(a, b)


def test_successive_draws_continue_the_stream():
    one = CounterRNG(torch.tensor(5))
    first, second = one.bits(4), one.bits(3)
    assert torch.equal(torch.cat((first, second)), CounterRNG(torch.tensor(5)).bits(7))


def test_keys_are_reproducible_from_the_generator():
    a = CounterRNG.from_generator(torch.Generator().manual_seed(3)).normal((50,))
    b = CounterRNG.from_generator(torch.Generator().manual_seed(3)).normal((50,))
    c = CounterRNG.from_generator(torch.Generator().manual_seed(4)).normal((50,))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("dtype,bits", [(torch.float32, 24), (torch.float64, 53), (torch.float16, 11), (torch.bfloat16, 8)])
def test_uniform_range_and_resolution(dtype, bits):
    u = CounterRNG(torch.tensor(11)).uniform((4001,), dtype=dtype)
    assert u.dtype == dtype and u.shape == (4001,)
    assert bool((u >= 0).all()) and bool((u < 1).all())
    scaled = u.double() * 2.0**bits
    assert torch.equal(scaled, scaled.round())  # every value is a multiple of 2^-bits


def ks_uniform_pvalue(u):
    return stats.kstest(u.double().numpy(), "uniform").pvalue


def test_uniform_is_uniform_and_pairs_are_independent():
    u = CounterRNG(torch.tensor(2024)).uniform((200_000,))
    assert ks_uniform_pvalue(u) > 1e-4
    # Consecutive draws and the two uniforms cut from one word, on a 16 x 16 grid.
    half = u.numel() // 2
    for a, b in [(u[:-1], u[1:]), (u[:half], u[half : 2 * half])]:
        cells = (a * 16).long() * 16 + (b * 16).long()
        counts = torch.bincount(cells, minlength=256).double()
        assert stats.chisquare(counts.numpy()).pvalue > 1e-4


def test_streams_under_different_keys_are_uncorrelated():
    a = CounterRNG(torch.tensor(1)).uniform((100_000,), dtype=torch.float64)
    b = CounterRNG(torch.tensor(2)).uniform((100_000,), dtype=torch.float64)
    r = float(torch.corrcoef(torch.stack((a, b)))[0, 1])
    assert abs(r) < 5 / math.sqrt(a.numel())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normal_matches_the_standard_normal(dtype):
    z = CounterRNG(torch.tensor(77)).normal((100_001,), dtype=dtype)
    assert z.shape == (100_001,) and z.dtype == dtype and bool(torch.isfinite(z).all())
    assert stats.kstest(z.double().numpy(), "norm").pvalue > 1e-4
    n = z.numel()
    assert abs(float(z.double().mean())) < 5 / math.sqrt(n)
    assert abs(float(z.double().var()) - 1) < 5 * math.sqrt(2 / n)


@pytest.mark.parametrize("shape", [(7,), (301, 5), (2, 3, 4)])
def test_bernoulli_frequencies_match_p(shape):
    p = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rng = CounterRNG(torch.tensor(9))
    n = 4000
    draws = torch.stack([rng.bernoulli(p) for _ in range(n)])  # (n, *shape)
    assert draws.dtype == p.dtype and set(draws.unique().tolist()) <= {0.0, 1.0}
    se = (p * (1 - p) / n).sqrt().clamp(min=1e-3)
    assert bool(((draws.mean(0) - p).abs() < 5 * se).all())


@pytest.mark.parametrize("shape", [(6, 7), (4, 3, 2)])
def test_bernoulli_pairs_rows_as_the_flat_halves(shape):
    """An even leading dimension pairs whole rows; the draws are exactly those of the flattened p."""
    p = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    rows = CounterRNG(torch.tensor(5)).bernoulli(p)
    flat = CounterRNG(torch.tensor(5)).bernoulli(p.reshape(-1)).reshape(shape)
    assert torch.equal(rows, flat)


def test_dispatch_uses_torch_generators_unchanged():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(uniform((5,), generator=g()), torch.rand(5, generator=g()))
    assert torch.equal(normal((5,), generator=g()), torch.randn(5, generator=g()))
    p = torch.full((6,), 0.5)
    assert torch.equal(bernoulli(p, g()), torch.rand(6, generator=g()).lt(p).float())
    rng = CounterRNG(torch.tensor(3))
    assert torch.equal(uniform((5,), generator=rng), CounterRNG(torch.tensor(3)).uniform((5,)))


def test_the_tests_can_fail():
    """The same checks reject a stream whose two cut uniforms are dependent or skewed."""
    u = CounterRNG(torch.tensor(2024)).uniform((200_000,))
    assert ks_uniform_pvalue(u.sqrt()) < 1e-4
    half = u.numel() // 2
    a, b = u[:half], (u[:half] + 0.01 * u[half : 2 * half]) % 1.0
    cells = (a * 16).long() * 16 + (b * 16).long()
    assert stats.chisquare(torch.bincount(cells, minlength=256).double().numpy()).pvalue < 1e-4


# -- BlockGibbs(compile=True) -------------------------------------------------------------


def rbm_and_exact(seed=3):
    from ebm.energies import BernoulliRBM

    from tests.test_samplers_gibbs import all_states

    rbm = BernoulliRBM(4, 3, weight_scale=1.5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        rbm.visible_bias.normal_(generator=torch.Generator().manual_seed(seed + 1))
        rbm.hidden_bias.normal_(generator=torch.Generator().manual_seed(seed + 2))
    p = torch.softmax(-rbm(all_states(4)).detach(), 0)
    return rbm, p


def test_counter_keyed_block_gibbs_matches_enumeration(monkeypatch):
    """compile=True with torch.compile stubbed to the identity: the counter-keyed sweep runs eagerly."""
    from ebm.objectives import rbm_block_gibbs

    from tests.test_samplers_gibbs import chi_square_pvalue

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    rbm, p = rbm_and_exact()
    n = 20000
    with torch.no_grad():
        r = rbm_block_gibbs(rbm, compile=True).run(None, (torch.zeros(n, 3, dtype=torch.float64), torch.zeros(n, 4, dtype=torch.float64)), 30, generator=torch.Generator().manual_seed(4))
    assert chi_square_pvalue(r.x[1], p) > 1e-4


def test_block_gibbs_compile_must_be_a_bool():
    with pytest.raises(TypeError, match="compile: expected a bool.*Fix:"):
        BlockGibbs([lambda b, g: b[0]], compile="yes")


@pytest.mark.slow
def test_really_compiled_block_gibbs_matches_its_eager_counter_path(monkeypatch):
    from ebm.objectives import rbm_block_gibbs

    from tests.test_samplers_gibbs import chi_square_pvalue

    rbm, p = rbm_and_exact()
    n = 20000
    x0 = (torch.zeros(n, 3, dtype=torch.float64), torch.zeros(n, 4, dtype=torch.float64))
    with torch.no_grad():
        compiled = rbm_block_gibbs(rbm, compile=True).run(None, x0, 30, generator=torch.Generator().manual_seed(4))
        monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
        eager = rbm_block_gibbs(rbm, compile=True).run(None, x0, 30, generator=torch.Generator().manual_seed(4))
    # Same keys, same counters: identical draws unless a sigmoid rounds across a uniform.
    assert float((compiled.x[1] == eager.x[1]).double().mean()) > 0.999
    assert chi_square_pvalue(compiled.x[1], p) > 1e-4


@pytest.mark.parametrize("bad", [torch.tensor(1.0), torch.zeros(3, dtype=torch.int64), 7])
def test_bad_keys_are_refused_with_a_fix(bad):
    with pytest.raises(TypeError, match="key: expected an int64 tensor.*Fix: use CounterRNG.from_generator"):
        CounterRNG(bad)
