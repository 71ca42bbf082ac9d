"""DirectCLR: InfoNCE on the first ``d0`` coordinates of the representation, with no projector.

Jing et al. show that contrastive learning collapses dimensions of the embedding (the singular
values of the embedding covariance fall to zero), that a linear projector stops the
*representation* from collapsing only because the projector's weight aligns with a sub-space of it,
and that the same effect is obtained by applying the loss directly to a fixed sub-vector of the
representation ``r (n, d)``:

    z = r[:, :d0],     L = InfoNCE_τ(z_a, z_b)
      = -(1/2n) Σ_{i=1}^{2n} log  exp(cos(z_i, z_p(i))/τ) / Σ_{k≠i} exp(cos(z_i, z_k)/τ)

The remaining ``d - d0`` coordinates receive no gradient from the loss itself, yet (through the
shared encoder) they carry useful, un-collapsed features; the linear probe reads the whole ``r``.

Reference: Jing, Vincent, LeCun & Tian (2022), "Understanding Dimensional Collapse in Contrastive
Self-supervised Learning", ICLR, arXiv:2110.09348 (§6; ImageNet runs used d0 = 360 of 2048).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_int, check_positive, format_error
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.objectives.infonce import InfoNCE
from ebm.registry import register_objective

__all__ = ["DirectCLR", "leading_subvector"]


def leading_subvector(r: Tensor, d0: int) -> Tensor:
    """The first ``d0`` coordinates of every representation: ``(n, d) → (n, d0)``.

    Raises:
        ValueError: ``d0 > d`` (the representation is narrower than the sub-vector).
    """
    if r.shape[-1] < d0:
        raise ValueError(
            format_error("z_a", f"representations at least d0 = {d0} wide (DirectCLR uses their first d0 coordinates)", f"width {r.shape[-1]}", f"pass DirectCLR(d0<={r.shape[-1]}) or a wider encoder")
        )
    return r[..., :d0]  # (n, d0)


@register_objective(
    "directclr",
    example=lambda: (DirectCLR(3), registry_pair()),
    bad_inputs=[
        (lambda: DirectCLR(3)(torch.randn(4, 5), torch.randn(5, 5)), ValueError, "z_b"),
        (lambda: DirectCLR(8)(torch.randn(4, 5), torch.randn(4, 5)), ValueError, "d0"),
        (lambda: DirectCLR(0), ValueError, "d0"),
        (lambda: DirectCLR(2, temperature=-1.0), ValueError, "temperature"),
    ],
)
class DirectCLR(nn.Module):
    """``L = InfoNCE_τ(r_a[:, :d0], r_b[:, :d0])``: SimCLR's loss on a fixed sub-vector, no projector.

    Args:
        d0: how many leading coordinates of the representation the loss sees (>= 1).
        temperature: τ > 0 (default 0.1, SimCLR's ImageNet setting, on which DirectCLR builds).

    Shapes: ``forward(r_a, r_b)``: ``(n, d)`` each with ``d >= d0``, n >= 2 → scalar. Gathered
    over processes under `torch.distributed` (through `InfoNCE`).

    Raises:
        ValueError: shapes differ, n < 2, d < d0, d0 < 1 or τ <= 0.

    Example:
        >>> loss = DirectCLR(d0=4)(torch.randn(16, 8), torch.randn(16, 8))   # coordinates 4..7 get no gradient
    """

    def __init__(self, d0: int, temperature: float = 0.1):
        super().__init__()
        self.d0 = check_int("d0", d0, minimum=1)
        self.infonce = InfoNCE(check_positive("temperature", temperature))

    @property
    def temperature(self) -> float:
        return self.infonce.temperature

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b)
        return self.infonce(leading_subvector(z_a, self.d0), leading_subvector(z_b, self.d0))

    def extra_repr(self) -> str:
        return f"d0={self.d0}, temperature={self.temperature:g}"
