"""The one sampling loop shared by ULA, MALA and HMC: cached state, chunked noise, adaptation.

A gradient-based kernel only says how to make *one* step from a cached state
``(x, energy, score)`` given pre-drawn Gaussian noise and a pre-drawn ``log u``; this module owns
everything else (validation, warm-up with dual-averaging step-size adaptation, thinning, energy
recording, acceptance statistics and divergence reporting), so the samplers do not each grow a loop
(house rule 7).

Why the loop looks the way it does:

* **No per-step host synchronisation.** Nothing inside the loop calls ``.item()`` or branches on a
  tensor value; acceptance and divergent-transition counts are accumulated on the device and read once at the
  end. Energies are called inside ``trusted_inputs()`` so ``ebm.Energy`` skips its finiteness check.
* **Noise is drawn in chunks** (one ``randn`` for many steps), which on a CPU removes most of the
  per-call overhead at small batch sizes and on a GPU keeps the launch queue full.
* **One energy evaluation per proposal.** The state caches the energy and score of the current
  position; a rejected proposal costs nothing more and an accepted one swaps the cache.
* **Kernel fusion** (``compile=True``, or the default ``compile="auto"`` once the work repays the
  compilation: see `samplers.compilation.AutoCompile`): the kernel's one-step update (energy, score,
  proposal, accept test) is wrapped as a pure function of ``(x, energy, score, eps, key)`` and
  compiled once with ``torch.compile(fullgraph=True, dynamic=False)``. The step draws its noise and
  its Metropolis uniform itself, from a counter-based generator keyed from the caller's generator
  (`samplers.counter_rng`), so the draws are computed inside the fused loop instead of by a
  separate single-threaded pass that writes them to memory (on a CPU at 100,000 2-D chains, drawing
  the noise with ``torch.randn`` cost more than the whole fused step). Same kernels and accept rule
  as the eager loop, different random numbers. The first call pays the compilation (seconds to
  tens of seconds on a CPU). On a CPU without AVX-512 the in-kernel generators are slower than
  drawing outside, so there the step reads float32 noise drawn in chunks by the C Philox generator
  of `samplers.native_normal` (keyed from the caller's generator), or by ``torch.randn`` where that
  cannot be built (and for float64).
"""

from __future__ import annotations

import contextlib
import math
import types
from dataclasses import dataclass

import torch

from . import native_normal
from .compilation import AutoCompile, compile_step, fused_steps_read_noise, steps_per_call
from .counter_rng import CounterRNG
from ._report import (  # re-exported: the samplers import their result types from here
    MAX_ENERGY_ERROR, SamplerDivergedError, SamplerResult, SamplerWarning, _count_dtype, chain_health, diverged_message, divergent_transitions, finish_run,
)
from .validation import check_callable_energy, check_choice, check_energy_output, check_generator, check_int, check_positive, check_tensor, energy_reference_tensor, format_error, trusted_inputs  # noqa: F401  (check_energy_output re-exported for gibbs/langevin)

__all__ = [
    "SamplerResult", "SamplerDivergedError", "SamplerWarning", "ChainState", "energy_and_score_fn", "GradientSampler",
    "MAX_ENERGY_ERROR", "divergent_transitions", "check_x0_against_energy", "chain_health", "finish_run",
]

# Pre-draw at most this many noise entries at once (1 MiB of float32): big enough to amortise the
# call overhead at small batch, small enough that the chunk stays in cache at large batch.
_NOISE_BUDGET = 1 << 18
# Counter keys (16 bytes a step) are drawn this many steps at a time (1 MiB).
_KEY_CHUNK = 1 << 16
# Compiled samplers unroll several steps into one call at small batch only
# (`samplers.compilation.steps_per_call`)...
# ...except an unadjusted (ULA) step drawing its own noise from counter keys on an energy object
# (one with a score method): its call is short enough at any batch that the call's fixed cost
# (guards, wrappers, the Python loop) shows, so it unrolls at least this many (100,000 2-D chains
# under AVX-512, process time under load: Gaussian +14-17%, banana +9%, an MLP energy +10%). A bare
# function energy, differentiated by the sampler, steps once per call: unrolled, the benchmark's
# 2-D Gaussian callable was 21% slower (its broadcast over the 2-wide event axis pulled the next
# step's work into inductor's masked 2-lane loop). Fed pre-drawn noise no step unrolls at that
# size (4 steps of noise fall out of cache: 17% slower under AVX2).
_MIN_UNROLL_SELF_DRAWN = 4


