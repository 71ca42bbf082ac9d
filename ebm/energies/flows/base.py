"""The shared machinery of coupling flows: a normalising flow as an energy with ``log Z = 0``.

A flow is a bijection ``z = f(x)`` onto a standard normal base. The change of variables gives the
exact density

    ``log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x|``,

so as an energy ``E(x) = -log p(x)`` is already normalised: ``log_partition() = 0``. A coupling
layer (Dinh, Krueger & Bengio 2014, arXiv:1410.8516) splits the coordinates into a conditioning
half ``x_a`` and a transformed half ``x_b``; ``x_b`` goes through an invertible elementwise map
whose parameters are a network of ``x_a``, so the Jacobian is triangular and its log-determinant
is a sum of elementwise log-derivatives. Layers alternate which half conditions.

Subclasses supply the elementwise map (`_couple`): affine (RealNVP) or rational-quadratic spline
(neural spline flow).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_int, format_error
from ebm.energies._init import linear
from ebm.energy import Energy

__all__ = ["CouplingFlow", "conditioner", "check_flow"]

_LOG_2PI = math.log(2 * math.pi)


def conditioner(fan_in: int, hidden: int, fan_out: int, generator: torch.Generator | None) -> nn.Sequential:
    """A two-hidden-layer SiLU perceptron ``(n, fan_in) -> (n, fan_out)``, initialised from `generator`."""
    layers = [linear(fan_in, hidden, generator), nn.SiLU(), linear(hidden, hidden, generator), nn.SiLU(), linear(hidden, fan_out, generator)]
    if generator is not None:
        with torch.no_grad():
            for layer in layers[::2]:
                bound = 1 / math.sqrt(layer.in_features)  # PyTorch's default range, drawn reproducibly
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
    return nn.Sequential(*layers)


class CouplingFlow(Energy):
    """Base class of coupling flows over ``R^dim`` as exact-density energies ``E(x) = -log p(x)``.

    Layer ``k`` conditions on the coordinates ``i`` with ``i % 2 == k % 2`` and transforms the
    others, so two consecutive layers touch every coordinate.

    Args:
        dim: dimension ``d >= 2`` of ``x`` (a coupling needs two halves).
        n_layers: number of coupling layers (>= 1; even numbers treat both halves alike).
        hidden: width of each conditioner's two hidden layers.
        params_per_dim: outputs of the conditioner per transformed coordinate.
        generator: generator for the initial weights (the global RNG is untouched when given).

    Raises:
        ValueError: ``dim < 2``, ``n_layers < 1`` or ``hidden < 1``.
    """

    _abstract = True
    input_methods = (*Energy.input_methods, "transform")

    def __init__(self, dim: int, n_layers: int, hidden: int, params_per_dim: int, generator: torch.Generator | None):
        dim = check_int("dim", dim, minimum=2)
        n_layers = check_int("n_layers", n_layers, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        super().__init__((dim,))
        self.dim, self.n_layers = dim, n_layers
        self.params_per_dim = params_per_dim
        parity = torch.arange(dim) % 2
        cond = [torch.nonzero(parity == k % 2).flatten() for k in range(n_layers)]
        trans = [torch.nonzero(parity != k % 2).flatten() for k in range(n_layers)]
        for k in range(n_layers):
            self.register_buffer(f"_cond{k}", cond[k], persistent=False)
            self.register_buffer(f"_trans{k}", trans[k], persistent=False)
        self.conditioners = nn.ModuleList(
            conditioner(len(cond[k]), hidden, len(trans[k]) * params_per_dim, generator) for k in range(n_layers)
        )

    # ------------------------------------------------------------------ subclass hook
    def _couple(self, y: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        """Elementwise map of the transformed half ``y (n, m)`` with parameters ``(n, m, p)``.

        Returns the image ``(n, m)`` and ``log |d out / d y|`` elementwise ``(n, m)``.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ the bijection
    def _layer(self, k: int, u: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        cond, trans = getattr(self, f"_cond{k}"), getattr(self, f"_trans{k}")
        params = self.conditioners[k](u[:, cond])  # (n, m * p)
        params = params.reshape(u.shape[0], len(trans), self.params_per_dim)  # (n, m, p)
        out, log_der = self._couple(u[:, trans], params, inverse)  # (n, m), (n, m)
        u = u.index_copy(1, trans, out)  # (n, d); out-of-place keeps autograd exact
        return u, log_der.sum(-1)

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The normalising direction ``z = f(x)`` and ``log |det ∂f/∂x|``.

        Args:
            x: points ``(*batch, d)``.

        Returns:
            ``z (*batch, d)`` and the log-determinant ``(*batch,)``.
        """
        return self._transform(x)

    def _transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # The unchecked body of `transform`: `forward` runs after __call__ has checked x once.
        batch = x.shape[:-1]
        u = x.reshape(-1, self.dim)  # (n, d)
        log_det = u.new_zeros(u.shape[0])
        for k in range(self.n_layers):
            u, ld = self._layer(k, u, inverse=False)
            log_det = log_det + ld
        return u.reshape(*batch, self.dim), log_det.reshape(batch)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """The generative direction ``x = f⁻¹(z)`` and ``log |det ∂f⁻¹/∂z|`` (= minus the forward one at x).

        Args:
            z: base points ``(*batch, d)``.

        Returns:
            ``x (*batch, d)`` and the log-determinant ``(*batch,)``.

        Raises:
            TypeError, ValueError: `z` is not a finite floating tensor ``(*batch, d)`` of the flow's dtype.
        """
        check_energy_input("z", z, self.event_shape, self._reference_tensor())
        batch = z.shape[:-1]
        u = z.reshape(-1, self.dim)  # (n, d)
        log_det = u.new_zeros(u.shape[0])
        for k in reversed(range(self.n_layers)):
            u, ld = self._layer(k, u, inverse=True)
            log_det = log_det + ld
        return u.reshape(*batch, self.dim), log_det.reshape(batch)

    # ------------------------------------------------------------------ the energy contract
    def forward(self, x: Tensor) -> Tensor:
        """``E(x) = -log p(x) = ½‖f(x)‖² + (d/2) log 2π - log |det ∂f/∂x|``, shape ``(*batch,)``."""
        z, log_det = self._transform(x)
        return 0.5 * z.pow(2).sum(-1) + 0.5 * self.dim * _LOG_2PI - log_det

    def log_partition(self) -> Tensor:
        """Exactly 0: the flow's density is normalised by construction."""
        ref = self._reference_tensor()
        return torch.zeros((), dtype=ref.dtype, device=ref.device)

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` reparameterised draws and their log densities (differentiable in the flow's parameters).

        Returns:
            ``x (n, d)`` and ``log p(x) (n,)``.
        """
        n = check_int("n", n, minimum=0)
        ref = self._reference_tensor()
        z = torch.randn(n, self.dim, generator=generator, dtype=ref.dtype, device=ref.device)  # (n, d)
        x, log_det = self.inverse(z)
        log_p = -0.5 * z.pow(2).sum(-1) - 0.5 * self.dim * _LOG_2PI - log_det
        return x, log_p

    def exact_sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples ``(n, d)`` (this energy's `sample` is exact): what reverse AIS and exactness
        tests take, where `sample` of other energies may be approximate."""
        return self.sample(n, generator=generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact draws ``(n, d)``: ``x = f⁻¹(z)`` with ``z ~ N(0, I)`` (no gradient)."""
        with torch.no_grad():
            return self.rsample(n, generator=generator)[0]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_layers={self.n_layers}"


def check_flow(name: str, flow) -> CouplingFlow:
    """Raise TypeError unless `flow` is a coupling flow (an exact-density energy with ``rsample``)."""
    if not isinstance(flow, CouplingFlow):
        raise TypeError(format_error(name, "a normalising flow (ebm.energies.RealNVP or NeuralSplineFlow)", type(flow).__name__, "build one, e.g. RealNVP(2, n_layers=4, hidden=32)"))
    return flow
