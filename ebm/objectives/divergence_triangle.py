"""The divergence triangle (Han et al. 2019): joint training of a generator, an energy-based model
on x and an inference model, with no MCMC; with ``latent_ebm=True`` the EBM is on the pair (x, z),
the VAE + latent EBM joint training of Han et al. (2020)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_int, check_nonnegative, check_positive, energy_reference_tensor, format_error
from ebm.energies.autoencoders import _mlp
from ebm.energies.vae import GaussianEncoder
from ebm.energy import Energy
from ebm.objectives._common import check_batch, check_continuous_data, check_energy, frozen
from ebm.registry import register_objective

__all__ = ["DivergenceTriangle"]


def _quadratic(d=2):
    from ebm.energies.quadratic import QuadraticEnergy

    return QuadraticEnergy(d)


def _example():
    triangle = DivergenceTriangle(2, latent_dim=1, hidden=8, generator=torch.Generator().manual_seed(0))
    return triangle, (_quadratic(2), torch.randn(16, 2, generator=torch.Generator().manual_seed(1)))


@register_objective(
    "divergence_triangle",
    example=_example,
    bad_inputs=[
        (lambda: DivergenceTriangle(0), ValueError, "data_dim"),
        (lambda: DivergenceTriangle(2, sigma=0.0), ValueError, "sigma"),
        (lambda: DivergenceTriangle(2, energy_penalty=-1.0), ValueError, "energy_penalty"),
        (lambda: DivergenceTriangle(3)(_quadratic(2), torch.zeros(4, 2)), ValueError, "event shape"),
        (lambda: DivergenceTriangle(2)("energy", torch.zeros(4, 2)), TypeError, "energy"),
        (lambda: DivergenceTriangle(2)(_quadratic(2), torch.zeros(4, 2, dtype=torch.long)), TypeError, "real-valued"),
    ],
)
class DivergenceTriangle(nn.Module):
    """``max_α min_{θ,φ} Δ = KL(Q‖P) + KL(P‖Π) - KL(Q‖Π)`` over three joint densities of (x, z).

    * ``Q(x, z) = q_data(x) q_φ(z | x)``: the data with the inference model (a Gaussian encoder);
    * ``P(x, z) = N(z; 0, I) N(x; g_θ(z), σ² I)``: the generator;
    * ``Π(x, z) = π_α(x) q_φ(z | x)``: the EBM ``π_α(x) = exp(-E_α(x)) / Z_α`` with the inference model.

    ``KL(Q‖Π) = KL(q_data ‖ π_α)`` (the encoder cancels), so the EBM maximises
    ``KL(P‖Π) - KL(Q‖Π)``, whose ``log Z_α`` cancels too: it minimises
    ``E_data[E_α(x)] - E_{x~P}[E_α(x)]`` — contrastive divergence with the generator's samples as
    negatives, no Langevin. The generator minimises ``KL(Q‖P) + KL(P‖Π)``: the VAE's reconstruction
    plus ``E_P[E_α(x̃) - log q_φ(z | x̃)]`` through reparameterised samples ``x̃ = g(z) + σε`` (it
    chases the EBM's low energy while staying invertible by q). The inference model minimises
    ``KL(Q‖P) + KL(P‖Π)``: the VAE's ELBO on data plus ``-E_P[log q_φ(z | x̃)]`` on the
    generator's own pairs (the sleep phase of wake-sleep). With ``H(q_data)`` and ``log Z_α``
    cancelling, the value is computable:

        Δ = -ELBO(data) + E_P[log P(x, z)] - E_P[log q_φ(z | x)] + E_P[E_α(x)] - E_data[E_α(x)],

    ``E_P[log P] = -(k/2)(1 + log 2π) - (d/2)(1 + log 2πσ²)`` in closed form. One call returns Δ̂ on
    a batch with the gradient of all three updates at once (each parameter set gets only its own
    term; the EBM's is the ascent direction), so ``ebm.train(energy, triangle, x)`` trains the
    energy and this module's generator and encoder with one optimiser, as FCE trains its flow.
    ``energy_penalty = λ > 0`` adds ``λ · mean(E(x)² + E(x̃)²)`` to the EBM's term (Du & Mordatch
    2019's regulariser; not in the paper) so the energy's scale cannot drift in the min-max game.

    ``latent_ebm=True`` is the joint-training variant of Han, Nijkamp, Zhou, Pang, Zhu & Wu (2020,
    "Joint Training of Variational Auto-Encoder and Latent Energy-Based Model", CVPR,
    arXiv:2006.06059): the same triangle with the EBM on the pair, ``Π(x, z) = exp(-E_α(x, z)) / Z_α``
    (the energy's event shape is ``(d + k,)``, evaluated on ``[x, z]``). Then ``H(q_data)``, the
    encoder's entropy and ``log Z_α`` all cancel:

        Δ = E_Q[-log P(x, z)] + E_P[log P(x, z)] + E_P[E_α(x, z)] - E_Q[E_α(x, z)];

    the EBM minimises ``E_Q[E_α] - E_P[E_α]`` (data pairs down, generated pairs up); the generator
    minimises ``E_Q[-log p_θ(x | z)] + E_P[E_α(g(z) + σε, z)]``; the encoder minimises
    ``E_Q[-log P(x, z) - E_α(x, z)]`` through reparameterised ``z ~ q_φ(z | x)``, so it is the EBM's
    adversary on data pairs as the generator is on generated pairs (this is our derivation of the
    gradients from the triangle; the paper's networks and schedules are not reproduced).

    Reference: Han, Nijkamp, Fang, Hill, Zhu & Wu (2019), "Divergence Triangle for Joint Training
    of Generator Model, Energy-based Model, and Inferential Model", CVPR, arXiv:1812.10907.

    Args:
        data_dim: d (the energy's event shape must be ``(d,)``); latent_dim: k.
        hidden: width of the generator's and the encoder's two hidden layers.
        sigma: the generator's observation noise σ > 0.
        energy_penalty: λ ≥ 0.
        latent_ebm: the EBM sees ``[x, z]`` (event shape ``(d + k,)``), Han et al. 2020; default: x only.
        generator: random generator for the initial weights.

    Call args:
        energy: an `ebm.Energy` over ``(d,)``; x: data ``(n, d)``; generator: draws z, ε.

    Returns:
        Scalar Δ̂ (the gradient as described).

    Raises:
        TypeError: the energy is not an `ebm.Energy`; integer data.
        ValueError: bad sizes, σ ≤ 0, λ < 0; an energy over another space.

    Example:
        >>> from ebm.energies import MLPEnergy
        >>> from ebm.train import train
        >>> triangle = DivergenceTriangle(2, latent_dim=2)
        >>> history = train(MLPEnergy((2,)), triangle, torch.randn(512, 2), epochs=2, lr=1e-3)
        >>> samples = triangle.sample(100)          # (100, 2): the generator, an amortised sampler of π
    """

    def __init__(self, data_dim: int, *, latent_dim: int = 2, hidden: int = 64, sigma: float = 0.1, energy_penalty: float = 0.0,
                 latent_ebm: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        self.data_dim = check_int("data_dim", data_dim, minimum=1)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        self.sigma = check_positive("sigma", sigma)
        self.energy_penalty = check_nonnegative("energy_penalty", energy_penalty)
        if not isinstance(latent_ebm, bool):
            raise TypeError(format_error("latent_ebm", "a bool", repr(latent_ebm), "pass latent_ebm=True for an EBM on (x, z), False for x only"))
        self.latent_ebm = latent_ebm
        self.generator_net = _mlp([self.latent_dim, hidden, hidden, self.data_dim], None, generator)  # g_θ
        self.encoder = GaussianEncoder(self.data_dim, self.latent_dim, hidden, generator=generator)  # q_φ

    def sample(self, n: int, *, noise: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """``(n, d)`` generator samples ``g(z) + σε`` (``noise=False``: the means g(z)), detached."""
        n = check_int("n", n, minimum=1)
        with torch.no_grad():
            x, _ = self._generate(n, noise, generator)
        return x

    def _generate(self, n: int, noise: bool, generator) -> tuple[Tensor, Tensor]:
        ref = self.generator_net[0].weight
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=ref.dtype).to(ref.device)  # (n, k)
        x = self.generator_net(z)  # (n, d)
        if noise:
            x = x + self.sigma * torch.randn(x.shape, generator=generator, dtype=ref.dtype).to(ref.device)
        return x, z

    def negative_elbo(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """``-ELBO(x)`` per example, ``(n,)``, one reparameterised draw (gradients to g and q)."""
        z, mean, log_var = self.encoder.rsample(x, 1, generator=generator)  # (1, n, k)
        recon = (x - self.generator_net(z[0])).pow(2).sum(-1) / (2 * self.sigma**2) + 0.5 * self.data_dim * math.log(2 * math.pi * self.sigma**2)
        return recon + self.encoder.kl_to_standard_normal(mean, log_var)

    def expected_log_generator_density(self) -> float:
        """``E_P[log P(x, z)] = -(k/2)(1 + log 2π) - (d/2)(1 + log 2πσ²)`` (minus P's entropy)."""
        return -0.5 * self.latent_dim * (1 + math.log(2 * math.pi)) - 0.5 * self.data_dim * (1 + math.log(2 * math.pi * self.sigma**2))

    def data_event_shape(self, energy) -> torch.Size:
        """The shape of one training example, ``(d,)`` (the energy's is ``(d + k,)`` with ``latent_ebm``)."""
        return torch.Size([self.data_dim])

    def neg_log_generator_density(self, x: Tensor, z: Tensor) -> Tensor:
        """``-log P(x, z) = ‖x - g(z)‖²/(2σ²) + ½‖z‖² + (d/2) log 2πσ² + (k/2) log 2π``, ``(n,)``."""
        recon = (x - self.generator_net(z)).pow(2).sum(-1) / (2 * self.sigma**2)
        return recon + 0.5 * z.pow(2).sum(-1) + 0.5 * self.data_dim * math.log(2 * math.pi * self.sigma**2) + 0.5 * self.latent_dim * math.log(2 * math.pi)

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_energy(energy, "the divergence triangle")
        width = self.data_dim + self.latent_dim if self.latent_ebm else self.data_dim
        if tuple(energy.event_shape) != (width,):
            what = f"({width},) = (data_dim + latent_dim,), the pair [x, z]" if self.latent_ebm else f"({self.data_dim},) (the triangle's data_dim)"
            raise ValueError(format_error("energy", f"event shape {what}", f"event shape {tuple(energy.event_shape)}",
                                          f"build the energy over {width} coordinates, or the triangle with matching data_dim / latent_dim"))
        if self.latent_ebm:
            check_energy_input("x", x, torch.Size([self.data_dim]), energy_reference_tensor(energy))  # floating, dtype, device, finite
            if x.dim() != 2:
                raise ValueError(format_error("x", f"one batch dimension, shape (batch, {self.data_dim})", f"shape {tuple(x.shape)}", "flatten: x.reshape(-1, data_dim)"))
            check_batch("x", x)
            return self._joint_forward(energy, x, generator)
        check_continuous_data(energy, x, "the divergence triangle")
        n = x.shape[0]
        neg_elbo = self.negative_elbo(x, generator=generator).mean()  # KL(Q‖P) + H(q_data): θ and φ
        x_gen, z_gen = self._generate(n, True, generator)  # (n, d), (n, k): θ through x_gen
        e_data_each, e_gen_each = energy(x), energy(x_gen.detach())  # (n,), (n,): α
        e_data, e_gen_alpha = e_data_each.mean(), e_gen_each.mean()
        with frozen(energy):
            e_gen_theta = energy(x_gen).mean()  # θ, through x_gen only
        with frozen(self.encoder):
            log_q_theta = self.encoder.log_prob(z_gen, x_gen).mean()  # θ, through x_gen only
        log_q_phi = self.encoder.log_prob(z_gen, x_gen.detach()).mean()  # φ (sleep phase)
        value = neg_elbo.detach() + self.expected_log_generator_density() - log_q_phi.detach() + e_gen_alpha.detach() - e_data.detach()
        # min over θ: KL(Q‖P) + KL(P‖Π);  min over φ: the same (KL(Q‖Π) has no φ);  max over α: KL(P‖Π) - KL(Q‖Π).
        surrogate = neg_elbo + e_gen_theta - log_q_theta - log_q_phi + (e_data - e_gen_alpha)
        if self.energy_penalty:
            surrogate = surrogate + self.energy_penalty * (e_data_each.pow(2).mean() + e_gen_each.pow(2).mean())
        return value + (surrogate - surrogate.detach())

    def _joint_forward(self, energy: Energy, x: Tensor, generator) -> Tensor:
        """The triangle with ``Π(x, z) ∝ exp(-E_α([x, z]))`` (Han et al. 2020)."""
        n = x.shape[0]
        z_q = self.encoder.rsample(x, 1, generator=generator)[0][0]  # (n, k): φ
        x_gen, z_gen = self._generate(n, True, generator)  # (n, d), (n, k): θ through x_gen
        e_q_each = energy(torch.cat([x, z_q.detach()], 1))  # (n,): α
        e_p_each = energy(torch.cat([x_gen.detach(), z_gen], 1))  # (n,): α
        nlp_q = self.neg_log_generator_density(x, z_q)  # (n,)
        value = nlp_q.mean().detach() + self.expected_log_generator_density() + e_p_each.mean().detach() - e_q_each.mean().detach()
        theta = self.neg_log_generator_density(x, z_q.detach()).mean()  # θ: E_Q[-log P] with the encoder's draw fixed
        with frozen(energy):
            theta = theta + energy(torch.cat([x_gen, z_gen], 1)).mean()  # θ through x_gen: E_P[E_α]
            phi_energy = energy(torch.cat([x, z_q], 1)).mean()  # φ through z_q
        with frozen(self.generator_net):
            phi = self.neg_log_generator_density(x, z_q).mean() - phi_energy  # φ: E_Q[-log P - E_α]
        surrogate = theta + phi + (e_q_each.mean() - e_p_each.mean())
        if self.energy_penalty:
            surrogate = surrogate + self.energy_penalty * (e_q_each.pow(2).mean() + e_p_each.pow(2).mean())
        return value + (surrogate - surrogate.detach())

    def extra_repr(self) -> str:
        return (f"data_dim={self.data_dim}, latent_dim={self.latent_dim}, sigma={self.sigma:g}, energy_penalty={self.energy_penalty:g}, "
                f"latent_ebm={self.latent_ebm}")
