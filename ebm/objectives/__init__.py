"""Training principles: one file per principle, each a callable ``objective(model, batch, generator=None)``
returning a scalar loss to minimise (joint-embedding losses take two views' embeddings)."""

from ebm.objectives.barlow_twins import BarlowTwins
from ebm.objectives.byol import BYOL, SimSiam
from ebm.objectives.cpc import CPC
from ebm.objectives.data2vec import Data2Vec
from ebm.objectives.dcl import DCL, DCLW
from ebm.objectives.deepcluster import DeepCluster
from ebm.objectives.dino import DINO
from ebm.objectives.infonce import InfoNCE
from ebm.objectives.moco import MoCo
from ebm.objectives.momentum import EMATarget, cosine_momentum
from ebm.objectives.pirl import PIRL
from ebm.objectives.swav import SwAV, sinkhorn_knopp
from ebm.objectives.tico import TiCo
from ebm.objectives.vcreg import VCReg
from ebm.objectives.vicreg import VICReg
from ebm.objectives.wmse import WMSE, whiten

__all__: list[str] = [
    # joint-embedding (self-supervised) losses: loss(z_a, z_b) on two views' embeddings
    "InfoNCE", "MoCo", "DCL", "DCLW", "PIRL",
    "VICReg", "VCReg", "BarlowTwins", "WMSE", "TiCo",
    "SwAV", "DeepCluster", "BYOL", "SimSiam", "DINO", "CPC", "Data2Vec",
    "EMATarget", "cosine_momentum", "sinkhorn_knopp", "whiten",
]
