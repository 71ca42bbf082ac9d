"""data2vec-style target: regress the average of the teacher's top layers, instance-normalised.

A momentum teacher (`ebm.objectives.momentum.EMATarget`) encodes the full input; its top K layer
outputs are each normalised over the feature dimension (layer norm without affine parameters)
and averaged into the target ``y``. The student's prediction ``p`` from a masked/augmented view
regresses it with a Smooth-L1 loss (β → 0 gives L1, large β approaches MSE/2β):

    y = (1/K) Σ_{l=L-K+1}^{L} LN(a_l),     L = mean_i,j SmoothL1_β(p_ij - y_ij)

Reference: Baevski, Hsu, Xu, Babu, Gu & Auli (2022), "data2vec: A General Framework for
Self-supervised Learning in Speech, Vision and Language", arXiv:2202.03555 (eqs. 1-2; the paper
averages the top K = 6 (vision), 8 (speech) or 10 (text) Transformer blocks). β is set per
modality: the authors' released image configuration (data2vec v1, fairseq) uses β = 2, with
layer-normalised targets as here and an EMA decay 0.999 → 0.9998; this module's default stays 0.25.

On the 8×8 digits at 600 steps (`benchmarks/ssl_digits.py`, 3 seeds; BENCHMARKS.md, SSL digits,
Session 7) β = 2 and a predictor learning rate 10× the encoder's (the predictor + stop-gradient
recipe, see `ebm.objectives.byol`) raised the linear probe from 0.91 ± 0.03 to 0.94; a linear
predictor (data2vec's own regression head) collapses there (0.74), so the benchmark keeps an MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_int, check_nonnegative, format_error
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["Data2Vec"]


def _example():
    p, t1 = registry_pair()
    _, t2 = registry_pair(seed=2)
    return Data2Vec(top_k=2), (p, [t1, t2])


@register_objective(
    "data2vec",
    example=_example,
    bad_inputs=[
        (lambda: Data2Vec(top_k=3)(torch.randn(4, 3), [torch.randn(4, 3)]), ValueError, "teacher_layers"),
        (lambda: Data2Vec()(torch.randn(4, 3), [torch.randn(4, 2)]), ValueError, "teacher_layers"),
        (lambda: Data2Vec(beta=-1), ValueError, "beta"),
    ],
)
class Data2Vec(nn.Module):
    """Smooth-L1 regression onto the average of the teacher's top-K instance-normalised layers.

    Args:
        top_k: K layers averaged (default 1 here; see the paper's K above).
        beta: Smooth-L1 threshold β >= 0 (0 gives L1; default 0.25; the authors use 2 for images).

    Shapes: ``forward(prediction, teacher_layers)``: ``prediction (n, d)``; ``teacher_layers`` a
    ``(n, d)`` tensor or a sequence of them (last = top layer), detached here → scalar.

    Example:
        >>> Data2Vec(top_k=2)(p, [h1, h2, h3])
    """

    def __init__(self, top_k: int = 1, beta: float = 0.25):
        super().__init__()
        self.top_k = check_int("top_k", top_k, minimum=1)
        self.beta = check_nonnegative("beta", beta)

    def target(self, teacher_layers: Sequence[Tensor]) -> Tensor:
        """``(1/K) Σ_top LN(a_l)``: ``(n, d)``."""
        top = [F.layer_norm(a.detach(), a.shape[-1:]) for a in teacher_layers[-self.top_k :]]
        return torch.stack(top).mean(0)

    def forward(self, prediction: Tensor, teacher_layers) -> Tensor:
        layers = [teacher_layers] if isinstance(teacher_layers, Tensor) else list(teacher_layers)
        if len(layers) < self.top_k:
            raise ValueError(format_error("teacher_layers", f"at least top_k = {self.top_k} layer outputs", f"{len(layers)}", "return more teacher layers or lower top_k"))
        for a in layers:
            check_pair(prediction, a, min_batch=1, names=("prediction", "teacher_layers"))
        y = self.target(layers)
        if self.beta == 0:
            return F.l1_loss(prediction, y)
        return F.smooth_l1_loss(prediction, y, beta=self.beta)
