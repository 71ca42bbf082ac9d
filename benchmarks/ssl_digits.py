"""Joint-embedding (SSL) benchmark on the 8×8 digits: every loss, 8-dim embeddings, a time or step budget.

For each method an encoder 64 → 256 → 256 → 8 (batch-norm, ReLU) is trained through `ebm.train`
with `TwoViewObjective` and `DigitAugment` for a fixed wall-time budget (or, with ``--steps``, a
fixed number of optimiser steps: fairer on a shared machine), then frozen; the 8-dim embeddings
are scored by a logistic-regression linear probe and 5-NN on the fixed stratified 25% test split,
by RankMe, and by clustering: k-means (k = 10, 10 restarts) of the embeddings of all 1,797 digits,
scored against the digit classes by Hungarian-matched accuracy, NMI and ARI; where a method has its
own 10-way cluster assignment (CC's cluster head, PCL's and ProPos's k = 10 prototypes) its
accuracy is a column too. Baselines: raw pixels, PCA to 8 dimensions and the untrained encoder.
VICReg, VCReg and Barlow Twins use a 512-wide expander head, TiCo a 64-wide one, SimSiam a
projector and a bottleneck predictor; the probes always read the 8-dim encoder output.
Per-method settings from the papers (session 7, issue 17): the predictor methods (BYOL, SimSiam,
data2vec-style) train their predictor at 10× the shared learning rate (`optimizer_for`), BYOL's
predictor is 16× wider inside than out, data2vec uses β = 2 (its image setting), DINO τ_t = 0.04,
and the masked autoencoder masks 1×1 patches.

The clustering family needs its E-step (k-means of the whole training set by the target encoder):
`ClusteringEStep` callbacks for PCL and ProPos; ClusterFit spends half the budget pre-training with
InfoNCE, clusters those features into 30 pseudo-classes, and the other half training a fresh
encoder to predict them.

Usage:
    python3 benchmarks/ssl_digits.py                  # 30 s per method
    python3 benchmarks/ssl_digits.py --steps 600      # 600 optimiser steps per method
    python3 benchmarks/ssl_digits.py --quick          # 4 s per method
    python3 benchmarks/ssl_digits.py --budget 120 --methods infonce vicreg
    python3 benchmarks/ssl_digits.py --steps 600 --no-baselines --methods byol dino --seed 0 1 2   # mean ± sd
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from ebm.augment import DigitAugment
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import ari, clustering_accuracy, knn_accuracy, linear_probe_accuracy, nmi, rank_me
from ebm.objectives import (
    BYOL, DCL, DCLW, DINO, EMPSSL, MMCR, MSN, PCL, PIRL, RPC, WMSE, BarlowTwins, ClusteringEStep, ContrastiveClustering,
    Data2Vec, DeepCluster, EMATarget, FroSSL, InfoNCE, KoLeo, LeJEPA, MoCo, ProPos, PseudoLabelClassification, SimSiam,
    SwAV, TiCo, VCReg, VICReg, cluster_pseudo_labels,
)
from ebm.objectives import EBCLR, IFM, DirectCLR
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train

D = 8
BATCH = 256
LR = 2e-3  # Adam, every method


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


class InfoNCEKoLeo(nn.Module):
    """InfoNCE plus DINOv2's KoLeo regulariser (weight 0.1) on both views."""

    def __init__(self, temperature=0.2, weight=0.1):
        super().__init__()
        self.infonce, self.koleo, self.weight = InfoNCE(temperature), KoLeo(), weight

    def forward(self, z_a, z_b):
        return self.infonce(z_a, z_b) + self.weight * self.koleo(z_a, z_b)


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
        # BYOL's predictor is 16× wider inside than its output (4096 → 256 in the paper): here 8 → 128 → 8.
        return TwoViewObjective(BYOL(), aug, predictor=predictor(128), target=EMATarget(f, 0.99, total_steps=steps))
    if name == "simsiam":
        # SimSiam's recipe: a projector ending in batch-norm and a bottleneck predictor.
        head = nn.Sequential(nn.Linear(D, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm1d(64))
        pred = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 64))
        return TwoViewObjective(SimSiam(), aug, head=head, predictor=pred)
    if name == "dino":
        head = nn.Linear(D, 64)
        # τ_t = 0.04 throughout (DINO's default since session 7: the authors' released default; the
        # 0.04 → 0.07 warm-up used before gave 0.91 at 600 steps, see BENCHMARKS.md).
        return TwoViewObjective(DINO(64), aug, head=head, target=EMATarget(nn.Sequential(f, head), 0.99))
    if name == "data2vec":
        # β = 2: the authors' image setting (their released data2vec-vision config); the class default is 0.25.
        return TwoViewObjective(Data2Vec(beta=2.0), aug, predictor=predictor(), target=EMATarget(f, 0.99))
    if name == "jepa":
        # Context and target are two DigitAugment views: i.i.d. draws that expose no relative
        # position, so the predictor is unconditioned (both directions are predicted).
        from ebm.objectives.jepa import JEPA

        return JEPA(f, predictor(), augment=aug, base_momentum=0.99, total_steps=steps)
    if name == "mae":
        # Masking is MAE's own corruption (no DigitAugment); half hidden, an MLP decoder. 1×1 patches (since
        # session 7; 2×2 before): each 8×8 digits pixel already sums a 4×4 block of the 32×32 original, and
        # 64 tokens is the grid nearest MAE's 14×14; 2×2 patches (16 tokens) probed 0.928 ± 0.008 (3 seeds).
        from ebm.objectives.masked_autoencoder import MaskedAutoencoder

        return MaskedAutoencoder((8, 8), 1, mask_ratio=0.5, decoder=nn.Sequential(nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, 64)))
    if name == "mmcr":
        return TwoViewObjective(MMCR(), aug, head=expander(64))
    if name == "koleo":
        return TwoViewObjective(InfoNCEKoLeo(0.2, 0.1), aug)
    if name == "lejepa":
        return TwoViewObjective(LeJEPA(lambda_=0.05, n_directions=256), aug, head=expander(64))
    if name == "msn":
        return TwoViewObjective(MSN(D, 30, generator=g), aug, target=EMATarget(f, 0.99))
    if name == "emp_ssl":
        return TwoViewObjective(EMPSSL(), aug, head=expander(64))
    if name == "frossl":
        return TwoViewObjective(FroSSL(), aug, head=expander(64))
    # clustering family (k = 10 clusters: the digit classes are what the table scores)
    if name == "cc":
        return TwoViewObjective(ContrastiveClustering(D, 10, instance_dim=64, hidden=64), aug)
    if name == "pcl":
        return TwoViewObjective(PCL(D, n_clusters=(10, 20, 40), queue_size=4 * BATCH, generator=g), aug, target=EMATarget(f, 0.99))
    if name == "propos":
        return TwoViewObjective(ProPos(D, 10, hidden=32), aug, target=EMATarget(f, 0.99, total_steps=steps))
    if name == "clusterfit":  # stage 2; stage 1 (InfoNCE pre-training, k-means) happens in run_method
        return PseudoLabelClassification(D, CLUSTERFIT_K, augment=aug)
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


