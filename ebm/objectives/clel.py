"""CLEL: an EBM trained jointly with a contrastive encoder whose representation guides it.

Lee, Jeong, Park & Shin (2023), "Guiding Energy-based Models via Contrastive Latent Variables",
ICLR, arXiv:2303.03023. The model is `ebm.energies.CLELEnergy`,
``E(x, z) = ½‖f_θ(x)‖² - β ĝ_θ(x)ᵀz`` with z on the unit sphere; the latent of a data point is
the (normalised, stop-gradient) embedding ``z = h_φ(t(x)) / ‖h_φ(t(x))‖`` that a contrastive
encoder ``h_φ`` gives a random augmentation ``t(x)`` of it. The loss is

    L(θ, φ) = [E(x⁺) - E(x⁻) + α (E(x⁺)² + E(x⁻)²)]        maximum likelihood of p(x): CD with Langevin x⁻
            - [β ĝ_θ(x⁺)ᵀ sg(z) - log C(β)]                    maximum likelihood of p(z | x): -log vMF
            + L_NT-Xent(h_φ(t₁(x)), h_φ(t₂(x)); extra negatives sg(ĝ_θ(x⁻)))   SimCLR for the encoder

averaged over the batch: the first two terms are ``-log p_θ(x, z)`` (the joint density of the
data and its contrastive latent), the third trains the encoder, with the EBM's projections of its
own samples as extra negatives (the authors' ``use_neg`` setting). The encoder is this module's
parameter, so ``ebm.train(energy, CLEL(...), x)`` trains both -- FCE's mechanism
(`ebm.objectives.flow_contrastive_estimation`).

Simplifications at toy scale (stated, not hidden): one optimiser for both networks (the paper:
Adam for the EBM, SGD for the encoder), no EMA copies, no augmentation of the Langevin chains, an
MLP instead of ResNets; the negatives come from `ebm.objectives.ContrastiveDivergence` (replay
buffer of Du & Mordatch 2019, as the paper) with any `samplers` Langevin sampler.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_nonnegative, check_positive, format_error, trusted_inputs
from ebm.objectives._common import check_batch, check_continuous_data
from ebm.objectives.contrastive_divergence import ContrastiveDivergence
from ebm.objectives.infonce import InfoNCE
from ebm.registry import register_objective

__all__ = ["CLEL"]


def _example():
    from ebm.augment import GaussianJitter
    from ebm.energies.clel import CLELEnergy
    from samplers import ULA

    g = torch.Generator().manual_seed(0)
    model = CLELEnergy(2, feature_dim=4, latent_dim=3, hidden=(8,), projection_hidden=8, generator=g)
    encoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    objective = CLEL(encoder, GaussianJitter(0.1), sampler=ULA(0.01), k=3, replay_buffer_size=32)
    return objective, (model, torch.randn(8, 2, generator=g))


def _bad_call(model=None, x=None):
    objective, (energy, batch) = _example()
    return objective(energy if model is None else model, batch if x is None else x)


def _wrong_encoder():
    from samplers import ULA

    objective, (energy, batch) = _example()
    return CLEL(nn.Linear(2, 5), None, sampler=ULA(0.01), k=2)(energy, batch)  # (n, 5) embeddings for latent_dim 3


@register_objective(
    "clel",
    example=_example,
    bad_inputs=[
        (lambda: CLEL(3, None), TypeError, "encoder"),
        (lambda: CLEL(nn.Linear(2, 3), "jitter"), TypeError, "augment"),
        (lambda: CLEL(nn.Linear(2, 3), None, energy_penalty=-1.0), ValueError, "energy_penalty"),
        (lambda: CLEL(nn.Linear(2, 3), None, temperature=0.0), ValueError, "temperature"),
        (lambda: _bad_call(model=nn.Linear(2, 2)), TypeError, "CLELEnergy"),
        (lambda: _bad_call(x=torch.zeros(0, 2)), ValueError, "batch"),
        (lambda: _bad_call(x=torch.zeros(1, 2)), ValueError, "at least 2"),
        (lambda: _wrong_encoder(), ValueError, "encoder"),
    ],
)
class CLEL(nn.Module):
    """CLEL's joint loss: ``-log p_θ(x, z)`` with the contrastive latent z, plus SimCLR for the encoder.

    ``L = E(x⁺) - E(x⁻) + α(E(x⁺)² + E(x⁻)²) - log vMF(sg(z); ĝ(x⁺), β) + NT-Xent(h(t₁x), h(t₂x); sg(ĝ(x⁻)))``
    (batch means; see the module docstring).

    Reference: Lee, Jeong, Park & Shin (2023), ICLR, arXiv:2303.03023; SimCLR: Chen et al. (2020),
    arXiv:2002.05709; replay-buffer Langevin: Du & Mordatch (2019), arXiv:1903.08689.

    Args:
        encoder: ``h_φ``, an `nn.Module` mapping a batch ``(n, *event_shape)`` to ``(n, p)`` with p the
            energy's ``latent_dim`` (trained by this objective).
        augment: ``t``, a callable ``(x, generator) -> x`` drawing a random view (e.g.
            `ebm.augment.GaussianJitter` for points, `ebm.augment.DigitAugment` for digits); None
            uses the identity (then the encoder learns only from the extra negatives; not advised).
        sampler: the Langevin sampler of the negatives (e.g. ``samplers.ULA(0.005, grad_clip=10)``).
        k: sampler steps per update.
        replay_buffer_size: > 0: the replay buffer of the negatives' chains (the paper's 10,000 at
            CIFAR scale); 0: persistent chains.
        reinit_prob: with a replay buffer, the chance a chain restarts from noise.
        energy_penalty: α >= 0 (the authors' code uses 1 on CIFAR-10).
        temperature: τ of NT-Xent (the authors' code: 0.2).
        use_negatives: add the EBM's projections of its samples as negatives to NT-Xent.

    Call args:
        energy: an `ebm.energies.CLELEnergy`; x: data ``(n, *event_shape)``, n >= 2;
        generator: the views' and the sampler's random draws.

    Returns:
        The scalar loss; ``last_terms`` holds its three parts (detached) after each call.

    Raises:
        TypeError: an encoder that is not a module, an augment that is not callable, a non-CLEL energy.
        ValueError: negative α, τ <= 0, a batch of fewer than 2 rows, an encoder whose output is not ``(n, p)``.

    Example:
        >>> from ebm.energies import CLELEnergy
        >>> from ebm.augment import GaussianJitter
        >>> from samplers import ULA
        >>> model = CLELEnergy(2, latent_dim=4)
        >>> clel = CLEL(torch.nn.Linear(2, 4), GaussianJitter(0.1), sampler=ULA(0.005), k=5)
        >>> loss = clel(model, torch.randn(64, 2))
    """

    def __init__(self, encoder: nn.Module, augment=None, *, sampler=None, k: int = 10, replay_buffer_size: int = 4096,
                 reinit_prob: float = 0.05, energy_penalty: float = 0.1, temperature: float = 0.2, use_negatives: bool = True):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(format_error("encoder", "an nn.Module mapping (n, *event_shape) to (n, latent_dim)", type(encoder).__name__, "pass e.g. nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, p))"))
        if augment is not None and not callable(augment):
            raise TypeError(format_error("augment", "a callable (x, generator) -> a random view of x", type(augment).__name__, "pass ebm.augment.GaussianJitter(0.1) or DigitAugment()"))
        self.encoder = encoder
        self.augment = augment
        self.energy_penalty = check_nonnegative("energy_penalty", energy_penalty)
        self.infonce = InfoNCE(check_positive("temperature", temperature))
        self.use_negatives = bool(use_negatives)
        # The negatives' chains (and their replay buffer) are CD's: one implementation, checkpointed with this module.
        self.cd = ContrastiveDivergence(sampler, k=k, persistent=True, replay_buffer_size=replay_buffer_size, reinit_prob=reinit_prob)
        self.last_terms: dict[str, Tensor] = {}

    def _view(self, x: Tensor, generator) -> Tensor:
        return x if self.augment is None else self.augment(x, generator)

    def _embed(self, energy, x: Tensor) -> Tensor:
        y = self.encoder(x)
        if not isinstance(y, Tensor) or tuple(y.shape) != (x.shape[0], energy.latent_dim):
            found = f"shape {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(format_error("encoder", f"output of shape ({x.shape[0]}, {energy.latent_dim}) (batch, the energy's latent_dim)", found, "match the encoder's last layer to CLELEnergy(latent_dim=...)"))
        return y

    def terms(self, energy, x: Tensor, negatives: Tensor, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The three parts of the loss for data ``x (n, *event)`` and given negatives ``(m, *event)``.

        Returns:
            ``{"ebm": CD surrogate + α penalty, "latent": mean -log p(z | x⁺), "contrastive": NT-Xent}``, scalars.
        """
        with trusted_inputs():
            e_pos, e_neg = energy(x), energy(negatives)  # (n,), (m,)
        ebm = e_pos.mean() - e_neg.mean() + self.energy_penalty * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
        with torch.no_grad():  # the contrastive latent of each data point: a stop-gradient target
            z = F.normalize(self._embed(energy, self._view(x, generator)), dim=-1)  # (n, p)
        latent = -energy.posterior_log_prob(x, z).mean()
        h_a = self._embed(energy, self._view(x, generator))  # (n, p)
        h_b = self._embed(energy, self._view(x, generator))
        extra = energy.project(negatives).detach() if self.use_negatives else None  # (m, p)
        return {"ebm": ebm, "latent": latent, "contrastive": self.infonce(h_a, h_b, negatives=extra)}

    def forward(self, energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        from ebm.energies.clel import CLELEnergy

        if not isinstance(energy, CLELEnergy):
            raise TypeError(format_error("energy", "an ebm.energies.CLELEnergy", type(energy).__name__, "build the model with CLELEnergy(event_shape, latent_dim=...)"))
        check_continuous_data(energy, x, "CLEL")
        check_batch("x", x, min_batch=2, why="NT-Xent contrasts each view with the batch's others")
        negatives = self.cd.negatives(energy, x, generator=generator)  # (n, *event), detached
        parts = self.terms(energy, x, negatives, generator=generator)
        self.last_terms = {name: value.detach() for name, value in parts.items()}
        return parts["ebm"] + parts["latent"] + parts["contrastive"]

    def extra_repr(self) -> str:
        return f"energy_penalty={self.energy_penalty:g}, temperature={self.infonce.temperature:g}, use_negatives={self.use_negatives}"
