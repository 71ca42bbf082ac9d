"""Gibbs with gradients: a gradient-informed single-site proposal for discrete energies, made exact
by a Metropolis-Hastings test.

Grathwohl, Swersky, Hashemi, Duvenaud & Maddison (2021), "Oops I Took A Gradient: Scalable Sampling
for Discrete Distributions", ICML, arXiv:2102.04509. With ``f = -E`` (the un-normalised log
probability) extended to real inputs, the first-order Taylor estimate of the change in ``f`` when
site i of a binary ``x ∈ {0, 1}^D`` flips is

    d̃_i(x) = -(2x_i - 1) ∂f/∂x_i(x),

and the proposal flips site i with probability ``q(i | x) = softmax(d̃(x) / 2)_i`` (eq. 4–5). The
move to ``x'`` is accepted with ``min(1, exp(f(x') − f(x)) · q(i | x') / q(i | x))``, so the chain
leaves ``p ∝ exp(-E)`` exactly invariant whatever the quality of the Taylor estimate.

Categorical (Potts) variables, one-hot along the last event dimension (``x: (batch, D, K)``): the
estimated change of moving site i from its category to k is ``∂f/∂x_{ik} − Σ_c x_{ic} ∂f/∂x_{ic}``,
and the proposal is the softmax of half of it over all (i, k) with k not the current category.

One energy-and-gradient evaluation per step (at the proposal; the current state's is cached).
"""

from __future__ import annotations

import torch

from ._base import SamplerResult, chain_health, check_energy_output, check_x0_against_energy, energy_and_score_fn, finish_run, validate_x0
from .validation import check_generator, check_int, format_error, trusted_inputs

__all__ = ["GibbsWithGradients"]


