"""EBCLR: energy-based contrastive learning -- a joint energy of view pairs, trained discriminatively and generatively.

Kim & Ye model the joint density of two views ``(v, v')`` of one image with the energy of their
projections ``z = h(v)`` on the unit sphere ``ẑ = z/‖z‖``:

    E(v, v') = ‖ẑ - ẑ'‖² / τ,       p(v, v') ∝ exp(-E(v, v')),     log p(v, v') = log p(v' | v) + log p(v)

and maximise both factors. ``log p(v' | v)`` is approximated by a softmax over the batch -- the
contrastive term, SimCLR's loss with the energy above as the (negative) logit. ``log p(v)`` is the
log of the marginal ``p(v) ∝ ∫ exp(-E(v, v')) dv'``, estimated over the batch's second views,
``log p(v) ≈ log Σ_j exp(-E(v, v'_j)) + const``, and trained like any EBM: its gradient is the data
term minus the same term at negatives ``ṽ`` drawn from ``p(v)`` by stochastic-gradient Langevin
dynamics (SGLD) *in input space*, started from a replay buffer:

    L_con = -(1/2n) Σ_i log softmax_{k≠i}(-E(v_i, v_k))[p(i)]               (over the 2n views)
    L_gen = -mean_i log p(v_i) + mean_m log p(ṽ_m) + λ₁ (Σ_i ‖z_i‖² + Σ_m ‖z̃_m‖²)
    L     = L_con + λ₂ L_gen

The authors report that the generative term makes EBCLR robust to *few negatives* per positive
(small batches), its main claim.

Reference: Kim & Ye (2022), "Energy-Based Contrastive Learning of Visual Representations",
NeurIPS, arXiv:2202.04933; defaults follow the authors' released configs (τ = 0.1, λ₁ = 1e-3,
λ₂ = 0.1; SGLD: 10 steps of size 0.05 on the gradient clipped to ±1, noise std annealed from 0.05
to 0.01 over a sample's first 3 visits; replay re-initialisation probability 0.4), except the replay
buffer: 4096 entries by default (theirs holds 50,000).

Simplifications (stated): re-initialised replay entries are augmented views of the *current* batch
(the authors draw random augmented training images -- their ``CD_ratio = 1``); negatives run through
the network without updating batch-norm running statistics (the authors' EBCLR nets have no
batch-norm); Adam's per-parameter gradient clamping of the authors' loop is not reproduced; inputs are
used at the data's own scale (the authors rescale images to [-1, 1]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_generator, check_int, check_nonnegative, check_positive, check_probability, format_error
from ebm.distributed import gather
from ebm.objectives._common import check_batch, trained_encoder
from ebm.objectives._pairs import check_embeddings, check_pair
from ebm.registry import register_objective

__all__ = ["EBCLR", "pair_energy", "marginal_log_density", "ebclr_contrastive_term", "ebclr_generative_term"]


def pair_energy(z: Tensor, z_ref: Tensor, temperature: float) -> Tensor:
    """``E_ij = ‖ẑ_i - ẑ'_j‖² / τ`` between ``z (m, d)`` and ``z_ref (n, d)`` (unit-normalised) → ``(m, n)``."""
    u, v = F.normalize(z, dim=1, eps=1e-10), F.normalize(z_ref, dim=1, eps=1e-10)
    return (u[:, None, :] - v[None, :, :]).pow(2).sum(-1) / temperature  # (m, n)


def marginal_log_density(z: Tensor, z_ref: Tensor, temperature: float) -> Tensor:
    """``log p(v_i) ≈ log Σ_j exp(-E(v_i, v'_j))`` (up to a constant): ``(m, d), (n, d) → (m,)``."""
    return torch.logsumexp(-pair_energy(z, z_ref, temperature), dim=1)  # (m,)


