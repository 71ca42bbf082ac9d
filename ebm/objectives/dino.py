"""DINO: self-distillation with a centred, sharpened momentum teacher.

Student and teacher (an EMA of the student) map each view to K logits. The teacher's output is
centred by a running mean ``c`` and sharpened by a low temperature; the student matches it:

    P_t(x) = softmax((g_t(x) - c) / τ_t),   P_s(x) = softmax(g_s(x) / τ_s)
    L = ½ [ H(P_t(x_b), P_s(x_a)) + H(P_t(x_a), P_s(x_b)) ],   H(p, q) = -Σ_k p_k log q_k
    c ← m c + (1 - m) mean over the batch of g_t(x)          (after each call)

The teacher temperature warms up linearly from ``warmup_teacher_temperature`` to
``teacher_temperature`` over ``warmup_steps`` calls. Centring stops one dimension from dominating;
sharpening stops the uniform collapse that centring alone would cause.

Reference: Caron, Touvron, Misra, Jégou, Mairal, Bojanowski & Joulin (2021), "Emerging Properties
in Self-Supervised Vision Transformers", arXiv:2104.14294 (τ_s = 0.1, centre momentum m = 0.9; τ_t
warmed up from 0.04 to 0.07 over the first 30 epochs). The default here is τ_t = 0.04
throughout, the authors' released default (their training script's ``teacher_temp`` and
``warmup_teacher_temp`` are both 0.04, with 0.07 named as the upper end before training becomes
unstable). On the 8×8 digits at 600 steps (`benchmarks/ssl_digits.py`, 3 seeds) τ_t = 0.04 gave a
linear probe of 0.95 where the 0.04 → 0.07 warm-up gave 0.91 (BENCHMARKS.md, SSL digits, Session 7).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_int, check_positive, check_probability, format_error
from ebm.distributed import gather
from ebm.objectives._pairs import check_pair, registry_pair
from ebm.registry import register_objective

__all__ = ["DINO"]


def _four():
    t_a, t_b = registry_pair()
    s_a, s_b = registry_pair(seed=1)
    return s_a, t_b, s_b, t_a


@register_objective(
    "dino",
    example=lambda: (DINO(4), _four()),
    bad_inputs=[
        (lambda: DINO(4)(torch.randn(8, 3), torch.randn(8, 3)), ValueError, "out_dim"),
        (lambda: DINO(4, student_temperature=0), ValueError, "student_temperature"),
        (lambda: DINO(4)(torch.randn(8, 4), torch.randn(8, 4), torch.randn(8, 4)), ValueError, "t_a"),
    ],
)
class DINO(nn.Module):
    """Cross-entropy between the centred, sharpened teacher and the student, across views.

    Args:
        out_dim: K, the number of output logits.
        student_temperature: τ_s (default 0.1).
        teacher_temperature: final τ_t (default 0.04, the authors' default; their warm-up setting
            ends at 0.07).
        warmup_teacher_temperature: initial τ_t (default 0.04).
        warmup_steps: calls over which τ_t warms up (default 0: constant ``teacher_temperature``).
        center_momentum: m (default 0.9).

    Shapes: ``forward(s_a, t_b, s_b=None, t_a=None)``: student logits ``s (n, K)``, teacher
    logits ``t (n, K)`` (detached here) → scalar; one direction when ``s_b, t_a`` are None.
    Buffers ``center (K,)`` and ``step ()``; `reset()` zeroes both.

    Example:
        >>> dino = DINO(out_dim=64)
        >>> loss = dino(student(x_a), teacher(x_b), student(x_b), teacher(x_a))
    """

    def __init__(self, out_dim: int, student_temperature: float = 0.1, teacher_temperature: float = 0.04, warmup_teacher_temperature: float = 0.04, warmup_steps: int = 0, center_momentum: float = 0.9):
        super().__init__()
        self.out_dim = check_int("out_dim", out_dim, minimum=1)
        self.student_temperature = check_positive("student_temperature", student_temperature)
        self.teacher_temperature = check_positive("teacher_temperature", teacher_temperature)
        self.warmup_teacher_temperature = check_positive("warmup_teacher_temperature", warmup_teacher_temperature)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.center_momentum = check_probability("center_momentum", center_momentum, open_interval=False)
        self.register_buffer("center", torch.zeros(self.out_dim))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def reset(self) -> None:
        """Zero the centre and restart the temperature schedule."""
        self.center.zero_()
        self.step.zero_()

    def current_teacher_temperature(self) -> float:
        """τ_t at the current step (linear warm-up, then constant)."""
        k = int(self.step)
        if k >= self.warmup_steps:
            return self.teacher_temperature
        return self.warmup_teacher_temperature + (self.teacher_temperature - self.warmup_teacher_temperature) * k / self.warmup_steps

    def _h(self, s: Tensor, t: Tensor, tau_t: float) -> Tensor:
        p_t = F.softmax((t.detach() - self.center) / tau_t, dim=1)  # (n, K)
        return -(p_t * F.log_softmax(s / self.student_temperature, dim=1)).sum(1).mean()

    def forward(self, s_a: Tensor, t_b: Tensor, s_b: Tensor | None = None, t_a: Tensor | None = None) -> Tensor:
        check_pair(s_a, t_b, min_batch=1, names=("s_a", "t_b"))
        if s_a.shape[1] != self.out_dim:
            raise ValueError(format_error("s_a", f"logits of width out_dim = {self.out_dim}", f"shape {tuple(s_a.shape)}", "build DINO(out_dim=...) with the head's output size"))
        if (s_b is None) != (t_a is None):
            raise ValueError(format_error("t_a", "s_b and t_a both given or both None", f"s_b {'None' if s_b is None else 'given'}, t_a {'None' if t_a is None else 'given'}", "pass both or neither"))
        tau_t = self.current_teacher_temperature()
        if s_b is None:
            loss, teachers = self._h(s_a, t_b, tau_t), [t_b]
        else:
            check_pair(s_b, t_a, min_batch=1, names=("s_b", "t_a"))
            loss, teachers = 0.5 * (self._h(s_a, t_b, tau_t) + self._h(s_b, t_a, tau_t)), [t_b, t_a]
        with torch.no_grad():
            batch_center = gather(torch.cat(teachers).detach()).mean(0)  # (K,)
            self.center.mul_(self.center_momentum).add_(batch_center.to(self.center.dtype), alpha=1 - self.center_momentum)
            self.step += 1
        return loss
