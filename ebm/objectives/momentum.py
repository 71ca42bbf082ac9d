"""Momentum (exponential-moving-average) target networks for MoCo, BYOL, DINO and data2vec.

The target ``ξ`` follows the online weights ``θ``: ``ξ ← m ξ + (1 - m) θ`` after each step. BYOL's
cosine schedule raises the momentum from ``m_base`` to 1 over training:

    m_k = 1 - (1 - m_base) (cos(π k / K) + 1) / 2

Reference: Grill et al. (2020), "Bootstrap Your Own Latent", arXiv:2006.07733 (m_base = 0.996);
He, Fan, Wu, Xie & Girshick (2020), "Momentum Contrast", arXiv:1911.05722 (constant m = 0.999).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from ebm._validation import check_int, check_probability, format_error

__all__ = ["EMATarget", "cosine_momentum"]


def cosine_momentum(step: int, total_steps: int, base: float = 0.996) -> float:
    """BYOL's schedule ``1 - (1 - base)(cos(π step / total) + 1) / 2``; equals 1 from ``total`` on."""
    k = min(step, total_steps)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0


class EMATarget(nn.Module):
    """A frozen copy of an online network, updated as an exponential moving average.

    Its weights and the step counter are in ``state_dict`` (so checkpoints carry them); it never
    receives gradients.

    Args:
        online: the network to follow (deep-copied at construction).
        base_momentum: m in [0, 1) (default 0.996, BYOL).
        total_steps: if given, BYOL's cosine schedule from ``base_momentum`` to 1 over this many
            updates; if None the momentum is constant (MoCo).

    Example:
        >>> target = EMATarget(encoder, 0.99)
        >>> target.update(encoder); y = target(x)   # no gradient flows into target
    """

    def __init__(self, online: nn.Module, base_momentum: float = 0.996, total_steps: int | None = None):
        super().__init__()
        if not isinstance(online, nn.Module):
            raise TypeError(format_error("online", "an nn.Module", type(online).__name__, "pass the online encoder"))
        self.base_momentum = check_probability("base_momentum", base_momentum, open_interval=False)
        self.total_steps = None if total_steps is None else check_int("total_steps", total_steps, minimum=1)
        self.network = copy.deepcopy(online).requires_grad_(False)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def momentum(self) -> float:
        """The momentum used by the next `update`."""
        if self.total_steps is None:
            return self.base_momentum
        return cosine_momentum(int(self.step), self.total_steps, self.base_momentum)

    @torch.no_grad()
    def update(self, online: nn.Module) -> None:
        """``ξ ← m ξ + (1 - m) θ`` for every parameter; buffers (e.g. batch-norm statistics) are copied."""
        m = self.momentum()
        target_params = list(self.network.parameters())
        online_params = list(online.parameters())
        if len(target_params) != len(online_params):
            raise ValueError(format_error("online", f"a network with {len(target_params)} parameter tensors", f"{len(online_params)}", "update from the network the target was built from"))
        for t, o in zip(target_params, online_params):
            t.mul_(m).add_(o.detach(), alpha=1.0 - m)
        for t, o in zip(self.network.buffers(), online.buffers()):
            t.copy_(o)
        self.step += 1

    @torch.no_grad()
    def reset(self, online: nn.Module) -> None:
        """Copy the online weights into the target and restart the schedule."""
        for t, o in zip(self.network.parameters(), online.parameters()):
            t.copy_(o)
        self.step.zero_()

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.network(x)
