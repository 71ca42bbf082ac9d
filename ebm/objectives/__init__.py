"""Training principles: one file per principle, each a callable ``objective(model, batch, generator=None)``
returning a scalar loss to minimise (joint-embedding losses take two views' embeddings)."""

from ebm.objectives.contrastive_divergence import ContrastiveDivergence, rbm_block_gibbs
from ebm.objectives.exact_likelihood import ExactLikelihood

__all__ = ["ContrastiveDivergence", "ExactLikelihood", "rbm_block_gibbs"]
