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

Batching: chains build trees of different depths, so chains do not wait for each other. Every
chain runs its own iteration as a small state machine — where it is in its trajectory, which subtree
it is building and how many of its leaves are done — and each batched *tick* takes one leapfrog
step for every chain. A chain whose iteration ends (its trajectory turned, its subtree turned or
diverged inside, or the depth limit) starts its next iteration on the next tick, while the others
go on building. The U-turn checks of the recursive algorithm become, at each leaf, the checks of
every power-of-two sub-subtree that ends at that leaf (an iterative build: momentum and momentum-sum
checkpoints per level), so the set of checks and the draws' distribution are those of Stan's
recursive build. The energy is evaluated once per tick for every chain: a
depth-by-depth lockstep batch instead waits, at every iteration, for its deepest tree, and takes
``2^depth`` leapfrog calls for it. Measured on the banana (100 chains, 200 warm-up and 200
sampling iterations, mean depth 3): 26,177 leapfrog calls in lockstep against 5,190 ticks, each
tick about 3.3 times a lockstep call's cost in Python and dispatch overhead at this size, so 1.5
times less CPU time. Chains meet only where they must: at the end of each mass-adaptation window
(the mass is shared) and when the run ends; until the others arrive, a chain that is there is
idle: its state is saved and, in a small batch, it keeps ticking with its results dropped, while a
large batch (≥ 512 coordinates) drops idle chains from the ticked set once an eighth of it is idle
and rebuilds the full set at the barrier. The U-turn checkpoints are stored as in NumPyro's
iterative build (one slot written per even leaf); a tick of ≥ 512 chains checks each level only on
the chains that close it (half of them close 2 leaves, a quarter 4, ...), since checking every level
of every chain made up more than half of a 10,000-chain tick's time. Below 512 coordinates a tick
costs its number of torch calls, not its arithmetic: there the per-iteration books (adaptation,
draws, idle chains) use whole-batch masks instead of gathered rows, the batched check reads its
checkpoint slots from small tables, and the trajectory's growing end is the newest leaf itself.
``result.extras["leapfrog_efficiency"]`` reports the fraction of computed leapfrog steps (over
warm-up and sampling) that a one-chain implementation would also have computed.