def ebclr_contrastive_term(z_a: Tensor, z_b: Tensor, temperature: float) -> Tensor:
    """``L_con``: cross-entropy of each view's positive among the other ``2n - 1`` views, logits ``-E``; ``(n, d)`` each → scalar."""
    n = z_a.shape[0]
    z = torch.cat([z_a, z_b])  # (2n, d)
    logits = (-pair_energy(z, z, temperature)).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))  # (2n, 2n)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, target)


def ebclr_generative_term(z_a: Tensor, z_b: Tensor, z_neg: Tensor, temperature: float, l2_weight: float) -> Tensor:
    """``L_gen = -mean log p(v) + mean log p(ṽ) + λ₁(Σ‖z‖² + Σ‖z̃‖²)``, the marginal against ``z_b``.

    Args:
        z_a: data projections ``(n, d)``; z_b: the second views ``(n, d)`` (the marginal's support);
        z_neg: SGLD negatives' projections ``(m, d)``; temperature: τ; l2_weight: λ₁.
    """
    data = marginal_log_density(z_a, z_b, temperature).mean()
    neg = marginal_log_density(z_neg, z_b, temperature).mean()
    return -data + neg + l2_weight * (z_a.pow(2).sum() + z_neg.pow(2).sum())


def _without_buffer_updates(net: nn.Module, x: Tensor) -> Tensor:
    """``net(x)`` with the network's own parameters but throw-away copies of its buffers, so the
    negatives do not move batch-norm running statistics (nothing is written in place)."""
    buffers = {name: b.clone() for name, b in net.named_buffers()}
    return torch.func.functional_call(net, buffers, (x,), strict=False)


def _registry_example():
    from ebm.augment import GaussianJitter
    from ebm.energies.joint import JointEmbeddingEnergy

    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.7 * torch.randn(p.shape, generator=g))
    x = torch.randn(6, 2, generator=g)
    energy = JointEmbeddingEnergy(net, event_shape=(2,))
    return EBCLR(GaussianJitter(0.1), (2,), buffer_size=8, sgld_steps=2), (energy, x)


