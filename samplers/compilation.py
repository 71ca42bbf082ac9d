"""The one wrapper around ``torch.compile`` shared by every sampler's ``compile=`` option.

It owns these decisions so that the samplers do not repeat them:

* **``compile="auto"`` (the default) compiles when the work repays the one-off cost** (`AutoCompile`).
  The rule: a sampler object keeps, per (energy, state shape, dtype, device), the running total of
  the work it has done, ``chains × event size × steps`` (AIS: ``× temperatures``); the step is
  compiled once that total reaches the break-even ``work`` of the sampler family
  (`AUTO_THRESHOLDS`), and every later run of the same shape is fused. A single long run compiles
  at once; repeated short runs of the same shape (a training loop's persistent chains, a
  benchmark's repeats) compile once their total is worth it; tiny teaching runs never do. The
  thresholds are the measured compile time divided by the measured saving per unit of work on this
  project's 2-core Xeon (see `AUTO_THRESHOLDS`). Where compiling is impossible (no ``torch.compile``,
  no C++ compiler on a CPU, no Triton on a GPU) or fails, "auto" runs the same algorithm eagerly and
  warns once; ``compile=True`` raises instead.
* **Compiled code is cached across processes.** Inductor's FX-graph cache and AOT-autograd cache
  (``torch._inductor.config.fx_graph_cache``, ``torch._functorch.config.enable_autograd_cache``)
  are on by default in the torch versions this project supports and are left on (an environment
  that forces them off, ``TORCHINDUCTOR_FX_GRAPH_CACHE=0``, is respected); the cache lives in
  ``TORCHINDUCTOR_CACHE_DIR`` (default ``/tmp/torchinductor_$USER``). A second process then skips
  inductor's code generation and the C++ build and pays only dynamo's trace (measured below).

* **Each compiled step gets its own dynamo cache.** A fresh code object per (sampler, energy) keeps
  many samplers in one process from sharing, and exhausting, one recompile limit.
* **Static shapes, full graph.** A step that cannot be captured whole is an error, not a silent
  fallback to eager code with a graph break in the middle of the hot loop.
* **Failures of torch.compile itself are translated** into an error naming ``compile`` with the fix
  (``compile=False`` runs the same algorithm unfused); errors raised by the user's energy pass
  through unchanged.
* **On a CPU, ``addmm`` with a full-size bias is split back into ``mm`` + add** (`UnfuseFullBiasAddmm`).
  Inductor rewrites ``mm(a, b) + c`` into one ``addmm`` call; autograd of an energy such as
  ``((x - μ) P) · (x - μ)`` produces exactly that in its backward, with ``c`` of the output's shape.
  On this project's 2-core CPU, torch's ``addmm`` for a (100,000 × 2) · (2 × 2) product with such a
  bias took 1.36 ms against 0.23 ms for the plain ``mm`` (torch profiler), and splitting it lets the
  add join a fused loop: compiled 2-D ULA with a plain callable energy went from 42 M to 69 M
  chain-steps/s at 100,000 chains (MALA: 25 M to 34 M), measured in one interleaved run.
"""

from __future__ import annotations

import functools
import os
import shutil
import types
import warnings

import torch

from .counter_rng import default_algorithm
from .validation import format_error

__all__ = ["check_compile_flag", "compile_step", "CompileError", "AutoCompile", "AUTO_THRESHOLDS", "compile_unavailable", "fused_steps_read_noise", "inline_small_products", "steps_per_call"]

