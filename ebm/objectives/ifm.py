"""IFM: implicit feature modification -- InfoNCE against an adversarial ε-perturbation of the similarities.

Robinson et al. perturb every embedding in latent space so as to make instance discrimination
harder: within an ℓ2 budget ε the worst case for normalised embeddings moves the anchor's positive
similarity down by ε and every negative similarity up by ε (their Prop. 3.1; no extra forward or
backward pass). With ``s_ij = cos(z_i, z_j)`` over the ``2n`` embeddings of both views, ``p(i)``
the other view of ``i``,

    ℓ_i(ε) = -log  exp((s_{i,p(i)} - ε)/τ) / [ exp((s_{i,p(i)} - ε)/τ) + Σ_{k≠i, p(i)} exp((s_ik + ε)/τ) ]
    L_ε = (1/2n) Σ_i ℓ_i(ε),        L = (L_0 + α L_ε) / (1 + α)

``L_0`` is plain InfoNCE (`ebm.objectives.InfoNCE`); α = 1 averages the two, as the authors'
released MoCo code does. The perturbation removes the easy "shortcut" features an encoder could
use to tell instances apart, so it keeps learning the harder ones.

Reference: Robinson, Sun, Yu, Batmanghelich, Jegelka & Sra (2021), "Can contrastive learning avoid
shortcut solutions?", NeurIPS, arXiv:2106.11230 (ε ∈ {0.05, 0.1, 0.2} on ImageNet-100; 0.1 best).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_nonnegative, check_positive
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["IFM", "perturbed_similarities"]


def perturbed_similarities(sim: Tensor, positive: Tensor, epsilon: float) -> Tensor:
    """IFM's closed-form adversarial similarities: ``s - ε`` on positives, ``s + ε`` elsewhere.

    Args:
        sim: cosine similarities ``(m, k)``.
        positive: boolean mask ``(m, k)``, True at each row's positive.
        epsilon: the perturbation budget ε >= 0.

    Returns:
        ``(m, k)``: ``sim + ε (1 - 2·positive)``.
    """
    return sim + epsilon * (1 - 2 * positive.to(sim.dtype))  # (m, k)


@register_objective(
    "ifm",
    example=lambda: (IFM(), registry_pair()),
    bad_inputs=[
        (lambda: IFM()(torch.randn(4, 3), torch.randn(5, 3)), ValueError, "z_b"),
        (lambda: IFM()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: IFM(epsilon=-0.1), ValueError, "epsilon"),
        (lambda: IFM(temperature=0.0), ValueError, "temperature"),
        (lambda: IFM(alpha=-1.0), ValueError, "alpha"),
    ],
)
class IFM(nn.Module):
    """``L = (L_0 + α L_ε)/(1 + α)``: InfoNCE averaged with its ε-perturbed version (see the module docstring).

    Args:
        epsilon: perturbation budget ε >= 0 on the cosine similarities (default 0.1; ε = 0 is InfoNCE).
        temperature: τ > 0 (default 0.5, as `InfoNCE`).
        alpha: weight α >= 0 of the perturbed loss (default 1: the average).

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each, n >= 2 → scalar. Gathered over processes under
    `torch.distributed` (negatives are the global batch).

    Raises:
        ValueError: shapes differ, n < 2, ε < 0, τ <= 0 or α < 0.

    Example:
        >>> loss = IFM(epsilon=0.1, temperature=0.5)(torch.randn(8, 4), torch.randn(8, 4))
    """

    def __init__(self, epsilon: float = 0.1, temperature: float = 0.5, alpha: float = 1.0):
        super().__init__()
        self.epsilon = check_nonnegative("epsilon", epsilon)
        self.temperature = check_positive("temperature", temperature)
        self.alpha = check_nonnegative("alpha", alpha)

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b)
        z_a, z_b = gather(z_a), gather(z_b)
        n = z_a.shape[0]
        z = F.normalize(torch.cat([z_a, z_b]), dim=1)  # (2n, d)
        sim = z @ z.T  # (2n, 2n)
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # positive of i is i ± n
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        positive = F.one_hot(target, 2 * n).bool()  # (2n, 2n)
        plain = F.cross_entropy((sim / self.temperature).masked_fill(self_mask, float("-inf")), target)
        adv = perturbed_similarities(sim, positive, self.epsilon) / self.temperature  # (2n, 2n)
        perturbed = F.cross_entropy(adv.masked_fill(self_mask, float("-inf")), target)
        return (plain + self.alpha * perturbed) / (1 + self.alpha)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon:g}, temperature={self.temperature:g}, alpha={self.alpha:g}"