METHODS = [
    "infonce", "moco", "dcl", "dclw", "pirl", "rpc", "vicreg", "vcreg", "barlow_twins", "wmse", "tico", "swav", "deepcluster",
    "byol", "simsiam", "dino", "data2vec", "mmcr", "koleo", "lejepa", "msn", "emp_ssl", "frossl",
    "clusterfit", "propos", "cc", "pcl", "jepa", "mae", "directclr", "ifm", "ebclr",
]
# Predictor learning rate ÷ the shared lr (Session 7, issue 17): the predictor + stop-gradient methods
# (Tian, Chen & Ganguli 2021, arXiv:2102.06810); see `optimizer_for`.
PREDICTOR_LR_SCALE = {"byol": 10.0, "simsiam": 10.0, "data2vec": 10.0}
CLUSTERFIT_K = 30  # ClusterFit over-clusters (K larger than the number of classes)
STEPS_PER_EPOCH = 10


def cluster_scores(z, y, k=10):
    """k-means (k = 10, 10 restarts) of embeddings ``z (n, d)``: Hungarian accuracy, NMI, ARI against ``y``."""
    from sklearn.cluster import KMeans

    pred = torch.as_tensor(KMeans(k, n_init=10, random_state=0).fit_predict(z.double().numpy()))
    return clustering_accuracy(pred, y), nmi(pred, y), ari(pred, y)


def own_clusters(task, f, x):
    """A method's own 10-way assignment of ``x (n, 64)`` (CC's head, PCL's / ProPos's k = 10 prototypes), or None."""
    loss = getattr(task, "loss", None)
    with torch.no_grad():
        if isinstance(loss, ContrastiveClustering):
            loss.eval()
            return loss.predict(f(x))
        if isinstance(loss, (PCL, ProPos)) and bool(loss.ready):  # nearest k = 10 prototype of the target embedding
            c = loss.prototypes(0)[0] if isinstance(loss, PCL) else loss.centroids
            net = task.target.network
            was = net.training
            net.eval()
            z = net(x)
            net.train(was)
            return (F.normalize(z, dim=1) @ c.T).argmax(1)
    return None


