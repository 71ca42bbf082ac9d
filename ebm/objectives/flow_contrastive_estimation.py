"""Flow contrastive estimation (Gao et al., 2020): noise-contrastive estimation whose noise is a
normalising flow trained jointly and adversarially against the energy."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ebm._validation import check_int, check_nonnegative, check_positive, check_probability, format_error
from ebm.energies.flows import CouplingFlow, RealNVP, check_flow
from ebm.energy import Energy
from ebm.objectives._common import check_continuous_data, check_energy, frozen
from ebm.registry import register_objective

__all__ = ["FlowContrastiveEstimation"]


def _example():
    from ebm.energies.quadratic import QuadraticEnergy

    g = torch.Generator().manual_seed(0)
    flow = RealNVP(2, n_layers=2, hidden=8, generator=g)
    return FlowContrastiveEstimation(flow, noise_ratio=1.0), (QuadraticEnergy(2), torch.randn(16, 2, generator=g))


def _flow(dim=2):
    return RealNVP(dim, n_layers=2, hidden=4, generator=torch.Generator().manual_seed(0))


def _quadratic(d=2):
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(d)


@contextlib.contextmanager
def _frozen_parameter(p: nn.Parameter):
    was = p.requires_grad
    p.requires_grad_(False)
    try:
        yield
    finally:
        p.requires_grad_(was)


@register_objective(
    "flow_contrastive_estimation",
    example=_example,
    bad_inputs=[
        (lambda: FlowContrastiveEstimation("realnvp"), TypeError, "flow"),
        (lambda: FlowContrastiveEstimation(_flow(), noise_ratio=0.0), ValueError, "noise_ratio"),
        (lambda: FlowContrastiveEstimation(_flow(), energy_steps=0, flow_steps=0), ValueError, "energy_steps"),
        (lambda: FlowContrastiveEstimation(_flow(), flow_likelihood_weight=-1.0), ValueError, "flow_likelihood_weight"),
        (lambda: FlowContrastiveEstimation(_flow(), accuracy_threshold=1.5), ValueError, "accuracy_threshold"),
        (lambda: FlowContrastiveEstimation(_flow(3))(_quadratic(2), torch.zeros(4, 2)), ValueError, "event shape"),
        (lambda: FlowContrastiveEstimation(_flow())(_quadratic(2), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
        (lambda: FlowContrastiveEstimation(_flow())(_quadratic(2), torch.zeros(4, 2).double()), TypeError, "dtype"),
    ],
)
class FlowContrastiveEstimation(nn.Module):
    """FCE: NCE against a flow ``q_α`` that is itself trained to make the classification hard.

    With ``log p_θ(u) = -E_θ(u) - c`` (``c`` a learnable log-normaliser owned by this objective)
    and the logit ``G(u) = log p_θ(u) - log q_α(u) - log ν``, the NCE loss is

        ``J(θ, c, α) = E_data[ softplus(-G(x)) ] + ν E_{y ~ q_α}[ softplus(G(y)) ]``.

    The energy (and ``c``) minimise ``J``; the flow maximises it (the minimax game of the paper,
    whose value at the optimum is a Jensen-Shannon divergence between data and flow). Updates
    alternate: ``energy_steps`` calls that train the energy with the flow fixed, then
    ``flow_steps`` calls that train the flow with the energy fixed, through reparameterised flow
    samples. So the objective fits the ordinary loop: ``ebm.train(energy, fce, x)`` optimises the
    energy, ``c`` and the flow (this module's parameters) with one optimiser, and in each phase
    only one side receives gradients. In flow phases the returned value is still ``J`` (so the
    loss curve is one quantity) but its gradient is ``-∂J/∂α`` (``2 J.detach() - J``). Each call
    advances the schedule, so use a first-order optimiser (not L-BFGS, whose closure calls the
    objective several times per step).
    ``flow_likelihood_weight = λ > 0`` adds ``λ · E_data[-log q_α(x)]`` to the flow's phase,
    which keeps the flow on the data early in training. ``flow_steps = 0`` freezes the flow:
    plain NCE with a (pre-trained) flow as noise. With ``accuracy_threshold = a`` the schedule
    follows the game instead of a fixed count, as Gao et al. do: the flow is trained while the
    energy classifies the last batch (data vs flow samples) with accuracy above ``a``, the energy
    otherwise (`accuracy` holds the last value; 0.5 means the flow fools the energy).

    Reference: Gao, Nijkamp, Kingma, Xu, Dai & Wu (2020), "Flow Contrastive Estimation of
    Energy-Based Models", CVPR, arXiv:1912.00589; NCE: Gutmann & Hyvärinen (2010, 2012).

    Args:
        flow: the noise, an `ebm.energies.RealNVP` or `NeuralSplineFlow` over the energy's space.
        noise_ratio: ``ν > 0``, flow samples per data point (rounded, at least 1 in all).
        energy_steps, flow_steps: the alternation schedule (``>= 0``, not both 0).
        flow_likelihood_weight: ``λ >= 0`` (default 0: the pure adversarial game).
        accuracy_threshold: ``a`` in (0, 1), or None for the fixed ``energy_steps`` / ``flow_steps`` schedule.
        init_log_normalizer: starting value of ``c``.

    Call args:
        energy: an `ebm.Energy` with the flow's event shape and dtype; x: data ``(batch, d)``;
        generator: draws the flow samples.

    Returns:
        The scalar loss ``J`` (with the phase's gradient).

    Raises:
        TypeError: ``flow`` is not a coupling flow, integer data, a non-Energy, or dtypes that differ.
        ValueError: ``noise_ratio <= 0``, a bad schedule or threshold, ``λ < 0``, or event shapes that differ.

    Example:
        >>> from ebm.energies import QuadraticEnergy, RealNVP
        >>> from ebm.train import train
        >>> fce = FlowContrastiveEstimation(RealNVP(2, n_layers=4, hidden=32), noise_ratio=1.0)
        >>> history = train(QuadraticEnergy(2), fce, torch.randn(512, 2), epochs=5, lr=1e-2)
    """

    def __init__(
        self,
        flow: CouplingFlow,
        noise_ratio: float = 1.0,
        *,
        energy_steps: int = 1,
        flow_steps: int = 1,
        flow_likelihood_weight: float = 0.0,
        accuracy_threshold: float | None = None,
        init_log_normalizer: float = 0.0,
    ):
        super().__init__()
        self.flow = check_flow("flow", flow)
        self.noise_ratio = check_positive("noise_ratio", noise_ratio)
        self.energy_steps = check_int("energy_steps", energy_steps, minimum=0)
        self.flow_steps = check_int("flow_steps", flow_steps, minimum=0)
        if self.energy_steps + self.flow_steps == 0:
            raise ValueError(format_error("energy_steps", "a schedule with at least one step", "energy_steps=0 and flow_steps=0", "pass energy_steps=1"))
        self.flow_likelihood_weight = check_nonnegative("flow_likelihood_weight", flow_likelihood_weight)
        self.accuracy_threshold = None if accuracy_threshold is None else check_probability("accuracy_threshold", accuracy_threshold)
        if self.accuracy_threshold is not None and self.flow_steps == 0:
            raise ValueError(format_error("accuracy_threshold", "None when the flow is frozen (flow_steps=0)", f"{accuracy_threshold!r}", "drop accuracy_threshold or pass flow_steps >= 1"))
        self.log_normalizer = nn.Parameter(torch.tensor(float(init_log_normalizer)))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))  # checkpointed with the objective
        self.register_buffer("accuracy", torch.tensor(0.5))  # the energy's data-vs-flow accuracy at the last call
        if self.flow_steps == 0:
            self.flow.requires_grad_(False)

    def next_phase(self) -> str:
        """``'energy'`` or ``'flow'``: which side the next call trains."""
        if self.accuracy_threshold is not None:
            return "flow" if float(self.accuracy) > self.accuracy_threshold else "energy"
        period = self.energy_steps + self.flow_steps
        return "energy" if int(self.calls) % period < self.energy_steps else "flow"

    def _check(self, energy: Energy, x: Tensor) -> None:
        check_energy(energy, "flow contrastive estimation")
        if tuple(self.flow.event_shape) != tuple(energy.event_shape):
            raise ValueError(
                format_error("flow", f"event shape {tuple(energy.event_shape)} (the energy's)", f"event shape {tuple(self.flow.event_shape)}", "build the flow over the data's space")
            )
        check_continuous_data(energy, x, "flow contrastive estimation")
        self.flow.check_input(x)

    def value(self, energy: Energy, x: Tensor, y: Tensor, log_q_y: Tensor) -> Tensor:
        """``J`` for data ``x (n, d)`` and flow samples ``y (m, d)`` with their log densities ``(m,)``."""
        log_nu = torch.log(torch.tensor(self.noise_ratio, dtype=x.dtype, device=x.device))
        c = self.log_normalizer.to(x.dtype)
        g_data = -energy(x) - c - self.flow.log_prob(x) - log_nu  # (n,)
        g_noise = -energy(y) - c - log_q_y - log_nu  # (m,)
        with torch.no_grad():  # classified correctly: data with G > 0, flow samples with G < 0
            correct = (g_data > 0).sum() + (g_noise < 0).sum()
            self.accuracy.copy_(correct.to(self.accuracy.dtype) / (g_data.numel() + g_noise.numel()))
        return F.softplus(-g_data).mean() + self.noise_ratio * F.softplus(g_noise).mean()

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self._check(energy, x)
        phase = self.next_phase()
        if self.training:
            self.calls += 1
        m = max(1, round(self.noise_ratio * x.shape[0]))
        if phase == "energy":
            with torch.no_grad():
                y, log_q_y = self.flow.rsample(m, generator=generator)  # (m, d), (m,)
            with frozen(self.flow):
                return self.value(energy, x, y, log_q_y)
        with frozen(energy), _frozen_parameter(self.log_normalizer):
            y, log_q_y = self.flow.rsample(m, generator=generator)
            j = self.value(energy, x, y, log_q_y)
        loss = 2 * j.detach() - j  # value J, gradient -∂J/∂α: the flow ascends J
        if self.flow_likelihood_weight:
            nll = self.flow(x).mean()  # E_data[-log q(x)]
            loss = loss + self.flow_likelihood_weight * (nll - nll.detach())  # its gradient only: the value stays J
        return loss

    def extra_repr(self) -> str:
        return f"noise_ratio={self.noise_ratio:g}, energy_steps={self.energy_steps}, flow_steps={self.flow_steps}, flow_likelihood_weight={self.flow_likelihood_weight:g}"
