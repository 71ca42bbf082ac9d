"""Checks and small helpers shared by the training principles in `ebm.objectives`.

Every message is built with `format_error` (argument, expected, found, fix), like the rest of
the package. `check_batch` is the one place that refuses empty (or too small) batches: every
objective's entry check goes through it, so no loss averages over zero rows into a NaN
(`tests/test_objectives_registry.py` feeds every registered objective an empty batch). The flip helper is the one place that knows how to get ``E(x with bit i flipped) - E(x)``
for all bits at once, which ratio matching, minimum probability flow and pseudo-likelihood share.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from ebm._validation import check_tensor, format_error
from ebm.energy import Energy

__all__ = ["check_batch", "check_energy", "check_continuous_data", "check_binary_data", "flip_energy_deltas", "as_flat", "frozen", "trained_encoder"]


def check_batch(name: str, x: Tensor, *, min_batch: int = 1, why: str = "") -> Tensor:
    """Raise ValueError unless the tensor `x` has at least `min_batch` rows (dimension 0).

    A mean over an empty batch is NaN, and batch statistics (variances, covariances, in-batch
    negatives) need more than one row, so every objective checks its batch here first. `why` is
    the reason a loss needs ``min_batch > 1`` rows; it goes into the message.
    """
    rows = x.shape[0] if x.dim() > 0 else 0
    if rows >= min_batch:
        return x
    expected = "a non-empty batch (at least one row)" if min_batch <= 1 else f"a batch of at least {min_batch} rows"
    if why:
        expected += f" ({why})"
    found = f"an empty batch, shape {tuple(x.shape)}" if rows == 0 else f"{rows} row(s), shape {tuple(x.shape)}"
    fix = "skip empty batches (e.g. drop_last=False leaves none; filter before calling)" if min_batch <= 1 else "use a larger batch_size"
    raise ValueError(format_error(name, expected, found, fix))


def check_energy(energy, objective: str) -> Energy:
    """Raise TypeError unless `energy` is an `ebm.Energy`."""
    if not isinstance(energy, Energy):
        raise TypeError(
            format_error("energy", f"an ebm.Energy for {objective}", type(energy).__name__, "wrap your function in an Energy subclass (forward(x) -> (*batch,))")
        )
    return energy


def check_continuous_data(energy: Energy, x, objective: str) -> Tensor:
    """Data for a continuous objective: a floating tensor ``(batch, *event_shape)`` with finite entries."""
    if isinstance(x, Tensor) and not x.is_floating_point():
        raise TypeError(
            format_error(
                "x",
                f"real-valued (floating-point) data for {objective}",
                f"dtype {x.dtype}",
                "convert with x.float(); for binary data use RatioMatching, MinimumProbabilityFlow or PseudoLikelihood",
            )
        )
    energy.check_input(x)
    if x.dim() != len(energy.event_shape) + 1:
        raise ValueError(
            format_error("x", f"one batch dimension, shape (batch, {', '.join(map(str, energy.event_shape))})", f"shape {tuple(x.shape)}", "flatten extra batch dimensions: x.reshape(-1, *energy.event_shape)")
        )
    check_batch("x", x)
    return x


def check_binary_data(energy: Energy, x, objective: str) -> Tensor:
    """Data for a binary objective: a floating tensor ``(batch, *event_shape)`` with entries in {0, 1}."""
    check_tensor("x", x)
    if not x.is_floating_point():
        raise TypeError(format_error("x", f"{{0, 1}} data as a floating tensor for {objective}", f"dtype {x.dtype}", "convert with x.float()"))
    energy.check_input(x)
    if x.dim() != len(energy.event_shape) + 1:
        raise ValueError(
            format_error("x", f"one batch dimension, shape (batch, {', '.join(map(str, energy.event_shape))})", f"shape {tuple(x.shape)}", "flatten extra batch dimensions: x.reshape(-1, *energy.event_shape)")
        )
    check_batch("x", x)
    if not bool(((x == 0) | (x == 1)).all()):
        bad = x[(x != 0) & (x != 1)]
        raise ValueError(
            format_error(
                "x",
                f"binary data in {{0, 1}} for {objective}",
                f"{bad.numel()} entries outside {{0, 1}} (e.g. {float(bad[0]):.4g})",
                "binarise the data (e.g. (x > 0.5).float()); for real-valued data use ScoreMatching, DenoisingScoreMatching or NoiseContrastiveEstimation",
            )
        )
    return x


def as_flat(x: Tensor, event_shape: torch.Size) -> Tensor:
    """``(batch, *event_shape) -> (batch, D)`` with ``D = prod(event_shape)``."""
    return x.reshape(x.shape[0], -1)  # (batch, D)


def flip_energy_deltas(energy: Energy, x: Tensor) -> Tensor:
    """``ΔE[b, i] = E(x_b with bit i flipped) - E(x_b)`` for every bit at once, shape ``(batch, D)``.

    Uses the energy's own closed form when it offers one — ``all_flip_energy_deltas(x)`` (shape
    ``(batch, D)``) first, else ``flip_energy_deltas(x, i)`` (shape ``(batch,)``) per bit, as the
    Boltzmann machines and RBMs do — and otherwise evaluates the energy on all ``D`` one-bit
    neighbours of every row in a single batched call.

    Args:
        energy: a binary energy with event shape ``(*event_shape)``, ``D = prod(event_shape)`` bits.
        x: binary states ``(batch, *event_shape)`` (already validated).

    Returns:
        ``(batch, D)`` energy differences, differentiable in the energy's parameters.
    """
    event_shape = energy.event_shape
    flat = as_flat(x, event_shape)  # (batch, D)
    batch, d = flat.shape
    every = getattr(energy, "all_flip_energy_deltas", None)
    if every is not None:
        return every(x).reshape(batch, d)  # (batch, D)
    own = getattr(energy, "flip_energy_deltas", None)
    if own is not None:
        return torch.stack([own(x, i) for i in range(d)], dim=-1)  # (batch, D)
    # One-bit neighbours: x + (1 - 2x) e_i for every i.
    eye = torch.eye(d, dtype=flat.dtype, device=flat.device)
    flipped = flat.unsqueeze(1) + (1 - 2 * flat).unsqueeze(1) * eye  # (batch, D, D)
    both = torch.cat([flat.unsqueeze(1), flipped], dim=1).reshape(batch * (d + 1), *event_shape)  # (batch*(D+1), *event)
    energies = energy(both).reshape(batch, d + 1)  # (batch, D+1)
    return energies[:, 1:] - energies[:, :1]


class SingleFlipObjective(nn.Module):
    """Base of the objectives that compare each binary datum with its D one-bit-flip neighbours.

    Ratio matching, minimum probability flow and pseudo-likelihood all reduce to
    ``mean_batch Σ_i φ(ΔE_i(x))`` with ``ΔE_i(x) = E(x with bit i flipped) - E(x)``; subclasses
    give ``φ`` (``per_flip``) and ``name`` (used in error messages).
    """

    name = "this objective"

    def per_flip(self, deltas: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement per_flip(deltas)")

    def forward(self, energy: Energy, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_energy(energy, self.name)
        check_binary_data(energy, x, self.name)
        deltas = flip_energy_deltas(energy, x)  # (batch, D)
        return self.per_flip(deltas).sum(-1).mean()


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Build a graph in which ``module``'s parameters are constants, while gradients still flow
    through its inputs: one player's loss in an alternating game (FCE, the GAN view, the divergence
    triangle) must not move the other player's parameters."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def trained_encoder(model: nn.Module) -> nn.Module:
    """The encoder a joint-embedding objective trains: ``model.f`` for a JointEmbeddingEnergy, else the model itself."""
    from ebm.energies.joint import JointEmbeddingEnergy  # the energies import the objectives' modules

    return model.f if isinstance(model, JointEmbeddingEnergy) else model
