"""JEM: train a classifier as the energy ``E(x) = -logsumexp_y f(x)[y]`` with the classification loss
plus the likelihood of its inputs, the model's negatives drawn by SGLD from a replay buffer.

    log p(x, y) = log p(y | x) + log p(x)
    L = CE(f(x), y) + w · [ mean E(x⁺) - mean E(x⁻) ],   x⁻ ~ n_steps of SGLD from a replay buffer

The bracket is the contrastive-divergence surrogate of ``-log p(x)`` (its gradient is
``E_data[∇θ E] - E_model[∇θ E]``). SGLD is JEM's update ``x ← x - α ∇x E(x) + σ ξ`` (α = 1,
σ = 0.01 in the authors' code: a step far larger than the noise, i.e. Langevin at a low
temperature), run here as `samplers.ULA` with step ``ε = σ²/2`` on ``E / T`` with ``T = σ²/(2α)``,
which is the same update. Chains start from a replay buffer of past negatives (size 10,000) and
restart from uniform noise over the data's range with probability 0.05 (Du & Mordatch 2019); the
buffer is `ContrastiveDivergence`'s (a registered buffer, so it travels with checkpoints).
The authors' defaults (code, ``train_wrn_ebm.py``): buffer 10,000, reinitialisation 5%, α = 1,
σ = 0.01, 20 SGLD steps, Gaussian input noise 0.03; this module defaults to 20 steps too and
examples at 8×8-digit scale use fewer (stated where used).

``generative_weight = 0`` is the plain classifier (cross-entropy only): the baseline on the same
network.

Reference: Grathwohl, Wang, Jacobsen, Duvenaud, Norouzi & Swersky (2020), "Your Classifier is
Secretly an Energy Based Model and You Should Treat it Like One", ICLR, arXiv:1912.03263;
replay buffer: Du & Mordatch (2019), arXiv:1903.08689.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ebm._validation import check_int, check_nonnegative, check_positive, check_probability, check_tensor, format_error, trusted_inputs
from ebm.energies.jem import ClassifierEnergy, check_labels
from ebm.objectives._common import check_batch
from ebm.objectives.contrastive_divergence import ContrastiveDivergence
from ebm.registry import register_objective

__all__ = ["JEM", "SGLD"]


class SGLD:
    """JEM's stochastic-gradient Langevin step ``x ← x - α ∇x E(x) + σ ξ`` as a sampler.

    Identical to `samplers.ULA` with step ``ε = σ²/2`` on the tempered energy ``E / T``,
    ``T = σ² / (2α)`` (ULA: ``x - (ε/T) ∇E + √(2ε) ξ``), which is how it runs.

    Args:
        step_size: ``α > 0`` (JEM: 1). noise: ``σ > 0`` (JEM: 0.01).
        clamp: optional ``(low, high)`` box the states are clamped into after each step.

    Example:
        >>> from ebm.energies import ClassifierEnergy
        >>> SGLD(1.0, 0.01).run(ClassifierEnergy(4, 3), torch.rand(8, 4), 5).x.shape
        torch.Size([8, 4])
    """

    def __init__(self, step_size: float = 1.0, noise: float = 0.01, *, clamp: tuple[float, float] | None = None):
        from samplers import ULA

        self.step_size = check_positive("step_size", step_size)
        self.noise = check_positive("noise", noise)
        self.temperature = self.noise**2 / (2 * self.step_size)
        self.ula = ULA(self.noise**2 / 2, clamp=clamp, compile=False)  # eager: short chains, many calls

    def run(self, energy, x0: Tensor, n_steps: int, *, generator: torch.Generator | None = None):
        """``n_steps`` SGLD steps from ``x0 (n, *event_shape)``; the result's ``x`` holds the final states.

        ULA's "ran away" warning (energy change above 1000 + 10·d nats *at the run's temperature*)
        is silenced: at ``T = σ²/(2α)`` (5·10⁻⁵ for JEM's defaults) it fires on ordinary moves of
        0.05 nats in ``E``. Non-finite chains still raise.
        """
        from samplers import SamplerWarning

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ran away", category=SamplerWarning)
            return self.ula.run(energy.tempered(self.temperature), x0, n_steps, generator=generator)


def _example():
    g = torch.Generator().manual_seed(0)
    model = ClassifierEnergy(4, 3, hidden=(8,), generator=g)
    x, y = torch.rand(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)
    return JEM(n_steps=2, buffer_size=16), (model, x, y)


def _call(x, y, model=None, **kw):
    model = model or ClassifierEnergy(4, 3, hidden=(8,), generator=torch.Generator().manual_seed(0))
    return JEM(n_steps=1, buffer_size=8, **kw)(model, (x, y))


@register_objective(
    "jem",
    example=_example,
    bad_inputs=[
        (lambda: JEM(n_steps=0), ValueError, "n_steps"),
        (lambda: JEM(buffer_size=0), ValueError, "buffer_size"),
        (lambda: JEM(reinit_prob=1.5), ValueError, "reinit_prob"),
        (lambda: JEM(generative_weight=-1.0), ValueError, "generative_weight"),
        (lambda: JEM(sgld_step_size=0.0), ValueError, "step_size"),
        (lambda: JEM(init_range=(1.0, 0.0)), ValueError, "init_range"),
        (lambda: JEM()(ClassifierEnergy(4, 3), torch.rand(8, 4)), TypeError, "batch"),
        (lambda: JEM()(torch.nn.Linear(4, 3), (torch.rand(8, 4), torch.zeros(8, dtype=torch.long))), TypeError, "ClassifierEnergy"),
        (lambda: _call(torch.rand(8, 4), torch.zeros(8)), TypeError, "integer"),
        (lambda: _call(torch.rand(8, 4), torch.full((8,), 3)), ValueError, "class indices"),
        (lambda: _call(torch.rand(8, 4), torch.zeros(7, dtype=torch.long)), ValueError, "one label per input"),
        (lambda: _call(torch.full((8, 4), float("nan")), torch.zeros(8, dtype=torch.long)), ValueError, "finite"),
        (lambda: _call(torch.rand(8, 5), torch.zeros(8, dtype=torch.long)), ValueError, "shape"),
        (lambda: _call(torch.rand(0, 4), torch.zeros(0, dtype=torch.long)), ValueError, "batch"),
    ],
)
class JEM(nn.Module):
    """``L = CE(f(x), y) + w (mean E(x) - mean E(x_SGLD)) [+ α (mean E(x)² + mean E(x_SGLD)²)]``.

    Train with labelled tuples: ``ebm.train(model, JEM(), (x, y))`` shuffles ``x`` and ``y``
    together and calls the objective on ``(x_batch, y_batch)``.

    Reference: Grathwohl et al. (2020), arXiv:1912.03263.

    Args:
        generative_weight: ``w >= 0`` (0: the plain classifier).
        n_steps: SGLD steps per update (JEM: 20).
        sgld_step_size: ``α > 0`` (JEM: 1). sgld_noise: ``σ > 0`` (JEM: 0.01).
        buffer_size: replay-buffer size (JEM: 10,000). reinit_prob: restart probability (JEM: 0.05).
        init_range: ``(low, high)`` of the uniform restarts and clamp box of the chains; None: the
            first batch's minimum and maximum (after the input noise).
        data_noise: standard deviation of Gaussian noise added to the training inputs (JEM: 0.03).
        energy_penalty: ``α >= 0`` of the magnitude penalty (0, as JEM).

    Call args:
        model: a `ebm.energies.ClassifierEnergy`; batch: ``(x (n, *event_shape), y (n,) int64)``
        (what `ebm.train` passes), or ``x`` with the labels as ``y``; generator: draws SGLD noise,
        restarts and the input noise.

    Returns:
        The scalar loss.

    Raises:
        TypeError: a batch that is not an ``(x, y)`` pair, a model that is not a ClassifierEnergy, non-integer labels.
        ValueError: bad hyper-parameters, an empty batch, labels out of range or misaligned, bad inputs.

    Example:
        >>> from ebm.energies import ClassifierEnergy
        >>> from ebm.data import load_digits
        >>> from ebm.train import train
        >>> x, y = load_digits("train")
        >>> history = train(ClassifierEnergy(64, 10), JEM(n_steps=5), (x, y), epochs=2, batch_size=64)
    """

    def __init__(self, generative_weight: float = 1.0, *, n_steps: int = 20, sgld_step_size: float = 1.0, sgld_noise: float = 0.01,
                 buffer_size: int = 10_000, reinit_prob: float = 0.05, init_range: tuple[float, float] | None = None,
                 data_noise: float = 0.0, energy_penalty: float = 0.0):
        super().__init__()
        self.generative_weight = check_nonnegative("generative_weight", generative_weight, fix="pass 0 for the plain classifier")
        self.n_steps = check_int("n_steps", n_steps, minimum=1)
        self.buffer_size = check_int("buffer_size", buffer_size, minimum=1)
        self.reinit_prob = check_probability("reinit_prob", reinit_prob, open_interval=False)
        self.data_noise = check_nonnegative("data_noise", data_noise)
        self.energy_penalty = check_nonnegative("energy_penalty", energy_penalty)
        if init_range is not None:
            low, high = (float(v) for v in init_range)
            if not low < high:
                raise ValueError(format_error("init_range", "a pair (low, high) with low < high", repr(init_range), "pass e.g. init_range=(0.0, 1.0)"))
        self.init_range = init_range
        self.register_buffer("init_bounds", None if init_range is None else torch.tensor([low, high]))
        self.sgld = SGLD(sgld_step_size, sgld_noise)
        self.replay = ContrastiveDivergence(self.sgld, k=self.n_steps, replay_buffer_size=self.buffer_size, reinit_prob=self.reinit_prob,
                                            noise=self._restart)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "init_bounds" in state_dict and self.init_bounds is None:
            self.init_bounds = torch.empty_like(state_dict[prefix + "init_bounds"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _restart(self, shape, generator, reference: Tensor) -> Tensor:
        """Uniform noise over ``init_bounds``: the replay buffer's restarts, ``shape``."""
        low, high = self.init_bounds.to(reference.dtype)
        return low + (high - low) * torch.rand(shape, generator=generator, dtype=reference.dtype, device=reference.device)

    def _check(self, model, batch, y) -> tuple[Tensor, Tensor]:
        if y is None:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise TypeError(format_error("batch", "a labelled pair (x, y), or x with y=...", type(batch).__name__,
                                             "train on data=(x, y): ebm.train(model, JEM(), (x, y)); or call jem(model, x, y)"))
            batch, y = batch
        x = batch
        if not isinstance(model, ClassifierEnergy):
            raise TypeError(format_error("model", "an ebm.energies.ClassifierEnergy", type(model).__name__, "wrap the classifier: ClassifierEnergy(event_shape, n_classes)"))
        check_tensor("x", x, floating=True)
        model.check_input(x)
        if x.dim() != len(model.event_shape) + 1:
            raise ValueError(format_error("x", f"one batch dimension, shape (n, {', '.join(map(str, model.event_shape))})", f"shape {tuple(x.shape)}",
                                          "flatten extra batch dimensions"))
        check_batch("x", x)
        return x, check_labels("y", y, x.shape[:1], model.n_classes, x.device)

    def forward(self, model: ClassifierEnergy, batch, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x, y = self._check(model, batch, y)
        if self.training and self.data_noise:
            x = x + self.data_noise * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        logits = model.logits(x)  # (n, K)
        loss = F.cross_entropy(logits, y)
        if self.generative_weight == 0:
            return loss
        if self.init_bounds is None:
            self.init_bounds = torch.stack([x.detach().min(), x.detach().max()]).to(torch.float32)
        self.sgld.ula.clamp = tuple(float(b) for b in self.init_bounds)  # keep the chains in the data's box
        negatives = self.replay.negatives(model, x, generator=generator)  # (n, *event_shape)
        e_pos = -torch.logsumexp(logits, dim=-1)  # (n,)
        with trusted_inputs():  # the sampler's output is valid by construction
            e_neg = model(negatives)  # (n,)
        generative = e_pos.mean() - e_neg.mean()
        if self.energy_penalty:
            generative = generative + self.energy_penalty * ((e_pos**2).mean() + (e_neg**2).mean())
        return loss + self.generative_weight * generative

    def extra_repr(self) -> str:
        return (f"generative_weight={self.generative_weight:g}, n_steps={self.n_steps}, sgld_step_size={self.sgld.step_size:g}, "
                f"sgld_noise={self.sgld.noise:g}, buffer_size={self.buffer_size}, reinit_prob={self.reinit_prob:g}")
