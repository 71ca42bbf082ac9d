"""Small C kernels, built once per machine with the system C compiler and loaded with ``ctypes``.

Used where torch has no fast operation for the job: the normal generator of the fused Langevin
steps on AVX2 CPUs (`samplers.native_normal`) and the sparse-coding polish (`ebm.sparse.native`).
A kernel's source is compiled with ``cc`` (or ``$CC``, else ``gcc`` / ``clang``) at ``-O3`` and
``-march=native`` — or the ``-march`` in ``$EBM_NATIVE_MARCH``, e.g. ``x86-64-v3`` to build for
AVX2 on an AVX-512 machine — into a cache directory (``$EBM_PLAYGROUND_CACHE``, default
``~/.cache/ebm-playground``). The file name holds a hash of the source, the compiler, the CPU's
flags and the ``-march``, so code built for one CPU is never loaded on another that shares the
directory (a cluster's home). Building takes a second or two, once; a machine without a compiler
gets ``None`` and the callers fall back to their torch implementation.

Only the standard library and torch are imported here (the `samplers` contract).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from .validation import format_error

__all__ = ["build_shared_library", "cache_dir", "cpu_flags", "target_march"]


def cache_dir() -> Path:
    """Where built kernels are kept: ``$EBM_PLAYGROUND_CACHE``, else ``$XDG_CACHE_HOME/ebm-playground`` or ``~/.cache/ebm-playground``."""
    root = os.environ.get("EBM_PLAYGROUND_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ebm-playground")
    return Path(root)


def cpu_flags() -> str:
    """The running CPU's feature line (``/proc/cpuinfo``'s ``flags``), or the platform's processor name."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), platform.processor())
    except OSError:
        return platform.processor() + platform.machine()


def target_march() -> str:
    """The ``-march`` the kernels are built for: ``$EBM_NATIVE_MARCH``, default ``native`` (the running CPU).

    ``EBM_NATIVE_MARCH=x86-64-v3`` builds for AVX2 (Haswell and later, AMD Zen), e.g. to measure
    on an AVX-512 machine what an AVX2 one gets (the benchmarks' ``--isa avx2``); the build cache
    is keyed on it.

    Raises:
        ValueError: the variable holds more than one word of letters, digits and ``-_.+``.
    """
    march = os.environ.get("EBM_NATIVE_MARCH", "native").strip() or "native"
    if not all(c.isalnum() or c in "-_.+" for c in march):
        raise ValueError(format_error("EBM_NATIVE_MARCH", "a -march value such as native or x86-64-v3", repr(march), "unset it, or set one word such as x86-64-v3"))
    return march


def build_shared_library(name: str, source: str) -> Path | None:
    """Compile ``source`` (C) into a shared library in `cache_dir` once; return its path, or None.

    None when no C compiler is found or the source does not compile here (also without the
    ``-march``, for a compiler that does not know this CPU). Safe under concurrency: the library
    is built in a temporary directory and moved into place atomically.
    """
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    march = target_march()
    key = hashlib.sha256("\0".join((source, compiler, cpu_flags(), platform.system(), march)).encode()).hexdigest()[:16]
    suffix = ".dylib" if platform.system() == "Darwin" else ".so"
    lib_path = cache_dir() / f"{name}_{key}{suffix}"
    if lib_path.exists():
        return lib_path
    lib_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{name}.c"
        src.write_text(source)
        built = Path(tmp) / f"lib{suffix}"
        arch = [f"-march={march}"]
        if march == "native" and " avx512f" in cpu_flags():
            # gcc's default for these CPUs is 256-bit vectors; 512 measured a few per cent faster.
            arch.append("-mprefer-vector-width=512")
        cmd = [compiler, "-O3", *arch, "-fPIC", "-shared", "-o", str(built), str(src), "-lm"]
        try:
            if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
                cmd = [c for c in cmd if c not in arch]
                if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
                    return None
        except (OSError, subprocess.SubprocessError):
            return None
        os.replace(built, lib_path)  # atomic: a concurrent builder never sees half a library
    return lib_path
