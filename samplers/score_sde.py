"""Samplers for noise-conditional score models: predictor-corrector and the probability-flow ODE.

A noise-conditional model gives the score ``s(x, σ) ≈ ∇ log p_σ(x)`` of the data smoothed by
``N(0, σ² I)`` at every level σ (e.g. ``ebm.energies.NoiseConditionalEnergy`` trained by multi-level
denoising score matching). With the variance-exploding SDE of Song, Sohl-Dickstein, Kingma, Kumar,
Ermon & Poole (2021), "Score-Based Generative Modeling through Stochastic Differential Equations",
ICLR, arXiv:2011.13456, the levels run geometrically from ``σ_max`` (pure noise) to ``σ_min``
(the data, barely smoothed) and:

* **Predictor-corrector** (their Algorithms 2 and 4 for VE): at each level σ_i, ``n_corrector``
  Langevin corrector steps ``x ← x + ε s(x, σ_i) + √(2ε) z`` with ``ε = 2 (r ‖z‖ / ‖s‖)²`` (``r``
  the signal-to-noise ratio, norms averaged over the batch as in the authors' code), then the
  reverse-diffusion predictor ``x ← x + (σ_i² − σ_{i+1}²) s(x, σ_i) + √(σ_i² − σ_{i+1}²) z`` to the
  next level. The last predictor adds no noise (the paper's denoising of the final sample), so
  the result is the denoised sample at σ_min.
* **Probability-flow ODE** (their eq. 13): the deterministic ``dx/dσ = −σ s(x, σ)`` has the same
  marginals ``p_σ`` as the SDE. Written in ``u = log σ`` it reads ``dx/du = −σ² s(x, σ)`` (smooth in
  u across the decades of σ) and is integrated with classical fourth-order Runge-Kutta. It maps noise
  to data (sampling) and data to noise, and gives **exact log-likelihoods** of the model by the
  instantaneous change of variables (Chen, Rubanova, Bettencourt & Duvenaud 2018, arXiv:1806.07366)::

      log p_{σ_min}(x) = log p_{σ_max}(x(σ_max)) + ∫ ∇·(dx/du) du,

  with the prior ``p_{σ_max} = N(0, σ_max² I)`` unless given. The divergence is exact (one
  backward pass per dimension) or Hutchinson's unbiased estimate ``vᵀ(∂f/∂x)v`` with Rademacher
  probes ``v`` (Grathwohl et al. 2019, FFJORD, arXiv:1810.01367).

The ``energy`` argument is a callable ``energy(x, sigma) -> (batch,)`` (σ a Python float), with an
optional ``score(x, sigma)``; otherwise the score is taken by autograd.
"""

from __future__ import annotations

import inspect
import math

import torch

from ._base import SamplerResult, check_x0_against_energy, finish_run, validate_x0
from .validation import check_choice, check_generator, check_noise_conditional, check_int, check_positive, format_error, trusted_inputs

__all__ = ["PredictorCorrector", "ProbabilityFlowODE", "geometric_sigmas"]


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> list[float]:
    """``n`` levels from ``sigma_max`` down to ``sigma_min``, equally spaced in log σ."""
    hi, lo = _levels(sigma_max, sigma_min)
    n = check_int("n", n, minimum=2)
    return [math.exp(math.log(hi) + (math.log(lo) - math.log(hi)) * i / (n - 1)) for i in range(n)]


def _score_fn(energy, *, differentiable: bool = False):
    """``(x, σ) -> s(x, σ)`` from ``energy.score`` or autograd of ``energy(x, σ)``.

    ``differentiable=True`` keeps the graph from ``x`` to the score (the ODE's divergence needs
    ``∂s/∂x``): a model score that takes ``create_graph`` gets it; the autograd path creates it.
    """
    check_noise_conditional("energy", energy)
    if hasattr(energy, "score"):
        takes_graph = "create_graph" in inspect.signature(energy.score).parameters
        extra = {"create_graph": True} if (differentiable and takes_graph) else {}

        def model_score(x, sigma):
            with torch.enable_grad():  # a model may take its score by autograd (NoiseConditionalEnergy)
                s = energy.score(x, sigma, **extra)
            return s if differentiable else s.detach()

        return model_score

    def autograd_score(x, sigma):
        with torch.enable_grad():
            xg = x if (differentiable and x.requires_grad) else x.detach().requires_grad_(True)
            e = energy(xg, sigma)
            if not isinstance(e, torch.Tensor) or e.shape != x.shape[:1]:
                raise ValueError(format_error("energy(x, sigma)", f"one energy per row, shape ({x.shape[0]},)", f"{getattr(e, 'shape', type(e).__name__)}", "reduce over the event dimensions, e.g. E.sum(dim=-1)"))
            (g,) = torch.autograd.grad(e.sum(), xg, create_graph=differentiable)
        return -g

    return autograd_score


