"""SwAV: swap the cluster assignments of two views, computed by Sinkhorn-Knopp.

Scores against K learnable unit prototypes ``c_k``: ``s_ik = ẑ_i · c_k`` (ẑ = z/‖z‖). Codes ``Q``
(n, K) solve the entropy-regularised equal-partition problem with 3 Sinkhorn-Knopp iterations on
``exp(S / ε)`` (rows: samples, columns: prototypes, each prototype receiving n/K of the mass).
Predictions ``p_i = softmax(s_i / τ)``. The swapped prediction loss is

    L = -(1/n) Σ_i ½ [ Σ_k q_b,ik log p_a,ik + Σ_k q_a,ik log p_b,ik ]

The codes are targets (no gradient flows through Sinkhorn).

Reference: Caron, Misra, Mairal, Goyal, Bojanowski & Joulin (2020), "Unsupervised Learning of
Visual Features by Contrasting Cluster Assignments", arXiv:2006.09882 (eqs. 2-3; ε = 0.05,
3 Sinkhorn iterations, τ = 0.1; K = 3000 on ImageNet). The feature queue for small batches is
not implemented here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_positive, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["SwAV", "sinkhorn_knopp"]


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Equal-partition soft assignments ``(n, K)`` from scores ``(n, K)``; rows sum to 1.

    Alternately normalises ``exp(scores / ε)`` so that each prototype (column) holds mass 1/K and
    each sample (row) mass 1/n, then rescales rows to sum to 1.
    """
    n, k = scores.shape
    q = torch.exp((scores - scores.max()) / epsilon)  # subtracting the max only rescales Q
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(0, keepdim=True) / k  # columns: 1/K each
        q = q / q.sum(1, keepdim=True) / n  # rows: 1/n each
    return q * n  # (n, K), rows sum to 1


@register_objective(
    "swav",
    example=lambda: (SwAV(4, 6), registry_pair()),
    bad_inputs=[
        (lambda: SwAV(4, 6)(torch.randn(8, 3), torch.randn(8, 3)), ValueError, "dim"),
        (lambda: SwAV(4, 6, epsilon=0), ValueError, "epsilon"),
        (lambda: SwAV(4, 6)(torch.randn(8, 4), torch.randn(9, 4)), ValueError, "z_b"),
    ],
)
class SwAV(nn.Module):
    """Swapped-prediction loss over learnable prototypes (the prototypes are this module's parameters).

    Args:
        dim: embedding dimension d.
        n_prototypes: K.
        temperature: τ of the predictions (default 0.1).
        epsilon: ε of Sinkhorn-Knopp (default 0.05).
        iterations: Sinkhorn-Knopp iterations (default 3).
        generator: for the prototype initialisation.

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each → scalar. Parameter ``prototypes (K, d)``
    (normalised on use).

    Example:
        >>> swav = SwAV(dim=8, n_prototypes=30)
        >>> swav(torch.randn(32, 8), torch.randn(32, 8))
    """

    def __init__(self, dim: int, n_prototypes: int, temperature: float = 0.1, epsilon: float = 0.05, iterations: int = 3, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.n_prototypes = check_int("n_prototypes", n_prototypes, minimum=2)
        self.temperature = check_positive("temperature", temperature)
        self.epsilon = check_positive("epsilon", epsilon)
        self.iterations = check_int("iterations", iterations, minimum=1)
        check_generator("generator", generator)
        self.prototypes = nn.Parameter(F.normalize(torch.randn(self.n_prototypes, self.dim, generator=generator), dim=1))

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_pair(z_a, z_b)
        if z_a.shape[1] != self.dim:
            raise ValueError(format_error("z_a", f"embeddings of dim {self.dim}", f"shape {tuple(z_a.shape)}", "build SwAV(dim=...) with the encoder's output size"))
        c = F.normalize(self.prototypes, dim=1)  # (K, d)
        s_a = F.normalize(gather(z_a), dim=1) @ c.T  # (n, K)
        s_b = F.normalize(gather(z_b), dim=1) @ c.T
        q_a = sinkhorn_knopp(s_a.detach(), self.epsilon, self.iterations)
        q_b = sinkhorn_knopp(s_b.detach(), self.epsilon, self.iterations)
        log_p_a = F.log_softmax(s_a / self.temperature, dim=1)
        log_p_b = F.log_softmax(s_b / self.temperature, dim=1)
        return -0.5 * ((q_b * log_p_a).sum(1) + (q_a * log_p_b).sum(1)).mean()