@register_objective(
    "ebclr",
    example=_registry_example,
    bad_inputs=[
        (lambda: _registry_example()[0](_registry_example()[1][0], torch.randn(6, 3)), ValueError, "batch"),
        (lambda: _registry_example()[0](_registry_example()[1][0], torch.randn(1, 2)), ValueError, "at least 2"),
        (lambda: _registry_example()[0].loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(2, 4)), ValueError, "z_neg"),
        (lambda: EBCLR(lambda x, g: x, (2,), temperature=0.0), ValueError, "temperature"),
        (lambda: EBCLR(lambda x, g: x, (2,), reinit_prob=1.5), ValueError, "reinit_prob"),
        (lambda: EBCLR(lambda x, g: x, (2,), sgld_noise=(0.1, 0.01)), ValueError, "sgld_noise"),
    ],
)
class EBCLR(nn.Module):
    """``objective(model, batch, generator)`` for `ebm.train`: ``L_con + λ₂ L_gen`` with SGLD negatives from a replay buffer.

    Args:
        augment: ``augment(x, generator) -> x'`` (e.g. `ebm.augment.DigitAugment`).
        event_shape: the shape of one input (the replay buffer holds ``(buffer_size, *event_shape)``).
        head: optional projector after the encoder (``z = head(f(v))``).
        temperature: τ > 0 of the pair energy (default 0.1).
        generative_weight: λ₂ >= 0 (default 0.1; 0 leaves the contrastive term alone).
        l2_weight: λ₁ >= 0 on the projections' squared norms (default 1e-3).
        sgld_steps: SGLD steps per training step (default 10).
        sgld_step_size: step on the clipped gradient of ``log p`` (default 0.05).
        sgld_noise: ``(min_std, max_std)`` of the SGLD noise; a sample's std falls linearly from max
            to min over its first ``noise_anneal`` visits (default (0.01, 0.05), 3 visits).
        grad_clip: clip the input gradient to ``[-c, c]`` per coordinate (default 1).
        buffer_size: replay buffer size (default 4096).
        reinit_prob: probability that a drawn buffer entry is restarted from an augmented datum (0.4).
        n_negatives: negatives per step (default: the batch size).

    Shapes: ``forward(model, batch)``: ``batch`` is ``x (n, *event_shape)`` (or ``(x, ...)``),
    n >= 2 → scalar; ``loss(z_a, z_b, z_neg)``: ``(n, d), (n, d), (m, d)`` → scalar (gathered over
    processes under `torch.distributed`; SGLD runs per process against its own second views).

    Raises:
        ValueError: bad hyper-parameters; a batch of the wrong shape, non-finite or with fewer than 2 rows.
        TypeError: a batch that is not a floating tensor of the model's dtype.

    Example:
        >>> task = EBCLR(DigitAugment(), (64,), head=projector)
        >>> ebm.train.train(JointEmbeddingEnergy(encoder, event_shape=(64,)), task, x_train, epochs=5, batch_size=32, generator=g)
    """

    def __init__(self, augment, event_shape, *, head: nn.Module | None = None, temperature: float = 0.1, generative_weight: float = 0.1, l2_weight: float = 1e-3,
                 sgld_steps: int = 10, sgld_step_size: float = 0.05, sgld_noise: tuple[float, float] = (0.01, 0.05), noise_anneal: float = 3.0, grad_clip: float = 1.0,
                 buffer_size: int = 4096, reinit_prob: float = 0.4, n_negatives: int | None = None):
        super().__init__()
        if not callable(augment):
            raise TypeError(format_error("augment", "a callable augment(x, generator) -> x'", type(augment).__name__, "pass e.g. ebm.augment.DigitAugment()"))
        self.augment = augment
        self.event_shape = torch.Size((event_shape,) if isinstance(event_shape, int) else event_shape)
        self.head = head
        self.temperature = check_positive("temperature", temperature)
        self.generative_weight = check_nonnegative("generative_weight", generative_weight)
        self.l2_weight = check_nonnegative("l2_weight", l2_weight)
        self.sgld_steps = check_int("sgld_steps", sgld_steps, minimum=0)
        self.sgld_step_size = check_positive("sgld_step_size", sgld_step_size)
        lo, hi = (check_nonnegative("sgld_noise", s) for s in sgld_noise)
        if lo > hi:
            raise ValueError(format_error("sgld_noise", "(min_std, max_std) with min_std <= max_std", repr(tuple(sgld_noise)), "pass e.g. sgld_noise=(0.01, 0.05)"))
        self.sgld_noise = (lo, hi)
        self.noise_anneal = check_positive("noise_anneal", noise_anneal)
        self.grad_clip = check_positive("grad_clip", grad_clip)
        self.reinit_prob = check_probability("reinit_prob", reinit_prob, open_interval=False)
        self.n_negatives = None if n_negatives is None else check_int("n_negatives", n_negatives, minimum=1)
        size = check_int("buffer_size", buffer_size, minimum=1)
        self.register_buffer("replay", torch.zeros(size, *self.event_shape))
        self.register_buffer("visits", torch.zeros(size))  # 0: never filled, or just restarted

    # ---------------------------------------------------------------- the loss on projections
    def loss(self, z_a: Tensor, z_b: Tensor, z_neg: Tensor) -> Tensor:
        """``L_con(z_a, z_b) + λ₂ L_gen(z_a, z_b, z_neg)``; ``(n, d), (n, d), (m, d)`` → scalar."""
        check_pair(z_a, z_b)
        check_embeddings("z_neg", z_neg)
        if z_neg.shape[1] != z_a.shape[1] or z_neg.dtype != z_a.dtype or z_neg.device != z_a.device:
            raise ValueError(format_error("z_neg", f"(m, {z_a.shape[1]}) {z_a.dtype} on {z_a.device} (the projections' width, dtype and device)", f"shape {tuple(z_neg.shape)} {z_neg.dtype} on {z_neg.device}", "project the SGLD negatives with the same network"))
        z_a, z_b, z_neg = gather(z_a), gather(z_b), gather(z_neg)
        con = ebclr_contrastive_term(z_a, z_b, self.temperature)
        if self.generative_weight == 0:
            return con
        return con + self.generative_weight * ebclr_generative_term(z_a, z_b, z_neg, self.temperature, self.l2_weight)

    # ---------------------------------------------------------------- the training step
    encoder_of = staticmethod(trained_encoder)  # model.f of a JointEmbeddingEnergy, else the model

    def online(self, model: nn.Module) -> nn.Module:
        f = self.encoder_of(model)
        return f if self.head is None else nn.Sequential(f, self.head)

    def data_event_shape(self, model: nn.Module) -> torch.Size:
        return self.event_shape

    def sgld(self, net: nn.Module, x0: Tensor, visits: Tensor, z_ref: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """SGLD ascent on ``log p(x) = log Σ_j exp(-E(x, v'_j))``: ``x0 (m, *event)`` → ``(m, *event)``.

        ``x ← x + η clip(∇ log p(x), ±c) + σ ξ`` with ``σ = σ_min + (σ_max - σ_min) max(0, 1 - visits/anneal)``.
        """
        lo, hi = self.sgld_noise
        std = (lo + (hi - lo) * (1 - visits / self.noise_anneal).clamp_min(0)).reshape(-1, *([1] * len(self.event_shape)))  # (m, 1, ...)
        x = x0.detach()
        for _ in range(self.sgld_steps):
            x = x.requires_grad_(True)
            with torch.enable_grad():
                grad, = torch.autograd.grad(marginal_log_density(_without_buffer_updates(net, x), z_ref, self.temperature).sum(), x)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x = (x + self.sgld_step_size * grad.clamp(-self.grad_clip, self.grad_clip) + std * noise).detach()
        return x

    def forward(self, model: nn.Module, batch, generator: torch.Generator | None = None) -> Tensor:
        check_generator("generator", generator)
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        net = self.online(model)
        ref = next((p for p in net.parameters() if p.is_floating_point()), None)
        check_energy_input("batch", x, self.event_shape, ref)
        if x.dim() != len(self.event_shape) + 1:
            raise ValueError(format_error("batch", f"one batch dimension, shape (n, {', '.join(map(str, self.event_shape))})", f"shape {tuple(x.shape)}", f"flatten extra batch dimensions: x.reshape(-1, *{tuple(self.event_shape)})"))
        check_batch("batch", x, min_batch=2, why="the contrastive term compares samples within the batch")
        x_a, x_b = self.augment(x, generator), self.augment(x, generator)
        z_a, z_b = net(x_a), net(x_b)
        if self.generative_weight == 0:
            return self.loss(z_a, z_b, z_a)
        m = self.n_negatives or x.shape[0]
        idx = torch.randint(0, self.replay.shape[0], (m,), generator=generator).to(self.replay.device)
        start = self.replay[idx].to(x)
        visits = self.visits[idx].clone()
        restart = (torch.rand(m, generator=generator).to(visits.device) < self.reinit_prob) | (visits == 0)
        fresh = x_a.detach()[torch.randint(0, x.shape[0], (m,), generator=generator).to(x.device)]  # (m, *event)
        start = torch.where(restart.to(x.device).reshape(-1, *([1] * len(self.event_shape))), fresh, start)
        visits = torch.where(restart, torch.zeros_like(visits), visits)
        x_neg = self.sgld(net, start, visits.to(x), z_b.detach(), generator)
        z_neg = _without_buffer_updates(net, x_neg)
        with torch.no_grad():
            self.replay[idx] = x_neg.to(self.replay)
            self.visits[idx] = visits + 1
        return self.loss(z_a, z_b, z_neg)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}, λ2={self.generative_weight:g}, λ1={self.l2_weight:g}, sgld_steps={self.sgld_steps}, buffer={self.replay.shape[0]}"