def _check_score(s: torch.Tensor, x: torch.Tensor) -> None:
    if not isinstance(s, torch.Tensor) or s.shape != x.shape:
        raise ValueError(format_error("energy.score(x, sigma)", f"shape {tuple(x.shape)} like x", f"{getattr(s, 'shape', type(s).__name__)}", "return the score with the shape of x"))


def _levels(sigma_max, sigma_min):
    hi = check_positive("sigma_max", sigma_max)
    lo = check_positive("sigma_min", sigma_min)
    if not lo < hi:
        raise ValueError(format_error("sigma_min", f"a level below sigma_max = {hi:g}", f"{lo:g}", "pass sigma_min < sigma_max"))
    return hi, lo


class PredictorCorrector:
    """Reverse-diffusion predictor + Langevin corrector sampler for the VE SDE.

    Args:
        sigma_max, sigma_min: the largest and smallest noise levels (σ_max ≳ the data's diameter).
        snr: the corrector's signal-to-noise ratio r > 0 (Song et al. 2021 use 0.16 for images; for
            low-dimensional toys larger values up to ~0.3 work).
        n_corrector: Langevin corrector steps per level (0: predictor only).

    ``run(energy, x0, n_steps)``: ``x0 (batch, *event)`` is the starting noise, usually
    ``sigma_max * torch.randn(...)``; ``n_steps`` the number of levels (≥ 2).

    Example:
        >>> E = lambda x, s: 0.5 * (x ** 2).sum(-1) / (1 + s ** 2)
        >>> pc = PredictorCorrector(10.0, 0.01)
        >>> pc.run(E, 10.0 * torch.randn(256, 2), 100).x.shape
        torch.Size([256, 2])
    """

    def __init__(self, sigma_max: float, sigma_min: float, *, snr: float = 0.16, n_corrector: int = 1):
        self.sigma_max, self.sigma_min = _levels(sigma_max, sigma_min)
        self.snr = check_positive("snr", snr)
        self.n_corrector = check_int("n_corrector", n_corrector, minimum=0)

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Integrate the reverse SDE over ``n_steps`` levels from noise ``x0``.

        Returns:
            SamplerResult with ``x`` the samples; ``extras["sigmas"]`` the levels used.

        Raises:
            ValueError/TypeError: bad arguments; SamplerDivergedError: non-finite samples.
        """
        check_noise_conditional("energy", energy)
        x = check_x0_against_energy(validate_x0(x0), energy).clone()
        sigmas = geometric_sigmas(self.sigma_max, self.sigma_min, check_int("n_steps", n_steps, minimum=2))
        check_generator("generator", generator, x.device)
        score = _score_fn(energy)
        batch = x.shape[0]
        with torch.no_grad(), trusted_inputs():
            for i in range(len(sigmas) - 1):
                for _ in range(self.n_corrector):
                    s = score(x, sigmas[i])
                    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                    # Batch-mean norms, as the paper's code: a per-sample ratio would give a chain
                    # that sits near a mode (tiny score) a huge step in low dimensions.
                    ratio = z.reshape(batch, -1).norm(dim=1).mean() / s.reshape(batch, -1).norm(dim=1).mean().clamp_min(1e-12)
                    eps = 2 * (self.snr * ratio) ** 2
                    x = x + eps * s + (2 * eps).sqrt() * z
                s = score(x, sigmas[i])
                if i == 0:
                    _check_score(s, x)
                var_step = sigmas[i] ** 2 - sigmas[i + 1] ** 2
                x = x + var_step * s
                if i < len(sigmas) - 2:  # the last predictor step is the noise-free denoising
                    x = x + math.sqrt(var_step) * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        diverged = ~torch.isfinite(x.reshape(batch, -1)).all(1)
        result = SamplerResult(x=x, diverged=diverged, extras={"sigmas": sigmas})
        return finish_run(result, "PredictorCorrector", "lower snr, use more levels, or check the model's scores", runaway=None, n_steps=len(sigmas), frozen_fix="")


class ProbabilityFlowODE:
    """The probability-flow ODE of the VE SDE: deterministic sampling and exact log-likelihoods.

    Args:
        sigma_max, sigma_min: the noise levels at the two ends of the flow.
        divergence: ``"exact"`` (d backward passes per evaluation; exact) or ``"hutchinson"``
            (one Rademacher probe per evaluation, drawn once per call; unbiased).

    Methods:
        ``run(energy, x0, n_steps)``: noise ``x0 ~ N(0, σ_max² I)`` to samples, ``n_steps`` RK4 steps.
        ``log_likelihood(energy, x, n_steps, prior=None)``: ``log p_{σ_min}(x)`` per row.

    Example:
        >>> E = lambda x, s: 0.5 * (x ** 2).sum(-1) / (1 + s ** 2)
        >>> ode = ProbabilityFlowODE(20.0, 0.01)
        >>> ode.log_likelihood(E, torch.zeros(3, 2), 50).shape
        torch.Size([3])
    """

    def __init__(self, sigma_max: float, sigma_min: float, *, divergence: str = "exact"):
        self.sigma_max, self.sigma_min = _levels(sigma_max, sigma_min)
        self.divergence = check_choice("divergence", divergence, ["exact", "hutchinson"])

    def _drift(self, score, x: torch.Tensor, u: float) -> torch.Tensor:
        sigma = math.exp(u)
        return -(sigma**2) * score(x, sigma)  # dx/du

    def _integrate(self, f, y: torch.Tensor, u0: float, u1: float, n_steps: int):
        """Classical RK4 for ``dy/du = f(y, u)`` from u0 to u1 in ``n_steps`` equal steps."""
        h = (u1 - u0) / n_steps
        u = u0
        for _ in range(n_steps):
            k1 = f(y, u)
            k2 = f(y + 0.5 * h * k1, u + 0.5 * h)
            k3 = f(y + 0.5 * h * k2, u + 0.5 * h)
            k4 = f(y + h * k3, u + h)
            y = y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
            u += h
        return y

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Map noise ``x0`` (``(batch, *event)``, ~N(0, σ_max² I)) to samples at σ_min.

        ``generator`` is accepted for the sampler contract; the flow is deterministic.
        """
        check_noise_conditional("energy", energy)
        x = check_x0_against_energy(validate_x0(x0), energy)
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x.device)
        score = _score_fn(energy)
        with torch.no_grad(), trusted_inputs():
            _check_score(score(x, self.sigma_max), x)
            x = self._integrate(lambda y, u: self._drift(score, y, u), x, math.log(self.sigma_max), math.log(self.sigma_min), n_steps)
        batch = x.shape[0]
        diverged = ~torch.isfinite(x.reshape(batch, -1)).all(1)
        result = SamplerResult(x=x, diverged=diverged, extras={"n_steps": n_steps})
        return finish_run(result, "ProbabilityFlowODE", "use more steps or check the model's scores", runaway=None, n_steps=n_steps, frozen_fix="")

    def log_likelihood(self, energy, x: torch.Tensor, n_steps: int = 100, *, prior=None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``log p_{σ_min}(x)`` of the model's flow, per row (nats).

        Args:
            energy: the noise-conditional model (``energy(x, sigma)``).
            x: data ``(batch, *event)``.
            n_steps: RK4 steps from σ_min to σ_max.
            prior: ``x -> (batch,)`` log-density at σ_max; default ``N(0, σ_max² I)``.
            generator: for Hutchinson's probes.

        Returns:
            ``(batch,)`` log-likelihoods in the dtype of ``x``.
        """
        check_noise_conditional("energy", energy)
        x = check_x0_against_energy(validate_x0(x, "x"), energy, "x")
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x.device)
        score = _score_fn(energy, differentiable=True)
        batch = x.shape[0]
        d = x[0].numel()
        probe = None
        if self.divergence == "hutchinson":
            probe = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype).mul_(2).sub_(1)

        def drift_and_divergence(state, u):
            y = state[:, :d].reshape(x.shape)
            with torch.enable_grad():
                yg = y.detach().requires_grad_(True)
                f = self._drift(score, yg, u)
                if probe is not None:
                    (jvp,) = torch.autograd.grad(f, yg, grad_outputs=probe)
                    div = (jvp * probe).reshape(batch, -1).sum(1)
                else:
                    flat = f.reshape(batch, -1)
                    div = torch.zeros(batch, dtype=x.dtype, device=x.device)
                    for i in range(d):
                        (g,) = torch.autograd.grad(flat[:, i].sum(), yg, retain_graph=i < d - 1)
                        div = div + g.reshape(batch, -1)[:, i]
            return torch.cat([f.detach().reshape(batch, -1), div.detach()[:, None]], 1)

        with trusted_inputs():
            _check_score(score(x, self.sigma_min), x)
            state = torch.cat([x.reshape(batch, -1), torch.zeros(batch, 1, dtype=x.dtype, device=x.device)], 1)  # (batch, d + 1)
            state = self._integrate(drift_and_divergence, state, math.log(self.sigma_min), math.log(self.sigma_max), n_steps)
        x_end, integral = state[:, :d].reshape(x.shape), state[:, d]
        if prior is None:
            log_prior = -0.5 * x_end.reshape(batch, -1).square().sum(1) / self.sigma_max**2 - d * (math.log(self.sigma_max) + 0.5 * math.log(2 * math.pi))
        else:
            log_prior = prior(x_end)
        return log_prior + integral
