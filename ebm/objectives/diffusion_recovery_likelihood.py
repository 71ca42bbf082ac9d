"""Diffusion recovery likelihood (Gao, Song, Poole, Wu & Kingma, 2021): train an EBM at every level
of a diffusion by maximising the likelihood of recovering each level from the next, noisier one.
The conditional is nearly unimodal, so short-run Langevin samples it well."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_positive, format_error
from ebm.energy import Energy
from ebm.objectives._common import check_continuous_data, check_energy
from ebm.registry import register_objective

__all__ = ["DiffusionRecoveryLikelihood"]


def _quadratic(d=2):
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(d)


def _nc_model():
    from ebm.energies.noise_conditional import NoiseConditionalEnergy

    return NoiseConditionalEnergy(2, hidden=8, generator=torch.Generator().manual_seed(0))


def _example():
    g = torch.Generator().manual_seed(0)
    return DiffusionRecoveryLikelihood([0.3, 0.5], langevin_steps=3), (_nc_model(), torch.randn(16, 2, generator=g))


@register_objective(
    "diffusion_recovery_likelihood",
    example=_example,
    bad_inputs=[
        (lambda: DiffusionRecoveryLikelihood([]), ValueError, "sigmas"),
        (lambda: DiffusionRecoveryLikelihood([0.5, 1.0]), ValueError, "sigmas"),
        (lambda: DiffusionRecoveryLikelihood([0.5], langevin_steps=0), ValueError, "langevin_steps"),
        (lambda: DiffusionRecoveryLikelihood([0.5], step_ratio=0.0), ValueError, "step_ratio"),
        (lambda: DiffusionRecoveryLikelihood([0.3, 0.5])(_quadratic(), torch.zeros(4, 2)), TypeError, "noise-conditional"),
        (lambda: DiffusionRecoveryLikelihood([0.5])(_quadratic(), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
        (lambda: DiffusionRecoveryLikelihood([0.5]).sample(_quadratic(), 0), ValueError, "n"),
    ],
)
class DiffusionRecoveryLikelihood(nn.Module):
    """DRL: maximise ``Σ_t log p_θ(x̃_t | x̃_{t+1})`` along a variance-preserving diffusion.

    The schedule: ``x̃_0 = x`` (data) and ``x̃_{t+1} = a_{t+1} x̃_t + σ_{t+1} ε`` with
    ``a_t = √(1 - σ_t²)`` for ``t = 0 … T-1`` (``sigmas = (σ_1, …, σ_T)``, each in (0, 1)), so the marginal
    of level ``t`` is ``ā_t x + s_t ε`` with ``ā_t = Π_{i≤t} a_i``, ``s_t = √(1 - ā_t²)``. The model is an
    energy per level, ``E_θ(x̃, t)``; the conditional it implies is

        ``E_θ(x̃_t | x̃_{t+1}) = E_θ(x̃_t, t) + ‖x̃_{t+1} - a_{t+1} x̃_t‖² / (2 σ_{t+1}²)``

    whose quadratic term confines it near ``x̃_{t+1} / a_{t+1}``. Its log-likelihood gradient is
    ``E_{p_θ(·|x̃_{t+1})}[∇θ E_θ(x̃, t)] - ∇θ E_θ(x̃_t, t)``, so the loss is

        ``L(θ) = mean_batch [ E_θ(x̃_t, t) - E_θ(x̃⁻_t, t) ]``,  ``t ~ U{0, …, T-1}`` per row,

    with ``x̃⁻_t`` from ``K = langevin_steps`` Langevin steps on the conditional energy (step
    ``δ = step_ratio · σ_{t+1}``, started at ``x̃_{t+1} / a_{t+1}``, no gradient through the chain; with
    ``metropolis=True`` each step is MALA-corrected, exact for any ``K`` at equilibrium). Sampling runs
    the reverse chain: ``x̃_T ~ N(0, I)`` (the VP marginal's limit), then ``x̃_t ~ p_θ(·|x̃_{t+1})`` for
    ``t = T-1 … 0``.

    The energy of level ``t`` is called ``energy(x, s_{t+1})`` -- the level is labelled by the noise of
    the NEXT level, ``s_{t+1} > 0``, so an `ebm.energies.NoiseConditionalEnergy` serves every level and
    ``data_energy(energy)`` is ``energy.at(s_1)``, the model of the data itself. With one level
    (``T = 1``) any plain `ebm.Energy` works (called as ``energy(x)``): then the loss is the
    recovery likelihood of data from one noisy copy, consistent for the data distribution.

    Reference: Gao, Song, Poole, Wu & Kingma (2021), "Learning Energy-Based Models by Diffusion
    Recovery Likelihood", ICLR, arXiv:2012.08125. (The paper writes the conditional in the scaled
    variable ``y_t = a_{t+1} x̃_t``; this is the same model in ``x̃_t``.)

    Args:
        sigmas: ``(σ_1, …, σ_T)``, the per-step noise, each in (0, 1).
        langevin_steps: ``K >= 1`` (the paper uses 30).
        step_ratio: ``δ / σ_{t+1} > 0`` (Langevin step over the step's noise; default 0.3).
        metropolis: MALA-correct every Langevin step.

    Call args:
        energy: noise conditional (``energy(x, sigma)``, ``noise_conditional = True``) when ``T > 1``;
        x: data ``(batch, *event_shape)``; generator: draws levels, noise and the chains.

    Returns:
        The scalar loss.

    Raises:
        ValueError: empty ``sigmas`` or one outside (0, 1), ``K < 1``, ``step_ratio <= 0``.
        TypeError: ``T > 1`` with a plain energy, integer data, or a non-Energy.

    Example:
        >>> from ebm.energies import NoiseConditionalEnergy
        >>> drl = DiffusionRecoveryLikelihood([0.2, 0.4, 0.6, 0.8], langevin_steps=30)
        >>> loss = drl(NoiseConditionalEnergy(2, hidden=32), torch.randn(64, 2))
    """

    def __init__(self, sigmas: Sequence[float] | Tensor, *, langevin_steps: int = 30, step_ratio: float = 0.3, metropolis: bool = False):
        super().__init__()
        values = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
        if values.numel() == 0 or not bool(torch.isfinite(values).all()) or bool(((values <= 0) | (values >= 1)).any()):
            raise ValueError(format_error("sigmas", "a non-empty sequence of per-step noise levels in (0, 1)", repr(values.tolist()),
                                          "pass e.g. [0.2, 0.4, 0.6, 0.8] (a variance-preserving step needs σ < 1)"))
        self.langevin_steps = check_int("langevin_steps", langevin_steps, minimum=1)
        self.step_ratio = check_positive("step_ratio", step_ratio)
        self.metropolis = bool(metropolis)
        a = (1 - values**2).sqrt()  # (T,)
        a_bar = torch.cumprod(a, 0)  # (T,): ā_1 … ā_T
        self.register_buffer("sigmas", values.float())
        self.register_buffer("alphas", a.float())
        # s_t for t = 0 … T: the marginal noise of each level (s_0 = 0: the data).
        self.register_buffer("marginal", torch.cat([torch.zeros(1, dtype=torch.float64), (1 - a_bar**2).sqrt()]).float())

    @property
    def n_levels(self) -> int:
        return len(self.sigmas)

    def _energy(self, energy: Energy, x: Tensor, t: Tensor) -> Tensor:
        """``E_θ(x, t)`` for level indices ``t (batch,)``: ``energy(x, s_{t+1})``, or ``energy(x)`` when T = 1."""
        if not getattr(energy, "noise_conditional", False):
            return energy(x)
        return energy(x, self.marginal.to(device=x.device, dtype=x.dtype)[t + 1])

    def data_energy(self, energy: Energy) -> Energy:
        """The model of the data (level 0): ``energy.at(s_1)`` for a noise-conditional energy, else ``energy``."""
        if getattr(energy, "noise_conditional", False):
            return energy.at(float(self.marginal[1]))
        return energy

    def _check_energy(self, energy) -> None:
        check_energy(energy, "diffusion recovery likelihood")
        if self.n_levels > 1 and not getattr(energy, "noise_conditional", False):
            raise TypeError(format_error("energy", f"a noise-conditional energy (energy(x, sigma)) for {self.n_levels} levels", type(energy).__name__,
                                         "use ebm.energies.NoiseConditionalEnergy, or one level: DiffusionRecoveryLikelihood([sigma])"))

    def recover(self, energy: Energy, noisy: Tensor, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Short-run Langevin on ``p_θ(x̃_t | x̃_{t+1} = noisy)`` for level indices ``t (batch,)``; returns ``(batch, *event)``."""
        batch = noisy.shape[0]
        shape = (batch,) + (1,) * (noisy.dim() - 1)  # (batch, 1, …) for broadcasting
        a = self.alphas.to(noisy.dtype)[t].reshape(shape)
        sigma = self.sigmas.to(noisy.dtype)[t].reshape(shape)
        delta = self.step_ratio * sigma

        def cond(z):  # (batch,) conditional energy and its gradient in z
            with torch.enable_grad():
                z = z.detach().requires_grad_(True)
                e = self._energy(energy, z, t) + (noisy - a * z).pow(2).reshape(batch, -1).sum(-1) / (2 * sigma.reshape(batch) ** 2)
                (g,) = torch.autograd.grad(e.sum(), z)
            return e.detach(), g

        z = (noisy / a).detach()
        e, g = cond(z)
        for _ in range(self.langevin_steps):
            noise = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
            prop = z - 0.5 * delta**2 * g + delta * noise
            if not self.metropolis:
                z = prop
                e, g = cond(z) if _ < self.langevin_steps - 1 else (e, g)
                continue
            e_p, g_p = cond(prop)
            fwd = (prop - z + 0.5 * delta**2 * g).pow(2).reshape(batch, -1).sum(-1)  # ‖x' - x + δ²/2 ∇E(x)‖²
            bwd = (z - prop + 0.5 * delta**2 * g_p).pow(2).reshape(batch, -1).sum(-1)
            d2 = (delta**2).reshape(batch)
            log_alpha = e - e_p - (bwd - fwd) / (2 * d2)
            u = torch.rand(batch, generator=generator, dtype=z.dtype, device=z.device)
            accept = torch.log(u) < log_alpha  # (batch,)
            z = torch.where(accept.reshape(shape), prop, z)
            e, g = torch.where(accept, e_p, e), torch.where(accept.reshape(shape), g_p, g)
        return z.detach()

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self._check_energy(energy)
        check_continuous_data(energy, x, "diffusion recovery likelihood")
        batch = x.shape[0]
        shape = (batch,) + (1,) * (x.dim() - 1)
        t = torch.randint(self.n_levels, (batch,), generator=generator, device=generator.device if generator is not None else "cpu").to(x.device)
        a_bar = (1 - self.marginal.to(x.dtype)[t] ** 2).sqrt().reshape(shape)  # ā_t
        s = self.marginal.to(x.dtype)[t].reshape(shape)  # s_t
        x_t = a_bar * x + s * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)  # (batch, *event)
        a, sigma = self.alphas.to(x.dtype)[t].reshape(shape), self.sigmas.to(x.dtype)[t].reshape(shape)
        x_next = a * x_t + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        negatives = self.recover(energy, x_next, t, generator)
        return self._energy(energy, x_t, t).mean() - self._energy(energy, negatives, t).mean()

    @torch.no_grad()
    def sample(self, energy: Energy, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples ``(n, *event_shape)`` by the reverse chain from ``x̃_T ~ N(0, I)``."""
        self._check_energy(energy)
        n = check_int("n", n, minimum=1)
        check_generator("generator", generator)
        ref = next((p for p in energy.parameters()), None)
        dtype, device = (ref.dtype, ref.device) if ref is not None else (torch.get_default_dtype(), None)
        z = torch.randn((n, *energy.event_shape), generator=generator, dtype=dtype, device=device)
        for level in reversed(range(self.n_levels)):
            z = self.recover(energy, z, torch.full((n,), level, dtype=torch.long, device=z.device), generator)
        return z

    def extra_repr(self) -> str:
        return f"levels={self.n_levels}, langevin_steps={self.langevin_steps}, step_ratio={self.step_ratio:g}, metropolis={self.metropolis}"

