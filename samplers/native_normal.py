"""Float32 standard normals at SIMD speed on AVX2 CPUs: Philox-4×32-10 and Box-Muller in C.

Why: on a CPU without AVX-512 the fused Langevin and HMC steps read noise drawn outside the kernel
(`samplers._base`), and torch's generator — MT19937, a scalar recurrence, then a vectorised
Box-Muller — drew 417-436 M float32 normals/s on one core of the development machine: at 100,000
2-D ULA chains the two normals of a chain-step (4.8 ns) cost more than the rest of the fused step.
A counter-based generator has no recurrence, so eight blocks are computed at once in AVX2 lanes:
measured 800 M normals/s built for AVX2 (``-march=x86-64-v3``) on the same core (BENCHMARKS.md).

Algorithm, block by block (everything modulo 2³²):

* **Philox-4×32-10** (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2,
  3", SC'11; the generator behind torch's CUDA random numbers, and one of cuRAND's): counter ``(c₀, c₁, c₂, c₃)`` =
  (low and high 32 bits of the block index, 0, 0), key ``(k₀, k₁)`` = the low and high halves of
  the stream's 64-bit key; ten rounds of

      (hi₀, lo₀) = M₀ · c₀,   (hi₁, lo₁) = M₁ · c₂        (32 × 32 → 64-bit products)
      c ← (hi₁ ⊕ c₁ ⊕ k₀,  lo₁,  hi₀ ⊕ c₃ ⊕ k₁,  lo₀),    k ← k + (W₀, W₁)

  with M₀ = 0xD2511F53, M₁ = 0xCD9E8D57, W₀ = 0x9E3779B9, W₁ = 0xBB67AE85. AVX2's ``vpmuludq``
  forms the 64-bit products of four lanes at a time (two instructions per eight lanes); torch has
  no such operation, which is why `samplers.counter_rng`'s Philox is slow inside compiled code.
  Philox-4×32 passes all of TestU01's BigCrush from 7 rounds on (Salmon et al., Table 2); 10 is
  Random123's default, keeping a margin. The words equal `samplers.counter_rng.philox4x32`'s
  (tested, including a carry into ``c₁``).
* **Box-Muller** (Box & Muller 1958): words ``(w₀, w₁)`` give ``u = (w ≫ 8) 2⁻²⁴ ∈ [0, 1)`` as
  ``torch.rand`` does, then ``r = √(-2 log(1 - u₀))`` and ``(r cos 2πu₁, r sin 2πu₁)``; words
  ``(w₂, w₃)`` the next pair. The logarithm splits ``x = 2ᵉ m`` with ``m ∈ [√½, √2)`` and sums
  the atanh series ``log m = 2(s + s³/3 + … + s⁹/9)``, ``s = (m-1)/(m+1)``; sine and cosine reduce
  ``2πu`` to the nearest quarter turn and use Cephes' minimax polynomials on [-π/4, π/4] (Moshier
  1989). Against a float64 Box-Muller of the same words the normals agree to 3e-7 (tested).
  Float32 normals are bounded by √(-2 log 2⁻²⁴) ≈ 5.8 (a tail of probability 7e-9), as
  `samplers.counter_rng.normal`'s.

Order within a stream: normal ``i`` comes from group ``G = i // 64`` of sixteen blocks; with
``o = i % 64``, lane ``l = o % 8`` of half ``g = o // 32`` is block ``16 G + 8 g + l``, its word
pair ``h = (o % 32) // 16`` (words ``2h, 2h + 1``), cosine for ``(o % 16) < 8``, sine otherwise.
A fill split over threads at multiples of 64 normals gives the same numbers as one thread.

The C source is built once per machine by `samplers.native.build_shared_library`; `available` is
false where it cannot be built or the build is not for AVX2 (another ISA, or an old compiler) —
callers then draw with ``torch.randn``. AVX-512 CPUs do not need it: their fused steps draw
SplitMix64 inside the kernel (`samplers.counter_rng`).
"""

from __future__ import annotations

import ctypes
import os

import torch

from .native import build_shared_library
from .validation import check_generator, check_int, format_error

__all__ = ["available", "fill_normal_", "normal", "philox_words"]

# Normals per group of sixteen Philox blocks: the unit a fill can be split at.
GROUP = 64
# Below this many normals a fill stays on one thread (a thread hand-off costs ~50 µs).
_MIN_PARALLEL = 1 << 17

