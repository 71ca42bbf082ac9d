"""Data sets for teaching: the 2-D toy suite, bars-and-stripes, and scikit-learn's 8×8 digits.

The toy sets use the parameters of the FFJORD toy suite (Grathwohl et al. 2019, arXiv:1810.01367),
which most 2-D density-estimation and EBM papers reuse, so pictures and numbers compare with the
literature. Every draw comes from an explicit ``torch.Generator``; nothing touches global state.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from ebm._validation import check_choice, check_generator, check_int, check_probability

__all__ = ["TOY_DATASETS", "make_toy", "bars_and_stripes", "bars_and_stripes_distribution", "load_digits"]

TOY_DATASETS = ("8gaussians", "moons", "circles", "rings", "swissroll", "pinwheel", "2spirals", "checkerboard")


def _rand(generator, *shape) -> Tensor:
    return torch.rand(*shape, generator=generator, dtype=torch.float64)


def _randn(generator, *shape) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def _shuffled(x: Tensor, generator) -> Tensor:
    return x[torch.randperm(x.shape[0], generator=generator)]


def _eight_gaussians(n, g):
    # 8 centres on a circle of radius 4, unit-variance... then everything scaled by 1/1.414.
    s = 1 / math.sqrt(2)
    centres = 4.0 * torch.tensor([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)], dtype=torch.float64)
    idx = torch.randint(0, 8, (n,), generator=g)
    return (0.5 * _randn(g, n, 2) + centres[idx]) / 1.414


def _moons(n, g):
    n_out = n // 2
    n_in = n - n_out
    t_out = torch.linspace(0, math.pi, n_out, dtype=torch.float64)
    t_in = torch.linspace(0, math.pi, n_in, dtype=torch.float64)
    outer = torch.stack([torch.cos(t_out), torch.sin(t_out)], 1)
    inner = torch.stack([1 - torch.cos(t_in), 1 - torch.sin(t_in) - 0.5], 1)
    x = torch.cat([outer, inner]) + 0.1 * _randn(g, n, 2)
    return _shuffled(x * 2 + torch.tensor([-1.0, -0.2], dtype=torch.float64), g)


def _circles(n, g):
    n_out = n // 2
    n_in = n - n_out
    t_out = torch.arange(n_out, dtype=torch.float64) * (2 * math.pi / max(n_out, 1))
    t_in = torch.arange(n_in, dtype=torch.float64) * (2 * math.pi / max(n_in, 1))
    x = torch.cat([torch.stack([torch.cos(t_out), torch.sin(t_out)], 1), 0.5 * torch.stack([torch.cos(t_in), torch.sin(t_in)], 1)])
    return _shuffled(3.0 * (x + 0.08 * _randn(g, n, 2)), g)


def _rings(n, g):
    sizes = [n // 4] * 3
    sizes.insert(0, n - sum(sizes))  # the innermost ring takes the remainder
    parts = []
    for radius, m in zip((0.25, 0.5, 0.75, 1.0), sizes):
        t = torch.arange(m, dtype=torch.float64) * (2 * math.pi / max(m, 1))
        parts.append(radius * torch.stack([torch.cos(t), torch.sin(t)], 1))
    x = _shuffled(3.0 * torch.cat(parts), g)
    return x + 0.08 * _randn(g, n, 2)


def _swissroll(n, g):
    t = 1.5 * math.pi * (1 + 2 * _rand(g, n))
    x = torch.stack([t * torch.cos(t), 21 * _rand(g, n), t * torch.sin(t)], 1) + 1.0 * _randn(g, n, 3)
    return x[:, [0, 2]] / 5


def _pinwheel(n, g):
    n_classes, rate = 5, 0.25
    per_class = n // n_classes
    m = n_classes * per_class
    features = _randn(g, m, 2) * torch.tensor([0.3, 0.1], dtype=torch.float64)  # radial, tangential std
    features[:, 0] += 1.0
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    angles = labels.to(torch.float64) * (2 * math.pi / n_classes) + rate * torch.exp(features[:, 0])
    c, s = torch.cos(angles), torch.sin(angles)
    rotated = torch.stack([features[:, 0] * c - features[:, 1] * s, features[:, 0] * s + features[:, 1] * c], 1)
    x = 2 * _shuffled(rotated, g)
    if m < n:  # FFJORD returns n // 5 * 5 points; top up so the caller gets exactly n
        x = torch.cat([x, _pinwheel(n_classes, g)[: n - m]])
    return x


def _two_spirals(n, g):
    half = (n + 1) // 2  # one arm gets the odd point: exactly n rows, also for n = 1
    t = torch.sqrt(_rand(g, half, 1)) * 540 * (2 * math.pi) / 360
    d1 = torch.cat([-torch.cos(t) * t + 0.5 * _rand(g, half, 1), torch.sin(t) * t + 0.5 * _rand(g, half, 1)], 1)
    x = torch.cat([d1, -d1])[:n] / 3  # (n, 2)
    return _shuffled(x + 0.1 * _randn(g, n, 2), g)


def _checkerboard(n, g):
    x1 = _rand(g, n) * 4 - 2
    x2 = _rand(g, n) - torch.randint(0, 2, (n,), generator=g).to(torch.float64) * 2
    x2 = x2 + torch.remainder(torch.floor(x1), 2)
    return torch.stack([x1, x2], 1) * 2


_TOY = {
    "8gaussians": _eight_gaussians,
    "moons": _moons,
    "circles": _circles,
    "rings": _rings,
    "swissroll": _swissroll,
    "pinwheel": _pinwheel,
    "2spirals": _two_spirals,
    "checkerboard": _checkerboard,
}


def make_toy(name: str, n: int, generator: torch.Generator | None = None, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Draw ``n`` points ``(n, 2)`` from a 2-D toy distribution of the FFJORD suite.

    Names: ``8gaussians, moons, circles, rings, swissroll, pinwheel, 2spirals, checkerboard``.
    Data lie roughly in ``[-4, 4]²``.

    Args:
        name: one of `TOY_DATASETS`.
        n: number of points.
        generator: CPU random generator (``None`` uses torch's global generator).
        dtype: output dtype.

    Returns:
        Tensor ``(n, 2)``.

    Raises:
        ValueError: unknown name or ``n < 1``.

    Example:
        >>> x = make_toy("moons", 512, generator=torch.Generator().manual_seed(0))
    """
    check_choice("name", name, TOY_DATASETS)
    n = check_int("n", n, minimum=1)
    check_generator("generator", generator, "cpu")
    return _TOY[name](n, generator).to(dtype)


