"""Conditional flow matching (Lipman, Chen, Ben-Hamu, Nickel & Le, 2023): regress a velocity field
onto the velocity of a simple per-sample path from noise to each datum; no ODE is solved while
training, and the trained field is a continuous normalising flow with an exact likelihood."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_nonnegative, check_tensor, format_error
from ebm.energy import Energy
from ebm.objectives._common import check_continuous_data, check_energy
from ebm.registry import register_objective

__all__ = ["FlowMatching"]


def _flow(d=2):
    from ebm.energies.velocity_flow import VelocityFlowEnergy

    return VelocityFlowEnergy(d, hidden=8, n_steps=2, generator=torch.Generator().manual_seed(0))


def _quadratic(d=2):
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(d)


def _example():
    return FlowMatching(), (_flow(), torch.randn(16, 2, generator=torch.Generator().manual_seed(0)))


@register_objective(
    "flow_matching",
    example=_example,
    bad_inputs=[
        (lambda: FlowMatching(sigma_min=-0.1), ValueError, "sigma_min"),
        (lambda: FlowMatching(sigma_min=1.5), ValueError, "sigma_min"),
        (lambda: FlowMatching()(_quadratic(), torch.zeros(4, 2)), TypeError, "velocity"),
        (lambda: FlowMatching()(_flow(), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
        (lambda: FlowMatching()(_flow(), torch.zeros(4, 2), t=torch.full((4,), 2.0)), ValueError, "t"),
        (lambda: FlowMatching()(_flow(), torch.zeros(4, 2), noise=torch.zeros(3, 2)), ValueError, "noise"),
    ],
)
class FlowMatching(nn.Module):
    """CFM with the optimal-transport path: ``L(θ) = E_{t, x_0, x_1} ‖v_θ(x_t, t) - u_t‖²``.

    With data ``x_1``, noise ``x_0 ~ N(0, I)`` and ``t ~ U[0, 1]``, the conditional path of Lipman et
    al. (their optimal-transport path) is

        ``x_t = (1 - (1 - σ_min) t) x_0 + t x_1``,   ``u_t = x_1 - (1 - σ_min) x_0``,

    a straight line from noise to a Gaussian of width ``σ_min`` around the datum. The conditional
    loss has the same gradient as regressing ``v_θ`` onto the marginal velocity that transports
    ``N(0, I)`` to the (σ_min-smoothed) data (their Theorem 2), so the minimiser is that field and the
    model, integrated from noise, is the data distribution. The squared norm is summed over
    coordinates and averaged over the batch.

    The model is an energy with a ``velocity(x, t)`` method: `ebm.energies.VelocityFlowEnergy`,
    whose energy is the flow's exact ``-log p`` (by the ODE) and whose ``sample`` integrates it --
    so ``exp(-E)`` is directly comparable with any other energy's normalised density. (TorchEBM's
    ``FlowMatchingLoss`` trains a bare velocity network; here the network is an `ebm.Energy`.)

    Reference: Lipman, Chen, Ben-Hamu, Nickel & Le (2023), "Flow Matching for Generative
    Modeling", ICLR, arXiv:2210.02747.

    Args:
        sigma_min: width of the path's end at the datum, in [0, 1) (default 1e-4).

    Call args:
        energy: an energy with ``velocity(x (n, d), t (n,)) -> (n, d)``; x: data ``(batch, d)``;
        generator: draws ``t`` and ``x_0``; t, noise: optional explicit ``(batch,)`` times in [0, 1]
        and ``(batch, d)`` noise (exact tests).

    Returns:
        The scalar loss.

    Raises:
        ValueError: ``sigma_min`` outside [0, 1); explicit ``t`` or ``noise`` of the wrong shape or range.
        TypeError: an energy without ``velocity``, integer data, or a non-Energy.

    Example:
        >>> from ebm.energies import VelocityFlowEnergy
        >>> loss = FlowMatching()(VelocityFlowEnergy(2, hidden=32), torch.randn(64, 2))
    """

    def __init__(self, sigma_min: float = 1e-4):
        super().__init__()
        self.sigma_min = check_nonnegative("sigma_min", sigma_min)
        if self.sigma_min >= 1:
            raise ValueError(format_error("sigma_min", "a path width in [0, 1)", repr(sigma_min), "pass a small width such as 1e-4"))

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None, *, t: Tensor | None = None, noise: Tensor | None = None) -> Tensor:
        check_energy(energy, "flow matching")
        if not callable(getattr(energy, "velocity", None)):
            raise TypeError(format_error("energy", "an energy with a velocity(x, t) field", type(energy).__name__,
                                         "use ebm.energies.VelocityFlowEnergy(dim); for a scalar potential use EnergyMatching"))
        check_continuous_data(energy, x, "flow matching")
        batch = x.shape[0]
        if t is None:
            t = torch.rand(batch, generator=generator, dtype=x.dtype, device=x.device)
        else:
            check_tensor("t", t, floating=True, finite=True)
            if tuple(t.shape) != (batch,) or bool(((t < 0) | (t > 1)).any()):
                raise ValueError(format_error("t", f"times in [0, 1] of shape ({batch},)", f"shape {tuple(t.shape)}, range [{float(t.min()):.3g}, {float(t.max()):.3g}]", "pass torch.rand(batch) or leave t=None"))
            t = t.to(dtype=x.dtype, device=x.device)
        if noise is None:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        else:
            check_tensor("noise", noise, floating=True, finite=True)
            if noise.shape != x.shape:
                raise ValueError(format_error("noise", f"standard-normal draws of x's shape {tuple(x.shape)}", f"shape {tuple(noise.shape)}", "pass torch.randn_like(x) or leave noise=None"))
            noise = noise.to(dtype=x.dtype, device=x.device)
        tb = t.reshape(batch, *([1] * (x.dim() - 1)))  # (batch, 1)
        x_t = (1 - (1 - self.sigma_min) * tb) * noise + tb * x  # (batch, d)
        target = x - (1 - self.sigma_min) * noise  # (batch, d)
        residual = (energy.velocity(x_t, t) - target).reshape(batch, -1)  # (batch, d)
        return residual.pow(2).sum(-1).mean()

    def extra_repr(self) -> str:
        return f"sigma_min={self.sigma_min:g}"
