"""Decoupled contrastive learning (DCL) and its weighted variant (DCLW).

DCL removes the positive pair from InfoNCE's denominator (the "negative-positive coupling"), so
the loss no longer needs large batches. For anchor ``i`` of view a, with ``s = cos / τ``:

    ℓ_i = -w_i s(a_i, b_i) + log Σ_{k ≠ i} [exp s(a_i, b_k) + exp s(a_i, a_k)]

DCL has ``w_i = 1``. DCLW weights the positive by how hard it is:
``w_i = 2 - exp(cos(a_i, b_i)/σ) / ((1/n) Σ_k exp(cos(a_k, b_k)/σ))`` (σ = 0.5). The loss is
averaged over anchors and over both directions (a→b and b→a).

Reference: Yeh, Hong, Hsu, Liu, Chen & LeCun (2022), "Decoupled Contrastive Learning",
arXiv:2110.06848 (eqs. 6 and 9). Defaults: τ = 0.1, σ = 0.5 (the paper's settings).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_positive
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["DCL", "DCLW"]


def _one_direction(a: Tensor, b: Tensor, temperature: float, sigma: float | None) -> Tensor:
    """Mean DCL(W) loss for anchors ``a`` (n, d, normalised) against ``b`` (n, d, normalised)."""
    n = a.shape[0]
    cross = a @ b.T / temperature  # (n, n) s(a_i, b_k)
    same = a @ a.T / temperature  # (n, n) s(a_i, a_k)
    eye = torch.eye(n, dtype=torch.bool, device=a.device)
    negatives = torch.cat([cross.masked_fill(eye, float("-inf")), same.masked_fill(eye, float("-inf"))], dim=1)  # (n, 2n)
    positive = cross.diagonal()  # (n,)
    if sigma is not None:
        # w_i = 2 - n softmax_i(cos_ii / σ); softmax over the batch is the normalised exp weight.
        weight = 2 - n * torch.softmax((a * b).sum(1) / sigma, dim=0)
        positive = positive * weight
    return (-positive + torch.logsumexp(negatives, dim=1)).mean()


@register_objective(
    "dcl",
    example=lambda: (DCL(), registry_pair()),
    bad_inputs=[
        (lambda: DCL()(torch.randn(4, 3), torch.randn(4, 2)), ValueError, "z_b"),
        (lambda: DCL()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: DCL(temperature=-1), ValueError, "temperature"),
    ],
)
class DCL(nn.Module):
    """Decoupled contrastive loss: InfoNCE without the positive in the denominator.

    ``L = ½ [mean_i ℓ_i(a→b) + mean_i ℓ_i(b→a)]`` with ``ℓ_i`` from the module docstring (w = 1).

    Args:
        temperature: τ > 0 (default 0.1, Yeh et al. 2022).

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each, n >= 2 → scalar. Gathered under DDP.

    Raises:
        ValueError: shapes differ, n < 2, τ <= 0.

    Example:
        >>> DCL()(torch.randn(8, 4), torch.randn(8, 4))
    """

    sigma: float | None = None

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        self.temperature = check_positive("temperature", temperature)

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b)
        a, b = F.normalize(gather(z_a), dim=1), F.normalize(gather(z_b), dim=1)
        return 0.5 * (_one_direction(a, b, self.temperature, self.sigma) + _one_direction(b, a, self.temperature, self.sigma))


@register_objective(
    "dclw",
    example=lambda: (DCLW(), registry_pair()),
    bad_inputs=[
        (lambda: DCLW()(torch.randn(4, 3), torch.randn(3, 3)), ValueError, "z_b"),
        (lambda: DCLW(sigma=0.0), ValueError, "sigma"),
    ],
)
class DCLW(DCL):
    """Weighted DCL: the positive term is weighted by ``w_i = 2 - n softmax_i(cos(a_i, b_i)/σ)``.

    Args:
        temperature: τ > 0 (default 0.1).
        sigma: σ > 0 of the von Mises-Fisher weighting (default 0.5, Yeh et al. 2022).

    Shapes: as `DCL`.

    Example:
        >>> DCLW(sigma=0.5)(torch.randn(8, 4), torch.randn(8, 4))
    """

    def __init__(self, temperature: float = 0.1, sigma: float = 0.5):
        super().__init__(temperature)
        self.sigma = check_positive("sigma", sigma)