def bars_and_stripes_distribution(size: int = 3) -> tuple[Tensor, Tensor]:
    """The exact bars-and-stripes distribution on ``size × size`` binary images (MacKay 2003).

    Generative process: pick horizontal or vertical with probability ½, then switch each row
    (or column) on with probability ½. The all-off and all-on images arise both ways, so they have
    probability ``2^-size``; each of the other ``2^(size+1) - 4`` patterns has ``2^-(size+1)``.

    Returns:
        ``(patterns (m, size*size) float {0,1}, probs (m,) float64)`` with ``m = 2^(size+1) - 2``.
    """
    size = check_int("size", size, minimum=1, maximum=12)
    bits = ((torch.arange(2**size).unsqueeze(1) >> torch.arange(size)) & 1).to(torch.float32)  # (2^size, size)
    rows = bits.unsqueeze(2).expand(-1, size, size)  # bar images: row i all equal to bits[i]
    cols = rows.transpose(1, 2)
    patterns = torch.unique(torch.cat([rows, cols]).reshape(-1, size * size), dim=0)  # (m, size*size)
    mass = patterns.sum(1)
    probs = torch.where((mass == 0) | (mass == size * size), 2.0**-size, 2.0 ** -(size + 1)).to(torch.float64)
    return patterns, probs


def bars_and_stripes(size: int = 3, n: int | None = None, *, generator: torch.Generator | None = None) -> Tensor:
    """Bars-and-stripes images, flattened: ``(n, size*size)`` in {0, 1}.

    With ``n=None`` returns each distinct pattern once (``2^(size+1) - 2`` rows); otherwise draws
    ``n`` i.i.d. samples from the generative process (see `bars_and_stripes_distribution`).
    """
    patterns, probs = bars_and_stripes_distribution(size)
    if n is None:
        return patterns
    n = check_int("n", n, minimum=1)
    idx = torch.multinomial(probs, n, replacement=True, generator=generator)
    return patterns[idx]


@lru_cache(maxsize=1)
def _digits_split():
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    data = sk_load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)  # (1797, 64) in [0, 1]
    y = torch.tensor(data.target, dtype=torch.long)
    # A fixed, stratified 75/25 split so every method in the playground sees the same test set.
    idx_train, idx_test = train_test_split(torch.arange(len(y)).numpy(), test_size=0.25, stratify=y.numpy(), random_state=0)
    return x, y, torch.as_tensor(idx_train), torch.as_tensor(idx_test)


def load_digits(split: str = "train", *, binarize: bool = False, threshold: float = 0.5, images: bool = False) -> tuple[Tensor, Tensor]:
    """scikit-learn's 8×8 handwritten digits (1,797 images), scaled to [0, 1].

    Args:
        split: 'train' (1,347 images), 'test' (450, stratified, fixed) or 'all'.
        binarize: threshold the intensities to {0, 1} (for Bernoulli models).
        threshold: the binarisation threshold in (0, 1).
        images: return ``(n, 1, 8, 8)`` instead of flat ``(n, 64)``.

    Returns:
        ``(x, y)``: x float32 ``(n, 64)`` (or ``(n, 1, 8, 8)``), labels ``(n,)`` int64.

    Example:
        >>> x, y = load_digits("train", binarize=True)
    """
    check_choice("split", split, ("train", "test", "all"))
    x, y, idx_train, idx_test = _digits_split()
    if split != "all":
        idx = idx_train if split == "train" else idx_test
        x, y = x[idx], y[idx]
    if binarize:
        x = (x > check_probability("threshold", threshold)).to(torch.float32)
    if images:
        x = x.reshape(-1, 1, 8, 8)  # (n, 1, 8, 8)
    return x.clone(), y.clone()
