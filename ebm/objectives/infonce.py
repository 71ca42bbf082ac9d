"""InfoNCE / NT-Xent: the contrastive loss of SimCLR, an energy view of the batch.

With cosine energies ``E_ij = -cos(z_i, z_j) / τ`` over the ``2n`` embeddings of both views, each
anchor's positive is its other view and the remaining ``2n - 2`` embeddings are negatives:

    ℓ_i = -log  exp(-E_{i,p(i)}) / Σ_{k ≠ i} exp(-E_{ik}),      L = (1 / 2n) Σ_{i=1}^{2n} ℓ_i

i.e. a softmax cross-entropy that pushes the positive pair's energy down and the others up.

Reference: Chen, Kornblith, Norouzi & Hinton (2020), "A Simple Framework for Contrastive Learning
of Visual Representations" (SimCLR), arXiv:2002.05709 (NT-Xent, eq. 1); van den Oord, Li &
Vinyals (2018), arXiv:1807.03748 (InfoNCE). Default τ = 0.5: SimCLR's CIFAR-10 setting
(ImageNet runs used τ = 0.1 with batches of 4096).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_positive, check_tensor
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["InfoNCE"]


@register_objective(
    "infonce",
    example=lambda: (InfoNCE(), registry_pair()),
    bad_inputs=[
        (lambda: InfoNCE()(torch.randn(4, 3), torch.randn(5, 3)), ValueError, "z_b"),
        (lambda: InfoNCE()(torch.randn(1, 3), torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: InfoNCE(temperature=0.0), ValueError, "temperature"),
    ],
)
class InfoNCE(nn.Module):
    """SimCLR's normalised-temperature cross-entropy (NT-Xent) over both views.

    ``L = -(1/2n) Σ_i log[ exp(cos(z_i, z_p(i))/τ) / Σ_{k≠i} exp(cos(z_i, z_k)/τ) ]`` over the 2n
    embeddings of the two views (see the module docstring).

    Args:
        temperature: τ > 0 (default 0.5, SimCLR CIFAR-10).

    Shapes: ``forward(z_a, z_b)``: ``(n, d)`` each, n >= 2 → scalar. Under `torch.distributed`
    the embeddings of all ranks are gathered (gradients summed correctly, see `ebm.distributed`).
    ``forward(z_a, z_b, negatives=k)`` with ``k (m, d)`` adds m extra negatives to every anchor's
    denominator (e.g. CLEL's embeddings of EBM samples, `ebm.objectives.CLEL`); they are not gathered.

    Raises:
        ValueError: shapes differ, n < 2, or τ <= 0.

    Example:
        >>> loss = InfoNCE(temperature=0.5)(torch.randn(8, 4), torch.randn(8, 4))
    """

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        self.temperature = check_positive("temperature", temperature)

    def forward(self, z_a: Tensor, z_b: Tensor, negatives: Tensor | None = None) -> Tensor:
        check_pair(z_a, z_b)
        if negatives is not None:
            check_tensor("negatives", negatives, ndim=2, trailing_shape=(z_a.shape[1],), floating=True)
        z_a, z_b = gather(z_a), gather(z_b)
        n = z_a.shape[0]
        z = F.normalize(torch.cat([z_a, z_b]), dim=1)  # (2n, d)
        logits = z @ z.T / self.temperature  # (2n, 2n): -E_ij
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
        if negatives is not None:
            logits = torch.cat([logits, z @ F.normalize(negatives, dim=1).T / self.temperature], dim=1)  # (2n, 2n + m)
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # positive of i is i ± n
        return F.cross_entropy(logits, target)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}"