def check_x0_against_energy(x0: torch.Tensor, energy, name: str = "x0") -> torch.Tensor:
    """Check ``x0`` ``(batch, *event)`` against the energy once, before any step.

    * ``energy.event_shape`` (duck-typed: any object with that attribute, e.g. an ``ebm.Energy``):
      ``x0.shape[1:]`` must equal it.
    * an ``nn.Module`` energy with floating parameters (or buffers): x0 must have their dtype and
      device (the result follows x0, so a silent cast would change the dtype the user asked for).

    Raises:
        ValueError: wrong event shape, or x0 on another device than the energy's parameters.
        TypeError: x0's dtype differs from the energy's parameters.
    """
    check_callable_energy("energy", energy)
    event = getattr(energy, "event_shape", None)
    if event is not None:
        try:
            event = tuple(int(d) for d in event)
        except TypeError:
            event = None
    if event is not None and tuple(x0.shape[1:]) != event:
        k = len(event)
        ev = "(" + ", ".join(map(str, event)) + ("," if k == 1 else "") + ")"
        if x0.dim() == k and tuple(x0.shape) == event:
            fix = f"add the batch dimension: {name}.unsqueeze(0)"
        elif x0.dim() > k + 1 and tuple(x0.shape[x0.dim() - k :]) == event:
            fix = f"flatten the batch dimensions: {name}.reshape(-1, *energy.event_shape)"
        else:
            fix = f"start from states of the energy's event shape, e.g. {name} = torch.zeros(batch, *energy.event_shape)"
        raise ValueError(format_error(name, f"shape (batch, *{ev}) matching energy.event_shape {ev}", f"shape {tuple(x0.shape)}", fix))
    ref = energy_reference_tensor(energy)
    if ref is not None:
        if ref.dtype != x0.dtype:
            raise TypeError(format_error(name, f"dtype {ref.dtype} (the dtype of the energy's parameters)", f"dtype {x0.dtype}",
                                         f"pass {name}.to({ref.dtype}), or convert the energy with energy.to({x0.dtype})"))
        if ref.device != x0.device:
            raise ValueError(format_error(name, f"a tensor on {ref.device} (where the energy's parameters live)", f"a tensor on {x0.device}",
                                          f"pass {name}.to({str(ref.device)!r}), or move the energy with energy.to({str(x0.device)!r})"))
    return x0


@dataclass
class ChainState:
    """Cached state of a batch of chains: position ``(batch, *event)``, energy and score."""

    x: torch.Tensor
    energy: torch.Tensor
    score: torch.Tensor | None


def energy_and_score_fn(energy, *, traceable: bool = False):
    """Return ``f(x) -> (E (batch,), score (batch, *event))`` with score ``= -∇x E``.

    Preference order: ``energy.energy_and_score(x)`` (one pass, e.g. ``ebm.Energy``), then
    ``energy(x)`` with ``energy.score(x)``, then autograd of ``energy(x).sum()``. ``traceable=True``
    (compiled samplers) differentiates with ``torch.func.grad`` and keeps no Python-side cache (the
    eager path caches its ``-1`` autograd seed per shape; a compiled graph would guard on that
    cache and recompile whenever it grows).
    """
    if hasattr(energy, "energy_and_score"):
        return energy.energy_and_score
    if hasattr(energy, "score"):
        return lambda x: (energy(x), energy.score(x))

    if traceable:
        # Compiled steps differentiate functionally: torch.func.grad traces under dynamo on every
        # torch this project supports, while ``requires_grad_()`` inside a compiled region is a
        # graph break that torch < 2.13 refuses under fullgraph (seen with 2.11 on a GPU machine).
        def minus_total_energy(x):
            e = energy(x)
            return -e.sum(), e

        score_and_energy = torch.func.grad(minus_total_energy, has_aux=True)

        def functional_energy_and_score(x):
            with torch.enable_grad():
                s, e = score_and_energy(x)
            return e.detach(), s

        return functional_energy_and_score

    minus_ones = {}

    def autograd_energy_and_score(x):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            e = energy(xg)
            if isinstance(e, torch.Tensor) and not e.requires_grad:
                raise ValueError(format_error("energy", "energies computed from x with differentiable torch operations (the score is taken by autograd)",
                                              "an output with no gradient with respect to x", "build the energy from x with torch operations, or give it a score(x) method"))
            # Back-propagating -1 per chain yields the score directly: no sum node, no negation.
            key = (e.shape, e.dtype, e.device)
            if key not in minus_ones:
                minus_ones[key] = torch.full(e.shape, -1.0, dtype=e.dtype, device=e.device)
            (s,) = torch.autograd.grad(e, xg, grad_outputs=minus_ones[key])
        return e.detach(), s

    return autograd_energy_and_score


