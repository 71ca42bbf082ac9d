"""MSN: masked Siamese networks -- match a masked view's prototype assignment to the unmasked target's.

Embeddings are compared with ``K`` learnable unit prototypes ``q_k``; an (anchor) embedding ``z``
gets the soft assignment ``p(z) = softmax(ẑ·q̂ / τ)`` (``ẑ = z/‖z‖``). The target view (an EMA
encoder on the unmasked image) gets ``p(z⁺)`` sharpened with a temperature ``T < τ``
(``p_k^{1/T} / Σ_j p_j^{1/T}``), then balanced over the prototypes by Sinkhorn-Knopp on the
batch, and is a fixed target (no gradient). With ``m`` masked anchor views per sample and
``p̄ = mean`` of the anchor assignments (mean-entropy maximisation, "me-max"):

    L = (1/(m n)) Σ_{v,i} H(p⁺_i, p(z_i^v)) + λ (log K - H(p̄)),   H(p, q) = -Σ_k p_k log q_k

``log K - H(p̄) = KL(p̄ ‖ uniform) >= 0``: it differs from the paper's ``-λ H(p̄)`` by the
constant ``λ log K`` (as in lightly), which changes no gradient and makes the optimum 0.

Reference: Assran, Caron, Misra, Bojanowski, Bordes, Vincent, Joulin, Rabbat & Ballas (2022),
"Masked Siamese Networks for Label-Efficient Learning", ECCV, arXiv:2204.07141 (τ = 0.1,
T = 0.25, λ = 1; 3 Sinkhorn iterations on the targets, lightly's default). Matches lightly 1.6.0
`MSNLoss` (benchmarks/peers/lightly_loss_check.py). The masking itself is the encoder's job.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_finite, check_generator, check_int, check_nonnegative, check_positive, check_tensor, format_error, input_checks_enabled
from ebm.distributed import gather
from ebm.objectives._pairs import check_embeddings, registry_pair
from ebm.registry import register_objective

__all__ = ["MSN", "sharpen", "sinkhorn_balance"]


def sharpen(p: Tensor, temperature: float) -> Tensor:
    """``p_k^{1/T} / Σ_j p_j^{1/T}`` row-wise, ``(n, K)`` → ``(n, K)``."""
    return F.softmax(torch.log(p) / temperature, dim=-1)


@torch.no_grad()
def sinkhorn_balance(p: Tensor, iterations: int = 3) -> Tensor:
    """Balance soft assignments ``(n, K)`` so every prototype receives mass n/K; rows then sum to 1.

    Alternately scales the prototypes' (columns') totals to 1/K and the samples' (rows') totals to
    1/n of the whole, starting from ``p / Σ p``; the result is multiplied by n. 0 iterations
    returns ``p`` unchanged.
    """
    if iterations == 0:
        return p
    n, k = p.shape
    q = p / p.sum()
    for _ in range(iterations):
        q = q / q.sum(0, keepdim=True) / k  # prototypes: 1/K each
        q = q / q.sum(1, keepdim=True) / n  # samples: 1/n each
    return q * n  # (n, K)


@register_objective(
    "msn",
    example=lambda: (MSN(4, 6), registry_pair()),
    bad_inputs=[
        (lambda: MSN(4, 6)(torch.randn(8, 3), torch.randn(8, 3)), ValueError, "dim"),
        (lambda: MSN(4, 6)(torch.randn(9, 4), torch.randn(4, 4)), ValueError, "multiple"),
        (lambda: MSN(4, 6, target_temperature=0), ValueError, "target_temperature"),
        (lambda: MSN(4, 1), ValueError, "n_prototypes"),
    ],
)
class MSN(nn.Module):
    """Prototype cross-entropy from the sharpened, balanced target to the masked anchors, plus me-max.

    Args:
        dim: embedding dimension d.
        n_prototypes: K (the paper uses 1024).
        temperature: τ of the assignments (default 0.1).
        target_temperature: T, the target sharpening temperature (default 0.25).
        sinkhorn_iterations: balancing iterations on the targets (default 3; 0 disables).
        me_max_weight: λ (default 1).
        generator: for the prototype initialisation.

    Shapes: ``forward(anchors, targets)``: ``targets (n, d)`` (target encoder, detached here),
    ``anchors (m n, d)``, ``m >= 1`` masked views stacked view-major (rows ``v n .. v n + n - 1``
    are view ``v`` of the batch) → scalar. Parameter ``prototypes (K, d)`` (normalised on use).
    Under DDP the anchors and targets are gathered (Sinkhorn and me-max see the global batch).

    Raises:
        ValueError: width ≠ dim, anchor rows not a multiple of the target rows, NaN / inf entries,
            bad hyper-parameters. TypeError: a dtype or device other than the prototypes'.

    Example:
        >>> msn = MSN(dim=8, n_prototypes=32)
        >>> msn(torch.cat([student(mask(x)), student(mask(x))]), teacher(x))
    """

    def __init__(self, dim: int, n_prototypes: int, temperature: float = 0.1, target_temperature: float = 0.25, sinkhorn_iterations: int = 3, me_max_weight: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.n_prototypes = check_int("n_prototypes", n_prototypes, minimum=2)
        self.temperature = check_positive("temperature", temperature)
        self.target_temperature = check_positive("target_temperature", target_temperature)
        self.sinkhorn_iterations = check_int("sinkhorn_iterations", sinkhorn_iterations, minimum=0)
        self.me_max_weight = check_nonnegative("me_max_weight", me_max_weight)
        check_generator("generator", generator)
        self.prototypes = nn.Parameter(F.normalize(torch.randn(self.n_prototypes, self.dim, generator=generator), dim=1))

    def log_assign(self, z: Tensor) -> Tensor:
        """``log softmax(ẑ·q̂ / τ)``: ``(n, d)`` → ``(n, K)``."""
        return F.log_softmax(F.normalize(z, dim=1) @ F.normalize(self.prototypes, dim=1).T / self.temperature, dim=1)

    def forward(self, anchors: Tensor, targets: Tensor) -> Tensor:
        check_embeddings("targets", targets)
        check_tensor("anchors", anchors, ndim=2, floating=True)
        n, d = targets.shape
        if d != self.dim or anchors.shape[1] != self.dim:
            raise ValueError(format_error("anchors" if anchors.shape[1] != self.dim else "targets", f"embeddings of dim {self.dim}", f"anchors {tuple(anchors.shape)}, targets {tuple(targets.shape)}", "build MSN(dim=...) with the encoder's output size"))
        if anchors.shape[0] == 0 or anchors.shape[0] % n:
            raise ValueError(format_error("anchors", f"m x {n} rows (a multiple of the {n} target rows, view-major)", f"shape {tuple(anchors.shape)}", "stack the masked views with torch.cat([view_1, ..., view_m])"))
        for name, z in (("anchors", anchors), ("targets", targets)):
            if z.dtype != self.prototypes.dtype or z.device != self.prototypes.device:
                raise TypeError(format_error(name, f"dtype {self.prototypes.dtype} on {self.prototypes.device} (the prototypes')", f"dtype {z.dtype} on {z.device}", f"move the loss with msn.to({name}) or cast {name}.to(msn.prototypes)"))
            if input_checks_enabled():
                check_finite(name, z)
        m = anchors.shape[0] // n
        a = gather(anchors.reshape(m, n, d).transpose(0, 1))  # (N, m, d): gathered per sample
        a = a.transpose(0, 1).reshape(-1, d)  # (m N, d), view-major again
        with torch.no_grad():
            t = gather(targets.detach())  # (N, d)
            p_target = F.softmax(self.log_assign(t) / self.target_temperature, dim=1)  # = sharpen(p(t), T), in log space
            p_target = sinkhorn_balance(p_target, self.sinkhorn_iterations)
            p_target = p_target.repeat(m, 1)  # (m N, K)
        log_p = self.log_assign(a)  # (m N, K)
        loss = -(p_target * log_p).sum(1).mean()
        if self.me_max_weight > 0:
            mean_p = log_p.exp().mean(0)  # (K,)
            kl_to_uniform = torch.special.xlogy(mean_p, mean_p).sum() + math.log(self.n_prototypes)  # log K - H(p̄)
            loss = loss + self.me_max_weight * kl_to_uniform
        return loss

    def extra_repr(self) -> str:
        return f"dim={self.dim}, K={self.n_prototypes}, τ={self.temperature:g}, T={self.target_temperature:g}, λ={self.me_max_weight:g}"