# Break-even work above which compile="auto" compiles: ≈ (one-off compile time) / (eager minus
# compiled time per unit of work), units being chain × coordinate × step (Gibbs: unit × sweep, AIS:
# chain × visible unit × temperature). From the quiet-machine runs in BENCHMARKS.md (2-core Xeon,
# one thread, AVX-512): compiling took 4-10 s cold and 0.2-5 s with inductor's on-disk cache warm
# (a later process, or another sampler of the same graph); fusing saved per unit 5 ns for analytic
# ULA at 100,000 2-D chains (47.6 → 90.1 M chain-steps/s), 8 ns for callable ULA, 26 ns for callable
# MALA, 4.5 ns for an RBM sweep at 784 × 500 × 1,000 chains (20.3 → 14.6 ms) and 8.5 ns for RBM
# AIS at 784 × 500 × 100 chains (2.81 → 2.14 ms per temperature). Each threshold lies between the
# warm-cache and the cold-cache break-even of its family (gradient: 10⁷-4·10⁸ warm, 1.5·10⁸-2·10⁹
# cold; Gibbs 2-4·10⁸ / 1.5·10⁹; AIS 1-2·10⁸ / 7.6·10⁸), nearer the warm one because the cache
# makes every compilation after the first on a machine a warm one. Examples at the threshold: 100,000
# 2-D chains × 1,000 steps (or ten runs of 100 on one sampler); 1,000 RBM chains × 390 sweeps; RBM
# AIS with 100 chains and 6,400 temperatures (the default 14,500 compiles, a 2,000-temperature toy does not).
# Those compile times were SplitMix64's; the Threefry step (used under AVX2) is larger C++ and compiled 5-8× longer
# in a shared-machine A/B (BENCHMARKS.md, session 5), which raises the cold break-even by as much
# (a warm cache loads the built code, so the warm one barely moves): the thresholds below are set
# at 2.5× (gradient) and 2× (Gibbs, AIS) the values above until quiet measurements re-derive them.
AUTO_THRESHOLDS = {"gradient": 5e8, "gibbs": 1e9, "ais": 1e9}


class CompileError(RuntimeError):
    """torch.compile itself failed (no backend, an untraceable step); raised by `compile_step`."""


def check_compile_flag(compile) -> bool | str:
    """Validate a sampler's ``compile`` argument: True, False or "auto" (torch.compile must exist when True)."""
    if not (isinstance(compile, bool) or compile == "auto"):
        raise TypeError(format_error("compile", 'True, False or "auto"', f"{type(compile).__name__} {compile!r}",
                                     'leave the default compile="auto" (fuse when the work repays the compilation), or pass compile=True / compile=False'))
    if compile is True and not callable(getattr(torch, "compile", None)):
        raise RuntimeError(format_error("compile", "a torch build with torch.compile", f"torch {torch.__version__} without it", "upgrade torch (>= 2.0) or pass compile=False"))
    return compile


@functools.lru_cache(maxsize=None)
def _cpp_compiler_found() -> bool:
    try:
        cxx = torch._inductor.config.cpp.cxx[-1]
    except AttributeError:
        cxx = None
    names = [cxx] if cxx else []
    names += [os.environ.get("CXX") or "g++", "clang++", "c++"]
    return any(shutil.which(n) for n in names if n)


