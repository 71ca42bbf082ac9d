"""Training losses of the regularised autoencoders (the energy is the reconstruction error).

    plain        L = mean ‖x - d(e(x))‖²
    denoising    L = mean ‖x - d(e(x + σε))‖²,  ε ~ N(0, I)          (Vincent et al. 2008)
    contractive  L = mean ‖x - d(e(x))‖² + λ ‖∂e(x)/∂x‖²_F           (Rifai et al. 2011)
    sparse       L = mean ‖x - d(e(x))‖² + λ ‖e(x)‖₁                 (Ranzato et al. 2007)

Each is a callable ``(model, batch, generator=None) -> scalar`` for `ebm.train.train`; the model is
an `ebm.energies.AutoencoderEnergy` (anything with ``encode``/``decode``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm._validation import check_generator, check_nonnegative, check_positive, check_tensor, format_error
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["ReconstructionLoss", "DenoisingLoss", "ContractiveLoss", "SparseCodeLoss", "encoder_jacobian_norm"]


def _check(model, batch):
    if not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise TypeError(format_error("model", "an autoencoder with encode/decode", type(model).__name__, "pass an ebm.energies.AutoencoderEnergy"))
    check_tensor("batch", batch, min_ndim=2, floating=True)
    check_batch("batch", batch)
    check_tensor("batch", batch, finite=True)


def _rec(model, clean: Tensor, code: Tensor) -> Tensor:
    return (clean - model.decode(code)).pow(2).sum(-1)  # (n,)


def encoder_jacobian_norm(model, x: Tensor) -> Tensor:
    """``‖∂e(x)/∂x‖²_F`` per row, ``(*batch,)``, exactly: one backward pass per code unit (k passes).

    Args:
        model: an autoencoder with ``encode: (*batch, f) -> (*batch, k)``.
        x: inputs ``(*batch, f)``; any number of batch dimensions (rows are independent).

    The graph is kept (create_graph) so the penalty trains the encoder.
    """
    x = x.detach().requires_grad_(True)
    code = model.encode(x)  # (*batch, k)
    total = x.new_zeros(x.shape[:-1])  # (*batch,)
    for j in range(code.shape[-1]):
        (g,) = torch.autograd.grad(code[..., j].sum(), x, create_graph=True)  # unit j of every row at once; rows are independent
        total = total + g.pow(2).sum(-1)
    return total


def _ae_example(loss):
    def make():
        from ebm.energies.autoencoders import AutoencoderEnergy

        model = AutoencoderEnergy(2, 3, hidden=8, code_activation="sigmoid", generator=torch.Generator().manual_seed(0))
        return loss, (model, torch.randn(16, 2, generator=torch.Generator().manual_seed(1)))

    return make


def _bad(loss):
    return [
        (lambda: loss(object(), torch.zeros(4, 2)), TypeError, "model"),
        (lambda: _ae_example(loss)()[0](_ae_example(loss)()[1][0], torch.zeros(4, 2).long()), TypeError, "batch"),
    ]


class ReconstructionLoss:
    """``L = mean ‖x - d(e(x))‖²`` (no regulariser: can learn a flat energy if the code is big).

    Reference: LeCun et al. (2006), §6.

    Example:
        >>> loss = ReconstructionLoss()(AutoencoderEnergy(2, 1), torch.randn(8, 2))
    """

    def __call__(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        _check(model, batch)
        return _rec(model, batch, model.encode(batch)).mean()


class DenoisingLoss:
    """``L = mean ‖x - d(e(x + σε))‖²``, ε ~ N(0, I) drawn with ``generator``.

    Reference: Vincent et al. (2008), ICML.

    Args:
        noise_std: σ > 0.

    Example:
        >>> loss = DenoisingLoss(0.3)(DenoisingAutoencoderEnergy(2, 8), torch.randn(8, 2))
    """

    def __init__(self, noise_std: float = 0.3):
        self.noise_std = check_positive("noise_std", noise_std)

    def __call__(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        _check(model, batch)
        check_generator("generator", generator)
        noise = torch.randn(batch.shape, generator=generator, dtype=batch.dtype).to(batch.device)
        return _rec(model, batch, model.encode(batch + self.noise_std * noise)).mean()


class ContractiveLoss:
    """``L = mean ‖x - d(e(x))‖² + λ ‖∂e/∂x‖²_F``.

    Reference: Rifai et al. (2011), ICML.

    Args:
        penalty: λ >= 0.

    Example:
        >>> loss = ContractiveLoss(0.1)(ContractiveAutoencoderEnergy(2, 8), torch.randn(8, 2))
    """

    def __init__(self, penalty: float = 0.1):
        self.penalty = check_nonnegative("penalty", penalty)

    def __call__(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        _check(model, batch)
        rec = _rec(model, batch, model.encode(batch))
        return (rec + self.penalty * encoder_jacobian_norm(model, batch)).mean()


class SparseCodeLoss:
    """``L = mean ‖x - d(e(x))‖² + λ ‖e(x)‖₁``.

    Reference: Ranzato et al. (2007), NeurIPS.

    Args:
        sparsity: λ >= 0.

    Example:
        >>> loss = SparseCodeLoss(0.1)(SparseAutoencoderEnergy(2, 16), torch.randn(8, 2))
    """

    def __init__(self, sparsity: float = 0.1):
        self.sparsity = check_nonnegative("sparsity", sparsity)

    def __call__(self, model, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        _check(model, batch)
        code = model.encode(batch)
        return (_rec(model, batch, code) + self.sparsity * code.abs().sum(-1)).mean()


# Registered after the classes exist, because each example builds an instance.
register_objective("reconstruction", example=_ae_example(ReconstructionLoss()), bad_inputs=_bad(ReconstructionLoss()))(ReconstructionLoss)
register_objective("denoising_autoencoder", example=_ae_example(DenoisingLoss(0.3)), bad_inputs=[*_bad(DenoisingLoss(0.3)), (lambda: DenoisingLoss(0.0), ValueError, "noise_std")])(DenoisingLoss)
register_objective("contractive_autoencoder", example=_ae_example(ContractiveLoss(0.1)), bad_inputs=[*_bad(ContractiveLoss(0.1)), (lambda: ContractiveLoss(-1.0), ValueError, "penalty")])(ContractiveLoss)
register_objective("sparse_autoencoder", example=_ae_example(SparseCodeLoss(0.1)), bad_inputs=[*_bad(SparseCodeLoss(0.1)), (lambda: SparseCodeLoss(-1.0), ValueError, "sparsity")])(SparseCodeLoss)
