"""Story: joint-embedding energies E(x, y) = D(f(x), g(y)) -- the batch energy matrix during
contrastive training, energy landscapes around anchors, and collapse next to a healthy run."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from ebm import plot
from ebm.augment import DigitAugment, GaussianJitter
from ebm.data import load_digits, make_toy
from ebm.demos import register_demo
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import rank_me, singular_values
from ebm.objectives import InfoNCE, VICReg
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train


def _digit_encoder(d: int = 8) -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, d))


def _energy_matrices(x, y, generator, quick):
    """InfoNCE on digits; snapshots of the test-batch energy matrix E_ij = 1 - cos(f(x_i), f(x'_j))."""
    order = torch.argsort(y[:40], stable=True)
    probe = x[:40][order]  # (40, 64) sorted by class, so class blocks show on the diagonal
    aug = DigitAugment()
    view_a, view_b = aug.two_views(probe, generator)
    energy = JointEmbeddingEnergy(_digit_encoder(), event_shape=(64,))
    snapshots, gaps = [], []

    def snap(state=None):
        energy.eval()
        with torch.no_grad():
            m = energy.pairwise(view_a, view_b)
        energy.train()
        eye = torch.eye(len(m), dtype=torch.bool)
        gaps.append((float(m[eye].mean()), float(m[~eye].mean())))
        return m

    snapshots.append(("before training", snap()))
    epochs = 4 if quick else 25
    keep = {epochs // 4: "early", epochs: "trained"}

    def callback(state):
        m = snap()
        if state.epoch in keep:
            snapshots.append((f"{keep[state.epoch]} (epoch {state.epoch})", m))

    train(energy, TwoViewObjective(InfoNCE(0.2), aug), x, epochs=epochs, batch_size=256, lr=2e-3, generator=generator, callbacks=[callback], progress=False)
    fig, axes = plt.subplots(1, len(snapshots) + 1, figsize=(4.3 * (len(snapshots) + 1), 4.0), constrained_layout=True)
    for ax, (title, m) in zip(axes, snapshots):
        im = ax.imshow(m.numpy(), cmap="viridis", vmin=0, vmax=2)
        ax.set(title=title, xlabel="view b, sample j (sorted by digit)", ylabel="view a, sample i")
        fig.colorbar(im, ax=ax, label="E_ij = 1 - cos")
    g = np.array(gaps)
    axes[-1].plot(g[:, 0], label="diagonal (positive pairs)")
    axes[-1].plot(g[:, 1], label="off-diagonal (other samples)")
    axes[-1].set(xlabel="epoch", ylabel="mean energy", title="positives down, the rest up")
    axes[-1].legend()
    fig.suptitle("Pairwise energy matrix of two augmented views of 40 training digits during InfoNCE training")
    return fig


def _collapse(x, generator, quick):
    """VICReg vs VICReg with μ = ν = 0 (invariance only): RankMe and spectrum over training."""
    runs = {"VICReg (λ=μ=25, ν=1)": VICReg(), "invariance only (μ=ν=0)": VICReg(variance_weight=0.0, covariance_weight=0.0)}
    epochs = 12 if quick else 40
    x = x[:512]  # the collapse shows on a small set; keeps the story fast
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    for (label, loss), color in zip(runs.items(), ("tab:blue", "tab:red")):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        f = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
        ranks, spectra = [], []

        def monitor(state, f=f, ranks=ranks, spectra=spectra):
            with torch.no_grad():
                z = f(x[:512])
            ranks.append(rank_me(z))
            spectra.append(singular_values(z).numpy())

        monitor(None)
        train(JointEmbeddingEnergy(f, event_shape=(64,)), TwoViewObjective(loss, DigitAugment()), x, epochs=epochs, batch_size=128, lr=3e-3, generator=generator, callbacks=[monitor], progress=False)
        axes[0].plot(ranks, color=color, label=label)
        s = np.array(spectra)  # (epochs + 1, d)
        axes[1].semilogy(s[-1], "o-", color=color, label=label)
        im = axes[2].imshow(np.log10(s.T / s.max() + 1e-12), aspect="auto", cmap="magma", vmin=-3, vmax=0) if color == "tab:red" else None
    axes[0].set(xlabel="epoch", ylabel="RankMe", title="effective rank (RankMe) over training", ylim=(0, 8.5))
    axes[0].axhline(1, color="gray", ls=":")
    axes[0].legend()
    axes[1].set(xlabel="singular value index k", ylabel="σ_k", title="final spectrum (centred embeddings)")
    axes[1].legend()
    axes[2].set(xlabel="epoch", ylabel="singular value index k", title="collapsing run: spectrum over training")
    fig.colorbar(im, ax=axes[2], label="log10 σ_k / σ_max")
    fig.suptitle("Collapse: without the variance and covariance terms every image maps to one point")
    return fig


def _landscapes(generator, quick):
    """InfoNCE on 2-D toy data; E(x, anchor) over the plane for three anchors."""
    x = make_toy("8gaussians", 1024 if quick else 2048, generator=generator)
    f = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    energy = JointEmbeddingEnergy(f, event_shape=(2,))
    train(energy, TwoViewObjective(InfoNCE(0.2), GaussianJitter(0.3)), x, epochs=3 if quick else 12, batch_size=256, lr=3e-3, generator=generator, progress=False)
    anchors = torch.tensor([[2.83, 0.0], [0.0, -2.83], [-2.0, 2.0]])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
    bounds = ((-4.5, 4.5), (-4.5, 4.5))
    for ax, a in zip(axes, anchors):
        field = lambda pts, a=a: energy((pts, a.expand(pts.shape[0], 2)))  # noqa: E731  (n, 2) -> (n,)
        plot.landscape(field, bounds, ax=ax, resolution=60 if quick else 100, title=f"E(x, y) for anchor y = ({a[0]:.1f}, {a[1]:.1f})")
        plot.samples(x[:400], ax=ax, color="white", size=2, alpha=0.3)
        ax.plot(*a.tolist(), "r*", ms=14)
    fig.suptitle("Joint-embedding energy landscapes after InfoNCE on the 8-Gaussians (jitter σ = 0.3 as the augmentation)")
    return fig


@register_demo("joint", title="Joint-embedding energies: the pairwise energy matrix, landscapes and collapse", order=80)
def run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    # Small-batch CPU training is fastest on one thread: on a busy 2-core machine, intra-op
    # threading made each step up to 40x slower. Restored on exit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(out_dir, generator, quick)
    finally:
        torch.set_num_threads(threads)


def _run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    x, y = load_digits("train")
    if quick:
        x, y = x[:384], y[:384]
    paths = [plot.save(_energy_matrices(x, y, generator, quick), out_dir / "joint_energy_matrix.png")]
    paths.append(plot.save(_collapse(x, generator, quick), out_dir / "joint_collapse.png"))
    paths.append(plot.save(_landscapes(generator, quick), out_dir / "joint_landscapes.png"))
    plt.close("all")
    return paths
