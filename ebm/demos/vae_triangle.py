"""2-D builders for the comparison table of issue #18: a VAE (Gaussian prior), a VAE with a latent EBM
prior, and the divergence triangle, each trained on standardised 2-D data for a fixed number of
optimiser updates of batch 256 and returned as an `ebm.Energy` whose ``exp(-E)`` is the model's
(unnormalised) density on the plane.

* `fit_2d_vae` / `fit_2d_vae_latent_ebm`: `LatentEBMVAE` (k = 2, σ = 0.1) trained by
  `VAELatentEBMLoss`; the energy is its importance-sampled free energy ``-log ∫ exp(-E(x, z)) dz``.
* `fit_2d_divergence_triangle`: an `MLPEnergy` trained by `DivergenceTriangle` (generator and
  encoder with k = 2, σ = 0.1); the energy is the EBM π_α itself.

``FIT_2D`` maps table names to the builders; the one the brief calls ``fit_2d`` is `fit_2d` (the
VAE with a latent EBM prior).
"""

from __future__ import annotations

import torch

from ebm._validation import check_generator, check_int, check_tensor
from ebm.energies import LatentEBMVAE, MLPEnergy
from ebm.objectives import DivergenceTriangle, VAELatentEBMLoss
from ebm.train import train

__all__ = ["fit_2d", "fit_2d_vae", "fit_2d_vae_latent_ebm", "fit_2d_divergence_triangle", "FIT_2D"]

BATCH = 256


def _check(x, steps, generator):
    x = check_tensor("x", x, ndim=2, floating=True, finite=True, nonempty=True, trailing_shape=(2,))
    steps = check_int("steps", steps, minimum=1)
    check_generator("generator", generator)
    return x, steps


def _batch_fn(x: torch.Tensor):
    """Batches of 256 rows drawn uniformly with replacement: exactly one per optimiser update."""
    return lambda generator: x[torch.randint(0, x.shape[0], (BATCH,), generator=generator)]  # (256, 2)


def _fit_vae(x, steps, generator, prior: str) -> LatentEBMVAE:
    x, steps = _check(x, steps, generator)
    seed = int(torch.randint(0, 2**31, (1,), generator=generator))
    model = LatentEBMVAE(2, latent_dim=2, hidden=64, prior_hidden=64, prior=prior, sigma=0.1, prior_steps=60, prior_step_size=0.1,
                         n_importance=64, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameter_groups(5e-3, 1e-3))
    train(model, VAELatentEBMLoss(), _batch_fn(x), epochs=1, steps_per_epoch=steps, optimizer=optimizer, max_grad_norm=10.0,
          generator=generator, progress=False)
    return model


def fit_2d_vae(x: torch.Tensor, *, steps: int, generator: torch.Generator) -> LatentEBMVAE:
    """A VAE with a Gaussian prior on ``x (n, 2)``, ``steps`` updates of batch 256 (Adam, lr 5e-3, k = 2, σ = 0.1)."""
    return _fit_vae(x, steps, generator, "gaussian")


def fit_2d_vae_latent_ebm(x: torch.Tensor, *, steps: int, generator: torch.Generator) -> LatentEBMVAE:
    """The same VAE with a latent EBM prior (60 short-run ULA steps of ε = 0.1 per update for the prior's
    negatives; the prior's learning rate is 1e-3)."""
    return _fit_vae(x, steps, generator, "ebm")


fit_2d = fit_2d_vae_latent_ebm


def fit_2d_divergence_triangle(x: torch.Tensor, *, steps: int, generator: torch.Generator, return_objective: bool = False):
    """An `MLPEnergy` (64, 64) trained by the divergence triangle on ``x (n, 2)``; ``steps`` updates of batch 256.

    Returns the energy, or ``(energy, triangle)`` with ``return_objective=True`` (its generator samples).
    """
    x, steps = _check(x, steps, generator)
    seed = int(torch.randint(0, 2**31, (1,), generator=generator))
    g = torch.Generator().manual_seed(seed)
    energy = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=g)
    triangle = DivergenceTriangle(2, latent_dim=2, hidden=64, sigma=0.1, energy_penalty=0.1, generator=g)
    train(energy, triangle, _batch_fn(x), epochs=1, steps_per_epoch=steps, lr=5e-3, max_grad_norm=10.0,
          generator=generator, progress=False)
    return (energy, triangle) if return_objective else energy


FIT_2D = {
    "VAE (Gaussian prior)": fit_2d_vae,
    "VAE + latent EBM prior": fit_2d_vae_latent_ebm,
    "divergence triangle": fit_2d_divergence_triangle,
}
"""Table name -> 2-D builder ``(x, *, steps, generator) -> Energy``, for the principles table."""