def evaluate(f, xtr, ytr, xte, yte, task=None):
    """Probe, 5-NN, RankMe, k-means ACC / NMI / ARI on all digits, own-cluster ACC (nan if none)."""
    f.eval()
    with torch.no_grad():
        ztr, zte = f(xtr), f(xte)
    y_all = torch.cat([ytr, yte])
    own = own_clusters(task, f, torch.cat([xtr, xte])) if task is not None else None
    own_acc = clustering_accuracy(own, y_all) if own is not None else float("nan")
    return (linear_probe_accuracy(ztr, ytr, zte, yte), knn_accuracy(ztr, ytr, zte, yte), rank_me(zte),
            *cluster_scores(torch.cat([ztr, zte]), y_all), own_acc)


def optimizer_for(energy, task, lr=LR, predictor_lr_scale=1.0):
    """Adam over the encoder and the task's modules; the predictor's parameters at ``predictor_lr_scale × lr``.

    A faster predictor is the non-contrastive recipe of Tian, Chen & Ganguli (2021), "Understanding
    self-supervised learning dynamics without contrastive pairs", arXiv:2102.06810 (the predictor's
    relative learning rate is one of the factors that decide collapse; DirectPred sets the predictor
    in closed form), and SimSiam §4.2, Table 1 (Chen & He 2021, arXiv:2011.10566: a fixed predictor
    learning rate did slightly better than a decayed one). Returns ``'adam'`` (ebm.train builds it)
    when there is nothing to scale.
    """
    pred = getattr(task, "predictor", None)
    if predictor_lr_scale == 1.0 or pred is None:
        return "adam"
    fast = {id(p) for p in pred.parameters()}
    seen, slow, quick = set(), [], []
    for p in [*energy.parameters(), *task.parameters()]:
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            (quick if id(p) in fast else slow).append(p)
    return torch.optim.Adam([{"params": slow}, {"params": quick, "lr": lr * predictor_lr_scale}], lr=lr)


