"""Counter-based random numbers that ``torch.compile`` can fuse into a sampler's own kernels.

Why a second source of randomness: a compiled step cannot take a ``torch.Generator`` (dynamo does
not trace stateful generators), and on a CPU drawing the uniforms with torch's Mersenne Twister is
a separate, single-threaded pass that costs more than everything else in an RBM Gibbs sweep except
the two matrix products (about 10 of 31 ms at 784 × 500 × 1,000 chains). A *counter-based*
generator computes draw ``i`` as a pure function of ``(key, i)``, so inductor fuses it with the
sigmoid and the comparison into one vectorised loop and no uniform ever touches memory.

The function is SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
generators", OOPSLA; the generator behind Java's ``SplittableRandom``, which passes TestU01's
BigCrush): draw ``i`` under key ``k`` is the mix of ``k + (i + 1) γ``, with γ = 0x9E3779B97F4A7C15
and the variant-13 finaliser

    z ← (z ⊕ (z ≫ 30)) · 0xBF58476D1CE4E5B9;  z ← (z ⊕ (z ≫ 27)) · 0x94D049BB133111EB;  z ⊕ (z ≫ 31),

all modulo 2⁶⁴. So the draws under key ``k`` are exactly SplitMix64's output sequence from state
``k``. Counter-based use of such a mixing function is the construction of Salmon et al. (2011),
"Parallel random numbers: as easy as 1, 2, 3" (Philox/Threefry). Keys are drawn from the caller's
``torch.Generator``, so results are reproducible from its seed; they are *not* the same numbers
``torch.rand`` would give.

Conversions: a float32 uniform takes 24 bits (two per 64-bit word), a float64 uniform the top 53
(``u = m 2⁻ᵇ ∈ [0, 1)``), the resolution of ``torch.rand``; normals use Box-Muller on ``1 - u₁ ∈ (0, 1]`` (float32 normals
are therefore bounded by √(-2 log 2⁻²⁴) ≈ 5.8, a tail of probability 7e-9).

torch has no unsigned 64-bit arithmetic on every backend, so the mix works on int64: multiplication
and addition wrap modulo 2⁶⁴ either way, and logical right shifts are arithmetic shifts with the
sign-extended bits masked off.
"""

from __future__ import annotations

import math

import torch

from .validation import format_error

__all__ = ["CounterRNG", "uniform", "normal", "bernoulli", "splitmix64"]


def _signed(u: int) -> int:
    """The int64 with the bit pattern of the unsigned 64-bit ``u``."""
    return u - (1 << 64) if u >= 1 << 63 else u


