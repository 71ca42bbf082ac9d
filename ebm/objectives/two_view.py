"""Two-view training task: augment a batch twice, encode, and apply a joint-embedding loss.

`ebm.train.train` calls ``objective(model, batch, generator=)``; this adapter turns any loss of
this package into such an objective. The model is a `JointEmbeddingEnergy` (its encoder ``f`` is
trained) or a bare encoder module. What is fed to the loss depends on the method:

    pair       loss(h(x_a), h(x_b))                           InfoNCE, DCL(W), RPC, VICReg, VCReg, Barlow
                                                              Twins, W-MSE, TiCo, SwAV, DeepCluster, MMCR,
                                                              KoLeo, SIGReg, LeJEPA, EMP-SSL, FroSSL, CC
    indexed    loss(h(x_a), h(x_b), index)                    PIRL (batch = (x, index))
    query_key  loss(h(x_a), h_ema(x_b))                       MoCo, MSN (anchors, EMA targets), PCL
    predict    loss(q(h(x_a)), t(x_b), q(h(x_b)), t(x_a))     BYOL (t = EMA target), SimSiam (t = h)
    distill    loss(h(x_a), h_ema(x_b), h(x_b), h_ema(x_a))   DINO, ProPos (+ generator)
    regress    ½[loss(q(h(x_a)), h_ema(x_b)) + loss(q(h(x_b)), h_ema(x_a))]   data2vec-style

with ``h = head ∘ f`` (``head`` optional: a projector or DINO's prototype head), ``q`` an optional
predictor and ``h_ema`` an `EMATarget` of ``h`` updated before each step (cosine schedule when it
has ``total_steps``). The predictor, head, target and loss are sub-modules of this objective, so
`ebm.train` optimises their parameters and checkpoints their buffers.

Example:
    >>> energy = JointEmbeddingEnergy(encoder, event_shape=(64,))
    >>> task = TwoViewObjective(VICReg(), DigitAugment())
    >>> ebm.train.train(energy, task, x_train, epochs=20, batch_size=256, generator=g)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, format_error
from ebm.objectives._common import trained_encoder
from ebm.objectives.byol import BYOL, SimSiam
from ebm.objectives.data2vec import Data2Vec
from ebm.objectives.dino import DINO
from ebm.objectives.lejepa import LeJEPA, SIGReg
from ebm.objectives.moco import MoCo
from ebm.objectives.momentum import EMATarget
from ebm.objectives.msn import MSN
from ebm.objectives.pcl import PCL
from ebm.objectives.pirl import PIRL
from ebm.objectives.propos import ProPos
from ebm.objectives.wmse import WMSE

__all__ = ["TwoViewObjective"]

_MODES = ("pair", "indexed", "query_key", "predict", "distill", "regress")
_DEFAULT_MODE = {PIRL: "indexed", MoCo: "query_key", MSN: "query_key", PCL: "query_key", ProPos: "distill", BYOL: "predict", SimSiam: "predict", DINO: "distill", Data2Vec: "regress"}
_NEEDS_TARGET = {"query_key", "distill", "regress"}


class TwoViewObjective(nn.Module):
    """``objective(model, batch, generator)`` for `ebm.train`: two augmentations through a joint-embedding loss.

    Args:
        loss: a loss from `ebm.objectives` (InfoNCE, VICReg, BYOL, ...).
        augment: callable ``augment(x, generator) -> x'`` (e.g. `ebm.augment.DigitAugment`).
        head: optional module after the encoder (projector / DINO head).
        predictor: optional predictor ``q`` (BYOL, SimSiam, data2vec).
        target: optional `EMATarget` of ``head ∘ f`` (MoCo, BYOL, DINO, data2vec). It is passed in
            rather than built lazily, so a checkpoint's layout is fixed before training starts.
        mode: override the input mode (see the module docstring); default from the loss type.

    Shapes: ``batch``: ``x (n, *event)`` or ``(x, index)`` with ``index (n,)`` long → scalar loss.

    Raises:
        ValueError: a mode that needs a target without one, a predict mode without a predictor,
            or an indexed loss without indices.
    """

    def __init__(self, loss: nn.Module, augment, *, head: nn.Module | None = None, predictor: nn.Module | None = None, target: EMATarget | None = None, mode: str | None = None):
        super().__init__()
        self.mode = check_choice("mode", mode or _DEFAULT_MODE.get(type(loss), "pair"), _MODES)
        if self.mode in _NEEDS_TARGET and target is None:
            raise ValueError(format_error("target", f"an EMATarget for the {self.mode!r} mode ({type(loss).__name__})", "None", "pass target=EMATarget(nn.Sequential(encoder, head)) or EMATarget(encoder)"))
        if self.mode in ("predict", "regress") and predictor is None:
            raise ValueError(format_error("predictor", f"a predictor module for {type(loss).__name__}", "None", "pass predictor=nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, d))"))
        if target is not None and not isinstance(target, EMATarget):
            raise TypeError(format_error("target", "an ebm.objectives.EMATarget", type(target).__name__, "wrap the network: EMATarget(online)"))
        self.loss = loss
        self.augment = augment
        self.head = head
        self.predictor = predictor
        self.target = target

    encoder_of = staticmethod(trained_encoder)  # model.f of a JointEmbeddingEnergy, else the model

    def online(self, model: nn.Module) -> nn.Module:
        """``head ∘ f`` as one module (the network an EMATarget follows)."""
        f = self.encoder_of(model)
        return f if self.head is None else nn.Sequential(f, self.head)

    def data_event_shape(self, model: nn.Module) -> torch.Size | None:
        """Shape of one training example for `ebm.train`'s data check: one view, ``model.x_event_shape``."""
        return getattr(model, "x_event_shape", None)

    def forward(self, model: nn.Module, batch, generator: torch.Generator | None = None) -> Tensor:
        index = None
        if isinstance(batch, (tuple, list)):
            x = batch[0]
            index = batch[1] if len(batch) > 1 else None
        else:
            x = batch
        if self.mode == "indexed" and index is None:
            raise ValueError(format_error("batch", "(x, index) for a memory-bank loss", "a bare tensor", "train on data=(x, torch.arange(len(x)))"))
        h = self.online(model)
        if self.target is not None and self.training:
            self.target.update(h)
        x_a, x_b = self.augment(x, generator), self.augment(x, generator)
        o_a, o_b = h(x_a), h(x_b)
        if self.mode == "pair":
            return self.loss(o_a, o_b, generator=generator) if isinstance(self.loss, (WMSE, SIGReg, LeJEPA)) else self.loss(o_a, o_b)
        if self.mode == "indexed":
            return self.loss(o_a, o_b, index)
        if self.mode == "query_key":
            return self.loss(o_a, self.target(x_b))
        if self.mode == "distill":
            extra = {"generator": generator} if isinstance(self.loss, ProPos) else {}  # ProPos's positive-sampling noise
            return self.loss(o_a, self.target(x_b), o_b, self.target(x_a), **extra)
        p_a, p_b = self.predictor(o_a), self.predictor(o_b)
        if self.mode == "predict":
            t_a, t_b = (self.target(x_a), self.target(x_b)) if self.target is not None else (o_a, o_b)
            return self.loss(p_a, t_b, p_b, t_a)
        return 0.5 * (self.loss(p_a, self.target(x_b)) + self.loss(p_b, self.target(x_a)))
