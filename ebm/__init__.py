"""ebm-playground: energy-based models you can train, sample and see.

Convention everywhere: ``p(x) ∝ exp(-E(x))`` — low energy is likely.

Sub-packages: `ebm.energies` (models), `ebm.objectives` (training principles), `ebm.sparse`
(sparse coding), `ebm.evaluate` (log Z, likelihoods, monitors), `ebm.data`, `ebm.train`
(the training loop), `ebm.plot` (figures; imports matplotlib, so import it explicitly).
The MCMC samplers live in the sibling package `samplers`.
"""

from ebm.energy import Energy, SumEnergy, TemperedEnergy
from ebm import train as _train  # installs the training loop behind Energy.fit (ebm.registry.training_loop)

del _train

__version__ = "0.1.0"
__all__ = ["Energy", "SumEnergy", "TemperedEnergy", "__version__"]
