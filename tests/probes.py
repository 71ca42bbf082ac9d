"""Bad-input probes: mutate the arguments of every public entry point and classify what happens.

A *target* is one argument of one entry point with a working value (``energy:gaussian.score`` and
its ``x``). A *mutation* turns the working value into a bad one (wrong shape, an int tensor, NaN,
a numpy array, a non-positive step size ...). Calling the entry point with it has one of five
outcomes:

* ``clear``: raises TypeError / ValueError / RuntimeError whose message contains ``Fix:``
  (the house message from `format_error`);
* ``obscure``: raises anything else (a message from deep inside torch, an AttributeError ...);
* ``silent``: returns although the input is wrong (``silent-NaN`` when the output is not finite);
* ``accepted-ok``: returns a finite result for an input that is legitimately valid for this entry
  point (the target lists those mutations in ``accepted``: float64 into an energy without
  parameters, an empty batch into an energy, ...). An accepted input that comes back non-finite
  counts as ``silent-NaN``.

The targets are walked from the registries (`ebm.registry.ENERGIES`, ``OBJECTIVES``) and from
``samplers.__all__``; the public helpers (diagnostics, evaluation, sparse solvers, data, augment,
grid, train) are listed by hand. `run_probes()` returns one `Result` per probe;
``tests/test_bad_input_probes.py`` asserts on them and ``benchmarks/robustness_probes.py`` prints
the counts. Only public names are imported, so the same file runs against older checkouts.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

TENSOR_MUTATIONS = ("shape", "ndim", "int", "float16", "complex", "other_float", "nan", "inf", "empty", "meta", "list", "numpy")
OUTCOMES = ("clear", "obscure", "silent", "silent-NaN", "accepted-ok")


def _flat_set(x: torch.Tensor, value: float) -> torch.Tensor:
    y = x.clone()
    y.view(-1)[0] = value
    return y


def mutate_tensor(x: torch.Tensor, mutation: str):
    """The bad version of a working tensor `x` for one of `TENSOR_MUTATIONS`."""
    if mutation == "shape":  # the last dimension one too short (or one too long when it is 1)
        return x[..., :-1] if x.shape[-1] > 1 else torch.cat([x, x], -1)
    if mutation == "ndim":  # one trailing dimension too many
        return x.unsqueeze(-1)
    if mutation == "int":
        return x.round().long()
    if mutation == "float16":
        return x.half()
    if mutation == "complex":
        return x.to(torch.complex64)
    if mutation == "other_float":
        return x.float() if x.dtype == torch.float64 else x.double()
    if mutation == "nan":
        return _flat_set(x, float("nan"))
    if mutation == "inf":
        return _flat_set(x, float("inf"))
    if mutation == "empty":
        return x[:0]
    if mutation == "meta":
        return x.to("meta")
    if mutation == "list":
        return x.tolist()
    if mutation == "numpy":
        return x.numpy()
    raise KeyError(mutation)


@dataclass
class Target:
    """One argument of one entry point. ``call(value)`` runs the entry point with `value` in place of
    the argument; ``valid()`` builds the working value; ``bad`` maps extra mutation names to bad
    values (hyper-parameters); ``accepted`` names the mutations that are legitimately valid here."""

    name: str
    arg: str
    area: str
    call: Callable[[object], object]
    valid: Callable[[], object]
    mutations: tuple[str, ...] = TENSOR_MUTATIONS
    bad: dict = field(default_factory=dict)
    accepted: frozenset = frozenset()


@dataclass
class Result:
    probe: str  # "target:arg:mutation"
    area: str
    outcome: str
    detail: str


def _finite(out) -> bool:
    """Whether every tensor / float reachable from `out` is finite (meta tensors cannot be read)."""
    if isinstance(out, torch.Tensor):
        if out.device.type == "meta" or not (out.is_floating_point() or out.is_complex()):
            return True
        return bool(torch.isfinite(out.detach()).all())
    if isinstance(out, float):
        return math.isfinite(out)
    if isinstance(out, (tuple, list)):
        return all(_finite(o) for o in out)
    if isinstance(out, dict):
        return all(_finite(o) for o in out.values())
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return all(_finite(getattr(out, f.name)) for f in dataclasses.fields(out))
    return True


def classify(call: Callable[[], object], accepted: bool) -> tuple[str, str]:
    """Run `call` and return ``(outcome, detail)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = call()
    except (TypeError, ValueError, RuntimeError) as exc:
        message = str(exc)
        if "Fix:" in message:
            return "clear", message.splitlines()[0][:160]
        return "obscure", f"{type(exc).__name__}: {message.splitlines()[0][:160] if message else ''}"
    except Exception as exc:  # noqa: BLE001 - classifying every failure is the point
        return "obscure", f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    finite = _finite(out)
    if accepted and finite:
        return "accepted-ok", ""
    return ("silent" if finite else "silent-NaN"), "returned" + ("" if finite else " a non-finite value")


def _probes_of(target: Target):
    for m in target.mutations:
        yield m, (lambda m=m: target.call(mutate_tensor(target.valid(), m)))
    for m, value in target.bad.items():
        yield m, (lambda value=value: target.call(value))