def _half_square_norm(noise: torch.Tensor, first_event_dim: int = 1) -> torch.Tensor:
    """``½|ξ|²`` over the event dimensions (those from ``first_event_dim`` on)."""
    if noise.dim() <= first_event_dim:
        return noise.square().mul(0.5)
    return noise.square().sum(dim=tuple(range(first_event_dim, noise.dim()))).mul_(0.5)


def axpy(x: torch.Tensor, a, y: torch.Tensor) -> torch.Tensor:
    """``x + a * y`` in one kernel for a float ``a`` or a broadcastable tensor ``a``."""
    if isinstance(a, torch.Tensor):
        return torch.addcmul(x, a, y)
    return torch.add(x, y, alpha=a)


def validate_x0(x0, name: str = "x0") -> torch.Tensor:
    """x0 must be a finite, floating, non-empty ``(batch, *event)`` tensor."""
    return check_tensor(name, x0, min_ndim=1, floating=True, finite=True, nonempty=True)


def _tracing_autograd(enabled: bool):
    """Let dynamo trace ``torch.autograd.grad`` (autograd energies) while a compiled sampler runs."""
    config = torch._dynamo.config if enabled else None
    if config is None or not hasattr(config, "trace_autograd_ops"):
        return contextlib.nullcontext()
    return config.patch(trace_autograd_ops=True)


