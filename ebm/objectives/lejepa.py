"""LeJEPA: view invariance plus SIGReg, a sketched test that the embeddings are isotropic Gaussian.

SIGReg (sketched isotropic Gaussian regularisation) draws ``M`` random unit directions ``a_m``
and, for each, compares the empirical characteristic function of the projected batch
``x_i = ⟨z_i, a_m⟩`` with the standard normal one ``φ(t) = exp(-t²/2)`` by the Epps-Pulley
statistic

    EP_m = n ∫ |(1/n) Σ_i exp(i t x_i) - φ(t)|² w(t) dt,   w(t) = φ(t),

integrated by the trapezoidal rule on ``K`` knots of ``[-t_max, t_max]`` (the integrand is even:
only ``t >= 0`` is evaluated, with doubled weights). SIGReg is the mean of ``EP_m`` over the
directions (and over the views). By Cramér-Wold, all 1-D projections Gaussian ⇔ ``z`` Gaussian;
the isotropic Gaussian is the embedding law that minimises downstream prediction risk.

LeJEPA combines it with an invariance term that pulls every view (global and local) to the mean
of the ``V_g`` global views ``μ_i = (1/V_g) Σ_{v ≤ V_g} z_i^v``:

    L = λ SIGReg(all views) + (1 - λ) (1/(V n d)) Σ_v Σ_i ‖z_i^v - μ_i‖²

Reference: Balestriero & LeCun (2025), "LeJEPA: Provable and Scalable Self-Supervised Learning
Without the Heuristics", arXiv:2511.08544 (λ = 0.05 in the authors' code; 17 knots on
[0, 3]; 1024 directions). Cross-checked against lightly 1.6.0 (`SIGReg`, `LeJEPALoss`), whose
conventions are the authors': see benchmarks/peers/lightly_loss_check.py.

Randomness: the directions are drawn from ``generator`` (global RNG when None) on every call, and
broadcast from rank 0 under DDP so every process tests the same slices of the gathered batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ebm._validation import check_generator, check_int, check_positive, check_probability, format_error
from ebm.distributed import is_distributed
from ebm.objectives._pairs import registry_pair
from ebm.objectives._views import stack_views
from ebm.registry import register_objective

__all__ = ["SIGReg", "LeJEPA", "epps_pulley", "random_directions"]


def random_directions(dim: int, n_directions: int, *, dtype=None, device=None, generator: torch.Generator | None = None) -> Tensor:
    """``(dim, n_directions)`` columns drawn uniformly on the unit sphere (normalised Gaussians).

    Drawn on the generator's device (so a CPU generator serves CUDA embeddings), returned on ``device``.
    """
    a = torch.randn(dim, n_directions, dtype=dtype, device=generator.device if generator is not None else device, generator=generator).to(device)
    if is_distributed():
        dist.broadcast(a, src=0)
    return a / a.norm(dim=0)  # (dim, M)


def epps_pulley(x: Tensor, t: Tensor, weights: Tensor) -> Tensor:
    """Epps-Pulley statistic of each column of samples ``x (..., n, M)`` against N(0, 1) → ``(..., M)``.

    ``t (K,)`` are the knots in ``[0, t_max]``, ``weights (K,)`` the trapezoidal weights of the
    symmetric integral (doubled) times ``w(t) = exp(-t²/2)``.
    """
    n = x.shape[-2]
    xt = x.unsqueeze(-1) * t  # (..., n, M, K)
    cos_mean, sin_mean = xt.cos().mean(-3), xt.sin().mean(-3)  # (..., M, K)
    err = (cos_mean - torch.exp(-t.square() / 2)).square() + sin_mean.square()  # |ECF - φ|², (..., M, K)
    return n * (err @ weights)  # (..., M)


@register_objective(
    "sigreg",
    example=lambda: (SIGReg(n_directions=16), registry_pair()),
    bad_inputs=[
        (lambda: SIGReg()(torch.randn(1, 3)), ValueError, "at least 2"),
        (lambda: SIGReg(knots=1), ValueError, "knots"),
        (lambda: SIGReg(t_max=0), ValueError, "t_max"),
        (lambda: SIGReg()(torch.randn(4, 3), directions=torch.randn(2, 5)), ValueError, "directions"),
    ],
)
class SIGReg(nn.Module):
    """Sketched isotropic Gaussian regulariser: mean Epps-Pulley statistic over random 1-D projections.

    Args:
        knots: K, integration knots on ``[0, t_max]`` (default 17).
        t_max: the largest frequency (default 3).
        n_directions: M, random directions per call (default 1024).

    Shapes: ``forward(z_1, ..., z_k, generator=None, directions=None)``: views ``(n, d)`` each
    (n >= 2) → scalar, the mean over views and directions; ``directions (d, M)`` (unit columns)
    overrides the random draw. Buffers ``t (K,)``, ``weights (K,)``. Gathered under DDP.

    Raises:
        ValueError: knots < 2, t_max <= 0, n < 2, directions of the wrong shape.

    Example:
        >>> SIGReg()(torch.randn(256, 32), generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, knots: int = 17, t_max: float = 3.0, n_directions: int = 1024):
        super().__init__()
        self.knots = check_int("knots", knots, minimum=2)
        self.t_max = check_positive("t_max", t_max)
        self.n_directions = check_int("n_directions", n_directions, minimum=1)
        t = torch.linspace(0, self.t_max, self.knots, dtype=torch.float64)
        dt = self.t_max / (self.knots - 1)
        trapezoid = torch.full((self.knots,), 2 * dt, dtype=torch.float64)  # doubled: ∫_{-T}^{T} = 2 ∫_0^T
        trapezoid[[0, -1]] = dt
        # float64 buffers: exact knots and weights for float64 checks; cast to the input's dtype on use.
        self.register_buffer("t", t)
        self.register_buffer("weights", trapezoid * torch.exp(-t.square() / 2))

    def statistic(self, z: Tensor, directions: Tensor) -> Tensor:
        """``(..., n, d)`` embeddings, ``(d, M)`` directions → ``(..., M)`` Epps-Pulley statistics."""
        return epps_pulley(z @ directions, self.t.to(z.dtype), self.weights.to(z.dtype))

    def draw(self, z: Tensor, directions: Tensor | None, generator: torch.Generator | None) -> Tensor:
        d = z.shape[-1]
        if directions is None:
            check_generator("generator", generator)
            return random_directions(d, self.n_directions, dtype=z.dtype, device=z.device, generator=generator)
        if not isinstance(directions, Tensor) or directions.dim() != 2 or directions.shape[0] != d:
            found = f"shape {tuple(directions.shape)}" if isinstance(directions, Tensor) else type(directions).__name__
            raise ValueError(format_error("directions", f"a (d, M) = ({d}, M) tensor of unit columns", found, "pass directions=random_directions(d, M) or leave it None"))
        return directions.to(z)

    def forward(self, *views: Tensor, generator: torch.Generator | None = None, directions: Tensor | None = None) -> Tensor:
        z = stack_views(views, why="the characteristic function is estimated from the batch")  # (k, n, d)
        return self.statistic(z, self.draw(z, directions, generator)).mean()

    def extra_repr(self) -> str:
        return f"knots={self.knots}, t_max={self.t_max:g}, n_directions={self.n_directions}"