def run_probes(targets: list[Target] | None = None) -> list[Result]:
    """Classify every probe of every target (`build_targets()` by default)."""
    results = []
    for target in targets if targets is not None else build_targets():
        for mutation, call in _probes_of(target):
            outcome, detail = classify(call, mutation in target.accepted)
            results.append(Result(f"{target.name}:{target.arg}:{mutation}", target.area, outcome, detail))
    return results


def broken_targets(targets: list[Target]) -> list[str]:
    """Targets whose *working* value fails: the probe table itself is wrong there."""
    broken = []
    for t in targets:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t.call(t.valid())
        except Exception as exc:  # noqa: BLE001
            broken.append(f"{t.name}:{t.arg}: {type(exc).__name__}: {exc}")
    return broken


def summarise(results: list[Result]) -> dict:
    """Counts per outcome (``silent-NaN`` is counted inside ``silent`` too) and the total."""
    counts = Counter(r.outcome for r in results)
    summary = {k: counts.get(k, 0) for k in OUTCOMES}
    summary["silent"] += summary["silent-NaN"]
    summary["total"] = len(results)
    return summary


# ---------------------------------------------------------------------------------------- targets
def _import_all_ebm():
    import ebm

    for info in pkgutil.walk_packages(ebm.__path__, "ebm."):
        if info.name.startswith(("ebm.plot", "ebm.demos", "ebm.recipes", "ebm.cli", "ebm.__main__", "ebm.playground")):
            continue
        importlib.import_module(info.name)


def _reference(module) -> torch.Tensor | None:
    if not isinstance(module, torch.nn.Module):
        return None
    return next((t for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()), None)


def _energy_input(entry, energy, n=4):
    g = torch.Generator().manual_seed(1)
    ref = _reference(energy)
    dtype = ref.dtype if ref is not None else torch.float32
    shape = (n, *energy.event_shape)
    if entry.binary:
        return torch.bernoulli(torch.full(shape, 0.5, dtype=dtype), generator=g)
    return torch.randn(shape, generator=g, dtype=dtype)


def energy_targets() -> list[Target]:
    """``__call__``, ``score``, ``energy_and_score`` and ``log_prob`` of every registered energy."""
    _import_all_ebm()
    from ebm.registry import ENERGIES

    targets = []
    for name, entry in sorted(ENERGIES.items()):
        energy = entry.example()
        free = _reference(energy) is None  # no parameters: dtype and device follow the input
        accepted = {"empty"} | ({"other_float", "meta"} if free else set())
        bad = {"nonbinary": (lambda e=energy, en=entry: 0.5 * _energy_input(en, e))} if entry.binary else {}
        methods = {
            "__call__": lambda e, x: e(x),
            "score": lambda e, x: e.score(x),
            "energy_and_score": lambda e, x: e.energy_and_score(x),
            "log_prob": lambda e, x: e.log_prob(x),
        }
        for method, fn in methods.items():
            if method != "__call__":
                try:  # only the entry points this energy supports (log_prob needs a tractable Z)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        fn(energy, _energy_input(entry, energy))
                except Exception:  # noqa: BLE001
                    continue
            targets.append(
                Target(
                    f"energy:{name}.{method}",
                    "x",
                    "A",
                    lambda x, fn=fn, e=energy: fn(e, x),
                    lambda en=entry, e=energy: _energy_input(en, e),
                    bad={k: v() for k, v in bad.items()},
                    accepted=frozenset(accepted),
                )
            )
    return targets


_HYPER_BAD = {
    "pos": {"zero": 0.0, "negative": -1.0, "nan": math.nan, "inf": math.inf, "string": "1"},
    "nonneg": {"negative": -1.0, "nan": math.nan, "inf": math.inf, "string": "1"},
    "real": {"nan": math.nan, "inf": math.inf, "string": "1"},
    "int_pos": {"zero": 0, "negative": -1, "fraction": 2.5, "string": "2"},
    "int_nonneg": {"negative": -1, "fraction": 2.5, "string": "2"},
}