class GibbsWithGradients:
    """Gibbs-with-gradients over a binary (or one-hot categorical) energy; chains are the batch.

    The energy must accept real-valued inputs of the same shape and be differentiable there (true
    of Boltzmann machines, RBM free energies, Ising/Potts models and neural energies on {0, 1}).

    Args:
        categorical: False (default): ``x (batch, D)`` in {0, 1}. True: ``x (batch, D, K)`` one-hot
            along the last dimension (Potts / categorical variables).
        thin: keep every ``thin``-th state in ``result.trajectory``.
        record_energies: keep ``(n_steps, batch)`` energies.

    Returns (from ``run``): SamplerResult with per-chain ``acceptance_rate``.

    Example:
        >>> J = torch.randn(10, 10); J = (J + J.T) / 4; J.fill_diagonal_(0)
        >>> E = lambda x: -0.5 * ((x @ J) * x).sum(-1)
        >>> r = GibbsWithGradients().run(E, torch.zeros(64, 10), 200)
        >>> r.x.shape
        torch.Size([64, 10])
    """

    def __init__(self, *, categorical: bool = False, thin: int | None = None, record_energies: bool = False):
        if not isinstance(categorical, bool):
            raise TypeError(format_error("categorical", "a bool", repr(categorical), "pass categorical=True for one-hot inputs"))
        self.categorical = categorical
        self.thin = None if thin is None else check_int("thin", thin, minimum=1)
        self.record_energies = bool(record_energies)

    def _check_states(self, x0: torch.Tensor) -> None:
        if self.categorical:
            if x0.dim() != 3:
                raise ValueError(format_error("x0", "one-hot states of shape (batch, sites, categories)", f"shape {tuple(x0.shape)}", "one-hot encode: torch.nn.functional.one_hot(labels, K).float()"))
            one_hot = bool(((x0 == 0) | (x0 == 1)).all()) and bool((x0.sum(-1) == 1).all())
            if not one_hot:
                raise ValueError(format_error("x0", "one-hot rows along the last dimension", "rows that are not one-hot", "one-hot encode: torch.nn.functional.one_hot(labels, K).float()"))
        else:
            if x0.dim() != 2:
                raise ValueError(format_error("x0", "binary states of shape (batch, units)", f"shape {tuple(x0.shape)}", "flatten each state: x0.flatten(1)"))
            if not bool(((x0 == 0) | (x0 == 1)).all()):
                raise ValueError(format_error("x0", "entries in {0, 1}", "other values", "binarise: (x0 > 0.5).float()"))

    def _flip_logits(self, x: torch.Tensor, grad_f: torch.Tensor) -> torch.Tensor:
        """Half the estimated change of f for every single-site move, flattened to ``(batch, moves)``."""
        if self.categorical:
            current = (x * grad_f).sum(-1, keepdim=True)  # (batch, D, 1)
            d = (grad_f - current).masked_fill(x.bool(), float("-inf"))  # (batch, D, K); staying is not a move
            return (d / 2).flatten(1)
        return (-(2 * x - 1) * grad_f / 2).flatten(1)  # (batch, D)

    def _apply(self, x: torch.Tensor, move: torch.Tensor) -> torch.Tensor:
        """The state after move ``move (batch,)`` (an index into the flattened moves)."""
        out = x.clone()
        rows = torch.arange(x.shape[0], device=x.device)
        if self.categorical:
            k = x.shape[-1]
            site, cat = move // k, move % k
            out[rows, site] = 0
            out[rows, site, cat] = 1
        else:
            out[rows, move] = 1 - out[rows, move]
        return out

    def _reverse_move(self, x: torch.Tensor, move: torch.Tensor) -> torch.Tensor:
        """The index of the move that undoes ``move`` from the new state."""
        if not self.categorical:
            return move
        k = x.shape[-1]
        site = move // k
        old_category = x.argmax(-1).gather(1, site[:, None]).squeeze(1)  # (batch,)
        return site * k + old_category

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None) -> SamplerResult:
        """Run ``n_steps`` Gibbs-with-gradients steps from ``x0``.

        Args:
            energy: callable ``(batch, *event) -> (batch,)``, differentiable in x.
            x0: ``(batch, D)`` binary states, or ``(batch, D, K)`` one-hot with ``categorical=True``.
            n_steps: steps (>= 1); each proposes one single-site move per chain.
            generator: torch.Generator on x0's device, or None.

        Raises:
            ValueError/TypeError: bad arguments, states or energy output.
            SamplerDivergedError: some chains reached a non-finite energy.
        """
        x0 = check_x0_against_energy(validate_x0(x0), energy)
        self._check_states(x0)
        n_steps = check_int("n_steps", n_steps, minimum=1)
        check_generator("generator", generator, x0.device)
        fn = energy_and_score_fn(energy)
        batch = x0.shape[0]
        thin = self.thin
        traj = torch.empty((n_steps // thin, *x0.shape), dtype=x0.dtype, device=x0.device) if thin else None
        energies = torch.empty((n_steps, batch), dtype=x0.dtype, device=x0.device) if self.record_energies else None
        n_accept = torch.zeros(batch, dtype=x0.dtype, device=x0.device)
        with torch.no_grad(), trusted_inputs():
            x = x0.clone()
            e, s = fn(x)  # s = -∇E = ∇f
            check_energy_output(e, s, x)
            e_start = e
            logits = self._flip_logits(x, s)
            log_q = logits.log_softmax(1)  # (batch, moves)
            u = torch.rand((n_steps, batch), generator=generator, dtype=x.dtype, device=x.device).log_()  # (n_steps, batch)
            for t in range(n_steps):
                move = torch.multinomial(log_q.exp(), 1, generator=generator).squeeze(1)  # (batch,)
                x_new = self._apply(x, move)
                e_new, s_new = fn(x_new)
                logits_new = self._flip_logits(x_new, s_new)
                log_q_new = logits_new.log_softmax(1)
                back = self._reverse_move(x, move)
                log_alpha = (e - e_new) + log_q_new.gather(1, back[:, None]).squeeze(1) - log_q.gather(1, move[:, None]).squeeze(1)
                accept = u[t] < log_alpha  # (batch,); a NaN log α rejects
                n_accept.add_(accept)
                mask = accept.view((-1,) + (1,) * (x.dim() - 1))
                x = torch.where(mask, x_new, x)
                e = torch.where(accept, e_new, e)
                log_q = torch.where(accept[:, None], log_q_new, log_q)
                if traj is not None and (t + 1) % thin == 0:
                    traj[(t + 1) // thin - 1].copy_(x)
                if energies is not None:
                    energies[t].copy_(e)
        diverged = ~torch.isfinite(e)
        result = SamplerResult(x=x, acceptance_rate=n_accept / n_steps, energy=e, trajectory=traj, energies=energies, diverged=diverged)
        return finish_run(result, "GibbsWithGradients", "check the energy at binary states", runaway=chain_health(x0, e_start, x, e), n_steps=n_steps, frozen_fix="check that the energy is smooth in x on [0, 1] (the proposal follows its gradient)")
