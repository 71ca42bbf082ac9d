"""Underdamped (kinetic) Langevin dynamics with the BAOAB splitting, optionally preconditioned.

The diffusion on position x and momentum p (diagonal mass M, friction γ)::

    dx = M⁻¹ p dt,      dp = -∇E(x) dt - γ p dt + √(2γ) M^{1/2} dW

leaves ``exp(-E(x) - ½ pᵀM⁻¹p)`` invariant. BAOAB (Leimkuhler & Matthews 2013, "Rational
construction of stochastic numerical methods for molecular sampling", AMRX, arXiv:1203.5428)
integrates one step of size h as kick (B, h/2), drift (A, h/2), the exact Ornstein-Uhlenbeck
solve (O, h), drift (A, h/2), kick (B, h/2)::

    p ← p + h/2 s(x);  x ← x + h/2 M⁻¹p;  p ← c p + √(1 − c²) M^{1/2} ξ;  x ← x + h/2 M⁻¹p;  p ← p + h/2 s(x)

with ``c = exp(-γh)`` and ``s = -∇E``: one score evaluation per step (the last kick's score is the
next step's first). Its configurational bias is O(h²) and, on a Gaussian target, its stationary
position variance is exact for every stable h (Leimkuhler & Matthews 2013, §4) — unlike ULA's
σ²/(1 − h/(2σ²)). There is no accept step: like ULA it is biased on non-Gaussian targets at finite h.

Preconditioning: ``mass`` is a positive diagonal mass (event-shaped); ``M = 1/variance`` makes an
ill-conditioned Gaussian isotropic in the dynamics, the same role as HMC's mass matrix.
"""

from __future__ import annotations

import math

import torch

from ._base import SamplerResult, chain_health, check_energy_output, check_x0_against_energy, energy_and_score_fn, finish_run, validate_x0
from .validation import check_generator, check_int, check_positive, check_tensor, format_error, trusted_inputs

__all__ = ["UnderdampedLangevin"]

_NOISE_BUDGET = 1 << 18  # noise entries drawn at once (as the shared loop does)


