"""Exact maximum likelihood for energies whose log partition function can be enumerated.

    L(θ) = mean_x F_θ(x) + log Z(θ),    ∇θ L = E_data[∇θ F] - E_{p_θ}[∇θ F]  (exactly).

The reference that contrastive divergence approximates: on tiny models (bars-and-stripes RBMs,
Boltzmann machines up to ~20 units) it shows the best a training run can reach.

Reference: Ackley, Hinton & Sejnowski (1985), "A learning algorithm for Boltzmann machines".
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_tensor, format_error
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["ExactLikelihood"]


class ExactLikelihood:
    """Negative log-likelihood ``mean F(x) + log Z`` with ``log Z`` by exact enumeration.

    Reference: Ackley, Hinton & Sejnowski (1985).

    Args: none. Call as ``objective(model, batch, generator=None)``; ``batch: (n, *event_shape)``.

    Precision: fit in float64 (``model.double()``, ``batch.double()``), especially with L-BFGS.
    Near the optimum the loss changes by less than float32 resolves, so L-BFGS's line search stops
    early. Measured on the 8-unit Boltzmann machine of ``tests/test_objectives_binary.py`` (3000
    exact samples, ``torch.optim.LBFGS`` with strong-Wolfe line search): float32 stopped after 31
    iterations with gradient norm 1.2e-4; float64 reached 1.7e-7 in 44 iterations. The issue
    report saw 7e-4 in float32, with a larger coupling error than minimum probability flow.
    ``examples/07_ising_parameter_recovery.py`` fits every principle in float64.

    Returns:
        The mean negative log-likelihood of the batch (a scalar with gradients).

    Raises:
        ValueError: empty batch, invalid input for the model, or a model too large to enumerate.
        TypeError: the model has no exact ``log_partition``.

    Example:
        >>> from ebm.energies import BernoulliRBM
        >>> nll = ExactLikelihood()(BernoulliRBM(9, 4), torch.ones(3, 9))
    """

    def __call__(self, model, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_tensor("batch", batch, min_ndim=1, floating=True)
        check_batch("batch", batch)
        model.check_input(batch, "batch")
        try:
            log_z = model.log_partition()
        except NotImplementedError as err:
            raise TypeError(
                format_error("model", "an energy with an exact log_partition()", type(model).__name__, "use ContrastiveDivergence or another objective")
            ) from err
        return model(batch).mean() + log_z

    def __repr__(self) -> str:
        return "ExactLikelihood()"


def _example():
    from ebm.energies import BoltzmannMachine

    g = torch.Generator().manual_seed(0)
    bm = BoltzmannMachine(5, weight_scale=0.5, generator=g)
    return ExactLikelihood(), (bm, torch.bernoulli(torch.full((8, 5), 0.5), generator=g))


register_objective(
    "exact_likelihood",
    example=_example,
    bad_inputs=[
        (lambda: ExactLikelihood()(_example()[1][0], torch.zeros(0, 5)), ValueError, "batch"),
        (lambda: ExactLikelihood()(_example()[1][0], torch.full((2, 5), 0.3)), ValueError, "binary"),
    ],
)(ExactLikelihood)
