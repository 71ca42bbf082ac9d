"""Two failure modes of contrastive learning on the 8×8 digits, and the fixes from two papers.

1. Dimensional collapse (Jing et al. 2022, arXiv:2110.09348): SimCLR without a projector collapses
   the representation to a few dimensions; a projector, or DirectCLR's loss on the first d0
   coordinates only, keeps the spectrum of the embedding covariance up. Figure: its singular values.
2. Shortcuts (Robinson et al. 2021, arXiv:2106.11230): append to every digit a random 4-bit code that
   both views share. The code does part of the instance discrimination, so InfoNCE leans on it and
   learns less of the digit; IFM perturbs the similarities to make the task harder. Linear probe on the *digit* class.

Run:  python3 examples/22_dimensional_collapse_and_shortcuts.py [--quick]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

from ebm.augment import DigitAugment
from ebm.data import load_digits
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import linear_probe_accuracy, rank_me, singular_values
from ebm.objectives import IFM, DirectCLR, InfoNCE
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a few steps, for the docs build")
parser.add_argument("--out", default="out/directclr_spectrum.png")
args = parser.parse_args()
steps = 60 if args.quick else 800
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)

x_train, y_train = load_digits("train")  # (1347, 64)
x_test, y_test = load_digits("test")  # (450, 64)
R = 32  # representation width (what the spectrum and the probe read)


def encoder(d_in=64):
    return nn.Sequential(nn.Linear(d_in, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, R))


def fit(f, task, data, seed=0):
    energy = JointEmbeddingEnergy(f, event_shape=(data.shape[1],))
    g = torch.Generator().manual_seed(seed)
    train(energy, task, lambda gen: data[torch.randint(0, len(data), (256,), generator=gen)], epochs=steps // 10, steps_per_epoch=10, lr=2e-3, generator=g, progress=False)
    f.eval()
    return f


def embed(f, x):
    with torch.no_grad():
        return f(x)


# ---------------------------------------------------------------- 1. the spectrum
aug = DigitAugment()
runs = {
    "SimCLR + linear projector": TwoViewObjective(InfoNCE(0.1), aug, head=nn.Linear(R, R)),
    "SimCLR, no projector": TwoViewObjective(InfoNCE(0.1), aug),
    "DirectCLR (d0 = 8)": TwoViewObjective(DirectCLR(8, temperature=0.1), aug),
}
plt.figure(figsize=(6, 4))
for name, task in runs.items():
    f = fit(encoder(), task, x_train)
    z_tr, z_te = embed(f, x_train), embed(f, x_test)
    cov_eig = singular_values(z_te) ** 2 / (len(z_te) - 1)  # (R,) eigenvalues of the covariance
    plt.plot(torch.arange(1, R + 1), torch.log10(cov_eig.clamp_min(1e-12)), marker=".", label=name)
    probe = linear_probe_accuracy(z_tr, y_train, z_te, y_test)
    print(f"{name:28s} probe {probe:.3f}  RankMe {rank_me(z_te):5.2f}  dims with eigenvalue > 1e-3·max: {int((cov_eig > 1e-3 * cov_eig[0]).sum())}/{R}")
plt.xlabel("singular value rank")
plt.ylabel("log10 singular value of the embedding covariance")
plt.title(f"Dimensional collapse on digits ({R}-dim representation)")
plt.legend()
plt.tight_layout()
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
plt.savefig(args.out, dpi=110)
print(f"wrote {args.out}")

# ---------------------------------------------------------------- 2. the shortcut
BITS = 4  # 16 codes: each tells a batch's instances apart only partly, the digit must do the rest
g = torch.Generator().manual_seed(1)
code_train = torch.randint(0, 2, (len(x_train), BITS), generator=g).float()  # one random code per image
code_test = torch.randint(0, 2, (len(x_test), BITS), generator=g).float()


def augment_pixels_only(x, generator=None):
    # the digit is augmented, the planted code is copied unchanged into both views: a shortcut
    return torch.cat([aug(x[:, :64].contiguous(), generator), x[:, 64:]], 1)


print(f"\nshortcut: a {BITS}-bit code shared by both views; linear probe on the digit class (8-dim embedding)")
runs = {"InfoNCE, no code (zeros)": (InfoNCE(0.2), 0.0), "InfoNCE": (InfoNCE(0.2), 1.0), "IFM ε=0.1": (IFM(0.1, temperature=0.2), 1.0), "IFM ε=0.5": (IFM(0.5, temperature=0.2), 1.0)}
for name, (loss, on) in runs.items():
    s_train, s_test = torch.cat([x_train, on * code_train], 1), torch.cat([x_test, on * code_test], 1)  # (n, 68)
    f = nn.Sequential(nn.Linear(64 + BITS, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 8))
    fit(f, TwoViewObjective(loss, augment_pixels_only), s_train)
    z_tr, z_te = embed(f, s_train), embed(f, s_test)
    code_probe = linear_probe_accuracy(z_tr, code_train[:, 0].long(), z_te, code_test[:, 0].long())
    print(f"{name:25s} digit probe {linear_probe_accuracy(z_tr, y_train, z_te, y_test):.3f}   code-bit-0 probe {code_probe:.3f}")