@functools.lru_cache(maxsize=None)
def _triton_found() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot fuse a step on ``device`` here (None if it can), without compiling."""
    if not callable(getattr(torch, "compile", None)):
        return f"torch {torch.__version__} has no torch.compile"
    if device.type == "cpu" and not _cpp_compiler_found():
        return "no C++ compiler found (inductor needs g++ or clang++ on a CPU)"
    if device.type == "cuda" and not _triton_found():
        return "Triton is not installed (inductor needs it on a GPU)"
    return None


_warned: set = set()


def warn_eager_fallback(owner: str, reason: str) -> None:
    """Warn once per (sampler class, reason) that compile="auto" is running eagerly."""
    if (owner, reason) in _warned:
        return
    _warned.add((owner, reason))
    warnings.warn(
        f'{owner}(compile="auto"): running the step eagerly (same algorithm, unfused) because {reason}. '
        "Pass compile=False to silence this, or compile=True to make it an error.",
        RuntimeWarning,
        stacklevel=4,
    )


class AutoCompile:
    """The ``compile=`` decision of one sampler object: fixed (True/False) or "auto" by accumulated work.

    ``fused(key, work, device)`` is called once per run with ``key`` = (energy identity, shapes,
    dtype, device) and ``work`` = that run's units of work; it returns whether the run uses the
    compiled step. "auto" adds ``work`` to the key's running total and answers True once the total
    reaches ``threshold`` (and forever after for that key), unless compiling is unavailable here
    or failed before (`disable`), in which case it answers False and warns once.
    """

    def __init__(self, option, family: str, owner: str):
        self.option = check_compile_flag(option)
        self.threshold = AUTO_THRESHOLDS[family]
        self.owner = owner
        self.totals: dict = {}
        self.failed: str | None = None

    def fused(self, key, work: float, device: torch.device) -> bool:
        if self.option != "auto":
            return bool(self.option)
        total = self.totals.get(key, 0.0) + float(work)
        self.totals[key] = total
        if total < self.threshold:
            return False
        reason = self.failed or compile_unavailable(device)
        if reason is not None:
            warn_eager_fallback(self.owner, reason)
            return False
        return True

    def disable(self, err: BaseException) -> None:
        """Record that compiling failed in "auto" mode: later runs go eager; warns once."""
        self.failed = compile_failure(err)
        warn_eager_fallback(self.owner, self.failed)


def compile_failure(err: BaseException) -> str:
    """A one-line reason naming the exception raised by torch.compile."""
    first = (str(err).strip().splitlines() or [""])[0][:300]
    return f"torch.compile failed ({type(err).__name__}: {first})"


def _custom_graph_pass_base():
    try:
        from torch._inductor.custom_graph_pass import CustomGraphPass
    except ImportError:  # torch < 2.5: no custom-pass interface; compile without the pass
        return None
    return CustomGraphPass


_PassBase = _custom_graph_pass_base()


if _PassBase is not None:

    class UnfuseFullBiasAddmm(_PassBase):
        """Inductor post-grad pass: ``addmm(c, a, b)`` with ``c`` of the output's shape → ``mm(a, b) + c`` on CPU."""

        def __call__(self, graph: torch.fx.Graph) -> None:
            aten = torch.ops.aten
            for node in list(graph.nodes):
                if node.op != "call_function" or node.target is not aten.addmm.default:
                    continue
                if node.kwargs.get("alpha", 1) != 1 or node.kwargs.get("beta", 1) != 1:
                    continue
                bias, a, b = node.args[:3]
                bias_val, out_val = bias.meta.get("val"), node.meta.get("val")
                if not isinstance(bias_val, torch.Tensor) or out_val is None:
                    continue
                if bias_val.device.type != "cpu" or bias_val.shape != out_val.shape:
                    continue  # a broadcast (row) bias is what addmm is good at
                with graph.inserting_before(node):
                    product = graph.call_function(aten.mm.default, (a, b))
                    product.meta["val"] = out_val
                    total = graph.call_function(aten.add.Tensor, (product, bias))
                    total.meta["val"] = out_val
                node.replace_all_uses_with(total)
                graph.erase_node(node)

        def uuid(self) -> str:
            return "ebm-playground-unfuse-full-bias-addmm-v1"

else:
    UnfuseFullBiasAddmm = None


def _vector_width_option() -> dict:
    """``{"cpp.simdlen": w}`` with the vector width inductor would pick anyway, or ``{}``.

    Inductor's on-disk cache keys a compiled graph by its config, not by the CPU capability ATen
    runs with (``ATEN_CPU_CAPABILITY``), so a graph generated in a process limited to AVX2 was loaded
    by a later AVX-512 process sharing the cache (and the other way round) — measured here:
    ``fista(..., compile=True)`` on a 60-signal problem then crashed with heap corruption, or
    returned NaN codes. Naming the width it picks puts the capability in the cache key; the code
    generated is the same. Left alone when the user set ``simdlen`` or the pick is unavailable.
    """
    try:
        import torch._inductor.config as inductor_config
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        if inductor_config.cpp.simdlen is not None:
            return {}
        width = pick_vec_isa().bit_width()
    except Exception:  # noqa: BLE001 - an optional refinement of the cache key, never a failure
        return {}
    return {"cpp.simdlen": width} if width else {}


