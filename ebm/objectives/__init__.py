"""Training principles: one file per principle, each a callable ``objective(model, batch, generator=None)``
returning a scalar loss to minimise (joint-embedding losses take two views' embeddings)."""

from ebm.objectives.autoencoder import ContractiveLoss, DenoisingLoss, ReconstructionLoss, SparseCodeLoss
from ebm.objectives.contrastive_divergence import ContrastiveDivergence, rbm_block_gibbs
from ebm.objectives.denoising_score_matching import DenoisingScoreMatching, MultiLevelDenoisingScoreMatching, geometric_sigmas
from ebm.objectives.exact_likelihood import ExactLikelihood
from ebm.objectives.free_energy import FreeEnergyLoss
from ebm.objectives.latent_prior import LatentPriorLoss
from ebm.objectives.minimum_probability_flow import MinimumProbabilityFlow
from ebm.objectives.noise_contrastive_estimation import NoiseContrastiveEstimation
from ebm.objectives.pseudo_likelihood import PseudoLikelihood
from ebm.objectives.ratio_matching import RatioMatching
from ebm.objectives.score_matching import ScoreMatching
from ebm.objectives.sliced_score_matching import SlicedScoreMatching

__all__: list[str] = [
    "ContrastiveDivergence",
    "ExactLikelihood",
    "rbm_block_gibbs",
    "ScoreMatching",
    "DenoisingScoreMatching",
    "MultiLevelDenoisingScoreMatching",
    "geometric_sigmas",
    "SlicedScoreMatching",
    "NoiseContrastiveEstimation",
    "RatioMatching",
    "MinimumProbabilityFlow",
    "PseudoLikelihood",
    "ContractiveLoss",
    "DenoisingLoss",
    "ReconstructionLoss",
    "SparseCodeLoss",
    "FreeEnergyLoss",
    "LatentPriorLoss",
]