Warm-up adaptation (Stan's schedule): dual averaging of one step size per chain toward a mean
acceptance statistic ``target_acceptance`` (Hoffman & Gelman 2014, Algorithm 5), and, with
``adapt_mass=True``, a diagonal mass ``M = 1 / variance`` estimated in doubling windows (75-step
fast start, windows of 25, 50, 100, ... steps, 50-step fast end) from the states of all chains,
shrunk toward 10⁻³ as Stan does. Each chain keeps its own averaged ε̄ for sampling, as in Stan
(one shared ε — the chains' geometric mean — was tried: the batch then moves at one pace, but on
the banana the smallest coordinate ESS fell by about half over 8 seeds).
"""

from __future__ import annotations

import math

import torch

from ._base import DualAveraging, SamplerResult, chain_health, check_energy_output, check_x0_against_energy, energy_and_score_fn, finish_run, validate_x0
from .validation import check_generator, check_int, check_positive, check_probability, check_tensor, format_error, trusted_inputs

__all__ = ["NUTS"]

_COMPACT_MIN_ELEMENTS = 512
"""Batches of at least this many coordinates (chains × event size) drop idle chains from the ticked
set once an eighth of the ticked rows are idle; smaller ones are bound by per-call overhead and tick whole."""

_ROW_BOOKS_MIN_ELEMENTS = 512
"""Batches of at least this many coordinates keep the per-iteration books (adaptation, draws, idle
chains) on the gathered rows whose iteration ended; smaller ones with whole-batch masks, which take
fewer calls per tick. Compacted batches always keep them on rows."""

_TABLE_MAX_LEVELS = 12
"""Up to this max_tree_depth the small-batch U-turn check reads its checkpoint slots and closing
levels from (2^(L-1), L-1) tables (one call each); deeper trees compute them per tick."""

_SPARSE_CHECK_MIN_CHAINS = 512
"""Ticks of at least this many chains check the U-turns level by level on the chains that close
each level (gathered); smaller ones check every level of every chain in one batched call (on this
project's 2-core Xeon the two break even between 300 and 1,000 banana chains)."""

DIVERGENCE_THRESHOLD = 1000.0
"""An energy error H − H₀ above this ends a trajectory as a divergent transition (Stan's value)."""


class _ChainwiseDualAveraging(DualAveraging):
    """One step size per chain (Stan's per-chain adaptation); each chain advances its own clock."""

    def __init__(self, target: float, batch: int, device, dtype):
        super().__init__(1.0, target, batch, 2, device, dtype)
        self.t = torch.zeros(batch, dtype=dtype, device=device)

    def update(self, log_alpha: torch.Tensor, mask: torch.Tensor) -> None:
        alpha = torch.nan_to_num(log_alpha.clamp(max=0.0), nan=-math.inf).exp()  # (batch,)
        t = self.t + mask.to(self.t.dtype)
        tt = t.clamp(min=1.0)
        w = 1.0 / (tt + self.t0)
        h = torch.where(mask, (1 - w) * self.h + w * (self.target - alpha), self.h)
        log_eps = torch.where(mask, self.mu - tt.sqrt() / self.gamma * h, self.eps.flatten().log())
        eta = tt.pow(-self.kappa)
        self.log_eps_bar = torch.where(mask, (1 - eta) * self.log_eps_bar + eta * log_eps, self.log_eps_bar)
        self.t, self.h = t, h
        self._set(log_eps)

    def _set(self, log_eps: torch.Tensor) -> None:
        self.eps = log_eps.exp().view(self.shape)  # (batch, 1); NUTS needs no sqrt(2ε)

    def restart(self, eps: torch.Tensor) -> None:
        super().restart(eps.expand(self.h.shape[0], 1))
        self.t = torch.zeros_like(self.h)


def _popcounts(levels: int, device) -> torch.Tensor:
    """(2^(levels-2),) long: the number of set bits of 0, 1, 2, ... (the checkpoint slot of leaf n is
    ``popcount(n >> 1)``, and a subtree has at most 2^(levels-1) leaves)."""
    n = torch.arange(1 << max(levels - 2, 0), device=device)
    count = torch.zeros_like(n)
    for bit in range(max(levels - 2, 0)):
        count += (n >> bit) & 1
    return count


class _Slots:
    """Look-up tables of the U-turn checkpoints, indexed by a leaf's 0-based position n in its
    subtree (n < 2^(L-1)); shared by all chains.

    pop (2^(L-2),): popcount, the slot base ``popcount(n >> 1)``; write (2^(L-1),): the slot leaf n
    writes (``popcount(n >> 1)`` for even n, the spare slot L - 1 for odd n); and, for L ≤
    ``_TABLE_MAX_LEVELS`` (small batches read them in one call each), read (2^(L-1), L-1): the slot
    holding level (l+1)'s checkpoint for leaf n, ``max(popcount(n >> 1) - l, 0)``, and closes
    (2^(L-1), L-1) bool: whether leaf n closes a sub-subtree of 2^(l+1) leaves (``2^(l+1)`` divides n + 1).
    """

    __slots__ = ("pop", "write", "read", "closes")

    def __init__(self, levels: int, device):
        self.pop = _popcounts(levels, device)
        n = torch.arange(1 << (levels - 1), device=device)  # (2^(L-1),)
        base = self.pop[n >> 1] if levels >= 2 else torch.zeros_like(n)
        self.write = base.masked_fill((n & 1).bool(), levels - 1)
        self.read = self.closes = None
        if levels <= _TABLE_MAX_LEVELS:
            lv = torch.arange(levels - 1, device=device)  # (L-1,): levels 1..L-1
            self.read = (base[:, None] - lv).clamp(min=0)  # (2^(L-1), L-1)
            k = n + 1
            self.closes = (k & -k)[:, None] >= (2 << lv)  # (2^(L-1), L-1)


class _Chains:
    """Where every chain stands in its own NUTS iteration: batch-first tensors, ``b`` chains of ``d``
    coordinates, ``L`` tree levels. Triples are packed so one ``where`` moves them all.

    prop (b, 3, d) and prop_e (b,): the candidate [x, p, score] and energy of the trajectory (p is
    scratch: the start's momentum is written there when an iteration starts) — once the iteration
    ends, the chain's state, from which the next iteration starts; ends (b, 2, 3, d): the
    trajectory's [earliest, latest] leaves, each [x, p, score], the subtree being built included
    (its last leaf is the end it grows from); sub (b, 3, d) and sub_e (b,): the candidate of the
    subtree being built; rho and rho_sub (b, d): momentum sums of the trajectory (before the subtree)
    and of the subtree; ck (b, L, 2, d): U-turn checkpoints, slot popcount(n >> 1) written by an
    even leaf n of the subtree: its momentum and the subtree's momentum sum before it (slot L - 1 is
    never read: odd leaves write there); h0, log_w, log_w_sub, acc (Σ acceptance statistic) and
    leaves (b,); eps (b, 1); j (depth of the subtree being built) and k (its leaves so far) (b,) long;
    forward, divergent, fresh (b,) bool; rows (b,) and rows_col (b, 1): 0..b-1, for indexing;
    slots: the shared `_Slots` tables.
    """

    __slots__ = ("ends", "prop", "prop_e", "sub", "sub_e", "rho", "rho_sub", "ck", "h0", "log_w", "log_w_sub",
                 "acc", "leaves", "eps", "j", "k", "forward", "divergent", "fresh", "rows", "rows_col", "slots")

    def __init__(self, x, e, s, eps, slots: _Slots):
        b, d = x.shape
        levels = slots.write.shape[0].bit_length()  # 2^(L-1) entries
        zeros = lambda *shape: torch.zeros(*shape, dtype=x.dtype, device=x.device)  # noqa: E731
        flags = lambda: torch.zeros(b, dtype=torch.bool, device=x.device)  # noqa: E731
        self.ends = zeros(b, 2, 3, d)
        self.prop, self.prop_e, self.sub, self.sub_e = torch.stack((x, torch.zeros_like(x), s), 1), e, zeros(b, 3, d), zeros(b)
        self.rho, self.rho_sub, self.ck = zeros(b, d), zeros(b, d), zeros(b, levels, 2, d)
        self.h0, self.log_w, self.log_w_sub, self.acc, self.leaves = zeros(b), zeros(b), zeros(b), zeros(b), zeros(b)
        self.eps = eps.expand(b, 1).clone()
        self.j = torch.zeros(b, dtype=torch.long, device=x.device)
        self.k = torch.zeros(b, dtype=torch.long, device=x.device)
        self.forward, self.divergent, self.fresh = flags(), flags(), ~flags()
        self.rows = torch.arange(b, device=x.device)
        self.rows_col, self.slots = self.rows[:, None], slots

    _PER_CHAIN = ("ends", "prop", "prop_e", "sub", "sub_e", "rho", "rho_sub", "ck", "h0", "log_w", "log_w_sub", "acc", "leaves", "eps",
                  "j", "k", "forward", "divergent", "fresh")

    def take(self, idx: torch.Tensor) -> _Chains:
        """The chains ``idx`` (a copy), to tick them alone."""
        part = object.__new__(_Chains)
        for key in self._PER_CHAIN:
            setattr(part, key, getattr(self, key)[idx])
        part.rows = self.rows[: idx.shape[0]]
        part.rows_col, part.slots = part.rows[:, None], self.slots
        return part


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

    # ------------------------------------------------------------------ one tick
    @staticmethod
    def _leapfrog(fn, x, p, s, eps, inv_m):
        """One leapfrog step with a signed step size per chain ``eps (b, 1)``."""
        p = p + 0.5 * eps * s
        x = x + eps * (p * inv_m)
        e, s = fn(x)
        return x, p + 0.5 * eps * s, e, s

    @staticmethod
    def _turned(rho, p_a, p_b, inv_m):
        """Generalised U-turn criterion over the last dimension: ``ρ·M⁻¹p_a ≤ 0 or ρ·M⁻¹p_b ≤ 0``."""
        q = rho * inv_m
        return ((q * p_a).sum(-1) <= 0) | ((q * p_b).sum(-1) <= 0)

    def _tick(self, fn, c: _Chains, eps, inv_m, sqrt_m, generator):
        """Advance every chain by one leapfrog step.

        Starts an iteration where ``c.fresh``, a subtree where ``c.k == 0``; takes the leaf; ends
        the subtree (and maybe the iteration) where it completes, turns or diverges. Updates ``c``
        and returns the per-chain ``ended`` mask with the ``depth``, mean acceptance statistic,
        number of leaves and divergence flag of the iterations that ended."""
        prop = c.prop
        b, _, d = prop.shape
        u = torch.rand(b, 3, generator=generator, dtype=prop.dtype, device=prop.device)  # direction, leaf, subtree draws
        log_u = u.log()
        # -- a new iteration: momentum, H0, a one-state trajectory
        fresh = c.fresh
        f1 = fresh[:, None]
        p0 = torch.randn(b, d, generator=generator, dtype=prop.dtype, device=prop.device) * sqrt_m
        c.h0 = torch.where(fresh, torch.addmv(c.prop_e, p0.square(), inv_m, alpha=0.5), c.h0)  # E + ½ pᵀM⁻¹p
        c.eps = torch.where(f1, eps, c.eps)  # a trajectory keeps one step size
        prop[:, 1] = p0  # the momentum slot of the candidate makes it the start leaf [x, p0, score]
        c.ends = torch.where(fresh[:, None, None, None], prop[:, None], c.ends)
        c.log_w = c.log_w.masked_fill(fresh, 0.0)
        rho = torch.where(f1, p0, c.rho)
        c.acc = c.acc.masked_fill(fresh, 0.0)
        c.leaves = c.leaves.masked_fill(fresh, 0.0)
        c.j = c.j.masked_fill(fresh, 0)
        c.divergent = c.divergent.masked_fill(fresh, False)
        # -- a new subtree: a direction, the trajectory's end to grow from, empty sums
        new = c.k == 0
        fwd = torch.where(new, u[:, 0] < 0.5, c.forward)
        side = fwd.long()  # (b,): 0 grows the earliest end, 1 the latest
        leaf = c.ends[c.rows, side]  # (b, 3, d): the end the trajectory grows from (the subtree's last leaf)
        log_w_sub = c.log_w_sub.masked_fill(new, -math.inf)
        rho_sub = c.rho_sub.masked_fill(new[:, None], 0.0)
        # -- the leaf
        step = torch.where(fwd[:, None], c.eps, -c.eps)
        x, p, s = leaf.unbind(1)
        p = torch.addcmul(p, step, s, value=0.5)
        x = torch.addcmul(x, step, p * inv_m)
        e, s = fn(x)
        p = torch.addcmul(p, step, s, value=0.5)
        delta = torch.addmv(c.h0 - e, p.square(), inv_m, alpha=-0.5)  # log weight of the leaf relative to the start
        divergent = ~(delta > -DIVERGENCE_THRESHOLD)  # NaN counts as a divergence
        delta = delta.masked_fill(divergent, -math.inf)
        log_w_sub_new = torch.logaddexp(log_w_sub, delta)
        take = log_u[:, 1] < delta - log_w_sub_new  # uniform progressive sampling inside the subtree
        leaf = torch.stack((x, p, s), 1)  # (b, 3, d)
        c.sub = torch.where(take[:, None, None], leaf, c.sub)
        c.sub_e = torch.where(take, e, c.sub_e)
        c.ends[c.rows, side] = leaf  # the trajectory's end in this direction is the newest leaf
        # -- U-turn checks of every sub-subtree (2, 4, ..., 2^j leaves) that ends at this leaf, with
        # checkpoints stored as in NumPyro's iterative build (Phan, Pradhan & Jankowiak 2019,
        # arXiv:1912.11554): leaf n (0-based, within the subtree) writes, when n is even, the momentum
        # and the momentum sum before it into slot popcount(n >> 1); when n is odd it closes the
        # sub-subtrees of 2, 4, ..., 2^m leaves (m = trailing ones of n), whose checkpoints are the
        # slots popcount(n >> 1), popcount(n >> 1) - 1, ...
        n, slots = c.k, c.slots
        c.ck[c.rows, slots.write.index_select(0, n)] = torch.stack((p, rho_sub), 1)  # odd leaves write the spare slot
        rho_sub = rho_sub + p
        k = n + 1
        lsb = k & -k  # 2^m: the largest sub-subtree that closes here
        if b >= _SPARSE_CHECK_MIN_CHAINS:  # only the chains that close a level, gathered level by level
            turned = torch.zeros_like(divergent)
            slot = slots.pop[n >> 1]  # (b,)
            rows, level = (lsb >= 2).nonzero().flatten(), 1
            while rows.numel():
                ck = c.ck[rows, slot[rows] - (level - 1)]  # (r, 2, d): [momentum at the level's first leaf, sum before it]
                q = (rho_sub[rows] - ck[:, 1]) * inv_m  # (r, d): the level's momentum sum, scaled
                hit = ((q * ck[:, 0]).sum(-1) <= 0) | ((q * p[rows]).sum(-1) <= 0)
                turned[rows[hit]] = True
                level += 1
                rows = rows[lsb[rows] >= (1 << level)]
            stop = divergent | turned
        else:  # few chains: one batched check of every level that closes somewhere (fewer calls)
            top = int(lsb.max()).bit_length() - 1
            if top:
                if slots.read is not None:
                    read, closes = slots.read[n, :top], slots.closes[n, :top]  # (b, top)
                else:
                    lv = torch.arange(top, device=n.device)  # (top,): levels 1..top
                    read, closes = (slots.pop[n >> 1][:, None] - lv).clamp(min=0), lsb[:, None] >= (2 << lv)
                ck = c.ck[c.rows_col, read]  # (b, top, 2, d)
                q = (rho_sub[:, None] - ck[:, :, 1]) * inv_m  # (b, top, d): each level's momentum sum, scaled
                hit = ((q * ck[:, :, 0]).sum(-1) <= 0) | ((q * p[:, None]).sum(-1) <= 0)  # (b, top)
                stop = divergent | (hit & closes).any(1)
            else:
                stop = divergent
        # stop: the subtree is discarded (Stan)
        c.acc = c.acc + delta.clamp(max=0).exp()
        c.leaves = c.leaves + 1.0
        c.divergent = c.divergent | divergent
        # -- a completed subtree joins the trajectory
        complete = ~stop & ((k >> c.j) == 1)  # k == 2^j (k <= 2^j always)
        take_sub = complete & (log_u[:, 2] < log_w_sub_new - c.log_w)  # biased progressive sampling
        c.prop = torch.where(take_sub[:, None, None], c.sub, prop)
        c.prop_e = torch.where(take_sub, c.sub_e, c.prop_e)
        c.log_w = torch.where(complete, torch.logaddexp(c.log_w, log_w_sub_new), c.log_w)
        rho = torch.where(complete[:, None], rho + rho_sub, rho)
        c.rho, c.rho_sub = rho, rho_sub
        depth = c.j + 1
        turned_all = (((rho * inv_m)[:, None] * c.ends[:, :, 1]).sum(-1) <= 0).any(1)
        ended = stop | (complete & (turned_all | (depth >= self.max_tree_depth)))
        c.j = torch.where(complete & ~ended, depth, c.j)
        c.k = k.masked_fill(complete | ended, 0)
        c.fresh, c.forward, c.log_w_sub = ended, fwd, log_w_sub_new
        return ended, depth, c.acc / c.leaves, c.leaves, c.divergent

    @staticmethod
    def _keep(traj, row, chains, x, thin, event) -> None:
        """Store the draws ``x (r, d)`` of sampling iteration ``row (r,)`` of ``chains (r,)`` where
        ``thin`` divides ``row + 1``."""
        if thin == 1:
            traj[row, chains] = x.view(-1, *event)
        else:
            kept = (row + 1) % thin == 0
            traj[(row[kept] + 1) // thin - 1, chains[kept]] = x[kept].view(-1, *event)

    # ------------------------------------------------------------------ warm-up helpers
    def _initial_step_size(self, fn, x, e, s, sqrt_m, inv_m, generator) -> torch.Tensor:
        """Hoffman & Gelman (2014) Algorithm 4, per chain: double or halve ε until one leapfrog
        step's acceptance probability crosses ½."""
        batch = x.shape[0]
        eps = torch.ones(batch, 1, dtype=x.dtype, device=x.device)
        p = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device) * sqrt_m
        h0 = e + 0.5 * (p * p * inv_m).sum(1)

        def log_accept(eps):
            _, p1, e1, _ = self._leapfrog(fn, x, p, s, eps, inv_m)
            return torch.nan_to_num(h0 - (e1 + 0.5 * (p1 * p1 * inv_m).sum(1)), nan=-math.inf)

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

        if len(event) == 1:
            fn = base_fn  # the tree works on flat (b, d) states: these already are
        else:
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
        needed_sum = 0.0  # small batches: leaves of the ended iterations, per chain
        with torch.no_grad(), trusted_inputs():
            x = x0.reshape(batch, -1).clone()
            e, s = base_fn(x0)
            check_energy_output(e, s, x0)
            e_start = e
            s = s.reshape(batch, -1)
            sqrt_m, inv_m = mass.sqrt(), mass.reciprocal()
            eps = (torch.full((batch, 1), self.step_size, dtype=dt, device=dev) if self.step_size is not None
                   else self._initial_step_size(fn, x, e, s, sqrt_m, inv_m, generator))
            total = self.warmup_steps + n_steps
            adapt = _ChainwiseDualAveraging(self.target_acceptance, batch, dev, dt) if self.warmup_steps and self.adapt_step_size else None
            if adapt is not None:
                adapt.restart(eps)
                eps = adapt.eps  # (b, 1): each chain adapts its own during the warm-up
            windows = self._mass_windows(self.warmup_steps) if self.warmup_steps and self.adapt_mass else []
            window_start, window_sum, window_sq, window_n = 75, 0.0, 0.0, 0
            slots = _Slots(self.max_tree_depth, dev)
            c = _Chains(x, e, s, eps, slots)
            it = torch.zeros(batch, dtype=torch.long, device=dev)  # iterations each chain has finished
            # Chains meet at barriers, the ends of the mass windows (the mass is shared). A chain
            # that has reached one, or has finished, is idle: its state is saved and its results are
            # dropped. A small batch keeps ticking it (cheaper than gathering the others) and keeps
            # its books with whole-batch masks (a few calls per tick, no gathers); a large one keeps
            # them on the rows that ended, drops idle chains from the ticked set `act` (row r of `c`
            # is chain act[r]) once an eighth of the rows are idle, and resumes every chain from its
            # saved state at a barrier.
            waiting = torch.zeros(batch, dtype=torch.bool, device=dev)
            done = torch.zeros(batch, dtype=torch.bool, device=dev)
            idle = waiting | done
            saved = {"prop": c.prop.clone(), "prop_e": c.prop_e.clone()}
            compact = batch * x.shape[1] >= _COMPACT_MIN_ELEMENTS
            by_rows = compact or batch * x.shape[1] >= _ROW_BOOKS_MIN_ELEMENTS
            act, eps_act = None, eps  # None: every chain, row r is chain r
            warmup = self.warmup_steps
            while True:
                ended, depth, acc, nl, div = self._tick(fn, c, eps_act, inv_m, sqrt_m, generator)  # per row
                if not by_rows:  # ---- small batch: whole-batch masks
                    computed += batch
                    ended = ended & ~idle
                    t = it  # the iteration each chain is in (has just finished, where ended)
                    it = it + ended
                    warm = ended & (t < warmup)
                    drawn = ended & (t >= warmup)
                    finished = ended & (it >= total)
                    stopping = (finished | (ended & (it == windows[0]))) if windows else finished
                    any_warm, any_drawn, any_stopping = torch.stack((warm.any(), drawn.any(), stopping.any())).tolist()
                    if not (any_warm or any_drawn):  # nothing ended
                        continue
                    needed_sum = needed_sum + torch.where(ended, nl, 0.0)  # per chain: no sync
                    if any_warm:
                        if adapt is not None:
                            adapt.update(acc.clamp(min=1e-300).log(), warm)
                            # A chain past its warm-up samples with its averaged ε̄ (frozen: it gets no updates).
                            eps = eps_act = torch.where((it >= warmup)[:, None], adapt.final(), adapt.eps)
                        if windows:
                            inside = (warm & (t >= window_start) & (t < windows[0]))[:, None]
                            x_now = torch.where(inside, c.prop[:, 0], 0.0)  # (b, d)
                            window_sum = window_sum + x_now.sum(0)
                            window_sq = window_sq + x_now.square().sum(0)
                            window_n = window_n + inside.sum()
                    if any_drawn:
                        chains = drawn.nonzero().flatten()
                        row = t[chains] - warmup
                        depths[row, chains] = depth[chains]
                        n_div += drawn & div
                        accept_total += torch.where(drawn, acc, 0.0)
                        leapfrogs += torch.where(drawn, nl, 0.0)
                        if traj is not None:
                            self._keep(traj, row, chains, c.prop[chains, 0], thin, event)
                    if not any_stopping:
                        continue
                    for key, v in saved.items():
                        saved[key] = torch.where(stopping.view(-1, *([1] * (v.dim() - 1))), getattr(c, key), v)
                    done = done | finished
                    waiting = waiting | (stopping & ~finished)
                else:  # ---- large batch: books on the ended rows, idle rows dropped
                    idle_rows = idle if act is None else idle[act]
                    ended = ended & ~idle_rows
                    if compact:
                        n_idle = int(idle_rows.sum())
                        if 8 * n_idle > idle_rows.shape[0]:  # drop the idle rows (their state is saved)
                            keep = (~idle_rows).nonzero().flatten()
                            ended, depth, acc, nl, div = ended[keep], depth[keep], acc[keep], nl[keep], div[keep]
                            c = c.take(keep)
                            act = keep if act is None else act[keep]
                            eps_act = eps[act]
                    computed += idle_rows.shape[0] if compact else batch
                    rows = ended.nonzero().flatten()  # rows whose iteration ended
                    if not rows.numel():
                        continue
                    ids = rows if act is None else act[rows]  # their chains
                    t = it[ids]  # the iteration each has just finished
                    it[ids] = t + 1
                    nl, acc, div, depth = nl[rows], acc[rows], div[rows], depth[rows]
                    needed += float(nl.sum())
                    warm = t < warmup
                    if adapt is not None and bool(warm.any()):
                        wid = ids[warm]
                        mask = torch.zeros(batch, dtype=torch.bool, device=dev).index_fill_(0, wid, True)
                        log_acc = torch.zeros(batch, dtype=dt, device=dev).index_copy_(0, wid, acc[warm].clamp(min=1e-300).log())
                        adapt.update(log_acc, mask)
                        eps = torch.where((it >= warmup)[:, None], adapt.final(), adapt.eps)
                        eps_act = eps if act is None else eps[act]
                    if windows:
                        inside = warm & (t >= window_start) & (t < windows[0])
                        # summed over all rows with zeros elsewhere (not over the gathered rows), so that
                        # these books add in the same order as the whole-batch ones
                        inside = torch.zeros_like(ended).index_fill_(0, rows[inside], True)[:, None]
                        x_now = torch.where(inside, c.prop[:, 0], 0.0)  # (rows, d)
                        window_sum = window_sum + x_now.sum(0)
                        window_sq = window_sq + x_now.square().sum(0)
                        window_n = window_n + inside.sum()
                    drawn = ~warm
                    if bool(drawn.any()):
                        chains, row = ids[drawn], t[drawn] - warmup
                        depths[row, chains] = depth[drawn]
                        n_div[chains] += div[drawn].long()
                        accept_total[chains] += acc[drawn]
                        leapfrogs[chains] += nl[drawn]
                        if traj is not None:
                            self._keep(traj, row, chains, c.prop[rows[drawn], 0], thin, event)
                    finished = t + 1 >= total
                    stopping = finished | ((t + 1 == windows[0]) if windows else False)
                    if not bool(stopping.any()):
                        continue
                    for key, v in saved.items():
                        v[ids[stopping]] = getattr(c, key)[rows[stopping]]
                    done[ids[stopping & finished]] = True
                    waiting[ids[stopping & ~finished]] = True
                # ---- someone stopped: a barrier, or the end
                idle = waiting | done
                if windows and bool(waiting.all()):  # every chain is at the window's end: a new mass
                    window_n = int(window_n)
                    var = window_sq / window_n - (window_sum / window_n).square()
                    var = (window_n / (window_n + 5.0)) * var + 1e-3 * (5.0 / (window_n + 5.0))  # Stan's shrinkage
                    mass = var.reciprocal()
                    sqrt_m, inv_m = mass.sqrt(), mass.reciprocal()
                    window_start, window_sum, window_sq, window_n = windows.pop(0), 0.0, 0.0, 0
                    if adapt is not None:
                        adapt.restart(adapt.eps)
                        eps = adapt.eps
                    # every chain resumes from its saved state and starts a new iteration
                    c = _Chains(saved["prop"][:, 0], saved["prop_e"].clone(), saved["prop"][:, 2], eps, slots)
                    act, eps_act = None, eps
                    waiting = torch.zeros_like(waiting)
                    idle = done
                if bool(done.all()):
                    break
            x, e = saved["prop"][:, 0].contiguous(), saved["prop_e"]
            eps = eps.expand(batch, 1)
        x = x.view_as(x0)
        diverged = ~torch.isfinite(e) | ~torch.isfinite(x.reshape(batch, -1)).all(1)
        result = SamplerResult(
            x=x, acceptance_rate=accept_total / n_steps, energy=e, trajectory=traj, step_size=eps.flatten(), diverged=diverged,
            extras={"tree_depth": depths, "divergent_transitions": n_div, "n_leapfrog": leapfrogs, "mass": mass.view(event),
                    "leapfrog_efficiency": (needed + float(torch.as_tensor(needed_sum).sum())) / max(computed, 1)},
        )
        return finish_run(result, "NUTS", "lower step_size or target a higher acceptance", runaway=chain_health(x0, e_start, x, e), n_steps=n_steps, frozen_fix="raise target_acceptance (e.g. 0.9) or pass a smaller step_size")
