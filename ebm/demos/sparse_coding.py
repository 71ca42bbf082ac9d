"""Story: sparse coding as an energy — solvers converging, a learned dictionary, a 2-D landscape."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits
from ebm.demos import register_demo
from ebm.energies import SparseCodingEnergy
from ebm.sparse import (
    LISTA,
    LISTAEarlyStopping,
    coordinate_descent,
    duality_gap,
    fista,
    ista,
    learn_dictionary,
    lista_objective_loss,
    lista_supervised_loss,
    lista_warm_start,
    prediction_error,
    sample_image_patches,
)
from ebm.train import train


def _gap_curves(x, d, alpha, depths, solver):
    """Mean duality gap and wall time after each number of iterations/layers."""
    gaps, times = [], []
    for m in depths:
        t = time.perf_counter()
        z = solver(m)
        times.append(time.perf_counter() - t)
        gaps.append(float(duality_gap(x, z, d, alpha).mean()))
    return gaps, times


def _lista_as_published(out_dir: Path, generator: torch.Generator, quick: bool) -> Path:
    """Gregor & LeCun (2010)'s measurement: code prediction error ‖z − z*‖²/‖z*‖² vs iterations on natural patches.

    A small version of ``benchmarks/lista_as_published.py`` (BENCHMARKS.md, "LISTA as published"):
    each network starts from the trained shallower one (`lista_warm_start`) and keeps its best
    epoch on a validation split (`LISTAEarlyStopping`), within a small epoch budget.
    """
    size, atoms, alpha = (8, 64, 0.5) if quick else (10, 100, 0.5)
    n_train, n_val, n_test = (500, 100, 200) if quick else (3500, 500, 500)
    x = sample_image_patches(n_train + n_val + n_test, size, generator=generator, dtype=torch.float32)  # (n, size²)
    tr, va, te = x[:n_train], x[n_train : n_train + n_val], x[n_train + n_val :]
    d = learn_dictionary(tr, atoms, alpha, n_epochs=1 if quick else 5, method="online", batch_size=200, generator=generator).dictionary
    z_tr, z_va, z_te = (fista(v, d, alpha, tol=1e-6, max_iter=20_000).codes for v in (tr, va, te))
    depths = (1, 2, 4) if quick else (1, 2, 4, 8, 16)
    lista_err, net = [], None
    for depth in depths:
        net = LISTA(d, alpha, n_layers=depth) if net is None else lista_warm_start(net, depth)
        stop = LISTAEarlyStopping(va, z_va, patience=3, max_epochs=1 if quick else 15)
        stop.record_start(net)
        train(net, lista_supervised_loss, (tr, z_tr), epochs=1 if quick else 15, batch_size=100, lr=1e-3, generator=generator, progress=False, callbacks=[stop])
        stop.restore(net)
        with torch.no_grad():
            lista_err.append(prediction_error(net(te), z_te))
    iters = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64] + ([] if quick else [96, 128, 192, 256, 384, 512])
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    for name, solve in (("ISTA", lambda m: ista(te, d, alpha, max_iter=m, tol=0).codes), ("FISTA", lambda m: fista(te, d, alpha, max_iter=m, tol=0, restart=False).codes), ("CoD (one coordinate per iteration)", lambda m: coordinate_descent(te, d, alpha, m))):
        ax.loglog(iters, [prediction_error(solve(m), z_te) for m in iters], label=name)
    ax.loglog(depths, lista_err, "ko-", label="LISTA (trained, warm-started), x = layers")
    ax.set(xlabel="iterations / layers", ylabel="prediction error ‖z − z*‖² / ‖z*‖²", title=f"Gregor & LeCun's measure: {size}×{size} natural patches, {atoms} atoms")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return plot.save(fig, out_dir / "sparse_lista_prediction_error.png")


@register_demo("sparse_coding", title="Sparse coding: ISTA, FISTA and LISTA; a dictionary of digit strokes; the energy landscape", order=60)
def run(out_dir: Path, generator: torch.Generator, quick: bool) -> list[Path]:
    paths = []
    # 1. Convergence: duality gap vs iterations and vs wall time.
    k, f = (32, 16) if quick else (128, 64)
    d = torch.nn.functional.normalize(torch.randn(k, f, generator=generator), dim=1)
    n = 300 if quick else 1200
    codes = torch.randn(n, k, generator=generator) * (torch.rand(n, k, generator=generator) < 0.1)
    x = codes @ d + 0.01 * torch.randn(n, f, generator=generator)
    train_x, test_x = x[: n - 200], x[n - 200 :]
    alpha = 0.1 * float((train_x @ d.T).abs().amax(1).median())
    layers = 8
    net = LISTA(d, alpha, n_layers=layers)
    train(net, lista_objective_loss, train_x, epochs=1 if quick else 10, batch_size=50, lr=2e-3, generator=generator, progress=False)
    depths = list(range(1, layers + 1)) + ([] if quick else [12, 16, 24, 32, 48, 64, 96, 128])
    curves = {
        "ISTA": _gap_curves(test_x, d, alpha, depths, lambda m: ista(test_x, d, alpha, max_iter=m, tol=0).codes),
        "FISTA": _gap_curves(test_x, d, alpha, depths, lambda m: fista(test_x, d, alpha, max_iter=m, tol=0).codes),
    }
    with torch.no_grad():
        curves["LISTA (trained)"] = _gap_curves(test_x, d, alpha, depths[:layers], lambda m: net(test_x, n_layers=m))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for name, (gaps, times) in curves.items():
        axes[0].semilogy(depths[: len(gaps)], gaps, marker="o", ms=3, label=name)
        axes[1].loglog(times, gaps, marker="o", ms=3, label=name)
    axes[0].set(xlabel="iterations / layers", ylabel="mean duality gap (held-out)", title=f"Convergence ({k} atoms in R^{f}, α={alpha:.3f})")
    axes[1].set(xlabel="wall time (s)", ylabel="mean duality gap (held-out)", title="Gap vs wall time")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    paths.append(plot.save(fig, out_dir / "sparse_convergence.png"))

    # 2. Dictionary learned on 8x8 digits.
    digits, _ = load_digits("train")
    digits = digits - digits.mean(1, keepdim=True)  # (n, 64), remove each image's DC level
    res = learn_dictionary(digits[:100] if quick else digits, 16 if quick else 64, 0.1, n_epochs=1 if quick else 4, method="online", batch_size=128, generator=generator)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), constrained_layout=True)
    plot.image_grid(res.dictionary, image_shape=(8, 8), ax=axes[0], cmap="RdBu_r", title="Learned atoms (online dictionary learning, α=0.1)")
    axes[1].plot(range(1, len(res.objective) + 1), res.objective, marker="o")
    axes[1].set(xlabel="epoch", ylabel="mean ½‖x − zD‖² + α‖z‖₁", title="Training objective per epoch")
    axes[1].grid(alpha=0.3)
    paths.append(plot.save(fig, out_dir / "sparse_dictionary.png"))

    # 3. The sparse-coding energy F(x) = min_z E(x, z) of three atoms in the plane.
    atoms = torch.tensor([[1.0, 0.2], [-0.3, 1.0], [0.8, -0.8]])
    energy = SparseCodingEnergy(atoms, alpha=0.5)
    fig, ax = plt.subplots(figsize=(5.6, 4.8), constrained_layout=True)
    plot.landscape(energy, ((-3, 3), (-3, 3)), ax=ax, resolution=40 if quick else 160, title="Sparse-coding free energy min_z ½‖x−zD‖²+α‖z‖₁")
    for a in energy.dictionary.detach():
        ax.annotate("", xy=(2 * a[0], 2 * a[1]), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="white", lw=2))
    paths.append(plot.save(fig, out_dir / "sparse_landscape.png"))

    # 4. LISTA measured as Gregor & LeCun measured it: prediction error vs iterations on natural patches.
    paths.append(_lista_as_published(out_dir, generator, quick))
    return paths
