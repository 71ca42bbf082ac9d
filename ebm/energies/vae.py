"""Variational auto-encoder with a latent energy-based prior: `LatentEBMPrior` plus an amortised
Gaussian inference network ``q_φ(z | x)`` (the VAE's encoder).

The generative model is that of `LatentEBMPrior` (Pang, Han, Nijkamp, Zhu & Wu 2020, arXiv:2006.08205):

    p_α(z) = exp(-f_α(z)) N(z; 0, I) / Z_α,      Z_α = E_{N(0, I)}[exp(-f_α(z))],
    p_θ(x | z) = N(x; g_θ(z), σ² I),

and ``prior="gaussian"`` drops the tilt (f ≡ 0, Z = 1): the plain VAE of Kingma & Welling (2014,
arXiv:1312.6114) with the same networks. The encoder replaces short-run posterior Langevin by
``q_φ(z | x) = N(z; μ_φ(x), diag exp(ℓ_φ(x)))``, trained with the ELBO
(`ebm.objectives.VAELatentEBMLoss`); the prior keeps its short-run-Langevin negatives.

As an `ebm.Energy` the model is the latent energy ``E(x, z) = f(z) + ½‖z‖² + ‖x - g(z)‖²/(2σ²)`` at
β = 1: ``forward(x) = F(x) = -log ∫ exp(-E(x, z)) dz``, estimated by importance sampling from
``q_φ(z | x)`` with a FIXED set of ``n_importance`` standard-normal draws (a buffer drawn at
construction), so the energy is a deterministic, differentiable function of x:

    F̂(x) = -log (1/K) Σ_j exp(-E(x, z_j)) / q_φ(z_j | x),    z_j = μ_φ(x) + exp(ℓ_φ(x)/2) ⊙ ε_j.

``exp(-F)`` is the model's marginal density up to a constant: ``p(x) = exp(-F(x)) / c`` with
``log c = (k/2) log 2π + (d/2) log 2πσ² + log Z_α``. `elbo` and `log_marginal_bound` are the bounds
with the unnormalised prior; subtract ``log Z_α`` for nats of the normalised model
(`ebm.evaluate.vae_bounds` estimates it and does so).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_generator, check_int, check_positive
from ebm.energies.autoencoders import _mlp
from ebm.energies.latent_prior import LatentEBMPrior
from ebm.registry import register_energy

__all__ = ["GaussianEncoder", "LatentEBMVAE", "LOG_VAR_RANGE"]

LOG_VAR_RANGE = (-12.0, 6.0)
"""The encoder's log variance is squashed into this range, so no posterior variance is 0 or ∞."""


