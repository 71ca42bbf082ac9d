"""Hamiltonian Monte Carlo with leapfrog integration, per-chain accept and step-size adaptation.

Augment x with a momentum p ~ N(0, M) (M a diagonal mass matrix) and simulate the Hamiltonian
``H(x, p) = E(x) + ½ pᵀ M⁻¹ p`` with L leapfrog steps of size ε::

    p ← p + ε/2 · s(x);   x ← x + ε M⁻¹ p;   p ← p + ε/2 · s(x)      (s = -∇E, repeated L times)

then accept the end point with probability ``min(1, exp(H(x, p) - H(x', p')))`` (per chain).
Reference: Neal (2011), "MCMC using Hamiltonian dynamics", Handbook of MCMC, arXiv:1206.1901.
Warm-up adaptation is the per-chain dual averaging of Hoffman & Gelman (2014), arXiv:1111.4246.
"""

from __future__ import annotations

import torch

from ._base import GradientSampler, axpy
from .validation import check_int, check_tensor, format_error

__all__ = ["HMC"]


class HMC(GradientSampler):
    """HMC over any energy ``(batch, *event) -> (batch,)``; chains are the batch dimension.

    Each step costs ``n_leapfrog`` energy-and-score evaluations; the energy and score of the
    current state are cached, so a rejected trajectory costs nothing extra.

    Args:
        step_size: leapfrog ε > 0 (initial value when adapting).
        n_leapfrog: leapfrog steps per proposal L >= 1.
        mass: optional diagonal mass matrix, positive tensor of shape ``event`` (broadcast over
            chains); None means the identity. A good choice is 1 / (posterior variance).
        warmup_steps, adapt_step_size, adaptation (default ``"shared"``: one ε for every chain),
            target_acceptance (default 0.65), thin, record_energies, compile: as in MALA
            (compile unrolls the L leapfrog steps into one fused step).

    A trajectory whose energy error ``ΔH = H(x', p') - H(x, p)`` exceeds 1000 (or is NaN) is a
    *divergent transition* in Stan's sense (Betancourt 2017, arXiv:1701.02434): it is rejected,
    the chain stays put and remains valid, and it is counted per chain in
    ``result.extras["divergent_transitions"]``. Only a chain whose state or current energy turns
    non-finite raises `SamplerDivergedError`.

    Returns (from ``run``): SamplerResult with per-chain ``acceptance_rate`` and
    ``extras["divergent_transitions"]`` ``(batch,)``; warns `SamplerWarning` when chains freeze.

    Example:
        >>> r = HMC(0.2, n_leapfrog=10).run(lambda x: 0.5 * (x ** 2).sum(-1), torch.zeros(50, 3), 200)
        >>> r.acceptance_rate.mean() > 0.9
        tensor(True)
    """

    target_acceptance = 0.65

    def __init__(self, step_size: float, n_leapfrog: int = 10, *, mass: torch.Tensor | None = None, **kwargs):
        super().__init__(step_size, **kwargs)
        self.n_leapfrog = check_int("n_leapfrog", n_leapfrog, minimum=1)
        if mass is not None:
            mass = check_tensor("mass", mass, floating=True, finite=True)
            if bool((mass <= 0).any()):
                raise ValueError(format_error("mass", "a positive diagonal mass matrix", "non-positive entries", "pass e.g. 1 / variance estimates, all > 0"))
        self.mass = mass

    def _init_state(self, fn, x):
        if self.mass is not None and tuple(self.mass.shape) != tuple(x.shape[1:]):
            raise ValueError(format_error("mass", f"shape {tuple(x.shape[1:])} (the event shape)", f"shape {tuple(self.mass.shape)}", "pass one mass per coordinate of a single chain"))
        if self.mass is not None:
            self._m = self.mass.to(x)
            self._sqrt_m, self._inv_m = self._m.sqrt(), self._m.reciprocal()
        return super()._init_state(fn, x)

    def _step(self, fn, st, eps, sqrt2eps, noise, threshold, partial):
        half = eps / 2 if not isinstance(eps, torch.Tensor) else eps * 0.5
        if self.mass is None:
            p = noise.clone()
            step_x = eps
        else:
            p = noise * self._sqrt_m  # p ~ N(0, M); its kinetic energy ½ pᵀM⁻¹p = ½|ξ|² is in the loop's threshold
            step_x = eps * self._inv_m
        x, s = st.x, st.score
        p = axpy(p, half, s)
        e = None
        for l in range(self.n_leapfrog):
            x = axpy(x, step_x, p) if self.mass is None else torch.addcmul(x, step_x, p)
            e, s = fn(x)
            if l < self.n_leapfrog - 1:
                p = axpy(p, eps, s)
        p = axpy(p, half, s)
        pk = p.square() if self.mass is None else p.square() * self._inv_m
        k1 = 0.5 * (pk.flatten(1).sum(1) if pk.dim() > 1 else pk)  # (batch,)
        torch.sub(st.energy, e, out=partial).sub_(k1)  # log α - ½|ξ|² = E(x) - E(x') - K(p')
        accept = threshold < partial
        mask = accept.view((-1,) + (1,) * (x.dim() - 1))
        st.x = torch.where(mask, x, st.x)
        st.energy = torch.where(accept, e, st.energy)
        st.score = torch.where(mask, s, st.score)
