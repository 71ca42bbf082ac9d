"""Boltzmann machines: Bernoulli and Gaussian-Bernoulli RBMs, and the fully visible Boltzmann machine.

An RBM is a latent-variable energy with a bipartite joint energy; its hidden layer sums out in
closed form, so ``forward(v)`` is the free energy

    F(v) = -log Σ_h exp(-E(v, h)),        p(v) = exp(-F(v)) / Z.

``log_partition()`` is exact: it enumerates the smaller layer (the other one sums out in closed
form) in float64, in chunks, with a log-sum-exp, and refuses more than 2^25 states — use
`ebm.evaluate.ais_log_partition` beyond that.

References:
    Smolensky (1986), "Information processing in dynamical systems: foundations of harmony theory".
    Hinton (2002), "Training Products of Experts by Minimizing Contrastive Divergence".
    Cho, Ilin & Raiko (2011), "Improved Learning of Gaussian-Bernoulli Restricted Boltzmann Machines".
    Melchior, Wang & Wiskott (2016), "Gaussian-binary restricted Boltzmann machines for modeling
    natural image statistics", arXiv:1401.5900.
    Ackley, Hinton & Sejnowski (1985), "A learning algorithm for Boltzmann machines".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_nonnegative, check_positive, check_tensor, format_error
from ebm.energy import Energy
from ebm.registry import register_energy
from samplers.enumeration import enumerate_binary_states
from samplers.counter_rng import bernoulli, normal

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM", "BoltzmannMachine", "MAX_ENUMERATION_BITS", "binary_states", "bernoulli"]

MAX_ENUMERATION_BITS = 25
"""Exact sums enumerate at most 2^25 (≈ 3.4e7) states; beyond that they refuse and suggest AIS."""

_CHUNK_BITS = 14  # 16,384 states per chunk keeps the (chunk, n) float64 blocks small


def binary_states(n: int, start: int, stop: int, *, dtype=torch.float64, device=None) -> Tensor:
    """The binary expansions of the integers ``start, ..., stop-1``: shape ``(stop - start, n)``.

    Bit ``i`` of state ``k`` is ``(k >> i) & 1`` (unit 0 is the least significant bit); the same
    enumeration as `samplers.enumeration.enumerate_binary_states`, which exact sampling uses.
    """
    return enumerate_binary_states(n, start, stop, dtype=dtype, device=device)  # (m, n)


_RBM_AIS_FIX = "estimate log Z with annealed importance sampling: ebm.evaluate.ais_log_partition(model, n_chains=100, n_betas=10000)"
_BM_AIS_FIX = (
    "estimate log Z with annealed importance sampling: ebm.evaluate.ais_log_partition(model, n_chains=100, n_betas=1000) "
    "(from a factorised Bernoulli base, fitted to data= if given, with single-site Gibbs transitions); "
    "for samples, use model.sample(...) or samplers.ParallelTempering"
)


def _check_enumerable(n: int, what: str, fix: str = _RBM_AIS_FIX) -> None:
    if n > MAX_ENUMERATION_BITS:
        raise ValueError(
            format_error(
                what,
                f"at most {MAX_ENUMERATION_BITS} units to enumerate exactly (2^{MAX_ENUMERATION_BITS} states)",
                f"{n} units (2^{n} states)",
                fix,
            )
        )


def _check_sample_args(n, n_steps, generator, reference: Tensor) -> tuple[int, int]:
    n = check_int("n", n, minimum=1)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    check_generator("generator", generator, reference.device)
    return n, n_steps


def _sample_enumerated(n_units: int, log_weight, n: int, generator, like: Tensor) -> Tensor:
    """Exact draws ``(n, n_units)`` of ``p ∝ exp(log_weight)`` on {0,1}^n_units, in ``like``'s dtype and device."""
    from samplers import sample_by_enumeration

    with torch.no_grad():
        states = sample_by_enumeration(log_weight, n_units, n, generator=generator, dtype=torch.float64, device=like.device)
    return states.to(like.dtype)


