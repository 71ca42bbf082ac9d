"""Energies: analytic landscapes with exact answers, neural energies, Boltzmann machines,
latent-variable models and joint-embedding energies. Each module registers its classes in
`ebm.registry`."""

from ebm.energies.latent import LatentEnergy
from ebm.energies.sparse_coding import SparseCodingEnergy

__all__ = ["LatentEnergy", "SparseCodingEnergy"]
