"""Batched MCMC over any energy callable ``E: (batch, *event) -> (batch,)``; imports torch only.

Convention: ``p(x) ∝ exp(-E(x))``. Chains are the batch dimension; device and dtype follow ``x0``.
A sampler is built from its hyper-parameters and run with
``sampler.run(energy, x0, n_steps, *, generator=None) -> SamplerResult``.
"""

from ._base import MAX_ENERGY_ERROR, SamplerDivergedError, SamplerResult, SamplerWarning
from .ais import AIS, AISResult, GeometricPath, gibbs_kernel, mala_kernel
from .counter_rng import CounterRNG
from .diagnostics import acceptance_summary, autocorrelation, effective_sample_size, split_rhat
from .gibbs import BlockGibbs, SingleSiteGibbs
from .hmc import HMC
from .langevin import MALA, ULA, AnnealedLangevin
from .tempering import ParallelTempering, geometric_temperatures

__all__ = [
    "SamplerResult",
    "SamplerDivergedError",
    "SamplerWarning",
    "MAX_ENERGY_ERROR",
    "ULA",
    "MALA",
    "AnnealedLangevin",
    "HMC",
    "BlockGibbs",
    "SingleSiteGibbs",
    "ParallelTempering",
    "geometric_temperatures",
    "AIS",
    "CounterRNG",
    "AISResult",
    "GeometricPath",
    "mala_kernel",
    "gibbs_kernel",
    "autocorrelation",
    "effective_sample_size",
    "split_rhat",
    "acceptance_summary",
]