def invariance_term(z: Tensor, n_global: int) -> Tensor:
    """``(1/(V n d)) Σ_v Σ_i ‖z_i^v - μ_i‖²`` with ``μ`` the mean of the first ``n_global`` views; ``(V, n, d)`` → scalar."""
    centre = z[:n_global].mean(0)  # (n, d)
    return (z - centre).square().mean()


@register_objective(
    "lejepa",
    example=lambda: (LeJEPA(n_directions=16), registry_pair()),
    bad_inputs=[
        (lambda: LeJEPA(lambda_=1.5), ValueError, "lambda_"),
        (lambda: LeJEPA(n_global=3)(torch.randn(4, 3), torch.randn(4, 3)), ValueError, "n_global"),
        (lambda: LeJEPA()(torch.randn(4, 3), torch.randn(4, 2)), ValueError, "z_2"),
    ],
)
class LeJEPA(nn.Module):
    """``L = λ SIGReg(all views) + (1 - λ) · invariance to the global-view mean`` (module docstring).

    Args:
        lambda_: λ in [0, 1], the SIGReg weight (default 0.05).
        n_global: the first ``n_global`` views are the global views whose mean is the target
            (default None: every view is global).
        knots, t_max, n_directions: SIGReg's (defaults 17, 3, 1024).

    Shapes: ``forward(z_1, ..., z_V, generator=None, directions=None)``: the global views first,
    then the local ones, ``(n, d)`` each → scalar. Gathered under DDP.

    Raises:
        ValueError: λ outside [0, 1], fewer views than n_global, shapes differ, n < 2.

    Example:
        >>> loss = LeJEPA(n_global=2)(g1, g2, l1, l2, l3, generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, lambda_: float = 0.05, n_global: int | None = None, knots: int = 17, t_max: float = 3.0, n_directions: int = 1024):
        super().__init__()
        self.lambda_ = check_probability("lambda_", lambda_, open_interval=False)
        self.n_global = None if n_global is None else check_int("n_global", n_global, minimum=1)
        self.sigreg = SIGReg(knots, t_max, n_directions)

    def forward(self, *views: Tensor, generator: torch.Generator | None = None, directions: Tensor | None = None) -> Tensor:
        n_global = self.n_global or len(views)
        if len(views) < n_global:
            raise ValueError(format_error("n_global", f"at most the number of views given ({len(views)})", str(n_global), "pass the global views first and set n_global to their count"))
        z = stack_views(views, why="SIGReg tests the batch's distribution")  # (V, n, d)
        regulariser = self.sigreg.statistic(z, self.sigreg.draw(z, directions, generator)).mean()
        return self.lambda_ * regulariser + (1 - self.lambda_) * invariance_term(z, n_global)

    def extra_repr(self) -> str:
        return f"λ={self.lambda_:g}, n_global={self.n_global}"
