"""Parallel tempering (replica exchange) for continuous and binary energies.

Run K replicas of every chain at inverse temperatures 1 = β_1 > β_2 > ... > β_K on the tempered
energies β_k E(x) with any of our kernels (MALA, ULA, HMC, or single-site Gibbs for binary x),
and after every ``swap_every`` kernel steps propose to exchange the states of adjacent replicas
(alternating even and odd pairs), accepted with probability

    min(1, exp((β_k - β_{k+1}) (E(x_k) - E(x_{k+1})))).

Hot replicas cross energy barriers and hand their states down the ladder, so the β = 1 replica
mixes between well-separated modes where a single chain population cannot.
References: Swendsen & Wang (1986), Phys. Rev. Lett. 57, 2607; Geyer (1991), "Markov chain Monte
Carlo maximum likelihood", Computing Science and Statistics 23.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._base import GradientSampler, SamplerResult, chain_health, check_energy_output, check_x0_against_energy, finish_run, validate_x0
from .validation import check_generator, check_int, check_positive, format_error, trusted_inputs
from .gibbs import SingleSiteGibbs

__all__ = ["ParallelTempering", "geometric_temperatures"]


def geometric_temperatures(t_max: float, n: int) -> list[float]:
    """``n`` temperatures from 1 to ``t_max`` in geometric progression (a common default ladder)."""
    t_max = check_positive("t_max", t_max)
    if not t_max > 1.0:
        raise ValueError(format_error("t_max", "a hottest temperature above 1 (the ladder runs from 1 up to t_max)", repr(t_max), "pass e.g. t_max=10.0"))
    check_int("n", n, minimum=2)
    return [t_max ** (k / (n - 1)) for k in range(n)]


class _Tempered:
    """``β ⊙ E`` for a flat batch of K·B replicas; forwards score and bit-flip deltas when present."""

    def __init__(self, energy, beta_flat: torch.Tensor, event_dim: int):
        self.energy = energy
        self.beta = beta_flat  # (K*B,)
        self.beta_x = beta_flat.view((-1,) + (1,) * event_dim)  # (K*B, 1, ...)
        if hasattr(energy, "energy_and_score"):
            self.energy_and_score = lambda x: self._scale(*energy.energy_and_score(x))
        elif hasattr(energy, "score"):
            self.score = lambda x: energy.score(x) * self.beta_x
        if hasattr(energy, "flip_energy_deltas"):
            self.flip_energy_deltas = lambda x, i: energy.flip_energy_deltas(x, i) * self.beta

    def _scale(self, e, s):
        return e * self.beta, s * self.beta_x

    def __call__(self, x):
        return self.energy(x) * self.beta


class ParallelTempering:
    """Replica exchange over a temperature ladder with a MALA/ULA/HMC or single-site Gibbs kernel.

    Args:
        kernel: a ``MALA``, ``ULA`` or ``HMC`` instance (continuous x) or a ``SingleSiteGibbs``
            instance (binary x). Its warm-up/thin options are ignored; PT owns the loop.
        temperatures: ladder T_1 = 1 < T_2 < ... < T_K (β_k = 1/T_k).
        swap_every: kernel steps between swap rounds.
        scale_step_size: for gradient kernels, use step size ε·T_k at temperature T_k (the tempered
            target is T_k times wider), which keeps acceptance roughly constant along the ladder.
        thin: keep every ``thin``-th state of the T = 1 replica in ``result.trajectory``.

    Returns (from ``run``): SamplerResult for the T = 1 replica, with ``extras``:
        ``swap_acceptance`` (K-1,) mean swap acceptance probability per adjacent pair,
        ``x_all`` (K, batch, *event) all replicas, ``energy_all`` (K, batch) untempered energies,
        ``acceptance_all`` (K, batch) kernel acceptance for Metropolis kernels.

    Example:
        >>> from samplers import MALA
        >>> pt = ParallelTempering(MALA(0.1), [1.0, 2.0, 4.0])
        >>> r = pt.run(lambda x: 0.5 * (x ** 2).sum(-1), torch.zeros(32, 2), 100)
        >>> r.extras["swap_acceptance"].shape
        torch.Size([2])
    """

    def __init__(self, kernel, temperatures: Sequence[float], *, swap_every: int = 1, scale_step_size: bool = True, thin: int | None = None):
        if not isinstance(kernel, (GradientSampler, SingleSiteGibbs)):
            raise TypeError(format_error("kernel", "a MALA, ULA, HMC or SingleSiteGibbs instance", type(kernel).__name__, "pass e.g. MALA(0.1)"))
        temps = [check_positive(f"temperatures[{i}]", t) for i, t in enumerate(temperatures)]
        if len(temps) < 2 or temps[0] != 1.0 or any(b <= a for a, b in zip(temps, temps[1:])):
            raise ValueError(format_error("temperatures", "an increasing ladder starting at 1.0 with at least 2 entries", repr(list(temperatures)), "use geometric_temperatures(t_max, n)"))
        self.kernel, self.temperatures = kernel, temps
        self.swap_every = check_int("swap_every", swap_every, minimum=1)
        self.scale_step_size = bool(scale_step_size)
        self.thin = None if thin is None else check_int("thin", thin, minimum=1)

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Run ``n_steps`` swap rounds (each ``swap_every`` kernel steps) from ``x0``.

        Args:
            energy: callable ``(n, *event) -> (n,)`` (untempered).
            x0: ``(batch, *event)``, copied to every temperature.
            n_steps: number of swap rounds.
            generator: torch.Generator or None.
        """
        K = len(self.temperatures)
        x0 = validate_x0(x0)
        binary = isinstance(self.kernel, SingleSiteGibbs)
        if binary and not bool(((x0 == 0) | (x0 == 1)).all()):
            raise ValueError(format_error("x0", "binary states in {0, 1} for a Gibbs kernel", "other values", "pass (x0 > 0.5).float()"))
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x0.device)
        check_x0_against_energy(x0, energy)
        with torch.no_grad(), trusted_inputs():
            e0 = energy(x0)  # the untempered output, checked before β scaling can broadcast a scalar
        check_energy_output(e0, None, x0)
        xs = x0.unsqueeze(0).expand(K, *x0.shape)  # (K, batch, *event)
        B = xs.shape[1]
        event = xs.shape[2:]
        dev, dt = x0.device, x0.dtype
        x = xs.reshape(K * B, *event).clone()  # (K*B, *event) replica-major
        betas = torch.tensor([1.0 / t for t in self.temperatures], dtype=dt, device=dev)  # (K,)
        beta_flat = betas.repeat_interleave(B)  # (K*B,)
        target = _Tempered(energy, beta_flat, len(event))
        kern = self.kernel
        swap_sum = torch.zeros(K - 1, dtype=dt, device=dev)
        n_rounds = [0] * (K - 1)
        traj = torch.empty((n_steps // self.thin, B, *event), dtype=dt, device=dev) if self.thin else None
        n_accept = nan_seen = n_divergent = None
        with torch.no_grad(), trusted_inputs():
            if binary:
                e = kern._init_energy(target, x)
                n_sites = x[0].numel()
                sites = kern._draws(n_sites, n_steps * self.swap_every, K * B, x, generator)
                nan_seen = torch.zeros(K * B, dtype=torch.bool, device=dev)
            else:
                fn = kern._energy_fn(target)
                state = kern._init_state(fn, x)
                eps = kern.step_size
                if self.scale_step_size:
                    eps = (kern.step_size / beta_flat).view((-1,) + (1,) * len(event))  # (K*B, 1, ...)
                if kern.metropolis:
                    n_accept = torch.zeros(K * B, dtype=torch.float32 if dt in (torch.float16, torch.bfloat16) else dt, device=dev)
                    n_divergent = torch.zeros(K * B, dtype=torch.long, device=dev)
            arange_b = torch.arange(B, device=dev)
            for t in range(n_steps):
                if binary:
                    for s in range(self.swap_every):
                        logistic = torch.logit(torch.rand((n_sites, K * B), generator=generator, dtype=dt, device=dev))
                        e = kern._sweep(target, x, e, sites[t * self.swap_every + s], logistic, nan_seen)
                    cur_e, cur_x, cur_s = e, x, None
                else:
                    kern._advance(kern._step_fn(None, fn, state.x), state, self.swap_every, eps, generator, n_accept=n_accept, n_divergent=n_divergent)
                    cur_e, cur_x, cur_s = state.energy, state.x, state.score
                # ---- swap round: even pairs on even rounds, odd pairs on odd rounds
                raw = (cur_e / beta_flat).view(K, B)  # (K, B) untempered energies
                ks = torch.arange(t % 2, K - 1, 2, device=dev)
                if ks.numel():
                    d_beta = (betas[ks] - betas[ks + 1]).unsqueeze(1)  # (m, 1)
                    log_r = d_beta * (raw[ks] - raw[ks + 1])  # (m, B)
                    logu = torch.rand(log_r.shape, generator=generator, dtype=dt, device=dev).log_()
                    acc = logu < log_r
                    swap_sum.index_add_(0, ks, log_r.clamp(max=0).exp().nan_to_num(0.0).mean(1))
                    for k in range(t % 2, K - 1, 2):
                        n_rounds[k] += 1
                    perm = torch.arange(K, device=dev).unsqueeze(1).repeat(1, B)  # (K, B)
                    perm[ks] = torch.where(acc, ks.unsqueeze(1) + 1, ks.unsqueeze(1))
                    perm[ks + 1] = torch.where(acc, ks.unsqueeze(1), ks.unsqueeze(1) + 1)
                    idx = (perm * B + arange_b).flatten()  # (K*B,) source row of each slot
                    ratio = beta_flat / beta_flat[idx]  # rescale cached tempered energies/scores
                    new_x = cur_x[idx]
                    new_e = cur_e[idx] * ratio
                    if binary:
                        x.copy_(new_x)
                        e = new_e
                    else:
                        state.x, state.energy = new_x, new_e
                        if cur_s is not None:
                            state.score = cur_s[idx] * ratio.view((-1,) + (1,) * len(event))
                if traj is not None and (t + 1) % self.thin == 0:
                    traj[(t + 1) // self.thin - 1].copy_((x if binary else state.x)[:B])
        final_x = (x if binary else state.x).view(K, B, *event)
        final_e = ((e if binary else state.energy) / beta_flat).view(K, B)
        finite_x = torch.isfinite(final_x).flatten(2).all(2) if final_x.dim() > 2 else torch.isfinite(final_x)  # (K, B)
        bad = ~torch.isfinite(final_e) | ~finite_x
        if nan_seen is not None:  # Gibbs kernel: a NaN flip delta is a broken energy
            bad = bad | nan_seen.view(K, B)
        diverged = bad.any(0)  # (B,) a chain diverged if any of its replicas did
        extras = {
            "swap_acceptance": swap_sum / torch.tensor([max(c, 1) for c in n_rounds], dtype=dt, device=dev),
            "x_all": final_x,
            "energy_all": final_e,
        }
        acc_rate = None
        if n_accept is not None:
            extras["acceptance_all"] = (n_accept / (n_steps * self.swap_every)).to(dt).view(K, B)
            acc_rate = extras["acceptance_all"][0]
            extras["divergent_transitions_all"] = n_divergent.view(K, B)
            extras["divergent_transitions"] = extras["divergent_transitions_all"][0]
        result = SamplerResult(x=final_x[0], acceptance_rate=acc_rate, energy=final_e[0], trajectory=traj,
                               step_size=None if binary else kern.step_size, diverged=diverged, extras=extras)
        runaway = chain_health(x0, e0, final_x[0], final_e[0])
        finish_run(result, "ParallelTempering", "lower the kernel step size or the maximum temperature", runaway=runaway,
                   n_steps=n_steps * self.swap_every, frozen_fix="lower the kernel's step_size (at T = 1 it is used as given)")
        return result
