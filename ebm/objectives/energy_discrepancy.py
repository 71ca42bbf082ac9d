"""Energy discrepancy (Schröder, Ou, Lim, Li, Vollmer & Duncan, 2023): a loss that needs neither
scores nor MCMC, built by perturbing each datum twice and contrasting its energy with the energies
of the twice-perturbed points."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_int, check_nonnegative, check_positive, check_probability, check_tensor, format_error
from ebm.energy import Energy
from ebm.objectives._common import check_binary_data, check_continuous_data, check_energy
from ebm.registry import register_objective

__all__ = ["EnergyDiscrepancy"]


def _quadratic(d=2):
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(d)


def _example():
    g = torch.Generator().manual_seed(0)
    return EnergyDiscrepancy(0.5, n_negatives=4), (_quadratic(), torch.randn(16, 2, generator=g))


@register_objective(
    "energy_discrepancy",
    example=_example,
    bad_inputs=[
        (lambda: EnergyDiscrepancy(0.0), ValueError, "noise"),
        (lambda: EnergyDiscrepancy(0.5, n_negatives=0), ValueError, "n_negatives"),
        (lambda: EnergyDiscrepancy(0.5, w=-1.0), ValueError, "w"),
        (lambda: EnergyDiscrepancy(0.5, perturbation="uniform"), ValueError, "perturbation"),
        (lambda: EnergyDiscrepancy(1.5, perturbation="bernoulli"), ValueError, "noise"),
        (lambda: EnergyDiscrepancy(0.5)(_quadratic(), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
        (lambda: EnergyDiscrepancy(0.2, perturbation="bernoulli")(_quadratic(), torch.randn(4, 2)), ValueError, "binary"),
        (lambda: EnergyDiscrepancy(0.5, n_negatives=2)(_quadratic(), torch.zeros(4, 2), negatives=torch.zeros(4, 3, 2)), ValueError, "negatives"),
    ],
)
class EnergyDiscrepancy(nn.Module):
    """Energy discrepancy with ``M`` negatives and the ``w`` stabiliser.

    A perturbation ``q`` (here symmetric) takes each datum ``x`` to ``y ~ q(·|x)``, and ``y`` back to
    ``M`` points ``x'_j ~ q(·|y)``. The energy discrepancy ``E_data[E(x)] + E_data E_y[log ∫ q(y|x') e^{-E(x')} dx']``
    is minimised exactly by the data distribution (Schröder et al.); its Monte Carlo form is

        ``L(θ) = (1/N) Σ_i log( w/M + (1/M) Σ_j exp(E_θ(x_i) - E_θ(x'_{i,j})) )``.

    ``w > 0`` (the stabiliser) keeps the ``log`` bounded below when the negatives all have high
    energy; it adds ``x_i`` itself as a weighted negative and vanishes as ``M → ∞``. The loss needs no
    score, no Hessian and no sampler: ``(M + 1)`` energy evaluations per datum.

    Perturbations:
        ``"gaussian"``: ``y = x + σ ξ``, ``x'_j = y + σ ξ'_j`` with ``ξ, ξ'_j ~ N(0, I)`` (``noise`` = σ; the
        paper's heat-semigroup time is ``t = σ²``). Small ``σ`` approaches score matching, large ``σ``
        maximum likelihood (the paper's interpolation result).
        ``"bernoulli"``: for binary data, every bit is flipped independently with probability ``noise`` = ε
        to give ``y``, then again (independently for every ``j``) to give ``x'_j``: a symmetric
        perturbation of {0, 1}^D, the discrete construction of the same group's follow-up paper.

    References: Schröder, Ou, Lim, Li, Vollmer & Duncan (2023), "Energy Discrepancies: A
    Score-Independent Loss for Energy-Based Models", NeurIPS, arXiv:2307.06431; the Bernoulli
    perturbation: Schröder, Ou, Li & Duncan (2023), "Training Discrete Energy-Based Models with
    Energy Discrepancy".

    Args:
        noise: ``σ > 0`` (Gaussian) or the flip probability ``ε`` in (0, 1) (Bernoulli).
        n_negatives: ``M >= 1``.
        w: the stabiliser ``w >= 0`` (``w = 0`` is the plain, unstabilised estimator).
        perturbation: ``"gaussian"`` or ``"bernoulli"``.

    Call args:
        energy: an `ebm.Energy`; x: data ``(batch, *event_shape)`` (floating; {0, 1} for Bernoulli);
        generator: draws the perturbations; negatives: optional explicit ``x'`` of shape
        ``(batch, M, *event_shape)`` (exact tests, common random numbers).

    Returns:
        The scalar loss (mean over the batch).

    Raises:
        ValueError: a bad ``noise``, ``M``, ``w`` or ``perturbation``, non-binary data for the
            Bernoulli perturbation, or negatives of the wrong shape.
        TypeError: integer data or a non-Energy.

    Example:
        >>> from ebm.energies import QuadraticEnergy
        >>> loss = EnergyDiscrepancy(0.5, n_negatives=16)(QuadraticEnergy(2), torch.randn(64, 2))
    """

    def __init__(self, noise: float = 1.0, *, n_negatives: int = 16, w: float = 1.0, perturbation: str = "gaussian"):
        super().__init__()
        self.perturbation = check_choice("perturbation", perturbation, ("gaussian", "bernoulli"))
        if self.perturbation == "gaussian":
            self.noise = check_positive("noise", noise, fix="pass the perturbation's standard deviation sigma > 0, e.g. 0.5 times the data scale")
        else:
            self.noise = check_probability("noise", noise)
        self.n_negatives = check_int("n_negatives", n_negatives, minimum=1)
        self.w = check_nonnegative("w", w)

    def perturb(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The ``M`` negatives ``x'`` of every datum: ``(batch, *event) -> (batch, M, *event)``."""
        m = self.n_negatives
        if self.perturbation == "gaussian":
            y = x + self.noise * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)  # (batch, *event)
            eps = torch.randn((x.shape[0], m, *x.shape[1:]), generator=generator, dtype=x.dtype, device=x.device)
            return y.unsqueeze(1) + self.noise * eps  # (batch, M, *event)
        flip = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < self.noise
        y = torch.where(flip, 1 - x, x)  # (batch, *event)
        flips = torch.rand((x.shape[0], m, *x.shape[1:]), generator=generator, dtype=x.dtype, device=x.device) < self.noise
        yy = y.unsqueeze(1).expand_as(flips)
        return torch.where(flips, 1 - yy, yy)  # (batch, M, *event)

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None, *, negatives: Tensor | None = None) -> Tensor:
        check_energy(energy, "energy discrepancy")
        if self.perturbation == "gaussian":
            check_continuous_data(energy, x, "energy discrepancy")
        else:
            check_binary_data(energy, x, "energy discrepancy (Bernoulli perturbation)")
        batch, m = x.shape[0], self.n_negatives
        if negatives is None:
            negatives = self.perturb(x, generator)
        else:
            check_tensor("negatives", negatives, floating=True, finite=True)
            if tuple(negatives.shape) != (batch, m, *x.shape[1:]):
                raise ValueError(format_error("negatives", f"shape (batch, M, *event) = {(batch, m, *x.shape[1:])}", f"shape {tuple(negatives.shape)}",
                                              "pass one set of M perturbed points per datum, or leave negatives=None"))
            negatives = negatives.to(dtype=x.dtype, device=x.device)
        e_data = energy(x)  # (batch,)
        e_neg = energy(negatives.reshape(batch * m, *x.shape[1:])).reshape(batch, m)  # (batch, M)
        diffs = e_data.unsqueeze(1) - e_neg  # (batch, M)
        if self.w > 0:  # log(w/M + (1/M) Σ_j e^{diff_j}) = logsumexp([log w, diffs]) - log M
            log_w = torch.full((batch, 1), math.log(self.w), dtype=diffs.dtype, device=diffs.device)
            diffs = torch.cat([log_w, diffs], dim=1)  # (batch, M+1)
        return (torch.logsumexp(diffs, dim=1) - math.log(m)).mean()

    def extra_repr(self) -> str:
        return f"perturbation={self.perturbation!r}, noise={self.noise:g}, n_negatives={self.n_negatives}, w={self.w:g}"
