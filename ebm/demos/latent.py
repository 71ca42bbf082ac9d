"""Stories: how latent-variable EBMs limit the volume of low energy, and the ellipse lecture picture.

1. ``latent_family`` — one 2-D data set (a noisy ellipse), the energy landscapes of PCA, k-means,
   a GMM, sparse coding (when `ebm.energies.sparse_coding` exists) and the denoising, contractive
   and sparse autoencoders side by side (LeCun et al. 2006, §6).
2. ``ellipse`` — the NYU Deep Learning course's latent-variable EBM (LeCun & Canziani 2021):
   ``E(y, z) = ‖y - g(z)‖²`` with a 1-D latent angle; training on the free energy carves the ring,
   and the free energy ``F_β`` at β = ∞, a moderate β and a small β shows temperature smoothing it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.demos import register_demo
from ebm.energies import (
    ContractiveAutoencoderEnergy,
    DecoderEnergy,
    DenoisingAutoencoderEnergy,
    GMMEnergy,
    KMeansEnergy,
    PCAEnergy,
    SparseAutoencoderEnergy,
)
from ebm.energies.decoder import make_ellipse

BOUNDS = ((-3.0, 3.0), (-2.2, 2.2))


@contextlib.contextmanager
def _one_thread():
    """These models are tiny: extra intra-op threads only add synchronisation (much slower on a
    shared CPU). Restored on exit, so the caller's setting is untouched."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _sparse_coding(x: torch.Tensor, generator, quick: bool):
    """`SparseCodingEnergy` with a dictionary learned on x (8 atoms, α = 0.1), or None when the
    sparse-coding modules are not installed."""
    if importlib.util.find_spec("ebm.energies.sparse_coding") is None or importlib.util.find_spec("ebm.sparse.dictionary") is None:
        return None
    from ebm.energies.sparse_coding import SparseCodingEnergy
    from ebm.sparse.dictionary import learn_dictionary

    learned = learn_dictionary(x, 8, 0.1, n_epochs=3 if quick else 10, generator=generator)
    return SparseCodingEnergy(learned.dictionary, alpha=0.1)


def fit_family(x: torch.Tensor, generator: torch.Generator, quick: bool) -> dict:
    """Fit every latent-variable energy of the figure to ``x (n, 2)``; returns ``{title: energy}``."""
    epochs = 8 if quick else 60
    models = {
        "PCA (k = 1): distance to a line": PCAEnergy.fit(x, 1, generator=generator),
        "k-means (K = 8): distance to a centroid": KMeansEnergy.fit(x, 8, generator=generator),
        "GMM (K = 8, full): -log p(x)": GMMEnergy.fit(x, 8, generator=generator),
    }
    sc = _sparse_coding(x, generator, quick)
    if sc is not None:
        models["sparse coding (8 atoms, α = 0.1)"] = sc
    for title, cls, kw in (
        ("denoising AE (σ = 0.5)", DenoisingAutoencoderEnergy, {"noise_std": 0.5}),
        ("contractive AE (λ = 1)", ContractiveAutoencoderEnergy, {"penalty": 1.0}),
        ("sparse AE (λ = 0.3)", SparseAutoencoderEnergy, {"sparsity": 0.3}),
    ):
        model = cls(2, 8, hidden=32, generator=generator, **kw)
        model.fit(x, epochs=epochs, lr=3e-3, generator=generator, progress=False)
        models[title] = model
    return models


@register_demo("latent_family", title="Latent-variable EBMs: how PCA, k-means, GMM and autoencoders limit low-energy volume", order=60)
def run_family(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    with _one_thread():
        x = make_ellipse(200 if quick else 1000, noise=0.08, generator=generator)
        models = fit_family(x, generator, quick)
        res = 60 if quick else 160
        cols = 4
        rows = math.ceil(len(models) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows), constrained_layout=True)
        for ax, (title, model) in zip(axes.flat, models.items()):
            plot.landscape(model, BOUNDS, ax=ax, resolution=res, title=title, log_scale=True)
            plot.samples(x[:300], ax=ax, color="tab:red", size=1.5, alpha=0.4)
            ax.set_xlabel("x₁")
            ax.set_ylabel("x₂")
        for ax in list(axes.flat)[len(models) :]:
            ax.axis("off")
        missing = "" if any("sparse coding" in t for t in models) else " (sparse coding: module not available)"
        fig.suptitle("Free energy F(x) = min_z E(x, z) of latent-variable models on one data set (red): dark = low energy" + missing)
        return [plot.save(fig, out_dir / "latent_family.png", dpi=60 if quick else 120)]


def train_ellipse(y: torch.Tensor, generator: torch.Generator, snapshots: list[int], *, lr: float = 1e-2, n_grid: int = 256):
    """Train a `DecoderEnergy` on ``y (n, 2)``; returns the model and ``{epoch: state_dict}`` snapshots."""
    model = DecoderEnergy(2, hidden=32, n_grid=n_grid, generator=generator)
    states = {0: {k: v.clone() for k, v in model.state_dict().items()}}

    def keep(state):
        if state.epoch in snapshots:
            states[state.epoch] = {k: v.clone() for k, v in state.model.state_dict().items()}

    model.fit(y, epochs=max(snapshots), batch_size=128, lr=lr, generator=generator, callbacks=[keep], progress=False)
    return model, states


@register_demo("ellipse", title="The ellipse: a latent-variable EBM, its free energy at three temperatures, and training carving the ring", order=61)
def run_ellipse(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    with _one_thread():
        y = make_ellipse(256 if quick else 1024, radii=(2.0, 1.0), noise=0.05, generator=generator)
        snaps = [3, 10] if quick else [5, 20, 80]
        model, states = train_ellipse(y, generator, snaps, n_grid=128 if quick else 256)
        res = 60 if quick else 150
        fig, axes = plt.subplots(2, 3, figsize=(14, 8.4), constrained_layout=True)
        shown = [0, *snaps[-2:]]
        probe = DecoderEnergy(2, hidden=32, n_grid=model.n_grid)
        for ax, epoch in zip(axes[0], shown):
            probe.load_state_dict(states[epoch])
            plot.landscape(probe, BOUNDS, ax=ax, resolution=res, title=f"F_∞(y) after {epoch} epochs", log_scale=True)
            with torch.no_grad():
                curve = probe.decode(probe.grid())  # (n_grid, 2)
            ax.plot(curve[:, 0], curve[:, 1], color="tab:orange", lw=1.5, label="decoder curve g(z)")
            plot.samples(y[:200], ax=ax, color="tab:red", size=1.5, alpha=0.5)
            ax.legend(loc="upper right", fontsize=7)
        for ax, (label, beta) in zip(axes[1], (("β = ∞ (zero temperature)", math.inf), ("β = 5", 5.0), ("β = 0.5", 0.5))):
            model.beta = beta
            plot.landscape(model, BOUNDS, ax=ax, resolution=res, title=f"trained F_β(y), {label}", log_scale=True)
            plot.samples(y[:200], ax=ax, color="tab:red", size=1.5, alpha=0.5)
        model.beta = math.inf
        for ax in axes.flat:
            ax.set_xlabel("y₁")
            ax.set_ylabel("y₂")
        fig.suptitle("E(y, z) = ‖y − g(z)‖², z ∈ [0, 2π): training on the free energy carves the ring (top); temperature smooths it (bottom)")
        return [plot.save(fig, out_dir / "ellipse.png", dpi=60 if quick else 120)]
