"""JEPAs focus on slow features (Sobal et al. 2022, arXiv:2211.10831), on a 16×16 moving-dot video.

A dot moves at constant velocity over a uniform-noise background that is either *fixed* for the whole
video (a slow distractor) or drawn afresh every frame (a fast one). Two world models share one
encoder f (256 pixels → 32) and one action-conditioned predictor q(z, c), c = the dot's displacement:
  JEPA   E(x_t, x_t+k) = ‖q(f(x_t), c) - sg(f̄(x_t+k))‖², f̄ an EMA copy of f (no pixels predicted);
  JEPA+VICReg  the same plus VICReg's variance/covariance terms on f(x_t) (Sobal et al.'s setting);
  pixel  ‖d(q(f(x_t), c)) - x_t+k‖² with a decoder d (a generative next-frame predictor).
A linear probe on the frozen f reads the dot's position on held-out videos (R², 1 = perfect); the
"slow share" is the part of the embedding's variance that is constant within a video (a fixed
background). Paper: with changing noise JEPA tracks the dot; with fixed noise it fails to.

Run:  python3 examples/15_jepa_slow_features.py [--quick]   (6 min on a busy 2-core VM; --quick 1 min)
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

from ebm.evaluate import rank_me
from ebm.objectives.jepa import JEPA, ConditionedPredictor, JEPALoss
from ebm.toy_video import moving_dot_video
from ebm.train import train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer videos and steps (a smoke run)")
parser.add_argument("--out", default="jepa_slow_features.png")
parser.add_argument("--seed", type=int, default=1, help="seed of the data and of the training draws")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here (the weights); --seed sets the data and batch draws
torch.set_num_threads(1)
SIZE, T, D, MAX_K = 16, 8, 32, 3
N_TRAIN, N_TEST, STEPS = (300, 100, 300) if args.quick else (1000, 200, 2000)


def encoder():
    # Batch-norm matters: without it the EMA-only JEPA collapses here (RankMe ≈ 1), as BYOL does.
    bn_relu = lambda: (nn.BatchNorm1d(256), nn.ReLU())  # noqa: E731
    return nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 256), *bn_relu(), nn.Linear(256, 256), *bn_relu(), nn.Linear(256, D))


class PixelPrediction(nn.Module):
    """The generative baseline: predict the next frame's pixels, ``‖d(q(f(x), c)) - y‖²``."""

    def __init__(self):
        super().__init__()
        self.predictor = ConditionedPredictor(D, 2, hidden=128)
        self.decoder = nn.Sequential(nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, SIZE * SIZE))

    def forward(self, f, batch, generator=None):
        x, y, c = batch
        return (self.decoder(self.predictor(f(x), c)) - y.flatten(1)).pow(2).sum(-1).mean()


def pairs(frames, velocities):
    """A batch function: random (frame t, frame t+k, displacement k·v / SIZE) from random videos."""
    n = frames.shape[0]

    def batch_fn(g):
        i = torch.randint(0, n, (128,), generator=g)
        k = torch.randint(1, MAX_K + 1, (128,), generator=g)
        t = (torch.rand(128, generator=g) * (T - k)).long()
        return frames[i, t], frames[i, t + k], velocities[i] * k[:, None] / SIZE  # (128, S, S) ×2, (128, 2)

    return batch_fn


def probe_r2(f, x_train, y_train, x_test, y_test):
    """Ridge regression of targets y on the frozen embedding; R² (variance explained) on held-out videos."""
    with torch.no_grad():
        za, zb = f(x_train.flatten(0, 1)).double(), f(x_test.flatten(0, 1)).double()  # (n T, D)
    ya, yb = y_train.flatten(0, 1).flatten(1).double(), y_test.flatten(0, 1).flatten(1).double()  # (n T, k)
    mu, sd = za.mean(0), za.std(0) + 1e-6
    za = torch.cat([(za - mu) / sd, torch.ones(len(za), 1, dtype=za.dtype)], 1)  # (n T, D + 1)
    zb = torch.cat([(zb - mu) / sd, torch.ones(len(zb), 1, dtype=zb.dtype)], 1)
    w = torch.linalg.solve(za.T @ za + 1e-3 * torch.eye(D + 1, dtype=za.dtype), za.T @ ya)  # (D + 1, k)
    return float(1 - ((zb @ w - yb) ** 2).sum() / ((yb - yb.mean(0)) ** 2).sum())


def slow_share(f, frames):
    """Share of the (standardised) embedding's variance that is constant within a video: 1 = only
    per-video features such as a fixed background, 0 = only features that change from frame to frame."""
    with torch.no_grad():
        z = f(frames.flatten(0, 1)).double()  # (n T, D)
    z = ((z - z.mean(0)) / (z.std(0) + 1e-6)).reshape(frames.shape[0], T, D)  # (n, T, D)
    return float(z.mean(1).var(0, unbiased=False).sum() / z.reshape(-1, D).var(0, unbiased=False).sum())


def run(method, noise, g):
    tr = moving_dot_video(N_TRAIN, T, SIZE, noise=noise, generator=g)
    te = moving_dot_video(N_TEST, T, SIZE, noise=noise, generator=g)
    f = encoder()
    if method == "pixel":
        task = PixelPrediction()
    elif method != "untrained":
        loss = JEPALoss(variance_weight=25.0, covariance_weight=1.0) if method == "JEPA+VICReg" else JEPALoss()
        task = JEPA(f, ConditionedPredictor(D, 2, hidden=128), loss=loss, base_momentum=0.99)
    if method != "untrained":
        train(f, task, pairs(tr[0], tr[2]), epochs=STEPS // 100, steps_per_epoch=100, lr=1e-3, generator=g, progress=False)
    f.eval()
    with torch.no_grad():
        rank = rank_me(f(te[0].flatten(0, 1)))
    return probe_r2(f, tr[0], tr[1], te[0], te[1]), slow_share(f, te[0]), float(rank)


methods = ["untrained", "pixel", "JEPA", "JEPA+VICReg"]
results = {}
for noise in ("changing", "fixed"):
    for m in methods:
        results[m, noise] = run(m, noise, torch.Generator().manual_seed(args.seed))
        dot, slow, rank = results[m, noise]
        print(f"noise {noise:8s}  {m:12s}  dot-position probe R² {dot:6.3f}   slow share {slow:5.3f}   RankMe {rank:5.1f}", flush=True)

fig, axes = plt.subplots(1, 3, figsize=(12, 3.3), gridspec_kw={"width_ratios": [1.1, 2, 2]})
strip = [moving_dot_video(1, T, SIZE, noise=nz, generator=torch.Generator().manual_seed(3))[0][0] for nz in ("fixed", "changing")]
axes[0].imshow(torch.cat([torch.cat([v[0], v[T - 1]], 1) for v in strip], 0), cmap="gray")  # rows: fixed, changing
axes[0].set_title(f"frames 0 | {T - 1}; top: fixed noise,\nbottom: changing noise", fontsize=9)
axes[0].axis("off")
for ax, k, label in ((axes[1], 0, "dot-position probe R² (frozen encoder)"), (axes[2], 1, "share of embedding variance constant within a video")):
    for j, noise in enumerate(("changing", "fixed")):
        ax.bar([i + 0.38 * j for i in range(len(methods))], [max(results[m, noise][k], 0.0) for m in methods], 0.36, label=f"{noise} noise")
    ax.set_xticks([i + 0.19 for i in range(len(methods))], methods, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(label, fontsize=9)
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(args.out, dpi=70)
print(f"saved {args.out}")
