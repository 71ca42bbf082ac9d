"""Normalising flows as exact-density energies: ``E(x) = -log p(x)``, ``log_partition() = 0``.

`RealNVP` (affine couplings) and `NeuralSplineFlow` (rational-quadratic spline couplings) are
baselines in their own right and the trainable noise of flow contrastive estimation
(`ebm.objectives.FlowContrastiveEstimation`). Fit one by maximum likelihood with
``ebm.train(flow, ebm.objectives.ExactLikelihood(), x)`` (its log Z is exactly 0).
"""

from ebm.energies.flows.base import CouplingFlow, check_flow
from ebm.energies.flows.realnvp import RealNVP
from ebm.energies.flows.spline import NeuralSplineFlow, rational_quadratic_spline

__all__ = ["CouplingFlow", "RealNVP", "NeuralSplineFlow", "rational_quadratic_spline", "check_flow"]
