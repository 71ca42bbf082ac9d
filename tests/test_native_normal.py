"""The C normal generator of the fused samplers on AVX2 CPUs (`samplers.native_normal`).

Exact answers first: its Philox words are `samplers.counter_rng.philox4x32`'s (itself checked
against Random123's known answers), and its normals are a float64 Box-Muller of those words to
float32 rounding, in the documented order. Then the raw words pass the same SP 800-22-style
battery as the other counter-based generators, and the normals a Kolmogorov-Smirnov test — all at
fixed keys, so each test always passes or always fails.
"""

import math

import pytest
import torch
from helpers import MASK32, battery_pvalues
from scipy import stats

from samplers import native_normal
from samplers.counter_rng import philox4x32

needs_generator = pytest.mark.skipif(not native_normal.available(), reason="samplers.native_normal is not built here (needs x86 with AVX2 and a C compiler)")
KEY = 0x0123456789ABCDEF


def reference_words(key: int, block0: int, n_blocks: int) -> torch.Tensor:
    """Philox-4×32-10 words of blocks ``block0 ..`` from the torch implementation, ``(n_blocks, 4)`` int32."""
    blocks = torch.arange(block0, block0 + n_blocks, dtype=torch.int64)
    lo = blocks & MASK32
    lo = torch.where(lo >= 1 << 31, lo - (1 << 32), lo).to(torch.int32)  # bit patterns
    hi = (blocks >> 32).to(torch.int32)
    zero = torch.zeros(n_blocks, dtype=torch.int32)
    return torch.stack([w.to(torch.int32) for w in philox4x32((lo, hi, zero, zero), (key & MASK32, key >> 32))], 1)


