"""Input checks for the multi-view joint-embedding losses (MMCR, LeJEPA, EMP-SSL, FroSSL, SIGReg).

These losses take any number of views ``loss(z_1, ..., z_k)``, each ``(n, d)``, row ``i`` of every
view being the same source sample; two views is the common case, so they plug into
`TwoViewObjective` like the pair losses. Inside, the views are stacked view-major ``(k, n, d)``.
Under `torch.distributed` every view is gathered over the batch, so the loss equals the loss of
one process on the concatenated batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_finite, format_error, input_checks_enabled
from ebm.distributed import gather
from ebm.objectives._pairs import check_embeddings

__all__ = ["stack_views"]


def stack_views(views, *, min_views: int = 1, min_batch: int = 2, why: str = "the loss compares samples within the batch", gathered: bool = True) -> Tensor:
    """Check ``k`` views ``(n, d)`` of one batch and stack them view-major.

    Args:
        views: a sequence of floating ``(n, d)`` tensors with identical shape, dtype and device.
        min_views: the fewest views the method is defined for.
        min_batch: the smallest batch ``n`` the method is defined for.
        why: the reason for ``min_batch``, quoted in the message.
        gathered: gather every view over the processes (rank 0's rows first) when distributed.

    Returns:
        ``(k, n, d)`` (``n`` the global batch when gathered).

    Raises:
        ValueError: too few views, a non-2-D view, mismatched shapes, too small a batch, NaN or
            infinite entries (checked unless inside ``trusted_inputs()``).
        TypeError: a non-tensor, an integer dtype, or views on different dtypes / devices.
    """
    views = tuple(views)
    if len(views) < min_views:
        raise ValueError(
            format_error("views", f"at least {min_views} view(s) of the batch, each (n, d)", f"{len(views)} view(s)", "pass one embedding tensor per augmented view: loss(z_1, z_2, ...)")
        )
    first = check_embeddings("z_1", views[0], min_batch=min_batch, why=why)
    for i, z in enumerate(views[1:], start=2):
        check_embeddings(f"z_{i}", z, min_batch=min_batch, why=why)
        if z.shape != first.shape:
            raise ValueError(
                format_error(f"z_{i}", f"the shape of z_1 {tuple(first.shape)} (row j of every view is the same sample)", f"shape {tuple(z.shape)}", "embed the same batch under every augmentation with the same encoder")
            )
        if z.dtype != first.dtype or z.device != first.device:
            raise TypeError(format_error(f"z_{i}", f"dtype {first.dtype} on {first.device}", f"dtype {z.dtype} on {z.device}", f"use z_{i}.to(z_1)"))
    if input_checks_enabled():  # one read-back per call; skip inside samplers.validation.trusted_inputs()
        for i, z in enumerate(views, start=1):
            check_finite(f"z_{i}", z)
    if gathered:
        views = tuple(gather(z) for z in views)
    return torch.stack(views)  # (k, n, d)
