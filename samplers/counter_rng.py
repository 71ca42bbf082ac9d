"""Counter-based random numbers that ``torch.compile`` can fuse into a sampler's own kernels.

Why a second source of randomness: a compiled step cannot take a ``torch.Generator`` (dynamo does
not trace stateful generators), and on a CPU drawing the uniforms with torch's Mersenne Twister is
a separate, single-threaded pass that costs more than everything else in an RBM Gibbs sweep except
the two matrix products. A *counter-based* generator computes block ``j`` as a pure function of
``(key, j)``, so inductor fuses it with the sigmoid and the comparison (or with Box-Muller and the
Langevin update) into one vectorised loop.

Two published counter-based generators, chosen per device (`default_algorithm`; same
distribution, different numbers):

* **Threefry-4×32-20** (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1,
  2, 3", SC'11, doi:10.1145/2063384.2063405, the Random123 library; Threefry-2×32-20 is JAX's
  default generator) on AVX2, NEON and GPUs. A block maps a 128-bit counter
  ``x = (c₀, c₁, c₂, c₃)`` and a 128-bit key ``(k₀, k₁, k₂, k₃)`` to four 32-bit words: with the
  extended key ``k₄ = 0x1BD11BDA ⊕ k₀ ⊕ k₁ ⊕ k₂ ⊕ k₃``, ``x ← x + (k₀, k₁, k₂, k₃)``, then 20
  rounds of two MIX operations on word pairs

      a ← a + b;  b ← rotl(b, R) ⊕ a      (pairs (0, 1), (2, 3) on even rounds, (0, 3), (2, 1) on odd ones)

  with the rotation constants ``R`` of Threefish-256 cycling with period 8, and after every
  fourth round the key injection ``xᵢ ← xᵢ + k₍ₛ₊ᵢ₎ mod 5`` (i = 0..3), ``x₃ ← x₃ + s`` for
  injection ``s``; all modulo 2³². Here ``c₀`` is the block index within the stream,
  ``c₁ = c₂ = c₃ = 0``, and the key is ``(k₀, k₁, 0, 0)``, the low and high halves of the
  stream's 64-bit key.
* **SplitMix64** (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators",
  OOPSLA; Java's ``SplittableRandom``) on a CPU whose torch kernels use AVX-512: word ``i`` under
  key ``k`` is ``mix(k + (i + 1) γ)``, γ = 0x9E3779B97F4A7C15, with the variant-13 finaliser
  ``z ← (z ⊕ (z ≫ 30)) · 0xBF58476D1CE4E5B9;  z ← (z ⊕ (z ≫ 27)) · 0x94D049BB133111EB;  z ⊕ (z ≫ 31)``
  modulo 2⁶⁴, i.e. SplitMix64's output sequence from state ``k``.

Both pass the whole of TestU01's BigCrush (L'Ecuyer & Simard 2007): Threefry-4×32 per Salmon et
al. with fewer rounds than 20, Random123's default, which keeps a safety margin; SplitMix64 per
Steele et al. `tests/test_counter_rng.py` checks the Random123 known-answer vectors and
SplitMix64's definition, and runs a NIST SP 800-22-style battery (frequency, block frequency,
runs, serial correlation, byte and pair χ²) on the raw words of both.

Why two: SplitMix64 needs 64 × 64-bit multiplies, which have no vector instruction before AVX-512
(no ``vpmullq`` on AVX2): inductor's generated code calls ``Vectorized<int64_t>::operator*``, which
ATen's AVX2 build emulates lane by lane. Threefry needs only 32-bit additions, shifts and xors,
one vector instruction each on AVX2 (8 lanes), AVX-512 (16), NEON and GPUs. Measured on this
project's 2-core Xeon (one thread, other jobs sharing the cores; 200,000 float32 uniforms,
compiled, best of 9 interleaved rounds): under ``ATEN_CPU_CAPABILITY=avx2`` SplitMix64 741 µs,
Philox-4×32-10 1,210 µs, Threefry-4×32-20 455 µs; under AVX-512 116, 1,073 and 352 µs. So each
ISA gets its faster one. Philox-4×32-10 (`philox4x32`, kept and tested against its known
answers) loses on both because torch has no 32 × 32 → 64-bit multiply: its high half must be
built from four 16-bit products. Written in C with AVX2's ``vpmuludq`` it is the fastest of all
(`samplers.native_normal`, which the fused Langevin steps use on AVX2 CPUs for their noise).

torch has no unsigned arithmetic on every backend, so the words live in int32 / int64 tensors (bit
patterns): additions and multiplications wrap modulo 2³² / 2⁶⁴ either way and logical right
shifts are arithmetic shifts with the sign-extended bits masked off.

Conversions: a float32 uniform takes 24 bits (Threefry: the top 24 of one 32-bit word, four per
block; SplitMix64: the high and the low 24 of a 64-bit word), a float64 uniform 53 (Threefry: 27 +
26 from two words; SplitMix64: the top 53 of a word), so ``u = m 2⁻ᵇ ∈ [0, 1)`` at the
resolution of ``torch.rand``; normals use Box-Muller on ``1 - u₁ ∈ (0, 1]`` (float32 normals are
therefore bounded by √(-2 log 2⁻²⁴) ≈ 5.8, a tail of probability 7e-9). Keys are drawn from the
caller's ``torch.Generator``, so results are reproducible from its seed; they are *not* the
numbers ``torch.rand`` would give.
"""

