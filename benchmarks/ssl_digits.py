"""Joint-embedding (SSL) benchmark on the 8×8 digits: every loss, 8-dim embeddings, a time budget.

For each method an encoder 64 → 256 → 256 → 8 (batch-norm, ReLU) is trained through `ebm.train`
with `TwoViewObjective` and `DigitAugment` for a fixed wall-time budget, then frozen; the 8-dim
embeddings are scored by a logistic-regression linear probe and 5-NN on the fixed stratified 25%
test split, and by RankMe. Baselines: PCA to 8 dimensions and the untrained encoder. VICReg, VCReg and Barlow
Twins use a 512-wide expander head, TiCo a 64-wide one, SimSiam a projector and a bottleneck
predictor; the probes always read the 8-dim encoder output.

Usage:
    python3 benchmarks/ssl_digits.py            # 30 s per method (about 9 minutes in all)
    python3 benchmarks/ssl_digits.py --quick    # 4 s per method
    python3 benchmarks/ssl_digits.py --budget 120 --methods infonce vicreg
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from ebm.augment import DigitAugment
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import knn_accuracy, linear_probe_accuracy, rank_me
from ebm.objectives import (
    BYOL, DCL, DCLW, DINO, PIRL, RPC, WMSE, BarlowTwins, Data2Vec, DeepCluster, EMATarget, InfoNCE, MoCo, SimSiam,
    SwAV, TiCo, VCReg, VICReg,
)
from ebm.objectives import EBCLR, IFM, DirectCLR
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train

D = 8
BATCH = 256


def load_split():
    """Digits scaled to [0, 1]; the playground's fixed stratified 25% test split."""
    from ebm.data import load_digits

    xtr, ytr = load_digits("train")
    xte, yte = load_digits("test")
    return xtr, ytr, xte, yte


def encoder():
    return nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, D))


def expander(width=512):
    return nn.Sequential(nn.Linear(D, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, width))


def predictor(hidden=32):
    return nn.Sequential(nn.Linear(D, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, D))


