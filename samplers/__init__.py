"""Batched MCMC over any energy callable ``E: (batch, *event) -> (batch,)``; imports torch only.

Convention: ``p(x) ∝ exp(-E(x))``. Chains are the batch dimension; device and dtype follow ``x0``.
A sampler is built from its hyper-parameters and run with
``sampler.run(energy, x0, n_steps, *, generator=None) -> SamplerResult``.
"""

from ._base import MAX_ENERGY_ERROR, SamplerDivergedError, SamplerResult, SamplerWarning
from .ais import AIS, AISResult, GeometricPath, gibbs_kernel, mala_kernel
from .counter_rng import CounterRNG
from .diagnostics import acceptance_summary, autocorrelation, effective_sample_size, split_rhat
from .enumeration import sample_by_enumeration
from .gibbs import BlockGibbs, SingleSiteGibbs
from .gibbs_with_gradients import GibbsWithGradients
from .hmc import HMC
from .langevin import MALA, ULA, AnnealedLangevin
from .nuts import NUTS
from .score_sde import PredictorCorrector, ProbabilityFlowODE, geometric_sigmas
from .svgd import SVGD
from .tempering import ParallelTempering, geometric_temperatures
from .underdamped import UnderdampedLangevin

__all__ = [
    "SamplerResult",
    "SamplerDivergedError",
    "SamplerWarning",
    "MAX_ENERGY_ERROR",
    "ULA",
    "MALA",
    "AnnealedLangevin",
    "HMC",
    "NUTS",
    "UnderdampedLangevin",
    "SVGD",
    "PredictorCorrector",
    "ProbabilityFlowODE",
    "geometric_sigmas",
    "GibbsWithGradients",
    "sample_by_enumeration",
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