def _enumerate_logsumexp(n: int, log_weight, device) -> Tensor:
    """``log Σ_{s ∈ {0,1}^n} exp(log_weight(s))`` by chunks of states; ``log_weight: (m, n) -> (m,)``."""
    total = 2**n
    chunk = 2**_CHUNK_BITS
    parts = []
    for start in range(0, total, chunk):
        states = binary_states(n, start, min(start + chunk, total), device=device)  # (m, n)
        parts.append(torch.logsumexp(log_weight(states), dim=0))
    return torch.logsumexp(torch.stack(parts), dim=0)


def _affine(bias: Tensor, x: Tensor, weight: Tensor) -> Tensor:
    """``bias + x @ weight`` for 2-D ``x``: ``(batch, n), (n, m) -> (batch, m)``.

    Eagerly one ``addmm``. Under ``torch.compile`` (fused RBM sweeps) the bias goes into the
    consumer's fused loop instead: inductor's CPU ``addmm`` first copies the broadcast bias into
    the whole output, an extra pass over it (≈ 1 ms of an 18 ms sweep at 784 × 500 × 1,000
    chains), and it rewrites ``mm + bias`` back into ``addmm``, so the add is written as
    subtracting ``-bias``, which that rewrite does not match.
    """
    if torch.compiler.is_compiling():
        return torch.mm(x, weight) - bias.neg()
    return torch.addmm(bias, x, weight)


def _sigmoid(a: Tensor) -> Tensor:
    # In place when no graph is being built (sampling), which saves a pass over the activations.
    return torch.sigmoid(a) if a.requires_grad else a.sigmoid_()


def _check_binary(name: str, x: Tensor, model: str) -> None:
    if bool(((x != 0) & (x != 1)).any()):
        bad = x[(x != 0) & (x != 1)]
        raise ValueError(
            format_error(
                name,
                f"binary values in {{0, 1}} for {model}",
                f"{bad.numel()} non-binary entries (e.g. {float(bad[0]):.4g})",
                f"binarise the data, e.g. ({name} > 0.5).float(), or sample it: torch.bernoulli({name}) "
                "(for real-valued data use GaussianBernoulliRBM)",
            )
        )


