import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def generator():
    """A seeded CPU generator; every test that draws random numbers takes it (or seeds its own)."""
    return torch.Generator().manual_seed(0)
