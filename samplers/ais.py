"""Annealed importance sampling (AIS) for log partition functions, forward and reverse.

Anneal from a base energy E_0 with known log Z_0 (β = 0) to the target E_1 (β = 1) through
intermediate energies E_β (by default the geometric path ``E_β = (1-β) E_0 + β E_1``). With
x_0 ~ p_0 exactly and x_k ← T_k(x_{k-1}) a kernel leaving p_{β_k} invariant, the weights

    log w = Σ_{k=1..K} [E_{β_{k-1}}(x_{k-1}) - E_{β_k}(x_{k-1})]

satisfy E[w] = Z_1 / Z_0, so ``log Ẑ_1 = log Z_0 + log mean(w)`` (unbiased in Z, and by Jensen a
stochastic *lower* bound in log Z). Reverse AIS starts from exact target samples and anneals
β: 1 → 0; its weights estimate Z_0 / Z_1 and give a stochastic *upper* bound on log Z_1.
References: Neal (2001), "Annealed importance sampling", Statistics and Computing 11,
arXiv:physics/9803008; Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief
networks", ICML (AIS for RBMs); Grosse, Ghahramani & Adams (2015), arXiv:1511.02543 (reverse AIS).

Standard error: we report the delta-method standard error of log mean(w),
``se = sd(w) / (√n · mean(w))`` computed on ``w / max(w)`` for stability. It is only meaningful
when the weights are not too heavy-tailed; check ``ess`` (Kish's effective sample size of w).

Building RBM AIS on top (Salakhutdinov & Murray's base-rate model): pass ``path(v, beta)`` = the
free energy of v under the intermediate model (hidden units summed out) and a ``kernel(v, beta,
generator)`` doing one v → h → v Gibbs sweep of the intermediate model; ``x0`` are exact samples
of the base-rate model and ``base_log_partition`` its log Z.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ._base import ChainState, check_energy_output, check_x0_against_energy, energy_and_score_fn
from .compilation import AutoCompile, compile_failure, compile_step, warn_eager_fallback
from .counter_rng import CounterRNG
from .validation import check_callable_energy, check_generator, check_int, check_positive, check_tensor, format_error, trusted_inputs
from .gibbs import SingleSiteGibbs
from .langevin import MALA

# Compiled transitions of paths that define their own ``transition``, one per path class.
_COMPILED_TRANSITIONS: dict = {}
# Temperatures per compiled call (see AIS._compiled_block).
_UNROLL = 4

__all__ = ["AIS", "AISResult", "GeometricPath", "mala_kernel", "gibbs_kernel", "summarise_log_weights"]


class GeometricPath:
    """Geometric path ``E_β(x) = (1 - β) E_0(x) + β E_1(x)`` between two energies ``(n, *event) -> (n,)``."""

    def __init__(self, base, target):
        self.base, self.target = check_callable_energy("base", base), check_callable_energy("target", target)
        self._f0, self._f1 = energy_and_score_fn(base), energy_and_score_fn(target)

    def __call__(self, x: torch.Tensor, beta: float) -> torch.Tensor:
        return (1 - beta) * self.base(x) + beta * self.target(x)

    def energy_and_score(self, x: torch.Tensor, beta: float):
        e0, s0 = self._f0(x)
        e1, s1 = self._f1(x)
        return (1 - beta) * e0 + beta * e1, (1 - beta) * s0 + beta * s1


class _AtBeta:
    def __init__(self, path, beta):
        self.path, self.beta = path, beta
        if hasattr(path, "energy_and_score"):
            self.energy_and_score = lambda x: path.energy_and_score(x, beta)

    def __call__(self, x):
        return self.path(x, self.beta)


def mala_kernel(path, step_size: float, n_steps: int = 1) -> Callable:
    """A ``kernel(x, beta, generator) -> x`` doing ``n_steps`` MALA steps on ``path(·, beta)``."""
    mala = MALA(step_size)
    check_int("n_steps", n_steps, minimum=1)

    def kernel(x, beta, generator):
        fn = energy_and_score_fn(_AtBeta(path, beta))
        st = ChainState(x, *fn(x))
        mala._advance(mala._step_fn(None, fn, st.x), st, n_steps, mala.step_size, generator)
        return st.x

    return kernel


def gibbs_kernel(path, n_sweeps: int = 1, scan: str = "systematic") -> Callable:
    """A ``kernel(x, beta, generator) -> x`` doing single-site Gibbs sweeps on binary x at ``beta``."""
    gibbs = SingleSiteGibbs(scan)
    check_int("n_sweeps", n_sweeps, minimum=1)

    def kernel(x, beta, generator):
        at = _AtBeta(path, beta)
        x = x.clone()
        e = at(x)
        n = x[0].numel()
        for sites in gibbs._draws(n, n_sweeps, x.shape[0], x, generator):
            logistic = torch.logit(torch.rand((n, x.shape[0]), generator=generator, dtype=x.dtype, device=x.device))
            e = gibbs._sweep(at, x, e, sites, logistic)
        return x

    return kernel


@dataclass
class AISResult:
    """An AIS estimate of log Z (forward, reverse, or both), shared by `AIS` and ``ebm.evaluate``.

    Attributes:
        log_z: scalar tensor, the estimate of log Z_1 (forward: a stochastic lower bound; reverse:
            a stochastic upper bound).
        std_error: scalar tensor, the delta-method standard error of ``log_z``,
            ``sd(w) / (√n · mean(w))``.
        log_z_low, log_z_high: scalar tensors, the ``±3σ`` bracket on Z mapped to log Z:
            forward ``log(Ẑ_ratio ∓ 3σ̂)`` + log Z_0 (``-inf`` when the lower end is negative);
            reverse maps the bracket on Z_0/Z_1 the same way, so ``log_z_low <= log_z <= log_z_high``.
        log_weights: ``(n,)`` log importance weights (forward: log Z_1/Z_0 per run; reverse:
            log Z_0/Z_1), in the dtype they were computed in.
        ess: scalar tensor, Kish effective sample size ``(Σw)² / Σw²``.
        log_z_base: scalar tensor, log Z_0 of the base distribution.
        x: ``(n, *event)`` final states (forward: approximate target samples, weighted by w), or None.
        log_z_upper: reverse-AIS estimate (a stochastic upper bound) when both directions were
            run (``ebm.evaluate.ais_log_partition(..., reverse_from=...)``), else None.

    The summary statistics are computed in float64 (float32 on devices without float64).
    """

    log_z: torch.Tensor
    std_error: torch.Tensor
    log_z_low: torch.Tensor
    log_z_high: torch.Tensor
    log_weights: torch.Tensor
    ess: torch.Tensor
    log_z_base: torch.Tensor
    x: torch.Tensor | None = None
    log_z_upper: torch.Tensor | None = None

    @property
    def log_z_se(self) -> torch.Tensor:
        """Deprecated alias of ``std_error``."""
        warnings.warn("AISResult.log_z_se is deprecated; use AISResult.std_error", DeprecationWarning, stacklevel=2)
        return self.std_error

    def __float__(self) -> float:
        return float(self.log_z)


def summarise_log_weights(lw: torch.Tensor, log_z_base: float, sign: float = 1.0, x: torch.Tensor | None = None) -> AISResult:
    """`AISResult` from ``(n,)`` log weights (n >= 2): ``log Ẑ_1 = log Z_0 + sign · log mean(w)``.

    ``sign = 1``: forward weights (mean estimates Z_1/Z_0); ``sign = -1``: reverse (Z_0/Z_1).
    """
    n = lw.shape[0]
    if n < 2:
        raise ValueError(format_error("log_weights", "at least 2 annealing runs (no standard error from one)", f"{n}", "run AIS with n >= 2 chains (e.g. 100)"))
    wide = torch.float32 if lw.device.type == "mps" else torch.float64
    given, lw = lw, lw.to(wide)
    base = torch.tensor(float(log_z_base), dtype=wide, device=lw.device)
    shift = lw.max()
    w = (lw - shift).exp()  # (n,) in (0, 1]
    mean = w.mean()
    se = w.std(unbiased=True) / math.sqrt(n)  # standard error of the (shifted) mean weight
    inf = torch.tensor(math.inf, dtype=wide, device=lw.device)
    log_hi = shift + (mean + 3 * se).log()
    log_lo = torch.where(mean - 3 * se > 0, shift + (mean - 3 * se).clamp_min(torch.finfo(wide).tiny).log(), -inf)
    log_mean = shift + mean.log()
    if sign > 0:
        log_z, low, high = base + log_mean, base + log_lo, base + log_hi
    else:  # Z_1 = Z_0 / ratio: the bracket flips
        log_z, low, high = base - log_mean, base - log_hi, base - log_lo
    return AISResult(log_z=log_z, std_error=se / mean, log_z_low=low, log_z_high=high, log_weights=given,
                     ess=w.sum() ** 2 / w.square().sum(), log_z_base=base, x=x)


class AIS:
    """Annealed importance sampling along ``path(x, beta)`` over a schedule ``0 = β_0 < ... < β_K = 1``.

    Args:
        betas: an increasing sequence from 0.0 to 1.0, or an int K+1 (a uniform grid of that size).
        kernel: ``kernel(x, beta, generator) -> x`` leaving ``exp(-path(x, beta))`` invariant; or
            None / "mala" (MALA with ``step_size``, ``kernel_steps`` steps) or "gibbs" (single-site
            Gibbs sweeps for binary x). The kernel is applied at every intermediate β.
        step_size: MALA step size for the default kernel.
        kernel_steps: steps (or sweeps) per temperature for the built-in kernels.
        compile: ``"auto"`` (default), True or False. True fuses each temperature (the weight
            increment and the kernel) with ``torch.compile``. Needs a callable ``kernel`` that draws through
            ``samplers.counter_rng`` (it then receives a `CounterRNG` keyed from ``generator``) and a
            ``path``/``kernel`` that accept β as a 0-d tensor (so one compiled step serves every
            temperature); or a path with its own ``transition`` (see ``_transition_fn``). The first
            run pays the compilation; later runs reuse it. "auto" fuses only paths with their own
            ``transition`` (e.g. the RBM path of ``ebm.evaluate.ais_log_partition``; a user kernel
            is fused only with True, since only its author knows it draws through
            ``samplers.counter_rng``), once the work ``chains × event size × temperatures``
            summed over runs reaches ``samplers.compilation.AUTO_THRESHOLDS["ais"]``; a failed
            compilation then warns once and runs the same transition eagerly.

    Example:
        >>> base = lambda x: 0.5 * (x ** 2).sum(-1)                 # log Z_0 = log 2π in 2-D
        >>> target = lambda x: 0.5 * (x ** 2).sum(-1) / 4.0         # log Z_1 = log 8π
        >>> g = torch.Generator().manual_seed(0)
        >>> r = AIS(200, step_size=0.5).run(GeometricPath(base, target), torch.randn(500, 2, generator=g),
        ...                                  math.log(2 * math.pi), generator=g)
        >>> abs(float(r.log_z) - math.log(8 * math.pi)) < 0.1
        True
    """

    def __init__(self, betas: Sequence[float] | int, *, kernel: Callable | str | None = None, step_size: float = 0.1, kernel_steps: int = 1, compile: bool | str = "auto"):
        if isinstance(betas, int) and not isinstance(betas, bool):
            check_int("betas", betas, minimum=2)
            betas = [k / (betas - 1) for k in range(betas)]
        b = [float(v) for v in betas]
        if len(b) < 2 or b[0] != 0.0 or b[-1] != 1.0 or any(q <= p for p, q in zip(b, b[1:])):
            raise ValueError(format_error("betas", "an increasing schedule from 0.0 to 1.0 (at least 2 values), or an int", repr(betas), "pass e.g. torch.linspace(0, 1, 1000).tolist()"))
        self.betas = b
        if kernel is not None and not callable(kernel) and kernel not in ("mala", "gibbs"):
            raise ValueError(format_error("kernel", "a callable kernel(x, beta, generator) -> x, 'mala', 'gibbs' or None", repr(kernel), "see samplers.ais.mala_kernel / gibbs_kernel"))
        self.kernel = kernel
        self.step_size = check_positive("step_size", step_size)
        self.kernel_steps = check_int("kernel_steps", kernel_steps, minimum=1)
        self._auto = AutoCompile(compile, "ais", "AIS")
        self.compile = self._auto.option
        self._fused = self.compile is True  # this run's decision (set by _anneal)
        self._compiled = None  # (path, compiled transition) of the last run with a path+kernel

    def _kernel(self, path):
        if callable(self.kernel):
            return self.kernel
        if self.kernel == "gibbs":
            return gibbs_kernel(path, self.kernel_steps)
        return mala_kernel(path, self.step_size, self.kernel_steps)

    def _transition_fn(self, path):
        """``transition(x, lw, β_prev, β, randomness, move) -> (x, lw)``, eager.

        One temperature: ``lw += E_{β_prev}(x) - E_β(x)``, then (if ``move``) ``x ← T_β(x)``. A
        path may supply this itself as ``path.transition`` (same signature, ``randomness`` a
        generator or `CounterRNG`) to share work between the increment and the kernel; an RBM
        computes its hidden input ``c + xW`` once for both.
        """
        if hasattr(path, "transition"):
            return path.transition
        kernel = self._kernel(path)
        if self._fused and not callable(self.kernel):
            raise ValueError(format_error("kernel", "a callable kernel(x, beta, generator) drawing through samplers.counter_rng when compile=True", repr(self.kernel),
                                          "pass compile=False for the built-in 'mala'/'gibbs' kernels, or write the kernel with samplers.counter_rng.uniform/normal/bernoulli"))

        def step(x, lw, beta_prev, beta, randomness, move):
            lw = lw + (path(x, beta_prev) - path(x, beta))
            return (kernel(x, beta, randomness) if move else x), lw

        return step

    def _compiled_block(self, path, step):
        """``block(x, lw, betas (m+1,), keys (m, 2)) -> (x, lw)``: m moving temperatures in one compiled call.

        The Python loop over ``m`` unrolls into one graph, so the per-call cost of a compiled
        region (guards, wrapper: ≈ 0.15 ms on the 2-core CPU, 10% of a 784 × 500 RBM temperature)
        is paid once per ``m`` temperatures.
        """
        if hasattr(path, "transition"):
            # Compiled once per path *class* and shared by every AIS run: the path travels as an
            # argument, so a new path object (a new model, or the same model after training)
            # reuses the graph instead of paying the compilation again.
            auto = self.compile == "auto"
            cls = (type(path), torch.compile, auto)  # torch.compile in the key: tests stub it
            if cls not in _COMPILED_TRANSITIONS:
                def path_block(path, x, lw, betas, keys):
                    for i in range(keys.shape[0]):
                        x, lw = type(path).transition(path, x, lw, betas[i], betas[i + 1], CounterRNG(keys[i]), True)
                    return x, lw

                on_failure = (lambda err: warn_eager_fallback("AIS", compile_failure(err))) if auto else None
                _COMPILED_TRANSITIONS[cls] = compile_step(path_block, on_failure=on_failure)
            shared = _COMPILED_TRANSITIONS[cls]
            return lambda x, lw, betas, keys: shared(path, x, lw, betas, keys)
        if self._compiled is None or self._compiled[0] is not path:
            def counter_block(x, lw, betas, keys):
                for i in range(keys.shape[0]):
                    x, lw = step(x, lw, betas[i], betas[i + 1], CounterRNG(keys[i]), True)
                return x, lw

            self._compiled = (path, compile_step(counter_block, on_failure=self._auto.disable if self.compile == "auto" else None))
        return self._compiled[1]

    def _anneal(self, path, x, betas, generator, progress=None):
        check_energy_output(path(x, betas[0]), None, x)  # the shared check: (n,) finite energies
        lw = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        last = len(betas) - 1
        every = max(1, -(-last // 100))  # progress(done, total) at most ~100 times per run, never per step
        if self.compile == "auto":  # fuse only a path that brings its own counter-aware transition
            self._fused = hasattr(path, "transition") and self._auto.fused((type(path), tuple(x.shape), x.dtype, x.device), x.numel() * last, x.device)
        step = self._transition_fn(path)
        if not self._fused:
            for k in range(1, last + 1):
                x, lw = step(x, lw, betas[k - 1], betas[k], generator, k < last)
                if progress is not None and (k % every == 0 or k == last):
                    progress(k, last)
            return lw, x
        # β as a tensor (one compiled graph for every temperature) and one counter key per move;
        # blocks of _UNROLL temperatures, then single ones, so at most two graph sizes exist.
        beta_t = torch.tensor(betas, dtype=x.dtype, device=x.device)  # (K+1,)
        keys = CounterRNG.new_keys(last, generator, x.device)  # (K, 2); row k-1 drives temperature k
        block = self._compiled_block(path, step)
        k = 1
        while k < last:
            m = _UNROLL if last - k >= _UNROLL else 1
            x, lw = block(x, lw, beta_t[k - 1 : k + m], keys[k - 1 : k - 1 + m])  # views: no recompiles (checked)
            if progress is not None and (k + m - 1) // every > (k - 1) // every:
                progress(k + m - 1, last)
            k += m
        _, lw = step(x, lw, beta_t[last - 1], beta_t[last], None, False)  # the last increment; no move at β = 1
        if progress is not None:
            progress(last, last)
        return lw, x

    def _check(self, x, base_log_partition, generator, name, path=None):
        x = check_tensor(name, x, min_ndim=1, floating=True, finite=True, nonempty=True)
        if x.shape[0] < 2:
            raise ValueError(format_error(name, "at least 2 annealing runs (rows): the standard error needs two", f"shape {tuple(x.shape)}", f"pass {name} with n >= 2 rows (e.g. 100)"))
        if path is not None:
            for part in (path.base, path.target) if isinstance(path, GeometricPath) else (path,):
                check_x0_against_energy(x, part, name)
        if not math.isfinite(float(base_log_partition)):
            raise ValueError(format_error("base_log_partition", "a finite log Z of the base energy", repr(base_log_partition), "compute it in closed form (e.g. n log 2 for a uniform binary base)"))
        check_generator("generator", generator, x.device)
        return x

    def _finish(self, lw, x, sign, base_log_partition):
        if not bool(torch.isfinite(lw).all()):
            bad = (~torch.isfinite(lw)).nonzero().flatten()[:10].tolist()
            raise FloatingPointError(format_error("path", "finite energies along the annealing path", f"non-finite log weights for runs {bad}", "lower the kernel step size or check the energies for overflow"))
        return summarise_log_weights(lw, base_log_partition, sign, x)

    def run(self, path, x0: torch.Tensor, base_log_partition: float, *, generator: torch.Generator | None = None,
            progress: Callable[[int, int], None] | None = None) -> AISResult:
        """Forward AIS: estimate log Z_1 from exact base samples ``x0`` ``(n, *event)``, n >= 2.

        Args:
            path: ``path(x, beta) -> (n,)``, e.g. ``GeometricPath(base, target)``. A path (or a
                GeometricPath's base / target) with ``event_shape``, or an ``nn.Module`` with
                floating parameters, is checked against ``x0`` first.
            x0: ``(n, *event)`` exact samples of the base distribution exp(-path(·, 0)) / Z_0.
            base_log_partition: log Z_0 (float).
            generator: torch.Generator or None.
            progress: optional ``progress(done, total)`` called about 100 times along the
                schedule (temperatures done out of ``len(betas) - 1``), e.g. to drive a tqdm bar.

        Returns:
            AISResult (log_z is a stochastic lower bound on log Z_1).

        Raises:
            ValueError: fewer than 2 runs, a bad x0 or path output, a non-finite base_log_partition;
                FloatingPointError: non-finite log weights.
        """
        x0 = self._check(x0, base_log_partition, generator, "x0", path)
        with torch.no_grad(), trusted_inputs():
            lw, x = self._anneal(path, x0.clone(), self.betas, generator, progress)
        return self._finish(lw, x, 1.0, float(base_log_partition))

    def run_reverse(self, path, x_target: torch.Tensor, base_log_partition: float, *, generator: torch.Generator | None = None,
                    progress: Callable[[int, int], None] | None = None) -> AISResult:
        """Reverse AIS: anneal exact target samples ``x_target`` ``(n, *event)`` from β = 1 to 0.

        The weights estimate Z_0 / Z_1; ``log_z = log Z_0 - log mean(w)`` is a stochastic upper
        bound on log Z_1. Needs exact samples of the target (e.g. from enumeration or a sampler
        known to have converged, with the usual caveat for the latter). Arguments as in `run`.
        """
        x = self._check(x_target, base_log_partition, generator, "x_target", path)
        with torch.no_grad(), trusted_inputs():
            lw, x = self._anneal(path, x.clone(), self.betas[::-1], generator, progress)
        return self._finish(lw, x, -1.0, float(base_log_partition))
