"""Maximum-likelihood loss of the latent-space EBM prior model (Pang et al. 2020, arXiv:2006.08205).

With z_post ~ p(z | x) and z_prior ~ p_α(z), both by short-run Langevin in latent space (detached),

    L = mean f_α(z_post) - mean f_α(z_prior) + mean ‖x - g_θ(z_post)‖² / (2σ²)

has the log-likelihood gradients of the paper: the first two terms give
``E_post[∇f] - E_prior[∇f]`` for the prior, the last ``E_post[∇ ‖x - g(z)‖²/(2σ²)]`` for the
generator (the samples carry no gradient; the sampling distribution's dependence on the
parameters is exactly what the score-function identity of the paper accounts for).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_generator, check_tensor, format_error
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["LatentPriorLoss"]


def _example():
    from ebm.energies.latent_prior import LatentEBMPrior

    model = LatentEBMPrior(3, latent_dim=2, hidden=8, prior_hidden=8, prior_steps=5, posterior_steps=5, generator=torch.Generator().manual_seed(0))
    return LatentPriorLoss(), (model, torch.randn(8, 3, generator=torch.Generator().manual_seed(1)))


@register_objective(
    "latent_ebm_prior",
    example=_example,
    bad_inputs=[
        (lambda: LatentPriorLoss()(torch.nn.Linear(2, 2), torch.zeros(4, 2)), TypeError, "model"),
        (lambda: LatentPriorLoss()(_example()[1][0], torch.zeros(4, 2)), ValueError, "batch"),
    ],
)
class LatentPriorLoss:
    """Short-run-Langevin maximum-likelihood loss for `LatentEBMPrior` (prior and generator together).

    Reference: Pang, Han, Nijkamp, Zhu & Wu (2020), "Learning Latent Space Energy-Based Prior
    Model", arXiv:2006.08205, Algorithm 1.

    Args (call):
        model: a `LatentEBMPrior`.
        batch: data ``(n, d)``.
        generator: random generator for the Langevin noise and initial states.

    Returns:
        Scalar loss.

    Example:
        >>> loss = LatentPriorLoss()(LatentEBMPrior(2), torch.randn(16, 2))
    """

    def __call__(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        from ebm.energies.latent_prior import LatentEBMPrior

        if not isinstance(model, LatentEBMPrior):
            raise TypeError(format_error("model", "an ebm.energies.LatentEBMPrior", type(model).__name__, "build the model with LatentEBMPrior(data_dim, ...)"))
        check_tensor("batch", batch, ndim=2, trailing_shape=model.event_shape, floating=True)
        check_batch("batch", batch)
        check_tensor("batch", batch, finite=True)
        check_generator("generator", generator)
        z_post = model.sample_posterior_latents(batch, generator=generator)  # (n, k)
        z_prior = model.sample_prior_latents(batch.shape[0], generator=generator)  # (n, k)
        prior_term = model.tilt(z_post).mean() - model.tilt(z_prior).mean()
        return prior_term + model.reconstruction_energy(batch, z_post).mean()
