"""Conjugate energy-based models (Wu, Esmaeili, Wick, Tristan & van de Meent 2021, arXiv:2106.13798).

A joint density over data x and a latent z whose energy is bilinear in the latent's sufficient
statistics ``t(z) = (z, z²)`` (per coordinate), times an exponential-family "inductive bias"
``p_λ(z)`` (a Gaussian, or a mixture of Gaussians):

    p(x, z) ∝ exp(η_θ(x)ᵀ t(z)) p_λ(z),        E(x, z) = -η_θ(x)ᵀ t(z) - log p_λ(z)

The network ``η_θ`` (the "neural sufficient statistics") plays the role of a likelihood's natural
parameters, so the prior is conjugate: with ``A`` the Gaussian log normaliser,

    p(z | x) = Σ_c w_c(x) N(z; natural parameters λ_c + η_θ(x))                  (closed form)
    E(x)    = -log ∫ exp(-E(x, z)) dz = -log Σ_c π_c exp(A(λ_c + η_θ(x)) - A(λ_c))  (closed form)

and only ``Z = ∫ exp(-E(x)) dx`` is intractable: the marginal is trained by maximum likelihood
with Langevin negatives (contrastive divergence), as the paper does (SGLD with a replay buffer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_nonnegative, check_tensor, format_error
from ebm.energies.autoencoders import _mlp
from ebm.energies.latent import LatentEnergy
from ebm.energy import _as_event_shape
from ebm.registry import register_energy

__all__ = ["ConjugateEBM", "gaussian_log_normalizer"]


def gaussian_log_normalizer(eta1: Tensor, eta2: Tensor) -> Tensor:
    """``A(η₁, η₂) = -η₁² / (4η₂) - ½ log(-2η₂)`` per coordinate (``η₂ < 0``), same shape as the inputs.

    The log normaliser of ``N(z; m, s²)`` in natural parameters ``η₁ = m/s²``, ``η₂ = -1/(2s²)``
    with sufficient statistics ``(z, z²)`` and base measure ``(2π)^(-1/2)``.
    """
    return -eta1.pow(2) / (4 * eta2) - 0.5 * torch.log(-2 * eta2)


def _example():
    return ConjugateEBM(2, latent_dim=2, n_components=3, hidden=(8,), generator=torch.Generator().manual_seed(0))


@register_energy(
    "conjugate_ebm",
    example=_example,
    bad_params=[
        (lambda: ConjugateEBM(2, latent_dim=0), ValueError, "latent_dim"),
        (lambda: ConjugateEBM(2, n_components=0), ValueError, "n_components"),
        (lambda: ConjugateEBM(2, quadratic=-1.0), ValueError, "quadratic"),
        (lambda: ConjugateEBM(2, hidden=(0,)), ValueError, "hidden"),
        (lambda: ConjugateEBM(2, latent_dim=2, n_components=2, prior_stds=-torch.ones(2, 2)), ValueError, "prior_stds"),
        (lambda: ConjugateEBM(2, latent_dim=2, n_components=2, prior_means=torch.zeros(3, 2)), ValueError, "prior_means"),
        (lambda: _example().posterior_log_prob(torch.zeros(3, 2), torch.zeros(4, 2)), ValueError, "z"),
    ],
)
class ConjugateEBM(LatentEnergy):
    """A conjugate EBM: ``E(x, z) = -η_θ(x)ᵀ t(z) - log p_λ(z) + γ‖x‖²/2`` with a Gaussian(-mixture) bias.

    ``η_θ(x) = (η₁(x), η₂(x))``, each ``(*batch, K)``: an MLP backbone (tanh) with two linear
    heads, ``η₁ = W₁h + b₁`` and ``η₂ = -softplus(W₂h + b₂) ≤ 0`` so every posterior precision stays
    positive whatever the prior (the paper's code shifts an exponentiated head instead; same role).
    The inductive bias ``p_λ(z) = Σ_c (1/C) N(z; μ_c, diag σ_c²)`` is a standard normal for
    ``n_components = 1`` (the paper's CEBM) and a uniform mixture otherwise (its GMM-CEBM, initial
    means 0.31·N(0, 1), standard deviations U(1, 6), as suggested there). The forward pass is the
    exact marginal ``E(x) = -log Σ_c π_c exp(A(λ_c + η(x)) - A(λ_c)) + γ‖x‖²/2``.

    ``γ = quadratic`` is this playground's addition, a data-side base measure: the paper's images
    live on a bounded box, but on R^d ``exp(-E(x))`` is integrable only if something confines it
    (bounded heads make ``E`` bounded). It depends on x alone, so conjugacy and the posterior are
    unchanged; ``quadratic=0`` is the paper's model.

    Reference: Wu, Esmaeili, Wick, Tristan & van de Meent (2021), "Conjugate Energy-Based Models",
    ICML, arXiv:2106.13798.

    Args:
        event_shape: shape of one x (flattened for the network), e.g. ``2`` or ``(64,)``.
        latent_dim: K, the dimension of z.
        n_components: C, mixture components of the inductive bias (1: a standard normal).
        hidden: widths of the backbone's hidden layers (``()``: η is linear in x).
        learn_prior: train the bias's means and log standard deviations too (the paper's option).
        prior_means, prior_stds: ``(C, K)`` initial means and standard deviations of the bias
            (default: as above); a designed bias is the paper's point (its "inductive bias").
        quadratic: γ >= 0 of the confining term ``γ‖x‖²/2``.
        generator: random generator for the initial weights and prior.

    Shapes: ``forward(x)``: ``(*batch, *event_shape) -> (*batch,)``; ``joint_energy(x, z)`` with
    z ``(*batch, K)`` -> ``(*batch,)``; ``posterior(x)`` -> weights ``(*batch, C)``, means and
    standard deviations ``(*batch, C, K)``.

    Raises:
        ValueError: non-positive sizes or γ < 0; z of the wrong shape.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> model = ConjugateEBM(2, latent_dim=2, n_components=4, generator=g)
        >>> weights, means, stds = model.posterior(torch.randn(5, 2, generator=g))
        >>> weights.shape, means.shape
        (torch.Size([5, 4]), torch.Size([5, 4, 2]))
    """

    input_methods = LatentEnergy.input_methods + ("natural_parameters", "component_log_weights", "posterior", "joint_energy",
                                                  "posterior_log_prob", "sample_posterior", "encode")
    real_latent = True

    def __init__(
        self,
        event_shape: int | Sequence[int],
        *,
        latent_dim: int = 2,
        n_components: int = 1,
        hidden: Sequence[int] = (64, 64),
        learn_prior: bool = False,
        prior_means: Tensor | None = None,
        prior_stds: Tensor | None = None,
        quadratic: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        event_shape = _as_event_shape(event_shape)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        self.n_components = check_int("n_components", n_components, minimum=1)
        widths = [check_int("hidden", h, minimum=1) for h in hidden]
        self.quadratic = check_nonnegative("quadratic", quadratic, fix="pass 0 to disable it")
        check_generator("generator", generator)
        super().__init__(event_shape, beta=1.0)  # the free energy at β = 1 is the marginal -log p(x) + const
        d, k, c = math.prod(event_shape), self.latent_dim, self.n_components
        self.backbone = _mlp([d, *widths], nn.Tanh(), generator) if widths else nn.Identity()
        feat = widths[-1] if widths else d
        self.head1 = _mlp([feat, k], None, generator)  # η₁
        self.head2 = _mlp([feat, k], None, generator)  # pre-activation of η₂
        if c == 1:
            means, log_stds = torch.zeros(1, k), torch.zeros(1, k)
        else:
            means = 0.31 * torch.randn(c, k, generator=generator)
            log_stds = torch.log(1.0 + 5.0 * torch.rand(c, k, generator=generator))
        if prior_means is not None:
            means = check_tensor("prior_means", prior_means, floating=True, finite=True).detach().clone().to(torch.get_default_dtype())
            if tuple(means.shape) != (c, k):
                raise ValueError(format_error("prior_means", f"shape ({c}, {k}) (n_components, latent_dim)", f"shape {tuple(means.shape)}", "pass one mean per component"))
        if prior_stds is not None:
            stds = check_tensor("prior_stds", prior_stds, floating=True, finite=True).detach().clone().to(torch.get_default_dtype())
            if tuple(stds.shape) != (c, k):
                raise ValueError(format_error("prior_stds", f"shape ({c}, {k}) (n_components, latent_dim)", f"shape {tuple(stds.shape)}", "pass one row of standard deviations per component"))
            if not bool((stds > 0).all()):
                raise ValueError(format_error("prior_stds", "positive standard deviations", f"minimum {float(stds.min()):.3g}", "pass entries > 0"))
            log_stds = torch.log(stds)
        if learn_prior:
            self.prior_means, self.prior_log_stds = nn.Parameter(means), nn.Parameter(log_stds)
        else:
            self.register_buffer("prior_means", means)  # (C, K)
            self.register_buffer("prior_log_stds", log_stds)  # (C, K)

    # ------------------------------------------------------------------ natural parameters
    def natural_parameters(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``η_θ(x) = (η₁, η₂)``, each ``(*batch, K)``, with ``η₂ <= 0``."""
        batch = x.shape[: x.dim() - len(self.event_shape)]
        h = self.backbone(x.reshape(*batch, math.prod(self.event_shape)))  # (*batch, feat)
        return self.head1(h), -F.softplus(self.head2(h))

    def prior_natural_parameters(self) -> tuple[Tensor, Tensor]:
        """``λ_c = (μ_c/σ_c², -1/(2σ_c²))``, each ``(C, K)``."""
        precision = torch.exp(-2 * self.prior_log_stds)
        return self.prior_means * precision, -0.5 * precision

    def _log_mixing(self, like: Tensor) -> Tensor:
        return torch.full((self.n_components,), -math.log(self.n_components), dtype=like.dtype, device=like.device)  # (C,)

    def component_log_weights(self, x: Tensor) -> Tensor:
        """``log π_c + A(λ_c + η(x)) - A(λ_c)`` summed over the K coordinates: ``(*batch, C)``."""
        eta1, eta2 = self.natural_parameters(x)
        lam1, lam2 = self.prior_natural_parameters()
        post = gaussian_log_normalizer(lam1 + eta1.unsqueeze(-2), lam2 + eta2.unsqueeze(-2)).sum(-1)  # (*batch, C)
        prior = gaussian_log_normalizer(lam1, lam2).sum(-1)  # (C,)
        return self._log_mixing(eta1) + post - prior

    def _confine(self, x: Tensor) -> Tensor:
        if not self.quadratic:
            return x.new_zeros(x.shape[: x.dim() - len(self.event_shape)])
        flat = x.reshape(*x.shape[: x.dim() - len(self.event_shape)], -1)  # (*batch, D)
        return 0.5 * self.quadratic * flat.pow(2).sum(-1)

    # ------------------------------------------------------------------ energies
    def forward(self, x: Tensor) -> Tensor:
        """The exact marginal energy ``E(x) = -logsumexp_c [log π_c + A(λ_c + η(x)) - A(λ_c)] + γ‖x‖²/2``."""
        return -torch.logsumexp(self.component_log_weights(x), dim=-1) + self._confine(x)

    def _free_energy_at(self, x: Tensor, beta: float) -> Tensor:
        if beta == 1.0:
            return self.forward(x)
        return super()._free_energy_at(x, beta)  # no closed form away from β = 1: the message says what to use

    def log_prior(self, z: Tensor) -> Tensor:
        """``log p_λ(z)``: z ``(*batch, K)`` -> ``(*batch,)``."""
        std = self.prior_log_stds.exp()
        comp = torch.distributions.Normal(self.prior_means, std).log_prob(z.unsqueeze(-2)).sum(-1)  # (*batch, C)
        return torch.logsumexp(comp + self._log_mixing(z), dim=-1)

    def _check_z(self, x: Tensor, z) -> Tensor:
        batch = tuple(x.shape[: x.dim() - len(self.event_shape)])
        check_tensor("z", z, floating=True, finite=True)
        if tuple(z.shape) != (*batch, self.latent_dim):
            raise ValueError(format_error("z", f"shape {(*batch, self.latent_dim)} (x's batch, then latent_dim)", f"shape {tuple(z.shape)}", "pass one latent per x"))
        return z

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``E(x, z) = -η₁(x)ᵀz - η₂(x)ᵀz² - log p_λ(z) + γ‖x‖²/2``: x ``(*batch, *event)``, z ``(*batch, K)`` -> ``(*batch,)``."""
        self._check_z(x, z)
        eta1, eta2 = self.natural_parameters(x)
        return -(eta1 * z + eta2 * z.pow(2)).sum(-1) - self.log_prior(z) + self._confine(x)

    # ------------------------------------------------------------------ the conjugate posterior
    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``p(z | x) = Σ_c w_c N(z; m_c, diag s_c²)``: weights ``(*batch, C)``, means and stds ``(*batch, C, K)``."""
        eta1, eta2 = self.natural_parameters(x)
        lam1, lam2 = self.prior_natural_parameters()
        n1, n2 = lam1 + eta1.unsqueeze(-2), lam2 + eta2.unsqueeze(-2)  # (*batch, C, K)
        weights = torch.softmax(self.component_log_weights(x), dim=-1)
        return weights, -n1 / (2 * n2), torch.sqrt(-0.5 / n2)

    def posterior_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(z | x)`` in closed form: x ``(*batch, *event)``, z ``(*batch, K)`` -> ``(*batch,)``."""
        self._check_z(x, z)
        weights, means, stds = self.posterior(x)
        comp = torch.distributions.Normal(means, stds).log_prob(z.unsqueeze(-2)).sum(-1)  # (*batch, C)
        return torch.logsumexp(comp + torch.log(weights), dim=-1)

    def sample_posterior(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """One exact draw ``z ~ p(z | x)`` per x: ``(*batch, K)`` (no MCMC: the posterior is conjugate)."""
        check_generator("generator", generator)
        with torch.no_grad():
            weights, means, stds = self.posterior(x)
            flat_w = weights.reshape(-1, self.n_components)  # (N, C)
            comp = torch.multinomial(flat_w.cpu().double(), 1, generator=generator).to(x.device).view(*weights.shape[:-1], 1, 1)
            m = means.gather(-2, comp.expand(*weights.shape[:-1], 1, self.latent_dim)).squeeze(-2)  # (*batch, K)
            s = stds.gather(-2, comp.expand(*weights.shape[:-1], 1, self.latent_dim)).squeeze(-2)
            eps = torch.randn(m.shape, generator=generator, dtype=m.dtype).to(m.device)
        return m + s * eps

    def encode(self, x: Tensor) -> Tensor:
        """The posterior mean ``E[z | x] = Σ_c w_c m_c``: ``(*batch, K)`` (the representation the paper evaluates)."""
        weights, means, _ = self.posterior(x)
        return (weights.unsqueeze(-1) * means).sum(-2)

    def infer(self, x: Tensor) -> Tensor:
        """The latent used by ``LatentEnergy``'s helpers: the posterior mean, ``(*batch, K)``."""
        return self.encode(x)

    # Training: maximum likelihood of the marginal with Langevin negatives from a replay buffer.
    default_objective = "contrastive_divergence"  # resolved by ebm.train.fit through ebm.registry.OBJECTIVES
    fit_defaults = {"epochs": 50, "batch_size": 256, "lr": 3e-3, "max_grad_norm": 10.0}

    def default_objective_options(self) -> dict:
        from samplers import ULA

        return {"sampler": ULA(0.005, grad_clip=10.0), "k": 10, "replay_buffer_size": 4096, "reinit_prob": 0.05, "energy_penalty": 0.1}

    def extra_repr(self) -> str:
        return f"event_shape={tuple(self.event_shape)}, latent_dim={self.latent_dim}, n_components={self.n_components}, quadratic={self.quadratic:g}"
