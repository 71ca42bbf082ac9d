"""Two more joint-embedding methods on the digits.

1. EBCLR (Kim & Ye 2022, arXiv:2202.04933): contrastive + generative (SGLD negatives in input space)
   terms of one pair energy. Its claim: robust to few negatives. Linear probe after the same number
   of steps at batch sizes 16 / 32 / 64, against SimCLR (InfoNCE) with the same encoder.
2. VICRegL (Bardes et al. 2022, arXiv:2210.01571): digits upsampled to 16×16, a small conv encoder
   with a 4×4 feature map, views made by known random affine crops; global + local VICReg with
   location- and feature-based matching. Probes: the digit class from the pooled feature (global),
   and which of the four 2×2 sub-blocks of each 4×4 block hold ink, from that cell's feature (local).

Run:  python3 examples/23_ebclr_and_vicregl.py [--quick]
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from ebm.augment import DigitAugment
from ebm.data import load_digits
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import linear_probe_accuracy
from ebm.objectives import EBCLR, InfoNCE, VICRegL
from ebm.objectives.two_view import TwoViewObjective
from ebm.objectives.vicregl import affine_cell_locations
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a few steps, for the docs build")
parser.add_argument("--only", choices=("ebclr", "vicregl"), help="run one part")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)
x_train, y_train = load_digits("train")  # (1347, 64)
x_test, y_test = load_digits("test")  # (450, 64)


def mlp():
    return nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 8))


def probe(f):
    f.eval()
    with torch.no_grad():
        return linear_probe_accuracy(f(x_train), y_train, f(x_test), y_test)


# ---------------------------------------------------------------- 1. EBCLR at small batch sizes
steps = 30 if args.quick else 600
if args.only != "vicregl":
    print(f"EBCLR vs SimCLR, {steps} steps each, linear probe on the 8-dim output")
for batch in (16, 32, 64) if args.only != "vicregl" else ():
    row = []
    for name in ("SimCLR", "EBCLR"):
        f, g = mlp(), torch.Generator().manual_seed(0)
        # EBCLR's energy ‖ẑ - ẑ'‖²/τ = (2 - 2 cos)/τ: its τ = 0.2 gives SimCLR's τ = 0.1 contrastive term,
        # so the two runs differ only by EBCLR's generative term (SGLD negatives, λ₂ = 0.1)
        task = TwoViewObjective(InfoNCE(0.1), DigitAugment()) if name == "SimCLR" else EBCLR(DigitAugment(), (64,), temperature=0.2, buffer_size=len(x_train))
        data = lambda gen: x_train[torch.randint(0, len(x_train), (batch,), generator=gen)]  # noqa: E731
        train(JointEmbeddingEnergy(f, event_shape=(64,)), task, data, epochs=steps // 10, steps_per_epoch=10, lr=1e-3, generator=g, progress=False)
        row.append(f"{name} {probe(f):.3f}")
    print(f"  batch {batch:3d}: " + "   ".join(row))

# ---------------------------------------------------------------- 2. VICRegL with a local probe
S, H = 16, 4  # image side after upsampling, feature-map side
img_train = F.interpolate(x_train.reshape(-1, 1, 8, 8), size=S, mode="bilinear", align_corners=False)  # (n, 1, 16, 16)
img_test = F.interpolate(x_test.reshape(-1, 1, 8, 8), size=S, mode="bilinear", align_corners=False)


class ConvNet(nn.Module):
    """16×16 image → feature map (n, 4, 4, 32) channels-last and pooled global feature (n, 32)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())

    def forward(self, img):
        y = self.body(img).permute(0, 2, 3, 1)  # (n, 4, 4, 32)
        return y, y.mean(dim=(1, 2))


def random_crop(img, g):
    """A random zoom-in (scale 0.7-1) and shift; returns the view and its affine map theta (n, 2, 3)."""
    n = img.shape[0]
    s = 0.7 + 0.3 * torch.rand(n, generator=g)
    t = (1 - s)[:, None] * (2 * torch.rand(n, 2, generator=g) - 1)  # stays inside the image
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = s, s, t
    return F.grid_sample(img, F.affine_grid(theta, list(img.shape), align_corners=False), align_corners=False), theta


