"""Langevin samplers: ULA, MALA (with warm-up step-size adaptation) and annealed Langevin.

All three discretise the Langevin diffusion ``dx = -∇E(x) dt + √2 dW`` whose stationary law is
``p(x) ∝ exp(-E(x))``, with the Euler-Maruyama step

    x' = x - ε ∇E(x) + √(2ε) ξ,      ξ ~ N(0, I).

ULA uses it as is (biased for ε > 0: on N(0, σ²) its stationary variance is σ²/(1 - ε/(2σ²)));
MALA treats it as a proposal and corrects it with a Metropolis-Hastings test, so it is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._base import ChainState, GradientSampler, SamplerDivergedError, SamplerResult, axpy, diverged_message, check_energy_output, check_x0_against_energy, energy_and_score_fn, finish_run, validate_x0
from .validation import check_generator, check_int, check_noise_conditional, check_positive, format_error, trusted_inputs

__all__ = ["ULA", "MALA", "AnnealedLangevin"]


def _axpy_(x: torch.Tensor, a, y: torch.Tensor) -> torch.Tensor:
    """In place ``x += a * y`` for a float or broadcastable tensor ``a``."""
    if isinstance(a, torch.Tensor):
        return x.addcmul_(a, y)
    return x.add_(y, alpha=a)


def _clip_(score: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scale each chain's score so its Euclidean norm is at most ``max_norm`` (in place)."""
    norm = score.flatten(1).norm(dim=1).clamp_(min=max_norm)  # (batch,)
    return score.mul_((max_norm / norm).view((-1,) + (1,) * (score.dim() - 1)))


class ULA(GradientSampler):
    """Unadjusted Langevin algorithm: ``x' = x - ε∇E(x) + √(2ε) ξ`` with no accept step.

    Biased for any ε > 0 (e.g. stationary variance σ²/(1 - ε/(2σ²)) on N(0, σ²)); cheap, and the
    usual choice for short-run chains in image space, where ``grad_clip`` and ``clamp`` help.
    Reference: Roberts & Tweedie (1996), "Exponential convergence of Langevin distributions and
    their discrete approximations", Bernoulli 2(4).

    Args:
        step_size: ε > 0.
        grad_clip: if set, each chain's score is rescaled to norm <= grad_clip before the step.
        clamp: optional ``(low, high)``; states are clamped into the box after each step.
        warmup_steps: burn-in steps run before statistics are recorded.
        thin: keep every ``thin``-th state in ``result.trajectory`` (None: keep none).
        record_energies: store ``(n_steps, batch)`` energies (costs one energy evaluation a step).
        compile: ``"auto"`` (default), True or False. True fuses each step with ``torch.compile``
            (fullgraph, static shapes): the same kernel and accept rule as ``compile=False``. On a
            CPU without AVX-512 the fused step reads noise (and MALA's uniform) drawn by
            ``generator``, the eager path's numbers; elsewhere it draws them from
            `samplers.counter_rng` keys taken from ``generator``, different random numbers. The first fused ``run`` per energy
            and batch shape pays the compilation (seconds to tens of seconds on a CPU; less with
            inductor's on-disk cache warm), later runs reuse it. True raises RuntimeError (with
            the fix) if the step cannot be compiled. "auto" fuses once this sampler's work on the
            energy and shape, ``chains × event size × steps`` summed over runs, reaches the
            break-even ``samplers.compilation.AUTO_THRESHOLDS["gradient"]`` (5·10⁸: e.g. one run of
            100,000 2-D chains × 2,500 steps, or 25 of 100 steps), so tiny teaching runs stay
            eager; it runs eagerly, warning once, where compiling is unavailable or fails.

    Example:
        >>> r = ULA(0.05).run(lambda x: 0.5 * (x ** 2).sum(-1), torch.zeros(100, 2), 200)
        >>> r.x.shape
        torch.Size([100, 2])
    """

    metropolis = False
    needs_energy = False
    divergence_fix = "lower step_size, or pass grad_clip= / clamp= for short-run chains"

    def __init__(self, step_size: float, *, grad_clip: float | None = None, clamp: tuple[float, float] | None = None, warmup_steps: int = 0, thin: int | None = None, record_energies: bool = False, compile: bool | str = "auto"):
        super().__init__(step_size, warmup_steps=warmup_steps, thin=thin, record_energies=record_energies, compile=compile)
        self.grad_clip = None if grad_clip is None else check_positive("grad_clip", grad_clip)
        if clamp is not None and (len(clamp) != 2 or not clamp[0] < clamp[1]):
            raise ValueError(format_error("clamp", "a pair (low, high) with low < high", repr(clamp), "pass e.g. clamp=(-1.0, 1.0)"))
        self.clamp = clamp

    def _score_fn(self, energy):
        # ULA never needs the energy inside the loop; use an analytic score alone when there is one.
        if hasattr(energy, "score"):
            return lambda x: (None, energy.score(x))
        return energy_and_score_fn(energy, traceable=self._fused)

    def _init_state(self, fn, x):
        e, s = fn(x)
        if e is not None:
            check_energy_output(e, s, x)
        elif s.shape != x.shape:
            check_energy_output(torch.zeros(x.shape[0]), s, x)
        st = ChainState(x.clone(), e, s)
        if self.grad_clip is not None:
            _clip_(st.score, self.grad_clip)
        return st

    def _step(self, fn, st, eps, sqrt2eps, noise, threshold, partial):
        x = _axpy_(_axpy_(st.x, eps, st.score), sqrt2eps, noise)
        if self.clamp is not None:
            x.clamp_(*self.clamp)
        e, s = fn(x)
        if self.grad_clip is not None:
            _clip_(s, self.grad_clip)
        if e is not None:
            st.energy = e
        st.score = s