from __future__ import annotations

import math

import torch

from .validation import format_error

__all__ = ["CounterRNG", "uniform", "normal", "bernoulli", "threefry4x32", "philox4x32", "splitmix64", "default_algorithm"]

# Threefry-4×32 rotation constants (Salmon et al. 2011, from Threefish-256), one pair per round mod 8.
THREEFRY_ROTATIONS = ((10, 26), (11, 21), (13, 27), (23, 5), (6, 20), (17, 11), (25, 10), (18, 20))
THREEFRY_PARITY = 0x1BD11BDA  # Skein's key-schedule parity constant
ROUNDS = 20
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57  # Philox-4×32 round multipliers
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments: golden ratio, √3 - 1
# int32 arange for the block index: one stream holds at most 2³¹ blocks (2³³ float32 uniforms).
_MAX_BLOCKS = 1 << 31


def _i32(u: int) -> int:
    """The int32 value with the bit pattern of the unsigned 32-bit ``u``."""
    u &= 0xFFFFFFFF
    return u - (1 << 32) if u >= 1 << 31 else u


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of an int32 tensor's bit pattern by ``0 < s < 32`` bits."""
    return (z >> s) & ((1 << (32 - s)) - 1)


def _rotl(x: torch.Tensor, r: int) -> torch.Tensor:
    """Rotate the 32-bit patterns of an int32 tensor left by ``0 < r < 32`` bits."""
    return (x << r) | _shr(x, 32 - r)


def threefry4x32(counter: tuple, key: tuple, rounds: int = ROUNDS) -> tuple[torch.Tensor, ...]:
    """Threefry-4×32 (Salmon et al. 2011) on int32 bit patterns: four words from a counter and a key.

    Args:
        counter: four int32 tensors (broadcastable) ``(c₀, c₁, c₂, c₃)``.
        key: four int32 tensors (0-d or broadcastable) ``(k₀, k₁, k₂, k₃)``.
        rounds: number of rounds (20 is Threefry-4×32-20, the default; the KATs also list 13).

    Returns:
        Four int32 tensors, the output words ``(x₀, x₁, x₂, x₃)`` as bit patterns.

    Example:
        >>> z = torch.zeros((), dtype=torch.int32)
        >>> hex(int(threefry4x32((z, z, z, z), (z, z, z, z))[0]) & 0xFFFFFFFF)  # Random123 KAT
        '0x9c6ca96a'
    """
    ks = list(key) + [key[0] ^ key[1] ^ key[2] ^ key[3] ^ _i32(THREEFRY_PARITY)]
    x = [counter[i] + ks[i] for i in range(4)]
    for r in range(rounds):
        ra, rb = THREEFRY_ROTATIONS[r % 8]
        if r % 2 == 0:
            x[0] = x[0] + x[1]
            x[1] = _rotl(x[1], ra) ^ x[0]
            x[2] = x[2] + x[3]
            x[3] = _rotl(x[3], rb) ^ x[2]
        else:
            x[0] = x[0] + x[3]
            x[3] = _rotl(x[3], ra) ^ x[0]
            x[2] = x[2] + x[1]
            x[1] = _rotl(x[1], rb) ^ x[2]
        if r % 4 == 3:  # key injection s
            s = r // 4 + 1
            x = [x[i] + ks[(s + i) % 5] for i in range(4)]
            x[3] = x[3] + s
    return tuple(x)


