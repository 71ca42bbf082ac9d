"""Training principles: one file per principle, each a callable ``objective(model, batch, generator=None)``
returning a scalar loss to minimise (joint-embedding losses take two views' embeddings)."""

from ebm.objectives.autoencoder import ContractiveLoss, DenoisingLoss, ReconstructionLoss, SparseCodeLoss
from ebm.objectives.free_energy import FreeEnergyLoss
from ebm.objectives.latent_prior import LatentPriorLoss

__all__: list[str] = ["ContractiveLoss", "DenoisingLoss", "ReconstructionLoss", "SparseCodeLoss", "FreeEnergyLoss", "LatentPriorLoss"]
