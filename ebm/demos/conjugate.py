"""Conjugate EBMs on 2-D data: the training recipe behind ``examples/20_conjugate_and_clel.py`` and the
issue-#18 principles table (`fit_2d`)."""

from __future__ import annotations

import torch

from ebm.energies import ConjugateEBM
from ebm.objectives import ContrastiveDivergence
from ebm.train import train

__all__ = ["fit_2d", "make_model", "make_objective"]


def make_model(*, n_components: int = 8, latent_dim: int = 2, generator: torch.Generator | None = None) -> ConjugateEBM:
    """The 2-D conjugate EBM used here: η from a 64-64 tanh MLP, a mixture-of-Gaussians bias, confining term 0.01‖x‖²/2."""
    return ConjugateEBM(2, latent_dim=latent_dim, n_components=n_components, hidden=(64, 64), learn_prior=True, quadratic=0.01, generator=generator)


def make_objective(*, langevin_steps: int = 10) -> ContrastiveDivergence:
    """Maximum likelihood of the marginal with replay-buffer Langevin negatives (ULA 0.005, clipped), as the paper trains."""
    from samplers import ULA

    return ContrastiveDivergence(ULA(0.005, grad_clip=10.0), k=langevin_steps, replay_buffer_size=4096, reinit_prob=0.05, energy_penalty=0.1)


def fit_2d(x: torch.Tensor, *, steps: int, generator: torch.Generator, batch_size: int = 256, lr: float = 5e-3, langevin_steps: int = 10) -> ConjugateEBM:
    """Train a `make_model` conjugate EBM on standardised 2-D data ``x (n, 2)`` for ``steps`` updates of ``batch_size``.

    Returns:
        The trained `ConjugateEBM`; ``exp(-E(x))`` is its (unnormalised) marginal density on the plane.
    """
    init = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
    model = make_model(generator=init)
    n = x.shape[0]
    batches = lambda g: x[torch.randint(n, (batch_size,), generator=g)]  # noqa: E731  (batch_size rows per update)
    train(model, make_objective(langevin_steps=langevin_steps), batches, epochs=1, steps_per_epoch=steps, lr=lr, max_grad_norm=10.0, generator=generator, progress=False)
    return model
