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


@pytest.mark.parametrize("name", TOY_DATASETS)
@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_every_toy_returns_exactly_n_rows(name, n):
    # make_toy("2spirals", 1) returned 0 rows
    assert make_toy(name, n, torch.Generator().manual_seed(0)).shape == (n, 2)


def test_digit_augment_accepts_load_digits_images():
    from ebm.augment import DigitAugment

    images, _ = load_digits(images=True)
    x = images[:5]
    assert x.shape == (5, 1, 8, 8)
    out = DigitAugment()(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.isfinite(out).all()
    flat = DigitAugment()(x.reshape(5, 64), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.reshape(5, 64), flat)  # the same augmentation in every layout
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)") as info:
        DigitAugment()(torch.rand(5, 3, 8, 8))
    assert not str(info.value).endswith("=")  # it used to stop mid-sentence at "set side="
    with pytest.raises(ValueError, match="finite"):
        DigitAugment()(torch.full((2, 64), float("nan")))
