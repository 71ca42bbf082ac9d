"""Held-out likelihood bounds of a VAE with a latent EBM prior (`ebm.energies.LatentEBMVAE`).

The prior ``p_α(z) = exp(-f_α(z)) N(z; 0, I) / Z_α`` needs ``log Z_α = log E_{N(0, I)}[exp(-f_α(z))]``,
a k-dimensional integral, so the bounds on ``log p(x)`` are computable:

    ELBO(x) - log Z_α ≤ L_K(x) - log Z_α ≤ log p(x),
    L_K(x) = log (1/K) Σ_j p̃(x, z_j) / q(z_j | x),  z_j ~ q(z | x)   (Burda et al. 2016, arXiv:1509.00519)

in expectation (a plug-in estimate of ``log Z_α`` adds its own error, reported beside it).
`latent_prior_log_partition` offers three estimators of ``log Z_α``: grid quadrature (k = 2;
deterministic, accurate to the quadrature error), AIS from N(0, I) (`ais_log_partition_any`, any k;
a stochastic lower bound, with reverse AIS an upper bound when exact samples exist) and plain
importance sampling from N(0, I) (the AIS estimate with no intermediate temperature).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor

from ebm._validation import check_choice, check_generator, check_int, check_positive, check_tensor, format_error
from ebm.grid import grid_log_partition

__all__ = ["latent_prior_log_partition", "held_out_bounds"]


class _PriorEnergy:
    """``f(z) + ½‖z‖²`` of a float64 copy of the model, as a plain callable over ``(n, k)``."""

    def __init__(self, model):
        self.model = copy.deepcopy(model).double().eval()
        self.event_shape = torch.Size([model.latent_dim])

    def __call__(self, z: Tensor) -> Tensor:
        return self.model.prior_energy(z.double())


def _check_model(model):
    from ebm.energies.vae import LatentEBMVAE

    if not isinstance(model, LatentEBMVAE):
        raise TypeError(format_error("model", "an ebm.energies.LatentEBMVAE", type(model).__name__, "build the model with LatentEBMVAE(data_dim, ...)"))
    return model


def latent_prior_log_partition(model, *, method: str = "auto", n_samples: int = 100_000, bound: float = 6.0, resolution: int = 400,
                               n_betas: int = 1000, n_chains: int = 200, generator: torch.Generator | None = None) -> dict[str, float]:
    """``log Z_α = log ∫ exp(-f_α(z)) N(z; 0, I) dz`` of the model's latent prior (0 for ``prior="gaussian"``).

    Args:
        model: a `LatentEBMVAE`.
        method: ``"grid"`` (k = 2 only: midpoint rule on ``[-bound, bound]²`` with ``resolution``²
            cells), ``"ais"`` (AIS from N(0, I), ``n_chains`` × ``n_betas``), ``"importance"``
            (``n_samples`` draws from N(0, I)), or ``"auto"`` (grid for k = 2, else AIS).
        generator: random generator (AIS and importance sampling).

    Returns:
        ``{"log_z": estimate, "stderr": standard error (0 for the grid), "method": name}``.

    Raises:
        TypeError: not a `LatentEBMVAE`. ValueError: unknown method; grid with k ≠ 2; bad sizes.

    Example:
        >>> from ebm.energies import LatentEBMVAE
        >>> vae = LatentEBMVAE(2, latent_dim=2, generator=torch.Generator().manual_seed(0))
        >>> r = latent_prior_log_partition(vae, method="grid")
    """
    model = _check_model(model)
    method = check_choice("method", method, ("auto", "grid", "ais", "importance"))
    check_generator("generator", generator)
    k = model.latent_dim
    if method == "auto":
        method = "grid" if k == 2 else "ais"
    if model.prior == "gaussian":
        return {"log_z": 0.0, "stderr": 0.0, "method": "exact (Gaussian prior)"}
    energy = _PriorEnergy(model)
    log_norm = 0.5 * k * math.log(2 * math.pi)  # ∫ exp(-½‖z‖²) dz
    if method == "grid":
        if k != 2:
            raise ValueError(format_error("method", "'grid' only for a 2-D latent", f"latent_dim={k}", "use method='ais' or 'importance'"))
        bound = check_positive("bound", bound)
        resolution = check_int("resolution", resolution, minimum=8)
        log_z = float(grid_log_partition(energy, ((-bound, bound), (-bound, bound)), resolution, dtype=torch.float64)) - log_norm
        return {"log_z": log_z, "stderr": 0.0, "method": f"grid {resolution}² on [-{bound:g}, {bound:g}]²"}
    if method == "importance":
        n_samples = check_int("n_samples", n_samples, minimum=2)
        z = torch.randn(n_samples, k, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            log_w = -energy.model.tilt(z)  # (n,)
        log_z = float(torch.logsumexp(log_w, 0)) - math.log(n_samples)
        w = (log_w - log_w.max()).exp()
        stderr = float(w.std() / (w.mean() * math.sqrt(n_samples)))  # delta method: sd(log mean w)
        return {"log_z": log_z, "stderr": stderr, "method": f"importance sampling from N(0, I), {n_samples} draws"}
    from ebm.evaluate.ais_any import ais_log_partition_any

    eye = torch.eye(k, dtype=torch.float64)
    r = ais_log_partition_any(energy, base=(torch.zeros(k, dtype=torch.float64), eye), n_chains=check_int("n_chains", n_chains, minimum=2),
                              n_betas=check_int("n_betas", n_betas, minimum=3), reverse_from=None, generator=generator)
    return {"log_z": float(r.log_z) - log_norm, "stderr": float(r.std_error), "method": f"AIS from N(0, I), {n_chains} chains x {n_betas} temperatures"}


def held_out_bounds(model, x: Tensor, *, k: int = 1000, log_z: float | None = None, batch_size: int = 100,
                    generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean ELBO and importance-weighted bound ``L_k`` on ``x (n, d)``, in nats per example, minus ``log Z_α``.

    Args:
        model: a `LatentEBMVAE`; x: held-out data ``(n, d)``.
        k: importance samples per example for ``L_k``.
        log_z: ``log Z_α`` (default: `latent_prior_log_partition` with ``method="auto"``).
        batch_size: examples per chunk.
        generator: random generator.

    Returns:
        ``{"elbo", "iwae", "log_z"}`` (means over x).
    """
    model = _check_model(model)
    x = check_tensor("x", x, ndim=2, floating=True, finite=True, nonempty=True, trailing_shape=model.event_shape)
    k = check_int("k", k, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if log_z is None:
        log_z = latent_prior_log_partition(model, generator=generator)["log_z"]
    elbo, iwae = [], []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            chunk = x[i : i + batch_size]
            elbo.append(model.elbo(chunk, n_samples=1, generator=generator))
            iwae.append(model.log_marginal_bound(chunk, k=k, generator=generator))
    return {"elbo": float(torch.cat(elbo).mean()) - log_z, "iwae": float(torch.cat(iwae).mean()) - log_z, "log_z": float(log_z)}