def _mulhilo(a: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hi, lo)`` 32-bit halves of the 64-bit product ``a · m`` (``a`` int32 bit patterns, ``m`` < 2³²).

    Schoolbook on 16-bit halves: every partial product is < 2³² unsigned (an int32 bit pattern),
    and the two carry sums below cannot exceed 2³² - 1, so nothing is lost to wrapping.
    """
    m_lo, m_hi = m & 0xFFFF, m >> 16
    a_lo, a_hi = a & 0xFFFF, _shr(a, 16)
    p00, p01, p10, p11 = a_lo * m_lo, a_lo * m_hi, a_hi * m_lo, a_hi * m_hi
    mid = p01 + _shr(p00, 16)  # < 2³²
    mid2 = (mid & 0xFFFF) + p10  # < 2³²
    hi = p11 + _shr(mid, 16) + _shr(mid2, 16)
    lo = (mid2 << 16) | (p00 & 0xFFFF)
    return hi, lo


def philox4x32(counter: tuple, key: tuple, rounds: int = 10) -> tuple[torch.Tensor, ...]:
    """Philox-4×32 (Salmon et al. 2011) on int32 bit patterns: four words from a counter and a key.

    The measured alternative to `threefry4x32` (slower here: see the module docstring); its round is
    ``(c₀, c₁, c₂, c₃) ← (hi(M₁c₂) ⊕ c₁ ⊕ k₀, lo(M₁c₂), hi(M₀c₀) ⊕ c₃ ⊕ k₁, lo(M₀c₀))`` with the
    key bumped by ``(W₀, W₁)`` between rounds.

    Args:
        counter: four int32 tensors (broadcastable) or ints ``(c₀, c₁, c₂, c₃)``.
        key: two int32 tensors (0-d or broadcastable) or ints ``(k₀, k₁)``.
        rounds: number of rounds (10 is Philox-4×32-10; the known-answer vectors also list 7).

    Returns:
        Four int32 tensors, the output words ``(x₀, x₁, x₂, x₃)`` as bit patterns.

    Example:
        >>> z = torch.zeros((), dtype=torch.int32)
        >>> hex(int(philox4x32((z, z, z, z), (z, z))[0]) & 0xFFFFFFFF)  # Random123 KAT
        '0x6627e8d5'
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = k0 + _i32(PHILOX_W0), k1 + _i32(PHILOX_W1)
        hi0, lo0 = _mulhilo(c0, PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def _signed64(u: int) -> int:
    """The int64 with the bit pattern of the unsigned 64-bit ``u``."""
    return u - (1 << 64) if u >= 1 << 63 else u


SPLITMIX_GAMMA = _signed64(0x9E3779B97F4A7C15)
_SPLITMIX_MUL1 = _signed64(0xBF58476D1CE4E5B9)
_SPLITMIX_MUL2 = _signed64(0x94D049BB133111EB)


def _shr64(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of an int64 tensor's bit pattern by ``s`` bits."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def splitmix64(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's output function (Steele, Lea & Flood 2014) on int64 bit patterns of 64-bit words."""
    z = (z ^ _shr64(z, 30)) * _SPLITMIX_MUL1
    z = (z ^ _shr64(z, 27)) * _SPLITMIX_MUL2
    return z ^ _shr64(z, 31)


def _cpu_has_vector_int64_multiply() -> bool:
    try:
        return torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512")
    except (AttributeError, RuntimeError):
        return False


# Read once at import (not inside a traced function): torch's CPU capability, which follows
# ATEN_CPU_CAPABILITY. AVX-512 has a vector 64-bit multiply (vpmullq), so SplitMix64 is cheapest
# there; elsewhere (AVX2, NEON, GPUs) the 32-bit-lane Threefry is.
_CPU_INT64_MUL = _cpu_has_vector_int64_multiply()
ALGORITHMS = ("threefry", "splitmix64")


def default_algorithm(device: torch.device) -> str:
    """``"splitmix64"`` on a CPU whose torch kernels use AVX-512, else ``"threefry"``."""
    return "splitmix64" if torch.device(device).type == "cpu" and _CPU_INT64_MUL else "threefry"


def _significand_bits(dtype: torch.dtype) -> int:
    return 1 - round(math.log2(torch.finfo(dtype).eps))  # every value m 2⁻ᵇ is exact: never rounds to 1


class CounterRNG:
    """A stream of counter-based draws under one key; traceable by ``torch.compile``.

    Two published counter-based generators, picked per device for speed (same distribution; the
    numbers differ): **Threefry-4×32-20** (32-bit lanes; AVX2, NEON, GPUs) and, on a CPU whose
    torch kernels use AVX-512 (which has a vector 64-bit multiply), **SplitMix64** (Steele, Lea &
    Flood 2014, OOPSLA; the generator of Java's ``SplittableRandom``, which passes BigCrush; word
    ``i`` under key ``k`` is ``mix(k + (i + 1) γ)``, γ = 0x9E3779B97F4A7C15, so the stream is
    SplitMix64's sequence from state ``k``). ``algorithm=`` overrides the choice.

    Successive draws from one object use disjoint counter ranges (``offset`` advances by each draw's
    block count), so they are independent; a new key (``from_generator``) starts a new stream.
    Inside a compiled function, build it from a key row passed in as an argument.

    Every draw is laid out in *planes*: a block (a Threefry block of four 32-bit words, or one
    SplitMix64 word) yields ``k`` uniforms (Threefry: 4 float32 / 2 float64; SplitMix64: 2 / 1), a
    draw of ``n`` values computes ``m = ⌈n/k⌉`` blocks and entry ``q m + j`` uses uniform ``q`` of
    block ``j``. A compiled caller therefore evaluates each block once, in one loop iteration
    that writes all ``k`` of its consumers.

    Args:
        key: a 0-d int64 tensor (the key) or a row ``(key, γ)`` of `new_keys` (int64, shape
            ``(2,)``), on the device the draws should live on. Threefry uses the key's low and high
            32 bits as ``(k₀, k₁)``; SplitMix64 uses ``key`` and ``γ`` (compiled callers pass rows:
            with γ arriving as data, inductor cannot constant-fold ``counter · γ`` into index
            arithmetic, which overflows its 64-bit index type).
        algorithm: ``"threefry"``, ``"splitmix64"`` or None (`default_algorithm` of the key's device).

    Raises:
        TypeError: ``key`` is not such a tensor. ValueError: unknown ``algorithm``.

    Example:
        >>> rng = CounterRNG.from_generator(torch.Generator().manual_seed(0))
        >>> u = rng.uniform((3, 4), dtype=torch.float32)
        >>> bool(((u >= 0) & (u < 1)).all())
        True
    """

    def __init__(self, key: torch.Tensor, algorithm: str | None = None):
        # Shape and dtype only (static under torch.compile): no value is read, so no host sync.
        if not isinstance(key, torch.Tensor) or key.dtype != torch.int64 or key.shape not in ((), (2,)):
            found = f"{key.dtype} tensor of shape {tuple(key.shape)}" if isinstance(key, torch.Tensor) else type(key).__name__
            raise TypeError(format_error("key", "an int64 tensor of shape () (a key) or (2,) (a row of CounterRNG.new_keys)", found,
                                         "use CounterRNG.from_generator(generator), or CounterRNG(torch.tensor(seed)) for a fixed seed"))
        if algorithm is None:
            algorithm = default_algorithm(key.device)
        if algorithm not in ALGORITHMS:
            raise ValueError(format_error("algorithm", f"one of {ALGORITHMS} or None", repr(algorithm), "leave it None for the fastest on this device"))
        self.algorithm = algorithm
        if key.dim() == 1:
            self.key, self.gamma = key[0], key[1]
        else:
            self.key, self.gamma = key, SPLITMIX_GAMMA
        self.device = key.device
        self.offset = 0  # blocks used so far

    @staticmethod
    def new_keys(n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """``(n, 2)`` int64 rows ``(key, γ)``, keys drawn from ``generator``: one per future stream."""
        keys = torch.randint(0, 1 << 62, (n, 1), generator=generator, dtype=torch.int64, device=device)  # (n, 1)
        return torch.cat((keys, torch.full_like(keys, SPLITMIX_GAMMA)), dim=1)  # (n, 2)

    @classmethod
    def from_generator(cls, generator: torch.Generator | None = None, device=None, algorithm: str | None = None) -> CounterRNG:
        """A stream whose key is drawn from ``generator`` (on ``device``, default the generator's)."""
        if device is None and generator is not None:
            device = generator.device
        return cls(cls.new_keys(1, generator, device)[0], algorithm)

    def blocks(self, m: int) -> tuple[torch.Tensor, ...]:
        """The next ``m`` blocks: four ``(m,)`` int32 word planes (Threefry) or one ``(m,)`` int64 plane (SplitMix64)."""
        start = self.offset
        if self.algorithm == "splitmix64":
            self.offset += m
            counters = torch.arange(start + 1, start + m + 1, dtype=torch.int64, device=self.device)  # (m,)
            return (splitmix64(self.key + counters * self.gamma),)
        if start + m > _MAX_BLOCKS:
            raise ValueError(format_error("draw size", f"at most {_MAX_BLOCKS} blocks per CounterRNG stream", f"{start + m}",
                                          "split the draw over several streams (CounterRNG.new_keys)"))
        self.offset += m
        c0 = torch.arange(start, start + m, dtype=torch.int32, device=self.device)  # (m,)
        zero = torch.zeros((), dtype=torch.int32, device=self.device)
        k0, k1 = self.key.to(torch.int32), (self.key >> 32).to(torch.int32)  # int64 → int32 keeps the low 32 bits
        return threefry4x32((c0, zero, zero, zero), (k0, k1, zero, zero))

    def bits(self, n: int) -> torch.Tensor:
        """``(n,)`` words in stream order: int32 for Threefry (block 0 words 0-3, block 1, ...), int64 for SplitMix64."""
        if self.algorithm == "splitmix64":
            return self.blocks(n)[0]
        m = (n + 3) // 4
        return torch.stack(self.blocks(m), dim=1).reshape(-1)[:n]  # (4m,) → (n,)

    def planes_per_block(self, dtype: torch.dtype) -> int:
        """Uniforms of ``dtype`` per block: Threefry 4 (≤ 24-bit dtypes) or 2; SplitMix64 2 or 1."""
        small = _significand_bits(dtype) <= 24
        if self.algorithm == "splitmix64":
            return 2 if small else 1
        return 4 if small else 2

    def uniform_planes(self, m: int, *, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
        """`planes_per_block` independent ``(m,)`` uniform planes on [0, 1) from ``m`` blocks."""
        bits = _significand_bits(dtype)
        if bits > 53:
            raise TypeError(format_error("dtype", "a floating dtype of at most 53 significand bits", str(dtype), "use float64 or float32"))
        words = self.blocks(m)
        if self.algorithm == "splitmix64":
            (z,) = words
            if bits <= 24:  # high and low bits of each word
                scale = 2.0**-bits
                high = _shr64(z, 64 - bits).to(torch.float32) * scale
                low = (z & ((1 << bits) - 1)).to(torch.float32) * scale
                return high.to(dtype), low.to(dtype)
            return ((_shr64(z, 11).to(torch.float64) * 2.0**-53).to(dtype),)
        if bits <= 24:
            scale = 2.0**-bits
            return tuple((_shr(w, 32 - bits).to(torch.float32) * scale).to(dtype) for w in words)
        # 53 bits from two words: 27 high bits of one, 26 of the other (the res53 construction).
        planes = []
        for a, b in ((words[0], words[1]), (words[2], words[3])):
            u = (_shr(a, 5).to(torch.float64) * 67108864.0 + _shr(b, 6).to(torch.float64)) * 2.0**-53
            planes.append(u.to(dtype))
        return tuple(planes)

    def _planes_for(self, n: int, dtype: torch.dtype) -> tuple[int, tuple[torch.Tensor, ...]]:
        k = self.planes_per_block(dtype)
        m = (n + k - 1) // k
        return m, self.uniform_planes(m, dtype=dtype)

    def uniform(self, shape, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniforms on [0, 1) of ``shape`` with the dtype's resolution (float32: 24 bits, float64: 53)."""
        shape = tuple(shape)
        n = math.prod(shape)
        _, planes = self._planes_for(n, dtype)
        return torch.cat(planes)[:n].reshape(shape)

    def normal(self, shape, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normals of ``shape`` by Box-Muller: ``√(-2 log(1-u₁)) (cos 2πu₂, sin 2πu₂)``.

        The uniforms of a block pair up (Threefry: four per float32 block, two per float64 block;
        SplitMix64: two per float32 word; float64 takes two runs of words), so each pair gives
        two normals; reduced-precision dtypes are transformed in float32.
        """
        shape = tuple(shape)
        n = math.prod(shape)
        work = dtype if dtype == torch.float64 else torch.float32
        k = self.planes_per_block(dtype)
        if k == 1:
            m = (n + 1) // 2
            planes = self.uniform_planes(m, dtype=dtype) + self.uniform_planes(m, dtype=dtype)
        else:
            _, planes = self._planes_for(n, dtype)
        out = []
        for u1, u2 in zip(planes[0::2], planes[1::2]):
            u1, u2 = u1.to(work), u2.to(work)
            radius = torch.log1p(-u1).mul(-2.0).sqrt()  # (m,)
            angle = u2 * (2.0 * math.pi)  # (m,)
            out += [radius * torch.cos(angle), radius * torch.sin(angle)]
        return torch.cat(out)[:n].reshape(shape).to(dtype)

    def bernoulli(self, p: torch.Tensor) -> torch.Tensor:
        """{0, 1} draws with probabilities ``p`` (same shape and dtype): ``u < p``.

        The flattened ``p`` is cut into as many contiguous parts as a block has uniforms
        (`planes_per_block`) and part ``q`` is compared against plane ``q``, so a compiled
        caller evaluates each block once for all its entries. When the leading dimension divides
        evenly the same cut is written over whole rows, so a compiled caller keeps the row
        structure: a bias broadcast over the rows stays a vector load instead of a per-element
        gather at index modulo the row length. Either way the draws equal those of ``p.reshape(-1)``.
        """
        n = p.numel()
        m, planes = self._planes_for(n, p.dtype)
        k = len(planes)
        if p.dim() > 1 and p.shape[0] % k == 0:
            rows = p.shape[0] // k
            return torch.cat([(u.view(rows, *p.shape[1:]) < p[q * rows : (q + 1) * rows]).to(p.dtype) for q, u in enumerate(planes)])
        flat = p.reshape(-1)  # (n,)
        parts = []
        for q, u in enumerate(planes):
            chunk = flat[q * m : (q + 1) * m]
            parts.append((u[: chunk.numel()] < chunk).to(p.dtype))
        return torch.cat(parts).reshape(p.shape)


def uniform(shape, *, generator=None, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``torch.rand`` for a ``torch.Generator``/None, the counter stream for a `CounterRNG`."""
    if isinstance(generator, CounterRNG):
        return generator.uniform(shape, dtype=dtype)
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def normal(shape, *, generator=None, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``torch.randn`` for a ``torch.Generator``/None, Box-Muller on the stream for a `CounterRNG`."""
    if isinstance(generator, CounterRNG):
        return generator.normal(shape, dtype=dtype)
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)


def bernoulli(p: torch.Tensor, generator=None) -> torch.Tensor:
    """Draw {0, 1} with probabilities ``p`` (same shape and dtype): ``u < p``.

    ``u < p`` rather than ``torch.bernoulli``: the same distribution, about twice as fast on a CPU.
    Eagerly the comparison is written in place into the uniform buffer (one allocation); under a
    `CounterRNG` it stays an expression that a compiled caller fuses with the code computing ``p``.
    """
    if isinstance(generator, CounterRNG):
        return generator.bernoulli(p)
    return torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device).lt_(p)
