"""Issue 17's two unreproduced claims, over seeds: IFM against a planted shortcut, EBCLR at small batches.

IFM (Robinson et al. 2021, arXiv:2106.11230): example 22's shortcut -- a random code per digit, copied
unchanged into both views -- with InfoNCE and IFM at several ε; linear probe on the digit class.
EBCLR (Kim & Ye 2022, arXiv:2202.04933): example 23's part 1 -- SimCLR (InfoNCE τ = 0.1) against EBCLR
(τ = 0.2, the same contrastive term plus the SGLD generative term) after the same number of steps.
Each setting runs over seeds 0..S-1 (network init, batches, augmentations and the code all seeded);
prints every seed and mean ± standard error.

Run:  python benchmarks/ifm_ebclr_seeds.py --part ifm|ebclr [--shortcut code|digit] [--seeds 3] [--steps N] [--quick]
"""

import argparse
import statistics

import torch
from torch import nn

from ebm.augment import DigitAugment
from ebm.data import load_digits
from ebm.energies import JointEmbeddingEnergy
from ebm.evaluate import linear_probe_accuracy
from ebm.objectives import EBCLR, IFM, InfoNCE
from ebm.objectives.two_view import TwoViewObjective
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--part", choices=("ifm", "ebclr"), required=True)
parser.add_argument("--seeds", type=int, default=3)
parser.add_argument("--steps", type=int, default=None, help="default 800 (ifm) / 600 (ebclr)")
parser.add_argument("--bits", type=int, default=4, help="width of the planted code (ifm)")
parser.add_argument("--shortcut", choices=("code", "digit", "digit-aug"), default="code",
                    help="ifm: a random bit code, or a second, randomly paired digit image (STL-digits-like), copied unchanged into both views; digit-aug: the second digit augmented too, independently")
parser.add_argument("--batches", type=int, nargs="+", default=[16, 32], help="batch sizes (ebclr)")
parser.add_argument("--quick", action="store_true", help="20 steps, one seed")
args = parser.parse_args()
torch.set_num_threads(1)
steps = 20 if args.quick else (args.steps or (800 if args.part == "ifm" else 600))
seeds = range(1 if args.quick else args.seeds)
x_train, y_train = load_digits("train")  # (1347, 64)
x_test, y_test = load_digits("test")  # (450, 64)
aug = DigitAugment()


def fit(f, task, data, batch, lr, seed):
    g = torch.Generator().manual_seed(seed)
    sample = lambda gen: data[torch.randint(0, len(data), (batch,), generator=gen)]  # noqa: E731
    train(JointEmbeddingEnergy(f, event_shape=(data.shape[1],)), task, sample, epochs=steps // 10, steps_per_epoch=10, lr=lr, generator=g, progress=False)
    f.eval()
    with torch.no_grad():
        return f(data), f


def summary(name, values):
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    print(f"{name:34s} " + " ".join(f"{v:.3f}" for v in values) + f"   mean {statistics.mean(values):.3f} ± {se:.3f} (s.e.)", flush=True)


def augment_pixels_only(x, generator=None):
    if args.shortcut == "digit-aug":  # both digits augmented (independently): the second one is no longer an instance key
        return torch.cat([aug(x[:, :64].contiguous(), generator), aug(x[:, 64:].contiguous(), generator)], 1)  # (n, 128)
    return torch.cat([aug(x[:, :64].contiguous(), generator), x[:, 64:]], 1)  # the code is shared by both views


if args.part == "ifm":
    what = f"{args.bits}-bit code" if args.shortcut == "code" else "second digit"
    print(f"IFM vs a planted shortcut ({what}), {steps} steps of batch 256, τ = 0.2, 8-dim embedding; digit probe per seed")
    runs = {"InfoNCE, code zeroed": (lambda: InfoNCE(0.2), 0.0), "InfoNCE": (lambda: InfoNCE(0.2), 1.0)}
    runs |= {f"IFM ε={e:g}": ((lambda e=e: IFM(e, temperature=0.2)), 1.0) for e in (0.05, 0.1, 0.2, 0.5)}
    for name, (make, on) in runs.items():
        digit, bit = [], []
        for seed in seeds:
            torch.manual_seed(seed)  # network init
            g = torch.Generator().manual_seed(100 + seed)
            if args.shortcut == "code":
                c_tr = torch.randint(0, 2, (len(x_train), args.bits), generator=g).float()  # (n, bits)
                c_te = torch.randint(0, 2, (len(x_test), args.bits), generator=g).float()
                l_tr, l_te = c_tr[:, 0].long(), c_te[:, 0].long()  # the probed shortcut label: bit 0
            else:  # another digit, randomly paired with each image (as the MNIST digit pasted on an STL-10 image)
                p_tr, p_te = torch.randperm(len(x_train), generator=g), torch.randperm(len(x_test), generator=g)
                c_tr, c_te, l_tr, l_te = x_train[p_tr], x_test[p_te], y_train[p_tr], y_test[p_te]  # (n, 64), (n,)
            s_tr, s_te = torch.cat([x_train, on * c_tr], 1), torch.cat([x_test, on * c_te], 1)  # (n, 64 + bits)
            f = nn.Sequential(nn.Linear(s_tr.shape[1], 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 8))
            z_tr, f = fit(f, TwoViewObjective(make(), augment_pixels_only), s_tr, 256, 2e-3, seed)
            with torch.no_grad():
                z_te = f(s_te)
            digit.append(linear_probe_accuracy(z_tr, y_train, z_te, y_test))
            bit.append(linear_probe_accuracy(z_tr, l_tr, z_te, l_te))
        summary(name + " digit", digit)
        summary(name + (" code bit 0" if args.shortcut == "code" else " shortcut digit"), bit)
else:
    print(f"EBCLR vs SimCLR, {steps} steps at each batch size, Adam lr 1e-3, linear probe on the 8-dim output")
    for batch in args.batches:
        for name in ("SimCLR", "EBCLR"):
            acc = []
            for seed in seeds:
                torch.manual_seed(seed)
                f = nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 8))
                task = TwoViewObjective(InfoNCE(0.1), DigitAugment()) if name == "SimCLR" else EBCLR(DigitAugment(), (64,), temperature=0.2, buffer_size=len(x_train))
                z_tr, f = fit(f, task, x_train, batch, 1e-3, seed)
                with torch.no_grad():
                    acc.append(linear_probe_accuracy(z_tr, y_train, f(x_test), y_test))
            summary(f"batch {batch} {name}", acc)