class GaussianEncoder(nn.Module):
    """``q_φ(z | x) = N(z; μ(x), diag exp(ℓ(x)))`` from an MLP with two tanh hidden layers.

    Args:
        data_dim: d (x has shape ``(*batch, d)``).
        latent_dim: k.
        hidden: width of the hidden layers.
        generator: random generator for the initial weights.

    Example:
        >>> enc = GaussianEncoder(4, 2, generator=torch.Generator().manual_seed(0))
        >>> tuple(t.shape for t in enc(torch.zeros(3, 4)))
        (torch.Size([3, 2]), torch.Size([3, 2]))
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: int = 64, *, generator: torch.Generator | None = None):
        super().__init__()
        self.data_dim = check_int("data_dim", data_dim, minimum=1)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        check_generator("generator", generator)
        self.net = _mlp([self.data_dim, hidden, hidden, 2 * self.latent_dim], None, generator)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, ℓ)``: x ``(*batch, d)`` -> two ``(*batch, k)`` tensors (ℓ is the log variance)."""
        mean, raw = self.net(x).chunk(2, dim=-1)
        lo, hi = LOG_VAR_RANGE
        log_var = lo + (hi - lo) * torch.sigmoid(raw - 2.0)  # smooth clamp; ≈ -1.6 (σ_q ≈ 0.45) at init
        return mean, log_var

    def rsample(self, x: Tensor, n: int = 1, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Reparameterised draws: x ``(b, d)`` -> z ``(n, b, k)``, and μ, ℓ ``(b, k)``."""
        mean, log_var = self(x)
        eps = torch.randn((n, *mean.shape), generator=generator, dtype=mean.dtype).to(mean.device)
        return mean + (0.5 * log_var).exp() * eps, mean, log_var

    @staticmethod
    def log_density(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
        """``log N(z; μ, diag e^ℓ)`` summed over the last axis; broadcasts, ``(..., k) -> (...)``."""
        return -0.5 * ((z - mean).pow(2) / log_var.exp() + log_var + math.log(2 * math.pi)).sum(-1)

    def log_prob(self, z: Tensor, x: Tensor) -> Tensor:
        """``log q_φ(z | x)``: z ``(*batch, k)``, x ``(*batch, d)`` -> ``(*batch,)``."""
        mean, log_var = self(x)
        return self.log_density(z, mean, log_var)

    @staticmethod
    def kl_to_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
        """``KL(N(μ, diag e^ℓ) ‖ N(0, I)) = ½ Σ (μ² + e^ℓ - 1 - ℓ)``, ``(*batch, k) -> (*batch,)``."""
        return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


def _example():
    return LatentEBMVAE(3, latent_dim=2, hidden=8, prior_hidden=8, prior_steps=5, n_importance=4, generator=torch.Generator().manual_seed(0))


@register_energy(
    "latent_ebm_vae",
    example=_example,
    bad_params=[
        (lambda: LatentEBMVAE(0), ValueError, "data_dim"),
        (lambda: LatentEBMVAE(2, prior="flow"), ValueError, "prior"),
        (lambda: LatentEBMVAE(2, n_importance=0), ValueError, "n_importance"),
        (lambda: LatentEBMVAE(2, sigma=-1.0), ValueError, "sigma"),
    ],
)
class LatentEBMVAE(LatentEBMPrior):
    """VAE (encoder ``q_φ``, generator ``g_θ``) with an energy-based latent prior ``p_α(z) ∝ exp(-f_α(z)) N(0, I)``.

    References: Pang, Han, Nijkamp, Zhu & Wu (2020), "Learning Latent Space Energy-Based Prior
    Model", NeurIPS, arXiv:2006.08205 (the prior and its short-run Langevin); Kingma & Welling
    (2014), arXiv:1312.6114 (the amortised Gaussian encoder and the ELBO).

    Args:
        data_dim: d; latent_dim: k.
        hidden: width of the generator's hidden layers; encoder_hidden: the encoder's (default ``hidden``).
        prior_hidden: width of the prior energy MLP f_α.
        prior: ``"ebm"`` (tilted Gaussian) or ``"gaussian"`` (f ≡ 0: a plain VAE, no prior sampling).
        sigma: observation noise σ > 0 of ``p(x | z) = N(g(z), σ² I)``.
        prior_steps, prior_step_size: short-run ULA for prior samples (from N(0, I)).
        n_importance: K, the fixed importance draws behind ``forward``.
        generator: random generator for the weights and the fixed draws.

    Raises:
        ValueError: non-positive sizes, σ or step settings, an unknown ``prior``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> vae = LatentEBMVAE(2, latent_dim=2, generator=g)
        >>> vae(torch.zeros(5, 2)).shape, vae.sample(3, generator=g).shape
        (torch.Size([5]), torch.Size([3, 2]))
    """

    input_methods = LatentEBMPrior.input_methods + ("elbo", "log_marginal_bound")

    def __init__(
        self,
        data_dim: int,
        *,
        latent_dim: int = 2,
        hidden: int = 64,
        encoder_hidden: int | None = None,
        prior_hidden: int = 64,
        prior: str = "ebm",
        sigma: float = 0.3,
        prior_steps: int = 60,
        prior_step_size: float = 0.05,
        n_importance: int = 32,
        generator: torch.Generator | None = None,
    ):
        self.prior = check_choice("prior", prior, ("ebm", "gaussian"))
        n_importance = check_int("n_importance", n_importance, minimum=1)
        super().__init__(data_dim, latent_dim=latent_dim, hidden=hidden, prior_hidden=prior_hidden, sigma=sigma,
                         prior_steps=prior_steps, prior_step_size=prior_step_size, generator=generator)
        self.beta = 1.0  # forward is the β = 1 free energy -log ∫ exp(-E(x, z)) dz
        self.encoder = GaussianEncoder(data_dim, self.latent_dim, encoder_hidden or hidden, generator=generator)
        if self.prior == "gaussian":
            self.prior_net.requires_grad_(False)  # unused: f ≡ 0
        self.register_buffer("importance_noise", torch.randn(n_importance, self.latent_dim, generator=generator))  # (K, k)

    # ------------------------------------------------------------------ the model
    def tilt(self, z: Tensor) -> Tensor:
        """``f_α(z)`` (zero for ``prior="gaussian"``): ``(*batch, k)`` -> ``(*batch,)``."""
        if self.prior == "gaussian":
            return z.new_zeros(z.shape[:-1])
        return super().tilt(z)

    def infer(self, x: Tensor) -> Tensor:
        """The encoder's mean ``μ_φ(x)``, ``(*batch, k)`` (amortised inference)."""
        return self.encoder(x)[0]

    def sample_prior_latents(self, n: int, *, n_steps: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(n, k)`` prior latents: exact N(0, I) draws for the Gaussian prior, short-run ULA otherwise."""
        if self.prior == "gaussian":
            n = check_int("n", n, minimum=1)
            ref = self.importance_noise
            return torch.randn(n, self.latent_dim, generator=generator, dtype=ref.dtype).to(ref.device)
        return super().sample_prior_latents(n, n_steps=n_steps, generator=generator)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p̃(x, z) = log p(x | z) + log N(z; 0, I) - f(z)`` (= ``log p(x, z) + log Z_α``), ``(*batch,)``."""
        k, d = self.latent_dim, self.event_shape[0]
        const = 0.5 * k * math.log(2 * math.pi) + 0.5 * d * math.log(2 * math.pi * self.sigma**2)
        return -self.joint_energy(x, z) - const

    def parameter_groups(self, lr: float, prior_lr: float) -> list[dict]:
        """Optimiser groups: the encoder and generator at ``lr``, the prior's f_α at ``prior_lr``.

        The prior's short-run negatives are biased samples of p_α; a prior learning rate a few times
        smaller than the VAE's keeps f_α from outrunning them (Pang et al. 2020 use a smaller rate
        for the prior too). Example: ``torch.optim.Adam(vae.parameter_groups(5e-3, 1e-3))``.
        """
        lr, prior_lr = check_positive("lr", lr), check_positive("prior_lr", prior_lr)
        prior = [p for p in self.prior_net.parameters() if p.requires_grad]
        ids = {id(p) for p in prior}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": rest, "lr": lr}] + ([{"params": prior, "lr": prior_lr}] if prior else [])

    # ------------------------------------------------------------------ bounds on log p(x)
    def elbo(self, x: Tensor, *, n_samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """Monte Carlo ELBO with the unnormalised prior: ``E_q[log p̃(x, z) - log q(z | x)]``, ``(b,)``.

        Subtract ``log Z_α`` for the ELBO of the normalised model (it is 0 for the Gaussian prior).
        x ``(b, d)``; ``n_samples`` reparameterised draws per example.
        """
        n_samples = check_int("n_samples", n_samples, minimum=1)
        z, mean, log_var = self.encoder.rsample(x, n_samples, generator=generator)  # (S, b, k)
        return (self.log_joint(x, z) - self.encoder.log_density(z, mean, log_var)).mean(0)

    def log_marginal_bound(self, x: Tensor, *, k: int = 100, chunk: int = 100, generator: torch.Generator | None = None) -> Tensor:
        """Importance-weighted bound (Burda, Grosse & Salakhutdinov 2016, arXiv:1509.00519), ``(b,)``.

            L_k(x) = log (1/k) Σ_j p̃(x, z_j) / q(z_j | x),   z_j ~ q(z | x)

        with the unnormalised prior (subtract ``log Z_α``); ``L_1`` is the ELBO and ``L_k ↑ log p̃(x)``.
        """
        k = check_int("k", k, minimum=1)
        chunk = check_int("chunk", chunk, minimum=1)
        mean, log_var = self.encoder(x)
        parts = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            eps = torch.randn((n, *mean.shape), generator=generator, dtype=mean.dtype).to(mean.device)
            z = mean + (0.5 * log_var).exp() * eps  # (n, b, k)
            parts.append(self.log_joint(x, z) - self.encoder.log_density(z, mean, log_var))  # (n, b)
        return torch.logsumexp(torch.cat(parts), dim=0) - math.log(k)

    def _free_energy_at(self, x: Tensor, beta: float) -> Tensor:
        if beta != 1.0:
            return super()._free_energy_at(x, beta)
        mean, log_var = self.encoder(x)  # (*batch, k)
        eps = self.importance_noise.reshape(-1, *([1] * (mean.dim() - 1)), self.latent_dim)  # (K, 1.., k)
        z = mean + (0.5 * log_var).exp() * eps  # (K, *batch, k)
        log_w = -self.joint_energy(x, z) - self.encoder.log_density(z, mean, log_var)  # (K, *batch)
        return -(torch.logsumexp(log_w, dim=0) - math.log(eps.shape[0]))

    # Training: ``fit(x)`` maximises the ELBO with the EBM prior (`ebm.objectives.VAELatentEBMLoss`).
    default_objective = "vae_latent_ebm"  # resolved by ebm.train.fit through ebm.registry.OBJECTIVES
    fit_defaults = {"epochs": 50, "batch_size": 100, "lr": 1e-3}

    def extra_repr(self) -> str:
        return f"data_dim={self.event_shape[0]}, latent_dim={self.latent_dim}, prior={self.prior!r}, sigma={self.sigma}"
