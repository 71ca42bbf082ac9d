"""The machine's float32 FMA peak on one core, measured: the ceiling a GEMM-bound benchmark reports against.

A C loop of twelve independent multiply-add chains on the widest vectors the build targets
(``EBM_NATIVE_MARCH``: 512-bit under ``-march=native`` on an AVX-512 CPU, 256-bit for
``x86-64-v3``), built once by `samplers.native.build_shared_library`; twelve chains cover the
FMA latency (4 cycles) on two FMA ports. It runs at the clock the core actually reaches (turbo),
which /proc/cpuinfo does not show on a VM.

Usage: ``python3 benchmarks/peak_flops.py`` (prints GFLOP/s), or `fma_peak_gflops()` from a script.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's samplers

SOURCE = r"""
#include <stdint.h>
#ifdef __AVX512F__
#define WIDTH 16
#else
#define WIDTH 8
#endif
typedef float vf __attribute__((vector_size(4 * WIDTH)));

int fma_width(void) { return WIDTH; }

/* n iterations of 12 independent chains a = a * b + c: 24 * WIDTH flops per iteration. */
float fma_chains(int64_t n, float seed) {
    vf a[12], b, c;
    for (int j = 0; j < WIDTH; ++j) { b[j] = 0.9999999f; c[j] = 1e-7f * seed; }
    for (int i = 0; i < 12; ++i) for (int j = 0; j < WIDTH; ++j) a[i][j] = seed + i;
    for (int64_t k = 0; k < n; ++k)
        for (int i = 0; i < 12; ++i) a[i] = a[i] * b + c;
    vf s = a[0];
    for (int i = 1; i < 12; ++i) s += a[i];
    return s[0];
}
"""


def fma_peak_gflops(iterations: int = 20_000_000, repeats: int = 5) -> tuple[float, int] | None:
    """(GFLOP/s of one core, vector width in floats), best of ``repeats``; None without a C compiler."""
    from samplers.native import build_shared_library

    path = build_shared_library("fma_peak", SOURCE)
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    lib.fma_chains.argtypes = [ctypes.c_int64, ctypes.c_float]
    lib.fma_chains.restype = ctypes.c_float
    width = lib.fma_width()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        lib.fma_chains(iterations, 1.0)
        best = min(best, time.perf_counter() - t)
    return iterations * 12 * 2 * width / best / 1e9, width


if __name__ == "__main__":
    peak = fma_peak_gflops()
    print("no C compiler" if peak is None else f"float32 FMA peak, one core: {peak[0]:.1f} GFLOP/s ({peak[1]}-wide vectors, -march={os.environ.get('EBM_NATIVE_MARCH', 'native')})")