def compile_step(fn, *, options: dict | None = None, on_failure=None, unfuse_full_bias: bool = True):
    """Compile ``fn`` (fullgraph, static shapes) into a callable that reports compile failures clearly.

    Shared by the samplers and ``ebm.sparse`` (their fused steps). ``unfuse_full_bias`` applies
    `UnfuseFullBiasAddmm` on CPU (the samplers' autograd energies gain from it; the sparse
    iterations use a full-bias ``addmm`` on purpose and pass False).

    A failure of torch.compile itself raises `CompileError` naming ``compile`` and the fix; with
    ``on_failure`` (compile="auto") it calls ``on_failure(error)`` instead and runs ``fn`` eagerly,
    then and on every later call (the step is a pure function: nothing ran before the failure).
    """
    fresh = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    options = {**_vector_width_option(), **(options or {})}
    if unfuse_full_bias and UnfuseFullBiasAddmm is not None:
        options.setdefault("post_grad_custom_post_pass", UnfuseFullBiasAddmm())
    kwargs = {"options": options} if options else {}
    compiled = torch.compile(fresh, fullgraph=True, dynamic=False, **kwargs)
    eager = []

    def run(*args):
        if eager:
            return fn(*args)
        try:
            return compiled(*args)
        except Exception as err:  # only torch.compile's own failures are translated
            if not type(err).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            if on_failure is not None:
                on_failure(err)
                eager.append(True)
                return fn(*args)
            raise CompileError(
                format_error(
                    "compile",
                    "a step that torch.compile can fuse (a working backend: a C++ compiler on CPU, Triton on GPU; an energy dynamo can trace)",
                    f"{type(err).__name__}: {first}",
                    "pass compile=False (same algorithm, unfused), or install the compiler / make the energy traceable",
                )
            ) from err

    return run


# Compiled Langevin / HMC steps unroll up to MAX_UNROLL steps into one call while the state is
# smaller than UNROLL_BUDGET entries (measured on a 2-core CPU: 1,000 2-D chains run ≈ 2x faster at 8
# than at 1; at 100,000 chains a Metropolis step gains nothing from it and only lengthens the compilation).
MAX_UNROLL = 8
UNROLL_BUDGET = 1 << 15


def steps_per_call(numel: int) -> int:
    """Steps a fused Langevin / HMC call unrolls for a state of ``numel`` entries (1 at large batch)."""
    return max(1, min(MAX_UNROLL, UNROLL_BUDGET // max(1, numel)))


def fused_steps_read_noise(device) -> bool:
    """Whether the fused Langevin and HMC steps on ``device`` read noise drawn outside the kernel.

    True on a CPU whose torch kernels do not use AVX-512: there the in-kernel counter-based
    generators are slower than drawing in chunks (`samplers.native_normal`'s C generator, or
    ``torch.randn``), so the compiled step takes the noise as an input. Elsewhere (AVX-512 CPUs,
    GPUs) the step draws its own inside the kernel.
    """
    device = torch.device(device)
    return device.type == "cpu" and default_algorithm(device) == "threefry"


def inline_small_products(x: torch.Tensor) -> bool:
    """Layout advice to an energy traced inside a fused sampler step: write small matrix products inline?

    An energy's ``x @ M`` with a tiny ``M`` (d ≤ 4) compiles to an external GEMM call; written as d
    broadcast multiply-adds instead, inductor fuses it, but into a loop over the short event axis.
    That pays only where the fused graph is one step fed its noise — large batches
    (`steps_per_call` = 1) where `fused_steps_read_noise` — and loses elsewhere, because the next
    unrolled step, or the in-kernel noise, is pulled into that short loop. Measured on 2-D Gaussian
    ULA chains, one thread, session 8, inline against GEMM: fed noise at 100,000 chains 116-127
    against 97-114 M chain-steps/s (AVX2); unrolled at 1,000 chains 39 against 56 M; drawing in-kernel
    at 100,000 chains under AVX-512 54 against 126-132 M. Same numbers either way.
    `ebm.energies.analytic.Gaussian.score` asks this; this module is the one place the sampler's
    graph shape is decided.
    """
    return fused_steps_read_noise(x.device) and steps_per_call(x.numel()) == 1
