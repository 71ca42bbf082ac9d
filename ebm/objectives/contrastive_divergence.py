"""Contrastive divergence (CD-k), persistent CD, replay-buffer CD and parallel-tempering PCD.

The maximum-likelihood gradient of an energy model is

    ∇θ NLL = E_data[∇θ F(x)] - E_model[∇θ F(x)],

and CD replaces the model expectation by samples ``x⁻`` from a short MCMC run. The surrogate loss

    L = mean F(x⁺) - mean F(x⁻.detach())  [+ α · mean(F(x⁺)² + F(x⁻)²)]

has exactly this gradient (the negatives are constants). Where the chains start makes the method:

* CD-k (Hinton 2002): k sweeps from the data batch.
* PCD (Tieleman 2008): chains persist across updates (a registered buffer ``chains``, so they
  travel with checkpoints).
* Replay buffer (Du & Mordatch 2019, arXiv:1903.08689): each step starts from a stored past
  negative, or from noise with probability ``reinit_prob``; the optional penalty α(E(x⁺)² + E(x⁻)²)
  keeps the energy magnitudes bounded for neural energies.
* Parallel-tempering PCD (Desjardins et al. 2010): pass a ``samplers.ParallelTempering`` sampler
  with ``persistent=True``; the T = 1 replica persists and the hotter replicas are re-seeded from
  it at each update (the sampler's interface copies ``x0`` to every temperature).

The sampler is any object with ``run(energy, x0, n_steps, *, generator) -> result`` and
``result.x``: ``samplers.SingleSiteGibbs`` for Boltzmann machines, ``samplers.ULA``/``MALA`` for
continuous energies, ``samplers.ParallelTempering``; ``sampler=None`` picks block Gibbs
(h | v, v | h) for RBMs and single-site Gibbs for other binary energies.

References: Hinton (2002), "Training Products of Experts by Minimizing Contrastive Divergence";
Tieleman (2008), "Training Restricted Boltzmann Machines using Approximations to the Likelihood
Gradient"; Desjardins, Courville, Bengio, Vincent & Delalleau (2010), "Tempered Markov Chain Monte
Carlo for training of Restricted Boltzmann Machines"; Du & Mordatch (2019), "Implicit Generation and
Generalization in Energy-Based Models", arXiv:1903.08689.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_int, check_nonnegative, check_probability, check_tensor, format_error, trusted_inputs
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["ContrastiveDivergence", "rbm_block_gibbs"]


def rbm_block_gibbs(model, *, compile: bool | str = "auto"):
    """A ``samplers.BlockGibbs`` over the state ``(h, v)`` of an RBM: each step draws h | v, then v | h.

    The blocks are named ``"h"`` and ``"v"`` and their event shapes checked: pass
    ``x0={"h": h0, "v": v0}`` (a tuple ``(h0, v0)`` works while n_hidden != n_visible; swapped
    blocks raise).

    ``compile=True`` fuses each sweep (two matrix products, and the sigmoid, uniform draw and
    comparison of each layer in one vectorised loop); the default "auto" does so once the
    sampler's work repays the compilation; see `samplers.BlockGibbs`.
    """
    from samplers.gibbs import BlockGibbs

    return BlockGibbs([
        lambda blocks, g: model.sample_h(blocks[1], generator=g),
        lambda blocks, g: model.sample_v(blocks[0], generator=g),
    ], names=("h", "v"), event_shapes=((model.n_hidden,), (model.n_visible,)) if hasattr(model, "n_visible") else None, compile=compile)


def _is_rbm(model) -> bool:
    return all(hasattr(model, name) for name in ("sample_h", "sample_v", "n_hidden"))


def _is_binary(model) -> bool:
    return hasattr(model, "flip_energy_deltas")


class ContrastiveDivergence(nn.Module):
    """CD-k / PCD / replay-buffer CD with any sampler: ``loss = mean F(x⁺) - mean F(x⁻)``.

        ∇θ L = E_{x⁺ ~ data}[∇θ F(x⁺)] - E_{x⁻ ~ k MCMC steps}[∇θ F(x⁻)]   (+ α ∇θ mean(F(x⁺)² + F(x⁻)²))

    Reference: Hinton (2002); Tieleman (2008); Du & Mordatch (2019), arXiv:1903.08689.

    Args:
        sampler: an object with ``run(energy, x0, n_steps, *, generator)`` whose result has ``x``;
            None (default) chooses block Gibbs for RBMs and single-site Gibbs for binary energies.
        k: MCMC steps (sweeps) per update.
        persistent: keep the chains between updates (PCD) in the buffer ``chains``.
        n_chains: number of persistent chains (default: the first batch's size).
        replay_buffer_size: > 0 turns on the Du & Mordatch replay buffer (implies persistence).
        reinit_prob: with a replay buffer, the chance that a chain restarts from noise.
        noise: ``(shape, generator, reference) -> x`` drawing restart states; default Bernoulli(½)
            for binary energies and uniform over the first batch's bounding box (widened by half
            its size on each side) for continuous ones.
        energy_penalty: α ≥ 0 of the energy-magnitude regulariser.

    Raises:
        ValueError: bad k, sizes, probabilities; an empty batch; a continuous energy without a sampler.

    Example:
        >>> from ebm.energies import BernoulliRBM
        >>> rbm = BernoulliRBM(9, 6)
        >>> cd = ContrastiveDivergence(k=1, persistent=True)
        >>> loss = cd(rbm, torch.bernoulli(torch.full((16, 9), 0.5)))
        >>> loss.backward()
    """

    def __init__(self, sampler=None, k: int = 1, persistent: bool = False, *, n_chains: int | None = None,
                 replay_buffer_size: int = 0, reinit_prob: float = 0.05, noise=None, energy_penalty: float = 0.0):
        super().__init__()
        if sampler is not None and not callable(getattr(sampler, "run", None)):
            raise TypeError(format_error("sampler", "an object with run(energy, x0, n_steps, generator=)", type(sampler).__name__, "pass e.g. samplers.SingleSiteGibbs() or samplers.ULA(0.01)"))
        self.sampler = sampler
        self.k = check_int("k", k, minimum=1)
        self.replay_buffer_size = check_int("replay_buffer_size", replay_buffer_size, minimum=0)
        self.persistent = bool(persistent) or self.replay_buffer_size > 0
        self.n_chains = None if n_chains is None else check_int("n_chains", n_chains, minimum=1)
        self.reinit_prob = check_probability("reinit_prob", reinit_prob, open_interval=False)
        if noise is not None and not callable(noise):
            raise TypeError(format_error("noise", "a callable (shape, generator, reference) -> tensor", type(noise).__name__, "pass a function or None"))
        self.noise = noise
        self.energy_penalty = check_nonnegative("energy_penalty", energy_penalty)
        # Lazily sized state (shapes known at the first batch); registered so checkpoints carry it.
        self.register_buffer("chains", None)
        self.register_buffer("noise_low", None)
        self.register_buffer("noise_high", None)
        self.register_buffer("buffer_count", torch.zeros((), dtype=torch.long))

    _LAZY = ("chains", "noise_low", "noise_high")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self._LAZY:
            if prefix + name in state_dict and getattr(self, name) is None:
                saved = state_dict[prefix + name]
                setattr(self, name, torch.empty_like(saved))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ negatives
    def _noise(self, model, shape, reference: Tensor, generator) -> Tensor:
        if self.noise is not None:
            return self.noise(shape, generator, reference)
        if _is_binary(model):
            return torch.bernoulli(torch.full(shape, 0.5, dtype=reference.dtype, device=reference.device), generator=generator)
        u = torch.rand(shape, generator=generator, dtype=reference.dtype, device=reference.device)
        return self.noise_low + u * (self.noise_high - self.noise_low)

    def _start(self, model, batch: Tensor, generator) -> Tensor:
        if not self.persistent:
            return batch.detach()
        if self.noise_low is None and self.noise is None and not _is_binary(model):
            lo, hi = batch.detach().amin(0), batch.detach().amax(0)
            pad = 0.5 * (hi - lo) + 1e-3
            self.noise_low, self.noise_high = lo - pad, hi + pad
        if self.replay_buffer_size > 0:
            return self._from_replay(model, batch, generator)
        if self.chains is None:
            n = self.n_chains or batch.shape[0]
            idx = torch.randint(batch.shape[0], (n,), generator=generator, device=batch.device) if n != batch.shape[0] else slice(None)
            self.chains = batch.detach()[idx].clone()  # PCD starts at the data
        return self.chains

    def _from_replay(self, model, batch: Tensor, generator) -> Tensor:
        n, event = batch.shape[0], batch.shape[1:]
        if self.chains is None:
            self.chains = self._noise(model, (self.replay_buffer_size, *event), batch, generator)
        fresh = self._noise(model, (n, *event), batch, generator)
        idx = torch.randint(self.replay_buffer_size, (n,), generator=generator, device=batch.device)
        u = torch.rand((n,), generator=generator, device=batch.device)
        # The buffer starts as noise, so early draws from it are restarts too.
        use_noise = (u < self.reinit_prob).view(n, *([1] * len(event)))
        self._replay_idx = idx
        return torch.where(use_noise, fresh, self.chains[idx])

    def _store(self, negatives: Tensor) -> None:
        if not self.persistent:
            return
        if self.replay_buffer_size > 0:
            self.chains[self._replay_idx] = negatives
            self.buffer_count += negatives.shape[0]
        else:
            self.chains = negatives

    def _sample(self, model, x0: Tensor, generator) -> Tensor:
        sampler = self.sampler
        if sampler is None and _is_rbm(model):
            h0 = torch.zeros((*x0.shape[:-1], model.n_hidden), dtype=x0.dtype, device=x0.device)
            return rbm_block_gibbs(model).run(None, {"h": h0, "v": x0}, self.k, generator=generator).x[1]
        if sampler is None and _is_binary(model):
            from samplers.gibbs import SingleSiteGibbs

            sampler = SingleSiteGibbs()
        if sampler is None:
            raise ValueError(
                format_error("sampler", "a sampler for a continuous energy", "None", "pass e.g. samplers.ULA(step_size=0.01) or samplers.MALA(0.01)")
            )
        return sampler.run(model, x0, self.k, generator=generator).x

    def negatives(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw the negative samples for ``batch`` (and advance the persistent state): ``(n_neg, *event)``."""
        with torch.no_grad():
            x0 = self._start(model, batch, generator)
            neg = self._sample(model, x0, generator).detach()
            self._store(neg)
        return neg

    def analytic_gradient(self, model, data):
        """A step ``(batch, generator) -> loss`` that writes this objective's gradient into ``.grad``, or None.

        Used by `ebm.train.train` in place of ``loss.backward()`` where the gradient has a closed
        form: CD-k and PCD with block Gibbs on a `BernoulliRBM` (see
        `ebm.objectives.rbm_cd_gradient`). The estimator, the random draws and the persistent
        chains are those of `forward`; only autograd and the per-batch checks are skipped (``data``
        is checked once). None for every other configuration.
        """
        from ebm.objectives.rbm_cd_gradient import rbm_cd_gradient_step

        return rbm_cd_gradient_step(self, model, data)

    # ------------------------------------------------------------------ the loss
    def forward(self, model, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Surrogate loss ``mean F(x⁺) - mean F(x⁻)`` (+ penalty); ``batch: (n, *event_shape)`` → scalar."""
        check_tensor("batch", batch, min_ndim=1, floating=True)
        check_batch("batch", batch)
        model.check_input(batch, "batch")
        neg = self.negatives(model, batch, generator=generator)
        with trusted_inputs():  # the batch was checked above; the sampler's output is valid by construction
            pos_e = model(batch)  # (n,)
            neg_e = model(neg)  # (n_neg,)
        loss = pos_e.mean() - neg_e.mean()
        if self.energy_penalty > 0:
            loss = loss + self.energy_penalty * ((pos_e**2).mean() + (neg_e**2).mean())
        return loss

    def extra_repr(self) -> str:
        return f"k={self.k}, persistent={self.persistent}, replay_buffer_size={self.replay_buffer_size}, energy_penalty={self.energy_penalty:g}"


def _cd_example():
    from ebm.energies import BernoulliRBM

    g = torch.Generator().manual_seed(0)
    rbm = BernoulliRBM(6, 4, weight_scale=0.5, generator=g)
    batch = torch.bernoulli(torch.full((8, 6), 0.5), generator=g)
    return ContrastiveDivergence(k=1, persistent=True), (rbm, batch)


def _cd_bad_batch():
    objective, (rbm, batch) = _cd_example()
    return objective(rbm, batch * 0.5)


def _cd_empty_batch():
    objective, (rbm, batch) = _cd_example()
    return objective(rbm, batch[:0])


register_objective(
    "contrastive_divergence",
    example=_cd_example,
    bad_inputs=[
        (lambda: ContrastiveDivergence(k=0), ValueError, "k"),
        (lambda: ContrastiveDivergence(reinit_prob=2.0), ValueError, "reinit_prob"),
        (lambda: ContrastiveDivergence(sampler=3), TypeError, "sampler"),
        (_cd_bad_batch, ValueError, "binary"),
        (_cd_empty_batch, ValueError, "batch"),
    ],
)(ContrastiveDivergence)
