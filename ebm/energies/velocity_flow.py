"""A continuous normalising flow as an energy: a time-dependent velocity field ``v_θ(x, t)`` whose ODE
carries ``N(0, I)`` at ``t = 0`` to the model at ``t = 1``; the energy is the flow's exact negative
log-density (instantaneous change of variables). Trained by flow matching (`ebm.objectives.FlowMatching`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_generator, check_int
from ebm.energies._init import init_linear_, linear
from ebm.energy import Energy
from ebm.registry import register_energy

__all__ = ["VelocityFlowEnergy"]


@register_energy(
    "velocity_flow",
    example=lambda: VelocityFlowEnergy(2, hidden=8, n_steps=3, generator=torch.Generator().manual_seed(0)),
    bad_params=[
        (lambda: VelocityFlowEnergy(0), ValueError, "dim"),
        (lambda: VelocityFlowEnergy(2, n_steps=0), ValueError, "n_steps"),
        (lambda: VelocityFlowEnergy(2, hidden=0), ValueError, "hidden"),
    ],
)
class VelocityFlowEnergy(Energy):
    """``E(x) = -log p_1(x)`` for the flow ``dx/dt = v_θ(x, t)``, ``x(0) ~ N(0, I)``, integrated to ``t = 1``.

    The instantaneous change of variables (Chen et al., 2018) gives the density along a path:
    ``d log p_t(x(t)) / dt = -∇·v_θ(x(t), t)``, so with ``x(1) = x`` integrated BACK to ``x(0)``,

        ``E(x) = -log N(x(0); 0, I) - ∫_0^1 ∇·v_θ(x(t), t) dt``.

    The ODE is solved by classical RK4 in ``n_steps`` equal steps with the exact divergence (one
    backward pass per dimension: meant for small ``d``, such as the 2-D toys). The energy is
    normalised up to the integration error, so ``exp(-E)`` is a density and ``log_prob = -E`` (a
    grid quadrature of ``exp(-E)`` over a box holding the mass gives ``log Z ≈ 0``, a check of the
    integrator). `sample` integrates forward from Gaussian noise. ``v_θ`` is an MLP on ``[x, t]``
    with SiLU activations.

    References: Chen, Rubanova, Bettencourt & Duvenaud (2018), "Neural Ordinary Differential
    Equations", arXiv:1806.07366; Lipman, Chen, Ben-Hamu, Nickel & Le (2023), "Flow Matching for
    Generative Modeling", ICLR, arXiv:2210.02747.

    Args:
        dim: dimension ``d`` (event shape ``(d,)``).
        hidden, depth: width and number of hidden layers of ``v_θ``.
        n_steps: RK4 steps over ``[0, 1]`` for the energy and for sampling.
        generator: initialises the weights.

    Raises:
        ValueError: ``dim``, ``hidden``, ``depth`` or ``n_steps`` below 1.

    Example:
        >>> flow = VelocityFlowEnergy(2, hidden=32)
        >>> flow(torch.zeros(4, 2)).shape
        torch.Size([4])
        >>> flow.sample(8).shape
        torch.Size([8, 2])
    """

    def __init__(self, dim: int, hidden: int = 64, depth: int = 2, *, n_steps: int = 20, generator: torch.Generator | None = None):
        dim = check_int("dim", dim, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        depth = check_int("depth", depth, minimum=1)
        super().__init__((dim,))
        self.n_steps = check_int("n_steps", n_steps, minimum=1)
        layers: list[nn.Module] = []
        width = dim + 1
        for _ in range(depth):
            layers += [linear(width, hidden, generator), nn.SiLU()]
            width = hidden
        layers.append(linear(width, dim, generator))
        self.net = nn.Sequential(*layers)
        init_linear_(self.net, generator)

    def velocity(self, x: Tensor, t) -> Tensor:
        """``v_θ(x, t)``: ``x (n, d)``, ``t`` a number or ``(n,)`` -> ``(n, d)``."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = torch.broadcast_to(t, x.shape[:-1]).unsqueeze(-1)  # (n, 1)
        return self.net(torch.cat([x, t], dim=-1))

    def _velocity_and_divergence(self, x: Tensor, t: float, graph: bool) -> tuple[Tensor, Tensor]:
        """``(v (n, d), ∇·v (n,))`` with the exact divergence (``d`` backward passes)."""
        with torch.enable_grad():
            x_in = x if x.requires_grad else x.detach().requires_grad_(True)
            v = self.velocity(x_in, t)  # (n, d)
            div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for i in range(x.shape[-1]):
                (g,) = torch.autograd.grad(v[:, i].sum(), x_in, create_graph=graph, retain_graph=True)
                div = div + g[:, i]
        if not graph:
            v, div = v.detach(), div.detach()
        return v, div

    def forward(self, x: Tensor) -> Tensor:
        batch_shape = x.shape[:-1]
        z = x.reshape(-1, x.shape[-1])  # (n, d)
        graph = torch.is_grad_enabled()
        if graph and not z.requires_grad:
            z = z.detach().requires_grad_(True)  # the divergences differentiate through every step from here
        h = -1.0 / self.n_steps  # integrate t: 1 -> 0
        t = 1.0
        acc = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)  # ∫_0^1 ∇·v dt, accumulated backwards

        def f(y, s):
            return self._velocity_and_divergence(y, s, graph)

        for _ in range(self.n_steps):
            k1, d1 = f(z, t)
            k2, d2 = f(z + 0.5 * h * k1, t + 0.5 * h)
            k3, d3 = f(z + 0.5 * h * k2, t + 0.5 * h)
            k4, d4 = f(z + h * k3, t + h)
            z = z + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
            acc = acc - (h / 6) * (d1 + 2 * d2 + 2 * d3 + d4)  # h < 0: add the integral over [t+h, t]
            t += h
        d = z.shape[-1]
        log_p0 = -0.5 * z.pow(2).sum(-1) - 0.5 * d * math.log(2 * math.pi)  # (n,)
        return (-(log_p0 - acc)).reshape(batch_shape)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, n_steps: int | None = None) -> Tensor:
        """``n`` samples ``(n, d)``: Gaussian noise carried from ``t = 0`` to ``t = 1`` by RK4."""
        n = check_int("n", n, minimum=1)
        check_generator("generator", generator)
        steps = self.n_steps if n_steps is None else check_int("n_steps", n_steps, minimum=1)
        ref = next(self.parameters())
        z = torch.randn((n, *self.event_shape), generator=generator, dtype=ref.dtype, device=ref.device)
        h, t = 1.0 / steps, 0.0
        for _ in range(steps):
            k1 = self.velocity(z, t)
            k2 = self.velocity(z + 0.5 * h * k1, t + 0.5 * h)
            k3 = self.velocity(z + 0.5 * h * k2, t + 0.5 * h)
            k4 = self.velocity(z + h * k3, t + h)
            z = z + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
            t += h
        return z

    def extra_repr(self) -> str:
        return f"dim={self.event_shape[0]}, n_steps={self.n_steps}"
