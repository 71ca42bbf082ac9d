"""Annealed importance sampling (AIS) estimates of an RBM's log partition function.

Salakhutdinov & Murray (2008) anneal from a base-rate model ``p_A(v) ∝ exp(b_Aᵀv)`` (independent
visibles; ``b_A`` from the data marginals when data are given) to the RBM ``p_B`` along

    p*_β(v) = exp(((1-β) b_A + β b_B)ᵀ v) · Π_j (1 + exp(β (c_j + (vW)_j))),    0 = β_0 < ... < β_K = 1,

with one Gibbs sweep ``h ~ p_β(h | v), v ~ p_β(v | h)`` at each β. The hidden input ``a = c + vW``
serves both the weight increment ``log p*_{β_k}(v) - log p*_{β_{k-1}}(v)`` and the next hidden
sample, so a temperature costs exactly two matrix products. For the Gaussian-Bernoulli RBM the
base is the Gaussian ``N(b, diag σ²)`` and ``p*_β(v) = exp(-Σ(v-b)²/2σ²) Π_j (1 + exp(β a_j(v)))``.

The loop is `samplers.AIS`; this module supplies the RBM path and its transition. The estimate ``log Ẑ_B = log Z_A + log mean_i exp(w_i)`` is unbiased in Z (so biased low in log Z
by Jensen); its standard error comes from the delta method, and ``log_z_low/high`` is the
``log(Ẑ ± 3 σ̂)`` bracket of Salakhutdinov & Murray.

Reference: Neal (2001), "Annealed importance sampling", arXiv:physics/9803008; Salakhutdinov &
Murray (2008), "On the quantitative analysis of deep belief networks".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm._validation import check_generator, check_int, check_tensor, format_error
from ebm.energies.boltzmann import BernoulliRBM, GaussianBernoulliRBM, _affine
from samplers import AISResult  # the one result type, shared with samplers.AIS
from samplers.ais import AIS
from samplers.counter_rng import bernoulli, normal

__all__ = ["AISResult", "ais_log_partition", "sm_schedule", "ais_log_likelihood"]


def sm_schedule(n_betas: int, *, dtype=torch.float64, device=None) -> Tensor:
    """Salakhutdinov & Murray's (2008) piecewise-linear β schedule, scaled to ``n_betas`` values.

    At 14,500 it is their schedule: 500 steps on [0, 0.5), 4,000 on [0.5, 0.9), 10,000 on [0.9, 1].
    Returns ``(n_betas,)`` increasing from 0 to 1.
    """
    n_betas = check_int("n_betas", n_betas, minimum=3)
    n1 = max(1, round(n_betas * 500 / 14500))
    n2 = max(1, round(n_betas * 4000 / 14500))
    n3 = n_betas - n1 - n2
    if n3 < 2:  # too short for three pieces (the last must end at β = 1): uniform
        return torch.linspace(0.0, 1.0, n_betas, dtype=dtype, device=device)
    parts = [
        torch.linspace(0.0, 0.5, n1 + 1, dtype=dtype)[:-1],
        torch.linspace(0.5, 0.9, n2 + 1, dtype=dtype)[:-1],
        torch.linspace(0.9, 1.0, n3, dtype=dtype),
    ]
    return torch.cat(parts).to(device)


def _base_visible_bias(model: BernoulliRBM, data: Tensor | None) -> Tensor:
    if data is None:
        return torch.zeros_like(model.visible_bias)
    check_tensor("data", data, floating=True, nonempty=True)
    model.check_input(data, "data")
    # Smoothed marginals keep the base rates finite for units that are always on or off.
    p = (data.double().mean(0) * data.shape[0] + 0.05) / (data.shape[0] + 0.1)
    return torch.logit(p).to(model.visible_bias.dtype)


def ais_log_partition(
    model,
    *,
    n_chains: int = 100,
    n_betas: int | None = None,
    data: Tensor | None = None,
    betas: Tensor | None = None,
    reverse_from: Tensor | None = None,
    generator: torch.Generator | None = None,
    compile: bool | str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> AISResult:
    """Estimate ``log Z`` of an energy by annealed importance sampling.

    RBMs anneal from a base-rate model (below); any other energy goes to
    `ebm.evaluate.ais_any.ais_log_partition_any`: a Gaussian base fitted to ``data`` (a factorised
    Bernoulli base for binary data), the geometric path and MALA or Gibbs transitions.

        log Ẑ = log Z_A + log (1/M) Σ_i exp(w_i),    w_i = Σ_k [log p*_{β_k}(v_i^k) - log p*_{β_{k-1}}(v_i^k)].

    Reference: Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief networks".

    Args:
        model: `BernoulliRBM` or `GaussianBernoulliRBM`, or any energy over ``(d,)`` vectors
            (then ``data`` — samples near its low-energy region — builds the base).
        n_chains: M >= 2 independent annealing runs (the batch dimension); the standard error and
            the bracket need at least two.
        n_betas: number of inverse temperatures K+1: default 14,500 in `sm_schedule` for RBMs (ignored
            when ``betas`` is given), 1,000 uniform for other energies.
        data: optional ``(n, n_visible)`` training data: the base rates of a BernoulliRBM become its
            (smoothed) visible marginals, which makes the path much shorter.
        betas: optional explicit increasing schedule ``(K+1,)`` from 0 to 1.
        reverse_from: optional ``(m, n_visible)`` samples of the model (ideally exact, e.g. from long
            chains) for reverse AIS (Grosse, Ghahramani & Adams 2015, arXiv:1511.02543): its
            estimate ``log_z_upper`` is a stochastic upper bound when the samples are exact, so
            ``[log_z, log_z_upper]`` brackets log Z.
        generator: random generator (on the model's device).
        compile: fuse each temperature (two matrix products, the softplus terms and both layers'
            draws, with uniforms from `samplers.counter_rng` computed inside the fused loops) with
            ``torch.compile``; see `samplers.AIS`. Same estimator, different random numbers; the
            first call pays the compilation (seconds on a CPU). The default "auto" compiles when
            ``n_chains × n_visible × temperatures`` reaches ``samplers.compilation.AUTO_THRESHOLDS["ais"]``
            (10⁹: the 784 × 500 RBM with 100 chains and the default 14,500 temperatures,
            1.1·10⁹, does; a 20-unit toy with 2,000 does not), and runs eagerly, warning once, where compiling is
            unavailable or fails.
        progress: optional ``progress(done, total)``, called about 100 times per annealing run
            (temperatures done out of ``n_betas - 1``; the reverse run, if any, reports its own),
            e.g. ``lambda k, n: bar.update(...)`` for a tqdm bar.

    Returns:
        `samplers.AISResult` with ``log_z``, ``std_error``, the ±3σ bracket ``log_z_low`` /
        ``log_z_high``, the log weights, the ESS, ``log_z_base``, the final states ``x`` and
        ``log_z_upper`` (reverse AIS, when asked).

    Raises:
        ValueError: a non-RBM energy without ``data`` (or over non-flat events).
        ValueError: bad counts or schedule, or invalid data.

    Example:
        >>> from ebm.energies import BernoulliRBM
        >>> rbm = BernoulliRBM(20, 8, weight_scale=0.5)
        >>> est = ais_log_partition(rbm, n_chains=200, n_betas=2000)
        >>> abs(float(est.log_z) - float(rbm.log_partition())) < 0.1
        True
    """
    if not isinstance(model, (BernoulliRBM, GaussianBernoulliRBM)):
        # Any other energy: a tractable base fitted to `data`, the geometric path, MALA or Gibbs.
        from ebm.evaluate.ais_any import ais_log_partition_any

        if betas is not None:
            raise ValueError(format_error("betas", "None for a non-RBM energy (its schedule is uniform in beta)", "a schedule", "pass n_betas= instead"))
        return ais_log_partition_any(model, data=data, n_chains=n_chains, n_betas=n_betas if n_betas is not None else 1000,
                                     reverse_from="auto" if reverse_from is None else reverse_from, generator=generator)
    n_chains = check_int("n_chains", n_chains, minimum=2)
    W = model.weight.detach()
    check_generator("generator", generator, W.device)
    if betas is None:
        betas = sm_schedule(14500 if n_betas is None else n_betas, device=W.device)
    else:
        check_tensor("betas", betas, ndim=1, floating=True, finite=True)
        if betas.numel() < 2 or float(betas[0]) != 0.0 or float(betas[-1]) != 1.0 or bool((betas.diff() < 0).any()):
            raise ValueError(format_error("betas", "an increasing schedule from 0 to 1", f"{betas.numel()} values from {float(betas[0]):.3g} to {float(betas[-1]):.3g}", "use sm_schedule(n_betas)"))
        betas = betas.double().to(W.device)
    base_bias = None if isinstance(model, GaussianBernoulliRBM) else _base_visible_bias(model, data).detach()
    path = _RBMPath(model, base_bias)
    ais = AIS(betas.tolist(), compile=compile)
    with torch.no_grad():
        result = ais.run(path, path.base_samples(n_chains, generator), path.base_log_partition(), generator=generator, progress=progress)
        if reverse_from is not None:
            check_tensor("reverse_from", reverse_from, floating=True, nonempty=True)
            model.check_input(reverse_from, "reverse_from")
            upper = ais.run_reverse(path, reverse_from.detach(), path.base_log_partition(), generator=generator, progress=progress)
            result.log_z_upper = upper.log_z
    return result


class _RBMPath:
    """The annealing path of an RBM for `samplers.AIS`: ``path(v, β) = -log p*_β(v)`` and ``transition``.

    ``transition`` is a whole temperature (weight increment, then one sweep h | v, v | h at β)
    written around one hidden input ``a = c + vW``, so a temperature costs two matrix products:
    ``vW`` for the state and ``hWᵀ`` inside the sweep. β may be a float or a 0-d tensor (compiled
    AIS); nothing is cached on the object, which a compiled graph would have to guard on.
    """

    def __init__(self, model, base_bias: Tensor | None):
        self.gaussian = isinstance(model, GaussianBernoulliRBM)
        self.W, self.b, self.c = model.weight.detach(), model.visible_bias.detach(), model.hidden_bias.detach()
        if self.gaussian:
            self.sigma = model.sigma.detach()
            inv_var = self.sigma**-2
            self.W_in = self.W * inv_var.unsqueeze(-1)  # (V, H): hidden units see v / σ²
            self.inv_var = inv_var
        else:
            self.W_in = self.W
            self.base_bias = base_bias
            self.dbias = self.b - base_bias  # (V,)
        self._log2 = self.W.shape[1] * math.log(2.0)

    def _visible_terms(self, v: Tensor) -> tuple[Tensor, Tensor | None]:
        # The visible part is linear in β: -(b_Aᵀv) - β (b - b_A)ᵀv (Gaussian: the β-free quadratic).
        if self.gaussian:
            return (0.5 * (v - self.b) ** 2 * self.inv_var).sum(-1), None
        return -(v @ self.base_bias), -(v @ self.dbias)

    def _hidden_term(self, a: Tensor, beta) -> Tensor:
        if isinstance(beta, Tensor):
            return F.softplus(beta * a).sum(-1)
        # Σ_j softplus(β a_j) = β Σ_j softplus_β(a_j): torch's softplus(a, beta) fuses the scaling.
        if beta == 0.0:
            return torch.full(a.shape[:-1], self._log2, dtype=a.dtype, device=a.device)
        return beta * F.softplus(a, beta=beta).sum(-1)

    def __call__(self, v: Tensor, beta: float) -> Tensor:
        a = _affine(self.c, v, self.W_in)  # (M, H)
        const, slope = self._visible_terms(v)
        energy = const - self._hidden_term(a, beta)
        return energy if slope is None else energy + beta * slope

    def transition(self, v: Tensor, lw: Tensor, beta_prev, beta, generator, move: bool) -> tuple[Tensor, Tensor]:
        """``lw += log p*_β(v) - log p*_β_prev(v)``; then, if ``move``, one sweep at β. Two matmuls."""
        a = _affine(self.c, v, self.W_in)  # (M, H)
        increment, p_hidden = _softplus_increment_and_sigmoid(a, beta_prev, beta)
        lw = lw + increment  # the β-free visible part cancels
        if not self.gaussian:
            lw = lw + (beta - beta_prev) * (v @ self.dbias)  # log p*_β has +β (b - b_A)ᵀv
        return (self._sweep(v, p_hidden, beta, generator) if move else v), lw

    def _sweep(self, v: Tensor, p_hidden: Tensor, beta, generator) -> Tensor:
        h = bernoulli(p_hidden, generator)  # (M, H)
        # addmm's alpha must be a number; a tensor β (compiled) scales the product instead.
        wh = torch.mm(h, self.W.T) * beta if isinstance(beta, Tensor) else None  # (M, V) β W h
        if self.gaussian:
            mean = self.b + wh if wh is not None else torch.addmm(self.b, h, self.W.T, alpha=beta)
            return mean + self.sigma * normal(v.shape, generator=generator, dtype=v.dtype, device=v.device)  # N(b + βWh, σ²)
        # p_β(v | h) = σ((1-β) b_A + β (b + W h))
        bias = self.base_bias + beta * self.dbias  # (V,)
        logits = bias + wh if wh is not None else torch.addmm(bias, h, self.W.T, alpha=beta)
        return bernoulli(torch.sigmoid(logits), generator)

    def base_samples(self, n: int, generator) -> Tensor:
        if self.gaussian:
            noise = torch.randn((n, self.W.shape[0]), generator=generator, dtype=self.W.dtype, device=self.W.device)
            return self.b + self.sigma * noise
        return bernoulli(torch.sigmoid(self.base_bias).expand(n, -1), generator)

    def base_log_partition(self) -> float:
        # At β = 0 every hidden unit contributes a factor (1 + e^0) = 2.
        hidden = self.W.shape[1] * math.log(2.0)
        if self.gaussian:
            return float((0.5 * math.log(2 * math.pi) + self.sigma.double().log()).sum()) + hidden
        return float(F.softplus(self.base_bias.double()).sum()) + hidden


def _softplus_increment_and_sigmoid(a: Tensor, beta_prev, beta) -> tuple[Tensor, Tensor]:
    """``Σ_j softplus(β a_j) - softplus(β' a_j)`` (per row) and ``σ(β a)``, from two ``exp`` per unit.

    With ``u = e^{-|βa|}``: ``softplus(βa) = relu(βa) + log1p(u)`` and ``σ(βa) = (βa ≥ 0 ? 1 : u) / (1 + u)``,
    so the difference of the two softplus terms is one ``log1p((u - u') / (1 + u'))`` and the
    sigmoid reuses ``u``: 2 exp, 1 log1p, 2 divisions per hidden unit instead of 3 exp and 2 log1p
    for two separate softplus sums and a sigmoid, the largest element-wise cost of an AIS
    temperature. It is also no less accurate: the difference of two sums of ~H softplus values
    (each ≈ 0.7) loses their absolute rounding error, while the log1p of a ratio near 1 keeps it
    per unit. Overflow-free for any β ≥ 0 and finite ``a``.
    """
    t, t_prev = beta * a, beta_prev * a
    u, u_prev = torch.exp(-t.abs()), torch.exp(-t_prev.abs())
    increment = (t.relu() - t_prev.relu() + torch.log1p((u - u_prev) / (1 + u_prev))).sum(-1)
    p_hidden = torch.where(t >= 0, 1.0, u) / (1 + u)
    return increment, p_hidden


def ais_log_likelihood(model, data: Tensor, *, n_chains: int = 100, n_betas: int = 14500, base_data: Tensor | None = None,
                       generator: torch.Generator | None = None) -> tuple[Tensor, AISResult]:
    """Mean AIS log-likelihood ``-mean F(data) - log Ẑ`` (float64) and the `AISResult` behind it.

    Because ``log Ẑ`` tends to be low, this estimate tends to be high (optimistic); report it with
    ``std_error``. ``base_data`` (e.g. the training set) sets the base rates; default ``data``.
    """
    check_tensor("data", data, floating=True, nonempty=True)
    model.check_input(data, "data")
    est = ais_log_partition(model, n_chains=n_chains, n_betas=n_betas, data=base_data if base_data is not None else (data if isinstance(model, BernoulliRBM) else None), generator=generator)
    with torch.no_grad():
        ll = -model(data).double().mean() - est.log_z
    return ll, est
