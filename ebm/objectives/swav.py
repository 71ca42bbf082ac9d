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

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_positive, check_tensor, format_error, input_checks_enabled
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["SwAV", "sinkhorn_knopp"]


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Equal-partition soft assignments ``(n, K)`` from scores ``(n, K)``; rows sum to 1.

    Alternately normalises ``Q ∝ exp(scores / ε)`` so that each prototype (column) holds mass 1/K
    and each sample (row) mass 1/n, then rescales rows to sum to 1 (Cuturi 2013, arXiv:1306.0895;
    SwAV's Algorithm 1). The normalisations run in the log domain,

        log Q ← log Q - logsumexp_rows(log Q) - log K,   log Q ← log Q - logsumexp_cols(log Q) - log n,

    which is the same iteration as on ``exp(scores / ε)`` but cannot underflow: scores far larger
    than ε (e.g. unnormalised logits) give sharp assignments instead of ``0 / 0 = NaN``.

    Args:
        scores: ``(n, K)`` finite floating scores (n samples, K prototypes).
        epsilon: ε > 0, the entropic regularisation (small: sharp, near-hard assignments).
        iterations: >= 1 Sinkhorn-Knopp iterations.

    Returns:
        ``(n, K)`` non-negative codes whose rows sum to 1.

    Raises:
        ValueError: ε <= 0, iterations < 1, non-finite scores or a non-(n, K) shape.

    Example:
        >>> q = sinkhorn_knopp(torch.randn(8, 3) * 100)   # finite even for scores ≫ ε
    """
    check_positive("epsilon", epsilon, fix="pass epsilon > 0 (SwAV uses 0.05)")
    iterations = check_int("iterations", iterations, minimum=1)
    check_tensor("scores", scores, ndim=2, floating=True, finite=input_checks_enabled())
    n, k = scores.shape
    if n == 0 or k == 0:
        raise ValueError(format_error("scores", "a non-empty (n, K) matrix", f"shape {tuple(scores.shape)}", "pass at least one sample and one prototype"))
    return _sinkhorn(scores, epsilon, iterations)


@torch.no_grad()
def _sinkhorn(scores: Tensor, epsilon: float, iterations: int) -> Tensor:
    """`sinkhorn_knopp` on validated arguments (SwAV's forward has checked its embeddings already)."""
    n, k = scores.shape
    log_q = scores / epsilon  # (n, K); every step below is invariant to an additive constant
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - math.log(k)  # columns: 1/K each
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - math.log(n)  # rows: 1/n each
    return torch.exp(log_q) * n  # (n, K), rows sum to 1


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
    (normalised on use, in the embeddings' dtype: float64 input works without ``.double()``).

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
        c = F.normalize(self.prototypes.to(z_a.dtype), dim=1)  # (K, d), in the embeddings' dtype
        s_a = F.normalize(gather(z_a), dim=1) @ c.T  # (n, K)
        s_b = F.normalize(gather(z_b), dim=1) @ c.T
        q_a = _sinkhorn(s_a.detach(), self.epsilon, self.iterations)
        q_b = _sinkhorn(s_b.detach(), self.epsilon, self.iterations)
        log_p_a = F.log_softmax(s_a / self.temperature, dim=1)
        log_p_b = F.log_softmax(s_b / self.temperature, dim=1)
        return -0.5 * ((q_b * log_p_a).sum(1) + (q_a * log_p_b).sum(1)).mean()
