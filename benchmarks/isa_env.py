"""``--isa {native,avx2}`` for the sampler and Boltzmann benchmarks: both rows from one machine.

``--isa avx2`` re-runs the calling script in a child process whose environment makes every library
use AVX2 (256-bit) code on an AVX-512 CPU, as on an AVX2-only machine (e.g. an AMD EPYC before Zen 4):

* ``ATEN_CPU_CAPABILITY=avx2``: torch's own kernels (ATen's CPU dispatch);
* ``MKL_ENABLE_INSTRUCTIONS=AVX2``, ``DNNL_MAX_CPU_ISA=AVX2``: the GEMMs of torch (MKL / oneDNN);
* ``OPENBLAS_CORETYPE=Haswell``: the OpenBLAS that NumPy / scikit-learn / SciPy use;
* ``EBM_BENCH_SIMDLEN=256``: read by `configure_inductor` in the child, which sets
  ``torch._inductor.config.cpp.simdlen = 256`` (compiled code in 256-bit vectors) and
  ``cpp.march = "x86-64-v3"`` (inductor otherwise builds with ``-march=native``, and gcc would
  still emit AVX-512 for the code it vectorises itself);
* ``EBM_NATIVE_MARCH=x86-64-v3``: the project's own C kernels (`samplers.native`: the AVX2 normal
  generator of the fused samplers, the sparse polish) built for AVX2.

Peers run in the same process or in subprocesses that inherit the environment (ebmkit), so they
run under the same settings. The same variable names as ``benchmarks/sparse_vs_sklearn.py``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell", "EBM_BENCH_SIMDLEN": "256",
            "EBM_NATIVE_MARCH": "x86-64-v3"}


def reexec_for_isa() -> None:
    """Call first thing in a script (before torch loads): with ``--isa avx2`` re-run it under `AVX2_ENV`."""
    argv = sys.argv
    if "--isa" in argv and argv[argv.index("--isa") + 1 :][:1] == ["avx2"] and os.environ.get("EBM_BENCH_ISA") != "avx2":
        sys.exit(subprocess.call([sys.executable, *argv], env={**os.environ, **AVX2_ENV, "EBM_BENCH_ISA": "avx2"}))


def add_isa_argument(parser) -> None:
    parser.add_argument("--isa", choices=["native", "avx2"], default="native",
                        help="avx2: re-run with AVX2 code everywhere (torch kernels, GEMMs, compiled code, peers); see benchmarks/isa_env.py")


def configure_inductor() -> None:
    """In the AVX2 child: 256-bit vectors and an x86-64-v3 target for inductor's C++."""
    if os.environ.get("EBM_BENCH_SIMDLEN"):
        import torch._inductor.config as inductor_config

        inductor_config.cpp.simdlen = int(os.environ["EBM_BENCH_SIMDLEN"])
        inductor_config.cpp.march = "x86-64-v3"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def isa_line() -> str:
    """One line naming the CPU and the instruction sets actually in force."""
    import torch

    try:
        import torch._inductor.config as inductor_config

        simd = inductor_config.cpp.simdlen or "auto"
        march = inductor_config.cpp.march or "native"
    except ImportError:
        simd, march = "n/a", "n/a"
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            have = next((ln for ln in f if ln.startswith("flags")), "").split()
        flags = ", CPU has " + ("AVX-512" if "avx512f" in have else "AVX2" if "avx2" in have else "no AVX2")
    except OSError:
        pass
    return (f"CPU: {cpu_name()}{flags}; ISA row: {os.environ.get('EBM_BENCH_ISA', 'native')} -- torch CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, inductor simdlen {simd}, -march={march}, "
            f"MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'default')}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
