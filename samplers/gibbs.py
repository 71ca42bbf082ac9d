"""Gibbs samplers: block Gibbs from conditional samplers, and single-site Gibbs for binary energies.

Block Gibbs (Geman & Geman 1984) alternates exact draws from the full conditionals of blocks of
variables (for an RBM: h ~ p(h | v), then v ~ p(v | h)). Single-site Gibbs for a binary energy
``E(x)``, x ∈ {0,1}ⁿ, resamples one bit at a time from

    p(x_i = 1 | x_-i) = σ(E(x with x_i=0) - E(x with x_i=1)),

which we write as "flip bit i with probability σ(-ΔE_i)", ``ΔE_i = E(x ⊕ e_i) - E(x)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from .compilation import AutoCompile, compile_step
from ._base import SamplerResult, check_energy_output, check_x0_against_energy, finish_run
from .counter_rng import CounterRNG
from .validation import check_choice, check_generator, check_has_values, check_int, check_tensor, format_error, trusted_inputs

__all__ = ["BlockGibbs", "SingleSiteGibbs"]


class BlockGibbs:
    """Block Gibbs sampling from user-supplied conditional samplers.

    The state is a tuple of K blocks ``(b_1, ..., b_K)``, each ``(batch, ...)``, listed in update
    order. One step applies ``b_k ← conditionals[k](blocks, generator)`` for k = 1..K, where
    ``blocks`` is the current tuple (already holding the blocks updated earlier in the same step).
    Each conditional must return an exact draw from p(b_k | all other blocks) with b_k's shape.

    For an RBM, the v → h → v sweep uses the state ``(h, v)`` (h first, so its initial value is
    irrelevant)::

        BlockGibbs([lambda b, g: sample_h(b[1], g), lambda b, g: sample_v(b[0], g)])

    Named blocks make the order unambiguous: with ``names=("h", "v")`` the initial state may be a
    dict ``{"h": h0, "v": v0}``; with ``event_shapes`` a tuple is checked block by block, and a
    tuple is refused (a dict is required) when two blocks share an event shape, since swapping
    them could not be detected (an RBM with n_visible == n_hidden).

    Reference: Geman & Geman (1984), IEEE TPAMI 6(6).

    Args:
        conditionals: sequence of K callables ``(blocks: tuple, generator) -> Tensor``.
        names: optional K distinct block names, in update order (``x0`` may then be a dict).
        event_shapes: optional K event shapes (each block is ``(batch, *event_shapes[k])``),
            checked against ``x0`` at the start.
        thin: keep every ``thin``-th state of the *first* block in ``result.trajectory``.
        compile: ``"auto"`` (default), True or False. True fuses each sweep with ``torch.compile``
            (fullgraph, static shapes). The conditionals then receive a `samplers.counter_rng.CounterRNG` in place of the
            ``torch.Generator`` (keyed from ``generator``, so runs stay reproducible) and must draw
            through ``samplers.counter_rng.uniform / normal / bernoulli``, which accept either; the
            draws are then computed inside the fused kernels instead of by a separate
            single-threaded Mersenne Twister pass. Different random numbers from ``compile=False``,
            the same distribution. The first ``run`` pays the compilation (seconds to tens of
            seconds on a CPU); later runs with the same block shapes reuse it. "auto" fuses once
            this sampler's work, ``Σ block sizes × sweeps`` summed over runs of the same shapes,
            reaches ``samplers.compilation.AUTO_THRESHOLDS["gibbs"]`` (10⁹: e.g. 1,000 RBM chains
            at 784 + 500 units × 780 sweeps); if the sweep cannot be compiled (no compiler, or
            conditionals that draw with ``torch`` functions instead of ``samplers.counter_rng``)
            it warns once and runs eagerly with ``generator``.

    Example:
        >>> f = lambda b, g: torch.bernoulli(torch.full_like(b[0], 0.3), generator=g)
        >>> BlockGibbs([f]).run(None, (torch.zeros(10, 4),), 5).x[0].shape
        torch.Size([10, 4])
    """

    def __init__(self, conditionals: Sequence[Callable], *, names: Sequence[str] | None = None, event_shapes: Sequence[Sequence[int]] | None = None, thin: int | None = None, compile: bool | str = "auto"):
        if not isinstance(conditionals, Sequence) or len(conditionals) == 0 or not all(callable(c) for c in conditionals):
            raise TypeError(format_error("conditionals", "a non-empty sequence of callables (blocks, generator) -> block", repr(conditionals), "pass e.g. [sample_h_given_v, sample_v_given_h]"))
        self.conditionals = list(conditionals)
        k = len(self.conditionals)
        if names is not None:
            names = tuple(names)
            if len(names) != k or len(set(names)) != k or not all(isinstance(n, str) for n in names):
                raise ValueError(format_error("names", f"{k} distinct block names (one per conditional)", repr(names), "pass e.g. names=('h', 'v')"))
        if event_shapes is not None:
            event_shapes = tuple(tuple(int(d) for d in e) for e in event_shapes)
            if len(event_shapes) != k:
                raise ValueError(format_error("event_shapes", f"{k} event shapes (one per conditional)", repr(event_shapes), "pass one shape per block, e.g. ((n_hidden,), (n_visible,))"))
        self.names, self.event_shapes = names, event_shapes
        self.thin = None if thin is None else check_int("thin", thin, minimum=1)
        self._auto = AutoCompile(compile, "gibbs", "BlockGibbs")
        self.compile = self._auto.option
        self._fused = self.compile is True
        self._compiled = None

    def _sweep(self, blocks: tuple, generator) -> tuple:
        """One step: ``b_k ← conditionals[k](blocks, generator)`` for k = 1..K."""
        for k, cond in enumerate(self.conditionals):
            blocks = blocks[:k] + (cond(blocks, generator),) + blocks[k + 1 :]
        return blocks

    def _sweep_fn(self, blocks: tuple, n_steps: int, generator):
        """``sweep(blocks, t) -> blocks``: eager with ``generator``, or compiled with counter keys."""
        eager = lambda b, t: self._sweep(b, generator)  # noqa: E731
        if not self._fused:
            return eager
        if self._compiled is None:
            sweep = self._sweep

            def counter_sweep(blocks, key):
                return sweep(blocks, CounterRNG(key))

            self._compiled = compile_step(counter_sweep)
        compiled = self._compiled
        keys = CounterRNG.new_keys(n_steps, generator, blocks[0].device)  # (n_steps, 2) one stream per sweep
        if self.compile is True:
            return lambda b, t: compiled(b, keys[t])
        fallback, succeeded = [], []

        def auto_sweep(b, t):
            # "auto": a sweep that cannot be compiled runs eagerly with the torch generator from
            # here on (nothing ran before the failure); user conditionals need not know CounterRNG.
            # Any failure of the first fused sweep counts (dynamo may re-raise a conditional's
            # TypeError on a CounterRNG as is); a real bug then surfaces from the eager sweep.
            if fallback:
                return eager(b, t)
            try:
                out = compiled(b, keys[t])
            except Exception as err:
                if succeeded:
                    raise
                self._auto.disable(err)
                self._compiled, self._fused = None, False
                fallback.append(True)
                return eager(b, t)
            succeeded.append(True)
            return out

        return auto_sweep

    def run(self, energy, x0, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Run ``n_steps`` full sweeps over the blocks.

        Args:
            energy: optional callable ``energy(*blocks) -> (batch,)`` used for ``result.energy``
                (and divergence checks); None to skip.
            x0: a tensor (one block), a tuple of K tensors in update order, or (with ``names``) a
                dict name -> tensor; each ``(batch, ...)``.
            n_steps: number of sweeps.
            generator: torch.Generator or None.

        Returns:
            SamplerResult whose ``x`` is the tuple of final blocks (in update order; with ``names``
            also ``extras["blocks"]``, a dict name -> block).

        Raises:
            ValueError: wrong number of blocks, a block's shape against ``event_shapes`` (with the
                order that would match), a tuple where shared event shapes make a dict necessary,
                a bad energy output; SamplerDivergedError when the final energy is non-finite.
        """
        blocks = self._blocks(x0)
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, blocks[0].device)
        traj = None
        self._fused = self._auto.fused((tuple(b.shape for b in blocks), blocks[0].dtype, blocks[0].device), sum(b.numel() for b in blocks) * n_steps, blocks[0].device)
        with torch.no_grad(), trusted_inputs():
            if energy is not None:  # the shared output check, at the start
                check_energy_output(self._translated(lambda: energy(*blocks), blocks, "the energy"), None, blocks[0])
            if self.thin:
                traj = torch.empty((n_steps // self.thin, *blocks[0].shape), dtype=blocks[0].dtype, device=blocks[0].device)
            sweep = self._sweep_fn(blocks, n_steps, generator)
            for t in range(1, n_steps + 1):
                if t == 1:
                    blocks = self._first_sweep(sweep, blocks)
                else:
                    blocks = sweep(blocks, t - 1)
                if traj is not None and t % self.thin == 0:
                    traj[t // self.thin - 1].copy_(blocks[0])
            e = energy(*blocks) if energy is not None else None
        batch = blocks[0].shape[0]
        diverged = ~torch.isfinite(e) if e is not None else torch.zeros(batch, dtype=torch.bool, device=blocks[0].device)
        result = SamplerResult(x=blocks, energy=e, trajectory=traj, diverged=diverged)
        if self.names is not None:
            result.extras["blocks"] = dict(zip(self.names, blocks))
        if e is not None:
            finish_run(result, "BlockGibbs", "check the conditionals and the energy for overflow", runaway=None, n_steps=n_steps, frozen_fix="")
        return result

    def _first_sweep(self, sweep, blocks):
        return self._translated(lambda: sweep(blocks, 0), blocks, "a conditional")

    @staticmethod
    def _translated(call, blocks, what: str):
        """Run ``call()``; a shape mismatch inside torch (without ``event_shapes`` the blocks' shapes
        are known only to the conditionals and the energy) is reported in the user's words."""
        try:
            return call()
        except RuntimeError as err:
            shapes = [tuple(b.shape) for b in blocks]
            first = str(err).splitlines()[0]
            raise ValueError(format_error("x0", f"blocks whose shapes {what} accepts", f"block shapes {shapes}, and {what} failed: {first}",
                                          "check each block's shape against its model, or pass event_shapes= to BlockGibbs so the blocks are checked up front")) from err

    def _blocks(self, x0) -> tuple:
        """``x0`` as a tuple in update order, checked against ``names`` / ``event_shapes``."""
        k = len(self.conditionals)
        names = self.names
        if isinstance(x0, Mapping):
            if names is None:
                raise TypeError(format_error("x0", "a tensor or a tuple of blocks (this BlockGibbs has no block names)", "a dict", "pass a tuple in update order, or build BlockGibbs(..., names=(...))"))
            if set(x0) != set(names):
                raise ValueError(format_error("x0", f"a dict with exactly the blocks {list(names)}", f"keys {list(x0)}", f"pass x0={{{', '.join(f'{n!r}: ...' for n in names)}}}"))
            blocks = tuple(x0[n] for n in names)
            from_dict = True
        else:
            blocks = tuple(x0) if isinstance(x0, (tuple, list)) else (x0,)
            from_dict = False
        if len(blocks) != k:
            raise ValueError(format_error("x0", f"{k} blocks (one per conditional)", f"{len(blocks)}", "pass a tuple with one initial tensor per block"))
        label = (lambda i: f"x0[{names[i]!r}]") if names is not None else (lambda i: f"x0[{i}]")
        for i, b in enumerate(blocks):
            check_tensor(label(i), b, min_ndim=1, floating=True, finite=True, nonempty=True)
            if b.dtype != blocks[0].dtype or b.device != blocks[0].device:
                raise TypeError(format_error(label(i), f"the dtype and device of the first block ({blocks[0].dtype} on {blocks[0].device})",
                                             f"{b.dtype} on {b.device}", f"convert it: {label(i)}.to(x0 block 0's dtype and device)"))
        if self.event_shapes is not None:
            shapes = self.event_shapes
            found = tuple(tuple(b.shape[1:]) for b in blocks)
            if found != shapes:
                order = ", ".join(names) if names is not None else "update order"
                hint = ""
                if sorted(found) == sorted(shapes):
                    hint = " (the blocks look swapped)"
                raise ValueError(format_error("x0", f"blocks ({order}) with event shapes {list(shapes)}", f"event shapes {list(found)}{hint}",
                                              "pass the blocks in update order" + (f", or a dict x0={{{', '.join(f'{n!r}: ...' for n in names)}}}" if names else "")))
            if not from_dict and names is not None and len(set(shapes)) < len(shapes):
                raise ValueError(format_error("x0", f"a dict {{{', '.join(f'{n!r}: ...' for n in names)}}} (blocks {list(names)} share the event shape, so a tuple's order cannot be checked)",
                                              "a tuple", f"pass x0={{{', '.join(f'{n!r}: {n}0' for n in names)}}}"))
        if len({b.shape[0] for b in blocks}) != 1:
            raise ValueError(format_error("x0", "blocks with the same batch size", f"batch sizes {[b.shape[0] for b in blocks]}", "give every block one row per chain"))
        return blocks


class SingleSiteGibbs:
    """Single-site (bit-flip) Gibbs sampling for a binary energy, vectorised over chains.

    One step is a sweep of n site updates. ``scan="systematic"`` visits sites 0..n-1 in order;
    ``scan="random"`` visits n sites drawn uniformly with replacement (the same site for all chains
    at a given update, drawn once up front so the loop never synchronises with the device).

    Fast path (protocol): if the energy has a method ``flip_energy_deltas(x, i) -> (batch,)``
    returning ``E(x with bit i flipped) - E(x)`` for an int site index i, it is used (for a
    Boltzmann machine this is O(n) instead of O(n²)). Otherwise the delta is computed with one
    energy evaluation of the flipped state (the current energy is cached).

    Args:
        scan: "systematic" or "random".
        thin: keep every ``thin``-th state in ``result.trajectory``.
        record_energies: store ``(n_steps, batch)`` energies after each sweep.

    Example:
        >>> E = lambda x: -(x[:, :-1] * x[:, 1:]).sum(-1)
        >>> SingleSiteGibbs().run(E, torch.zeros(8, 5), 10).x.shape
        torch.Size([8, 5])
    """

    def __init__(self, scan: str = "systematic", *, thin: int | None = None, record_energies: bool = False):
        self.scan = check_choice("scan", scan, ("systematic", "random"))
        self.thin = None if thin is None else check_int("thin", thin, minimum=1)
        self.record_energies = bool(record_energies)

    # -- pieces reused by parallel tempering and AIS -------------------------------------
    def _init_energy(self, energy, x):
        e = energy(x)
        check_energy_output(e, None, x)
        return e

    def _sweep(self, energy, x, e, sites, logistic, nan_seen=None):
        """One sweep in place on ``x`` (batch, *event); returns the updated energies (batch,).

        A NaN delta never flips (the comparison is False), so NaNs are recorded in ``nan_seen``
        (batch,) on the device instead of silently vanishing.
        """
        flat = x.view(x.shape[0], -1)  # (batch, n) view sharing storage with x
        fast = hasattr(energy, "flip_energy_deltas")
        for j, i in enumerate(sites):
            if fast:
                delta = energy.flip_energy_deltas(x, i)
            else:
                xf = x.clone()
                ff = xf.view(x.shape[0], -1)
                ff[:, i] = 1 - ff[:, i]
                delta = energy(xf) - e
            # flip with probability σ(-Δ)  ⇔  logit(u) < -Δ
            flip = (logistic[j] + delta) < 0  # (batch,)
            if nan_seen is not None:
                nan_seen.logical_or_(torch.isnan(delta))
            flat[:, i] = torch.where(flip, 1 - flat[:, i], flat[:, i])
            e = torch.where(flip, e + delta, e)
        return e

    def _draws(self, n_sites: int, n_sweeps: int, batch: int, x, generator):
        if self.scan == "systematic":
            sites = [list(range(n_sites))] * n_sweeps
        else:  # one host read for the whole run, never per step
            sites = torch.randint(n_sites, (n_sweeps, n_sites), generator=generator, device=x.device).tolist()
        return sites

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Run ``n_steps`` sweeps from binary ``x0`` ``(batch, *event)`` with entries in {0, 1}.

        Returns:
            SamplerResult with ``x`` (batch, *event) and the final ``energy`` (batch,).

        Raises:
            ValueError: x0 not binary/finite, bad energy output shape; SamplerDivergedError when
                an energy becomes non-finite.
        """
        x0 = check_tensor("x0", x0, min_ndim=1, floating=True, finite=True, nonempty=True)
        check_x0_against_energy(x0, energy)
        check_has_values("x0", x0)
        if not bool(((x0 == 0) | (x0 == 1)).all()):
            raise ValueError(format_error("x0", "binary states with entries in {0, 1}", "other values", "pass (x0 > 0.5).float()"))
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x0.device)
        check_x0_against_energy(x0, energy)
        batch = x0.shape[0]
        n_sites = x0[0].numel()
        x = x0.clone()
        with torch.no_grad(), trusted_inputs():
            e = self._init_energy(energy, x)
            traj = torch.empty((n_steps // self.thin, *x.shape), dtype=x.dtype, device=x.device) if self.thin else None
            energies = torch.empty((n_steps, batch), dtype=x.dtype, device=x.device) if self.record_energies else None
            sites = self._draws(n_sites, n_steps, batch, x, generator)
            nan_seen = torch.zeros(batch, dtype=torch.bool, device=x.device)
            for t in range(n_steps):
                u = torch.rand((n_sites, batch), generator=generator, dtype=x.dtype, device=x.device)
                logistic = torch.logit(u)  # (n_sites, batch) logistic noise
                e = self._sweep(energy, x, e, sites[t], logistic, nan_seen)
                if traj is not None and (t + 1) % self.thin == 0:
                    traj[(t + 1) // self.thin - 1].copy_(x)
                if energies is not None:
                    energies[t].copy_(e)
        diverged = ~torch.isfinite(e) | nan_seen
        result = SamplerResult(x=x, energy=e, trajectory=traj, energies=energies, diverged=diverged)
        finish_run(result, "SingleSiteGibbs", "check the energy for overflow (e.g. huge couplings) at these states", runaway=None, n_steps=n_steps, frozen_fix="")
        return result
