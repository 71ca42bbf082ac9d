"""A compiled C kernel for the active-set polish: factorise and solve every signal's support system in one call.

`ebm.sparse.active_set.support_solve` solves ``z_S G_SS = B_S − α θ_S`` for thousands of signals
whose supports have 30-60 atoms. Written with torch ops, that is a batched ``linalg.cholesky_ex``
(LAPACK factorises the small matrices one by one, ≈ 10 µs each for 45 × 45 on this project's CPU,
plus a ``tril`` pass), two batched triangular solves, and about twenty gathers, scatters and
masks per chunk of 128 signals to pad the supports into ``(c, s, s)`` blocks: ≈ 25 µs per signal.
Here one C loop per signal reads its ``s × s`` block straight from ``G``, factorises it (row-wise
Cholesky, whose inner loop is a contiguous dot product the compiler vectorises), solves, checks the
signs and writes the solution: no padding, no intermediate tensors.

The source is compiled once per machine with the system C compiler (``cc``, ``-O3 -march=native``)
into a cache directory (``$EBM_PLAYGROUND_CACHE``, default ``~/.cache/ebm-playground``), keyed by
the source, the compiler and the CPU, and loaded with ``ctypes``, which releases the GIL during the
call, so worker threads factorise disjoint signal ranges in parallel. It is used by
``fista(..., compile=True)`` (the option that already requires a C++ compiler for inductor);
float64 and float32 on CPU. `available` says whether it could be built; when it cannot, the caller
falls back to the torch implementation.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["available", "support_solve_native"]

_SOURCE = r"""
#include <math.h>
#include <stdint.h>

/* Dot product with eight independent partial sums: one running sum would make every multiply-add
   wait for the previous one. */
#define DEFINE_DOT(DOT, T)                                                                       \
static inline T DOT(const T* a, const T* b, int64_t n) {                                         \
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;                            \
    int64_t p = 0;                                                                               \
    for (; p + 8 <= n; p += 8) {                                                                 \
        s0 += a[p] * b[p]; s1 += a[p + 1] * b[p + 1]; s2 += a[p + 2] * b[p + 2];                 \
        s3 += a[p + 3] * b[p + 3]; s4 += a[p + 4] * b[p + 4]; s5 += a[p + 5] * b[p + 5];         \
        s6 += a[p + 6] * b[p + 6]; s7 += a[p + 7] * b[p + 7];                                    \
    }                                                                                            \
    for (; p < n; ++p) s0 += a[p] * b[p];                                                        \
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));                                    \
}

/* Signals j in [lo, hi) of the list `todo`: r = todo[j] is a row of `codes` (m, k); its support is
   cols[start[r] .. start[r] + size[r]), ascending. Solves L Lᵀ z = b with A = G[S, S] and
   b = corr[cr, S] − α sign(codes[r, S]) (cr = corr_rows ? corr_rows[r] : r), writes z into out[r, S]
   and sets ok[r] = 1 on success (positive pivots, and with check_signs, sign(z) = sign(codes)).
   The factor is stored by columns (C[l * max_s + i] = L[i][l], i >= l), so the right-looking
   Cholesky's updates and the forward substitution are contiguous, independent multiply-adds that
   the compiler vectorises (a row-wise Cholesky is a chain of dependent dot products and divisions).
   work: max_s * max_s + 2 * max_s scratch values. */
#define DEFINE_SOLVE(NAME, T, SQRT, DOT)                                                         \
void NAME(const T* gram, int64_t k, const int64_t* todo, int64_t lo, int64_t hi,                 \
          const int64_t* start, const int64_t* size, const int64_t* cols, const T* codes,        \
          const T* corr, const int64_t* corr_rows, double alpha, int check_signs,                \
          T* out, uint8_t* ok, int64_t max_s, T* work) {                                         \
    T* C = work;                                                                                 \
    T* b = work + max_s * max_s;                                                                 \
    T* theta = b + max_s;                                                                        \
    for (int64_t j = lo; j < hi; ++j) {                                                          \
        const int64_t r = todo[j], s = size[r];                                                  \
        const int64_t* idx = cols + start[r];                                                    \
        const int64_t cr = corr_rows ? corr_rows[r] : r;                                         \
        for (int64_t i = 0; i < s; ++i) {                                                        \
            const T c = codes[r * k + idx[i]];                                                   \
            theta[i] = (T)((c > 0) - (c < 0));                                                   \
            b[i] = corr[cr * k + idx[i]] - (T)alpha * theta[i];                                  \
        }                                                                                        \
        for (int64_t l = 0; l < s; ++l) { /* lower triangle of G[S, S], by columns */            \
            const T* gl = gram + idx[l] * k;                                                     \
            T* Cl = C + l * max_s;                                                               \
            for (int64_t i = l; i < s; ++i) Cl[i] = gl[idx[i]];                                  \
        }                                                                                        \
        int good = 1;                                                                            \
        for (int64_t l = 0; l < s; ++l) { /* right-looking Cholesky */                           \
            T* Cl = C + l * max_s;                                                               \
            if (!(Cl[l] > 0)) { good = 0; break; } /* not positive definite (or NaN) */          \
            const T d = SQRT(Cl[l]), inv = (T)1 / d;                                             \
            Cl[l] = d;                                                                           \
            for (int64_t i = l + 1; i < s; ++i) Cl[i] *= inv;                                    \
            for (int64_t q = l + 1; q < s; ++q) {                                                \
                T* Cq = C + q * max_s;                                                           \
                const T f = Cl[q];                                                               \
                for (int64_t i = q; i < s; ++i) Cq[i] -= f * Cl[i];                              \
            }                                                                                    \
        }                                                                                        \
        if (!good) continue;                                                                     \
        for (int64_t l = 0; l < s; ++l) { /* forward: L y = b, by columns */                     \
            const T* Cl = C + l * max_s;                                                         \
            const T y = b[l] / Cl[l];                                                            \
            b[l] = y;                                                                            \
            for (int64_t i = l + 1; i < s; ++i) b[i] -= y * Cl[i];                               \
        }                                                                                        \
        for (int64_t i = s - 1; i >= 0; --i) { /* backward: Lᵀ z = y; column i of L is row i of Lᵀ */ \
            const T* Ci = C + i * max_s;                                                         \
            b[i] = (b[i] - DOT(Ci + i + 1, b + i + 1, s - i - 1)) / Ci[i];                       \
        }                                                                                        \
        if (check_signs) {                                                                       \
            for (int64_t i = 0; i < s; ++i) {                                                    \
                if ((T)((b[i] > 0) - (b[i] < 0)) != theta[i]) { good = 0; break; }               \
            }                                                                                    \
            if (!good) continue;                                                                 \
        }                                                                                        \
        for (int64_t i = 0; i < s; ++i) out[r * k + idx[i]] = b[i];                              \
        ok[r] = 1;                                                                               \
    }                                                                                            \
}