_SOURCE = r"""
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

int philox_normal_simd(void) { return 1; }

#define M0 0xD2511F53u
#define M1 0xCD9E8D57u
#define W0 0x9E3779B9u
#define W1 0xBB67AE85u

/* 32 x 32 -> 64-bit products of eight lanes: vpmuludq multiplies the even lanes, so the odd
   ones are shifted down for a second multiply and the halves are blended back in place. */
static inline void mulhilo(__m256i a, __m256i m, __m256i *hi, __m256i *lo) {
    __m256i pe = _mm256_mul_epu32(a, m);
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

/* Philox-4x32-10 of blocks block0 .. block0 + 15 (lane l of half g is block block0 + 8g + l);
   two independent halves keep both multiply ports busy. rk: the ten round keys. */
static inline void philox16(const uint32_t rk[10][2], uint64_t block0, __m256i w[2][4]) {
    const __m256i m0 = _mm256_set1_epi32((int)M0), m1 = _mm256_set1_epi32((int)M1);
    __m256i c[2][4];
    for (int g = 0; g < 2; ++g) {
        uint32_t lo[8], hi[8];
        for (int l = 0; l < 8; ++l) { uint64_t b = block0 + 8 * g + l; lo[l] = (uint32_t)b; hi[l] = (uint32_t)(b >> 32); }
        c[g][0] = _mm256_loadu_si256((const __m256i *)lo); c[g][1] = _mm256_loadu_si256((const __m256i *)hi);
        c[g][2] = _mm256_setzero_si256(); c[g][3] = _mm256_setzero_si256();
    }
    for (int r = 0; r < 10; ++r) {
        const __m256i k0 = _mm256_set1_epi32((int)rk[r][0]), k1 = _mm256_set1_epi32((int)rk[r][1]);
        for (int g = 0; g < 2; ++g) {
            __m256i hi0, lo0, hi1, lo1;
            mulhilo(c[g][0], m0, &hi0, &lo0);
            mulhilo(c[g][2], m1, &hi1, &lo1);
            c[g][0] = _mm256_xor_si256(_mm256_xor_si256(hi1, c[g][1]), k0);
            c[g][2] = _mm256_xor_si256(_mm256_xor_si256(hi0, c[g][3]), k1);
            c[g][1] = lo1; c[g][3] = lo0;
        }
    }
    for (int g = 0; g < 2; ++g) for (int j = 0; j < 4; ++j) w[g][j] = c[g][j];
}

static inline void round_keys(uint64_t key, uint32_t rk[10][2]) {
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; ++r) { rk[r][0] = k0; rk[r][1] = k1; k0 += W0; k1 += W1; }
}

static inline __m256 uniform(__m256i w) {  /* (w >> 8) 2^-24 in [0, 1), torch.rand's resolution */
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(w, 8)), _mm256_set1_ps(5.9604644775390625e-8f));
}

/* log x for x in (0, 1] (normal floats): x = 2^e m, m in [sqrt(1/2), sqrt 2), atanh series in s. */
static inline __m256 log_unit(__m256 x) {
    __m256i xi = _mm256_castps_si256(x);
    __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(127));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x7FFFFF)), _mm256_set1_epi32(0x3F800000)));
    __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    e = _mm256_sub_epi32(e, _mm256_castps_si256(big));  /* the mask is -1 where m was halved */
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one)), s2 = _mm256_mul_ps(s, s);
    __m256 p = _mm256_fmadd_ps(s2, _mm256_set1_ps(2.0f / 9.0f), _mm256_set1_ps(2.0f / 7.0f));
    p = _mm256_fmadd_ps(s2, p, _mm256_set1_ps(2.0f / 5.0f));
    p = _mm256_fmadd_ps(s2, p, _mm256_set1_ps(2.0f / 3.0f));
    p = _mm256_fmadd_ps(s2, p, _mm256_set1_ps(2.0f));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(0.69314718f), _mm256_mul_ps(s, p));
}

/* sin and cos of 2 pi u, u in [0, 1): q = nearest quarter turn (0..4), a = the rest in [-pi/4, pi/4]. */
static inline void sincos_turn(__m256 u, __m256 *sin_out, __m256 *cos_out) {
    __m256 t = _mm256_mul_ps(u, _mm256_set1_ps(4.0f));
    __m256i q = _mm256_cvtps_epi32(t);
    __m256 a = _mm256_mul_ps(_mm256_sub_ps(t, _mm256_cvtepi32_ps(q)), _mm256_set1_ps(1.57079633f));
    __m256 a2 = _mm256_mul_ps(a, a);
    __m256 ps = _mm256_fmadd_ps(a2, _mm256_set1_ps(-1.9515295891e-4f), _mm256_set1_ps(8.3321608736e-3f));
    ps = _mm256_fmadd_ps(a2, ps, _mm256_set1_ps(-1.6666654611e-1f));
    __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(a, a2), ps, a);
    __m256 pc = _mm256_fmadd_ps(a2, _mm256_set1_ps(2.443315711809948e-5f), _mm256_set1_ps(-1.388731625493765e-3f));
    pc = _mm256_fmadd_ps(a2, pc, _mm256_set1_ps(4.166664568298827e-2f));
    __m256 c = _mm256_fmadd_ps(_mm256_mul_ps(a2, a2), pc, _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), a2, _mm256_set1_ps(1.0f)));
    /* sin(q pi/2 + a) = (s, c, -s, -c)[q mod 4], cos(q pi/2 + a) = (c, -s, -c, s)[q mod 4] */
    __m256 odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(q, _mm256_set1_epi32(1)), _mm256_set1_epi32(1)));
    __m256 ss = _mm256_blendv_ps(s, c, odd), cc = _mm256_blendv_ps(c, s, odd);
    __m256i two = _mm256_set1_epi32(2);
    __m256 sign_s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(q, two), 30));
    __m256 sign_c = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(q, _mm256_set1_epi32(1)), two), 30));
    *sin_out = _mm256_xor_ps(ss, sign_s); *cos_out = _mm256_xor_ps(cc, sign_c);
}

/* n normals of the stream `key` from its normal number 64 * group0 on, into out. */
void philox_normal_f32(uint64_t key, uint64_t group0, int64_t n, float *out) {
    uint32_t rk[10][2];
    round_keys(key, rk);
    float buf[64];
    uint64_t block0 = 16 * group0;
    for (int64_t i = 0; i < n; i += 64, block0 += 16) {
        __m256i w[2][4];
        philox16(rk, block0, w);
        float *dst = n - i >= 64 ? out + i : buf;
        for (int g = 0; g < 2; ++g) for (int h = 0; h < 2; ++h) {
            __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), log_unit(_mm256_sub_ps(_mm256_set1_ps(1.0f), uniform(w[g][2 * h])))));
            __m256 s, c;
            sincos_turn(uniform(w[g][2 * h + 1]), &s, &c);
            _mm256_storeu_ps(dst + 32 * g + 16 * h, _mm256_mul_ps(r, c));
            _mm256_storeu_ps(dst + 32 * g + 16 * h + 8, _mm256_mul_ps(r, s));
        }
        if (dst == buf) memcpy(out + i, buf, (size_t)(n - i) * sizeof(float));
    }
}

/* The raw words of blocks block0 .. block0 + nblocks - 1, block-major (4 per block): for tests. */
void philox_words(uint64_t key, uint64_t block0, int64_t nblocks, uint32_t *out) {
    uint32_t rk[10][2];
    round_keys(key, rk);
    for (int64_t b = 0; b < nblocks; b += 16) {
        __m256i w[2][4];
        uint32_t t[4][16];
        philox16(rk, block0 + b, w);
        for (int g = 0; g < 2; ++g) for (int j = 0; j < 4; ++j) _mm256_storeu_si256((__m256i *)(t[j] + 8 * g), w[g][j]);
        for (int l = 0; l < 16 && b + l < nblocks; ++l) for (int j = 0; j < 4; ++j) out[4 * (b + l) + j] = t[j][l];
    }
}
#else
/* Not an AVX2 build (another ISA, or a compiler without the flags): callers use torch.randn. */
int philox_normal_simd(void) { return 0; }
void philox_normal_f32(uint64_t key, uint64_t group0, int64_t n, float *out) { (void)key; (void)group0; (void)n; (void)out; }
void philox_words(uint64_t key, uint64_t block0, int64_t nblocks, uint32_t *out) { (void)key; (void)block0; (void)nblocks; (void)out; }
#endif
"""

