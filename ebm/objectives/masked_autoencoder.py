"""Masked autoencoder: hide random patches, reconstruct them, score only the hidden ones.

The "off-manifold to on-manifold" family: a masked input is pushed off the data manifold and the
network learns to bring it back. For an image ``x`` cut into ``P`` patches, a random mask ``m``
hides ``M = round(r P)`` of them (``r`` the mask ratio); masked pixels are replaced by a learned mask
token ``τ`` and the autoencoder reconstructs the image. The loss reads the masked pixels only:

    x̃ = (1 - m) ⊙ x + m ⊙ τ,      x̂ = d(e(x̃))
    ℓ(x, m) = Σ_p m_p (x_p - x̂_p)² / Σ_p m_p                 (mean squared error on masked pixels)
    L = mean_i ℓ(x_i, m_i),       m_i drawn uniformly among the masks with M hidden patches

With ``norm_pix`` the target of each patch is its pixels standardised by the patch's own mean and
standard deviation (MAE's best setting). As a latent-variable / denoising energy, the mask is the
latent variable and the energy is the expected masked-reconstruction error

    E(x) = E_m[ℓ(x, m)]

(exact by enumeration when there are few masks, e.g. the 2-D toy where the mask hides one of two
coordinates: ``E(x₁, x₂) = ½[(x₁ - x̂₁(x₂))² + (x₂ - x̂₂(x₁))²]``; Monte Carlo otherwise).

Simplification at this scale: MAE's ViT encoder sees only the visible patches; here the
encoder is any MLP (or the model's ``encode``) that sees the whole image with mask tokens in the
hidden places, as BERT does with its [MASK] token and SimMIM does for images.

References: He, Chen, Xie, Li, Dollár & Girshick (2022), "Masked Autoencoders Are Scalable Vision
Learners", arXiv:2111.06377 (random patch masking, loss on masked patches only, normalised
pixel targets); Devlin, Chang, Lee & Toutanova (2019), "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", arXiv:1810.04805 (masked-token prediction with a [MASK]
token); Vincent et al. (2008) for the denoising view.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_generator, check_int, check_probability, energy_reference_tensor, format_error
from ebm.objectives._common import check_batch
from ebm.registry import register_objective

__all__ = ["MaskedAutoencoder", "patch_mask", "masked_reconstruction_error", "patch_normalise"]


def _patch_grid(image_shape: tuple[int, int], patch_size: int) -> tuple[int, int]:
    h, w = image_shape
    if h % patch_size or w % patch_size:
        raise ValueError(format_error("patch_size", f"a divisor of both image sides {image_shape}", f"{patch_size}", "pick a patch size that tiles the image (e.g. 2 or 4 for 8×8)"))
    return h // patch_size, w // patch_size


def _expand(patch_mask_: Tensor, patch_size: int) -> Tensor:
    """``(n, gh, gw)`` patch mask → ``(n, gh * p, gw * p)`` pixel mask."""
    return patch_mask_.repeat_interleave(patch_size, 1).repeat_interleave(patch_size, 2)


def patch_mask(n: int, image_shape: tuple[int, int], patch_size: int, mask_ratio: float, *, generator: torch.Generator | None = None, device=None) -> Tensor:
    """``n`` random masks, each hiding exactly ``M = round(r P)`` of the ``P`` patches (at least 1).

    As in MAE, every image gets its own uniformly random subset of patches (a random permutation of
    the patches, the first ``M`` hidden).

    Args:
        n: number of masks.
        image_shape: ``(H, W)``.
        patch_size: side p of the square patches (divides H and W).
        mask_ratio: r in (0, 1).
        generator: random generator for the subsets.
        device: where the mask lives.

    Returns:
        ``(n, H, W)`` bool, True on hidden pixels (whole patches).
    """
    gh, gw = _patch_grid(image_shape, patch_size)
    n_patches = gh * gw
    hidden = _n_hidden(n_patches, mask_ratio)
    order = torch.rand(n, n_patches, generator=generator).argsort(dim=1)  # (n, P) random permutations
    mask = torch.zeros(n, n_patches, dtype=torch.bool)
    mask.scatter_(1, order[:, :hidden], True)
    return _expand(mask.view(n, gh, gw), patch_size).to(device)  # (n, H, W)


def _n_hidden(n_patches: int, mask_ratio: float) -> int:
    return min(max(round(mask_ratio * n_patches), 1), n_patches - 1) if n_patches > 1 else 1


def patch_normalise(x: Tensor, image_shape: tuple[int, int], patch_size: int, eps: float = 1e-6) -> Tensor:
    """MAE's normalised-pixel target: each patch minus its mean, over its std; ``(n, H*W) → (n, H*W)``.

    The standard deviation is the biased one (``unbiased=False``); ``eps`` guards flat patches.
    """
    h, w = image_shape
    gh, gw = _patch_grid(image_shape, patch_size)
    p = patch_size
    patches = x.reshape(-1, gh, p, gw, p).permute(0, 1, 3, 2, 4).reshape(-1, gh, gw, p * p)  # (n, gh, gw, p²)
    mean = patches.mean(-1, keepdim=True)
    var = patches.var(-1, keepdim=True, unbiased=False)
    patches = (patches - mean) / (var + eps).sqrt()
    return patches.reshape(-1, gh, gw, p, p).permute(0, 1, 3, 2, 4).reshape(x.shape[0], h * w)  # (n, H*W)


def masked_reconstruction_error(x: Tensor, reconstruction: Tensor, mask: Tensor) -> Tensor:
    """``Σ_p m_p (x_p - x̂_p)² / Σ_p m_p`` per row: ``x, reconstruction (n, D)``, ``mask (n, D)`` bool → ``(n,)``."""
    m = mask.to(x.dtype)
    return ((x - reconstruction).pow(2) * m).sum(-1) / m.sum(-1).clamp(min=1)


def _example(norm_pix: bool = False):
    from ebm.energies.autoencoders import AutoencoderEnergy

    model = AutoencoderEnergy(16, 3, hidden=8, generator=torch.Generator().manual_seed(0))
    x = torch.rand(6, 16, generator=torch.Generator().manual_seed(1))
    return MaskedAutoencoder((4, 4), 2, mask_ratio=0.5, norm_pix=norm_pix), (model, x)


def _call(make_x, **kwargs):
    mae, (model, x) = _example()
    return MaskedAutoencoder((4, 4), 2, **kwargs)(model, make_x(x)) if kwargs else mae(model, make_x(x))


@register_objective(
    "masked_autoencoder",
    example=_example,
    bad_inputs=[
        (lambda: _call(lambda x: x[:, :15]), ValueError, "batch"),
        (lambda: _call(lambda x: x.reshape(6, 4, 4)), ValueError, "batch"),
        (lambda: MaskedAutoencoder((8, 8), 3), ValueError, "patch_size"),
        (lambda: MaskedAutoencoder((8, 8), 2, mask_ratio=1.0), ValueError, "mask_ratio"),
        (lambda: MaskedAutoencoder((8, 8), 2)(object(), torch.zeros(4, 64)), TypeError, "model"),
    ],
)
class MaskedAutoencoder(nn.Module):
    """The MAE objective ``objective(model, batch, generator)`` and its energy ``E(x) = E_m[ℓ(x, m)]``.

    The model is an autoencoder with ``encode``/``decode`` (e.g. `ebm.energies.AutoencoderEnergy`),
    or, when ``decoder`` is given, an encoder (a module, or a `JointEmbeddingEnergy` whose ``f`` is
    used) whose output the objective's decoder maps back to pixels. The mask token ``τ (H*W,)`` is a
    parameter of this objective (trained by `ebm.train` with the model).

    Args:
        image_shape: ``(H, W)`` of one image; inputs are flat ``(n, H*W)``.
        patch_size: side p of the square patches (divides H and W).
        mask_ratio: fraction r in (0, 1) of patches hidden (MAE: 0.75).
        norm_pix: reconstruct per-patch normalised pixels (`patch_normalise`).
        decoder: optional decoder module ``(n, k) → (n, H*W)`` when the model is only an encoder.

    Shapes: ``forward(model, x)``: ``x (n, H*W)`` → scalar; ``energy(model, x)`` → ``(n,)``.

    Raises:
        ValueError: a patch size that does not tile the image, a ratio outside (0, 1), a batch that
            is not ``(n, H*W)``. TypeError: a model without ``encode``/``decode`` and no ``decoder``.

    Example:
        >>> mae = MaskedAutoencoder((8, 8), 2, mask_ratio=0.5)
        >>> train(AutoencoderEnergy(64, 16), mae, x_digits, epochs=20, generator=g)
    """

    def __init__(self, image_shape=(8, 8), patch_size: int = 2, *, mask_ratio: float = 0.75, norm_pix: bool = False, decoder: nn.Module | None = None):
        super().__init__()
        if not (isinstance(image_shape, (tuple, list, torch.Size)) and len(image_shape) == 2):
            raise ValueError(format_error("image_shape", "(H, W)", repr(image_shape), "pass image_shape=(8, 8)"))
        self.image_shape = (check_int("image_shape[0]", image_shape[0], minimum=1), check_int("image_shape[1]", image_shape[1], minimum=1))
        self.patch_size = check_int("patch_size", patch_size, minimum=1)
        gh, gw = _patch_grid(self.image_shape, self.patch_size)
        if gh * gw < 2:
            raise ValueError(format_error("patch_size", "at least two patches (one to see, one to hide)", f"one {patch_size}×{patch_size} patch", "use smaller patches"))
        self.mask_ratio = check_probability("mask_ratio", mask_ratio)
        self.norm_pix = bool(norm_pix)
        if decoder is not None and not isinstance(decoder, nn.Module):
            raise TypeError(format_error("decoder", "an nn.Module (n, k) -> (n, H*W)", type(decoder).__name__, "pass nn.Sequential(nn.Linear(k, 256), nn.ReLU(), nn.Linear(256, H*W))"))
        self.decoder = decoder
        self.mask_token = nn.Parameter(torch.zeros(self.image_shape[0] * self.image_shape[1]))

    @property
    def n_patches(self) -> int:
        gh, gw = _patch_grid(self.image_shape, self.patch_size)
        return gh * gw

    def _encode_decode(self, model):
        if self.decoder is not None:
            from ebm.energies.joint import JointEmbeddingEnergy

            f = model.f if isinstance(model, JointEmbeddingEnergy) else model
            if not isinstance(f, nn.Module):
                raise TypeError(format_error("model", "an encoder nn.Module", type(model).__name__, "pass the encoder the decoder reads from"))
            return f, self.decoder
        if not (hasattr(model, "encode") and hasattr(model, "decode")):
            raise TypeError(format_error("model", "an autoencoder with encode/decode (or give MaskedAutoencoder a decoder)", type(model).__name__, "pass an ebm.energies.AutoencoderEnergy, or decoder=..."))
        return model.encode, model.decode

    def _check(self, model, x) -> Tensor:
        d = self.image_shape[0] * self.image_shape[1]
        check_energy_input("batch", x, (d,), self.mask_token)
        if x.dim() != 2:
            raise ValueError(format_error("batch", f"flat images (n, {d})", f"shape {tuple(x.shape)}", f"flatten: x.reshape(-1, {d})"))
        check_batch("batch", x)
        ref = energy_reference_tensor(model) if isinstance(model, nn.Module) else None
        if ref is not None and (ref.dtype != x.dtype or ref.device != x.device):
            raise TypeError(format_error("model", f"parameters in {x.dtype} on {x.device} (the data's)", f"{ref.dtype} on {ref.device}", "move the model and this objective together: model.to(x), objective.to(x)"))
        return x

    def reconstruction_error(self, model, x: Tensor, mask: Tensor) -> Tensor:
        """``ℓ(x, m)`` per row for given pixel masks ``mask (n, H*W)`` (or ``(n, H, W)``) → ``(n,)``."""
        encode, decode = self._encode_decode(model)
        m = mask.reshape(x.shape[0], -1)  # (n, H*W)
        x_tilde = torch.where(m, self.mask_token.expand_as(x), x)  # (n, H*W)
        reconstruction = decode(encode(x_tilde))  # (n, H*W)
        target = patch_normalise(x, self.image_shape, self.patch_size) if self.norm_pix else x
        return masked_reconstruction_error(target, reconstruction, m)

    def forward(self, model, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self._encode_decode(model)
        x = self._check(model, batch)
        check_generator("generator", generator)
        mask = patch_mask(x.shape[0], self.image_shape, self.patch_size, self.mask_ratio, generator=generator, device=x.device)
        return self.reconstruction_error(model, x, mask).mean()

    def all_masks(self) -> Tensor:
        """Every mask with ``M`` hidden patches, ``(C(P, M), H, W)`` bool (use only when few)."""
        gh, gw = _patch_grid(self.image_shape, self.patch_size)
        hidden = _n_hidden(self.n_patches, self.mask_ratio)
        rows = []
        for subset in itertools.combinations(range(self.n_patches), hidden):
            m = torch.zeros(self.n_patches, dtype=torch.bool)
            m[list(subset)] = True
            rows.append(m)
        return _expand(torch.stack(rows).view(-1, gh, gw), self.patch_size)  # (K, H, W)

    def energy(self, model, x: Tensor, *, n_masks: int = 64, generator: torch.Generator | None = None) -> Tensor:
        """``E(x) = E_m[ℓ(x, m)]``: exact over all masks when there are at most ``n_masks`` of them,
        else the mean over ``n_masks`` random masks per row; ``x (n, H*W)`` → ``(n,)``."""
        self._encode_decode(model)
        x = self._check(model, x)
        n_masks = check_int("n_masks", n_masks, minimum=1)
        check_generator("generator", generator)
        n, d = x.shape
        total = math.comb(self.n_patches, _n_hidden(self.n_patches, self.mask_ratio))
        if total <= n_masks:
            masks = self.all_masks().to(x.device).reshape(total, d)  # (K, D)
            k = total
            masks = masks.unsqueeze(0).expand(n, k, d)  # (n, K, D): the same K masks for every row
        else:
            k = n_masks
            masks = patch_mask(n * k, self.image_shape, self.patch_size, self.mask_ratio, generator=generator, device=x.device).reshape(n, k, d)  # (n, K, D)
        xs = x.unsqueeze(1).expand(n, k, d).reshape(n * k, d)  # (n K, D)
        return self.reconstruction_error(model, xs, masks.reshape(n * k, d)).reshape(n, k).mean(1)  # (n,)

    def extra_repr(self) -> str:
        return f"image_shape={self.image_shape}, patch_size={self.patch_size}, mask_ratio={self.mask_ratio:g}, norm_pix={self.norm_pix}"
