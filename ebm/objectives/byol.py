"""BYOL: predict the target network's embedding of the other view (no negatives).

The online network (encoder + projector + predictor ``q``) predicts ``p = q(z)``; the target
network (an EMA of the online encoder and projector, see `ebm.objectives.momentum.EMATarget` with
BYOL's cosine momentum schedule) gives ``z'``. With ℓ2-normalisation and stop-gradient on ``z'``:

    ℒ(p, z') = ‖p/‖p‖ - z'/‖z'‖‖² = 2 - 2 cos(p, sg(z'))
    L = mean_i ℒ(p_a,i, z'_b,i) + mean_i ℒ(p_b,i, z'_a,i)        (the symmetrised loss)

Reference: Grill et al. (2020), "Bootstrap Your Own Latent: A New Approach to Self-Supervised
Learning", arXiv:2006.07733 (eq. 2; τ_base = 0.996 with the cosine schedule; the predictor is an
MLP 16× wider inside than its output, 256 → 4096 → 256).

Training note for both losses (the predictor + stop-gradient family): the predictor should adapt
faster than the encoder. Tian, Chen & Ganguli (2021), "Understanding Self-Supervised Learning
Dynamics without Contrastive Pairs", arXiv:2102.06810, analyse the predictor's relative learning
rate as one of the factors that decide whether these methods collapse (DirectPred sets the
predictor in closed form instead); SimSiam (Chen & He 2021, §4.2, Table 1) found a fixed, undecayed
predictor learning rate slightly better than a decayed one. On the 8×8 digits at 600 steps (`benchmarks/ssl_digits.py`, 3 seeds; BENCHMARKS.md, SSL digits, Session 7) a
predictor learning rate 10× the encoder's raised SimSiam's linear probe from 0.920 to 0.948, and
BYOL's from 0.930 to 0.942 together with the 16×-wide predictor (0.938 with that predictor alone):
give the predictor its own optimiser parameter group.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["BYOL", "SimSiam"]


def _predict_pairs(p_a, z_b, p_b, z_a):
    check_pair(p_a, z_b, min_batch=1, names=("p_a", "z_b"))
    if (p_b is None) != (z_a is None):
        from ebm._validation import format_error

        raise ValueError(format_error("p_b", "p_b and z_a both given (symmetrised) or both None", f"p_b {'None' if p_b is None else 'given'}, z_a {'None' if z_a is None else 'given'}", "pass both or neither"))
    if p_b is not None:
        check_pair(p_b, z_a, min_batch=1, names=("p_b", "z_a"))


def _four():
    z_a, z_b = registry_pair()
    p_a, p_b = registry_pair(seed=1)
    return p_a, z_b, p_b, z_a


@register_objective(
    "byol",
    example=lambda: (BYOL(), _four()),
    bad_inputs=[
        (lambda: BYOL()(torch.randn(4, 3), torch.randn(4, 2)), ValueError, "z_b"),
        (lambda: BYOL()(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)), ValueError, "p_b"),
    ],
)
class BYOL(nn.Module):
    """``2 - 2 cos(p, sg(z'))`` summed over the two (prediction, other-view target) pairs.

    Shapes: ``forward(p_a, z_b, p_b=None, z_a=None)``: online predictions ``p (n, d)`` and target
    projections ``z (n, d)``; the target is detached here. With ``p_b, z_a`` given the loss is
    symmetrised (sum of both directions); otherwise only ``ℒ(p_a, z_b)``. → scalar.

    Example:
        >>> BYOL()(p_a, t_b, p_b, t_a)
    """

    def forward(self, p_a: Tensor, z_b: Tensor, p_b: Tensor | None = None, z_a: Tensor | None = None) -> Tensor:
        _predict_pairs(p_a, z_b, p_b, z_a)
        loss = (2 - 2 * F.cosine_similarity(p_a, z_b.detach(), dim=1)).mean()
        if p_b is not None:
            loss = loss + (2 - 2 * F.cosine_similarity(p_b, z_a.detach(), dim=1)).mean()
        return loss


@register_objective(
    "simsiam",
    example=lambda: (SimSiam(), _four()),
    bad_inputs=[
        (lambda: SimSiam()(torch.randn(4, 3), torch.randn(5, 3)), ValueError, "z_b"),
        (lambda: SimSiam()(torch.randn(4, 3), torch.randn(4, 3), None, torch.randn(4, 3)), ValueError, "p_b"),
    ],
)
class SimSiam(nn.Module):
    """SimSiam: negative cosine between a predictor output and the other view's stopped embedding.

    ``D(p, z) = -cos(p, sg(z))``,  ``L = ½ D(p_a, z_b) + ½ D(p_b, z_a)``.

    Reference: Chen & He (2021), "Exploring Simple Siamese Representation Learning",
    arXiv:2011.10566 (eqs. 1-3). The stop-gradient is what prevents collapse: with
    ``stop_gradient=False`` (a teaching toggle) the embeddings collapse to a constant.

    Args:
        stop_gradient: detach the target branch (default True, the paper's method).

    Shapes: ``forward(p_a, z_b, p_b=None, z_a=None)``: ``(n, d)`` each → scalar (one direction
    only when ``p_b, z_a`` are None).

    Example:
        >>> SimSiam()(p_a, z_b, p_b, z_a)
    """

    def __init__(self, stop_gradient: bool = True):
        super().__init__()
        self.stop_gradient = bool(stop_gradient)

    def _d(self, p: Tensor, z: Tensor) -> Tensor:
        return -F.cosine_similarity(p, z.detach() if self.stop_gradient else z, dim=1).mean()

    def forward(self, p_a: Tensor, z_b: Tensor, p_b: Tensor | None = None, z_a: Tensor | None = None) -> Tensor:
        _predict_pairs(p_a, z_b, p_b, z_a)
        if p_b is None:
            return self._d(p_a, z_b)
        return 0.5 * self._d(p_a, z_b) + 0.5 * self._d(p_b, z_a)

    def extra_repr(self) -> str:
        return f"stop_gradient={self.stop_gradient}"
