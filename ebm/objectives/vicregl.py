"""VICRegL: VICReg on global embeddings and on matched local (feature-map) embeddings.

Each view gives a global embedding ``z (n, d)`` (pooled) and a feature map ``y (n, h, w, e)``
(channels last), and the position of every cell of the map in the *original* image's frame,
``ℓ (n, h, w, 2)`` (known from the augmentation geometry, e.g. `affine_cell_locations`). Local
vectors of the two views are paired two ways and each set of pairs gets the VICReg criterion
``V`` (invariance + variance + covariance, `ebm.objectives.VICReg`):

    location-based: for each cell i of view a, its nearest cell j*(i) of view b in image
                    coordinates, ‖ℓ^a_i - ℓ^b_j‖; keep the k cells i with the smallest distance
    feature-based:  the same with the distance ‖y^a_i - y^b_j‖ in embedding space (a hard,
                    non-differentiable choice; gradients flow through the matched vectors)

    L_loc  = ½ [V(Y^a_{→b}, Y^b_{j*}) + V(Y^b_{→a}, Y^a_{j*})]     (both directions; likewise L_feat)
    L      = α V(z_a, z_b) + (1 - α) (L_loc + L_feat)

The matched vectors of all samples are pooled into ``(n·k, e)`` for the variance and covariance.
Location matching teaches the map to be equivariant (a cell describes *its* part of the image);
feature matching lets it match parts that moved.

Reference: Bardes, Ponce & LeCun (2022), "VICRegL: Self-Supervised Learning of Local Visual
Features", NeurIPS, arXiv:2210.01571 (α = 0.75 for ResNet-50; k = 20 in the first matching
direction and 4 in the second, as the authors' code; λ = μ = 25, ν = 1). Simplification: the local
terms use the same λ, μ, ν as the global one (the authors' code halves ν there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_finite, check_int, check_probability, check_tensor, format_error, input_checks_enabled
from ebm.objectives._pairs import check_pair
from ebm.objectives.vicreg import VICReg
from ebm.registry import register_objective

__all__ = ["VICRegL", "nearest_matches", "affine_cell_locations"]


def nearest_matches(query: Tensor, candidates: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per sample, the ``k`` query points closest to their nearest candidate.

    Args:
        query: ``(n, p, c)`` points (cell locations or local features) of one view.
        candidates: ``(n, q, c)`` points of the other view.
        k: how many matches to keep per sample (at most ``p``; fewer cells keep them all).

    Returns:
        ``(qi, cj)``, both ``(n, min(k, p))`` long: query cell ``qi[b, m]`` is matched with
        candidate cell ``cj[b, m]``, sorted by increasing distance. No gradient (a hard choice);
        exact distance ties (e.g. a shift by a whole number of cells) are broken arbitrarily.
    """
    with torch.no_grad():
        dist = torch.cdist(query, candidates)  # (n, p, q)
        best, nearest = dist.min(dim=2)  # (n, p) each
        k = min(k, query.shape[1])
        qi = best.topk(k, dim=1, largest=False).indices  # (n, k)
        cj = nearest.gather(1, qi)  # (n, k)
    return qi, cj


def affine_cell_locations(theta: Tensor, h: int, w: int) -> Tensor:
    """Where the centres of an ``h × w`` feature map's cells come from in the original image.

    For a view made with ``F.affine_grid(theta, ...)`` + ``grid_sample`` (as `ebm.augment.DigitAugment`
    does), the cell centres of an evenly tiled ``h × w`` map over the view sit at these source
    coordinates, in ``[-1, 1]`` (``x`` then ``y``, ``align_corners=False``).

    Args:
        theta: ``(n, 2, 3)`` affine maps from view coordinates to image coordinates.
        h, w: the feature map's size.

    Returns:
        ``(n, h, w, 2)`` locations.
    """
    check_tensor("theta", theta, ndim=3, trailing_shape=(2, 3), floating=True)
    return F.affine_grid(theta, [theta.shape[0], 1, check_int("h", h, minimum=1), check_int("w", w, minimum=1)], align_corners=False)  # (n, h, w, 2)


