"""2-D teaching landscapes with exact (closed-form or quadrature) log partition functions.

Each class has an analytic score, so samplers run without autograd, and a log partition
function exact to many digits, so likelihood estimates and samplers can be checked against it.
Presets for `ebm landscape NAME` are registered at the bottom with sensible plotting bounds.
"""

from __future__ import annotations

import math

import torch
from scipy import integrate, special
from torch import Tensor

from ebm._validation import check_positive, check_real, format_error
from ebm.energies.analytic import Gaussian, circle_of_gaussians, grid_of_gaussians, unbalanced_modes
from ebm.energy import Energy
from ebm.grid import grid_log_partition
from ebm.registry import register_energy, register_landscape

__all__ = ["DoubleWell", "Banana", "Ring", "NealFunnel", "Himmelblau", "WavyValley"]


class _Landscape2D(Energy):
    """Shared plumbing: 2-D event shape, hyper-parameters as Python floats (dtype follows x)."""

    _abstract = True

    def __init__(self):
        super().__init__((2,))

    def _log_z(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _log_z() (its exact log partition function)")

    def log_partition(self) -> Tensor:
        return torch.tensor(self._log_z(), dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:
        return self.energy_and_score(x)[0]

    def score(self, x: Tensor, *, create_graph: bool = False) -> Tensor:
        return self.energy_and_score(x)[1]


@register_energy("double_well", example=lambda: DoubleWell(), bad_params=[(lambda: DoubleWell(barrier=-1.0), ValueError, "barrier")])
class DoubleWell(_Landscape2D):
    """Two wells at ``x = ±a`` separated by a barrier of height h:

        E(x, y) = h ((x/a)² - 1)² + y² / (2 σ²).

    ``log Z = log ∫ exp(-h((x/a)² - 1)²) dx + ½ log(2π σ²)`` (the 1-D integral by adaptive
    quadrature, relative error < 1e-10). The classic picture of metastability: at large h,
    local samplers rarely cross between wells.

    Args:
        barrier: h > 0, the barrier height in units of energy (nats).
        separation: a > 0, the wells' distance from the origin.
        width: σ > 0, the spread across the wells.
    """

    def __init__(self, barrier: float = 2.0, separation: float = 1.0, width: float = 0.5):
        super().__init__()
        self.barrier = check_positive("barrier", barrier)
        self.separation = check_positive("separation", separation)
        self.width = check_positive("width", width)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        u, v = x[..., 0] / self.separation, x[..., 1]
        bump = u * u - 1
        energy = self.barrier * bump * bump + v * v / (2 * self.width**2)
        dx = 4 * self.barrier * bump * u / self.separation
        return energy, -torch.stack([dx, v / self.width**2], dim=-1)

    def _log_z(self) -> float:
        h, a = self.barrier, self.separation
        zx, _ = integrate.quad(lambda t: math.exp(-h * ((t / a) ** 2 - 1) ** 2), -math.inf, math.inf, epsabs=0, epsrel=1e-12)
        return math.log(zx) + 0.5 * math.log(2 * math.pi * self.width**2)


@register_energy("banana", example=lambda: Banana(), bad_params=[(lambda: Banana(sigma_y=0.0), ValueError, "sigma_y")])
class Banana(_Landscape2D):
    """A Rosenbrock-shaped banana: a Gaussian bent along a parabola (Haario et al. 1999):

        E(x, y) = x² / (2 σx²) + (y - c (x² - σx²))² / (2 σy²).

    The change of variables ``v = y - c(x² - σx²)`` has unit Jacobian, so ``log Z = log(2π σx σy)``
    exactly, and ``y`` has mean 0. A narrow curved valley: hard for isotropic proposals.

    Args:
        curvature: c, how strongly the valley bends (any real; 0 gives a Gaussian).
        sigma_x, sigma_y: the spreads along and across the valley (> 0).
    """

    def __init__(self, curvature: float = 1.0, sigma_x: float = 1.0, sigma_y: float = 0.5):
        super().__init__()
        self.curvature = check_real("curvature", curvature, fix="pass e.g. 1.0")
        self.sigma_x = check_positive("sigma_x", sigma_x)
        self.sigma_y = check_positive("sigma_y", sigma_y)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        a, b = x[..., 0], x[..., 1]
        c, sx2, sy2 = self.curvature, self.sigma_x**2, self.sigma_y**2
        resid = b - c * (a * a - sx2)
        energy = a * a / (2 * sx2) + resid * resid / (2 * sy2)
        da = a / sx2 - 2 * c * a * resid / sy2
        return energy, -torch.stack([da, resid / sy2], dim=-1)

    def _log_z(self) -> float:
        return math.log(2 * math.pi * self.sigma_x * self.sigma_y)


@register_energy("ring", example=lambda: Ring(), bad_params=[(lambda: Ring(radius=-2.0), ValueError, "radius")])
class Ring(_Landscape2D):
    """A ring of radius r: ``E(x) = (‖x‖ - r)² / (2 σ²)``.

    In polar coordinates ``Z = 2π ∫₀^∞ ρ exp(-(ρ - r)²/(2σ²)) dρ
    = 2π [σ² exp(-r²/(2σ²)) + r σ √(2π) Φ(r/σ)]`` — closed form. Low energy on a curve rather than
    at a point: the simplest picture of a data manifold.

    Args:
        radius: r > 0.
        width: σ > 0.
    """

    def __init__(self, radius: float = 2.0, width: float = 0.25):
        super().__init__()
        self.radius = check_positive("radius", radius)
        self.width = check_positive("width", width)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        rho = torch.linalg.vector_norm(x, dim=-1)
        resid = rho - self.radius
        energy = resid * resid / (2 * self.width**2)
        # ∇‖x‖ = x/‖x‖, undefined at the origin; use 0 there (the origin has measure zero).
        unit = x / rho.clamp_min(torch.finfo(x.dtype).tiny).unsqueeze(-1)
        return energy, -(resid / self.width**2).unsqueeze(-1) * unit

    def _log_z(self) -> float:
        r, s = self.radius, self.width
        return math.log(2 * math.pi * (s * s * math.exp(-r * r / (2 * s * s)) + r * s * math.sqrt(2 * math.pi) * special.ndtr(r / s)))


@register_energy("neal_funnel", example=lambda: NealFunnel(), bad_params=[(lambda: NealFunnel(scale=0.0), ValueError, "scale")])
class NealFunnel(_Landscape2D):
    """Neal's funnel (Neal 2003, "Slice sampling"), coordinates ``(x, v)``:

        v ~ N(0, s²),  x | v ~ N(0, e^v)   ⇒   E(x, v) = v²/(2s²) + x² e^{-v}/2 + v/2.

    The ``v/2`` term is the conditional's normaliser, so ``log Z = log(2π s)`` exactly. The neck
    (v ≪ 0) needs tiny steps and the mouth (v ≫ 0) large ones: no single step size fits.

    Args:
        scale: s > 0, the standard deviation of v (Neal used 3).
    """

    def __init__(self, scale: float = 3.0):
        super().__init__()
        self.scale = check_positive("scale", scale)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        a, v = x[..., 0], x[..., 1]
        decay = torch.exp(-v)
        energy = v * v / (2 * self.scale**2) + 0.5 * a * a * decay + 0.5 * v
        dv = v / self.scale**2 - 0.5 * a * a * decay + 0.5
        return energy, -torch.stack([a * decay, dv], dim=-1)

    def _log_z(self) -> float:
        return math.log(2 * math.pi * self.scale)


@register_energy("himmelblau", example=lambda: Himmelblau(), bad_params=[(lambda: Himmelblau(temperature=0), ValueError, "temperature")])
class Himmelblau(_Landscape2D):
    """Himmelblau's function as an energy: four equally deep minima (Himmelblau 1972).

        E(x, y) = ((x² + y - 11)² + (x + y² - 7)²) / T.

    ``log Z`` by a 2-D midpoint rule in float64 on [-7, 7]² at 1,600² cells (computed once and
    cached; converged to better than 1e-8 against 3,200²). Four wells of different shapes:
    the mode weights are unequal even though the minima are all 0.

    Args:
        temperature: T > 0; larger T lowers the barriers.
    """

    _log_z_cache: dict[float, float] = {}

    def __init__(self, temperature: float = 10.0):
        super().__init__()
        self.temperature = check_positive("temperature", temperature)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        a, b = x[..., 0], x[..., 1]
        p = a * a + b - 11
        q = a + b * b - 7
        energy = (p * p + q * q) / self.temperature
        da = (4 * a * p + 2 * q) / self.temperature
        db = (2 * p + 4 * b * q) / self.temperature
        return energy, -torch.stack([da, db], dim=-1)

    def _log_z(self) -> float:
        t = self.temperature
        if t not in self._log_z_cache:
            # Hyper-parameters are Python floats, so a float64 grid evaluates in float64.
            self._log_z_cache[t] = float(grid_log_partition(Himmelblau(t), ((-7, 7), (-7, 7)), 1600, dtype=torch.float64))
        return self._log_z_cache[t]


@register_energy("wavy_valley", example=lambda: WavyValley(), bad_params=[(lambda: WavyValley(width=-0.1), ValueError, "width")])
class WavyValley(_Landscape2D):
    """A valley that follows a sine wave:

        E(x, y) = x² / (2 s²) + (y - A sin(2π x / P))² / (2 w²).

    With ``v = y - A sin(2πx/P)`` (unit Jacobian) ``log Z = log(2π s w)`` exactly. A curved,
    periodic ridge structure in the spirit of Rezende & Mohamed's (2015, arXiv:1505.05770)
    test potentials, made normalisable by the Gaussian envelope in x.

    Args:
        amplitude: A (any real).
        period: P > 0.
        width: w > 0, the valley's width.
        spread: s > 0, the Gaussian envelope along x.
    """

    def __init__(self, amplitude: float = 1.5, period: float = 4.0, width: float = 0.35, spread: float = 2.0):
        super().__init__()
        check_real("amplitude", amplitude, fix="pass e.g. 1.5")
        self.amplitude = float(amplitude)
        self.period = check_positive("period", period)
        self.width = check_positive("width", width)
        self.spread = check_positive("spread", spread)

    def energy_and_score(self, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        a, b = x[..., 0], x[..., 1]
        k = 2 * math.pi / self.period
        resid = b - self.amplitude * torch.sin(k * a)
        w2 = self.width**2
        energy = a * a / (2 * self.spread**2) + resid * resid / (2 * w2)
        da = a / self.spread**2 - resid * self.amplitude * k * torch.cos(k * a) / w2
        return energy, -torch.stack([da, resid / w2], dim=-1)

    def _log_z(self) -> float:
        return math.log(2 * math.pi * self.spread * self.width)


# --------------------------------------------------------------------------- presets for `ebm landscape`
_B3 = ((-3.0, 3.0), (-3.0, 3.0))
register_landscape("double_well", DoubleWell, ((-2.2, 2.2), (-2.2, 2.2)), "two wells separated by a barrier")
register_landscape("banana", Banana, ((-3.5, 3.5), (-2.5, 6.0)), "a Gaussian bent along a parabola")
register_landscape("ring", Ring, _B3, "low energy on a circle")
register_landscape(
    "neal_funnel", NealFunnel, ((-12.0, 12.0), (-8.0, 8.0)), "Neal's funnel: scales vary by orders of magnitude", kind="density", log_scale=True
)
register_landscape("himmelblau", Himmelblau, ((-6.0, 6.0), (-6.0, 6.0)), "four minima of different shapes")
register_landscape("wavy_valley", WavyValley, ((-5.0, 5.0), (-3.0, 3.0)), "a valley following a sine wave")
register_landscape("eight_modes", circle_of_gaussians, _B3, "eight Gaussians on a circle")
register_landscape("grid_modes", grid_of_gaussians, _B3, "a 3x3 grid of Gaussians")
register_landscape("unbalanced_modes", unbalanced_modes, ((-7.0, 7.0), (-4.0, 4.0)), "two far-apart modes weighted 0.8 / 0.2")
register_landscape(
    "correlated_gaussian",
    lambda: Gaussian(torch.zeros(2), torch.tensor([[1.0, 0.8], [0.8, 1.0]])),
    _B3,
    "a Gaussian with correlation 0.8",
)
