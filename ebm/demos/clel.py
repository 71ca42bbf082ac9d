"""CLEL on 2-D data: the training recipe behind ``examples/20_conjugate_and_clel.py`` and the issue-#18
principles table (`fit_2d`)."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ebm._validation import check_positive
from ebm.augment import GaussianJitter
from ebm.energies import CLELEnergy
from ebm.objectives import CLEL
from ebm.train import train

__all__ = ["fit_2d", "make_model", "make_objective", "ShortRunLangevin"]


class ShortRunLangevin:
    """Short-run Langevin with the gradient step and the noise set apart, as image EBMs are sampled.

    ``x ← clamp(x - λ ∇E(x) + σ ξ)``, ξ ~ N(0, I): the CLEL authors' sampler (step 100, noise 0.001 on
    CIFAR-10; Du & Mordatch 2019, arXiv:1903.08689). It is exactly `samplers.ULA` with step
    ``ε = σ²/2`` on the tempered energy ``E / T``, ``T = σ² / (2λ)``, so this class runs that, with
    the per-chain score clipped so no step moves a chain by more than ``max_move``. A sampler in the
    ``run(energy, x0, n_steps, *, generator)`` sense, so `ebm.objectives.ContrastiveDivergence` and
    `ebm.objectives.CLEL` take it. ULA's run-away warning is silenced inside: its threshold is in
    nats, and at T ~ 1e-6 ordinary moves change ``E / T`` by thousands.

    Args:
        step: λ > 0, the gradient step.
        noise: σ > 0, the noise's standard deviation per step.
        max_move: cap on ``ε·‖score‖`` per step (the score clip).
        clamp: ``(low, high)`` box for the states (e.g. ``(0, 1)`` for images), or None.

    Raises:
        ValueError: a step, noise or cap that is not positive (and ULA's own checks).

    Example:
        >>> sampler = ShortRunLangevin(step=10.0, noise=0.005, clamp=(0.0, 1.0))
        >>> x = sampler.run(energy, torch.rand(16, 64), 40).x          # (16, 64) short-run samples
    """

    def __init__(self, step: float, noise: float, *, max_move: float = 0.03, clamp: tuple[float, float] | None = None):
        from samplers import ULA

        self.step, self.noise = check_positive("step", step), check_positive("noise", noise)
        self.epsilon, self.temperature = self.noise**2 / 2, self.noise**2 / (2 * self.step)
        self.ula = ULA(self.epsilon, grad_clip=check_positive("max_move", max_move) / self.epsilon, clamp=clamp)

    def run(self, energy, x0: torch.Tensor, n_steps: int, *, generator: torch.Generator | None = None):
        from samplers import SamplerWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SamplerWarning)
            return self.ula.run(lambda x: energy(x) / self.temperature, x0, n_steps, generator=generator)


def make_model(*, latent_dim: int = 8, beta: float = 1.0, generator: torch.Generator | None = None) -> CLELEnergy:
    """The 2-D CLEL energy used here: f a 64-64 tanh MLP to R^16, a 64-unit projection head, confining term 0.01‖x‖²/2."""
    return CLELEnergy(2, feature_dim=16, latent_dim=latent_dim, hidden=(64, 64), projection_hidden=64, beta=beta, quadratic=0.01, generator=generator)


def make_objective(*, latent_dim: int = 8, jitter: float = 0.1, langevin_steps: int = 10, generator: torch.Generator | None = None) -> CLEL:
    """CLEL with a 64-64 tanh MLP encoder, Gaussian-jitter views and replay-buffer ULA negatives (0.005, clipped)."""
    from samplers import ULA

    encoder = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, latent_dim))
    if generator is not None:
        with torch.no_grad():
            for p in encoder.parameters():
                p.uniform_(-1, 1, generator=generator).mul_(1 / p.shape[-1] ** 0.5)
    return CLEL(encoder, GaussianJitter(jitter), sampler=ULA(0.005, grad_clip=10.0), k=langevin_steps, replay_buffer_size=4096, energy_penalty=0.1, temperature=0.2)


def fit_2d(x: torch.Tensor, *, steps: int, generator: torch.Generator, batch_size: int = 256, lr: float = 5e-3, langevin_steps: int = 10,
           beta: float = 1.0, return_objective: bool = False):
    """Train a `make_model` CLEL energy (and its encoder) on standardised 2-D data ``x (n, 2)`` for ``steps`` updates.

    ``beta`` is the vMF concentration: larger values make the latent guide sampling more strongly
    and, on 8 Gaussians at 250 steps, cost held-out likelihood (BENCHMARKS.md, "Conjugate EBMs and CLEL").

    Returns:
        The trained `CLELEnergy` (``exp(-E(x))`` is its unnormalised marginal density); with
        ``return_objective=True``, ``(energy, objective)`` so the trained encoder can guide sampling.
    """
    init = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
    model = make_model(beta=beta, generator=init)
    objective = make_objective(generator=init)
    n = x.shape[0]
    batches = lambda g: x[torch.randint(n, (batch_size,), generator=g)]  # noqa: E731  (batch_size rows per update)
    train(model, objective, batches, epochs=1, steps_per_epoch=steps, lr=lr, max_grad_norm=10.0, generator=generator, progress=False)
    return (model, objective) if return_objective else model
