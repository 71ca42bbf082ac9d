"""Training principles: one file per principle, each a callable ``objective(model, batch, generator=None)``
returning a scalar loss to minimise (joint-embedding losses take two views' embeddings)."""

from ebm.objectives.autoencoder import ContractiveLoss, DenoisingLoss, ReconstructionLoss, SparseCodeLoss
from ebm.objectives.clel import CLEL
from ebm.objectives.contrastive_divergence import ContrastiveDivergence, rbm_block_gibbs
from ebm.objectives.concrete_score_matching import ConcreteScoreMatching
from ebm.objectives.diffusion_recovery_likelihood import DiffusionRecoveryLikelihood
from ebm.objectives.energy_discrepancy import EnergyDiscrepancy
from ebm.objectives.energy_matching import EnergyMatching
from ebm.objectives.flow_matching import FlowMatching
from ebm.objectives.denoising_score_matching import DenoisingScoreMatching, MultiLevelDenoisingScoreMatching, geometric_sigmas
from ebm.objectives.exact_likelihood import ExactLikelihood
from ebm.objectives.flow_contrastive_estimation import FlowContrastiveEstimation
from ebm.objectives.energy_generator import GeneratorContrast, knn_entropy
from ebm.objectives.free_energy import FreeEnergyLoss
from ebm.objectives.jem import JEM, SGLD
from ebm.objectives.latent_prior import LatentPriorLoss
from ebm.objectives.vae_latent_ebm import VAELatentEBMLoss
from ebm.objectives.divergence_triangle import DivergenceTriangle
from ebm.objectives.minimum_probability_flow import MinimumProbabilityFlow
from ebm.objectives.noise_contrastive_estimation import NoiseContrastiveEstimation
from ebm.objectives.pseudo_likelihood import PseudoLikelihood
from ebm.objectives.ratio_matching import RatioMatching
from ebm.objectives.rpc import RPC
from ebm.objectives.score_matching import ScoreMatching
from ebm.objectives.sliced_score_matching import SlicedScoreMatching

from ebm.objectives.barlow_twins import BarlowTwins
from ebm.objectives.byol import BYOL, SimSiam
from ebm.objectives.cluster_step import ClusteringEStep, spherical_kmeans
from ebm.objectives.clusterfit import PseudoLabelClassification, cluster_pseudo_labels
from ebm.objectives.contrastive_clustering import ContrastiveClustering
from ebm.objectives.cpc import CPC
from ebm.objectives.data2vec import Data2Vec
from ebm.objectives.dcl import DCL, DCLW
from ebm.objectives.deepcluster import DeepCluster
from ebm.objectives.dino import DINO
from ebm.objectives.directclr import DirectCLR
from ebm.objectives.ebclr import EBCLR
from ebm.objectives.emp_ssl import EMPSSL, total_coding_rate
from ebm.objectives.frossl import FroSSL
from ebm.objectives.ifm import IFM
from ebm.objectives.infonce import InfoNCE
from ebm.objectives.koleo import KoLeo
from ebm.objectives.lejepa import SIGReg, LeJEPA
from ebm.objectives.mmcr import MMCR
from ebm.objectives.moco import MoCo
from ebm.objectives.pcl import PCL
from ebm.objectives.momentum import EMATarget, cosine_momentum
from ebm.objectives.msn import MSN
from ebm.objectives.pirl import PIRL
from ebm.objectives.propos import ProPos
from ebm.objectives.swav import SwAV, sinkhorn_knopp
from ebm.objectives.tico import TiCo
from ebm.objectives.vcreg import VCReg
from ebm.objectives.vicreg import VICReg
from ebm.objectives.vicregl import VICRegL
from ebm.objectives.wmse import WMSE, whiten

__all__: list[str] = [
    "RPC",
    "ContrastiveDivergence",
    "ExactLikelihood",
    "rbm_block_gibbs",
    "ScoreMatching",
    "DenoisingScoreMatching",
    "MultiLevelDenoisingScoreMatching",
    "geometric_sigmas",
    "SlicedScoreMatching",
    "NoiseContrastiveEstimation",
    "FlowContrastiveEstimation",
    "GeneratorContrast",
    "knn_entropy",
    "JEM",
    "SGLD",
    "RatioMatching",
    "MinimumProbabilityFlow",
    "PseudoLikelihood",
    "ConcreteScoreMatching",
    "DiffusionRecoveryLikelihood",
    "EnergyDiscrepancy",
    "EnergyMatching",
    "FlowMatching",
    "ContractiveLoss",
    "DenoisingLoss",
    "ReconstructionLoss",
    "SparseCodeLoss",
    "FreeEnergyLoss",
    "LatentPriorLoss",
    "VAELatentEBMLoss",
    "DivergenceTriangle",
    "CLEL",
    # joint-embedding (self-supervised) losses: loss(z_a, z_b) on two views' embeddings
    "InfoNCE", "MoCo", "DCL", "DCLW", "PIRL",
    "VICReg", "VCReg", "BarlowTwins", "WMSE", "TiCo",
    "SwAV", "DeepCluster", "BYOL", "SimSiam", "DINO", "CPC", "Data2Vec",
    "EMATarget", "cosine_momentum", "sinkhorn_knopp", "whiten",
    # multi-view losses: loss(z_1, ..., z_k) on k views' embeddings (MSN: loss(anchors, targets))
    "MMCR", "KoLeo", "SIGReg", "LeJEPA", "MSN", "EMPSSL", "FroSSL", "total_coding_rate",
    # clustering family: cluster-level losses and their E-step (k-means over the data set)
    "ContrastiveClustering", "PCL", "ProPos", "PseudoLabelClassification", "cluster_pseudo_labels",
    "ClusteringEStep", "spherical_kmeans",
    # issue 17: DirectCLR and IFM are pair losses; VICRegL adds feature maps and cell locations;
    # EBCLR is a training objective (SGLD negatives in input space), its loss is EBCLR.loss
    "DirectCLR", "IFM", "VICRegL", "EBCLR",
]
