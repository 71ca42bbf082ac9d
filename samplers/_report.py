"""What a run reports: the result, divergence (an error) and unhealthy chains (a warning).

Every sampler ends its run with `finish_run`, which reads its flags back from the device once and

* raises `SamplerDivergedError` when a chain's *state* or current energy is non-finite;
* otherwise warns once (`SamplerWarning`) about chains that are frozen (acceptance below 1% over
  at least 20 steps) or ran away (`chain_health`).

A Metropolis proposal with a huge or NaN energy error is neither: it is rejected, and counted as a
*divergent transition* (`divergent_transitions`, Stan's threshold `MAX_ENERGY_ERROR`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from .validation import format_error

__all__ = [
    "SamplerResult", "SamplerDivergedError", "SamplerWarning", "MAX_ENERGY_ERROR", "divergent_transitions",
    "chain_health", "finish_run", "diverged_message",
]


@dataclass
class SamplerResult:
    """What every sampler returns.

    Attributes:
        x: final states, same shape as ``x0`` ``(batch, *event)`` (a tuple of blocks for BlockGibbs).
        acceptance_rate: ``(batch,)`` fraction of accepted proposals per chain after warm-up
            (None for samplers without an accept step, e.g. ULA, Gibbs).
        energy: ``(batch,)`` energies of the final states.
        trajectory: ``(n_steps // thin, batch, *event)`` kept states, or None.
        energies: ``(n_steps, batch)`` energy after each post-warm-up step, or None.
        step_size: the step size used after warm-up: a float, or ``(batch,)`` if adapted (all
            entries equal with ``adaptation="shared"``).
        diverged: ``(batch,)`` bool, chains whose state or current energy became non-finite (a run
            with any raises `SamplerDivergedError`, which carries this result).
        extras: sampler-specific diagnostics: ``"divergent_transitions"`` ``(batch,)`` int64 for
            MALA / HMC (rejected proposals with energy error > `MAX_ENERGY_ERROR`), swap
            acceptance for parallel tempering, ``"blocks"`` for named block Gibbs.
    """

    x: torch.Tensor | tuple
    acceptance_rate: torch.Tensor | None = None
    energy: torch.Tensor | None = None
    trajectory: torch.Tensor | None = None
    energies: torch.Tensor | None = None
    step_size: torch.Tensor | float | None = None
    diverged: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)


class SamplerDivergedError(RuntimeError):
    """Some chains produced a non-finite energy; ``.result`` holds the (partial) SamplerResult."""

    def __init__(self, message: str, result: SamplerResult):
        super().__init__(message)
        self.result = result


class SamplerWarning(UserWarning):
    """A run finished but some chains look unhealthy (frozen at their start, or running away)."""


# Stan's threshold on the energy error of one proposal (its ``max_deltaH``): a proposal whose
# Hamiltonian (HMC) or log acceptance ratio (MALA) worsens by more than this is a "divergent
# transition" (Betancourt 2017, "A conceptual introduction to Hamiltonian Monte Carlo",
# arXiv:1701.02434, section 6.2; Stan Reference Manual, "Divergent transitions").
MAX_ENERGY_ERROR = 1000.0

# Chain-health thresholds (see `chain_health`): a chain is frozen below this acceptance over at
# least this many steps.
FROZEN_ACCEPTANCE = 0.01
FROZEN_MIN_STEPS = 20


def divergent_transitions(log_alpha: torch.Tensor) -> torch.Tensor:
    """``log α < -MAX_ENERGY_ERROR`` or NaN, elementwise (bool, same shape as ``log_alpha``).

    ``-log α`` is the energy error ``ΔH = H(x', p') - H(x, p)`` of an HMC trajectory (for MALA: the
    negative log Metropolis-Hastings ratio). Such a proposal is rejected, the chain stays where it
    was and is still a valid Markov chain; many of them point to a step size too large for the
    local curvature (Betancourt 2017, arXiv:1701.02434). Traceable (no host sync).
    """
    return ~(log_alpha >= -MAX_ENERGY_ERROR)


def _count_dtype(dtype: torch.dtype) -> torch.dtype:
    """Acceptance counts in float32 at least: float16 stops counting exactly at 2,048."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def chain_health(x0: torch.Tensor, e0: torch.Tensor, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Which chains ran away: ``(batch,)`` bool, computed on the device (no host sync).

    With ``d`` the number of coordinates of one chain and ``bound = 1000 + 10 d`` nats, a chain
    runs away when, between its start ``x0`` (energy ``e0``) and its end ``x`` (energy ``e``),

    * its energy **rose** by more than ``bound``: the chain moved to a state ``exp(-bound)`` times
      less probable than its start, which an exact (or usefully biased) sampler does not do (from
      the mode of a d-dimensional Gaussian the typical set lies only ``≈ d/2`` nats higher), but
      an unstable discretisation (ULA with ε above its stability limit) does, geometrically; or
    * its energy **fell** by more than ``bound`` *and* its largest coordinate grew beyond
      ``1000 · (1 + max |x0|)``: an energy unbounded below (an improper target) pulling the chain
      off to infinity. The second condition keeps a healthy chain started far out (high energy)
      that descends to the mode from counting.

    Non-finite end states are divergences, reported separately, not here.
    """
    d = x0[0].numel()
    bound = 1000.0 + 10.0 * d
    wide = _count_dtype(e.dtype)
    rise = e.to(wide) - e0.to(wide)  # (batch,)
    far = x.flatten(1).abs().amax(1).to(wide) > 1000.0 * (1.0 + x0.abs().max().to(wide))  # (batch,)
    runaway = (rise > bound) | ((rise < -bound) & far)
    return runaway & torch.isfinite(e)


def _chain_list(mask) -> str:
    idx = mask.nonzero().flatten().tolist()
    return ", ".join(map(str, idx[:10])) + (", ..." if len(idx) > 10 else "")


def finish_run(result: SamplerResult, sampler: str, fix: str, *, runaway: torch.Tensor | None, n_steps: int, frozen_fix: str, acceptance: torch.Tensor | None = None) -> SamplerResult:
    """End of every run: one host read; raise on divergence, else warn once about unhealthy chains.

    ``acceptance`` defaults to ``result.acceptance_rate``. Frozen: acceptance below
    `FROZEN_ACCEPTANCE` after at least `FROZEN_MIN_STEPS` steps. Runaway: see `chain_health`.
    """
    diverged = result.diverged
    acceptance = result.acceptance_rate if acceptance is None else acceptance
    batch = diverged.shape[0]
    frozen = torch.zeros(batch, dtype=torch.bool, device=diverged.device)
    if acceptance is not None and n_steps >= FROZEN_MIN_STEPS:
        frozen = acceptance < FROZEN_ACCEPTANCE
    if runaway is None:
        runaway = torch.zeros_like(frozen)
    flags = torch.stack([diverged, frozen & ~diverged, runaway & ~diverged]).cpu()  # (3, batch): the one host read
    if bool(flags[0].any()):
        raise SamplerDivergedError(diverged_message(flags[0], sampler, fix), result)
    problems = []
    if bool(flags[1].any()):
        n_div = result.extras.get("divergent_transitions")
        extra = ""
        if n_div is not None:
            extra = f"; {int(n_div.cpu()[flags[1]].sum())} of their proposals were divergent transitions (energy error > {MAX_ENERGY_ERROR:g})"
        problems.append(f"{int(flags[1].sum())} of {batch} chains accepted < {FROZEN_ACCEPTANCE:.0%} of {n_steps} proposals and are frozen near their start "
                        f"(chains {_chain_list(flags[1])}{extra}). Fix: {frozen_fix}")
    if bool(flags[2].any()):
        problems.append(f"{int(flags[2].sum())} of {batch} chains ran away (energy changed by more than 1000 + 10·d nats and/or the state grew by orders "
                        f"of magnitude; chains {_chain_list(flags[2])}). Fix: {fix}")
    if problems:
        warnings.warn(f"{sampler}: " + " ".join(problems), SamplerWarning, stacklevel=3)
    return result


def diverged_message(diverged: torch.Tensor, sampler: str, fix: str) -> str:
    idx = diverged.nonzero().flatten().tolist()
    shown = ", ".join(map(str, idx[:10])) + (", ..." if len(idx) > 10 else "")
    return format_error(
        "energy",
        f"finite energies along every {sampler} chain",
        f"{len(idx)} of {diverged.numel()} chains diverged (non-finite energy or state; chains {shown})",
        fix,
    )