def _check_map(name: str, y, ref: Tensor, channels: int | None, n: int, last: str) -> Tensor:
    check_tensor(name, y, ndim=4, floating=True)
    if y.shape[0] != n:
        raise ValueError(format_error(name, f"{n} rows (the batch of z_a; row i of every input is the same sample)", f"shape {tuple(y.shape)}", "pass the feature maps of the same batch"))
    if channels is not None and y.shape[-1] != channels:
        raise ValueError(format_error(name, f"last dimension {channels} ({last})", f"shape {tuple(y.shape)}", "use channels-last maps (n, h, w, e) from one encoder: y.permute(0, 2, 3, 1)"))
    if y.dtype != ref.dtype or y.device != ref.device:
        raise TypeError(format_error(name, f"dtype {ref.dtype} on {ref.device} (that of z_a)", f"dtype {y.dtype} on {y.device}", f"use {name}.to(z_a)"))
    if input_checks_enabled():
        check_finite(name, y)
    return y


@register_objective(
    "vicregl",
    example=lambda: (VICRegL(num_matches=(4, 2)), _registry_inputs()),
    bad_inputs=[
        (lambda: VICRegL()(*_registry_inputs()[:2], torch.randn(7, 3, 3, 5), *_registry_inputs()[3:]), ValueError, "maps_a"),
        (lambda: VICRegL()(*_registry_inputs()[:3], torch.randn(8, 3, 3, 6), *_registry_inputs()[4:]), ValueError, "maps_b"),
        (lambda: VICRegL()(*_registry_inputs()[:4], torch.randn(8, 3, 3, 3), _registry_inputs()[5]), ValueError, "locations_a"),
        (lambda: VICRegL()(*_registry_inputs()[:5], torch.randn(8, 2, 2, 2)), ValueError, "locations_b"),
        (lambda: VICRegL(alpha=1.5), ValueError, "alpha"),
        (lambda: VICRegL(num_matches=(0, 4)), ValueError, "num_matches"),
    ],
)
class VICRegL(nn.Module):
    """``L = α V(z_a, z_b) + (1 - α)(L_loc + L_feat)``: global and local VICReg (see the module docstring).

    Args:
        alpha: weight α ∈ [0, 1] of the global term (default 0.75).
        num_matches: ``(k_ab, k_ba)`` matches kept per sample in the a→b and b→a directions, or one
            int for both (default (20, 4), the authors' code).
        invariance_weight, variance_weight, covariance_weight, gamma, eps: as `VICReg` (25, 25, 1, 1, 1e-4).

    Shapes: ``forward(z_a, z_b, maps_a, maps_b, locations_a, locations_b)``: global ``(n, d)`` each
    (n >= 2); maps ``(n, h_a, w_a, e)`` and ``(n, h_b, w_b, e)`` (channels last, sizes may differ);
    locations ``(n, h_a, w_a, 2)`` and ``(n, h_b, w_b, 2)`` in one image frame → scalar. Gathered
    under `torch.distributed` (variance and covariance over the global batch).

    Raises:
        ValueError: mismatched shapes or batches, n < 2, α outside [0, 1], num_matches < 1.
        TypeError: non-floating inputs, or inputs on different dtypes / devices.

    Example:
        >>> loss = VICRegL()(z_a, z_b, maps_a, maps_b, locations_a, locations_b)
    """

    def __init__(self, alpha: float = 0.75, num_matches: int | tuple[int, int] = (20, 4), invariance_weight: float = 25.0, variance_weight: float = 25.0, covariance_weight: float = 1.0, gamma: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.alpha = check_probability("alpha", alpha, open_interval=False)
        pair = (num_matches, num_matches) if isinstance(num_matches, int) and not isinstance(num_matches, bool) else tuple(num_matches)
        if len(pair) != 2:
            raise ValueError(format_error("num_matches", "an int or a pair (k_ab, k_ba)", repr(num_matches), "pass e.g. num_matches=(20, 4)"))
        self.num_matches = tuple(check_int("num_matches", k, minimum=1) for k in pair)
        self.vicreg = VICReg(invariance_weight, variance_weight, covariance_weight, gamma, eps)

    def _matched(self, ya: Tensor, yb: Tensor, qi: Tensor, cj: Tensor) -> Tensor:
        e = ya.shape[-1]
        a = ya.gather(1, qi[..., None].expand(-1, -1, e)).reshape(-1, e)  # (n*k, e)
        b = yb.gather(1, cj[..., None].expand(-1, -1, e)).reshape(-1, e)  # (n*k, e)
        return self.vicreg(a, b)

    def local_term(self, ya: Tensor, yb: Tensor, qa: Tensor, qb: Tensor) -> Tensor:
        """``½[V(a→b) + V(b→a)]`` with matches found between the query points ``qa (n, p, c)`` and
        ``qb (n, q, c)`` (locations, or the detached features); ``ya (n, p, e)``, ``yb (n, q, e)``."""
        k_ab, k_ba = self.num_matches
        ab = self._matched(ya, yb, *nearest_matches(qa, qb, k_ab))
        ba = self._matched(yb, ya, *nearest_matches(qb, qa, k_ba))
        return 0.5 * (ab + ba)

    def forward(self, z_a: Tensor, z_b: Tensor, maps_a: Tensor, maps_b: Tensor, locations_a: Tensor, locations_b: Tensor) -> Tensor:
        check_pair(z_a, z_b, why="variance and covariance are batch statistics")
        n = z_a.shape[0]
        _check_map("maps_a", maps_a, z_a, None, n, "")
        e = maps_a.shape[-1]
        _check_map("maps_b", maps_b, z_a, e, n, f"the channels of maps_a, {e}")
        _check_map("locations_a", locations_a, z_a, 2, n, "an (x, y) position per cell")
        _check_map("locations_b", locations_b, z_a, 2, n, "an (x, y) position per cell")
        for loc, got, y in (("locations_a", locations_a, maps_a), ("locations_b", locations_b, maps_b)):
            if got.shape[1:3] != y.shape[1:3]:
                raise ValueError(format_error(loc, f"one position per cell of its map, shape (n, {y.shape[1]}, {y.shape[2]}, 2)", f"shape {tuple(got.shape)}", "compute the locations at the feature map's resolution (affine_cell_locations(theta, h, w))"))
        ya, yb = maps_a.flatten(1, 2), maps_b.flatten(1, 2)  # (n, p, e), (n, q, e)
        la, lb = locations_a.flatten(1, 2), locations_b.flatten(1, 2)  # (n, p, 2), (n, q, 2)
        local = self.local_term(ya, yb, la, lb) + self.local_term(ya, yb, ya.detach(), yb.detach())
        return self.alpha * self.vicreg(z_a, z_b) + (1 - self.alpha) * local

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, num_matches={self.num_matches}"


def _registry_inputs(n: int = 8, seed: int = 0):
    """Global embeddings ``(8, 4)``, 3×3 maps of 5 channels and the cell locations of two views (requires grad)."""
    g = torch.Generator().manual_seed(seed)
    z_a, z_b = (torch.randn(n, 4, generator=g).requires_grad_(True) for _ in range(2))
    maps_a, maps_b = (torch.randn(n, 3, 3, 5, generator=g).requires_grad_(True) for _ in range(2))
    theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(n, 2, 3)
    shifted = torch.tensor([[0.85, 0.1, 0.13], [-0.07, 0.9, -0.11]]).expand(n, 2, 3)  # a zoom, a slight rotation and a shift: no distance ties
    return z_a, z_b, maps_a, maps_b, affine_cell_locations(theta, 3, 3), affine_cell_locations(shifted, 3, 3)