DEFINE_DOT(dot_f64, double)
DEFINE_DOT(dot_f32, float)
DEFINE_SOLVE(support_solve_f64, double, sqrt, dot_f64)
DEFINE_SOLVE(support_solve_f32, float, sqrtf, dot_f32)
"""

_LIB: list = []  # [ctypes.CDLL or None] once tried


def _cache_dir() -> Path:
    root = os.environ.get("EBM_PLAYGROUND_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ebm-playground")
    return Path(root)


def _cpu_id() -> str:
    # -march=native code must not be loaded on another CPU that shares the cache directory.
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), platform.processor())
    except OSError:
        return platform.processor() + platform.machine()


def _build():
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    key = hashlib.sha256("\0".join((_SOURCE, compiler, _cpu_id(), platform.system())).encode()).hexdigest()[:16]
    suffix = ".dylib" if platform.system() == "Darwin" else ".so"
    lib_path = _cache_dir() / f"support_solve_{key}{suffix}"
    if not lib_path.exists():
        lib_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "support_solve.c"
            src.write_text(_SOURCE)
            built = Path(tmp) / f"lib{suffix}"
            cmd = [compiler, "-O3", "-march=native", "-fPIC", "-shared", "-o", str(built), str(src), "-lm"]
            if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
                cmd.remove("-march=native")  # e.g. a compiler that does not know this CPU
                if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
                    return None
            os.replace(built, lib_path)  # atomic: a concurrent builder never sees half a library
    lib = ctypes.CDLL(str(lib_path))
    ptr, i64, dbl, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    for name in ("support_solve_f64", "support_solve_f32"):
        fn = getattr(lib, name)
        fn.argtypes = [ptr, i64, ptr, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, dbl, i32, ptr, ptr, i64, ptr]
        fn.restype = None
    return lib


def available() -> bool:
    """Whether the kernel is built and loadable here (builds it on the first call; never raises)."""
    if not _LIB:
        try:
            _LIB.append(_build())
        except (OSError, subprocess.SubprocessError):
            _LIB.append(None)
    return _LIB[0] is not None


def support_solve_native(gram: Tensor, todo: Tensor, start: Tensor, size: Tensor, cols: Tensor, codes: Tensor, corr: Tensor,
                         corr_rows: Tensor | None, alpha: float, check_signs: bool, out: Tensor, ok: Tensor, workers: int) -> None:
    """Solve the support systems of the rows ``todo`` into ``out`` and ``ok`` (see the module docstring).

    All tensors on the CPU, contiguous, of ``gram``'s dtype (float32 or float64) for the values and
    int64 for the indices; ``ok`` is bool. ``workers`` threads split ``todo`` into equal ranges.
    """
    if not available():
        raise RuntimeError("the native support solver is not available (no working C compiler); use the torch path")
    fn = _LIB[0].support_solve_f64 if gram.dtype == torch.float64 else _LIB[0].support_solve_f32
    k = gram.shape[0]
    max_s = int(size[todo].max()) if todo.numel() else 0
    ok_bytes = ok.view(torch.uint8)
    cr = corr_rows.data_ptr() if corr_rows is not None else None
    args = (gram.data_ptr(), k, todo.data_ptr())
    tail = (start.data_ptr(), size.data_ptr(), cols.data_ptr(), codes.data_ptr(), corr.data_ptr(), cr, float(alpha), int(check_signs), out.data_ptr(), ok_bytes.data_ptr(), max_s)
    n = todo.numel()
    workers = max(1, min(workers, n // 64))
    bounds = [n * w // workers for w in range(workers + 1)]
    scratch = torch.empty(workers, max_s * max_s + 2 * max_s, dtype=gram.dtype)

    def run(w: int) -> None:
        fn(*args, bounds[w], bounds[w + 1], *tail, scratch[w].data_ptr())

    if workers == 1:
        run(0)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:  # ctypes releases the GIL: the ranges run in parallel
        list(pool.map(run, range(workers)))