def energy_hyper_targets() -> list[Target]:
    """Constructor hyper-parameters of the registered energies: zero, negative, NaN, inf, a string
    (``pos``: must be > 0; ``nonneg``: 0 allowed; ``real``: any finite number; ``int_*``: integers).
    ``beta = inf`` is valid for latent energies (the minimum-energy limit)."""
    import ebm.energies as E

    g0 = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    two = lambda: E.Gaussian(torch.zeros(2), torch.eye(2))  # noqa: E731
    specs = {
        "banana": (E.Banana, {"curvature": 1.0, "sigma_x": 1.0, "sigma_y": 0.5}, {"curvature": "real", "sigma_x": "pos", "sigma_y": "pos"}),
        "double_well": (E.DoubleWell, {"barrier": 2.0, "separation": 1.0, "width": 0.5}, {"barrier": "pos", "separation": "pos", "width": "pos"}),
        "himmelblau": (E.Himmelblau, {"temperature": 10.0}, {"temperature": "pos"}),
        "neal_funnel": (E.NealFunnel, {"scale": 3.0}, {"scale": "pos"}),
        "ring": (E.Ring, {"radius": 2.0, "width": 0.25}, {"radius": "pos", "width": "pos"}),
        "wavy_valley": (E.WavyValley, {"amplitude": 1.5, "period": 4.0, "width": 0.35, "spread": 2.0},
                        {"amplitude": "real", "period": "pos", "width": "pos", "spread": "pos"}),
        "mlp": (E.MLPEnergy, {"event_shape": 2, "hidden": (4,), "quadratic": 0.0}, {"event_shape": "int_pos", "quadratic": "nonneg"}),
        "tempered": (lambda **k: two().tempered(**k), {"temperature": 2.0}, {"temperature": "pos"}),
        "noise_conditional": (E.NoiseConditionalEnergy, {"dim": 2, "hidden": 4, "depth": 1, "default_sigma": 0.1},
                              {"dim": "int_pos", "hidden": "int_pos", "depth": "int_pos", "default_sigma": "pos"}),
        "noise_conditional_at": (lambda **k: E.NoiseConditionalEnergy(2, hidden=4, generator=g0()).at(**k), {"sigma": 0.5}, {"sigma": "pos"}),
        "decoder": (E.DecoderEnergy, {"dim": 2, "hidden": 4, "n_grid": 16, "beta": 1.0, "init_scale": 0.1},
                    {"dim": "int_pos", "hidden": "int_pos", "n_grid": "int_pos", "beta": "pos", "init_scale": "pos"}),
        "kmeans": (lambda **k: E.KMeansEnergy(torch.randn(3, 2, generator=g0()), **k), {"beta": 1.0}, {"beta": "pos"}),
        "pca": (lambda **k: E.PCAEnergy(torch.zeros(3), torch.eye(3)[:2], **k), {"beta": 1.0}, {"beta": "pos"}),
        "gmm": (lambda **k: E.GMMEnergy(torch.zeros(1, 2), torch.eye(2)[None], torch.ones(1), **k), {"beta": 1.0}, {"beta": "pos"}),
        "sparse_coding": (lambda **k: E.SparseCodingEnergy(torch.eye(3)[:2], **k), {"alpha": 0.1, "tol": 1e-6, "max_iter": 50},
                          {"alpha": "nonneg", "tol": "pos", "max_iter": "int_pos"}),
        "latent_ebm_prior": (E.LatentEBMPrior, {"data_dim": 3, "hidden": 4, "prior_hidden": 4, "sigma": 0.3, "prior_steps": 5, "prior_step_size": 0.05,
                                                 "posterior_steps": 5, "posterior_step_size": 0.01, "infer_steps": 5, "infer_lr": 0.05},
                             {"data_dim": "int_pos", "sigma": "pos", "prior_steps": "int_pos", "prior_step_size": "pos", "posterior_steps": "int_pos",
                              "posterior_step_size": "pos", "infer_steps": "int_nonneg", "infer_lr": "pos"}),
        "bernoulli_rbm": (E.BernoulliRBM, {"n_visible": 4, "n_hidden": 3, "weight_scale": 0.1}, {"n_visible": "int_pos", "n_hidden": "int_pos", "weight_scale": "nonneg"}),
        "gaussian_bernoulli_rbm": (E.GaussianBernoulliRBM, {"n_visible": 2, "n_hidden": 3, "sigma": 1.0, "min_sigma": 1e-3, "weight_scale": 0.1},
                                   {"n_visible": "int_pos", "sigma": "pos", "min_sigma": "pos", "weight_scale": "nonneg"}),
        "boltzmann_machine": (E.BoltzmannMachine, {"n": 4, "weight_scale": 0.1}, {"n": "int_pos", "weight_scale": "nonneg"}),
        "autoencoder": (E.AutoencoderEnergy, {"dim": 2, "n_latent": 3, "hidden": 4}, {"dim": "int_pos", "n_latent": "int_pos", "hidden": "int_pos"}),
        "denoising_autoencoder": (E.DenoisingAutoencoderEnergy, {"dim": 2, "n_latent": 3, "hidden": 4, "noise_std": 0.3}, {"noise_std": "pos"}),
        "contractive_autoencoder": (E.ContractiveAutoencoderEnergy, {"dim": 2, "n_latent": 3, "hidden": 4, "penalty": 0.1}, {"penalty": "nonneg"}),
        "sparse_autoencoder": (E.SparseAutoencoderEnergy, {"dim": 2, "n_latent": 3, "hidden": 4, "sparsity": 0.1}, {"sparsity": "nonneg"}),
        "quadratic": (E.QuadraticEnergy, {"dim": 2}, {"dim": "int_pos"}),
    }
    targets = []
    for name, (make, base, params) in specs.items():
        for param, kind in params.items():
            accepted = frozenset({"inf"}) if param == "beta" else frozenset()
            targets.append(Target(f"energy-init:{name}", param, "A", lambda v, make=make, base=base, param=param: make(**{**base, param: v}),
                                  lambda base=base, param=param: base[param], mutations=(), bad=dict(_HYPER_BAD[kind]), accepted=accepted))
    return targets


