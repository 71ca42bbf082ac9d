"""Energies: analytic landscapes with exact answers, neural energies, Boltzmann machines,
latent-variable models and joint-embedding energies. Each module registers its classes in
`ebm.registry`."""

from ebm.energies.analytic import Gaussian, GaussianMixture, circle_of_gaussians, grid_of_gaussians, unbalanced_modes
from ebm.energies.boltzmann import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM
from ebm.energies.joint import JointEmbeddingEnergy
from ebm.energies.landscapes import Banana, DoubleWell, Himmelblau, NealFunnel, Ring, WavyValley
from ebm.energies.latent import LatentEnergy
from ebm.energies.neural import MLPEnergy
from ebm.energies.kmeans import KMeansEnergy
from ebm.energies.gmm import GMMEnergy
from ebm.energies.pca import PCAEnergy
from ebm.energies.decoder import DecoderEnergy
from ebm.energies.latent_prior import LatentEBMPrior
from ebm.energies.vae import GaussianEncoder, LatentEBMVAE
from ebm.energies.autoencoders import AutoencoderEnergy, ContractiveAutoencoderEnergy, DenoisingAutoencoderEnergy, SparseAutoencoderEnergy
from ebm.energies.sparse_coding import SparseCodingEnergy
from ebm.energies.noise_conditional import FixedNoiseEnergy, NoiseConditionalEnergy
from ebm.energies.quadratic import QuadraticEnergy
from ebm.energies.flows import NeuralSplineFlow, RealNVP
from ebm.energies.generator import MLPGenerator
from ebm.energies.jem import ClassifierEnergy
from ebm.energies.conjugate import ConjugateEBM
from ebm.energies.clel import CLELEnergy
from ebm.energies.velocity_flow import VelocityFlowEnergy

__all__ = [
    "Gaussian",
    "GaussianMixture",
    "circle_of_gaussians",
    "grid_of_gaussians",
    "unbalanced_modes",
    "DoubleWell",
    "Banana",
    "Ring",
    "NealFunnel",
    "Himmelblau",
    "WavyValley",
    "JointEmbeddingEnergy",
    "LatentEnergy",
    "MLPEnergy",
    "KMeansEnergy",
    "GMMEnergy",
    "PCAEnergy",
    "DecoderEnergy",
    "AutoencoderEnergy",
    "DenoisingAutoencoderEnergy",
    "ContractiveAutoencoderEnergy",
    "SparseAutoencoderEnergy",
    "LatentEBMPrior",
    "LatentEBMVAE",
    "GaussianEncoder",
    "SparseCodingEnergy",
    "QuadraticEnergy",
    "RealNVP",
    "NeuralSplineFlow",
    "MLPGenerator",
    "ClassifierEnergy",
    "ConjugateEBM",
    "CLELEnergy",
    "VelocityFlowEnergy",
    "NoiseConditionalEnergy",
    "FixedNoiseEnergy",
    "BernoulliRBM",
    "GaussianBernoulliRBM",
    "BoltzmannMachine",
]
