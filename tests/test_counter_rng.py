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

from helpers import battery_pvalues

from samplers import BlockGibbs
from samplers.counter_rng import ALGORITHMS, CounterRNG, bernoulli, default_algorithm, normal, philox4x32, splitmix64, threefry4x32, uniform

MASK32 = (1 << 32) - 1
MASK64 = (1 << 64) - 1


def reference_splitmix64(state: int, n: int) -> list[int]:
    """SplitMix64 written from its definition with Python integers (Steele et al. 2014)."""
    out = []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


@pytest.mark.parametrize("key", [0, 1, 123456789, (1 << 62) - 1])
def test_splitmix_stream_is_splitmix64_from_the_key(key):
    words = CounterRNG(torch.tensor(key), "splitmix64").bits(5)
    assert [int(w) & MASK64 for w in words] == reference_splitmix64(key, 5)


def test_splitmix_first_output_for_state_zero_is_the_published_value():
    assert int(splitmix64(torch.tensor(0x9E3779B97F4A7C15 - (1 << 64)))) & MASK64 == 0xE220A8397B1DCDAF


def test_the_default_algorithm_follows_the_cpu_capability():
    """SplitMix64 where torch's kernels use AVX-512 (vector 64-bit multiply), Threefry elsewhere."""
    expected = "splitmix64" if torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512") else "threefry"
    assert default_algorithm(torch.device("cpu")) == expected
    assert CounterRNG(torch.tensor(1)).algorithm == expected
    assert default_algorithm(torch.device("meta")) == "threefry"
    with pytest.raises(ValueError, match="algorithm: expected one of"):
        CounterRNG(torch.tensor(1), "mt19937")


def words(hexes: str) -> list[torch.Tensor]:
    """0-d int32 tensors with the bit patterns of the hexadecimal 32-bit words in ``hexes``."""
    return [torch.tensor(int(h, 16), dtype=torch.int64).to(torch.int32) for h in hexes.split()]


def unsigned(ws) -> list[int]:
    return [int(w) & MASK32 for w in ws]