def objective_targets() -> list[Target]:
    """Every floating tensor argument of every registered objective's example."""
    _import_all_ebm()
    from ebm.registry import OBJECTIVES

    targets = []
    for name, entry in sorted(OBJECTIVES.items()):
        objective, args = entry.example()
        has_params = any(_reference(a) is not None for a in (objective, *args))
        for i, a in enumerate(args):
            if not (isinstance(a, torch.Tensor) and a.is_floating_point()):
                continue

            def call(value, i=i, entry=entry):
                obj, a2 = entry.example()
                a2 = list(a2)
                a2[i] = value
                return obj(*a2)

            # Pure-tensor losses (embeddings in, loss out) follow the input's dtype and device.
            accepted = frozenset() if has_params else frozenset({"other_float", "meta"})
            targets.append(Target(f"objective:{name}", f"args[{i}]", "D", call, lambda i=i, entry=entry: entry.example()[1][i].detach().clone(), accepted=accepted))
    return targets


_RUN_BAD = {"n_steps": {"zero": 0, "negative": -1, "fraction": 2.5, "string": "3", "none": None}}
_GEN_BAD = {"int": 42, "string": "seed", "numpy": np.random.default_rng(0)}
_ENERGY_BAD = {
    "not_callable": 3.0,
    "wrong_output_shape": lambda x: x,
    "nan_energy": lambda x: torch.full(x.shape[:1], float("nan"), dtype=x.dtype),
}
_STEP_BAD = {"zero": 0.0, "negative": -0.1, "nan": float("nan"), "inf": float("inf"), "string": "0.1"}