class MALA(GradientSampler):
    """Metropolis-adjusted Langevin: the ULA step as a proposal plus a Metropolis-Hastings test.

    Proposal ``y = x + ε s(x) + √(2ε) ξ`` with score ``s = -∇E``; accept with probability

        α = min(1, exp(E(x) - E(y) + |ξ|²/2 - |x - y - ε s(y)|²/(4ε))).

    With ``adapt_step_size=True`` the step size is tuned during ``warmup_steps`` by dual averaging
    toward ``target_acceptance`` (default 0.574, Roberts & Rosenthal 1998) and then frozen, so the
    post-warm-up chain is an exact MCMC kernel. ``adaptation="shared"`` (the default) adapts one ε
    for all chains on their mean acceptance probability; ``"per_chain"`` gives each chain its own ε
    from its own acceptance alone, which is noisier (on a three-hump camel one chain stayed stuck
    for ~470 steps at a step size driven down early).
    References: Roberts & Tweedie (1996), Bernoulli 2(4); Hoffman & Gelman (2014),
    arXiv:1111.4246 (dual averaging).

    A proposal whose log acceptance ratio is below ``-1000`` (or NaN) is rejected like any other
    and counted in ``result.extras["divergent_transitions"]`` (Stan's threshold, Betancourt 2017,
    arXiv:1701.02434); only a chain whose state or energy turns non-finite has *diverged*.

    Args:
        step_size: ε > 0 (initial value when adapting).
        warmup_steps: steps run before sampling (adaptation happens here only).
        adapt_step_size: dual averaging during warm-up (needs ``warmup_steps > 0``).
        adaptation: ``"shared"`` (one ε for every chain) or ``"per_chain"``.
        target_acceptance: acceptance probability aimed at while adapting.
        thin, record_energies, compile: see ULA (compiled MALA keeps the same accept rule).

    Returns (from ``run``): SamplerResult with ``acceptance_rate`` (batch,), ``step_size``
    (``(batch,)`` when adapted; all equal when shared) and ``extras["divergent_transitions"]``
    ``(batch,)``. Warns `SamplerWarning` when chains freeze (acceptance < 1%).

    Example:
        >>> r = MALA(0.5, warmup_steps=100, adapt_step_size=True).run(
        ...     lambda x: 0.5 * (x ** 2).sum(-1), torch.zeros(100, 2), 500)
        >>> r.acceptance_rate.shape
        torch.Size([100])
    """

    def _step(self, fn, st, eps, sqrt2eps, noise, threshold, partial):
        x = st.x
        y = _axpy_(axpy(x, eps, st.score), sqrt2eps, noise)  # (batch, *event)
        ey, sy = fn(y)
        r = _axpy_(x - y, -eps if not isinstance(eps, torch.Tensor) else eps.neg(), sy)  # x - y - ε s(y)
        r_sq = torch.linalg.vecdot(r.flatten(1), r.flatten(1)) if r.dim() > 1 else r.square()  # (batch,)
        # partial = log α - ½|ξ|² = E(x) - E(y) - |x - y - ε s(y)|² / (4ε)
        torch.sub(st.energy, ey, out=partial)
        if isinstance(eps, torch.Tensor):
            partial.sub_(r_sq / (4 * eps.flatten()))
        else:
            partial.sub_(r_sq, alpha=1.0 / (4 * eps))
        accept = threshold < partial
        mask = accept.view((-1,) + (1,) * (x.dim() - 1))
        st.x = torch.where(mask, y, x)
        st.energy = torch.where(accept, ey, st.energy)
        st.score = torch.where(mask, sy, st.score)


