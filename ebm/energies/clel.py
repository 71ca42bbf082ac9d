"""The latent-variable EBM of CLEL (Lee, Jeong, Park & Shin 2023, arXiv:2303.03023).

"Guiding Energy-based Models via Contrastive Latent Variables" treats the representation that a
contrastive (self-supervised) encoder gives an input as the true latent variable ``z`` of the
data, a unit vector on the sphere ``S^{p-1}``, and models the pair with

    E(x, z) = ½‖f_θ(x)‖² - β ĝ_θ(x)ᵀ z,        ĝ_θ(x) = g_θ(f_θ(x)) / ‖g_θ(f_θ(x))‖

where ``f_θ`` is the EBM network (a feature vector) and ``g_θ`` a projection head. Because z is
uniform on the sphere a priori and ``∫_{S^{p-1}} exp(β μᵀz) dz`` does not depend on the unit
vector μ, the two parts separate exactly:

    p(x) ∝ exp(-½‖f_θ(x)‖²)                      (the marginal: the norm of f)
    p(z | x) = vMF(z; mean direction ĝ_θ(x), concentration β)   (the conditional: its direction)

The objective that trains it together with the encoder is `ebm.objectives.clel.CLEL`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm._validation import check_generator, check_int, check_nonnegative, check_positive, check_tensor, format_error
from ebm.energies.autoencoders import _mlp
from ebm.energy import Energy, _as_event_shape
from ebm.registry import register_energy

__all__ = ["CLELEnergy", "von_mises_fisher_log_normalizer"]


def von_mises_fisher_log_normalizer(beta: float, dim: int) -> float:
    """``log ∫_{S^{p-1}} exp(β μᵀz) dσ(z) = log[(2π)^{p/2} I_{p/2-1}(β) / β^{p/2-1}]`` for any unit μ.

    dσ is the surface measure of the unit sphere in R^p (``p = dim >= 2``); at β = 0 it is the
    sphere's area ``2π^{p/2} / Γ(p/2)``. Computed with the exponentially scaled Bessel function
    (``scipy.special.ive``), so large β does not overflow.
    """
    from scipy.special import ive

    beta = check_nonnegative("beta", beta)
    dim = check_int("dim", dim, minimum=2)
    v = dim / 2 - 1
    if beta == 0.0:
        return math.log(2.0) + (dim / 2) * math.log(math.pi) - math.lgamma(dim / 2)
    return (dim / 2) * math.log(2 * math.pi) + math.log(float(ive(v, beta))) + beta - v * math.log(beta)


def _example():
    return CLELEnergy(2, feature_dim=4, latent_dim=3, hidden=(8,), projection_hidden=8, generator=torch.Generator().manual_seed(0))


@register_energy(
    "clel",
    example=_example,
    bad_params=[
        (lambda: CLELEnergy(2, latent_dim=1), ValueError, "latent_dim"),
        (lambda: CLELEnergy(2, beta=0.0), ValueError, "beta"),
        (lambda: CLELEnergy(2, feature_dim=0), ValueError, "feature_dim"),
        (lambda: CLELEnergy(2, quadratic=-1.0), ValueError, "quadratic"),
        (lambda: _example().joint_energy(torch.zeros(4, 2), torch.ones(4, 3)), ValueError, "unit"),
        (lambda: _example().joint_energy(torch.zeros(4, 2), torch.ones(5, 3)), ValueError, "z"),
    ],
)
class CLELEnergy(Energy):
    """CLEL's spherical latent-variable EBM: ``E(x, z) = ½‖f(x)‖² - β ĝ(x)ᵀz (+ γ‖x‖²/2)``, z on the unit sphere.

    ``f`` is an MLP ``x -> R^m`` (tanh hidden layers; the paper uses a ResNet for images) and ``g``
    a projection head ``R^m -> R^p`` on top of it, as in the paper's architecture. The forward pass
    is the marginal energy ``½‖f(x)‖² (+ γ‖x‖²/2)``; it equals ``-log ∫ exp(-E(x, z)) dz`` up to the
    constant ``von_mises_fisher_log_normalizer(β, p)`` (`latent_log_normalizer`). ``γ = quadratic``
    is this playground's optional confining term for data on R^d (0: the paper's model).

    Reference: Lee, Jeong, Park & Shin (2023), "Guiding Energy-based Models via Contrastive Latent
    Variables", ICLR, arXiv:2303.03023.

    Args:
        event_shape: shape of one x (flattened for the network).
        feature_dim: m, the size of ``f(x)``.
        latent_dim: p >= 2, the size of the contrastive latent (the sphere lives in R^p).
        hidden: widths of ``f``'s hidden layers.
        projection_hidden: width of the projection head's hidden layer.
        beta: β > 0, the von Mises-Fisher concentration of ``p(z | x)`` (and the weight of the
            latent term in `ebm.objectives.CLEL`).
        quadratic: γ >= 0 of the confining term.
        generator: random generator for the initial weights.

    Shapes: ``forward(x)``: ``(*batch, *event_shape) -> (*batch,)``; ``project(x)`` ->
    ``(*batch, p)`` unit vectors; ``joint_energy(x, z)`` with unit z ``(*batch, p)`` -> ``(*batch,)``.

    Raises:
        ValueError: non-positive sizes, p < 2, β <= 0, γ < 0; z of the wrong shape or not unit-norm.

    Example:
        >>> model = CLELEnergy(2, latent_dim=4, generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(5, 2)
        >>> z = model.project(x)                       # the mode of p(z | x), (5, 4)
        >>> model.joint_energy(x, z).shape
        torch.Size([5])
    """

    input_methods = Energy.input_methods + ("features", "project", "joint_energy", "posterior_log_prob")

    def __init__(
        self,
        event_shape: int | Sequence[int],
        *,
        feature_dim: int = 16,
        latent_dim: int = 8,
        hidden: Sequence[int] = (64, 64),
        projection_hidden: int = 64,
        beta: float = 1.0,
        quadratic: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        event_shape = _as_event_shape(event_shape)
        self.feature_dim = check_int("feature_dim", feature_dim, minimum=1)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=2)
        widths = [check_int("hidden", h, minimum=1) for h in hidden]
        projection_hidden = check_int("projection_hidden", projection_hidden, minimum=1)
        self.beta = check_positive("beta", beta)
        self.quadratic = check_nonnegative("quadratic", quadratic, fix="pass 0 to disable it")
        check_generator("generator", generator)
        super().__init__(event_shape)
        self.net = _mlp([math.prod(event_shape), *widths, self.feature_dim], None, generator)  # f_θ
        self.projection = _mlp([self.feature_dim, projection_hidden, self.latent_dim], None, generator)  # g_θ
        self._log_normalizer = von_mises_fisher_log_normalizer(self.beta, self.latent_dim)

    def features(self, x: Tensor) -> Tensor:
        """``f_θ(x)``: ``(*batch, *event_shape) -> (*batch, m)``."""
        batch = x.shape[: x.dim() - len(self.event_shape)]
        return self.net(x.reshape(*batch, math.prod(self.event_shape)))  # (*batch, m)

    def project(self, x: Tensor) -> Tensor:
        """``ĝ_θ(x)``, the unit mean direction of ``p(z | x)``: ``(*batch, p)``."""
        return F.normalize(self.projection(self.features(x)), dim=-1)

    def _confine(self, x: Tensor) -> Tensor:
        batch = x.shape[: x.dim() - len(self.event_shape)]
        if not self.quadratic:
            return x.new_zeros(batch)
        return 0.5 * self.quadratic * x.reshape(*batch, -1).pow(2).sum(-1)

    def forward(self, x: Tensor) -> Tensor:
        """The marginal energy ``½‖f_θ(x)‖² (+ γ‖x‖²/2)``, ``(*batch,)``."""
        return 0.5 * self.features(x).pow(2).sum(-1) + self._confine(x)

    def latent_log_normalizer(self) -> float:
        """``log ∫_{S^{p-1}} exp(β ĝᵀz) dσ(z)``, the same for every x (so ``E(x)`` is the marginal up to it)."""
        return self._log_normalizer

    def _check_z(self, x: Tensor, z) -> Tensor:
        batch = tuple(x.shape[: x.dim() - len(self.event_shape)])
        check_tensor("z", z, floating=True, finite=True)
        if tuple(z.shape) not in ((*batch, self.latent_dim), (self.latent_dim,)):
            raise ValueError(format_error("z", f"shape {(*batch, self.latent_dim)} (x's batch, then latent_dim), or (latent_dim,)", f"shape {tuple(z.shape)}", "pass one unit latent per x"))
        norms = z.detach().norm(dim=-1)
        if not bool(((norms - 1).abs() <= 1e-3).all()):
            raise ValueError(format_error("z", "unit vectors (the latent lives on the sphere)", f"norms from {float(norms.min()):.4g} to {float(norms.max()):.4g}", "normalise: z = torch.nn.functional.normalize(z, dim=-1)"))
        return z

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``E(x, z) = ½‖f(x)‖² - β ĝ(x)ᵀz (+ γ‖x‖²/2)``: x ``(*batch, *event)``, unit z ``(*batch, p)`` or ``(p,)`` -> ``(*batch,)``."""
        self._check_z(x, z)
        return self.forward(x) - self.beta * (self.project(x) * z).sum(-1)

    def posterior_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(z | x) = β ĝ(x)ᵀz - log C(β)`` (von Mises-Fisher, w.r.t. the sphere's surface measure): ``(*batch,)``."""
        self._check_z(x, z)
        return self.beta * (self.project(x) * z).sum(-1) - self._log_normalizer

    def conditional_energy(self, z: Tensor):
        """``x -> E(x, z)`` for fixed unit latents z ``(n, p)`` (one per chain) or ``(p,)``: latent-guided sampling.

        Pass it to a sampler (e.g. ``samplers.ULA(0.01).run(model.conditional_energy(z), x0, 100)``)
        to draw ``x ~ p(x | z) ∝ exp(-E(x, z))``: CLEL's conditional generation.
        """
        check_tensor("z", z, floating=True, finite=True)
        z = z.detach()
        return lambda x: self.joint_energy(x, z)

    default_objective = "clel"  # resolved by ebm.train.fit through ebm.registry.OBJECTIVES
    fit_defaults = {"epochs": 50, "batch_size": 256, "lr": 3e-3, "max_grad_norm": 10.0}

    def default_objective_options(self) -> dict:
        """A small MLP encoder (``x -> R^p``), Gaussian jitter of 0.1 as the views, ULA(0.005) negatives."""
        from samplers import ULA

        from ebm.augment import GaussianJitter

        encoder = torch.nn.Sequential(torch.nn.Flatten(), _mlp([math.prod(self.event_shape), 64, 64, self.latent_dim], None, None))  # (n, *event) -> (n, p)
        return {"encoder": encoder, "augment": GaussianJitter(0.1), "sampler": ULA(0.005, grad_clip=10.0), "k": 10}

    def extra_repr(self) -> str:
        return f"event_shape={tuple(self.event_shape)}, feature_dim={self.feature_dim}, latent_dim={self.latent_dim}, beta={self.beta:g}, quadratic={self.quadratic:g}"