class UnderdampedLangevin:
    """Kinetic Langevin dynamics (BAOAB) over any energy ``(batch, *event) -> (batch,)``.

    Args:
        step_size: h > 0.
        friction: γ > 0 (1/time). Small γ moves like HMC (long ballistic stretches), large γ like
            overdamped Langevin with step h²/(2)·γ-scaled; γ ≈ 1/(√λ_min) of the precision is a good start.
        mass: optional positive diagonal mass, a tensor of the event shape (preconditioning).
        warmup_steps: burn-in steps before statistics are recorded.
        thin: keep every ``thin``-th position in ``result.trajectory`` (None: keep none).
        record_energies: keep ``(n_steps, batch)`` energies.

    Returns (from ``run``): SamplerResult; ``extras["momentum"]`` holds the final momenta.

    Example:
        >>> r = UnderdampedLangevin(0.2, friction=1.0).run(lambda x: 0.5 * (x ** 2).sum(-1), torch.zeros(100, 2), 300)
        >>> r.x.shape
        torch.Size([100, 2])
    """

    def __init__(self, step_size: float, friction: float = 1.0, *, mass: torch.Tensor | None = None, warmup_steps: int = 0,
                 thin: int | None = None, record_energies: bool = False):
        self.step_size = check_positive("step_size", step_size, fix="pass a small positive step size, e.g. 0.1")
        self.friction = check_positive("friction", friction, fix="pass a positive friction, e.g. friction=1.0")
        if mass is not None:
            mass = check_tensor("mass", mass, floating=True, finite=True)
            if bool((mass <= 0).any()):
                raise ValueError(format_error("mass", "a positive diagonal mass", "non-positive entries", "pass e.g. 1 / variance estimates, all > 0"))
        self.mass = mass
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.thin = None if thin is None else check_int("thin", thin, minimum=1)
        self.record_energies = bool(record_energies)

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None,
            momentum: torch.Tensor | None = None) -> SamplerResult:
        """Run ``warmup_steps`` then ``n_steps`` BAOAB steps from ``x0``.

        Args:
            energy: callable ``(batch, *event) -> (batch,)`` (its ``energy_and_score`` is used when present).
            x0: ``(batch, *event)`` finite floating initial positions.
            n_steps: post-warm-up steps (>= 1).
            generator: torch.Generator on x0's device, or None.
            momentum: optional initial momenta like ``x0`` (default: drawn from N(0, M)).

        Raises:
            ValueError/TypeError: bad arguments or energy output.
            SamplerDivergedError: some chains reached a non-finite state or energy.
        """
        x0 = check_x0_against_energy(validate_x0(x0), energy)
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x0.device)
        if self.mass is not None and tuple(self.mass.shape) != tuple(x0.shape[1:]):
            raise ValueError(format_error("mass", f"shape {tuple(x0.shape[1:])} (the event shape)", f"shape {tuple(self.mass.shape)}", "pass one mass per coordinate of a single chain"))
        m = None if self.mass is None else self.mass.to(x0)
        sqrt_m = None if m is None else m.sqrt()
        inv_m = None if m is None else m.reciprocal()
        if momentum is None:
            p = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
            p = p if sqrt_m is None else p * sqrt_m
        else:
            p = check_tensor("momentum", momentum, floating=True, finite=True).to(x0).clone()
            if p.shape != x0.shape:
                raise ValueError(format_error("momentum", f"shape {tuple(x0.shape)} like x0", f"shape {tuple(p.shape)}", "pass one momentum per coordinate"))
        h = self.step_size
        c = math.exp(-self.friction * h)
        noise_scale = math.sqrt(1 - c * c)
        batch = x0.shape[0]
        thin = self.thin
        traj = torch.empty((n_steps // thin, *x0.shape), dtype=x0.dtype, device=x0.device) if thin else None
        energies = torch.empty((n_steps, batch), dtype=x0.dtype, device=x0.device) if self.record_energies else None
        fn = energy_and_score_fn(energy)
        with torch.no_grad(), trusted_inputs():
            x = x0.clone()
            e, s = fn(x)
            check_energy_output(e, s, x)
            e_start = e
            total = self.warmup_steps + n_steps
            chunk = max(1, min(total, _NOISE_BUDGET // max(1, x.numel())))
            t = 0
            while t < total:
                k = min(chunk, total - t)
                xi = torch.randn((k, *x.shape), generator=generator, dtype=x.dtype, device=x.device)  # (k, batch, *event)
                if sqrt_m is not None:
                    xi.mul_(sqrt_m)
                for j in range(k):
                    p.add_(s, alpha=h / 2)  # B
                    x.add_(p if inv_m is None else p * inv_m, alpha=h / 2)  # A
                    p.mul_(c).add_(xi[j], alpha=noise_scale)  # O (exact)
                    x.add_(p if inv_m is None else p * inv_m, alpha=h / 2)  # A
                    e, s = fn(x)
                    p.add_(s, alpha=h / 2)  # B
                    step = t + j + 1 - self.warmup_steps  # 1-based post-warm-up step, <= 0 in warm-up
                    if step > 0:
                        if traj is not None and step % thin == 0:
                            traj[step // thin - 1].copy_(x)
                        if energies is not None:
                            energies[step - 1].copy_(e)
                t += k
        diverged = ~torch.isfinite(e) | ~torch.isfinite(x.reshape(batch, -1)).all(1)
        result = SamplerResult(x=x, energy=e, trajectory=traj, energies=energies, step_size=h, diverged=diverged, extras={"momentum": p})
        return finish_run(result, "UnderdampedLangevin", "lower step_size (h·√λ_max(Hessian / mass) must stay below 2)", runaway=chain_health(x0, e_start, x, e), n_steps=n_steps, frozen_fix="")
