"""Latent-variable energies: a joint energy ``E(x, z)`` used through its free energy.

    F_β(x) = -1/β · log ∫ exp(-β E(x, z)) dz,        F_∞(x) = min_z E(x, z).

PCA, k-means, Gaussian mixtures, sparse coding and autoencoders are all instances: they keep the
volume of low energy small by their architecture or a regulariser rather than by pushing up the
energy of contrastive samples (LeCun et al. 2006, "A Tutorial on Energy-Based Learning", §6).

At β = ∞ the parameter gradient of ``F(x) = E(x, z*(x))`` equals the gradient of ``E`` at the
fixed minimiser ``z*`` (envelope theorem), so ``free_energy`` evaluates the joint energy at a
detached ``infer(x)`` and autograd gives the right gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebm._validation import check_int, check_positive, format_error
from ebm.energy import Energy

__all__ = ["LatentEnergy", "grid_free_energy"]


def grid_free_energy(joint: Tensor, beta: float, log_volume: Tensor | float = 0.0) -> Tensor:
    """Free energy by quadrature over a fixed grid of latents (or a sum over discrete latents).

        F_β(x) ≈ -1/β · log Σ_i w_i exp(-β E(x, z_i)),    log w_i = ``log_volume``

    For a discrete latent (k-means, mixtures) the sum is exact with ``log_volume = 0`` (counting
    measure). For a low-dimensional continuous latent (the 1-D angle of the ellipse demo) a fine
    uniform grid with ``log_volume = log Δz`` is a Riemann sum whose error vanishes as the grid is
    refined; with β → ∞ it tends to the minimum over the grid.

    Args:
        joint: joint energies ``E(x, z_i)``, shape ``(*batch, n_latents)``.
        beta: inverse temperature β > 0 (finite).
        log_volume: log quadrature weight, a float or a tensor broadcastable to ``(n_latents,)``.

    Returns:
        ``F_β(x)``, shape ``(*batch,)``.

    Example:
        >>> f = grid_free_energy(torch.tensor([[0.0, 1.0]]), beta=100.0)  # (1,), ≈ min = 0 (gap e^-100/100)
    """
    return -torch.logsumexp(-beta * joint + log_volume, dim=-1) / beta


class LatentEnergy(Energy):
    """Base class for ``E(x, z)`` models; ``forward(x)`` is the free energy at ``self.beta``.

    Subclasses implement ``joint_energy(x, z)`` and ``infer(x)`` and, where a closed form exists,
    ``_free_energy_at(x, beta)`` for finite β.

    Args:
        event_shape: shape of one observation x.
        beta: inverse temperature of the free energy; ``math.inf`` (default) means ``min_z E(x, z)``.
    """

    _abstract = True
    # Whether z ranges over R^k with Lebesgue measure, so Gaussian importance sampling applies.
    # Discrete latents (k-means, mixtures) and angles set this False: their finite-β free energy
    # is an exact sum or a quadrature instead.
    real_latent = True

    input_methods = Energy.input_methods + ("infer", "free_energy", "free_energy_by_sampling")

    def __init__(self, event_shape, beta: float = math.inf):
        super().__init__(event_shape)
        self.beta = self._check_beta(beta)

    @staticmethod
    def _check_beta(beta) -> float:
        if beta == math.inf:
            return math.inf
        return check_positive("beta", beta, fix="pass beta > 0, or math.inf for the zero-temperature free energy")

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        """``E(x, z)``: x ``(*batch, *event_shape)``, z ``(*batch, *latent_shape)`` -> ``(*batch,)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement joint_energy(x, z)")

    def infer(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The minimising latent ``argmin_z E(x, z)`` (or the posterior mode/mean), ``(*batch, *latent_shape)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement infer(x)")

    def free_energy(self, x: Tensor, beta: float | None = None) -> Tensor:
        """``F_β(x)``, shape ``(*batch,)``; ``beta=None`` uses ``self.beta``."""
        beta = self.beta if beta is None else self._check_beta(beta)
        if beta == math.inf:
            with torch.no_grad():
                z = self.infer(x)
            return self.joint_energy(x, z.detach())
        return self._free_energy_at(x, beta)

    def _free_energy_at(self, x: Tensor, beta: float) -> Tensor:
        raise ValueError(
            format_error(
                "beta",
                f"math.inf ({type(self).__name__} has no closed-form finite-temperature free energy)",
                repr(beta),
                "use beta=math.inf, or estimate it with free_energy_by_sampling(x, beta, generator=...)",
            )
        )

    def free_energy_by_sampling(
        self, x: Tensor, beta: float, *, n_samples: int = 1000, proposal_std: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Monte Carlo ``F_β(x)`` for a real-valued latent, by importance sampling around ``infer(x)``.

            F̂_β(x) = -1/β · [ log Σ_s exp(-β E(x, z_s)) / q(z_s) - log S ],
            z_s ~ q = N(infer(x), proposal_std² I)

        The sum inside the log is unbiased for ``Z_β(x) = ∫ exp(-β E(x, z)) dz``, so the estimate is
        consistent; by Jensen's inequality it overestimates F on average, by O(1/S). Centring the
        proposal on the minimiser keeps the weights balanced; choose ``proposal_std`` at least as
        wide as the posterior ``∝ exp(-β E(x, z))`` (e.g. about ``1/sqrt(2β)`` per latent for a
        squared-error energy with unit curvature) so that no region of mass is missed.

        Args:
            x: observations ``(*batch, *event_shape)``.
            beta: finite inverse temperature β > 0.
            n_samples: S, proposal draws per observation.
            proposal_std: standard deviation of the Gaussian proposal.
            generator: random generator for the proposal draws.

        Returns:
            ``F̂_β(x)``, shape ``(*batch,)``.

        Raises:
            ValueError: β not finite and positive, ``n_samples < 1`` or ``proposal_std <= 0``.
        """
        if not self.real_latent:
            raise ValueError(
                format_error(
                    "self",
                    "a model whose latent z ranges over R^k",
                    f"{type(self).__name__}, whose latent is discrete or an angle",
                    "use free_energy(x, beta), which is exact (a sum or a quadrature) for this model",
                )
            )
        beta = check_positive("beta", beta, fix="pass a finite beta > 0 (beta=math.inf needs no sampling)")
        n_samples = check_int("n_samples", n_samples, minimum=1)
        std = check_positive("proposal_std", proposal_std)
        self.check_input(x)
        with torch.no_grad():
            centre = self.infer(x)  # (*batch, *latent)
        noise = torch.randn((n_samples, *centre.shape), generator=generator, dtype=centre.dtype, device=centre.device)
        z = centre.detach() + std * noise  # (S, *batch, *latent)
        batch_ndim = x.dim() - len(self.event_shape)
        latent_dims = math.prod(centre.shape[batch_ndim:])  # latent entries per observation
        reduce = tuple(range(1 + batch_ndim, noise.dim()))  # the latent dimensions of (S, *batch, *latent)
        log_q = -0.5 * noise.pow(2).sum(reduce) - latent_dims * (math.log(std) + 0.5 * math.log(2 * math.pi))  # (S, *batch)
        joint = self.joint_energy(x.expand(n_samples, *x.shape), z)  # (S, *batch)
        return -(torch.logsumexp(-beta * joint - log_q, dim=0) - math.log(n_samples)) / beta

    def forward(self, x: Tensor) -> Tensor:
        return self.free_energy(x)
