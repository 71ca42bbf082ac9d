"""JEPAs focus on slow features (Sobal et al. 2022, arXiv:2211.10831), on a 16×16 moving-dot video.

A dot moves at constant velocity over a uniform-noise background that is either *fixed* for the whole
video (a slow distractor) or drawn afresh every frame (a fast one). Two world models share one
encoder f (256 pixels → 32) and one action-conditioned predictor q(z, c), c = the dot's displacement:
  JEPA   E(x_t, x_t+k) = ‖q(f(x_t), c) - sg(f̄(x_t+k))‖², f̄ an EMA copy of f (no pixels predicted);
  pixel  ‖d(q(f(x_t), c)) - x_t+k‖² with a decoder d (a generative next-frame predictor).
A linear probe on the frozen f then reads the dot's position on held-out videos (R², 1 = perfect).
Paper: with changing noise JEPA tracks the dot; with fixed noise it encodes the background instead.

Run:  python3 examples/15_jepa_slow_features.py [--quick]      (about two minutes; --quick ~20 s)
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

from ebm.objectives.jepa import JEPA, ConditionedPredictor, JEPALoss
from ebm.toy_video import moving_dot_video
from ebm.train import train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer videos and steps (a smoke run)")
parser.add_argument("--out", default="jepa_slow_features.png")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)
SIZE, T, D, MAX_K = 16, 8, 32, 3
N_TRAIN, N_TEST, STEPS = (300, 100, 300) if args.quick else (1000, 200, 3000)


def encoder():
    return nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, D))


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


def probe_r2(f, train_set, test_set):
    """Ridge regression of the dot position on the frozen embedding; R² on held-out videos."""
    with torch.no_grad():
        (xa, pa), (xb, pb) = [(f(x.flatten(0, 1)).double(), p.flatten(0, 1).double()) for x, p in (train_set, test_set)]
    mu, sd = xa.mean(0), xa.std(0) + 1e-6
    za = torch.cat([(xa - mu) / sd, torch.ones(len(xa), 1, dtype=xa.dtype)], 1)  # (n, D + 1)
    zb = torch.cat([(xb - mu) / sd, torch.ones(len(xb), 1, dtype=xb.dtype)], 1)
    w = torch.linalg.solve(za.T @ za + 1e-3 * torch.eye(D + 1, dtype=za.dtype), za.T @ pa)  # (D + 1, 2)
    resid = ((zb @ w - pb) ** 2).sum(0)
    return float(1 - (resid / ((pb - pb.mean(0)) ** 2).sum(0)).mean())


def run(method, noise, g):
    tr = moving_dot_video(N_TRAIN, T, SIZE, noise=noise, generator=g)
    te = moving_dot_video(N_TEST, T, SIZE, noise=noise, generator=g)
    f = encoder()
    if method == "untrained":
        return probe_r2(f, tr[:2], te[:2])
    if method == "pixel":
        task = PixelPrediction()
    else:
        loss = JEPALoss(variance_weight=25.0, covariance_weight=1.0) if method == "JEPA+VICReg" else JEPALoss()
        task = JEPA(f, ConditionedPredictor(D, 2, hidden=128), loss=loss, base_momentum=0.99)
    train(f, task, pairs(tr[0], tr[2]), epochs=STEPS // 100, steps_per_epoch=100, lr=1e-3, generator=g, progress=False)
    return probe_r2(f, tr[:2], te[:2])


methods = ["untrained", "pixel", "JEPA", "JEPA+VICReg"]
results = {}
for noise in ("changing", "fixed"):
    for m in methods:
        results[m, noise] = run(m, noise, torch.Generator().manual_seed(1))
        print(f"noise {noise:8s}  {m:12s}  dot-position probe R² = {results[m, noise]:.3f}", flush=True)

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 1, 2.2]})
for ax, noise in zip(axes[:2], ("fixed", "changing")):
    frames = moving_dot_video(1, T, SIZE, noise=noise, generator=torch.Generator().manual_seed(3))[0][0]
    ax.imshow(torch.cat([frames[0], frames[-1]], 1), cmap="gray")
    ax.set_title(f"{noise} noise: frame 0 | frame {T - 1}", fontsize=9)
    ax.axis("off")
ax = axes[2]
for j, noise in enumerate(("changing", "fixed")):
    vals = [max(results[m, noise], -0.05) for m in methods]
    ax.bar([i + 0.38 * j for i in range(len(methods))], vals, 0.36, label=f"{noise} noise")
ax.set_xticks([i + 0.19 for i in range(len(methods))], methods)
ax.set_ylabel("dot-position probe R²")
ax.set_ylim(-0.05, 1.0)
ax.legend(fontsize=8)
ax.set_title("frozen encoder, linear probe on held-out videos", fontsize=9)
fig.tight_layout()
fig.savefig(args.out, dpi=80)
print(f"saved {args.out}")
