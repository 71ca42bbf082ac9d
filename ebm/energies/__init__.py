"""Energies: analytic landscapes with exact answers, neural energies, Boltzmann machines,
latent-variable models and joint-embedding energies. Each module registers its classes in
`ebm.registry`."""

from ebm.energies.joint import JointEmbeddingEnergy
from ebm.energies.latent import LatentEnergy

__all__ = ["JointEmbeddingEnergy", "LatentEnergy"]