class VICRegLTask(nn.Module):
    """``objective(net, images, generator)`` for `ebm.train`: two known crops → VICRegL on the expanders' outputs."""

    def __init__(self, alpha):
        super().__init__()
        self.glob = nn.Sequential(nn.Linear(32, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 128))
        self.loc = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64))  # per-cell expander
        self.loss = VICRegL(alpha=alpha, num_matches=(8, 4))

    def data_event_shape(self, net):
        return torch.Size((1, S, S))

    def forward(self, net, x, generator=None):
        (va, ta), (vb, tb) = random_crop(x, generator), random_crop(x, generator)
        (ya, ga), (yb, gb) = net(va), net(vb)
        return self.loss(self.glob(ga), self.glob(gb), self.loc(ya), self.loc(yb), affine_cell_locations(ta, H, H), affine_cell_locations(tb, H, H))


def train_vicregl(alpha, n_steps, seed=0):
    net, g = ConvNet(), torch.Generator().manual_seed(seed)
    data = lambda gen: img_train[torch.randint(0, len(img_train), (128,), generator=gen)]  # noqa: E731
    train(net, VICRegLTask(alpha), data, epochs=n_steps // 10, steps_per_epoch=10, lr=2e-3, generator=g, progress=False)
    return net.eval()


def block_ink(img):
    """The ink pattern of each 4×4 block: which of its four 2×2 sub-blocks hold ink, 16 classes, (n*16,)."""
    ink = (F.avg_pool2d(img, 2) > 0.2).long()  # (n, 1, 8, 8) sub-blocks
    bits = ink.reshape(-1, H, 2, H, 2).permute(0, 1, 3, 2, 4).reshape(-1, H, H, 4)  # (n, 4, 4, 4) per block
    return (bits * torch.tensor([1, 2, 4, 8])).sum(-1).reshape(-1)


def vicregl_probes(net):
    with torch.no_grad():
        (y_tr, g_tr), (y_te, g_te) = net(img_train), net(img_test)
    glob = linear_probe_accuracy(g_tr, y_train, g_te, y_test)
    cells_tr, cells_te = y_tr.reshape(-1, 32), y_te.reshape(-1, 32)  # (n*16, 32)
    # a cell's position is given to the probe (one-hot), so it must read "ink here" from the feature
    pos_tr = torch.eye(H * H).repeat(len(img_train), 1)
    pos_te = torch.eye(H * H).repeat(len(img_test), 1)
    local = linear_probe_accuracy(torch.cat([cells_tr, pos_tr], 1), block_ink(img_train), torch.cat([cells_te, pos_te], 1), block_ink(img_test))
    # semantic, segmentation-like: the digit class from one inked cell's feature alone
    ink_tr, ink_te = block_ink(img_train) > 0, block_ink(img_test) > 0  # (n*16,) cells with some ink
    cls_tr, cls_te = y_train.repeat_interleave(H * H), y_test.repeat_interleave(H * H)  # (n*16,)
    semantic = linear_probe_accuracy(cells_tr[ink_tr], cls_tr[ink_tr], cells_te[ink_te], cls_te[ink_te])
    return glob, local, semantic


n_steps = 20 if args.quick else 400
print(f"\nVICRegL, 16×16 digits, conv encoder with a 4×4×32 feature map, {n_steps} steps, batch 128")
print(f"  local task: the 16-class ink pattern of each block; majority class {block_ink(img_test).bincount().max().item() / block_ink(img_test).numel():.3f}")
torch.manual_seed(0)
for name, make in (("untrained", lambda: ConvNet().eval()), ("VICReg (α = 1)", lambda: train_vicregl(1.0, n_steps)), ("VICRegL (α = 0.75)", lambda: train_vicregl(0.75, n_steps))):
    if args.only == "ebclr":
        break
    glob, local, semantic = vicregl_probes(make())
    print(f"  {name:20s} global probe {glob:.3f}   local: ink pattern per block {local:.3f}, digit class per inked cell {semantic:.3f}")
