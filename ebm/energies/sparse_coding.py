"""Sparse coding as a latent-variable energy: ``E(x, z) = ½‖x − z D‖² + α‖z‖₁``.

The free energy at zero temperature, ``F(x) = min_z E(x, z)``, is low near sparse combinations of
a few atoms (Olshausen & Field 1996, Nature 381; LeCun et al. 2006, "A Tutorial on Energy-Based
Learning", §6): plotted over the plane it shows valleys along the lines (and cones) spanned by
small groups of atoms. Inference is `ebm.sparse.fista` (certified by the duality gap).

Gradients: by the envelope theorem ``∇_x F = x − z* D`` and ``∇_D F = −z*ᵀ(x − z* D)`` at the
minimiser ``z*``, which `LatentEnergy.free_energy` obtains by differentiating ``E(x, z*)`` with
``z*`` detached; the score ``−∇_x F = z* D − x`` is also given in closed form.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_int, check_positive, format_error
from ebm.energies.latent import LatentEnergy
from ebm.registry import register_energy
from ebm.sparse.problem import _check_alpha, check_dictionary
from ebm.sparse.solvers import fista

__all__ = ["SparseCodingEnergy"]


def _example():
    g = torch.Generator().manual_seed(0)
    return SparseCodingEnergy(torch.randn(5, 3, generator=g), alpha=0.2)


@register_energy(
    "sparse_coding",
    example=_example,
    bad_params=[
        (lambda: SparseCodingEnergy(torch.randn(4, 3), alpha=-0.1), ValueError, "alpha"),
        (lambda: SparseCodingEnergy(torch.zeros(4, 3), alpha=0.1), ValueError, "zero atom"),
        (lambda: SparseCodingEnergy(torch.randn(4), alpha=0.1), ValueError, "dictionary"),
    ],
)
class SparseCodingEnergy(LatentEnergy):
    """``F(x) = min_z ½‖x − z D‖² + α‖z‖₁`` for ``x (*batch, f)``, dictionary ``(k, f)``.

    Args:
        dictionary: ``(k, f)`` atoms as rows (a trainable parameter; rows are normalised to unit
            norm unless ``normalize=False``; `constrain_parameters_` re-normalises after steps).
        alpha: ``α ≥ 0``.
        tol, max_iter: inference settings for `ebm.sparse.fista` (relative duality gap).
        normalize: normalise the atoms at construction.

    Example:
        >>> e = SparseCodingEnergy(torch.randn(5, 2), alpha=0.1)
        >>> e(torch.randn(7, 2)).shape
        torch.Size([7])
    """

    def __init__(self, dictionary: Tensor, alpha=0.1, *, tol: float = 1e-8, max_iter: int = 2000, normalize: bool = True):
        check_dictionary(dictionary)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, Tensor)):
            raise TypeError(format_error("alpha", "a number or a tensor of per-signal weights", type(alpha).__name__, "pass e.g. alpha=0.1"))
        tol = check_positive("tol", tol)
        max_iter = check_int("max_iter", max_iter, minimum=1)
        super().__init__((dictionary.shape[1],), beta=math.inf)
        self.alpha = _check_alpha(alpha)
        d = dictionary.detach().clone()
        if normalize:
            d = d / d.norm(dim=1, keepdim=True)
        self.dictionary = nn.Parameter(d)
        self.tol, self.max_iter = tol, max_iter

    @torch.no_grad()
    def constrain_parameters_(self) -> None:
        """Keep the atoms at unit norm (called by `ebm.train.train` after each step)."""
        self.dictionary.div_(self.dictionary.norm(dim=1, keepdim=True).clamp_min(torch.finfo(self.dictionary.dtype).tiny))

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``½‖x − z D‖² + α‖z‖₁``: x ``(*batch, f)``, z ``(*batch, k)`` -> ``(*batch,)``."""
        r = x - z @ self.dictionary  # (*batch, f)
        return 0.5 * (r * r).sum(-1) + self.alpha * z.abs().sum(-1)

    def infer(self, x: Tensor) -> Tensor:
        """The minimising codes ``z* (*batch, k)`` by FISTA (warm-start free, per-signal stopping)."""
        flat = x.detach().reshape(-1, self.event_shape[0])  # (n, f)
        k = self.dictionary.shape[0]
        if flat.shape[0] == 0:  # an empty batch has empty codes
            return flat.new_zeros((*x.shape[:-1], k))
        codes = fista(flat, self.dictionary.detach(), self.alpha, tol=self.tol, max_iter=self.max_iter, polish=True).codes
        return codes.reshape(*x.shape[:-1], k)  # (*batch, k)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """``(F(x) (*batch,), −∇_x F = z* D − x (*batch, f))`` in closed form (envelope theorem)."""
        with torch.no_grad():
            z = self.infer(x)
        recon = z @ self.dictionary  # (*batch, f)
        return self.joint_energy(x, z), recon - x

    def score(self, x: Tensor, *, create_graph: bool = False) -> Tensor:
        return self.energy_and_score(x, create_graph=create_graph)[1]
