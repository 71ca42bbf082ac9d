"""Energies: analytic landscapes with exact answers, neural energies, Boltzmann machines,
latent-variable models and joint-embedding energies. Each module registers its classes in
`ebm.registry`."""

from ebm.energies.boltzmann import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM
from ebm.energies.latent import LatentEnergy

__all__ = ["LatentEnergy", "BernoulliRBM", "GaussianBernoulliRBM", "BoltzmannMachine"]
