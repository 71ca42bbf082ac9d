"""Minimise the free energy of the data — the loss of architecture-limited latent-variable EBMs.

    L(θ) = (1/n) Σ_n F_θ(x_n)

Pushing data energy down with no contrastive term is safe only when the architecture or a
regulariser keeps the volume of low energy small (a k-means codebook, a 1-D decoder curve, a
sparse code); otherwise the energy collapses to flat (LeCun et al. 2006, §6; LeCun & Canziani 2021).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_tensor, format_error
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["FreeEnergyLoss"]


def _example():
    from ebm.energies.decoder import DecoderEnergy

    model = DecoderEnergy(2, hidden=8, n_grid=32, generator=torch.Generator().manual_seed(0))
    return FreeEnergyLoss(), (model, torch.randn(16, 2, generator=torch.Generator().manual_seed(1)))


@register_objective(
    "free_energy",
    example=_example,
    bad_inputs=[(lambda: FreeEnergyLoss()(lambda x: x.sum(-1), torch.zeros(3, 2)), TypeError, "model")],
)
class FreeEnergyLoss:
    """``L = mean_n F(x_n)``: the mean free energy (``model(x)``) of a batch.

    Reference: LeCun et al. (2006), "A Tutorial on Energy-Based Learning", §6.

    Args (call):
        model: a `LatentEnergy` (any `ebm.Energy` works; without a volume-limiting architecture it collapses).
        batch: data ``(n, *event_shape)``.
        generator: unused (deterministic).

    Returns:
        Scalar loss.

    Example:
        >>> loss = FreeEnergyLoss()(DecoderEnergy(2), torch.randn(8, 2))
    """

    def __call__(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        from ebm.energy import Energy

        if not isinstance(model, Energy):
            raise TypeError(format_error("model", "an ebm.Energy", type(model).__name__, "pass a LatentEnergy such as DecoderEnergy"))
        check_tensor("batch", batch, min_ndim=1, floating=True)
        check_batch("batch", batch)
        return model(batch).mean()
