"""`roi_align` (bilinear, aligned=False semantics, single sample per bin) and `StochasticDepth`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["roi_align", "StochasticDepth"]


def roi_align(input: Tensor, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False) -> Tensor:
    """Average of bilinear samples at each output bin's centre; boxes ``(K, 5)`` = (batch index, x1, y1, x2, y2)."""
    if isinstance(boxes, (list, tuple)):
        boxes = torch.cat([torch.cat([torch.full((len(b), 1), i, dtype=b.dtype, device=b.device), b], 1) for i, b in enumerate(boxes)])
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    offset = 0.5 if aligned else 0.0
    out = []
    for box in boxes:
        b = int(box[0])
        x1, y1, x2, y2 = (box[1:] * spatial_scale - offset).tolist()
        ys = y1 + (torch.arange(oh, dtype=input.dtype) + 0.5) * (y2 - y1) / oh
        xs = x1 + (torch.arange(ow, dtype=input.dtype) + 0.5) * (x2 - x1) / ow
        h, w = input.shape[-2:]
        grid_y = ys.clamp(0, h - 1)
        grid_x = xs.clamp(0, w - 1)
        y0, x0 = grid_y.floor().long(), grid_x.floor().long()
        y1i, x1i = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
        wy, wx = (grid_y - y0).unsqueeze(1), (grid_x - x0).unsqueeze(0)
        f = input[b]
        val = (f[:, y0][:, :, x0] * (1 - wy) * (1 - wx) + f[:, y0][:, :, x1i] * (1 - wy) * wx
               + f[:, y1i][:, :, x0] * wy * (1 - wx) + f[:, y1i][:, :, x1i] * wy * wx)
        out.append(val)
    return torch.stack(out) if out else input.new_zeros((0, input.shape[1], oh, ow))


class StochasticDepth(nn.Module):
    """Drop whole residual branches with probability p (mode 'row': per sample; 'batch': all)."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return input
        shape = [input.shape[0]] + [1] * (input.dim() - 1) if self.mode == "row" else [1] * input.dim()
        keep = torch.empty(shape, dtype=input.dtype, device=input.device).bernoulli_(1 - self.p)
        return input * keep / (1 - self.p)