_LIB: list = []  # [ctypes.CDLL or None] once tried
_POOL: list = []  # [(pid, workers, ThreadPoolExecutor)] once a fill was split


def _load():
    path = build_shared_library("philox_normal", _SOURCE)
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    u64, i64, ptr = ctypes.c_uint64, ctypes.c_int64, ctypes.c_void_p
    lib.philox_normal_f32.argtypes = [u64, u64, i64, ptr]
    lib.philox_normal_f32.restype = None
    lib.philox_words.argtypes = [u64, u64, i64, ptr]
    lib.philox_words.restype = None
    lib.philox_normal_simd.restype = ctypes.c_int
    return lib if lib.philox_normal_simd() else None


def available() -> bool:
    """Whether the AVX2 generator is built and loadable here (builds it on the first call; never raises)."""
    if not _LIB:
        try:
            _LIB.append(_load())
        except (OSError, ValueError):  # ValueError: a malformed $EBM_NATIVE_MARCH; the callers fall back
            _LIB.append(None)
    return _LIB[0] is not None


def _require():
    if not available():
        raise RuntimeError(format_error("samplers.native_normal", "the AVX2 generator built (an x86 CPU with AVX2 and a working C compiler)",
                                        "none available here", "check samplers.native_normal.available() first, or draw with torch.randn"))
    return _LIB[0]