class AnnealedLangevin:

    """Annealed Langevin dynamics over a decreasing noise schedule σ_1 > ... > σ_L.

    At level i run ``n_steps`` ULA steps on the energy ``E(x, σ_i)`` with step size
    ``ε_i = step_size · (σ_i / σ_L)²`` (the schedule of Song & Ermon 2019, arXiv:1907.05600,
    written in our ULA convention ``x' = x - ε_i ∇E + √(2ε_i) ξ``). With ``denoise=True`` a final
    Tweedie step ``x + σ_L² s(x, σ_L)`` removes the last level's noise.

    The ``energy`` given to ``run`` may be either
      * a callable ``energy(x, sigma) -> (batch,)`` (a noise-conditional energy; ``sigma`` is a
        Python float), optionally with ``score(x, sigma)``; or
      * a sequence of ``len(sigmas)`` energies, one per level, each ``(batch, *event) -> (batch,)``.

    Args:
        sigmas: decreasing positive noise levels, length L.
        step_size: ε > 0 at the last (smallest) level.
        grad_clip, clamp: as in ULA.
        denoise: apply the final Tweedie denoising step.
        compile: passed to each level's ULA (default "auto": a level is fused when its work,
            ``chains × event size × n_steps``, reaches the break-even; see ULA).

    Example:
        >>> sig = [1.0, 0.5, 0.1]
        >>> E = lambda x, s: 0.5 * (x ** 2).sum(-1) / (1 + s ** 2)
        >>> AnnealedLangevin(sig, 0.01).run(E, torch.randn(64, 2), 50).x.shape
        torch.Size([64, 2])
    """

    _fix = "lower step_size (it is scaled up by (sigma_i / sigma_L)^2 at the higher levels), or pass grad_clip= / clamp="

    def __init__(self, sigmas: Sequence[float], step_size: float, *, grad_clip: float | None = None, clamp=None, denoise: bool = False, compile: bool | str = "auto"):
        sig = [check_positive(f"sigmas[{i}]", s) for i, s in enumerate(sigmas)]
        if not sig or any(a < b for a, b in zip(sig, sig[1:])):
            raise ValueError(format_error("sigmas", "a non-empty non-increasing sequence of noise levels", repr(list(sigmas)), "sort them from largest to smallest"))
        self.sigmas = sig
        self.step_size = check_positive("step_size", step_size)
        self._ula_kw = dict(grad_clip=grad_clip, clamp=clamp, compile=compile)
        ULA(self.step_size, **self._ula_kw)  # validates grad_clip / clamp once
        self.denoise = bool(denoise)

    def _level_energy(self, energy, i: int):
        if isinstance(energy, (Sequence, torch.nn.ModuleList)):
            return energy[i]
        sigma = self.sigmas[i]
        if hasattr(energy, "score"):
            class _AtSigma:  # exposes score so ULA skips autograd
                def __call__(self, x):
                    return energy(x, sigma)

                def score(self, x):
                    return energy.score(x, sigma)

            return _AtSigma()
        return lambda x: energy(x, sigma)

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Run ``n_steps`` ULA steps at every noise level (L · n_steps steps in all).

        Args:
            energy: ``energy(x, sigma)`` or a sequence of per-level energies (see class docstring).
            x0: ``(batch, *event)`` initial states, typically broad noise.
            n_steps: steps per noise level.
            generator: torch.Generator or None.

        Returns:
            SamplerResult with ``x`` ``(batch, *event)`` and ``energy`` at the last level.
        """
        x = validate_x0(x0)
        check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x.device)
        if isinstance(energy, (Sequence, torch.nn.ModuleList)):
            if len(energy) != len(self.sigmas):
                raise ValueError(format_error("energy", f"{len(self.sigmas)} energies, one per sigma", f"{len(energy)}", "pass one energy per noise level or a callable energy(x, sigma)"))
            for level in energy:
                check_x0_against_energy(x, level)
        else:
            check_noise_conditional("energy", energy)
            check_x0_against_energy(x, energy)
        result = None
        runaway = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        last = self.sigmas[-1]
        for i, sigma in enumerate(self.sigmas):
            eps = self.step_size * (sigma / last) ** 2
            result, away = ULA(eps, **self._ula_kw)._run(self._level_energy(energy, i), x, n_steps, generator)
            runaway |= away
            if bool(result.diverged.any()):  # one read per level: the next level cannot start from NaN
                raise SamplerDivergedError(diverged_message(result.diverged, f"AnnealedLangevin (level {i}, sigma={sigma:g})", self._fix), result)
            x = result.x
        if self.denoise:
            lvl = self._level_energy(energy, len(self.sigmas) - 1)
            with torch.no_grad(), trusted_inputs():
                e, s = energy_and_score_fn(lvl)(x)
                x = x + last**2 * s
                result.x, result.energy = x, lvl(x)
        finite_x = torch.isfinite(x).flatten(1).all(1) if x.dim() > 1 else torch.isfinite(x)
        result.diverged = ~torch.isfinite(result.energy) | ~finite_x
        finish_run(result, "AnnealedLangevin", self._fix, runaway=runaway, n_steps=n_steps, frozen_fix="")
        result.step_size = self.step_size
        return result