class GradientSampler:
    """Base class: owns ``run``; subclasses implement ``_step`` (and may set ``metropolis``).

    Subclass hooks:
        metropolis: whether ``_step`` has an accept/reject (enables adaptation and acceptance stats).
        needs_energy: whether ``_step`` needs the cached energy (ULA does not, unless recording).
        _step(fn, state, eps, sqrt2eps, noise, threshold, partial_out): update ``state`` in place.
            Metropolis kernels write ``partial = log α - ½|ξ|²`` into ``partial_out`` (batch,) and
            accept where ``threshold < partial``.

    ``compile=True`` (all gradient samplers) runs the same ``_step`` through ``torch.compile``; see
    ``_step_fn``; ``compile="auto"`` (the default) does so once the sampler's accumulated work on
    an energy and shape, ``chains × event size × (warm-up + steps)``, reaches
    ``samplers.compilation.AUTO_THRESHOLDS["gradient"]``, and otherwise runs eagerly. A kernel only
    needs to be traceable (no ``.item()``, no data-dependent branches).
    """

    metropolis = True
    needs_energy = True
    target_acceptance = 0.574
    divergence_fix = "lower step_size (or enable adapt_step_size with warmup_steps > 0)"

    def __init__(self, step_size: float, *, warmup_steps: int = 0, adapt_step_size: bool = False, adaptation: str = "shared", target_acceptance: float | None = None, thin: int | None = None, record_energies: bool = False, compile: bool | str = "auto"):
        self._auto = AutoCompile(compile, "gradient", type(self).__name__)
        self.compile = self._auto.option
        self._fused = self.compile is True  # this run's decision (set by run)
        self._own_score = False  # the energy has a score method (set by run)
        self._compiled = None  # (energy, fn, compiled step) of the last run, reused by later runs
        self.step_size = check_positive("step_size", step_size, fix="pass a small positive step size, e.g. 1e-2")
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        if adapt_step_size and not self.metropolis:
            raise ValueError(format_error("adapt_step_size", "False for a sampler without an accept step", "True", "use MALA or HMC to adapt the step size"))
        self.adapt_step_size = bool(adapt_step_size)
        self.adaptation = check_choice("adaptation", adaptation, ("shared", "per_chain"))
        if self.adapt_step_size and self.warmup_steps == 0:
            raise ValueError(format_error("adapt_step_size", "warmup_steps > 0 (the step size adapts during warm-up only)", "warmup_steps=0",
                                          "pass e.g. warmup_steps=200, or adapt_step_size=False"))
        if target_acceptance is not None:
            from .validation import check_probability

            self.target_acceptance = check_probability("target_acceptance", target_acceptance)
        self.thin = None if thin is None else check_int("thin", thin, minimum=1)
        self.record_energies = bool(record_energies)

    # -- the loop -------------------------------------------------------------------------
    def _energy_fn(self, energy):
        return energy_and_score_fn(energy, traceable=self._fused)

    def _init_state(self, fn, x: torch.Tensor) -> ChainState:
        e, s = fn(x)
        check_energy_output(e, s, x)
        return ChainState(x.clone(), e, s)

    def _step_fn(self, energy, fn, x: torch.Tensor):
        """Return ``step(state, eps, sqrt2eps, draws, j, m, n_accept, n_divergent, want_log_alpha)``.

        ``draws`` is what `_draw_chunk` made for the current chunk; the call makes steps ``j`` to
        ``j + m - 1`` of it (``m > 1`` only when compiled: the steps are unrolled into one graph).
        The step updates ``state`` in place; a Metropolis step returns ``log α`` (for adaptation)
        when ``want_log_alpha``. Eager: ``self._step`` on pre-drawn noise; acceptance is tallied
        per chunk by `_tally`. Compiled: ``self._step`` wrapped as a pure function of tensors that
        forms the Metropolis threshold itself and adds to ``n_accept`` / ``n_divergent`` in place,
        fed the generator's noise and log-uniforms on a CPU or drawing its own from a counter key
        (`samplers.counter_rng`) elsewhere, so the noise never exists in memory there (see
        `_predrawn_noise`). Compiled once per (sampler, energy, noise source), reused by later runs.
        """
        metropolis = self.metropolis
        if not self._fused:
            def eager_step(st, eps, sqrt2eps, d, j, m, n_accept, n_divergent, want_log_alpha):
                if not metropolis:
                    self._step(fn, st, eps, sqrt2eps, d.noise[j], None, None)
                    return None
                self._step(fn, st, eps, sqrt2eps, d.noise[j], d.threshold[j], d.partial[j])
                return d.partial[j] + d.half_sq[j] if want_log_alpha else None

            return eager_step
        predrawn = self._predrawn_noise(x.device)
        if self._compiled is None or self._compiled[0] is not energy or self._compiled[3] != predrawn:
            kernel = self._step

            def pure_step(x, e, s, eps, sqrt2eps, noise, log_u, n_accept, n_divergent):
                # The clone is free once compiled and keeps in-place kernels (ULA) from mutating a
                # graph input, which would cost an extra copy back into x every step.
                st = ChainState(x.clone(), e, s)
                if not metropolis:
                    kernel(fn, st, eps, sqrt2eps, noise, None, None)
                    return st.x, st.energy, st.score, None
                half_sq = _half_square_norm(noise)  # (batch,)
                threshold = log_u - half_sq  # (batch,)
                partial = torch.empty_like(threshold)
                kernel(fn, st, eps, sqrt2eps, noise, threshold, partial)
                n_accept.add_(threshold < partial)
                log_alpha = partial + half_sq  # (batch,)
                n_divergent.add_(divergent_transitions(log_alpha))
                return st.x, st.energy, st.score, log_alpha

            def predrawn_steps(x, e, s, eps, sqrt2eps, noise, log_u, n_accept, n_divergent):
                # noise (m, batch, *event), log_u (m, batch) or None: m steps unrolled into one graph.
                log_alpha = None
                for i in range(noise.shape[0]):
                    x, e, s, log_alpha = pure_step(x, e, s, eps, sqrt2eps, noise[i], None if log_u is None else log_u[i], n_accept, n_divergent)
                return x, e, s, log_alpha

            def keyed_steps(x, e, s, eps, sqrt2eps, keys, n_accept, n_divergent):
                # keys (m, 2): m steps unrolled into one graph (one Python call, one guard check).
                log_alpha = None
                for i in range(keys.shape[0]):
                    rng = CounterRNG(keys[i])
                    noise = rng.normal(x.shape, dtype=x.dtype)  # (batch, *event)
                    log_u = torch.log(rng.uniform((x.shape[0],), dtype=x.dtype)) if metropolis else None  # (batch,)
                    x, e, s, log_alpha = pure_step(x, e, s, eps, sqrt2eps, noise, log_u, n_accept, n_divergent)
                return x, e, s, log_alpha

            on_failure = self._auto.disable if self.compile == "auto" else None
            # A Metropolis step reduces over each chain's coordinates (|ξ|², |x - y - ε s(y)|², the
            # energy), which inductor reads with strided loads; its tiling heuristic then leaves the
            # whole accept kernel scalar. Vectorised anyway (strided loads as gathers), compiled MALA
            # on 100,000 2-D Gaussian chains ran 10-15% faster under AVX2 and AVX-512 alike.
            options = {"cpp.enable_tiling_heuristics": False} if metropolis else None
            self._compiled = (energy, fn, compile_step(predrawn_steps if predrawn else keyed_steps, options=options, on_failure=on_failure), predrawn)
        compiled = self._compiled[2]

        if predrawn:
            def step(st, eps, sqrt2eps, d, j, m, n_accept, n_divergent, want_log_alpha):
                log_u = None if d.log_u is None else d.log_u[j : j + m]
                st.x, st.energy, st.score, log_alpha = compiled(st.x, st.energy, st.score, eps, sqrt2eps, d.noise[j : j + m], log_u, n_accept, n_divergent)
                return log_alpha
        else:
            def step(st, eps, sqrt2eps, keys, j, m, n_accept, n_divergent, want_log_alpha):
                st.x, st.energy, st.score, log_alpha = compiled(st.x, st.energy, st.score, eps, sqrt2eps, keys[j : j + m], n_accept, n_divergent)
                return log_alpha

        return step

    # Where the fused step gets its noise. On a CPU without AVX-512 the counter-based generator is
    # Threefry (32-bit lanes) + Box-Muller inside the kernel, 185 M float32 normals/s on one core of
    # the development machine under AVX2, while torch's own generator (MT19937 and a vectorised
    # Box-Muller) drew 432 M/s there: fed torch.randn noise drawn in chunks by the run's generator
    # (the eager loop's draws, in its order), compiled ULA / MALA on 100,000 2-D chains ran at
    # 86 / 47 M chain-steps/s against 83 / 40 drawing their own. Under AVX-512 the counter-based
    # SplitMix64 stays in the kernel (92 / 41 against 81 / 37 fed torch.randn, same run), and so
    # does every GPU (no noise in memory). Session 8: where it builds (x86 with AVX2 and a C
    # compiler), float32 noise for the fused step comes from `samplers.native_normal` — Philox in
    # AVX2 lanes, 800 M normals/s against torch.randn's 436 M on the same core — keyed from the run's
    # generator (so, as under AVX-512, not the eager loop's numbers). Tests force a source with
    # `_noise_source`.
    _noise_source: str | None = None  # None: per device as above; "counter", "generator" or "native"

    def _predrawn_noise(self, device: torch.device) -> bool:
        if self._noise_source is not None:
            return self._noise_source in ("generator", "native")
        return fused_steps_read_noise(device)

    def _native_noise(self, x: torch.Tensor) -> bool:
        """Whether a fused step's pre-drawn noise comes from `samplers.native_normal` (float32 on a CPU where it builds)."""
        if self._noise_source not in (None, "native") or x.dtype != torch.float32 or x.device.type != "cpu":
            return False
        return native_normal.available()

    def _draw_chunk(self, c: int, x: torch.Tensor, generator):
        """Randomness for ``c`` steps: noise drawn by ``generator`` (eager; compiled on a CPU without
        AVX-512, through `samplers.native_normal` where it builds) or ``(c, 2)`` counter keys
        (compiled elsewhere; see `_predrawn_noise`).

        Metropolis kernels accept when ``log u < log α``. With ``log α = partial + ½|ξ|²`` (the
        ``½|ξ|²`` is the forward-proposal / initial-kinetic term that MALA and HMC share) the eager
        loop pre-computes ``threshold = log u - ½|ξ|²`` for the chunk and the kernel only computes
        ``partial`` into a chunk buffer.
        """
        if self._fused and not self._predrawn_noise(x.device):
            return CounterRNG.new_keys(c, generator, x.device)
        if self._fused and self._native_noise(x):
            noise = native_normal.normal((c, *x.shape), generator=generator)  # (c, batch, *event)
        else:
            noise = torch.randn((c, *x.shape), generator=generator, dtype=x.dtype, device=x.device)  # (c, batch, *event)
        if not self.metropolis:
            return types.SimpleNamespace(noise=noise, log_u=None)
        if self._fused:  # the fused step forms ½|ξ|² and the threshold itself
            return types.SimpleNamespace(noise=noise, log_u=torch.rand((c, x.shape[0]), generator=generator, dtype=x.dtype, device=x.device).log_())
        half_sq = _half_square_norm(noise, first_event_dim=2)  # (c, batch)
        threshold = torch.rand((c, x.shape[0]), generator=generator, dtype=x.dtype, device=x.device).log_().sub_(half_sq)  # (c, batch)
        partial = torch.empty((c, x.shape[0]), dtype=x.dtype, device=x.device)  # (c, batch)
        return types.SimpleNamespace(noise=noise, half_sq=half_sq, threshold=threshold, partial=partial)

    def _advance(self, step_fn, state: ChainState, n_steps: int, eps, generator, *, adapt=None, n_accept=None, n_divergent=None, traj=None, energies=None, thin=None):
        """Run ``n_steps`` steps in place on ``state``; accumulate statistics on the device.

        ``n_accept`` (batch,) and ``n_divergent`` (batch,) int64 (proposals whose energy error
        exceeded `MAX_ENERGY_ERROR`, see `divergent_transitions`) are added to in place when
        given. Eager kernels tally them once per chunk, not once per step; compiled ones inside
        the step.
        """
        x = state.x
        batch = x.shape[0]
        if self._fused and not self._predrawn_noise(x.device):
            chunk = min(n_steps, _KEY_CHUNK)  # counter keys are two integers a step: draw many at once
        else:
            chunk = max(1, min(n_steps, _NOISE_BUDGET // max(1, x.numel())))
        sqrt2eps = eps.mul(2).sqrt_() if isinstance(eps, torch.Tensor) else math.sqrt(2 * eps)
        if self._fused and self.metropolis and n_accept is None:  # warm-up: the step still tallies
            n_accept = torch.zeros(batch, dtype=_count_dtype(x.dtype), device=x.device)
            n_divergent = torch.zeros(batch, dtype=torch.long, device=x.device)
        # A compiled step that needs nothing between steps unrolls several per call: at small batch
        # the Python call and guard check cost about as much as the fused step itself.
        per_call = 1
        if self._fused and adapt is None and traj is None and energies is None:
            per_call = steps_per_call(x.numel())
            if not self.metropolis and self._own_score and not self._predrawn_noise(x.device):
                per_call = max(per_call, _MIN_UNROLL_SELF_DRAWN)
        t = 0
        while t < n_steps:
            c = min(chunk, n_steps - t)
            draws = self._draw_chunk(c, x, generator)
            j = 0
            while j < c:
                m = per_call if c - j >= per_call else 1  # two graph shapes at most: per_call and 1
                if adapt is not None:
                    eps = adapt.eps
                    sqrt2eps = adapt.sqrt2eps
                log_alpha = step_fn(state, eps, sqrt2eps, draws, j, m, n_accept, n_divergent, adapt is not None)
                if adapt is not None:
                    adapt.update(log_alpha)
                j += m
                step = t + j
                if traj is not None and step % thin == 0:
                    traj[step // thin - 1].copy_(state.x)
                if energies is not None:
                    energies[step - 1].copy_(state.energy)
            if self.metropolis and not self._fused and n_accept is not None:
                n_accept.add_((draws.threshold < draws.partial).sum(0))
                if n_divergent is not None:
                    n_divergent.add_(divergent_transitions(draws.partial + draws.half_sq).sum(0))  # log α = partial + ½|ξ|²
            t += c
        return eps

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Run ``warmup_steps`` (adapting if asked) then ``n_steps`` steps from ``x0``.

        Args:
            energy: callable ``(batch, *event) -> (batch,)``; its ``energy_and_score`` or ``score``
                method is used when present, else autograd. An ``event_shape`` attribute and, for an
                ``nn.Module``, the dtype and device of its floating parameters are checked against x0.
            x0: ``(batch, *event)`` finite floating initial states; the result has x0's device and
                dtype (float16 and bfloat16 included).
            n_steps: number of post-warm-up steps (>= 1).
            generator: torch.Generator on x0's device, or None for the global generator.

        Returns:
            SamplerResult; for Metropolis samplers ``extras["divergent_transitions"]`` (batch,)
            int64 counts post-warm-up proposals whose energy error exceeded `MAX_ENERGY_ERROR`.

        Raises:
            ValueError/TypeError: bad x0 (shape, dtype or device against the energy), n_steps,
                generator or energy output.
            SamplerDivergedError: some chains' state or current energy became non-finite (lists
                them; lower step_size).

        Warns:
            SamplerWarning: chains frozen (acceptance < 1% over >= 20 steps) or running away
                (see `chain_health`), once per run, naming the chains and the fix.
        """
        result, runaway = self._run(energy, x0, n_steps, generator)
        finish_run(result, type(self).__name__, self.divergence_fix, runaway=runaway, n_steps=n_steps, frozen_fix=self._frozen_fix())
        return result

    def _frozen_fix(self) -> str:
        if not self.adapt_step_size:
            return "lower step_size, or pass adapt_step_size=True with warmup_steps > 0"
        if self.adaptation == "shared":
            return ("start these chains closer to the bulk of the target (a shared step size fits the typical set, not steep tails), "
                    "use more warmup_steps, or adaptation='per_chain'")
        return "start these chains closer to the bulk of the target, or use more warmup_steps"

    def _run(self, energy, x0: torch.Tensor, n_steps: int, generator):
        """The run without the final report: ``(result, runaway (batch,) bool)``; no host sync."""
        x0 = validate_x0(x0)
        check_x0_against_energy(x0, energy)
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x0.device)
        batch = x0.shape[0]
        dev, dt = x0.device, x0.dtype
        self._fused = self._auto.fused((id(energy), tuple(x0.shape), dt, dev), x0.numel() * (self.warmup_steps + n_steps), dev)
        self._own_score = hasattr(energy, "score") or hasattr(energy, "energy_and_score")  # not a bare function
        with torch.no_grad(), trusted_inputs(), _tracing_autograd(self._fused):
            fn = self._energy_fn(energy) if (self.needs_energy or self.record_energies) else self._score_fn(energy)
            state = self._init_state(fn, x0)
            if state.energy is None:  # score-only ULA: the start energy once, for the checks
                e0 = energy(x0)
                check_energy_output(e0, None, x0)
            else:
                e0 = state.energy
            step_fn = self._step_fn(energy, fn, x0)
            eps = self.step_size
            if self.warmup_steps:
                adapt = None
                if self.adapt_step_size:
                    adapt = DualAveraging(eps, self.target_acceptance, batch, x0.dim(), dev, dt, shared=self.adaptation == "shared")
                self._advance(step_fn, state, self.warmup_steps, eps, generator, adapt=adapt)
                if adapt is not None:
                    eps = adapt.final()
            n_accept = torch.zeros(batch, dtype=_count_dtype(dt), device=dev) if self.metropolis else None
            n_divergent = torch.zeros(batch, dtype=torch.long, device=dev) if self.metropolis else None
            thin = self.thin
            traj = torch.empty((n_steps // thin, *x0.shape), dtype=dt, device=dev) if thin else None
            energies = torch.empty((n_steps, batch), dtype=dt, device=dev) if self.record_energies else None
            self._advance(step_fn, state, n_steps, eps, generator, n_accept=n_accept, n_divergent=n_divergent, traj=traj, energies=energies, thin=thin)
            if state.energy is None:  # score-only ULA: evaluate the final energy once
                state.energy = energy(state.x)
        finite_x = torch.isfinite(state.x).flatten(1).all(1) if state.x.dim() > 1 else torch.isfinite(state.x)
        # Only a chain whose *state* (or its current energy) is non-finite has diverged; a rejected
        # proposal with a huge or NaN energy error is ordinary MCMC and is counted in extras.
        diverged = ~torch.isfinite(state.energy) | ~finite_x
        if isinstance(eps, torch.Tensor):
            step_size = eps.flatten().expand(batch).clone() if eps.numel() == 1 else eps.flatten()
        else:
            step_size = eps
        result = SamplerResult(
            x=state.x,
            acceptance_rate=None if n_accept is None else (n_accept / n_steps).to(dt),
            energy=state.energy,
            trajectory=traj,
            energies=energies,
            step_size=step_size,
            diverged=diverged,
        )
        if n_divergent is not None:
            result.extras["divergent_transitions"] = n_divergent
        return result, chain_health(x0, e0, state.x, state.energy)


class DualAveraging:
    """Dual averaging of log step size toward a target acceptance probability: shared or per chain.

    Hoffman & Gelman (2014), "The No-U-Turn Sampler", JMLR 15, Algorithm 5 (arXiv:1111.4246):
    ``H_t = (1 - 1/(t+t0)) H_{t-1} + (δ - α_t)/(t+t0)``, ``log ε_t = μ - √t/γ · H_t``,
    ``log ε̄_t = t^-κ log ε_t + (1 - t^-κ) log ε̄_{t-1}`` with μ = log(10 ε0), γ = 0.05, t0 = 10,
    κ = 0.75. After warm-up the chain freezes ε = ε̄ so that sampling is exact.

    ``shared=True`` keeps one ε for all chains and feeds it the mean acceptance probability over
    chains (what Stan does per chain, applied to the whole batch: B chains give B times the
    signal per step). ``shared=False`` adapts one ε per chain from that chain's own α alone, which
    is noisy: a chain that starts in a region of high curvature can drive its ε down and stay
    stuck for hundreds of steps.
    """

    def __init__(self, eps0: float, target: float, batch: int, ndim: int, device, dtype, gamma=0.05, t0=10.0, kappa=0.75, *, shared: bool = False):
        self.mu = math.log(10 * eps0)
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.shared = bool(shared)
        n = 1 if self.shared else batch
        self.shape = (n,) + (1,) * (ndim - 1)
        self.h = torch.zeros(n, dtype=dtype, device=device)
        self.log_eps_bar = torch.full((n,), math.log(eps0), dtype=dtype, device=device)
        self.t = 0
        self._set(torch.full((n,), math.log(eps0), dtype=dtype, device=device))

    def _set(self, log_eps: torch.Tensor) -> None:
        self.eps = log_eps.exp().view(self.shape)  # (batch or 1, 1, ...) broadcasts over the event
        self.sqrt2eps = self.eps.mul(2).sqrt()

    def update(self, log_alpha: torch.Tensor) -> None:
        self.t += 1
        t = self.t
        # NaN proposals count as rejections so that adaptation moves away from them.
        alpha = torch.nan_to_num(log_alpha.clamp(max=0.0), nan=-math.inf).exp()  # (batch,)
        if self.shared:
            alpha = alpha.mean(0, keepdim=True)  # (1,)
        w = 1.0 / (t + self.t0)
        self.h.mul_(1 - w).add_(self.target - alpha, alpha=w)
        log_eps = self.mu - math.sqrt(t) / self.gamma * self.h
        eta = t ** (-self.kappa)
        self.log_eps_bar.mul_(1 - eta).add_(log_eps, alpha=eta)
        self._set(log_eps)

    def final(self) -> torch.Tensor:
        return self.log_eps_bar.exp().view(self.shape)

    def restart(self, eps: torch.Tensor) -> None:
        """Start a new adaptation window from per-chain step sizes ``eps`` (``μ = log 10ε``), as
        Stan does after each mass-matrix update."""
        log_eps = eps.reshape(-1).log()
        self.mu = log_eps + math.log(10.0)
        self.h.zero_()
        self.log_eps_bar = log_eps.clone()
        self.t = 0
        self._set(log_eps)
