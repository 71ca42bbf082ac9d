"""RPC: relative predictive coding, a contrastive objective with bounded, quadratic penalties.

With a critic ``f(a, b) = aᵀb / τ`` (no normalisation), RPC maximises a relative chi-square
divergence between paired views and independent pairs:

    J_RPC = E_{P_AB}[f] - α E_{P_A P_B}[f] - (β/2) E_{P_AB}[f²] - (γ/2) E_{P_A P_B}[f²],

and the loss is ``-J_RPC``. Positives are the n paired views; the independent pairs are, for each
view, the other sample's embeddings in the other view and in its own view (the ``2n(n - 1)``
off-diagonal entries of ``[AB, AA]``), as in the authors' released code. Unlike InfoNCE there is
no log-sum-exp, so the objective needs no large batch and its gradients stay bounded.

Reference: Tsai, Ma, Yang, Zhao, Morency & Salakhutdinov (2021), "Self-supervised Representation
Learning with Relative Predictive Coding", ICLR 2021, arXiv:2103.11275 (eq. 3). Defaults follow
the authors' released CIFAR-10 script: α = 0, β = 0.001, γ = 1, τ = 128, no ℓ2 normalisation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_nonnegative, check_positive
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["RPC"]


@register_objective(
    "rpc",
    example=lambda: (RPC(temperature=4.0), registry_pair()),
    bad_inputs=[
        (lambda: RPC()(torch.randn(4, 3), torch.randn(4, 2)), ValueError, "z_b"),
        (lambda: RPC(beta=-1.0), ValueError, "beta"),
        (lambda: RPC(temperature=0.0), ValueError, "temperature"),
    ],
)
class RPC(nn.Module):
    """Relative predictive coding loss ``-J_RPC`` (see the module docstring).

    Args:
        alpha: α >= 0, weight of the negatives' mean critic value (default 0).
        beta: β >= 0, quadratic penalty on the positives' critic (default 0.001).
        gamma: γ >= 0, quadratic penalty on the negatives' critic (default 1).
        temperature: τ > 0, the critic is ``aᵀb / τ`` (default 128, for unnormalised embeddings).

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each, n >= 2 → scalar; all ranks' embeddings are
    gathered under `torch.distributed`.

    Example:
        >>> loss = RPC()(torch.randn(16, 8), torch.randn(16, 8))
    """

    def __init__(self, alpha: float = 0.0, beta: float = 0.001, gamma: float = 1.0, temperature: float = 128.0):
        super().__init__()
        self.alpha = check_nonnegative("alpha", alpha)
        self.beta = check_nonnegative("beta", beta)
        self.gamma = check_nonnegative("gamma", gamma)
        self.temperature = check_positive("temperature", temperature)

    def _view_terms(self, anchor: Tensor, other: Tensor, n: int) -> tuple[Tensor, Tensor]:
        cross = anchor @ other.T / self.temperature  # (n, n): f(a_i, b_j)
        within = anchor @ anchor.T / self.temperature  # (n, n): f(a_i, a_j)
        eye = torch.eye(n, dtype=torch.bool, device=anchor.device)
        pos = cross.diagonal()  # (n,)
        neg = torch.cat([cross[~eye], within[~eye]])  # (2 n (n - 1),)
        joint = (pos - 0.5 * self.beta * pos**2).mean()
        marginal = (self.alpha * neg + 0.5 * self.gamma * neg**2).mean()
        return joint, marginal

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b)
        z_a, z_b = gather(z_a), gather(z_b)
        n = z_a.shape[0]
        joint_a, marg_a = self._view_terms(z_a, z_b, n)
        joint_b, marg_b = self._view_terms(z_b, z_a, n)
        return -(0.5 * (joint_a + joint_b) - 0.5 * (marg_a + marg_b))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, beta={self.beta:g}, gamma={self.gamma:g}, temperature={self.temperature:g}"
