"""Autoencoder energies: the energy is the reconstruction error ``E(x) = ‖x - d(e(x))‖²``.

An autoencoder is a latent-variable energy with amortised inference: the encoder proposes the code
``z = e(x)`` instead of minimising over it. Left alone, a big enough autoencoder reconstructs
everything (flat, zero energy); three regularisers keep the low-energy volume small:

* denoising (Vincent et al. 2008): train ``d(e(x + σε)) ≈ x``, so off-manifold points are pulled
  back on-manifold and get high energy;
* contractive (Rifai et al. 2011): penalise ``‖∂e/∂x‖²_F``, so the code is insensitive to
  directions off the data;
* sparse (Ranzato et al. 2007): penalise ``‖e(x)‖₁``, so few codes are cheap and only few inputs
  can be reconstructed well.

The training losses live in `ebm.objectives.autoencoder`; each class names its loss in
``default_objective`` and ``fit`` (from `ebm.Energy`) trains with it through `ebm.train`.
Because inference is amortised (not a minimisation), the envelope theorem does not apply: the
free energy keeps the graph through the encoder, and only β = ∞ is defined.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_choice, check_generator, check_int, check_nonnegative, check_positive
from ebm.energies.latent import LatentEnergy
from ebm.energies._init import linear
from ebm.registry import register_energy

__all__ = ["AutoencoderEnergy", "DenoisingAutoencoderEnergy", "ContractiveAutoencoderEnergy", "SparseAutoencoderEnergy"]


def _mlp(sizes: list[int], last_activation: nn.Module | None, generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = linear(a, b, generator)  # no global-RNG draw when a generator is given
        with torch.no_grad():  # explicit generator: same init as PyTorch's default bound
            bound = 1 / math.sqrt(a)
            lin.weight.copy_((2 * torch.rand(lin.weight.shape, generator=generator) - 1) * bound)
            lin.bias.copy_((2 * torch.rand(lin.bias.shape, generator=generator) - 1) * bound)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    if last_activation is not None:
        layers.append(last_activation)
    return nn.Sequential(*layers)


def _bad(cls):
    return [
        (lambda: cls(0, 4), ValueError, "dim"),
        (lambda: cls(2, 4, hidden=0), ValueError, "hidden"),
        (lambda: cls(2, 4, code_activation="swish"), ValueError, "code_activation"),
    ]


@register_energy("autoencoder", example=lambda: AutoencoderEnergy(2, 3, hidden=8, generator=torch.Generator().manual_seed(0)), bad_params=_bad(lambda *a, **k: AutoencoderEnergy(*a, **k)))
class AutoencoderEnergy(LatentEnergy):
    """Reconstruction-error energy ``E(x) = ‖x - d(e(x))‖²`` of an MLP autoencoder (no regulariser).

    Reference: LeCun et al. (2006), §6; LeCun & Canziani (2021), NYU Deep Learning course.

    Args:
        dim: input dimension d (x has shape ``(*batch, d)``).
        n_latent: code dimension k.
        hidden: width of the single hidden layer of encoder and decoder.
        code_activation: 'identity', 'tanh', 'sigmoid' or 'relu' applied to the code.
        generator: random generator for the initial weights.

    Raises:
        ValueError: non-positive sizes or an unknown activation.

    Example:
        >>> model = AutoencoderEnergy(2, 8, generator=torch.Generator().manual_seed(0))
        >>> model(torch.zeros(3, 2)).shape
        torch.Size([3])
    """

    _ACTIVATIONS = {"identity": None, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}
    default_code_activation = "identity"

    input_methods = LatentEnergy.input_methods + ("encode",)

    def __init__(self, dim: int, n_latent: int, *, hidden: int = 64, code_activation: str | None = None, generator: torch.Generator | None = None):
        dim = check_int("dim", dim, minimum=1)
        n_latent = check_int("n_latent", n_latent, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        code_activation = check_choice("code_activation", code_activation or self.default_code_activation, tuple(self._ACTIVATIONS))
        check_generator("generator", generator)
        super().__init__((dim,))
        act = self._ACTIVATIONS[code_activation]
        self.encoder = _mlp([dim, hidden, n_latent], act() if act else None, generator)
        self.decoder = _mlp([n_latent, hidden, dim], None, generator)

    def encode(self, x: Tensor) -> Tensor:
        """``e(x)``: ``(*batch, d)`` -> ``(*batch, k)``."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """``d(z)``: ``(*batch, k)`` -> ``(*batch, d)``."""
        return self.decoder(z)

    def joint_energy(self, x: Tensor, z: Tensor) -> Tensor:
        """``‖x - d(z)‖²``: x ``(*batch, d)``, z ``(*batch, k)`` -> ``(*batch,)``."""
        return (x - self.decode(z)).pow(2).sum(-1)

    def infer(self, x: Tensor) -> Tensor:
        """The amortised code ``e(x)``, ``(*batch, k)``."""
        return self.encode(x)

    def free_energy(self, x: Tensor, beta: float | None = None) -> Tensor:
        """Reconstruction error ``‖x - d(e(x))‖²``, ``(*batch,)``, differentiable through the encoder."""
        beta = self.beta if beta is None else self._check_beta(beta)
        if beta != math.inf:
            return self._free_energy_at(x, beta)  # raises: amortised inference has no finite-β form
        return self.joint_energy(x, self.encode(x))

    default_objective = "reconstruction"  # resolved by ebm.train.fit through ebm.registry.OBJECTIVES
    fit_defaults = {"epochs": 100, "batch_size": 128, "lr": 1e-3}


@register_energy("denoising_autoencoder", example=lambda: DenoisingAutoencoderEnergy(2, 3, hidden=8, generator=torch.Generator().manual_seed(0)), bad_params=[*_bad(lambda *a, **k: DenoisingAutoencoderEnergy(*a, **k)), (lambda: DenoisingAutoencoderEnergy(2, 3, noise_std=0.0), ValueError, "noise_std")])
class DenoisingAutoencoderEnergy(AutoencoderEnergy):
    """Denoising autoencoder energy; trained on ``‖x - d(e(x + σε))‖²``, ε ~ N(0, I).

    Reference: Vincent, Larochelle, Bengio & Manzagol (2008), "Extracting and composing robust
    features with denoising autoencoders".

    Args:
        dim, n_latent, hidden, code_activation, generator: as `AutoencoderEnergy`.
        noise_std: corruption σ > 0 used in training.
    """

    def __init__(self, dim: int, n_latent: int, *, noise_std: float = 0.3, **kwargs):
        noise_std = check_positive("noise_std", noise_std)
        super().__init__(dim, n_latent, **kwargs)
        self.noise_std = noise_std

    default_objective = "denoising_autoencoder"

    def default_objective_options(self) -> dict:
        return {"noise_std": self.noise_std}


@register_energy("contractive_autoencoder", example=lambda: ContractiveAutoencoderEnergy(2, 3, hidden=8, generator=torch.Generator().manual_seed(0)), bad_params=[*_bad(lambda *a, **k: ContractiveAutoencoderEnergy(*a, **k)), (lambda: ContractiveAutoencoderEnergy(2, 3, penalty=-1.0), ValueError, "penalty")])
class ContractiveAutoencoderEnergy(AutoencoderEnergy):
    """Contractive autoencoder energy; trained on ``‖x - d(e(x))‖² + λ‖∂e/∂x‖²_F``.

    Reference: Rifai, Vincent, Muller, Glorot & Bengio (2011), "Contractive auto-encoders: explicit
    invariance during feature extraction".

    Args:
        dim, n_latent, hidden, generator: as `AutoencoderEnergy` (code activation default 'sigmoid', as in the paper).
        penalty: λ >= 0.
    """

    default_code_activation = "sigmoid"

    def __init__(self, dim: int, n_latent: int, *, penalty: float = 0.1, **kwargs):
        penalty = check_nonnegative("penalty", penalty)
        super().__init__(dim, n_latent, **kwargs)
        self.penalty = penalty

    default_objective = "contractive_autoencoder"

    def default_objective_options(self) -> dict:
        return {"penalty": self.penalty}


@register_energy("sparse_autoencoder", example=lambda: SparseAutoencoderEnergy(2, 3, hidden=8, generator=torch.Generator().manual_seed(0)), bad_params=[*_bad(lambda *a, **k: SparseAutoencoderEnergy(*a, **k)), (lambda: SparseAutoencoderEnergy(2, 3, sparsity=-1.0), ValueError, "sparsity")])
class SparseAutoencoderEnergy(AutoencoderEnergy):
    """Sparse autoencoder energy; trained on ``‖x - d(e(x))‖² + λ‖e(x)‖₁`` with an overcomplete ReLU code.

    Reference: Ranzato, Poultney, Chopra & LeCun (2007), "Efficient learning of sparse
    representations with an energy-based model".

    Args:
        dim, n_latent, hidden, generator: as `AutoencoderEnergy` (code activation default 'relu').
        sparsity: λ >= 0.
    """

    default_code_activation = "relu"

    def __init__(self, dim: int, n_latent: int, *, sparsity: float = 0.1, **kwargs):
        sparsity = check_nonnegative("sparsity", sparsity)
        super().__init__(dim, n_latent, **kwargs)
        self.sparsity = sparsity

    default_objective = "sparse_autoencoder"

    def default_objective_options(self) -> dict:
        return {"sparsity": self.sparsity}
