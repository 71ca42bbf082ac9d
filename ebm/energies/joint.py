"""Joint-embedding energies: ``E(x, y) = D(f(x), g(y))``, low when x and y "belong together".

Self-supervised joint-embedding methods (SimCLR, VICReg, BYOL, ...) all train such an energy:
two views of one sample should have low energy, and something must stop the trivial solution
``f = g = constant`` (negatives, variance regularisation, stop-gradients, clustering). The batch
energy matrix ``E_ij = D(f(x_i), g(y_j))`` from `pairwise` is what contrastive losses act on: its
diagonal holds the positive pairs.

Inputs: a pair ``(x, y)`` with ``x (*batch, *x_event)`` and ``y (*batch, *y_event)`` gives
energies ``(*batch,)``. When both views share one shape (always for a siamese ``g = f``), the pair
may also be stacked into one tensor ``(*batch, 2, *event)`` -- ``x = xy[..., 0, :]``,
``y = xy[..., 1, :]`` -- and then ``event_shape == (2, *event)``, so the energy behaves like any
other `Energy` (scores, samplers, registry checks).

Reference: LeCun (2022), "A Path Towards Autonomous Machine Intelligence" (joint-embedding
energies); Bromley et al. (1993), "Signature verification using a Siamese time delay neural network".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm._validation import check_energy_input, check_tensor, format_error, input_checks_enabled
from ebm.energy import Energy
from ebm.registry import register_energy

__all__ = ["JointEmbeddingEnergy"]

_DISTANCES = ("cosine", "euclidean")


def _first_linear_width(net: nn.Module) -> int | None:
    """``in_features`` of the encoder's first parameterised layer when it is an ``nn.Linear`` (the
    input width it reads), else None (a convolution, a custom module: the width is not knowable)."""
    for module in net.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
        if isinstance(module, nn.Flatten) or next(module.parameters(recurse=False), None) is not None:
            return None
    return None


def _event_shape(name: str, event_shape, net: nn.Module | None, default=None) -> torch.Size:
    """The event shape of one view: given (checked against the encoder) or inferred from it."""
    width = _first_linear_width(net) if net is not None else None
    if event_shape is None:
        if width is not None:
            return torch.Size((width,))
        if default is not None:
            return default
        raise ValueError(
            format_error(
                name,
                "the shape of one input of the encoder",
                f"None, and it cannot be read from the encoder ({type(net).__name__}: its first layer is not nn.Linear)",
                f"pass {name}=..., e.g. {name}=(64,) for flattened 8x8 digits or (1, 8, 8) for images",
            )
        )
    shape = torch.Size((event_shape,)) if isinstance(event_shape, int) and not isinstance(event_shape, bool) else torch.Size(event_shape)
    if width is not None and len(shape) == 1 and shape[0] != width:
        raise ValueError(
            format_error(name, f"({width},), the input width of the encoder's first nn.Linear", f"{tuple(shape)}", f"pass {name}=({width},) or leave it out")
        )
    return shape


def _tiny_encoder(seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    return net


@register_energy(
    "joint_embedding",
    example=lambda: JointEmbeddingEnergy(_tiny_encoder(), event_shape=(2,)),
    bad_params=[
        (lambda: JointEmbeddingEnergy(_tiny_encoder(), distance="manhattan", event_shape=(2,)), ValueError, "distance"),
        (lambda: JointEmbeddingEnergy(lambda x: x, event_shape=(2,)), TypeError, "f"),
        (lambda: JointEmbeddingEnergy(nn.Sequential(nn.Flatten(), nn.Linear(2, 3))), ValueError, "event_shape"),
        (lambda: JointEmbeddingEnergy(_tiny_encoder(), event_shape=(5,)), ValueError, "event_shape"),
    ],
)
class JointEmbeddingEnergy(Energy):
    """``E(x, y) = D(f(x), g(y))`` with a cosine, squared-Euclidean or user distance.

    Distances (``u = f(x), v = g(y)``, both ``(N, d)``):
        ``"cosine"``:    ``D = 1 - u·v / (‖u‖ ‖v‖)`` in [0, 2];
        ``"euclidean"``: ``D = ‖u - v‖²`` (squared, so smooth at u = v);
        callable:        ``D(u, v) -> (N,)``, broadcasting over leading dimensions (`pairwise`
                         calls it with ``u (n, 1, d)`` and ``v (1, m, d)``).

    Args:
        f: encoder of the first view, ``(N, *event_shape) -> (N, d)``.
        g: encoder of the second view; None shares ``f`` (siamese).
        distance: ``"cosine"``, ``"euclidean"`` or a callable as above.
        event_shape: shape of one x (e.g. ``64`` or ``(64,)`` for flattened 8×8 digits). Default:
            read from ``f`` when its first layer is an ``nn.Linear`` (``(in_features,)``);
            required otherwise.
        y_event_shape: shape of one y. Default: read from ``g`` likewise, else ``event_shape``.

    Shapes:
        ``energy((x, y))``: ``x (*batch, *event_shape)``, ``y (*batch, *y_event_shape)`` → ``(*batch,)``.
        ``energy(xy)``: stacked ``(*batch, 2, *event_shape)`` → ``(*batch,)`` (same shapes only).
        ``pairwise(x, y)``: ``x (n, *event_shape)``, ``y (m, *y_event_shape)`` → ``(n, m)``.

    Raises:
        TypeError: ``f``/``g`` not modules.
        ValueError: unknown distance; no ``event_shape`` and none can be read from ``f``; an
            ``event_shape`` that disagrees with ``f``'s first layer.

    Example:
        >>> enc = torch.nn.Linear(64, 8)
        >>> energy = JointEmbeddingEnergy(enc, event_shape=(64,))
        >>> energy((x_a, x_b)).shape, energy.pairwise(x_a, x_b).shape   # (n,), (n, n)
    """

    def __init__(self, f: nn.Module, g: nn.Module | None = None, distance: str | Callable = "cosine", *, event_shape=None, y_event_shape=None):
        for name, net in (("f", f), ("g", g)):
            if net is not None and not isinstance(net, nn.Module):
                raise TypeError(format_error(name, "a torch.nn.Module encoder", type(net).__name__, "wrap the function in an nn.Module (e.g. nn.Sequential)"))
        if not callable(distance) and distance not in _DISTANCES:
            raise ValueError(format_error("distance", "'cosine', 'euclidean' or a callable D(u, v)", repr(distance), "pick one of the names or pass a function"))
        x_event = _event_shape("event_shape", event_shape, f)
        y_event = _event_shape("y_event_shape", y_event_shape, g, default=x_event) if g is not None else (
            x_event if y_event_shape is None else _event_shape("y_event_shape", y_event_shape, f)
        )
        self.stackable = x_event == y_event
        super().__init__((2, *x_event) if self.stackable else x_event)
        self.x_event_shape, self.y_event_shape = x_event, y_event
        self.f = f
        self.g = g  # None: siamese, g = f
        self.distance = distance

    # ------------------------------------------------------------------ inputs
    def _split(self, xy) -> tuple[Tensor, Tensor]:
        if isinstance(xy, (tuple, list)):
            if len(xy) != 2:
                raise ValueError(format_error("x", "a pair (x, y)", f"a sequence of length {len(xy)}", "pass (x, y)"))
            return xy[0], xy[1]
        k = len(self.x_event_shape)
        return xy.select(xy.dim() - k - 1, 0), xy.select(xy.dim() - k - 1, 1)  # (*batch, *event) each

    def check_input(self, x, name: str = "x"):
        """Validate a pair ``(x, y)`` (each against its event shape, same batch shape) or a stacked tensor."""
        if not isinstance(x, (tuple, list)):
            if not self.stackable:
                raise TypeError(format_error(name, "a pair (x, y) (the views have different shapes)", type(x).__name__, "pass energy((x, y))"))
            return super().check_input(x, name)
        a, b = self._split(x)
        ref = self._reference_tensor()
        check_energy_input("x", a, self.x_event_shape, ref)
        check_energy_input("y", b, self.y_event_shape, ref)
        batch_a = a.shape[: a.dim() - len(self.x_event_shape)]
        batch_b = b.shape[: b.dim() - len(self.y_event_shape)]
        if batch_a != batch_b:
            raise ValueError(format_error("y", f"batch shape {tuple(batch_a)} (that of x)", f"batch shape {tuple(batch_b)}", "pair each x with one y; use pairwise(x, y) for all pairs"))
        return x

    # ------------------------------------------------------------------ embeddings
    def _encode(self, net: nn.Module, x: Tensor, event: torch.Size) -> Tensor:
        batch = x.shape[: x.dim() - len(event)]
        u = net(x.reshape(-1, *event))  # (N, d)
        return u.reshape(*batch, u.shape[-1])  # (*batch, d)

    def embed_x(self, x: Tensor) -> Tensor:
        """``f(x)``: ``(*batch, *event_shape) -> (*batch, d)``."""
        return self._encode(self.f, x, self.x_event_shape)

    def embed_y(self, y: Tensor) -> Tensor:
        """``g(y)`` (``f(y)`` when siamese): ``(*batch, *y_event_shape) -> (*batch, d)``."""
        return self._encode(self.f if self.g is None else self.g, y, self.y_event_shape)

    def _d(self, u: Tensor, v: Tensor) -> Tensor:
        if self.distance == "cosine":
            return 1 - F.cosine_similarity(u, v, dim=-1)
        if self.distance == "euclidean":
            return (u - v).pow(2).sum(-1)
        return self.distance(u, v)

    # ------------------------------------------------------------------ energies
    def forward(self, xy) -> Tensor:
        """Per-pair energies ``E(x_i, y_i)``: ``(*batch,)``."""
        x, y = self._split(xy)
        return self._d(self.embed_x(x), self.embed_y(y))

    def energy_and_score(self, xy, *, create_graph: bool = False):
        """``(E(x, y), -∇E)``: for a stacked ``(*batch, 2, *event)`` input the score has its shape;
        for a pair ``(x, y)`` it is the pair ``(-∇x E, -∇y E)``."""
        if not isinstance(xy, (tuple, list)):
            return super().energy_and_score(xy, create_graph=create_graph)
        x, y = xy
        with torch.enable_grad():
            parts = [t if (create_graph and t.requires_grad) else t.detach().requires_grad_(True) for t in (x, y)]
            energy = self(tuple(parts))
            grads = torch.autograd.grad(energy.sum(), parts, create_graph=create_graph)
        return (energy if create_graph else energy.detach()), (-grads[0], -grads[1])

    def score(self, xy, *, create_graph: bool = False):
        """``-∇E``, shaped like the input (a stacked tensor, or a pair ``(-∇x E, -∇y E)``)."""
        return self.energy_and_score(xy, create_graph=create_graph)[1]

    def pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        """The energy matrix ``E_ij = D(f(x_i), g(y_j))``: ``x (n, *event)``, ``y (m, *y_event)`` → ``(n, m)``."""
        if input_checks_enabled():
            ref = self._reference_tensor()
            check_energy_input("x", x, self.x_event_shape, ref)
            check_energy_input("y", y, self.y_event_shape, ref)
            check_tensor("x", x, ndim=len(self.x_event_shape) + 1)
            check_tensor("y", y, ndim=len(self.y_event_shape) + 1)
        u, v = self.embed_x(x), self.embed_y(y)  # (n, d), (m, d)
        if self.distance == "cosine":
            return 1 - F.normalize(u, dim=1) @ F.normalize(v, dim=1).T
        if self.distance == "euclidean":
            return (u.pow(2).sum(1, keepdim=True) + v.pow(2).sum(1) - 2 * u @ v.T).clamp_min(0)
        return self.distance(u[:, None, :], v[None, :, :])  # (n, m)

    def extra_repr(self) -> str:
        name = self.distance if isinstance(self.distance, str) else getattr(self.distance, "__name__", "callable")
        return f"event_shape={tuple(self.event_shape)}, distance={name}, siamese={self.g is None}"