_GAMMA = _signed(0x9E3779B97F4A7C15)
_MUL1 = _signed(0xBF58476D1CE4E5B9)
_MUL2 = _signed(0x94D049BB133111EB)


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of an int64 tensor's bit pattern by ``s`` bits."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def splitmix64(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's output function on int64 states (bit patterns of unsigned 64-bit words)."""
    z = (z ^ _shr(z, 30)) * _MUL1
    z = (z ^ _shr(z, 27)) * _MUL2
    return z ^ _shr(z, 31)


class CounterRNG:
    """A stream of counter-based random draws under one 64-bit key; traceable by ``torch.compile``.

    Successive draws from one object use disjoint counter ranges (``offset`` advances by each
    draw's size), so they are independent; a new key (``from_generator``) starts a new stream.
    Inside a compiled function, build it from a key tensor passed in as an argument.

    Args:
        key: int64 tensor on the device the draws should live on: a 0-d key, or a row
            ``(key, γ)`` from `new_keys`. Compiled callers pass rows: with γ arriving as data,
            inductor cannot constant-fold ``counter · γ`` into index arithmetic (which overflows
            its 64-bit index type) and keeps it as a wrapping vector multiply.

    Example:
        >>> rng = CounterRNG.from_generator(torch.Generator().manual_seed(0))
        >>> u = rng.uniform((3, 4), dtype=torch.float32)
        >>> bool(((u >= 0) & (u < 1)).all())
        True
    """

    def __init__(self, key: torch.Tensor):
        # Shape and dtype only (static under torch.compile): no value is read, so no host sync.
        if not isinstance(key, torch.Tensor) or key.dtype != torch.int64 or key.shape not in ((), (2,)):
            found = f"{key.dtype} tensor of shape {tuple(key.shape)}" if isinstance(key, torch.Tensor) else type(key).__name__
            raise TypeError(format_error("key", "an int64 tensor of shape () (a key) or (2,) (a row of CounterRNG.new_keys)", found,
                                         "use CounterRNG.from_generator(generator), or CounterRNG(torch.tensor(seed)) for a fixed seed"))
        if key.dim() == 1:
            self.key, self.gamma = key[0], key[1]
        else:
            self.key, self.gamma = key, _GAMMA
        self.offset = 0

    @staticmethod
    def new_keys(n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """``(n, 2)`` int64 rows ``(key, γ)``, keys drawn from ``generator``: one per future stream."""
        keys = torch.randint(0, 1 << 62, (n, 1), generator=generator, dtype=torch.int64, device=device)  # (n, 1)
        return torch.cat((keys, torch.full_like(keys, _GAMMA)), dim=1)  # (n, 2)

    @classmethod
    def from_generator(cls, generator: torch.Generator | None = None, device=None) -> CounterRNG:
        """A stream whose key is drawn from ``generator`` (on ``device``, default the generator's)."""
        if device is None and generator is not None:
            device = generator.device
        return cls(cls.new_keys(1, generator, device)[0])

    def bits(self, n: int) -> torch.Tensor:
        """``(n,)`` int64 words: SplitMix64 outputs for the next ``n`` counters of this stream."""
        start = self.offset + 1
        self.offset += n
        counters = torch.arange(start, start + n, dtype=torch.int64, device=self.key.device)  # (n,)
        return splitmix64(self.key + counters * self.gamma)

    def uniform_pair(self, m: int, *, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent ``(m,)`` uniform tensors on [0, 1) with the dtype's resolution.

        For dtypes of up to 24 significand bits (float32, float16, bfloat16) both come from the
        same ``m`` 64-bit words (high and low bits), so each uniform costs half a hash; float64
        needs 53 bits per uniform and uses ``2m`` words.
        """
        bits = 1 - round(math.log2(torch.finfo(dtype).eps))  # significand bits; every value m 2⁻ᵇ is exact: never rounds to 1
        if bits <= 24:
            z = self.bits(m)  # (m,)
            scale = 2.0**-bits
            high = _shr(z, 64 - bits).to(torch.float32) * scale
            low = (z & ((1 << bits) - 1)).to(torch.float32) * scale
            return high.to(dtype), low.to(dtype)
        z = self.bits(2 * m)  # (2m,)
        u = _shr(z, 11).to(torch.float64) * 2.0**-53
        return u[:m].to(dtype), u[m:].to(dtype)

    def uniform(self, shape, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniforms on [0, 1) of ``shape`` with the dtype's resolution (float32: 24 bits, float64: 53)."""
        shape = tuple(shape)
        n = math.prod(shape)
        high, low = self.uniform_pair((n + 1) // 2, dtype=dtype)
        return torch.cat((high, low))[:n].reshape(shape)

    def normal(self, shape, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normals of ``shape`` by Box-Muller: ``√(-2 log(1-u₁)) (cos 2πu₂, sin 2πu₂)``."""
        shape = tuple(shape)
        n = math.prod(shape)
        u1, u2 = self.uniform_pair((n + 1) // 2, dtype=dtype)  # (m,) each
        radius = torch.log1p(-u1).mul(-2.0).sqrt()  # (m,)
        angle = u2 * (2.0 * math.pi)  # (m,)
        z = torch.cat((radius * torch.cos(angle), radius * torch.sin(angle)))  # (2m,)
        return z[:n].reshape(shape)

    def bernoulli(self, p: torch.Tensor) -> torch.Tensor:
        """{0, 1} draws with probabilities ``p`` (same shape and dtype): ``u < p``.

        The two halves of the flattened ``p`` are compared against the two uniforms of the same
        words, so a compiled caller evaluates each hash once for two entries (measured: an RBM
        sweep at 784 × 500 × 1,000 chains spends ≈ 1 ms less than with one word per entry).
        """
        n = p.numel()
        m = (n + 1) // 2
        high, low = self.uniform_pair(m, dtype=p.dtype)
        if p.dim() > 1 and p.shape[0] % 2 == 0:
            # The same pairing written over the leading dimension (the flat halves are then whole
            # rows), so a compiled caller keeps the row structure: a bias broadcast over the rows
            # stays a vector load instead of a per-element gather at index modulo the row length.
            rows = p.shape[0] // 2
            high, low = high.view(rows, *p.shape[1:]), low.view(rows, *p.shape[1:])
            return torch.cat(((high < p[:rows]).to(p.dtype), (low < p[rows:]).to(p.dtype)))
        flat = p.reshape(-1)  # (n,)
        first = (high < flat[:m]).to(p.dtype)
        second = (low[: n - m] < flat[m:]).to(p.dtype)
        return torch.cat((first, second)).reshape(p.shape)


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