def _check_u64(name: str, value, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise ValueError(format_error(name, "an int in [0, 2**64)", repr(value), fix))
    return value


def fill_normal_(out: torch.Tensor, key: int, *, threads: int | None = None) -> torch.Tensor:
    """Fill ``out`` (float32, contiguous, CPU, any shape) with the first ``out.numel()`` normals of stream ``key``.

    Args:
        out: the tensor to overwrite.
        key: the stream's 64-bit key (an int in ``[0, 2⁶⁴)``).
        threads: worker threads (default ``torch.get_num_threads()``); fills under 2¹⁷ normals use one.
            The numbers do not depend on it.

    Returns:
        ``out``.

    Raises:
        RuntimeError: the generator is not available here (see `available`).
        TypeError / ValueError: ``out`` is not a contiguous float32 CPU tensor, or ``key`` is out of range.
    """
    lib = _require()
    threads = torch.get_num_threads() if threads is None else check_int("threads", threads, minimum=1)
    if not isinstance(out, torch.Tensor) or out.dtype != torch.float32 or out.device.type != "cpu" or not out.is_contiguous():
        found = f"{type(out).__name__}" if not isinstance(out, torch.Tensor) else f"a {out.dtype} tensor on {out.device}{'' if out.is_contiguous() else ', not contiguous'}"
        raise TypeError(format_error("out", "a contiguous float32 tensor on the CPU", found, "pass torch.empty(shape) (float32, CPU)"))
    _check_u64("key", key, "draw one with torch.randint, or pass a generator to normal()")
    n = out.numel()
    workers = max(1, min(threads, n // _MIN_PARALLEL))
    if workers == 1:
        lib.philox_normal_f32(key, 0, n, out.data_ptr())
        return out
    # Split at whole groups of 64 normals: each worker computes its own groups, so the numbers are
    # those of one thread. ctypes releases the GIL during the call.
    groups = -(-n // GROUP)
    bounds = [groups * w // workers * GROUP for w in range(workers)] + [n]
    base = out.data_ptr()

    def fill(w: int) -> None:
        lo, hi = bounds[w], bounds[w + 1]
        lib.philox_normal_f32(key, lo // GROUP, hi - lo, base + 4 * lo)

    # One pool, made again in a forked child (the parent's threads do not exist there, so its pool
    # would wait forever) or when more workers are asked for.
    if not _POOL or _POOL[0][0] != os.getpid() or _POOL[0][1] < workers:
        from concurrent.futures import ThreadPoolExecutor

        if _POOL and _POOL[0][0] == os.getpid():
            _POOL[0][2].shutdown(wait=False)  # a smaller pool of this process, replaced
        _POOL[:] = [(os.getpid(), workers, ThreadPoolExecutor(workers, thread_name_prefix="ebm-normal"))]
    list(_POOL[0][2].map(fill, range(workers)))
    return out


def normal(shape, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Float32 standard normals of ``shape`` on the CPU from a stream keyed by ``generator``.

    The key is one 64-bit draw from ``generator`` (its state advances by that draw), so runs are
    reproducible from its seed; the numbers are not those ``torch.randn`` would give.

    Raises:
        RuntimeError: the generator is not available here (see `available`).
    """
    check_generator("generator", generator)
    key = int(torch.randint(-(1 << 63), (1 << 63) - 1, (), dtype=torch.int64, generator=generator)) & ((1 << 64) - 1)
    return fill_normal_(torch.empty(shape, dtype=torch.float32), key)


def philox_words(key: int, block0: int, n_blocks: int) -> torch.Tensor:
    """The raw Philox-4×32-10 words of ``n_blocks`` blocks from ``block0``, shape ``(n_blocks, 4)`` int32 (bit patterns).

    Raises:
        RuntimeError: the generator is not available here (see `available`).
        TypeError / ValueError: ``key`` or ``block0`` not an int in ``[0, 2⁶⁴)``, ``n_blocks`` not an int >= 0.
    """
    lib = _require()
    _check_u64("key", key, "pass the stream's 64-bit key")
    _check_u64("block0", block0, "pass the first block's index, e.g. 0")
    n_blocks = check_int("n_blocks", n_blocks, minimum=0)
    out = torch.empty(n_blocks, 4, dtype=torch.int32)
    lib.philox_words(key, block0, n_blocks, out.data_ptr())
    return out
