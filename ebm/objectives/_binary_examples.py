"""Registry examples shared by the binary objectives (a small Boltzmann machine and data)."""

from __future__ import annotations

import torch


def small_bm():
    from ebm.energies.boltzmann import BoltzmannMachine

    return BoltzmannMachine(4, weight_scale=0.3, generator=torch.Generator().manual_seed(0))


def binary_batch(n: int = 16, d: int = 4) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, d), 0.5), generator=torch.Generator().manual_seed(1))


def quadratic():
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(4)
