import pytest
import torch

from ebm.data import TOY_DATASETS, bars_and_stripes, bars_and_stripes_distribution, load_digits, make_toy


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_shape_range_and_determinism(name):
    x = make_toy(name, 1001, generator=torch.Generator().manual_seed(0))
    assert x.shape == (1001, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.abs().max() < 6
    assert x.std(0).min() > 0.5  # spread out, not collapsed
    y = make_toy(name, 1001, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, y)


def test_toy_bad_input():
    with pytest.raises(ValueError, match="name: expected one of"):
        make_toy("spiral", 10)
    with pytest.raises(ValueError, match="n: expected an integer >= 1"):
        make_toy("moons", 0)


def test_checkerboard_occupies_alternate_squares():
    x = make_toy("checkerboard", 5000, generator=torch.Generator().manual_seed(1))
    cell = torch.floor(x / 2).long()
    assert ((cell[:, 0] + cell[:, 1]) % 2 == 0).all()


@pytest.mark.parametrize("size", [2, 3, 4])
def test_bars_and_stripes_distribution(size):
    patterns, probs = bars_and_stripes_distribution(size)
    assert patterns.shape == (2 ** (size + 1) - 2, size * size)
    assert float(probs.sum()) == pytest.approx(1.0)
    images = patterns.reshape(-1, size, size)
    rows_const = (images == images[:, :, :1]).all(2).all(1)
    cols_const = (images == images[:, :1, :]).all(2).all(1)
    assert (rows_const | cols_const).all()
    sample = bars_and_stripes(size, 100, generator=torch.Generator().manual_seed(0))
    assert sample.shape == (100, size * size)


def test_digits_split_is_fixed_and_stratified():
    xtr, ytr = load_digits("train")
    xte, yte = load_digits("test", binarize=True)
    assert xtr.shape == (1347, 64) and xte.shape == (450, 64)
    assert 0 <= xtr.min() and xtr.max() <= 1
    assert set(xte.unique().tolist()) <= {0.0, 1.0}
    assert torch.bincount(yte).min() >= 43  # ~45 per class in the 25 % split
    assert load_digits("all", images=True)[0].shape == (1797, 1, 8, 8)
