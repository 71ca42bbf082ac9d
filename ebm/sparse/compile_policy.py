"""When the sparse solvers compile their iterations: the ``compile`` flag and the ``"auto"`` rule.

``fista``/``ista`` take ``compile=True`` (always fuse the iterations with ``torch.compile``),
``compile=False`` (never) or ``compile="auto"`` (the default). Compiling the fused block step of
`ebm.sparse.fused` costs a one-off 10-25 s on the development CPU (2-core Sapphire Rapids VM:
25 s in a fresh process with an empty inductor cache, about 10 s in a later process that finds
the compiled kernels in inductor's on-disk FX-graph cache), and then saves a fixed fraction of
every iteration. ``"auto"`` is a ski-rental rule (rent = iterate eagerly, buy = compile): a
configuration (shapes, dtype, FISTA/ISTA variant) is compiled once the eager iteration time
already spent on it in this process, plus the estimate for the call at hand, reaches the
compile cost. That never pays more than twice the better of the two choices in hindsight, and

* a call whose own iterations are estimated below `MIN_WORK` multiply-adds (about 0.1 s of
  eager iterations) never compiles and never counts: teaching runs, tests and small demos stay
  eager and start instantly;
* a configuration compiled earlier in the process is reused at no cost for any call size;
* a failed compilation (no C++ compiler) makes ``"auto"`` fall back to the eager path for the
  rest of the process, silently — ``compile=True`` reports the failure instead;
* only CPU tensors are compiled automatically (the break-even was measured on a CPU only).

The compiled code is cached across processes by inductor's FX-graph cache
(``torch._inductor.config.fx_graph_cache``, on by default; ``TORCHINDUCTOR_CACHE_DIR`` moves
it); the C kernels of the polish are cached by `ebm.sparse.native`.
"""

from __future__ import annotations

import torch

from samplers.compilation import check_compile_flag, compile_step as _shared_compile_step

__all__ = ["check_compile_flag", "compile_step", "should_compile", "record_eager", "mark_broken", "COMPILE_SECONDS", "MIN_WORK", "EAGER_MACS_PER_SECOND"]

# Measured on the development CPU (BENCHMARKS.md, "Sparse coding"): the first compiled solve of
# benchmarks/sparse_vs_sklearn.py's problem minus an eager one. The rule uses the cold figure.
COMPILE_SECONDS = 20.0
# A conservative eager iteration throughput (multiply-adds per second of the two thin products
# per row and step, float32, one core); a slower machine only makes "auto" compile later.
EAGER_MACS_PER_SECOND = 2e10
# Below this many multiply-adds (about 0.1 s eagerly) a call never compiles and is never counted.
MIN_WORK = 2e9
# The iterations a solve is assumed to need when estimating its work (the polish ends most
# signals after 40-60 iterations on the benchmarks; capped by max_iter).
ASSUMED_ITERATIONS = 60

_SPENT: dict = {}  # configuration -> eager iteration seconds spent in this process
_BROKEN: list = []  # [reason] once a compilation failed under "auto"


def should_compile(config, work: float, device: torch.device, compiled: bool) -> bool:
    """The ``"auto"`` decision for one solve (see the module docstring).

    Args:
        config: a hashable key of the compiled configuration (shapes, dtype, variant).
        work: estimated multiply-adds of this call's iterations.
        device: the tensors' device. compiled: whether ``config`` is already compiled here.
    """
    if _BROKEN or torch.device(device).type != "cpu" or not callable(getattr(torch, "compile", None)):
        return False
    if compiled:
        return True
    if work < MIN_WORK:
        return False
    return _SPENT.get(config, 0.0) + work / EAGER_MACS_PER_SECOND >= COMPILE_SECONDS


def record_eager(config, work: float, seconds: float) -> None:
    """Count ``seconds`` of eager iterations against ``config`` (calls below `MIN_WORK` are not counted)."""
    if work >= MIN_WORK:
        _SPENT[config] = _SPENT.get(config, 0.0) + seconds


def mark_broken(reason: str) -> None:
    """Stop compiling under ``"auto"`` for the rest of the process (a compilation failed)."""
    _BROKEN.append(reason)


def compile_step(fn):
    """`samplers.compilation.compile_step` for the sparse iterations: their full-bias ``addmm``
    (``u = B/L + y (I − G/L)``) stays one kernel, so the samplers' unfusing pass is off."""
    return _shared_compile_step(fn, unfuse_full_bias=False)
