"""The ELBO of a VAE whose prior is a latent energy-based model (`ebm.energies.LatentEBMVAE`).

With ``q_φ(z | x)`` the Gaussian encoder, ``p_θ(x | z) = N(g_θ(z), σ² I)`` and the prior
``p_α(z) = exp(-f_α(z)) N(z; 0, I) / Z_α``, the negative ELBO of one example is

    -ELBO(x) = E_q[ ‖x - g_θ(z)‖²/(2σ²) ] + (d/2) log 2πσ²          (reconstruction)
             + KL(q_φ(z | x) ‖ N(0, I))                              (closed form)
             + E_q[ f_α(z) ] + log Z_α                               (the EBM's tilt)

Every term but ``log Z_α`` is differentiable by reparameterisation (z = μ + e^{ℓ/2} ε). ``log Z_α``
depends on α only, with ``∇_α log Z_α = -E_{p_α}[∇_α f_α(z)]``, so the α-gradient of -ELBO is

    ∇_α(-ELBO) = E_{q_φ(z|x)}[∇_α f_α(z)] - E_{p_α(z)}[∇_α f_α(z)]

(positive samples from the encoder, negative samples from the prior), the same difference of
expectations as in Pang et al. (2020) with the posterior Langevin replaced by the amortised
encoder. The prior samples come from short-run Langevin (ULA from N(0, I)) on ``f_α(z) + ½‖z‖²``,
detached. The loss returned is

    L = mean_x [ reconstruction + KL + f_α(z_q) ] - (mean f_α(z_p) - stop_grad(mean f_α(z_p)))

whose value is ``mean(-ELBO) - log Z_α`` (exactly the VAE's negative ELBO when f ≡ 0) and whose
gradient is the one above for (α, θ, φ) together.

The joint-training paper of Han, Nijkamp, Zhou, Pang, Zhu & Wu (2020, CVPR, arXiv:2006.06059)
couples a VAE with a *latent EBM* on the pair (x, z) through the divergence triangle; this file is
the latent-prior member of that family (EBM on z only, learned by the ELBO), whose held-out
likelihood can be bounded because ``log Z_α`` lives in k dimensions (`ebm.evaluate.vae_bounds`).
The triangle itself is `ebm.objectives.DivergenceTriangle` (EBM on x; ``latent_ebm=True``: the
EBM on (x, z) of Han et al. 2020).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebm._validation import check_generator, check_int, check_tensor, format_error
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["VAELatentEBMLoss"]


def _model():
    from ebm.energies.vae import LatentEBMVAE

    return LatentEBMVAE(3, latent_dim=2, hidden=8, prior_hidden=8, prior_steps=5, n_importance=4, generator=torch.Generator().manual_seed(0))


def _example():
    return VAELatentEBMLoss(), (_model(), torch.randn(8, 3, generator=torch.Generator().manual_seed(1)))


@register_objective(
    "vae_latent_ebm",
    example=_example,
    bad_inputs=[
        (lambda: VAELatentEBMLoss(n_samples=0), ValueError, "n_samples"),
        (lambda: VAELatentEBMLoss()(torch.nn.Linear(2, 2), torch.zeros(4, 2)), TypeError, "model"),
        (lambda: VAELatentEBMLoss()(_model(), torch.zeros(4, 2)), ValueError, "batch"),
        (lambda: VAELatentEBMLoss()(_model(), torch.zeros(0, 3)), ValueError, "batch"),
        (lambda: VAELatentEBMLoss()(_model(), torch.full((4, 3), math.nan)), ValueError, "batch"),
    ],
)
class VAELatentEBMLoss:
    """Negative ELBO of `LatentEBMVAE` with the EBM prior's contrastive gradient (encoder vs prior samples).

    References: Kingma & Welling (2014), "Auto-Encoding Variational Bayes", arXiv:1312.6114;
    Pang, Han, Nijkamp, Zhu & Wu (2020), "Learning Latent Space Energy-Based Prior Model",
    arXiv:2006.08205 (the prior's gradient and its short-run Langevin sampler).

    Args:
        n_samples: reparameterised draws of z per example (S ≥ 1).

    Call args:
        model: a `LatentEBMVAE`; batch: data ``(n, d)``; generator: draws ε and the Langevin noise.

    Returns:
        Scalar loss, value ``mean(-ELBO) - log Z_α``.

    Raises:
        TypeError: the model is not a `LatentEBMVAE`.
        ValueError: ``n_samples < 1``; a batch of the wrong shape, empty or non-finite.

    Example:
        >>> from ebm.energies import LatentEBMVAE
        >>> from ebm.train import train
        >>> vae = LatentEBMVAE(2, latent_dim=2, generator=torch.Generator().manual_seed(0))
        >>> history = train(vae, VAELatentEBMLoss(), torch.randn(256, 2), epochs=2, lr=1e-3)
    """

    def __init__(self, n_samples: int = 1):
        self.n_samples = check_int("n_samples", n_samples, minimum=1)

    def terms(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The per-example pieces, each ``(n,)``: ``reconstruction``, ``kl`` and ``tilt`` (= E_q f(z))."""
        z, mean, log_var = model.encoder.rsample(batch, self.n_samples, generator=generator)  # (S, n, k)
        d = model.event_shape[0]
        recon = model.reconstruction_energy(batch, z).mean(0) + 0.5 * d * math.log(2 * math.pi * model.sigma**2)  # (n,)
        kl = model.encoder.kl_to_standard_normal(mean, log_var)  # (n,)
        return {"reconstruction": recon, "kl": kl, "tilt": model.tilt(z).mean(0)}

    def __call__(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        from ebm.energies.vae import LatentEBMVAE

        if not isinstance(model, LatentEBMVAE):
            raise TypeError(format_error("model", "an ebm.energies.LatentEBMVAE", type(model).__name__, "build the model with LatentEBMVAE(data_dim, ...)"))
        check_tensor("batch", batch, ndim=2, trailing_shape=model.event_shape, floating=True)
        check_batch("batch", batch)
        check_tensor("batch", batch, finite=True)
        check_generator("generator", generator)
        t = self.terms(model, batch, generator=generator)
        loss = (t["reconstruction"] + t["kl"] + t["tilt"]).mean()
        if model.prior == "ebm":
            z_prior = model.sample_prior_latents(batch.shape[0], generator=generator)  # (n, k), detached
            negative = model.tilt(z_prior).mean()
            loss = loss - (negative - negative.detach())  # gradient -E_p[∇f]; the value is unchanged
        return loss

    def __repr__(self) -> str:
        return f"VAELatentEBMLoss(n_samples={self.n_samples})"
