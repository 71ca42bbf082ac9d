"""Latent-space energy-based prior model (Pang, Han, Nijkamp, Zhu & Wu 2020, arXiv:2006.08205).

A generator with an energy-based prior on its latent:

    p_α(z) ∝ exp(-f_α(z)) N(z; 0, I)        (exponential tilting of a Gaussian)
    x = g_θ(z) + σ ε,  ε ~ N(0, I)

so the joint energy of ``(x, z)`` is

    E(x, z) = f_α(z) + ½‖z‖² + ‖x - g_θ(z)‖² / (2σ²).

Maximum likelihood needs samples of the prior and of the posterior ``p(z | x)``; both are drawn by
short-run Langevin in the low-dimensional latent space (ULA from N(0, I)), which is cheap and mixes
far better than Langevin in data space. The gradients are (Pang et al. 2020, eqs. 6-7)

    ∇_α: E_post[∇_α f_α(z)] - E_prior[∇_α f_α(z)],    ∇_θ: E_post[∇_θ ‖x - g_θ(z)‖² / (2σ²)],

which `ebm.objectives.latent_prior.LatentPriorLoss` turns into one scalar loss for `ebm.train`.
As an `Energy` over x the model returns the zero-temperature free energy ``min_z E(x, z)``, with
the minimiser found by gradient descent in latent space from z = 0 (deterministic).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_generator, check_int, check_positive
from ebm.energies.autoencoders import _mlp
from ebm.energies.latent import LatentEnergy
from ebm.registry import register_energy
from samplers import ULA

__all__ = ["LatentEBMPrior"]


def _example():
    return LatentEBMPrior(3, latent_dim=2, hidden=8, prior_hidden=8, generator=torch.Generator().manual_seed(0), infer_steps=5)


@register_energy(
    "latent_ebm_prior",
    example=_example,
    bad_params=[
        (lambda: LatentEBMPrior(0), ValueError, "data_dim"),
        (lambda: LatentEBMPrior(2, sigma=0.0), ValueError, "sigma"),
        (lambda: LatentEBMPrior(2, prior_step_size=-1.0), ValueError, "prior_step_size"),
    ],
)
class LatentEBMPrior(LatentEnergy):
    """Generator ``x = g(z) + σε`` with an energy-based prior ``p(z) ∝ exp(-f(z)) N(0, I)``.

    Reference: Pang, Han, Nijkamp, Zhu & Wu (2020), "Learning Latent Space Energy-Based Prior
    Model", NeurIPS, arXiv:2006.08205.

    Args:
        data_dim: dimension d of x (images are flattened: x has shape ``(*batch, d)``).
        latent_dim: dimension k of z.
        hidden: width of the generator's hidden layers.
        prior_hidden: width of the prior energy MLP f.
        sigma: observation noise σ > 0.
        prior_steps, prior_step_size: short-run ULA for prior samples (from N(0, I)).
        posterior_steps, posterior_step_size: short-run ULA for posterior samples (from N(0, I)).
        infer_steps, infer_lr: gradient descent for the MAP latent used by ``forward``.
        generator: random generator for the initial weights.

    Raises:
        ValueError: non-positive sizes, σ, step sizes or step counts.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> model = LatentEBMPrior(2, latent_dim=2, generator=g)
        >>> model.sample(5, generator=g).shape
        torch.Size([5, 2])
    """

    input_methods = LatentEnergy.input_methods + ("sample_posterior_latents",)

    def __init__(
        self,
        data_dim: int,
        *,
        latent_dim: int = 2,
        hidden: int = 64,
        prior_hidden: int = 64,
        sigma: float = 0.3,
        prior_steps: int = 60,
        prior_step_size: float = 0.05,
        posterior_steps: int = 20,
        posterior_step_size: float = 0.01,
        infer_steps: int = 50,
        infer_lr: float = 0.05,
        generator: torch.Generator | None = None,
    ):
        data_dim = check_int("data_dim", data_dim, minimum=1)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        prior_hidden = check_int("prior_hidden", prior_hidden, minimum=1)
        self.sigma = check_positive("sigma", sigma)
        self.prior_steps = check_int("prior_steps", prior_steps, minimum=1)
        self.prior_step_size = check_positive("prior_step_size", prior_step_size)
        self.posterior_steps = check_int("posterior_steps", posterior_steps, minimum=1)
        self.posterior_step_size = check_positive("posterior_step_size", posterior_step_size)
        self.infer_steps = check_int("infer_steps", infer_steps, minimum=0)
        self.infer_lr = check_positive("infer_lr", infer_lr)
        check_generator("generator", generator)
        super().__init__((data_dim,))
        self.prior_net = _mlp([self.latent_dim, prior_hidden, prior_hidden, 1], None, generator)  # f_α
        self.generator_net = _mlp([self.latent_dim, hidden, hidden, data_dim], None, generator)  # g_θ

    # ------------------------------------------------------------------ energies
    def tilt(self, z: Tensor) -> Tensor:
        """``f_α(z)``: ``(*batch, k)`` -> ``(*batch,)``."""
        return self.prior_net(z).squeeze(-1)

    def prior_energy(self, z: Tensor) -> Tensor:
        """``f_α(z) + ½‖z‖²``: ``(*batch, k)`` -> ``(*batch,)``."""
        return self.tilt(z) + 0.5 * z.pow(2).sum(-1)

    def decode(self, z: Tensor) -> Tensor:
        """``g_θ(z)``: ``(*batch, k)`` -> ``(*batch, d)``."""
        return self.generator_net(z)

    def reconstruction_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``‖x - g(z)‖² / (2σ²)``, ``(*batch,)``."""
        return (x - self.decode(z)).pow(2).sum(-1) / (2 * self.sigma**2)

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``E(x, z) = f(z) + ½‖z‖² + ‖x - g(z)‖²/(2σ²)``: x ``(*batch, d)``, z ``(*batch, k)`` -> ``(*batch,)``."""
        return self.prior_energy(z) + self.reconstruction_energy(x, z)

    # ------------------------------------------------------------------ inference and sampling
    def infer(self, x: Tensor) -> Tensor:
        """MAP latent by ``infer_steps`` of gradient descent on ``E(x, ·)`` from z = 0, ``(*batch, k)``."""
        flat = x.detach().reshape(-1, self.event_shape[0])  # (N, d)
        z = flat.new_zeros(flat.shape[0], self.latent_dim)
        # Step size scaled by σ² so the reconstruction term's curvature does not make descent unstable.
        lr = self.infer_lr * min(1.0, self.sigma**2)
        with torch.enable_grad():
            for _ in range(self.infer_steps):
                z = z.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(self.joint_energy(flat, z).sum(), z)
                z = z - lr * grad
        return z.detach().reshape(*x.shape[:-1], self.latent_dim)

    def sample_prior_latents(self, n: int, *, n_steps: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Short-run ULA on ``f(z) + ½‖z‖²`` from N(0, I): ``(n, k)`` latents (detached)."""
        n = check_int("n", n, minimum=1)
        ref = self.prior_net[0].weight
        z0 = torch.randn(n, self.latent_dim, generator=generator, dtype=ref.dtype).to(ref.device)
        return ULA(self.prior_step_size).run(self.prior_energy, z0, n_steps or self.prior_steps, generator=generator).x.detach()

    def sample_posterior_latents(self, x: Tensor, *, n_steps: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Short-run ULA on ``E(x, ·)`` from N(0, I): x ``(n, d)`` -> ``(n, k)`` latents (detached)."""
        x = x.detach()
        z0 = torch.randn(x.shape[0], self.latent_dim, generator=generator, dtype=x.dtype).to(x.device)
        energy = lambda z: self.joint_energy(x, z)  # noqa: E731  (the posterior's energy over z)
        return ULA(self.posterior_step_size).run(energy, z0, n_steps or self.posterior_steps, generator=generator).x.detach()

    def sample(self, n: int, *, noise: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Samples ``g(z)`` (plus σε if ``noise``) with z from the short-run prior: ``(n, d)``."""
        z = self.sample_prior_latents(n, generator=generator)
        with torch.no_grad():
            x = self.decode(z)
            if noise:
                x = x + self.sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x

    # Training: ``fit(x)`` (from `ebm.Energy`) runs maximum likelihood with short-run latent
    # Langevin (`ebm.objectives.LatentPriorLoss`) in `ebm.train`.
    default_objective = "latent_ebm_prior"  # resolved by ebm.train.fit through ebm.registry.OBJECTIVES
    fit_defaults = {"epochs": 50, "batch_size": 100, "lr": 1e-3}

    def extra_repr(self) -> str:
        return f"data_dim={self.event_shape[0]}, latent_dim={self.latent_dim}, sigma={self.sigma}"


