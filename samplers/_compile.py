"""The one wrapper around ``torch.compile`` shared by every sampler's ``compile=True`` option.

It owns three decisions so that the samplers do not repeat them:

* **Each compiled step gets its own dynamo cache.** A fresh code object per (sampler, energy) keeps
  many samplers in one process from sharing, and exhausting, one recompile limit.
* **Static shapes, full graph.** A step that cannot be captured whole is an error, not a silent
  fallback to eager code with a graph break in the middle of the hot loop.
* **Failures of torch.compile itself are translated** into an error naming ``compile`` with the fix
  (``compile=False`` runs the same algorithm unfused); errors raised by the user's energy pass
  through unchanged.
"""

from __future__ import annotations

import types

import torch

from ._validation import format_error

__all__ = ["check_compile_flag", "compile_step"]


def check_compile_flag(compile) -> bool:
    """Validate a sampler's ``compile`` argument (a bool; torch.compile must exist when True)."""
    if not isinstance(compile, bool):
        raise TypeError(format_error("compile", "a bool", f"{type(compile).__name__} {compile!r}", "pass compile=True to fuse the step with torch.compile, or compile=False"))
    if compile and not callable(getattr(torch, "compile", None)):
        raise RuntimeError(format_error("compile", "a torch build with torch.compile", f"torch {torch.__version__} without it", "upgrade torch (>= 2.0) or pass compile=False"))
    return compile


def compile_step(fn, *, options: dict | None = None):
    """Compile ``fn`` (fullgraph, static shapes) into a callable that reports compile failures clearly."""
    fresh = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    kwargs = {"options": options} if options else {}
    compiled = torch.compile(fresh, fullgraph=True, dynamic=False, **kwargs)

    def run(*args):
        try:
            return compiled(*args)
        except Exception as err:  # only torch.compile's own failures are translated
            if not type(err).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise RuntimeError(
                format_error(
                    "compile",
                    "a step that torch.compile can fuse (a working backend: a C++ compiler on CPU, Triton on GPU; an energy dynamo can trace)",
                    f"{type(err).__name__}: {first}",
                    "pass compile=False (same algorithm, unfused), or install the compiler / make the energy traceable",
                )
            ) from err

    return run
