"""The No-U-Turn sampler, batched over chains: multinomial trajectory sampling as in Stan.

Each iteration draws a momentum ``p ~ N(0, M)`` and doubles a leapfrog trajectory — forwards or
backwards in time at random — until it makes a U-turn, then draws the next state from the whole
trajectory in proportion to ``exp(-H)``:

* **Doubling** (Hoffman & Gelman 2014, "The No-U-Turn Sampler", JMLR 15, arXiv:1111.4246): at
  depth j a new subtree of 2^j leapfrog steps is built from the end of the trajectory in the chosen
  direction, recursively as two halves, so that every sub-trajectory can be checked.
* **Generalised U-turn criterion** (Betancourt 2017, "A Conceptual Introduction to Hamiltonian
  Monte Carlo", arXiv:1701.02434, §A.4.2): a (sub)trajectory with momentum sum ρ and end momenta
  p₋, p₊ has turned when ``ρ·M⁻¹p₋ ≤ 0`` or ``ρ·M⁻¹p₊ ≤ 0``.
* **Multinomial sampling** (Betancourt 2017, §A.3.2, as in Stan): inside a subtree the candidate
  is drawn uniformly-progressively (the second half's candidate replaces the first's with
  probability ``W₂/(W₁ + W₂)``, ``W = Σ exp(-H)``); a new top-level subtree's candidate replaces the
  current state with probability ``min(1, W_new / W_old)`` (biased progressive sampling, which
  favours states far from the start).
* **Divergences**: a leaf with ``H − H₀ > 1000`` (Stan's threshold) ends the trajectory and is
  counted as a divergent transition; it does not make the chain "diverged" (its state stays finite).

Batching: chains build trees of different depths. At every doubling the chains still building
are gathered (one host synchronisation per doubling, not per leapfrog step) and only they compute;
a chain whose current subtree turns internally keeps stepping until the subtree is complete (masked),
as the subtrees of all gathered chains have the same size. ``result.extras["leapfrog_efficiency"]``
reports the fraction of computed leapfrog steps that a one-chain implementation would also have
computed.

Warm-up adaptation (Stan's schedule): dual averaging of one step size per chain toward a mean
acceptance statistic ``target_acceptance`` (Hoffman & Gelman 2014, Algorithm 5), and, with
``adapt_mass=True``, a diagonal mass ``M = 1 / variance`` estimated in doubling windows (75-step
fast start, windows of 25, 50, 100, ... steps, 50-step fast end) from the states of all chains,
shrunk toward 10⁻³ as Stan does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._base import DualAveraging, SamplerResult, chain_health, check_energy_output, check_x0_against_energy, energy_and_score_fn, finish_run, validate_x0
from .validation import check_generator, check_int, check_positive, check_probability, check_tensor, format_error, trusted_inputs

__all__ = ["NUTS"]

DIVERGENCE_THRESHOLD = 1000.0
"""An energy error H − H₀ above this ends a trajectory as a divergent transition (Stan's value)."""


@dataclass
class _Tree:
    """A (sub)trajectory of every gathered chain; tensors have the gathered batch first."""

    x_first: torch.Tensor  # first and last leaves in build order: (b, d)
    p_first: torch.Tensor
    s_first: torch.Tensor
    x_last: torch.Tensor
    p_last: torch.Tensor
    s_last: torch.Tensor
    x_prop: torch.Tensor  # the candidate state and its energy and score
    e_prop: torch.Tensor
    s_prop: torch.Tensor
    log_w: torch.Tensor  # log Σ exp(H₀ − H) over the leaves (b,)
    rho: torch.Tensor  # momentum sum (b, d)
    stop: torch.Tensor  # turned or diverged inside (b,) bool
    divergent: torch.Tensor  # a leaf diverged (b,) bool
    accept_sum: torch.Tensor  # Σ min(1, exp(H₀ − H)) over the leaves a one-chain sampler builds (b,)
    n_needed: torch.Tensor  # leaves a one-chain sampler builds: it stops at the first internal stop (b,)
    n_leaves: int  # leaves computed for every gathered chain


class NUTS:
    """No-U-Turn sampler over any energy ``(batch, *event) -> (batch,)``; chains are the batch.

    Args:
        step_size: leapfrog ε > 0, or None to start adaptation from a heuristic (ε that makes one
            leapfrog step's acceptance cross ½, Hoffman & Gelman 2014 Algorithm 4).
        max_tree_depth: at most 2^max_tree_depth leapfrog steps per iteration (Stan: 10).
        warmup_steps: adaptation iterations before sampling (default 500; 0 disables adaptation).
        adapt_step_size: dual-averaging step-size adaptation during warm-up.
        adapt_mass: diagonal mass adaptation in Stan's windows during warm-up.
        target_acceptance: δ of the dual averaging (Stan: 0.8).
        mass: initial positive diagonal mass (event-shaped), default identity.
        thin: keep every ``thin``-th state in ``result.trajectory``.

    Returns (from ``run``): SamplerResult with ``acceptance_rate`` (mean acceptance statistic per
    chain), per-chain ``step_size``, and ``extras``: ``tree_depth`` ``(n_steps, batch)``,
    ``divergent_transitions`` (batch,), ``n_leapfrog`` (batch,), ``mass`` and ``leapfrog_efficiency``.

    Example:
        >>> r = NUTS(0.5, warmup_steps=100).run(lambda x: 0.5 * (x ** 2).sum(-1), torch.zeros(20, 3), 100)
        >>> r.extras["tree_depth"].shape
        torch.Size([100, 20])
    """

    def __init__(self, step_size: float | None = None, *, max_tree_depth: int = 10, warmup_steps: int = 500,
                 adapt_step_size: bool = True, adapt_mass: bool = True, target_acceptance: float = 0.8,
                 mass: torch.Tensor | None = None, thin: int | None = None):
        self.step_size = None if step_size is None else check_positive("step_size", step_size, fix="pass a positive step size, or None to choose one")
        self.max_tree_depth = check_int("max_tree_depth", max_tree_depth, minimum=1, maximum=20)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.adapt_step_size = bool(adapt_step_size)
        self.adapt_mass = bool(adapt_mass)
        self.target_acceptance = check_probability("target_acceptance", target_acceptance)
        if mass is not None:
            mass = check_tensor("mass", mass, floating=True, finite=True)
            if bool((mass <= 0).any()):
                raise ValueError(format_error("mass", "a positive diagonal mass", "non-positive entries", "pass e.g. 1 / variance estimates, all > 0"))
        self.mass = mass
        self.thin = None if thin is None else check_int("thin", thin, minimum=1)
        if self.step_size is None and not (self.adapt_step_size and self.warmup_steps > 0):
            raise ValueError(format_error("step_size", "a value when step-size adaptation is off", "None", "pass step_size=, or keep adapt_step_size=True with warmup_steps > 0"))

    # ------------------------------------------------------------------ one tree
    def _leaf(self, fn, x, p, s, eps, inv_m, h0):
        """One leapfrog step (signed ε per chain) and the leaf's bookkeeping."""
        p = p + 0.5 * eps * s
        x = x + eps * (p * inv_m)
        e, s = fn(x)
        p = p + 0.5 * eps * s
        h = e + 0.5 * (p * p * inv_m).sum(1)
        delta = h0 - h  # log weight of the leaf relative to the start; NaN counts as a divergence
        divergent = ~(delta > -DIVERGENCE_THRESHOLD)
        delta = torch.where(divergent, torch.full_like(delta, -math.inf), delta)
        accept = delta.clamp(max=0).exp()
        return _Tree(x, p, s, x, p, s, x, e, s, delta, p, divergent, divergent, accept, torch.ones_like(accept), 1)

    def _turned(self, rho, p_a, p_b, inv_m):
        return ((rho * p_a * inv_m).sum(1) <= 0) | ((rho * p_b * inv_m).sum(1) <= 0)

    def _build(self, fn, x, p, s, eps, inv_m, h0, depth, generator):
        if depth == 0:
            return self._leaf(fn, x, p, s, eps, inv_m, h0)
        a = self._build(fn, x, p, s, eps, inv_m, h0, depth - 1, generator)
        b = self._build(fn, a.x_last, a.p_last, a.s_last, eps, inv_m, h0, depth - 1, generator)
        log_w = torch.logaddexp(a.log_w, b.log_w)
        # Uniform progressive sampling: the second half's candidate with probability W_b / (W_a + W_b).
        take_b = torch.rand(log_w.shape, generator=generator, dtype=log_w.dtype, device=log_w.device).log() < (b.log_w - log_w)
        take_b &= ~a.stop  # a stopped first half ends the subtree: nothing after it counts
        rho = a.rho + b.rho
        stop = a.stop | b.stop | self._turned(rho, a.p_first, b.p_last, inv_m)
        col = take_b[:, None]
        return _Tree(
            a.x_first, a.p_first, a.s_first, b.x_last, b.p_last, b.s_last,
            torch.where(col, b.x_prop, a.x_prop), torch.where(take_b, b.e_prop, a.e_prop), torch.where(col, b.s_prop, a.s_prop),
            torch.where(a.stop, a.log_w, log_w), rho, stop, a.divergent | (b.divergent & ~a.stop),
            a.accept_sum + torch.where(a.stop, torch.zeros_like(b.accept_sum), b.accept_sum),
            a.n_needed + torch.where(a.stop, torch.zeros_like(b.n_needed), b.n_needed), a.n_leaves + b.n_leaves,
        )

    def _iteration(self, fn, x, e, s, eps, sqrt_m, inv_m, generator):
        """One NUTS transition for every chain. Returns the new (x, e, s) and per-chain statistics."""
        batch, dev, dt = x.shape[0], x.device, x.dtype
        p0 = torch.randn(x.shape, generator=generator, dtype=dt, device=dev) * sqrt_m
        h0 = e + 0.5 * (p0 * p0 * inv_m).sum(1)
        minus = [x.clone(), p0.clone(), s.clone()]  # the trajectory's earliest and latest states
        plus = [x.clone(), p0.clone(), s.clone()]
        x_new, e_new, s_new = x.clone(), e.clone(), s.clone()
        log_w = torch.zeros(batch, dtype=dt, device=dev)
        rho = p0.clone()
        depth = torch.zeros(batch, dtype=torch.long, device=dev)
        divergent = torch.zeros(batch, dtype=torch.bool, device=dev)
        accept_sum = torch.zeros(batch, dtype=dt, device=dev)
        n_leaves = torch.zeros(batch, dtype=dt, device=dev)
        active = torch.ones(batch, dtype=torch.bool, device=dev)
        computed = 0
        for j in range(self.max_tree_depth):
            idx = active.nonzero().flatten()
            if idx.numel() == 0:
                break
            forward = torch.rand(idx.numel(), generator=generator, device=dev) < 0.5  # (b,)
            fcol = forward[:, None]
            start_x = torch.where(fcol, plus[0][idx], minus[0][idx])
            start_p = torch.where(fcol, plus[1][idx], minus[1][idx])
            start_s = torch.where(fcol, plus[2][idx], minus[2][idx])
            signed_eps = torch.where(forward, 1.0, -1.0).to(dt)[:, None] * eps[idx]
            t = self._build(fn, start_x, start_p, start_s, signed_eps, inv_m, h0[idx], j, generator)
            computed += idx.numel() * t.n_leaves
            ok = ~t.stop  # a subtree that turned or diverged inside is discarded (Stan)
            # Biased progressive sampling between the old trajectory and the new subtree.
            take = ok & (torch.rand(idx.numel(), generator=generator, dtype=dt, device=dev).log() < t.log_w - log_w[idx])
            tc = take[:, None]
            x_new[idx] = torch.where(tc, t.x_prop, x_new[idx])
            e_new[idx] = torch.where(take, t.e_prop, e_new[idx])
            s_new[idx] = torch.where(tc, t.s_prop, s_new[idx])
            # Extend the trajectory at the end it grew from (the subtree's last leaf is the new end).
            for end, new in ((plus, forward & ok), (minus, ~forward & ok)):
                nc = new[:, None]
                for k, leaf in enumerate((t.x_last, t.p_last, t.s_last)):
                    end[k][idx] = torch.where(nc, leaf, end[k][idx])
            log_w[idx] = torch.where(ok, torch.logaddexp(log_w[idx], t.log_w), log_w[idx])
            rho[idx] = torch.where(ok[:, None], rho[idx] + t.rho, rho[idx])
            accept_sum[idx] += t.accept_sum
            n_leaves[idx] += t.n_needed  # Stan averages the acceptance statistic over every leaf it built
            divergent[idx] |= t.divergent
            depth[idx] += 1
            turned = self._turned(rho[idx], minus[1][idx], plus[1][idx], inv_m)
            active[idx] = ok & ~turned
        needed = float(n_leaves.sum())
        return x_new, e_new, s_new, depth, divergent, accept_sum / n_leaves.clamp(min=1), n_leaves, computed, needed

    # ------------------------------------------------------------------ warm-up helpers
    def _initial_step_size(self, fn, x, e, s, sqrt_m, inv_m, generator) -> torch.Tensor:
        """Hoffman & Gelman (2014) Algorithm 4, per chain: double or halve ε until one leapfrog
        step's acceptance probability crosses ½."""
        batch = x.shape[0]
        eps = torch.ones(batch, 1, dtype=x.dtype, device=x.device)
        p = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device) * sqrt_m
        h0 = e + 0.5 * (p * p * inv_m).sum(1)

        def log_accept(eps):
            leaf = self._leaf(fn, x, p, s, eps, inv_m, h0)
            return torch.nan_to_num(leaf.log_w, nan=-math.inf)

        direction = torch.where(log_accept(eps) > math.log(0.5), 1.0, -1.0).to(x.dtype)[:, None]  # (batch, 1)
        for _ in range(50):
            crossed = direction.squeeze(1) * log_accept(eps) <= direction.squeeze(1) * math.log(0.5)
            if bool(crossed.all()):
                break
            eps = torch.where(crossed[:, None], eps, eps * 2.0**direction)
        return eps

    @staticmethod
    def _mass_windows(warmup: int) -> list[int]:
        """End points of Stan's slow adaptation windows (75 fast, 25·2^k slow, 50 fast at the end)."""
        if warmup < 150:
            return []
        start, end, size, ends = 75, warmup - 50, 25, []
        while start < end:
            stop = start + size
            if stop + 2 * size > end:  # the last window absorbs what is left
                stop = end
            ends.append(stop)
            start, size = stop, size * 2
        return ends

    # ------------------------------------------------------------------ run
    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Run ``warmup_steps`` adaptation iterations, then ``n_steps`` NUTS iterations.

        Args:
            energy: callable ``(batch, *event) -> (batch,)`` (its ``energy_and_score`` is used when present).
            x0: ``(batch, *event)`` finite floating initial states.
            n_steps: sampling iterations (>= 1).
            generator: torch.Generator on x0's device, or None.

        Raises:
            ValueError/TypeError: bad arguments or energy output.
            SamplerDivergedError: a chain's *state* became non-finite (divergent transitions alone
                are counted, not raised).
        """
        x0 = check_x0_against_energy(validate_x0(x0), energy)
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x0.device)
        batch, event = x0.shape[0], x0.shape[1:]
        if self.mass is not None and tuple(self.mass.shape) != tuple(event):
            raise ValueError(format_error("mass", f"shape {tuple(event)} (the event shape)", f"shape {tuple(self.mass.shape)}", "pass one mass per coordinate of a single chain"))
        base_fn = energy_and_score_fn(energy)

        def fn(x_flat):  # the tree works on flat (b, d) states
            e, s = base_fn(x_flat.view(x_flat.shape[0], *event))
            return e, s.reshape(x_flat.shape[0], -1)

        dt, dev = x0.dtype, x0.device
        mass = torch.ones(x0[0].numel(), dtype=dt, device=dev) if self.mass is None else self.mass.to(x0).flatten()
        thin = self.thin
        traj = torch.empty((n_steps // thin, *x0.shape), dtype=dt, device=dev) if thin else None
        depths = torch.empty((n_steps, batch), dtype=torch.long, device=dev)
        n_div = torch.zeros(batch, dtype=torch.long, device=dev)
        accept_total = torch.zeros(batch, dtype=dt, device=dev)
        leapfrogs = torch.zeros(batch, dtype=dt, device=dev)
        computed = needed = 0
        with torch.no_grad(), trusted_inputs():
            x = x0.reshape(batch, -1).clone()
            e, s = base_fn(x0)
            check_energy_output(e, s, x0)
            e_start = e
            s = s.reshape(batch, -1)
            sqrt_m, inv_m = mass.sqrt(), mass.reciprocal()
            eps = (torch.full((batch, 1), self.step_size, dtype=dt, device=dev) if self.step_size is not None
                   else self._initial_step_size(fn, x, e, s, sqrt_m, inv_m, generator))
            if self.warmup_steps:
                adapt = None
                windows = self._mass_windows(self.warmup_steps) if self.adapt_mass else []
                window_start, window_sum, window_sq, window_n = 75, 0.0, 0.0, 0
                if self.adapt_step_size:
                    adapt = DualAveraging(1.0, self.target_acceptance, batch, 2, dev, dt)
                    adapt.restart(eps)
                for t in range(self.warmup_steps):
                    x, e, s, _, _, acc, _, _, _ = self._iteration(fn, x, e, s, adapt.eps if adapt else eps, sqrt_m, inv_m, generator)
                    if adapt is not None:
                        adapt.update(acc.clamp(min=1e-300).log())
                    if windows and window_start <= t < windows[0]:
                        window_sum = window_sum + x.sum(0)
                        window_sq = window_sq + x.square().sum(0)
                        window_n += batch
                    if windows and t + 1 == windows[0]:
                        var = window_sq / window_n - (window_sum / window_n).square()
                        var = (window_n / (window_n + 5.0)) * var + 1e-3 * (5.0 / (window_n + 5.0))  # Stan's shrinkage
                        mass = var.reciprocal()
                        sqrt_m, inv_m = mass.sqrt(), mass.reciprocal()
                        window_start, window_sum, window_sq, window_n = windows.pop(0), 0.0, 0.0, 0
                        if adapt is not None:
                            adapt.restart(adapt.eps)
                if adapt is not None:
                    eps = adapt.final()
            for t in range(n_steps):
                x, e, s, depth, div, acc, nl, c, nd = self._iteration(fn, x, e, s, eps, sqrt_m, inv_m, generator)
                depths[t] = depth
                n_div += div
                accept_total += acc
                leapfrogs += nl
                computed, needed = computed + c, needed + nd
                if traj is not None and (t + 1) % thin == 0:
                    traj[(t + 1) // thin - 1].copy_(x.view_as(x0))
        x = x.view_as(x0)
        diverged = ~torch.isfinite(e) | ~torch.isfinite(x.reshape(batch, -1)).all(1)
        result = SamplerResult(
            x=x, acceptance_rate=accept_total / n_steps, energy=e, trajectory=traj, step_size=eps.flatten(), diverged=diverged,
            extras={"tree_depth": depths, "divergent_transitions": n_div, "n_leapfrog": leapfrogs, "mass": mass.view(event),
                    "leapfrog_efficiency": needed / max(computed, 1)},
        )
        return finish_run(result, "NUTS", "lower step_size or target a higher acceptance", runaway=chain_health(x0, e_start, x, e), n_steps=n_steps, frozen_fix="raise target_acceptance (e.g. 0.9) or pass a smaller step_size")