def make_task(name, f, n_train, g, steps):
    aug = DigitAugment()
    if name == "infonce":
        return TwoViewObjective(InfoNCE(0.2), aug)
    if name == "moco":
        return TwoViewObjective(MoCo(D, queue_size=4 * BATCH, temperature=0.2, generator=g), aug, target=EMATarget(f, 0.99))
    if name == "dcl":
        return TwoViewObjective(DCL(0.2), aug)
    if name == "dclw":
        return TwoViewObjective(DCLW(0.2), aug)
    if name == "pirl":
        return TwoViewObjective(PIRL(n_train, D, temperature=0.2, generator=g), aug)
    if name == "rpc":
        return TwoViewObjective(RPC(), aug, head=expander())
    if name == "vicreg":
        return TwoViewObjective(VICReg(), aug, head=expander())
    if name == "vcreg":
        return TwoViewObjective(VCReg(), aug, head=expander())
    if name == "barlow_twins":
        return TwoViewObjective(BarlowTwins(), aug, head=expander())
    if name == "wmse":
        return TwoViewObjective(WMSE(w_size=64), aug)
    if name == "tico":
        return TwoViewObjective(TiCo(64), aug, head=expander(64))
    if name == "swav":
        return TwoViewObjective(SwAV(D, 30, generator=g), aug)
    if name == "deepcluster":
        return TwoViewObjective(DeepCluster(D, 30, generator=g), aug)
    if name == "byol":
        return TwoViewObjective(BYOL(), aug, predictor=predictor(), target=EMATarget(f, 0.99, total_steps=steps))
    if name == "simsiam":
        # SimSiam's recipe: a projector ending in batch-norm and a bottleneck predictor.
        head = nn.Sequential(nn.Linear(D, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm1d(64))
        pred = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 64))
        return TwoViewObjective(SimSiam(), aug, head=head, predictor=pred)
    if name == "dino":
        head = nn.Linear(D, 64)
        return TwoViewObjective(DINO(64, teacher_temperature=0.07, warmup_steps=steps // 5), aug, head=head, target=EMATarget(nn.Sequential(f, head), 0.99))
    if name == "data2vec":
        return TwoViewObjective(Data2Vec(), aug, predictor=predictor(), target=EMATarget(f, 0.99))
    if name == "directclr":
        # InfoNCE on the first d0 = 6 of the 8 coordinates, no projector; the probe reads all 8.
        return TwoViewObjective(DirectCLR(6, temperature=0.2), aug)
    if name == "ifm":
        return TwoViewObjective(IFM(epsilon=0.1, temperature=0.2), aug)
    if name == "ebclr":
        # The authors' settings (τ = 0.1, λ₁ = 1e-3, λ₂ = 0.1, 10 SGLD steps from a replay buffer), with
        # 64 SGLD negatives per step (their neg_bs option) to keep the step affordable in the time budget.
        return EBCLR(aug, (64,), buffer_size=n_train, n_negatives=64)
    raise KeyError(name)


METHODS = ["infonce", "moco", "dcl", "dclw", "pirl", "rpc", "vicreg", "vcreg", "barlow_twins", "wmse", "tico", "swav", "deepcluster", "byol", "simsiam", "dino", "data2vec", "directclr", "ifm", "ebclr"]


def evaluate(f, xtr, ytr, xte, yte):
    f.eval()
    with torch.no_grad():
        ztr, zte = f(xtr), f(xte)
    return linear_probe_accuracy(ztr, ytr, zte, yte), knn_accuracy(ztr, ytr, zte, yte), rank_me(zte)


def run_method(name, split, budget, seed=0):
    xtr, ytr, xte, yte = split
    torch.manual_seed(seed)
    f = encoder()
    g = torch.Generator().manual_seed(seed)
    est_steps = int(budget * 25)  # rough steps in the budget, for the momentum / temperature schedules
    task = make_task(name, f, xtr.shape[0], g, est_steps)
    n = xtr.shape[0]
    indexed = name == "pirl"

    def batch_fn(gen):
        idx = torch.randint(0, n, (BATCH,), generator=gen)
        return (xtr[idx], idx) if indexed else xtr[idx]

    t0 = time.perf_counter()
    stop = lambda state: time.perf_counter() - t0 > budget  # noqa: E731
    energy = JointEmbeddingEnergy(f, event_shape=(64,))
    hist = train(energy, task, batch_fn, epochs=10_000, steps_per_epoch=10, lr=2e-3, generator=g, callbacks=[stop], progress=False)
    wall = time.perf_counter() - t0
    return (*evaluate(f, xtr, ytr, xte, yte), wall, len(hist.losses))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="4 s per method")
    p.add_argument("--budget", type=float, default=30.0, help="training seconds per method")
    p.add_argument("--methods", nargs="*", default=METHODS)
    args = p.parse_args(argv)
    budget = 4.0 if args.quick else args.budget
    torch.set_num_threads(1)
    split = load_split()
    xtr, ytr, xte, yte = split
    rows = []
    from sklearn.decomposition import PCA

    pca = PCA(D, random_state=0).fit(xtr.numpy())
    ptr, pte = torch.tensor(pca.transform(xtr.numpy())), torch.tensor(pca.transform(xte.numpy()))
    rows.append(("PCA-8", linear_probe_accuracy(ptr, ytr, pte, yte), knn_accuracy(ptr, ytr, pte, yte), rank_me(pte), 0.0, 0))
    torch.manual_seed(0)
    rows.append(("untrained encoder", *evaluate(encoder(), *split), 0.0, 0))
    for name in args.methods:
        rows.append((name, *run_method(name, split, budget)))
        print(f"  done {name}: probe {rows[-1][1]:.3f}", flush=True)
    print(f"\n8-dim embeddings, digits (train {len(xtr)}, test {len(xte)}), {budget:g} s per method, batch {BATCH}, Adam lr 2e-3, 1 thread\n")
    print("| method | linear probe | 5-NN | RankMe | train s | steps |")
    print("|---|---|---|---|---|---|")
    for name, lp, knn, rm, wall, steps in rows:
        print(f"| {name} | {lp:.3f} | {knn:.3f} | {rm:.2f} | {wall:.0f} | {steps} |")


if __name__ == "__main__":
    main()
