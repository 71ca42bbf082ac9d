"""Annealed importance sampling of ``log Z`` for any energy: a tractable base, a geometric path, a
MCMC kernel per temperature.

``E_β(x) = (1 − β) E_0(x) + β E(x)`` runs from a base ``E_0`` whose ``log Z_0`` and exact samples
are known to the energy of interest (Neal 2001, "Annealed importance sampling", arXiv:physics/9803008):

* continuous energies: a Gaussian base — given, or fitted to ``data`` with its covariance widened by
  ``base_scale`` (a base a little broader than the target keeps the weights' variance down);
  the kernel is ``kernel_steps`` MALA steps per temperature;
* binary energies ({0, 1}^n): a factorised Bernoulli base whose probabilities are the (smoothed)
  means of ``data`` (0.5 without data); the kernel is a single-site Gibbs sweep per temperature.

The forward estimate is a stochastic lower bound on ``log Z`` (Jensen); with exact samples of the
target (``reverse_from``, or the energy's own ``sample`` method) reverse AIS adds a stochastic upper
bound (Grosse, Ghahramani & Adams 2015, arXiv:1511.02543), so the pair brackets the truth.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebm._validation import check_choice, check_generator, check_int, check_positive, check_tensor, energy_reference_tensor, format_error
from samplers import AIS, GeometricPath

__all__ = ["ais_log_partition_any", "gaussian_base", "bernoulli_base"]


class _GaussianBase:
    """``E_0(x) = ½ (x − μ)ᵀ Σ⁻¹ (x − μ)`` with ``log Z_0 = ½ log det(2πΣ)``; flat x of dimension d."""

    def __init__(self, mean: Tensor, cov: Tensor):
        self.mean, self.chol = mean, torch.linalg.cholesky(cov)
        self.log_z = 0.5 * mean.numel() * math.log(2 * math.pi) + float(self.chol.diagonal().log().sum())
        self.min_var = float(torch.linalg.eigvalsh(cov).min())

    def __call__(self, x: Tensor) -> Tensor:
        z = torch.linalg.solve_triangular(self.chol, (x - self.mean).T, upper=False)  # (d, n)
        return 0.5 * z.square().sum(0)

    def sample(self, n: int, generator) -> Tensor:
        eps = torch.randn((n, self.mean.numel()), generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + eps @ self.chol.T


class _BernoulliBase:
    """``E_0(x) = −Σ_i x_i logit(p_i)`` with ``log Z_0 = −Σ_i log(1 − p_i)``."""

    def __init__(self, p: Tensor):
        self.p, self.logit = p, torch.logit(p)
        self.log_z = float(-torch.log1p(-p).sum())

    def __call__(self, x: Tensor) -> Tensor:
        return -(x * self.logit).sum(-1)

    def sample(self, n: int, generator) -> Tensor:
        return torch.bernoulli(self.p.expand(n, -1), generator=generator)


def gaussian_base(data: Tensor, *, scale: float = 1.5, ridge: float = 1e-6) -> _GaussianBase:
    """A Gaussian base fitted to ``data (n, d)``: its mean, and its covariance times ``scale²`` (+ ridge)."""
    data = check_tensor("data", data, ndim=2, floating=True, finite=True, nonempty=True)
    if data.shape[0] < 2:
        raise ValueError(format_error("data", "at least 2 rows to fit a Gaussian base", f"{data.shape[0]}", "pass more data, or base=(mean, cov)"))
    cov = torch.cov(data.T).reshape(data.shape[1], data.shape[1]) * scale**2
    return _GaussianBase(data.mean(0), cov + ridge * torch.eye(data.shape[1], dtype=data.dtype, device=data.device))


def bernoulli_base(n_units: int, data: Tensor | None = None, *, smoothing: float = 0.05, dtype=torch.float32, device=None) -> _BernoulliBase:
    """A factorised Bernoulli base: the means of binary ``data`` pulled toward ½ by ``smoothing`` (0.5 without data)."""
    if data is None:
        return _BernoulliBase(torch.full((n_units,), 0.5, dtype=dtype, device=device))
    p = data.mean(0)
    return _BernoulliBase((1 - smoothing) * p + smoothing * 0.5)


def ais_log_partition_any(
    energy,
    *,
    data: Tensor | None = None,
    base: tuple[Tensor, Tensor] | None = None,
    binary: bool | None = None,
    n_chains: int = 100,
    n_betas: int = 1000,
    step_size: float | None = None,
    kernel_steps: int = 2,
    base_scale: float = 1.5,
    reverse_from: Tensor | str | None = "auto",
    generator: torch.Generator | None = None,
):
    """``log Z`` of any energy over ``(d,)`` vectors by AIS from a tractable base.

    Args:
        energy: an ``ebm.Energy`` (or callable with ``event_shape``) over flat vectors ``(n, d)``.
        data: ``(m, d)`` samples the base is fitted to (continuous: mean and widened covariance;
            binary: smoothed means). Required for continuous energies unless ``base`` is given.
        base: ``(mean (d,), cov (d, d))`` of a Gaussian base, instead of fitting it.
        binary: treat x as {0, 1}^d (Bernoulli base, Gibbs kernel); default: the energy says so
            (``is_binary = True``, e.g. `BoltzmannMachine`) or ``data`` is all 0/1.
        n_chains: independent annealing runs M ≥ 2.
        n_betas: temperatures K + 1 ≥ 3 (uniform in β).
        step_size: MALA ε for continuous energies; default ``0.1 ×`` the base's smallest variance.
        kernel_steps: MALA steps (or Gibbs sweeps) per temperature.
        base_scale: widening of a fitted Gaussian base's standard deviations.
        reverse_from: exact samples of the target for reverse AIS ``(m, d)``; ``"auto"`` uses
            ``energy.exact_sample`` when the energy has one (analytic Gaussians and mixtures, flows,
            Boltzmann machines small enough to enumerate) — never ``energy.sample``, which may be
            approximate (MCMC) or draw from another distribution (a generator's output), and
            would give a wrong bound; None skips the reverse run.
        generator: torch.Generator or None.

    Returns:
        The AIS result with ``log_z`` (forward), its standard error, the weights' ESS and, with
        reverse samples, ``extras["log_z_upper"]``.

    Raises:
        ValueError/TypeError: bad arguments; a continuous energy without ``data`` or ``base``.

    Example:
        >>> from ebm.energies import Gaussian
        >>> g = Gaussian(torch.zeros(2), 2 * torch.eye(2)).double()
        >>> r = ais_log_partition_any(g, base=(torch.zeros(2, dtype=torch.float64), 3 * torch.eye(2, dtype=torch.float64)),
        ...                           generator=torch.Generator().manual_seed(0))
        >>> abs(float(r.log_z) - float(g.log_partition())) < 0.05
        True
    """
    event = getattr(energy, "event_shape", None)
    if event is None or len(event) != 1:
        raise ValueError(format_error("energy", "an energy over flat vectors, event_shape (d,)", f"event_shape {None if event is None else tuple(event)}", "flatten the event inside the energy"))
    d = int(event[0])
    n_chains = check_int("n_chains", n_chains, minimum=2)
    n_betas = check_int("n_betas", n_betas, minimum=3)
    kernel_steps = check_int("kernel_steps", kernel_steps, minimum=1)
    base_scale = check_positive("base_scale", base_scale)
    reference = energy_reference_tensor(energy)
    dtype = reference.dtype if reference is not None else torch.float64
    device = reference.device if reference is not None else torch.device("cpu")
    check_generator("generator", generator, device)
    if data is not None:
        data = check_tensor("data", data, ndim=2, floating=True, finite=True, nonempty=True)
        if data.shape[1] != d:
            raise ValueError(format_error("data", f"rows of the energy's dimension {d}", f"shape {tuple(data.shape)}", "pass samples of the energy's space"))
        data = data.to(dtype=dtype, device=device)
    if binary is None:
        binary = bool(getattr(energy, "is_binary", False)) or (data is not None and bool(((data == 0) | (data == 1)).all()))
    if binary:
        base_model = bernoulli_base(d, data, dtype=dtype, device=device)
        kernel = "gibbs"
    else:
        if base is not None:
            mean, cov = base
            base_model = _GaussianBase(check_tensor("base[0]", mean, ndim=1, floating=True, finite=True).to(dtype=dtype, device=device),
                                       check_tensor("base[1]", cov, ndim=2, floating=True, finite=True).to(dtype=dtype, device=device))
        elif data is not None:
            base_model = gaussian_base(data, scale=base_scale)
        else:
            raise ValueError(format_error("data", "samples (or base=(mean, cov)) to build the Gaussian base of a continuous energy", "neither",
                                          "pass data=<(m, d) samples near the energy's low-energy region> or base=(mean, cov)"))
        kernel = "mala"
    eps = check_positive("step_size", step_size) if step_size is not None else 0.1 * getattr(base_model, "min_var", 1.0)
    path = GeometricPath(base_model, energy)
    ais = AIS(n_betas, kernel=kernel, step_size=eps, kernel_steps=kernel_steps)
    result = ais.run(path, base_model.sample(n_chains, generator), base_model.log_z, generator=generator)
    if isinstance(reverse_from, str):
        check_choice("reverse_from", reverse_from, ["auto"])
        reverse_from = _exact_samples(energy, n_chains, generator)
        reverse_from = None if reverse_from is None else reverse_from.to(dtype)
    if reverse_from is not None:
        reverse_from = check_tensor("reverse_from", reverse_from, ndim=2, floating=True, finite=True, nonempty=True)
        upper = ais.run_reverse(path, reverse_from.to(dtype=dtype, device=device), base_model.log_z, generator=generator)
        result.log_z_upper = upper.log_z
    return result


def _exact_samples(energy, n: int, generator) -> Tensor | None:
    """``n`` exact samples of ``energy`` from its ``exact_sample``, or None when it has none or is
    too large to enumerate (a Boltzmann machine's ``exact_sample`` raises ValueError then)."""
    sampler = getattr(energy, "exact_sample", None)
    if not callable(sampler):
        return None
    try:
        return sampler(n, generator=generator)
    except ValueError:
        return None
