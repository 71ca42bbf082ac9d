"""RealNVP: a normalising flow of affine coupling layers, as an exact-density energy."""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_positive
from ebm.energies.flows.base import CouplingFlow
from ebm.registry import register_energy

__all__ = ["RealNVP"]


@register_energy(
    "realnvp",
    example=lambda: RealNVP(2, n_layers=4, hidden=16, generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: RealNVP(1), ValueError, "dim"),
        (lambda: RealNVP(2, n_layers=0), ValueError, "n_layers"),
        (lambda: RealNVP(2, hidden=0), ValueError, "hidden"),
        (lambda: RealNVP(2, log_scale_bound=0.0), ValueError, "log_scale_bound"),
    ],
)
class RealNVP(CouplingFlow):
    """Affine coupling flow (RealNVP): ``E(x) = -log p(x)`` exactly, ``log Z = 0``.

    Each layer keeps the conditioning half ``x_a`` and maps the other half

        ``z_b = x_b ⊙ exp(s(x_a)) + t(x_a)``,   ``log |det| = Σ s(x_a)``,
        ``s = B tanh(ŝ / B)``  (log-scales bounded by ``B``, so no layer can blow up),

    inverted exactly by ``x_b = (z_b - t) ⊙ exp(-s)``. The density is
    ``log p(x) = log N(f(x); 0, I) + Σ_layers Σ s``.

    Reference: Dinh, Sohl-Dickstein & Bengio (2017), "Density estimation using Real NVP",
    arXiv:1605.08803.

    Args:
        dim: dimension ``d >= 2`` of ``x``; samples are ``(n, d)``.
        n_layers: coupling layers (masks alternate between even and odd coordinates).
        hidden: width of the conditioners' two hidden layers.
        log_scale_bound: ``B > 0``, the bound on each log-scale.
        generator: generator for the initial weights (the global RNG is untouched when given).

    Raises:
        ValueError: ``dim < 2``, ``n_layers < 1``, ``hidden < 1`` or ``log_scale_bound <= 0``.

    Example:
        >>> flow = RealNVP(2, n_layers=4, hidden=32, generator=torch.Generator().manual_seed(0))
        >>> x = flow.sample(100, generator=torch.Generator().manual_seed(1))   # (100, 2)
        >>> flow.log_prob(x).shape
        torch.Size([100])
    """

    def __init__(self, dim: int, n_layers: int = 4, hidden: int = 64, *, log_scale_bound: float = 2.0, generator: torch.Generator | None = None):
        bound = check_positive("log_scale_bound", log_scale_bound)
        super().__init__(dim, n_layers, hidden, params_per_dim=2, generator=generator)
        self.log_scale_bound = bound

    def _couple(self, y: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        s = self.log_scale_bound * torch.tanh(params[..., 0] / self.log_scale_bound)  # (n, m)
        t = params[..., 1]  # (n, m)
        if inverse:
            return (y - t) * torch.exp(-s), -s
        return y * torch.exp(s) + t, s