def sampler_targets() -> list[Target]:
    """Every sampler in ``samplers.__all__``: built with a working example, then ``run`` with a
    mutated ``x0``, ``n_steps``, ``generator`` and ``energy``, and the constructors' hyper-parameters."""
    import samplers
    from ebm.energies import BernoulliRBM, BoltzmannMachine, Gaussian, MLPEnergy, NoiseConditionalEnergy

    g0 = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    mlp = MLPEnergy((2,), hidden=(4,), generator=g0())
    ncsn = NoiseConditionalEnergy(2, hidden=4, generator=g0())  # AnnealedLangevin calls score(x, sigma)
    bm = BoltzmannMachine(4, generator=g0()) if "generator" in BoltzmannMachine.__init__.__code__.co_varnames else BoltzmannMachine(4)
    rbm = BernoulliRBM(4, 3, generator=g0())
    x2 = lambda: torch.randn(4, 2, generator=g0())  # noqa: E731
    xb = lambda: torch.bernoulli(torch.full((4, 4), 0.5), generator=g0())  # noqa: E731
    plain = lambda x: 0.5 * (x * x).sum(-1)  # noqa: E731  (a plain callable energy: any dtype or device)

    def block_gibbs():
        return samplers.BlockGibbs([lambda b, g: rbm.sample_h(b[1], generator=g), lambda b, g: rbm.sample_v(b[0], generator=g)])

    def gibbs_run(x0=None, n_steps=3, generator=None, energy=None):
        v0 = xb() if x0 is None else x0
        h0 = torch.zeros(4, 3)
        return block_gibbs().run(energy or (lambda h, v: rbm.joint_energy(v, h)), (h0, v0), n_steps, generator=generator or g0())

    def ais_run(x0=None, n_steps=None, generator=None, energy=None):
        base = Gaussian(torch.zeros(2), torch.eye(2))
        path = samplers.GeometricPath(base, energy or mlp)
        return samplers.AIS(4, step_size=0.1).run(path, x2() if x0 is None else x0, math.log(2 * math.pi), generator=generator or g0())

    # name -> (factory of the sampler, energy, working x0)
    runs = {
        "ULA": (lambda: samplers.ULA(0.05), mlp, x2),
        "MALA": (lambda: samplers.MALA(0.05), mlp, x2),
        "HMC": (lambda: samplers.HMC(0.05, 3), mlp, x2),
        "AnnealedLangevin": (lambda: samplers.AnnealedLangevin([1.0, 0.5], 0.01), ncsn, x2),
        "SingleSiteGibbs": (lambda: samplers.SingleSiteGibbs(), bm, xb),
        "ParallelTempering": (lambda: samplers.ParallelTempering(samplers.MALA(0.05), samplers.geometric_temperatures(4.0, 3)), mlp, x2),
        "NUTS": (lambda: samplers.NUTS(0.1, warmup_steps=0, max_tree_depth=3), mlp, x2),
        "UnderdampedLangevin": (lambda: samplers.UnderdampedLangevin(0.1), mlp, x2),
        "SVGD": (lambda: samplers.SVGD(0.1), mlp, x2),
        "GibbsWithGradients": (lambda: samplers.GibbsWithGradients(), bm, xb),
        "PredictorCorrector": (lambda: samplers.PredictorCorrector(1.0, 0.1), ncsn, x2),
        "ProbabilityFlowODE": (lambda: samplers.ProbabilityFlowODE(1.0, 0.1), ncsn, x2),
    }
    targets = []
    for name, (make, energy, x0) in runs.items():

        def run(x0v=None, n_steps=3, generator=None, energy_v=None, make=make, energy=energy, x0=x0):
            return make().run(energy if energy_v is None else energy_v, x0() if x0v is None else x0v, n_steps, generator=generator or g0())

        binary = name in ("SingleSiteGibbs", "GibbsWithGradients")
        targets += [
            Target(f"sampler:{name}.run", "x0", "B", lambda v, run=run: run(x0v=v), x0, accepted=frozenset(),
                   bad={"nonbinary": 0.5 * xb()} if binary else {}),
            Target(f"sampler:{name}.run", "n_steps", "B", lambda v, run=run: run(n_steps=v), lambda: 3, mutations=(), bad=_RUN_BAD["n_steps"]),
            Target(f"sampler:{name}.run", "generator", "B", lambda v, run=run: run(generator=v), g0, mutations=(), bad=_GEN_BAD),
            Target(f"sampler:{name}.run", "energy", "B", lambda v, run=run: run(energy_v=v), lambda: None, mutations=(),
                   bad=_ENERGY_BAD if not binary else {"not_callable": 3.0, "wrong_output_shape": lambda x: x}),
        ]
    # a plain callable energy (no event shape): another width, float64, float16 and meta are valid
    targets.append(Target("sampler:ULA.run(plain)", "x0", "B", lambda v: samplers.ULA(0.05).run(plain, v, 3, generator=g0()), x2,
                          accepted=frozenset({"shape", "other_float", "float16", "meta"})))
    targets += [
        Target("sampler:BlockGibbs.run", "x0[1]", "B", lambda v: gibbs_run(x0=v), xb),
        Target("sampler:BlockGibbs.run", "n_steps", "B", lambda v: gibbs_run(n_steps=v), lambda: 3, mutations=(), bad=_RUN_BAD["n_steps"]),
        Target("sampler:BlockGibbs.run", "generator", "B", lambda v: gibbs_run(generator=v), g0, mutations=(), bad=_GEN_BAD),
        Target("sampler:AIS.run", "x0", "B", lambda v: ais_run(x0=v), x2),
        Target("sampler:AIS.run", "generator", "B", lambda v: ais_run(generator=v), g0, mutations=(), bad=_GEN_BAD),
        Target("sampler:GeometricPath", "target", "B", lambda v: ais_run(energy=v), lambda: mlp, mutations=(), bad={"not_callable": 3.0}),
    ]
    # constructors and factories: hyper-parameters
    hyper = {
        "ULA": (lambda v: samplers.ULA(v), 0.1, _STEP_BAD),
        "MALA": (lambda v: samplers.MALA(v), 0.1, _STEP_BAD),
        "HMC": (lambda v: samplers.HMC(v, 3), 0.1, _STEP_BAD),
        "HMC.n_leapfrog": (lambda v: samplers.HMC(0.1, v), 3, {"zero": 0, "negative": -2, "fraction": 2.5}),
        "AnnealedLangevin.sigmas": (lambda v: samplers.AnnealedLangevin(v, 0.01), [1.0, 0.5], {"empty": [], "negative": [1.0, -0.5], "nan": [float("nan")]}),
        "AnnealedLangevin.step_size": (lambda v: samplers.AnnealedLangevin([1.0], v), 0.01, _STEP_BAD),
        "SingleSiteGibbs.scan": (lambda v: samplers.SingleSiteGibbs(v), "systematic", {"unknown": "zigzag", "none": None}),
        "BlockGibbs.conditionals": (lambda v: samplers.BlockGibbs(v), [lambda b, g: b[0]], {"empty": [], "not_callable": [3.0]}),
        "ParallelTempering.temperatures": (lambda v: samplers.ParallelTempering(samplers.MALA(0.1), v), [1.0, 2.0],
                                           {"empty": [], "below_one": [0.5, 1.0], "negative": [1.0, -2.0], "nan": [1.0, float("nan")]}),
        "ParallelTempering.kernel": (lambda v: samplers.ParallelTempering(v, [1.0, 2.0]), samplers.MALA(0.1), {"not_a_sampler": 3.0}),
        "geometric_temperatures.t_max": (lambda v: samplers.geometric_temperatures(v, 3), 4.0, {"zero": 0.0, "below_one": 0.5, "nan": float("nan")}),
        "geometric_temperatures.n": (lambda v: samplers.geometric_temperatures(4.0, v), 3, {"zero": 0, "negative": -1, "fraction": 2.5}),
        "AIS.betas": (lambda v: samplers.AIS(v), 4, {"zero": 0, "negative": -3, "unsorted": [0.0, 0.7, 0.3, 1.0], "not_from_0_to_1": [0.2, 0.5]}),
        "AIS.step_size": (lambda v: samplers.AIS(4, step_size=v), 0.1, _STEP_BAD),
        "mala_kernel.step_size": (lambda v: samplers.mala_kernel(samplers.GeometricPath(plain, plain), v), 0.1, _STEP_BAD),
        "gibbs_kernel.n_sweeps": (lambda v: samplers.gibbs_kernel(samplers.GeometricPath(plain, plain), v), 1, {"zero": 0, "fraction": 1.5}),
        "CounterRNG.key": (lambda v: samplers.CounterRNG(v), torch.tensor(3, dtype=torch.int64), {"float": torch.tensor(3.0), "list": [1, 2]}),
        "NUTS.step_size": (lambda v: samplers.NUTS(v), 0.1, _STEP_BAD),
        "NUTS.max_tree_depth": (lambda v: samplers.NUTS(0.1, max_tree_depth=v), 5, {"zero": 0, "too_deep": 30, "fraction": 2.5}),
        "NUTS.target_acceptance": (lambda v: samplers.NUTS(0.1, target_acceptance=v), 0.8, {"zero": 0.0, "one": 1.0, "nan": float("nan")}),
        "UnderdampedLangevin.step_size": (lambda v: samplers.UnderdampedLangevin(v), 0.1, _STEP_BAD),
        "UnderdampedLangevin.friction": (lambda v: samplers.UnderdampedLangevin(0.1, v), 1.0, _STEP_BAD),
        "SVGD.step_size": (lambda v: samplers.SVGD(v), 0.1, _STEP_BAD),
        "SVGD.bandwidth": (lambda v: samplers.SVGD(0.1, bandwidth=v), "median", {"unknown": "scott", "zero": 0.0, "negative": -1.0}),
        "PredictorCorrector.sigma_min": (lambda v: samplers.PredictorCorrector(1.0, v), 0.1, {**_STEP_BAD, "above_max": 2.0}),
        "PredictorCorrector.snr": (lambda v: samplers.PredictorCorrector(1.0, 0.1, snr=v), 0.16, _STEP_BAD),
        "ProbabilityFlowODE.divergence": (lambda v: samplers.ProbabilityFlowODE(1.0, 0.1, divergence=v), "exact", {"unknown": "skilling", "none": None}),
        "geometric_sigmas.n": (lambda v: samplers.geometric_sigmas(1.0, 0.1, v), 3, {"one": 1, "negative": -1, "fraction": 2.5}),
        "sample_by_enumeration.n_units": (lambda v: samplers.sample_by_enumeration(lambda s: -s.sum(-1), v, 4), 3, {"zero": 0, "too_many": 40, "fraction": 2.5}),
    }
    for name, (fn, valid, bad) in hyper.items():
        targets.append(Target(f"sampler:{name}", "value", "B", fn, lambda valid=valid: valid, mutations=(), bad=bad))
    # result containers carry no user input; the diagnostics are public helpers below
    return targets


