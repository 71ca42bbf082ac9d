"""Noise-contrastive estimation (Gutmann & Hyvärinen, 2010): learn an un-normalised model by
logistic regression of data against samples of a known noise distribution; the normaliser
becomes one more learnable parameter."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ebm._validation import check_positive, check_tensor, format_error
from ebm.energy import Energy
from ebm.objectives._common import check_continuous_data, check_energy
from ebm.registry import register_objective

__all__ = ["NoiseContrastiveEstimation"]


def _sample(noise: torch.distributions.Distribution, n: int, generator: torch.Generator | None) -> Tensor:
    """``n`` draws from ``noise``; reproducible from ``generator`` without touching global RNG state.

    torch.distributions draw from the global generator, so we seed a forked copy of it from
    ``generator`` and restore the global state afterwards.
    """
    if generator is None:
        return noise.sample((n,))
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    devices = [generator.device] if generator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return noise.sample((n,))


def _std_normal(d: int, dtype=torch.float32):
    return torch.distributions.MultivariateNormal(torch.zeros(d, dtype=dtype), 4.0 * torch.eye(d, dtype=dtype))


def _example():
    from ebm.energies.quadratic import QuadraticEnergy

    g = torch.Generator().manual_seed(0)
    return NoiseContrastiveEstimation(_std_normal(2), noise_ratio=2), (QuadraticEnergy(2), torch.randn(16, 2, generator=g))


def _quadratic(d=2):
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(d)


@register_objective(
    "noise_contrastive_estimation",
    example=_example,
    bad_inputs=[
        (lambda: NoiseContrastiveEstimation("gaussian", 1.0), TypeError, "noise"),
        (lambda: NoiseContrastiveEstimation(_std_normal(2), 0.0), ValueError, "noise_ratio"),
        (lambda: NoiseContrastiveEstimation(_std_normal(3), 1.0)(_quadratic(2), torch.zeros(4, 2)), ValueError, "event shape"),
        (lambda: NoiseContrastiveEstimation(torch.distributions.Normal(torch.zeros(2), torch.ones(2)), 1.0)(_quadratic(2), torch.zeros(4, 2)), ValueError, "Independent"),
        (lambda: NoiseContrastiveEstimation(_std_normal(2), 1.0)(_quadratic(2), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
    ],
)
class NoiseContrastiveEstimation(nn.Module):
    """NCE: logistic regression of data against ``ν`` noise samples per data point.

    The model is ``log p_θ(u) = -E_θ(u) - c`` with ``c`` a learnable log-normaliser (owned by this
    objective, `log_normalizer`), and ``G(u) = log p_θ(u) - log p_n(u) - log ν``. The loss
    (per data point, Gutmann & Hyvärinen 2012's normalisation) is

        ``J(θ, c) = E_data[ softplus(-G(x)) ] + ν E_noise[ softplus(G(y)) ]``,

    i.e. minus the log-likelihood of classifying data as data and noise as noise. At the optimum
    ``c`` is the true ``log Z(θ)``, so the un-normalised energy becomes a normalised model. The
    estimator is consistent for any ``ν > 0`` and its variance falls as ``ν`` grows, towards the
    maximum-likelihood one. A good noise is close to the data and has heavier tails.

    Reference: Gutmann & Hyvärinen (2010), "Noise-Contrastive Estimation: A New Estimation
    Principle for Unnormalized Statistical Models", AISTATS; Gutmann & Hyvärinen (2012), JMLR 13.

    Args:
        noise: a `torch.distributions.Distribution` whose ``event_shape`` is the energy's and
            ``batch_shape`` is ``()`` (wrap per-dimension noises in ``Independent(noise, 1)``).
        noise_ratio: ``ν > 0``, noise samples per data sample (rounded, at least 1 in all).
        init_log_normalizer: starting value of ``c``.

    Call args:
        energy: an `ebm.Energy`; x: data ``(batch, *event_shape)``; generator: draws the noise
        (reproducibly, without changing global RNG state); noise_samples: optional fixed noise
        draws ``(m, *event_shape)`` (for a deterministic loss, e.g. with L-BFGS).

    Returns:
        The scalar loss.

    Raises:
        TypeError: ``noise`` is not a Distribution, integer data, or a non-Energy.
        ValueError: ``noise_ratio <= 0``, or noise event shape / batch shape that do not fit.

    Example:
        >>> from ebm.energies import QuadraticEnergy
        >>> noise = torch.distributions.MultivariateNormal(torch.zeros(2), 4 * torch.eye(2))
        >>> nce = NoiseContrastiveEstimation(noise, noise_ratio=5)
        >>> loss = nce(QuadraticEnergy(2), torch.randn(64, 2))
    """

    def __init__(self, noise: torch.distributions.Distribution, noise_ratio: float = 1.0, *, init_log_normalizer: float = 0.0):
        super().__init__()
        if not isinstance(noise, torch.distributions.Distribution):
            raise TypeError(format_error("noise", "a torch.distributions.Distribution", type(noise).__name__, "pass e.g. torch.distributions.MultivariateNormal(mean, cov)"))
        self.noise = noise
        self.noise_ratio = check_positive("noise_ratio", noise_ratio)
        self.log_normalizer = nn.Parameter(torch.tensor(float(init_log_normalizer)))

    def _check_noise_fits(self, energy: Energy) -> None:
        if tuple(self.noise.batch_shape) != ():
            raise ValueError(
                format_error(
                    "noise",
                    "batch_shape () (one distribution over whole samples)",
                    f"batch_shape {tuple(self.noise.batch_shape)}, event shape {tuple(self.noise.event_shape)}",
                    "wrap per-dimension noise: torch.distributions.Independent(noise, reinterpreted_batch_ndims=1)",
                )
            )
        if tuple(self.noise.event_shape) != tuple(energy.event_shape):
            raise ValueError(
                format_error("noise", f"event shape {tuple(energy.event_shape)} (the energy's)", f"event shape {tuple(self.noise.event_shape)}", "use a noise distribution over the same space as the data")
            )

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None, *, noise_samples: Tensor | None = None) -> Tensor:
        check_energy(energy, "noise-contrastive estimation")
        check_continuous_data(energy, x, "noise-contrastive estimation")
        self._check_noise_fits(energy)
        if noise_samples is None:
            m = max(1, round(self.noise_ratio * x.shape[0]))
            noise_samples = _sample(self.noise, m, generator)
        else:
            check_tensor("noise_samples", noise_samples, trailing_shape=energy.event_shape, floating=True, finite=True)
        y = noise_samples.to(dtype=x.dtype, device=x.device)  # (m, *event)
        log_nu = torch.log(torch.tensor(self.noise_ratio, dtype=x.dtype, device=x.device))
        c = self.log_normalizer.to(x.dtype)
        noise_dtype = noise_samples.dtype

        def logit(u: Tensor) -> Tensor:  # G(u) = -E(u) - c - log p_n(u) - log ν, (n,)
            log_pn = self.noise.log_prob(u.detach().to(noise_dtype)).to(x.dtype)
            return -energy(u) - c - log_pn - log_nu

        data_term = F.softplus(-logit(x)).mean()
        noise_term = F.softplus(logit(y)).mean()
        return data_term + self.noise_ratio * noise_term

    def extra_repr(self) -> str:
        return f"noise={type(self.noise).__name__}, noise_ratio={self.noise_ratio:g}"