def reference_normals(key: int, n: int) -> torch.Tensor:
    """The first ``n`` normals of stream ``key`` by the module docstring's order, in float64 from the words."""
    groups = -(-n // native_normal.GROUP)
    w = (reference_words(key, 0, 16 * groups).to(torch.int64) & MASK32).reshape(groups, 2, 8, 4)  # (group, half, lane, word)
    u = (w >> 8).double() * 2.0**-24
    out = []
    for h in range(2):  # word pair (2h, 2h + 1)
        r = torch.sqrt(-2 * torch.log1p(-u[..., 2 * h]))  # (group, half, lane)
        theta = 2 * math.pi * u[..., 2 * h + 1]
        out.append(torch.stack((r * torch.cos(theta), r * torch.sin(theta)), 2))  # (group, half, cos|sin, lane)
    return torch.stack(out, 2).reshape(-1)[:n]  # (group, half, pair, cos|sin, lane) flattened


@needs_generator
@pytest.mark.parametrize("block0", [0, 7, (1 << 32) - 37])
def test_words_are_philox4x32_10_of_the_block_index(block0):
    """Counter (low, high 32 bits of the block index, 0, 0) under key (low, high halves): also across a carry into the high word."""
    assert torch.equal(native_normal.philox_words(KEY, block0, 80), reference_words(KEY, block0, 80))


@needs_generator
@pytest.mark.parametrize("n", [1, 63, 64, 1000, 4099])
def test_normals_are_box_muller_of_the_words_to_float32_rounding(n):
    out = native_normal.fill_normal_(torch.empty(n), KEY)
    ref = reference_normals(KEY, n)
    # log, sine and cosine are float32 polynomials: 3e-7 absolute was measured at |z| ≤ 5.
    torch.testing.assert_close(out.double(), ref, rtol=1e-6, atol=1e-6)


@needs_generator
def test_a_fill_is_the_same_on_any_number_of_threads_and_any_shape():
    n = (1 << 18) + 37  # split over threads at whole groups; a ragged tail
    one = native_normal.fill_normal_(torch.empty(n), KEY, threads=1)
    two = native_normal.fill_normal_(torch.empty(n), KEY, threads=2)
    assert torch.equal(one, two)
    shaped = native_normal.fill_normal_(torch.empty(3, 100, 2), KEY)
    assert torch.equal(shaped.reshape(-1), one[:600])


@needs_generator
@pytest.mark.parametrize("key", [0, 1, KEY, (1 << 64) - 1])
def test_raw_words_pass_the_battery(key):
    words = native_normal.philox_words(key, 0, 1 << 18).reshape(-1)  # 2^20 words, block-major
    for name, p in battery_pvalues(words).items():
        assert p > 1e-6, (name, p)


@needs_generator
def test_normals_match_the_standard_normal():
    z = native_normal.fill_normal_(torch.empty(1 << 20), 12345).double()
    n = z.numel()
    assert abs(float(z.mean())) < 5 / math.sqrt(n)
    assert abs(float(z.var()) - 1) < 5 * math.sqrt(2 / n)
    assert stats.kstest(z.numpy(), "norm").pvalue > 1e-4
    # cosine and sine of one pair are independent: the pair's product has mean 0
    pairs = z.reshape(-1, 2, 2, 2, 8)  # (group, half, pair, cos|sin, lane)
    assert abs(float((pairs[:, :, :, 0] * pairs[:, :, :, 1]).mean())) < 5 / math.sqrt(n / 2)
    assert float(z.abs().max()) < math.sqrt(-2 * math.log(2.0**-24)) + 1e-5  # the float32 bound


@needs_generator
def test_normal_is_reproducible_from_the_generator():
    a = native_normal.normal((50, 2), generator=torch.Generator().manual_seed(3))
    b = native_normal.normal((50, 2), generator=torch.Generator().manual_seed(3))
    c = native_normal.normal((50, 2), generator=torch.Generator().manual_seed(4))
    assert a.shape == (50, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)


@needs_generator
@pytest.mark.parametrize("out, key, match", [
    (torch.empty(10, dtype=torch.float64), 1, "out: expected a contiguous float32 tensor on the CPU.*float64"),
    (torch.empty(10, 2).T, 1, "out: expected a contiguous float32 tensor.*not contiguous"),
    ([0.0] * 4, 1, "out: expected a contiguous float32 tensor.*list"),
    (torch.empty(10), -1, r"key: expected an int in \[0, 2\*\*64\)"),
    (torch.empty(10), 1 << 64, r"key: expected an int in \[0, 2\*\*64\)"),
    (torch.empty(10), 1.5, r"key: expected an int in \[0, 2\*\*64\)"),
    (torch.empty(10), True, r"key: expected an int in \[0, 2\*\*64\)"),
])
def test_bad_input_is_refused_with_a_fix(out, key, match):
    with pytest.raises((TypeError, ValueError), match=match):
        native_normal.fill_normal_(out, key)


def test_without_the_generator_it_says_so_and_samplers_use_torch(monkeypatch):
    from samplers import ULA

    monkeypatch.setattr(native_normal, "_LIB", [None])  # as on a machine without AVX2 or a compiler
    assert native_normal.available() is False
    with pytest.raises(RuntimeError, match="samplers.native_normal: expected the AVX2 generator built.*Fix: "):
        native_normal.fill_normal_(torch.empty(4), 1)
    assert ULA(0.1)._native_noise(torch.zeros(3, 2)) is False  # the fused step reads torch.randn instead


@needs_generator
def test_a_forked_child_can_split_a_fill_after_its_parent_did():
    """The parent's worker threads do not exist in a forked child: its fill must not wait on them."""
    import multiprocessing

    n = 1 << 19
    parent = native_normal.fill_normal_(torch.empty(n), KEY, threads=2)  # the pool now exists
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        child_sum = pool.apply_async(_fill_sum, (n,)).get(timeout=60)
    assert child_sum == float(parent.double().sum())


def _fill_sum(n):
    return float(native_normal.fill_normal_(torch.empty(n), KEY, threads=2).double().sum())


@needs_generator
def test_bad_threads_and_block_arguments_are_refused_with_a_fix():
    with pytest.raises(ValueError, match="threads: .*Fix: "):
        native_normal.fill_normal_(torch.empty(10), 1, threads=0)
    with pytest.raises(TypeError, match="threads: expected an integer"):
        native_normal.fill_normal_(torch.empty(10), 1, threads=1.5)
    with pytest.raises(ValueError, match=r"block0: expected an int in \[0, 2\*\*64\)"):
        native_normal.philox_words(1, -1, 4)
    with pytest.raises(ValueError, match="n_blocks: .*Fix: "):
        native_normal.philox_words(1, 0, -1)