def helper_targets() -> list[Target]:
    """The public helpers: diagnostics, evaluation, sparse coding, data, augmentation, grids, train."""
    import samplers
    from ebm import data as data_mod
    from ebm import evaluate, grid, sparse
    from ebm.augment import DigitAugment, GaussianJitter
    from ebm.energies import BoltzmannMachine, DoubleWell, Gaussian, MLPEnergy
    from ebm.objectives import ScoreMatching
    from ebm.train import train

    g0 = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    draws = lambda: torch.randn(20, 3, 2, generator=g0())  # noqa: E731
    bm = BoltzmannMachine(4)
    xb = lambda: torch.bernoulli(torch.full((6, 4), 0.5), generator=g0())  # noqa: E731
    z = lambda: torch.randn(12, 4, generator=g0())  # noqa: E731
    dictionary = torch.nn.functional.normalize(torch.randn(5, 4, generator=g0()), dim=1)
    xs = lambda: torch.randn(6, 4, generator=g0())  # noqa: E731
    y12 = torch.arange(12) % 2
    bounds = ((-2.0, 2.0), (-2.0, 2.0))
    images = lambda: torch.rand(3, 64, generator=g0())  # noqa: E731
    # Tensor-in, tensor-out maths follows the input's dtype and device: float64, float16 and meta
    # inputs are valid (float16 must then work or raise clearly). Where the layout is free (draws
    # (n_draws, n_chains, *dims), embeddings (n, d)), a different last dimension is valid too.
    pure = frozenset({"other_float", "float16", "meta"})
    free_layout = pure | {"shape", "ndim"}
    T = Target
    targets = [
        T("diagnostics:autocorrelation", "draws", "B", lambda v: samplers.autocorrelation(v), draws, accepted=free_layout),
        T("diagnostics:effective_sample_size", "draws", "B", lambda v: samplers.effective_sample_size(v), draws, accepted=free_layout),
        T("diagnostics:split_rhat", "draws", "B", lambda v: samplers.split_rhat(v), draws, accepted=free_layout),
        T("diagnostics:acceptance_summary", "acceptance_rate", "B", lambda v: samplers.acceptance_summary(v), lambda: torch.rand(6, generator=g0()), accepted=pure | {"shape"}),
        T("evaluate:exact_log_likelihood", "data", "A", lambda v: evaluate.exact_log_likelihood(bm, v), xb, bad={"nonbinary": 0.5 * xb()}),
        T("evaluate:pseudo_log_likelihood", "data", "A", lambda v: evaluate.pseudo_log_likelihood(bm, v), xb, bad={"nonbinary": 0.5 * xb()}),
        T("evaluate:reconstruction_error", "data", "A", lambda v: evaluate.reconstruction_error(__import__("ebm.energies", fromlist=["BernoulliRBM"]).BernoulliRBM(4, 3), v), xb),
        # rows of any shape and real dtype are compared exactly
        T("evaluate:empirical_entropy", "data", "A", lambda v: evaluate.empirical_entropy(v), xb, accepted=pure | {"shape", "ndim", "int", "float16"}),
        T("evaluate:ais_log_partition", "n_chains", "B", lambda v: evaluate.ais_log_partition(__import__("ebm.energies", fromlist=["BernoulliRBM"]).BernoulliRBM(4, 3), n_chains=v, n_betas=10, generator=g0()),
          lambda: 4, mutations=(), bad={"zero": 0, "negative": -1, "fraction": 2.5}),
        # the kernel measures flatten each event, so any event layout and real dtype is valid
        T("evaluate:kernel_stein_discrepancy", "x", "B", lambda v: evaluate.kernel_stein_discrepancy(lambda x: -x, v), lambda: torch.randn(6, 2, generator=g0()),
          accepted=frozenset({"other_float", "float16", "shape", "ndim"})),
        T("evaluate:mmd", "x", "B", lambda v: evaluate.mmd(v, torch.randn(6, 2, generator=g0())), lambda: torch.randn(6, 2, generator=g0()), accepted=frozenset({"other_float", "float16"})),
        T("evaluate:fisher_divergence", "x", "B", lambda v: evaluate.fisher_divergence(Gaussian(torch.zeros(2), torch.eye(2)), v, lambda x: -x),
          lambda: torch.randn(6, 2, generator=g0())),
        T("evaluate:classifier_two_sample_test", "x", "B", lambda v: evaluate.classifier_two_sample_test(v, torch.randn(8, 2, generator=g0()), generator=g0()),
          lambda: torch.randn(8, 2, generator=g0()), accepted=frozenset({"other_float", "float16"})),
        T("evaluate:expected_calibration_error", "logits", "B", lambda v: evaluate.expected_calibration_error(v, torch.tensor([0, 1, 1, 0, 2, 2])),
          lambda: torch.randn(6, 3, generator=g0()), accepted=frozenset({"other_float", "float16"})),
        T("evaluate:ood_auroc", "in_scores", "B", lambda v: evaluate.ood_auroc(v, torch.randn(5, generator=g0())), lambda: torch.randn(6, generator=g0()),
          accepted=frozenset({"other_float", "float16", "shape"})),
        T("evaluate:singular_values", "z", "D", lambda v: evaluate.singular_values(v), z, accepted=pure | {"shape"}),
        T("evaluate:rank_me", "z", "D", lambda v: evaluate.rank_me(v), z, accepted=pure | {"shape"}),
        T("evaluate:normalized_std", "z", "D", lambda v: evaluate.normalized_std(v), z, accepted=pure | {"shape"}),
        T("evaluate:linear_probe_accuracy", "train_z", "D", lambda v: evaluate.linear_probe_accuracy(v, y12, z(), y12), z, accepted=pure - {"meta"}),
        T("evaluate:knn_accuracy", "train_z", "D", lambda v: evaluate.knn_accuracy(v, y12, z(), y12, k=3), z, accepted=pure - {"meta"}),
        T("grid:grid_log_partition", "resolution", "A", lambda v: grid.grid_log_partition(DoubleWell(), bounds, v), lambda: 32, mutations=(),
          bad={"zero": 0, "negative": -4, "fraction": 2.5}),
        T("grid:grid_log_partition", "bounds", "A", lambda v: grid.grid_log_partition(DoubleWell(), v, 32), lambda: bounds, mutations=(),
          bad={"reversed": ((2.0, -2.0), (-2.0, 2.0)), "nan": ((float("nan"), 2.0), (-2.0, 2.0)), "one_axis": (-2.0, 2.0), "string": "(-2, 2)"}),
        T("grid:energy_on_grid", "energy", "A", lambda v: grid.energy_on_grid(v, bounds, 16), lambda: DoubleWell(), mutations=(),
          bad={"not_callable": 3.0, "3d_energy": Gaussian(torch.zeros(3), torch.eye(3))}),
        T("grid:grid_sample", "n", "A", lambda v: grid.grid_sample(DoubleWell(), bounds, v, resolution=16, generator=g0()), lambda: 5, mutations=(),
          bad={"zero": 0, "negative": -1, "fraction": 2.5}),
        T("grid:grid_points", "resolution", "A", lambda v: grid.grid_points(bounds, v), lambda: 8, mutations=(), bad={"zero": 0, "one": 1, "fraction": 2.5}),
        # an empty batch of signals has an empty batch of codes (as an energy's empty batch)
        T("sparse:ista", "x", "D", lambda v: sparse.ista(v, dictionary, 0.1, max_iter=20), xs, accepted=frozenset({"empty"})),
        T("sparse:fista", "x", "D", lambda v: sparse.fista(v, dictionary, 0.1, max_iter=20), xs, accepted=frozenset({"empty"})),
        T("sparse:fista", "dictionary", "D", lambda v: sparse.fista(xs(), v, 0.1, max_iter=20), lambda: dictionary.clone()),
        T("sparse:fista", "alpha", "D", lambda v: sparse.fista(xs(), dictionary, v, max_iter=20), lambda: 0.1, mutations=(),
          bad={"negative": -0.1, "nan": float("nan"), "inf": float("inf"), "string": "0.1"}),
        # signals of any width (the dictionary is learned for them), in the dtype given
        T("sparse:learn_dictionary", "x", "D", lambda v: sparse.learn_dictionary(v, 3, 0.1, n_epochs=1, generator=g0()), xs, accepted=pure | {"shape"}),
        T("sparse:lipschitz_constant", "dictionary", "D", lambda v: sparse.lipschitz_constant(v), lambda: dictionary.clone(), accepted=pure | {"shape"}),
        T("sparse:soft_threshold", "u", "D", lambda v: sparse.soft_threshold(v, 0.1), xs, accepted=pure | {"empty", "ndim", "shape", "int"}),
        T("sparse:LISTA", "dictionary", "D", lambda v: sparse.LISTA(v, 0.1, 2), lambda: dictionary.clone(), accepted=pure | {"shape"}),
        T("sparse:lista_warm_start", "n_layers", "D", lambda v: sparse.lista_warm_start(sparse.LISTA(dictionary, 0.1, 2), v), lambda: 3, mutations=(),
          bad={"zero": 0, "negative": -1, "fraction": 2.5, "string": "3"}),
        T("sparse:LISTAEarlyStopping", "x_val", "D", lambda v: sparse.LISTAEarlyStopping(v, torch.randn(6, 5, generator=g0())).error(sparse.LISTA(dictionary, 0.1, 2)), xs),
        # the prediction error is computed in float64 from codes of any float dtype
        T("sparse:LISTAEarlyStopping", "z_val", "D", lambda v: sparse.LISTAEarlyStopping(xs(), v).error(sparse.LISTA(dictionary, 0.1, 2)),
          lambda: torch.randn(6, 5, generator=g0()), accepted=frozenset({"other_float", "float16"})),
        T("data:make_toy", "n", "A", lambda v: data_mod.make_toy("moons", v, g0()), lambda: 8, mutations=(),
          bad={"zero": 0, "negative": -3, "fraction": 2.5, "string": "8"}),
        T("data:make_toy", "name", "A", lambda v: data_mod.make_toy(v, 8, g0()), lambda: "moons", mutations=(), bad={"unknown": "spirals3", "none": None}),
        T("data:make_toy", "generator", "A", lambda v: data_mod.make_toy("moons", 8, v), g0, mutations=(), bad=_GEN_BAD),
        T("data:bars_and_stripes", "size", "A", lambda v: data_mod.bars_and_stripes(v, 4, generator=g0()), lambda: 3, mutations=(), bad={"zero": 0, "fraction": 2.5}),
        T("data:load_digits", "split", "A", lambda v: data_mod.load_digits(v), lambda: "train", mutations=(), bad={"unknown": "validation"}),
        # augmentations are tensor maths that follow the input's dtype and device
        T("augment:DigitAugment", "x", "A", lambda v: DigitAugment()(v, g0()), images, accepted=frozenset({"other_float", "float16", "empty", "meta"})),
        T("augment:DigitAugment", "x(n,1,8,8)", "A", lambda v: DigitAugment()(v, g0()), lambda: images().reshape(3, 1, 8, 8),
          accepted=frozenset({"other_float", "float16", "empty", "meta"})),
        T("augment:GaussianJitter", "x", "A", lambda v: GaussianJitter(0.1)(v, g0()), z,
          accepted=frozenset({"other_float", "float16", "empty", "meta", "ndim", "shape"})),
        T("augment:GaussianJitter", "std", "A", lambda v: GaussianJitter(v), lambda: 0.1, mutations=(), bad={"negative": -0.1, "nan": float("nan"), "string": "0.1"}),
        T("train:train", "data", "C", lambda v: train(MLPEnergy((2,), hidden=(4,), generator=g0()), ScoreMatching(), v, epochs=1, batch_size=4, generator=g0(), progress=False),
          lambda: torch.randn(8, 2, generator=g0())),
        T("train:train", "epochs", "C", lambda v: train(MLPEnergy((2,), hidden=(4,), generator=g0()), ScoreMatching(), torch.randn(8, 2, generator=g0()), epochs=v, batch_size=4, progress=False),
          lambda: 1, mutations=(), bad={"zero": 0, "negative": -1, "fraction": 1.5}),
        T("train:train", "lr", "C", lambda v: train(MLPEnergy((2,), hidden=(4,), generator=g0()), ScoreMatching(), torch.randn(8, 2, generator=g0()), epochs=1, batch_size=4, lr=v, progress=False),
          lambda: 1e-3, mutations=(), bad={"zero": 0.0, "negative": -1e-3, "nan": float("nan")}),
    ]
    # make_toy("2spirals", 1) returned 0 rows: a one-row request must give one row, for every toy
    toy_names = sorted(data_mod.TOY_DATASETS)
    targets.append(T("data:make_toy(n=1)", "name", "A", lambda v: _one_row(data_mod.make_toy(v, 1, g0())), lambda: "moons", mutations=(),
                     bad={f"n1_{t}": t for t in toy_names}, accepted=frozenset(f"n1_{t}" for t in toy_names)))
    return targets


def _one_row(x: torch.Tensor) -> torch.Tensor:
    if x.shape[0] != 1:
        raise AssertionError(f"make_toy(name, 1) returned {x.shape[0]} rows")  # counted as obscure
    return x


def build_targets() -> list[Target]:
    """All targets: energies, objectives, samplers, helpers."""
    return energy_targets() + energy_hyper_targets() + objective_targets() + sampler_targets() + helper_targets()
