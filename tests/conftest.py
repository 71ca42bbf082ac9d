import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
# The suite's tensors are small: one intra-op thread is faster than two and keeps timings stable
# when the machine is shared (measured: 2 threads were ~10x slower for small networks under load).
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def generator():
    """A seeded CPU generator; every test that draws random numbers takes it (or seeds its own)."""
    return torch.Generator().manual_seed(0)