# Known answers from Random123's kat_vectors (D. E. Shaw Research; Salmon et al. 2011), as
# reproduced in DEShawResearch/fs123 core123/ut/ut_philox.cpp and core123/ut/ut_threefry.cpp:
# rounds, counter (4 words), key (4 or 2 words), expected output (4 words).
THREEFRY_KAT = [
    (13, "00000000 00000000 00000000 00000000", "00000000 00000000 00000000 00000000", "531c7e4f 39491ee5 2c855a92 3d6abf9a"),
    (13, "ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff ffffffff ffffffff", "c4189358 1c9cc83a d5881c67 6a0a89e0"),
    (13, "243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0 082efa98 ec4e6c89", "4aa71d8f 734738c2 431fc6a8 ae6debf1"),
    (20, "00000000 00000000 00000000 00000000", "00000000 00000000 00000000 00000000", "9c6ca96a e17eae66 fc10ecd4 5256a7d8"),
    (20, "ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff ffffffff ffffffff", "2a881696 57012287 f6c7446e a16a6732"),
    (20, "243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0 082efa98 ec4e6c89", "59cd1dbb b8879579 86b5d00c ac8b6d84"),
]
PHILOX_KAT = [
    (7, "00000000 00000000 00000000 00000000", "00000000 00000000", "5f6fb709 0d893f64 4f121f81 4f730a48"),
    (7, "243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "4dfccaba 190a87f0 c47362ba b6b5242a"),
    (10, "00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    (10, "ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    (10, "243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1"),
]


@pytest.mark.parametrize("rounds,counter,key,expected", THREEFRY_KAT)
def test_threefry_known_answers(rounds, counter, key, expected):
    assert unsigned(threefry4x32(words(counter), words(key), rounds)) == [int(h, 16) for h in expected.split()]


@pytest.mark.parametrize("rounds,counter,key,expected", PHILOX_KAT)
def test_philox_known_answers(rounds, counter, key, expected):
    assert unsigned(philox4x32(words(counter), words(key), rounds)) == [int(h, 16) for h in expected.split()]


def test_the_stream_is_threefry_of_the_block_index_under_the_key():
    """Block j of key (k0, k1) is Threefry-4x32-20 of the counter (j, 0, 0, 0) under (k0, k1, 0, 0)."""
    key = (0x243F6A88 << 32) | 0x85A308D3  # a 64-bit key: low half k0, high half k1
    stream = unsigned(CounterRNG(torch.tensor(key), "threefry").bits(12))
    z = torch.zeros((), dtype=torch.int32)
    k0, k1 = words("85a308d3 243f6a88")
    for j in range(3):
        block = threefry4x32((torch.tensor(j, dtype=torch.int32), z, z, z), (k0, k1, z, z))
        assert stream[4 * j : 4 * j + 4] == unsigned(block)


def test_vector_and_scalar_evaluation_agree():
    """A batch of counters gives, lane by lane, the words of each counter alone (no cross-lane mixing)."""
    k = words("a4093822 299f31d0 082efa98 ec4e6c89")
    c = torch.arange(-5, 1000, 97, dtype=torch.int32)
    z = torch.zeros_like(c)
    batch = threefry4x32((c, z, z, z), k)
    for i in (0, 3, c.numel() - 1):
        one = threefry4x32((c[i], z[i], z[i], z[i]), k)
        assert [int(b[i]) for b in batch] == [int(o) for o in one]


# -- a raw-bit battery on the 32-bit words (NIST SP 800-22 style; each test at one fixed key) ----
# 2^20 words = 2^25 bits at a fixed key: each statistic is asymptotically N(0, 1) or χ², and the
# threshold p > 1e-6 fails a correct generator with probability 1e-6 per test, never at a fixed key
# that passed once. `test_the_battery_can_fail` shows that every statistic rejects flawed words.

N_WORDS = 1 << 20


def words32(rng: CounterRNG, n: int) -> torch.Tensor:
    """``n`` 32-bit words of a stream (a SplitMix64 word gives its low, then its high half)."""
    w = rng.bits(n if rng.algorithm == "threefry" else (n + 1) // 2)
    if w.dtype == torch.int64:
        w = torch.stack((w & MASK32, (w >> 32) & MASK32), 1).reshape(-1)[:n]  # (n,)
    return w


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("key", [0, 1, 0x9E3779B97F4A7C15 - (1 << 64)])
def test_raw_words_pass_the_battery(key, algorithm):
    for name, p in battery_pvalues(words32(CounterRNG(torch.tensor(key), algorithm), N_WORDS)).items():
        assert p > 1e-6, (name, p)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_raw_words_of_consecutive_keys_pass_the_battery(algorithm):
    """Streams of keys 0, 1, 2, ... interleaved word by word: neighbouring keys are unrelated."""
    streams = [words32(CounterRNG(torch.tensor(k), algorithm), N_WORDS // 64) for k in range(64)]
    for name, p in battery_pvalues(torch.stack(streams, 1).reshape(-1)).items():
        assert p > 1e-6, (name, p)


def test_the_battery_can_fail():
    """Each statistic rejects a flawed stream: a biased bit, correlated words, a counter."""
    w = CounterRNG(torch.tensor(3), "threefry").bits(N_WORDS)
    assert battery_pvalues(w | 1)["frequency"] < 1e-6  # one bit stuck at 1
    assert battery_pvalues(w | 1)["byte chi-square"] < 1e-6
    assert battery_pvalues(w & torch.tensor(0x7FFFFFFF, dtype=torch.int32))["block frequency"] < 1e-6  # top bit stuck
    sticky = torch.where(torch.arange(N_WORDS) % 2 == 1, torch.roll(w, 1), w)  # every other word repeats
    assert battery_pvalues(sticky)["serial correlation"] < 1e-6
    assert battery_pvalues(sticky)["pair chi-square"] < 1e-6
    runs = torch.where(w < 0, -1, 0).to(torch.int32)  # each word all ones or all zeros: runs of ≥ 32 bits
    assert battery_pvalues(runs)["runs"] < 1e-6


def test_key_rows_and_scalar_keys_give_the_same_stream():
    rows = CounterRNG.new_keys(3, torch.Generator().manual_seed(0))
    assert rows.shape == (3, 2) and rows.dtype == torch.int64
    a = CounterRNG(rows[1]).uniform((100,))
    b = CounterRNG(rows[1, 0]).uniform((100,))
    assert torch.equal(a, b)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_successive_draws_continue_the_stream(algorithm):
    one = CounterRNG(torch.tensor(5), algorithm)
    first, second = one.bits(4), one.bits(3)
    assert torch.equal(torch.cat((first, second)), CounterRNG(torch.tensor(5), algorithm).bits(7))


def test_keys_are_reproducible_from_the_generator():
    a = CounterRNG.from_generator(torch.Generator().manual_seed(3)).normal((50,))
    b = CounterRNG.from_generator(torch.Generator().manual_seed(3)).normal((50,))
    c = CounterRNG.from_generator(torch.Generator().manual_seed(4)).normal((50,))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("dtype,bits", [(torch.float32, 24), (torch.float64, 53), (torch.float16, 11), (torch.bfloat16, 8)])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_uniform_range_and_resolution(dtype, bits, algorithm):
    u = CounterRNG(torch.tensor(11), algorithm).uniform((4001,), dtype=dtype)
    assert u.dtype == dtype and u.shape == (4001,)
    assert bool((u >= 0).all()) and bool((u < 1).all())
    scaled = u.double() * 2.0**bits
    assert torch.equal(scaled, scaled.round())  # every value is a multiple of 2^-bits


def ks_uniform_pvalue(u):
    return stats.kstest(u.double().numpy(), "uniform").pvalue


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_uniform_is_uniform_and_pairs_are_independent(algorithm):
    u = CounterRNG(torch.tensor(2024), algorithm).uniform((200_000,))
    assert ks_uniform_pvalue(u) > 1e-4
    # Consecutive draws and the two uniforms cut from one word, on a 16 x 16 grid.
    half = u.numel() // 2
    for a, b in [(u[:-1], u[1:]), (u[:half], u[half : 2 * half])]:
        cells = (a * 16).long() * 16 + (b * 16).long()
        counts = torch.bincount(cells, minlength=256).double()
        assert stats.chisquare(counts.numpy()).pvalue > 1e-4


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_streams_under_different_keys_are_uncorrelated(algorithm):
    a = CounterRNG(torch.tensor(1), algorithm).uniform((100_000,), dtype=torch.float64)
    b = CounterRNG(torch.tensor(2), algorithm).uniform((100_000,), dtype=torch.float64)
    r = float(torch.corrcoef(torch.stack((a, b)))[0, 1])
    assert abs(r) < 5 / math.sqrt(a.numel())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_normal_matches_the_standard_normal(dtype, algorithm):
    z = CounterRNG(torch.tensor(77), algorithm).normal((100_001,), dtype=dtype)
    assert z.shape == (100_001,) and z.dtype == dtype and bool(torch.isfinite(z).all())
    assert stats.kstest(z.double().numpy(), "norm").pvalue > 1e-4
    n = z.numel()
    assert abs(float(z.double().mean())) < 5 / math.sqrt(n)
    assert abs(float(z.double().var()) - 1) < 5 * math.sqrt(2 / n)


@pytest.mark.parametrize("shape", [(7,), (301, 5), (2, 3, 4)])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bernoulli_frequencies_match_p(shape, algorithm):
    p = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rng = CounterRNG(torch.tensor(9), algorithm)
    n = 4000
    draws = torch.stack([rng.bernoulli(p) for _ in range(n)])  # (n, *shape)
    assert draws.dtype == p.dtype and set(draws.unique().tolist()) <= {0.0, 1.0}
    se = (p * (1 - p) / n).sqrt().clamp(min=1e-3)
    assert bool(((draws.mean(0) - p).abs() < 5 * se).all())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("shape,dtype", [((8, 7), torch.float32), ((4, 3, 2), torch.float32), ((6, 5), torch.float64), ((6, 7), torch.float32), ((5, 3), torch.float32)])
def test_bernoulli_cuts_rows_as_the_flat_parts(shape, dtype, algorithm):
    """A leading dimension divisible by the planes per block cuts whole rows; the draws equal those of the flattened p."""
    p = torch.rand(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    rows = CounterRNG(torch.tensor(5), algorithm).bernoulli(p)
    flat = CounterRNG(torch.tensor(5), algorithm).bernoulli(p.reshape(-1)).reshape(shape)
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
    with pytest.raises(TypeError, match="compile: expected True, False or .auto.*Fix:"):
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


@pytest.mark.parametrize("bad", [torch.tensor(1.0), torch.zeros(3, dtype=torch.int64), torch.zeros((), dtype=torch.int32), 7])
def test_bad_keys_are_refused_with_a_fix(bad):
    with pytest.raises(TypeError, match="key: expected an int64 tensor.*Fix: use CounterRNG.from_generator"):
        CounterRNG(bad)
