"""Energies: analytic landscapes with exact answers, neural energies, Boltzmann machines,
latent-variable models and joint-embedding energies. Each module registers its classes in
`ebm.registry`."""

from ebm.energies.latent import LatentEnergy
from ebm.energies.noise_conditional import FixedNoiseEnergy, NoiseConditionalEnergy
from ebm.energies.quadratic import QuadraticEnergy

__all__ = ["LatentEnergy", "QuadraticEnergy", "NoiseConditionalEnergy", "FixedNoiseEnergy"]