class _RBMBase(Energy):
    """Shared layout of RBMs: ``weight (n_visible, n_hidden)``, ``visible_bias``, ``hidden_bias``."""

    _abstract = True

    def __init__(self, n_visible: int, n_hidden: int, *, weight_scale: float, generator, dtype, device):
        n_visible = check_int("n_visible", n_visible, minimum=1)
        n_hidden = check_int("n_hidden", n_hidden, minimum=1)
        weight_scale = check_nonnegative("weight_scale", weight_scale, fix="pass e.g. weight_scale=0.01")
        super().__init__((n_visible,))
        self.n_visible, self.n_hidden = n_visible, n_hidden
        dtype = dtype or torch.get_default_dtype()
        w = torch.randn(n_visible, n_hidden, generator=generator, dtype=dtype) * weight_scale
        self.weight = nn.Parameter(w.to(device))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible, dtype=dtype, device=device))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden, dtype=dtype, device=device))

    def prob_h(self, v: Tensor) -> Tensor:
        """``p(h_j = 1 | v)``: ``(*batch, n_visible) -> (*batch, n_hidden)``."""
        return torch.sigmoid(self._hidden_input(v))

    def sample_h(self, v: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``h ~ p(h | v)``: ``(*batch, n_visible) -> (*batch, n_hidden)`` in {0, 1}."""
        return bernoulli(_sigmoid(self._hidden_input(v)), generator)

    def sample(self, n: int, *, n_steps: int = 1000, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` visible vectors by block Gibbs sampling, ``(n, n_visible)``.

        Each of ``n_steps`` sweeps draws ``h ~ p(h | v)`` then ``v ~ p(v | h)`` for ``n``
        independent chains (`samplers.BlockGibbs`); the chains start from ``v ~ p(v | h0)`` with
        ``h0 ~ p(h)`` under the hidden biases alone. The draws are approximate: the chain must mix
        (strong weights need more steps, or `samplers.ParallelTempering`).

        Reference: Hinton (2002), "Training Products of Experts by Minimizing Contrastive Divergence".

        Args:
            n: number of samples (independent chains).
            n_steps: Gibbs sweeps per chain.
            generator: random generator on the model's device.

        Returns:
            ``(n, n_visible)`` samples (binary for `BernoulliRBM`, real for `GaussianBernoulliRBM`).

        Raises:
            TypeError, ValueError: ``n`` or ``n_steps`` not a positive integer, a bad generator.

        Example:
            >>> rbm = BernoulliRBM(6, 3, generator=torch.Generator().manual_seed(0))
            >>> rbm.sample(10, n_steps=50, generator=torch.Generator().manual_seed(1)).shape
            torch.Size([10, 6])
        """
        from samplers import BlockGibbs

        n, n_steps = _check_sample_args(n, n_steps, generator, self.weight)
        with torch.no_grad():
            p_h0 = torch.sigmoid(self.hidden_bias).expand(n, self.n_hidden)  # (n, H)
            h0 = bernoulli(p_h0, generator)
            v0 = self.sample_v(h0, generator=generator)  # (n, V)
            gibbs = BlockGibbs([lambda b, g: self.sample_h(b[1], generator=g), lambda b, g: self.sample_v(b[0], generator=g)])
            result = gibbs.run(lambda h, v: self.joint_energy(v, h), (h0, v0), n_steps, generator=generator)
        return result.x[1]

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"


@register_energy(
    "bernoulli_rbm",
    example=lambda: BernoulliRBM(6, 4, weight_scale=0.5, generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: BernoulliRBM(0, 4), ValueError, "n_visible"),
        (lambda: BernoulliRBM(4, -1), ValueError, "n_hidden"),
        (lambda: BernoulliRBM(4, 3, weight_scale=-1.0), ValueError, "weight_scale"),
    ],
    binary=True,
)
class BernoulliRBM(_RBMBase):
    """Bernoulli restricted Boltzmann machine; ``forward(v)`` is the free energy.

        E(v, h) = -bᵀv - cᵀh - vᵀWh,       F(v) = -bᵀv - Σ_j softplus(c_j + (vW)_j),
        p(h_j=1 | v) = σ(c_j + (vW)_j),     p(v_i=1 | h) = σ(b_i + (Wh)_i).

    Reference: Smolensky (1986); Hinton (2002), "Training Products of Experts by Minimizing
    Contrastive Divergence".

    Args:
        n_visible: number of visible units V.
        n_hidden: number of hidden units H.
        weight_scale: standard deviation of the initial weights (biases start at 0).
        generator: random generator for the initial weights.
        dtype, device: of the parameters.

    Raises:
        ValueError: non-positive sizes; at call time, inputs that are not in {0, 1}.

    Example:
        >>> rbm = BernoulliRBM(9, 4)
        >>> v = torch.bernoulli(torch.full((5, 9), 0.5))
        >>> rbm(v).shape, rbm.log_prob(v).shape
        (torch.Size([5]), torch.Size([5]))
    """

    def __init__(self, n_visible: int, n_hidden: int, *, weight_scale: float = 0.01, generator=None, dtype=None, device=None):
        super().__init__(n_visible, n_hidden, weight_scale=weight_scale, generator=generator, dtype=dtype, device=device)

    def check_input(self, x, name: str = "x") -> Tensor:
        super().check_input(x, name)
        _check_binary(name, x, "a BernoulliRBM")
        return x

    def _hidden_input(self, v: Tensor) -> Tensor:
        if v.dim() == 2:
            return _affine(self.hidden_bias, v, self.weight)  # (batch, H)
        return v @ self.weight + self.hidden_bias  # (*batch, H)

    def forward(self, v: Tensor) -> Tensor:
        """Free energy ``F(v)``: ``(*batch, V) -> (*batch,)``."""
        return -(v @ self.visible_bias) - F.softplus(self._hidden_input(v)).sum(-1)

    def joint_energy(self, v: Tensor, h: Tensor) -> Tensor:
        """``E(v, h) = -bᵀv - cᵀh - vᵀWh``: ``(*batch, V), (*batch, H) -> (*batch,)``."""
        return -(v @ self.visible_bias) - (h @ self.hidden_bias) - ((v @ self.weight) * h).sum(-1)

    def prob_v(self, h: Tensor) -> Tensor:
        """``p(v_i = 1 | h)``: ``(*batch, H) -> (*batch, V)``."""
        return torch.sigmoid(h @ self.weight.T + self.visible_bias)

    def sample_v(self, h: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``v ~ p(v | h)``: ``(*batch, H) -> (*batch, V)`` in {0, 1}."""
        if h.dim() == 2:
            return bernoulli(_sigmoid(_affine(self.visible_bias, h, self.weight.T)), generator)
        return bernoulli(_sigmoid(h @ self.weight.T + self.visible_bias), generator)

    def flip_energy_deltas(self, x: Tensor, i: int) -> Tensor:
        """``F(x with bit i flipped) - F(x)``: ``(*batch, V) -> (*batch,)``.

        With ``d = 1 - 2 x_i`` and ``a = c + xW``: ``ΔF = -b_i d - Σ_j [softplus(a_j + d W_ij) - softplus(a_j)]``.
        """
        d = 1.0 - 2.0 * x[..., i]  # (*batch,)
        a = self._hidden_input(x)  # (*batch, H)
        return -self.visible_bias[i] * d - (F.softplus(a + d.unsqueeze(-1) * self.weight[i]) - F.softplus(a)).sum(-1)

    def all_flip_energy_deltas(self, x: Tensor) -> Tensor:
        """``F(x with bit i flipped) - F(x)`` for every unit i at once: ``(*batch, V) -> (*batch, V)``.

        Memory ``O(batch · V · H)``; callers chunk large batches.
        """
        d = 1.0 - 2.0 * x  # (*batch, V)
        a = self._hidden_input(x).unsqueeze(-2)  # (*batch, 1, H)
        flipped = F.softplus(a + d.unsqueeze(-1) * self.weight)  # (*batch, V, H)
        return -self.visible_bias * d - (flipped - F.softplus(a)).sum(-1)

    def log_partition(self) -> Tensor:
        """Exact ``log Z`` by enumerating the smaller layer (float64, chunked); a scalar tensor.

        Enumerating h: ``log Z = logsumexp_h [cᵀh + Σ_i softplus(b_i + (Wh)_i)]``; enumerating v:
        ``log Z = logsumexp_v [-F(v)]``.

        Raises:
            ValueError: both layers have more than 25 units (use AIS).
        """
        layer, n_units, log_weight = self._smaller_layer_marginal()
        return _enumerate_logsumexp(n_units, log_weight, self.weight.device).to(self.weight.dtype)

    def _smaller_layer_marginal(self):
        """``(layer, units, log_weight)``: the un-normalised log marginal of the smaller layer (float64).

        ``log p*(h) = cᵀh + Σ_i softplus(b_i + (Wh)_i)`` or ``log p*(v) = bᵀv + Σ_j softplus(c_j + (vW)_j)``.
        """
        W, b, c = self.weight.double(), self.visible_bias.double(), self.hidden_bias.double()
        if self.n_hidden <= self.n_visible:
            _check_enumerable(self.n_hidden, "n_hidden")
            return "h", self.n_hidden, lambda h: h @ c + F.softplus(h @ W.T + b).sum(-1)
        _check_enumerable(self.n_visible, "n_visible")
        return "v", self.n_visible, lambda v: v @ b + F.softplus(v @ W + c).sum(-1)

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact, independent visible samples ``(n, n_visible)``, by enumerating the smaller layer.

        The smaller layer is drawn from its exact marginal (`samplers.sample_by_enumeration`, up to
        25 units), then — if it is the hidden layer — ``v ~ p(v | h)``. The reference that MCMC
        output (`sample`) is compared with.

        Raises:
            ValueError: both layers have more than 25 units (use `sample`, which is approximate).
        """
        n, _ = _check_sample_args(n, 1, generator, self.weight)
        layer, n_units, log_weight = self._smaller_layer_marginal()
        states = _sample_enumerated(n_units, log_weight, n, generator, self.weight)
        return states if layer == "v" else self.sample_v(states, generator=generator)


@register_energy(
    "gaussian_bernoulli_rbm",
    example=lambda: GaussianBernoulliRBM(3, 4, sigma=torch.tensor([0.5, 1.0, 2.0]), weight_scale=0.5, generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: GaussianBernoulliRBM(0, 4), ValueError, "n_visible"),
        (lambda: GaussianBernoulliRBM(3, 4, sigma=-1.0), ValueError, "sigma"),
        (lambda: GaussianBernoulliRBM(3, 4, sigma=torch.ones(2)), ValueError, "sigma"),
    ],
)
class GaussianBernoulliRBM(_RBMBase):
    """Gaussian-Bernoulli RBM for real-valued visibles; ``forward(v)`` is the free energy.

        E(v, h) = Σ_i (v_i - b_i)² / (2σ_i²) - cᵀh - (v/σ²)ᵀ W h,
        F(v)    = Σ_i (v_i - b_i)² / (2σ_i²) - Σ_j softplus(c_j + ((v/σ²)ᵀ W)_j),
        p(h_j=1 | v) = σ(c_j + ((v/σ²)ᵀW)_j),     p(v | h) = N(b + Wh, diag σ²).

    Hidden units see ``v/σ²`` (Cho, Ilin & Raiko 2011), so p(v | h) has mean ``b + Wh``
    independent of σ. σ is stored as ``log_sigma`` (a parameter when ``learn_sigma``, else a
    buffer): gradient steps on log σ are multiplicative, which keeps σ positive and avoids the
    exploding updates of training σ or 1/σ² directly; ``constrain_parameters_`` keeps σ ≥ ``min_sigma``.

    Reference: Cho, Ilin & Raiko (2011), "Improved Learning of Gaussian-Bernoulli Restricted
    Boltzmann Machines"; Melchior, Wang & Wiskott (2016), arXiv:1401.5900.

    Args:
        n_visible, n_hidden: layer sizes.
        sigma: per-unit standard deviation, a float or a ``(n_visible,)`` tensor (default 1).
        learn_sigma: train σ (default True).
        min_sigma: lower bound kept by ``constrain_parameters_``.
        weight_scale, generator, dtype, device: as in `BernoulliRBM`.

    Raises:
        ValueError: non-positive sizes or σ, or σ of the wrong shape.

    Example:
        >>> rbm = GaussianBernoulliRBM(2, 8, sigma=0.5)
        >>> rbm(torch.randn(10, 2)).shape
        torch.Size([10])
    """

    def __init__(self, n_visible: int, n_hidden: int, *, sigma=1.0, learn_sigma: bool = True, min_sigma: float = 1e-3,
                 weight_scale: float = 0.01, generator=None, dtype=None, device=None):
        super().__init__(n_visible, n_hidden, weight_scale=weight_scale, generator=generator, dtype=dtype, device=device)
        if isinstance(sigma, Tensor):
            check_tensor("sigma", sigma, floating=True, finite=True)
            if sigma.shape not in ((), (self.n_visible,)):
                raise ValueError(format_error("sigma", f"a float or a tensor of shape ({self.n_visible},)", f"shape {tuple(sigma.shape)}", "pass one σ per visible unit"))
            if bool((sigma <= 0).any()):
                raise ValueError(format_error("sigma", "positive standard deviations", f"minimum {float(sigma.min()):.3g}", "pass σ > 0"))
            s = sigma.detach().to(self.weight.dtype).expand(self.n_visible).clone()
        else:
            s = torch.full((self.n_visible,), check_positive("sigma", sigma), dtype=self.weight.dtype)
        self.min_sigma = check_positive("min_sigma", min_sigma)
        log_sigma = s.log().to(self.weight.device)
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @property
    def sigma(self) -> Tensor:
        """Per-unit standard deviation σ, shape ``(n_visible,)``."""
        return self.log_sigma.exp()

    def _hidden_input(self, v: Tensor) -> Tensor:
        return (v * torch.exp(-2 * self.log_sigma)) @ self.weight + self.hidden_bias  # (*batch, H)

    def forward(self, v: Tensor) -> Tensor:
        """Free energy ``F(v)``: ``(*batch, V) -> (*batch,)``."""
        quad = (0.5 * (v - self.visible_bias) ** 2 * torch.exp(-2 * self.log_sigma)).sum(-1)
        return quad - F.softplus(self._hidden_input(v)).sum(-1)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """``(F(v), -∇F(v))`` in closed form: ``-∇F = (b - v)/σ² + (W p(h|v))/σ²``."""
        if create_graph:
            return super().energy_and_score(x, create_graph=True)
        with torch.no_grad():
            inv_var = torch.exp(-2 * self.log_sigma)
            a = (x * inv_var) @ self.weight + self.hidden_bias  # (*batch, H)
            energy = (0.5 * (x - self.visible_bias) ** 2 * inv_var).sum(-1) - F.softplus(a).sum(-1)
            score = ((self.visible_bias - x) + torch.sigmoid(a) @ self.weight.T) * inv_var
        return energy, score

    def joint_energy(self, v: Tensor, h: Tensor) -> Tensor:
        """``E(v, h)``: ``(*batch, V), (*batch, H) -> (*batch,)``."""
        inv_var = torch.exp(-2 * self.log_sigma)
        quad = (0.5 * (v - self.visible_bias) ** 2 * inv_var).sum(-1)
        return quad - h @ self.hidden_bias - (((v * inv_var) @ self.weight) * h).sum(-1)

    def mean_v(self, h: Tensor) -> Tensor:
        """``E[v | h] = b + Wh``: ``(*batch, H) -> (*batch, V)``."""
        return h @ self.weight.T + self.visible_bias

    def prob_v(self, h: Tensor) -> Tensor:
        """The mean of the Gaussian ``p(v | h)`` (the analogue of `BernoulliRBM.prob_v`): ``(*batch, V)``."""
        return self.mean_v(h)

    def sample_v(self, h: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``v ~ N(b + Wh, diag σ²)``: ``(*batch, H) -> (*batch, V)``."""
        mean = self.mean_v(h)
        return mean + self.sigma * normal(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)

    def log_partition(self) -> Tensor:
        """Exact ``log Z`` by enumerating the hidden layer (the Gaussian visibles integrate out):

            log Z = Σ_i ½ log(2πσ_i²) + logsumexp_h [cᵀh + Σ_i ((b_i + (Wh)_i)² - b_i²) / (2σ_i²)].

        Raises:
            ValueError: more than 25 hidden units (use AIS).
        """
        out = _enumerate_logsumexp(self.n_hidden, self._hidden_marginal(), self.weight.device)
        out = out + (0.5 * math.log(2 * math.pi) + self.log_sigma.double()).sum()
        return out.to(self.weight.dtype)

    def _hidden_marginal(self):
        """``log p*(h) = cᵀh + Σ_i ((b_i + (Wh)_i)² − b_i²) / (2σ_i²)`` (float64; the visibles integrated out)."""
        _check_enumerable(self.n_hidden, "n_hidden")
        W, b, c = self.weight.double(), self.visible_bias.double(), self.hidden_bias.double()
        inv_var = torch.exp(-2 * self.log_sigma.double())

        def log_weight(h):
            mean = h @ W.T + b  # (m, V)
            return h @ c + (0.5 * (mean**2 - b**2) * inv_var).sum(-1)

        return log_weight

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact, independent samples ``(n, n_visible)``: ``h`` from its exact marginal by
        enumeration (up to 25 hidden units), then ``v ~ N(b + Wh, diag σ²)``.

        Raises:
            ValueError: more than 25 hidden units (use `sample`, which is approximate).
        """
        n, _ = _check_sample_args(n, 1, generator, self.weight)
        h = _sample_enumerated(self.n_hidden, self._hidden_marginal(), n, generator, self.weight)
        return self.sample_v(h, generator=generator)

    def constrain_parameters_(self) -> None:
        """Keep σ ≥ ``min_sigma`` (called by `ebm.train.train` after each step)."""
        self.log_sigma.data.clamp_(min=math.log(self.min_sigma))


def _bm_example():
    g = torch.Generator().manual_seed(0)
    return BoltzmannMachine(5, weight_scale=0.5, generator=g)


@register_energy(
    "boltzmann_machine",
    example=_bm_example,
    bad_params=[
        (lambda: BoltzmannMachine(0), ValueError, "n"),
        (lambda: BoltzmannMachine(2, coupling=torch.tensor([[0.0, 1.0], [2.0, 0.0]])), ValueError, "coupling"),
        (lambda: BoltzmannMachine(2, coupling=torch.eye(3)), ValueError, "coupling"),
        (lambda: BoltzmannMachine(2, bias=torch.zeros(3)), ValueError, "bias"),
    ],
    binary=True,
)
class BoltzmannMachine(Energy):
    """Fully visible binary Boltzmann machine (an Ising model on {0, 1}ⁿ).

        E(x) = -½ xᵀJx - bᵀx,     p(x_i = 1 | x_-i) = σ((Jx)_i + b_i),     J = Jᵀ, diag J = 0.

    ``coupling`` is a parameter whose effective value is always symmetrised with a zero diagonal
    (``(J + Jᵀ)/2`` off the diagonal), so its gradient is symmetric with zero diagonal and any
    optimiser keeps it so; ``constrain_parameters_`` projects it exactly after each step.

    Reference: Ackley, Hinton & Sejnowski (1985), "A learning algorithm for Boltzmann machines".

    Args:
        n: number of units.
        coupling: optional ``(n, n)`` symmetric initial couplings (diagonal must be 0).
        bias: optional ``(n,)`` initial biases.
        weight_scale: standard deviation of random initial couplings when ``coupling`` is None.
        generator, dtype, device: for the initial parameters.

    Raises:
        ValueError: non-positive n; coupling not (n, n), not symmetric or with non-zero diagonal;
            bias not (n,); at call time, inputs not in {0, 1}.

    Example:
        >>> bm = BoltzmannMachine(4)
        >>> bm(torch.tensor([[1.0, 0.0, 1.0, 1.0]])).shape
        torch.Size([1])
    """

    is_binary = True  # states are {0, 1}^n: generic tools (AIS) pick a Bernoulli base and Gibbs moves

    def __init__(self, n: int, *, coupling: Tensor | None = None, bias: Tensor | None = None, weight_scale: float = 0.01,
                 generator=None, dtype=None, device=None):
        n = check_int("n", n, minimum=1)
        weight_scale = check_nonnegative("weight_scale", weight_scale, fix="pass e.g. weight_scale=0.01")
        super().__init__((n,))
        self.n = n
        dtype = dtype or (coupling.dtype if isinstance(coupling, Tensor) and coupling.is_floating_point() else torch.get_default_dtype())
        if coupling is None:
            j = torch.randn(n, n, generator=generator, dtype=dtype) * float(weight_scale)
            j = torch.triu(j, 1)
            j = j + j.T
        else:
            check_tensor("coupling", coupling, floating=True, finite=True)
            if tuple(coupling.shape) != (n, n):
                raise ValueError(format_error("coupling", f"shape ({n}, {n})", f"shape {tuple(coupling.shape)}", f"pass an {n}x{n} matrix"))
            if not torch.allclose(coupling, coupling.T) or bool((coupling.diagonal() != 0).any()):
                raise ValueError(
                    format_error("coupling", "a symmetric matrix with zero diagonal", "an asymmetric matrix or a non-zero diagonal",
                                 "use (J + J.T) / 2 with J.fill_diagonal_(0)")
                )
            j = coupling.detach().to(dtype).clone()
        if bias is None:
            b = torch.zeros(n, dtype=dtype)
        else:
            check_tensor("bias", bias, floating=True, finite=True)
            if tuple(bias.shape) != (n,):
                raise ValueError(format_error("bias", f"shape ({n},)", f"shape {tuple(bias.shape)}", f"pass one bias per unit ({n})"))
            b = bias.detach().to(dtype).clone()
        self.coupling = nn.Parameter(j.to(device))
        self.bias = nn.Parameter(b.to(device))
        self.register_buffer("_off_diagonal", 1.0 - torch.eye(n, dtype=dtype, device=device), persistent=False)

    def check_input(self, x, name: str = "x") -> Tensor:
        super().check_input(x, name)
        _check_binary(name, x, "a BoltzmannMachine")
        return x

    def effective_coupling(self) -> Tensor:
        """The symmetric, zero-diagonal ``J`` the energy uses: ``(n, n)``."""
        return 0.5 * (self.coupling + self.coupling.T) * self._off_diagonal

    def local_field(self, x: Tensor) -> Tensor:
        """``(Jx)_i + b_i``: ``(*batch, n) -> (*batch, n)``; ``p(x_i=1 | x_-i) = σ(local field)``."""
        return x @ self.effective_coupling() + self.bias

    def forward(self, x: Tensor) -> Tensor:
        """``E(x) = -½ xᵀJx - bᵀx``: ``(*batch, n) -> (*batch,)``."""
        return -0.5 * ((x @ self.effective_coupling()) * x).sum(-1) - x @ self.bias

    def flip_energy_deltas(self, x: Tensor, i: int) -> Tensor:
        """``E(x with bit i flipped) - E(x) = -(1 - 2x_i) ((Jx)_i + b_i)``: ``(*batch, n) -> (*batch,)``."""
        field = x @ self.effective_coupling()[:, i] + self.bias[i]  # (*batch,)
        return -(1.0 - 2.0 * x[..., i]) * field

    def all_flip_energy_deltas(self, x: Tensor) -> Tensor:
        """The flip deltas of every unit at once: ``(*batch, n) -> (*batch, n)``."""
        return -(1.0 - 2.0 * x) * self.local_field(x)

    def conditional_prob(self, x: Tensor) -> Tensor:
        """``p(x_i = 1 | x_-i)`` for every unit: ``(*batch, n) -> (*batch, n)``."""
        return torch.sigmoid(self.local_field(x))

    def log_partition(self) -> Tensor:
        """Exact ``log Z = logsumexp_x [-E(x)]`` over all 2ⁿ states (float64, chunked).

        Raises:
            ValueError: n > 25 (use AIS or a sampler-based estimate).
        """
        return self.tempered_log_partition(1.0)

    def tempered_log_partition(self, temperature: float) -> Tensor:
        """Exact ``log Σ_x exp(-E(x)/T)`` (used by ``self.tempered(T).log_partition()``)."""
        _check_enumerable(self.n, "n", _BM_AIS_FIX)
        J, b = self.effective_coupling().double(), self.bias.double()
        out = _enumerate_logsumexp(self.n, lambda x: (0.5 * ((x @ J) * x).sum(-1) + x @ b) / temperature, J.device)
        return out.to(self.coupling.dtype)

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact, independent samples ``(n, self.n)`` by enumerating all 2ⁿ states (n ≤ 25).

        The reference that MCMC output (`sample`) is compared with.

        Raises:
            ValueError: more than 25 units (use `sample`, which is approximate).
        """
        n, _ = _check_sample_args(n, 1, generator, self.coupling)
        _check_enumerable(self.n, "n", _BM_AIS_FIX)
        J, b = self.effective_coupling().double(), self.bias.double()
        return _sample_enumerated(self.n, lambda x: 0.5 * ((x @ J) * x).sum(-1) + x @ b, n, generator, self.coupling)

    def sample(self, n: int, *, n_steps: int = 1000, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` states by single-site Gibbs sampling, ``(n, self.n)`` in {0, 1}.

        Each of ``n_steps`` systematic sweeps resamples every unit from ``p(x_i = 1 | x_-i) =
        σ((Jx)_i + b_i)`` (`samplers.SingleSiteGibbs`) in ``n`` independent chains started from
        ``x_i ~ Bernoulli(σ(b_i))``. Approximate: strong couplings mix slowly (use more steps or
        `samplers.ParallelTempering`).

        Reference: Geman & Geman (1984), "Stochastic relaxation, Gibbs distributions, and the
        Bayesian restoration of images".

        Args:
            n: number of samples (independent chains).
            n_steps: Gibbs sweeps per chain.
            generator: random generator on the model's device.

        Returns:
            ``(n, self.n)`` binary samples.

        Raises:
            TypeError, ValueError: ``n`` or ``n_steps`` not a positive integer, a bad generator.

        Example:
            >>> bm = BoltzmannMachine(5, generator=torch.Generator().manual_seed(0))
            >>> bm.sample(10, n_steps=50, generator=torch.Generator().manual_seed(1)).shape
            torch.Size([10, 5])
        """
        from samplers import SingleSiteGibbs

        n, n_steps = _check_sample_args(n, n_steps, generator, self.bias)
        with torch.no_grad():
            x0 = bernoulli(torch.sigmoid(self.bias).expand(n, self.n), generator)  # (n, self.n)
            return SingleSiteGibbs().run(self, x0, n_steps, generator=generator).x

    def constrain_parameters_(self) -> None:
        """Project ``coupling`` onto symmetric zero-diagonal matrices (after each optimiser step)."""
        self.coupling.data.copy_(self.effective_coupling().detach())

    def extra_repr(self) -> str:
        return f"n={self.n}"
