"""Annealed importance sampling (AIS) estimates of an RBM's log partition function.

Salakhutdinov & Murray (2008) anneal from a base-rate model ``p_A(v) ∝ exp(b_Aᵀv)`` (independent
visibles; ``b_A`` from the data marginals when data are given) to the RBM ``p_B`` along

    p*_β(v) = exp(((1-β) b_A + β b_B)ᵀ v) · Π_j (1 + exp(β (c_j + (vW)_j))),    0 = β_0 < ... < β_K = 1,

with one Gibbs sweep ``h ~ p_β(h | v), v ~ p_β(v | h)`` at each β. The hidden input ``a = c + vW``
serves both the weight increment ``log p*_{β_k}(v) - log p*_{β_{k-1}}(v)`` and the next hidden
sample, so a temperature costs exactly two matrix products. For the Gaussian-Bernoulli RBM the
base is the Gaussian ``N(b, diag σ²)`` and ``p*_β(v) = exp(-Σ(v-b)²/2σ²) Π_j (1 + exp(β a_j(v)))``.

The estimate ``log Ẑ_B = log Z_A + log mean_i exp(w_i)`` is unbiased in Z (so biased low in log Z
by Jensen); its standard error comes from the delta method, and ``log_z_low/high`` is the
``log(Ẑ ± 3 σ̂)`` bracket of Salakhutdinov & Murray.

Reference: Neal (2001), "Annealed importance sampling", arXiv:physics/9803008; Salakhutdinov &
Murray (2008), "On the quantitative analysis of deep belief networks".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm._validation import check_generator, check_int, check_tensor, format_error
from ebm.energies.boltzmann import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["AISResult", "ais_log_partition", "sm_schedule", "ais_log_likelihood"]


@dataclass
class AISResult:
    """An AIS estimate.

    Attributes:
        log_z: the estimate of log Z (scalar float64 tensor).
        std_error: delta-method standard error of ``log_z``.
        log_z_low, log_z_high: ``log(Ẑ - 3σ̂_Z)`` (``-inf`` when negative) and ``log(Ẑ + 3σ̂_Z)``.
        log_weights: the ``(n_chains,)`` importance log weights.
        log_z_base: exact log Z of the base-rate model.
        ess: effective sample size of the weights, ``(Σw)² / Σw²``.
    """

    log_z: Tensor
    std_error: Tensor
    log_z_low: Tensor
    log_z_high: Tensor
    log_weights: Tensor
    log_z_base: Tensor
    ess: Tensor

    def __float__(self) -> float:
        return float(self.log_z)


def sm_schedule(n_betas: int, *, dtype=torch.float64, device=None) -> Tensor:
    """Salakhutdinov & Murray's (2008) piecewise-linear β schedule, scaled to ``n_betas`` values.

    At 14,500 it is their schedule: 500 steps on [0, 0.5), 4,000 on [0.5, 0.9), 10,000 on [0.9, 1].
    Returns ``(n_betas,)`` increasing from 0 to 1.
    """
    n_betas = check_int("n_betas", n_betas, minimum=3)
    n1 = max(1, round(n_betas * 500 / 14500))
    n2 = max(1, round(n_betas * 4000 / 14500))
    n3 = n_betas - n1 - n2
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
    n_betas: int = 14500,
    data: Tensor | None = None,
    betas: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> AISResult:
    """Estimate ``log Z`` of a Bernoulli or Gaussian-Bernoulli RBM by AIS from a base-rate model.

        log Ẑ = log Z_A + log (1/M) Σ_i exp(w_i),    w_i = Σ_k [log p*_{β_k}(v_i^k) - log p*_{β_{k-1}}(v_i^k)].

    Reference: Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief networks".

    Args:
        model: `BernoulliRBM` or `GaussianBernoulliRBM`.
        n_chains: M, independent annealing runs (the batch dimension).
        n_betas: number of inverse temperatures K+1 in `sm_schedule` (ignored when ``betas`` is given).
        data: optional ``(n, n_visible)`` training data: the base rates of a BernoulliRBM become its
            (smoothed) visible marginals, which makes the path much shorter.
        betas: optional explicit increasing schedule ``(K+1,)`` from 0 to 1.
        generator: random generator (on the model's device).

    Returns:
        `AISResult` with ``log_z``, ``std_error``, the ±3σ bracket, the log weights and the ESS.

    Raises:
        TypeError: the model is not an RBM.
        ValueError: bad counts or schedule, or invalid data.

    Example:
        >>> from ebm.energies import BernoulliRBM
        >>> rbm = BernoulliRBM(20, 8, weight_scale=0.5)
        >>> est = ais_log_partition(rbm, n_chains=200, n_betas=2000)
        >>> abs(float(est.log_z) - float(rbm.log_partition())) < 0.1
        True
    """
    if not isinstance(model, (BernoulliRBM, GaussianBernoulliRBM)):
        raise TypeError(
            format_error("model", "a BernoulliRBM or GaussianBernoulliRBM", type(model).__name__,
                         "for small models use model.log_partition(); for other energies use samplers.ais with a suitable kernel")
        )
    n_chains = check_int("n_chains", n_chains, minimum=1)
    W = model.weight.detach()
    check_generator("generator", generator, W.device)
    if betas is None:
        betas = sm_schedule(n_betas, device=W.device)
    else:
        check_tensor("betas", betas, ndim=1, floating=True, finite=True)
        if betas.numel() < 2 or float(betas[0]) != 0.0 or float(betas[-1]) != 1.0 or bool((betas.diff() < 0).any()):
            raise ValueError(format_error("betas", "an increasing schedule from 0 to 1", f"{betas.numel()} values from {float(betas[0]):.3g} to {float(betas[-1]):.3g}", "use sm_schedule(n_betas)"))
        betas = betas.double().to(W.device)
    with torch.no_grad():
        if isinstance(model, GaussianBernoulliRBM):
            log_w, log_z_base = _anneal_gaussian(model, betas, n_chains, generator)
        else:
            log_w, log_z_base = _anneal_bernoulli(model, _base_visible_bias(model, data).detach(), betas, n_chains, generator)
    return _summarise(log_w, log_z_base)


def _anneal_bernoulli(model: BernoulliRBM, base_bias: Tensor, betas: Tensor, n_chains: int, generator) -> tuple[Tensor, Tensor]:
    W, b, c = model.weight.detach(), model.visible_bias.detach(), model.hidden_bias.detach()
    dtype, device = W.dtype, W.device
    beta_list = betas.tolist()  # host floats: no device read-back inside the loop
    # At β = 0 each hidden unit contributes a factor (1 + e^0) = 2 to p*_0.
    log_z_base = F.softplus(base_bias.double()).sum() + W.shape[1] * math.log(2.0)
    # v ~ p_A exactly; then for k = 1..K: w += log p*_k(v) - log p*_{k-1}(v); v ~ T_k(v).
    v = torch.bernoulli(torch.sigmoid(base_bias).expand(n_chains, -1).contiguous(), generator=generator)  # (M, V)
    dbias = b - base_bias  # (V,)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
    a = torch.addmm(c, v, W)  # (M, H): hidden input at β = 1
    sp_prev = F.softplus(beta_list[0] * a).sum(-1)
    for k in range(1, len(beta_list)):
        beta, beta_prev = beta_list[k], beta_list[k - 1]
        sp = F.softplus(beta * a).sum(-1)  # (M,)
        log_w += ((beta - beta_prev) * (v @ dbias) + sp - sp_prev).double()
        if k == len(beta_list) - 1:
            break
        # One Gibbs sweep at β_k, reusing a for the hidden conditional.
        h = torch.bernoulli(torch.sigmoid(beta * a), generator=generator)  # (M, H)
        vis_in = torch.addmm(base_bias + beta * dbias, h, W.T, alpha=beta)  # (1-β) b_A + β (b + W h)
        v = torch.bernoulli(torch.sigmoid(vis_in), generator=generator)
        a = torch.addmm(c, v, W)
        sp_prev = F.softplus(beta * a).sum(-1)
    return log_w, log_z_base


def _anneal_gaussian(model: GaussianBernoulliRBM, betas: Tensor, n_chains: int, generator) -> tuple[Tensor, Tensor]:
    W, b, c = model.weight.detach(), model.visible_bias.detach(), model.hidden_bias.detach()
    sigma = model.sigma.detach()
    inv_var = sigma**-2
    device = W.device
    beta_list = betas.tolist()
    log_z_base = (0.5 * math.log(2 * math.pi) + sigma.double().log()).sum() + W.shape[1] * math.log(2.0)
    noise = lambda: torch.randn((n_chains, W.shape[0]), generator=generator, dtype=W.dtype, device=device)  # noqa: E731
    v = b + sigma * noise()  # (M, V) ~ N(b, σ²), the base
    Ws = W * inv_var.unsqueeze(-1)  # (V, H): the hidden units see v / σ²
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
    a = torch.addmm(c, v, Ws)
    sp_prev = F.softplus(beta_list[0] * a).sum(-1)
    for k in range(1, len(beta_list)):
        beta = beta_list[k]
        sp = F.softplus(beta * a).sum(-1)
        log_w += (sp - sp_prev).double()
        if k == len(beta_list) - 1:
            break
        h = torch.bernoulli(torch.sigmoid(beta * a), generator=generator)
        v = torch.addmm(b, h, W.T, alpha=beta) + sigma * noise()  # N(b + βWh, σ²)
        a = torch.addmm(c, v, Ws)
        sp_prev = F.softplus(beta * a).sum(-1)
    return log_w, log_z_base


def _summarise(log_w: Tensor, log_z_base: Tensor) -> AISResult:
    m = log_w.numel()
    shift = log_w.max()
    w = (log_w - shift).exp()  # (M,) in (0, 1]
    mean = w.mean()
    std = w.std(unbiased=True) if m > 1 else torch.zeros((), dtype=w.dtype, device=w.device)
    se_z = std / math.sqrt(m)  # standard error of the (shifted) mean weight
    log_z = log_z_base + shift + mean.log()
    low = torch.where(mean - 3 * se_z > 0, (mean - 3 * se_z).clamp_min(1e-300).log(), torch.tensor(-math.inf, dtype=w.dtype, device=w.device))
    return AISResult(
        log_z=log_z,
        std_error=se_z / mean,
        log_z_low=log_z_base + shift + low,
        log_z_high=log_z_base + shift + (mean + 3 * se_z).log(),
        log_weights=log_w,
        log_z_base=log_z_base,
        ess=w.sum() ** 2 / (w**2).sum(),
    )


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