def _train(f, task, batch_fn, budget, steps, g, callbacks=(), predictor_lr_scale=1.0):
    """Train for ``steps`` optimiser steps if given, else for ``budget`` seconds; returns (wall s, steps)."""
    t0 = time.perf_counter()
    energy = JointEmbeddingEnergy(f, event_shape=(64,))
    if steps:
        epochs, stop = max(1, -(-steps // STEPS_PER_EPOCH)), []
    else:
        epochs, stop = 10_000, [lambda state: time.perf_counter() - t0 > budget]
    opt = optimizer_for(energy, task, LR, predictor_lr_scale)
    hist = train(energy, task, batch_fn, epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, lr=LR, optimizer=opt, generator=g, callbacks=[*callbacks, *stop], progress=False)
    return time.perf_counter() - t0, len(hist.losses)


def run_method(name, split, budget, seed=0, steps=None):
    xtr, ytr, xte, yte = split
    torch.manual_seed(seed)
    f = encoder()
    g = torch.Generator().manual_seed(seed)
    est_steps = steps or int(budget * 25)  # steps in the budget, for the momentum / temperature schedules
    n = xtr.shape[0]
    if name == "clusterfit":
        # Stage 1: pre-train with InfoNCE for half the budget; k-means of its features = pseudo-labels.
        pre = encoder()
        half_steps, half_budget = (steps // 2 if steps else None), budget / 2
        wall1, n1 = _train(pre, make_task("infonce", pre, n, g, est_steps // 2), lambda gen: xtr[torch.randint(0, n, (BATCH,), generator=gen)], half_budget, half_steps, g)
        labels = cluster_pseudo_labels(pre, xtr, CLUSTERFIT_K, generator=g)
        # Stage 2: a fresh encoder learns to predict them.
        task = make_task(name, f, n, g, est_steps // 2)

        def batch_fn(gen):
            idx = torch.randint(0, n, (BATCH,), generator=gen)
            return xtr[idx], labels[idx]

        wall2, n2 = _train(f, task, batch_fn, half_budget, half_steps, g)
        return (*evaluate(f, xtr, ytr, xte, yte, task), wall1 + wall2, n1 + n2)
    task = make_task(name, f, n, g, est_steps)
    indexed = name == "pirl"

    def batch_fn(gen):
        idx = torch.randint(0, n, (BATCH,), generator=gen)
        return (xtr[idx], idx) if indexed else xtr[idx]

    callbacks = []
    if hasattr(getattr(task, "loss", None), "e_step"):  # PCL, ProPos: k-means of the whole training set by the target encoder
        epochs = max(1, est_steps // STEPS_PER_EPOCH)
        callbacks.append(ClusteringEStep(task.loss, xtr, task.target, every=max(1, epochs // 20), warmup=max(1, epochs // 5), generator=g))
    wall, n_steps = _train(f, task, batch_fn, budget, steps, g, callbacks, PREDICTOR_LR_SCALE.get(name, 1.0))
    return (*evaluate(f, xtr, ytr, xte, yte, task), wall, n_steps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="4 s per method")
    p.add_argument("--budget", type=float, default=30.0, help="training seconds per method")
    p.add_argument("--steps", type=int, default=None, help="fixed optimiser steps per method instead of a time budget")
    p.add_argument("--methods", nargs="*", default=METHODS)
    p.add_argument("--no-baselines", action="store_true", help="skip the raw-pixel, PCA and untrained rows")
    p.add_argument("--seed", type=int, nargs="+", default=[0],
                   help="seed(s) of the encoder initialisation, batches and augmentations; with several, each cell is the mean "
                        "over the seeds and the linear probe is 'mean ± sd' (sample standard deviation)")
    args = p.parse_args(argv)
    budget = 4.0 if args.quick else args.budget
    torch.set_num_threads(1)
    split = load_split()
    xtr, ytr, xte, yte = split
    rows = []
    if not args.no_baselines:
        from sklearn.decomposition import PCA

        y_all = torch.cat([ytr, yte])
        rows.append(("raw pixels (64)", linear_probe_accuracy(xtr, ytr, xte, yte), knn_accuracy(xtr, ytr, xte, yte), rank_me(xte),
                     *cluster_scores(torch.cat([xtr, xte]), y_all), float("nan"), 0.0, 0))
        pca = PCA(D, random_state=0).fit(xtr.numpy())
        ptr, pte = torch.tensor(pca.transform(xtr.numpy())), torch.tensor(pca.transform(xte.numpy()))
        rows.append(("PCA-8", linear_probe_accuracy(ptr, ytr, pte, yte), knn_accuracy(ptr, ytr, pte, yte), rank_me(pte),
                     *cluster_scores(torch.cat([ptr, pte]), y_all), float("nan"), 0.0, 0))
        torch.manual_seed(0)
        rows.append(("untrained encoder", *evaluate(encoder(), *split), 0.0, 0))
    rows = [(*row, None) for row in rows]  # baselines are deterministic: no spread
    for name in args.methods:
        runs = []
        for seed in args.seed:
            runs.append(run_method(name, split, budget, seed=seed, steps=args.steps))
            print(f"  done {name} (seed {seed}): probe {runs[-1][0]:.3f}, k-means ACC {runs[-1][3]:.3f}, {runs[-1][-1]} steps", flush=True)
        cols = torch.tensor([[float(v) for v in run] for run in runs], dtype=torch.float64)  # (n_seeds, 9)
        sd = cols[:, 0].std().item() if len(runs) > 1 else None
        rows.append((name, *cols.mean(0).tolist()[:-1], round(cols[:, -1].mean().item()), sd))
    budget_text = f"{args.steps} optimiser steps" if args.steps else f"{budget:g} s"
    seed_text = f"seed {args.seed[0]}" if len(args.seed) == 1 else f"seeds {', '.join(map(str, args.seed))} (mean; probe mean ± sd)"
    print(f"\n8-dim embeddings, digits (train {len(xtr)}, test {len(xte)}), {budget_text} per method, batch {BATCH}, Adam lr 2e-3, 1 thread, {seed_text}\n")
    print("| method | linear probe | 5-NN | RankMe | k-means ACC | NMI | ARI | own clusters ACC | train s | steps |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, lp, knn, rm, acc, nm, ar, own, wall, n_steps, sd in rows:
        own_text = "" if own != own else f"{own:.3f}"
        lp_text = f"{lp:.3f}" if sd is None else f"{lp:.3f} ± {sd:.3f}"
        print(f"| {name} | {lp_text} | {knn:.3f} | {rm:.2f} | {acc:.3f} | {nm:.3f} | {ar:.3f} | {own_text} | {wall:.0f} | {int(n_steps)} |")


if __name__ == "__main__":
    main()
