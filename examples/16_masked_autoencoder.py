"""Masked autoencoders as energies: hide part of x, reconstruct it, and score only the hidden part.

Left: a 2-D toy where the "image" is (x₁, x₂) and the mask hides one coordinate. The network
sees (τ, x₂) or (x₁, τ) (τ a learned mask token) and must fill in the hidden coordinate, so the
energy E(x) = E_m[masked error] = ½[(x₁ - x̂₁(x₂))² + (x₂ - x̂₂(x₁))²] is exact (two masks).
It is low where each coordinate is what the other predicts: the two conditional-mean curves
(white) cross the data, and where the data are two-valued (moons) L2 averages the branches.
Right: MAE on the 8×8 digits, 2×2 patches, 50% hidden (He et al. 2022, arXiv:2111.06377): masked
inputs (grey = mask token) and the reconstructions on held-out digits.

Run:  python3 examples/16_masked_autoencoder.py [--quick]   (1.5 min on a busy 2-core VM; --quick < 1 min)
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import load_digits, make_toy
from ebm.energies import AutoencoderEnergy
from ebm.objectives.masked_autoencoder import MaskedAutoencoder, patch_mask
from ebm.train import train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke run)")
parser.add_argument("--out", default="masked_autoencoder.png")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
epochs_toy, epochs_digits = (40, 10) if args.quick else (300, 80)

# --- the 2-D toy: two "patches" of one pixel each, one of them hidden --------------------------
x_toy = make_toy("moons", 1024, generator=g)  # (1024, 2)
toy = AutoencoderEnergy(2, 16, hidden=64, code_activation="tanh", generator=g)
toy_mae = MaskedAutoencoder((1, 2), 1, mask_ratio=0.5)
train(toy, toy_mae, x_toy, epochs=epochs_toy, batch_size=128, lr=3e-3, generator=g, progress=False)
with torch.no_grad():
    e_data = toy_mae.energy(toy, x_toy).mean()
    e_far = toy_mae.energy(toy, torch.rand(1024, 2, generator=g) * torch.tensor([8.0, 5.0]) - torch.tensor([4.0, 2.0])).mean()
print(f"toy: mean E on data {e_data:.4f}, on uniform points in the box [-4, 4] × [-2, 3] {e_far:.4f}")


def conditional_curve(coordinate, values):
    """x̂ of the hidden coordinate given the other one, along a line of values of the visible one."""
    x = torch.zeros(len(values), 2)
    x[:, 1 - coordinate] = values
    mask = torch.zeros(len(values), 2, dtype=torch.bool)
    mask[:, coordinate] = True
    with torch.no_grad():
        filled = torch.where(mask, toy_mae.mask_token.expand_as(x), x)
        return toy.decode(toy.encode(filled))[:, coordinate]


# --- MAE on the 8×8 digits -----------------------------------------------------------------------
x_train, _ = load_digits("train")  # (1347, 64) in [0, 1]
x_test, _ = load_digits("test")
digits = AutoencoderEnergy(64, 32, hidden=256, generator=g)
mae = MaskedAutoencoder((8, 8), 2, mask_ratio=0.5)
hist = train(digits, mae, x_train, epochs=epochs_digits, batch_size=128, lr=2e-3, generator=g, progress=False)
with torch.no_grad():
    mask = patch_mask(8, (8, 8), 2, 0.5, generator=torch.Generator().manual_seed(5)).reshape(8, 64)  # (8, 64)
    shown = x_test[:8]
    masked = torch.where(mask, mae.mask_token.expand_as(shown), shown)
    recon = digits.decode(digits.encode(masked))
    err_test = mae.reconstruction_error(digits, shown, mask).mean()
    mean_fill = ((shown - x_train.mean(0)).pow(2) * mask).sum(1) / mask.sum(1)  # (8,) the mean digit as the guess
print(f"digits: masked-pixel MSE on 8 held-out digits {err_test:.4f} (filling with the mean digit: {mean_fill.mean():.4f})")

fig = plt.figure(figsize=(11, 4.2))
ax = fig.add_subplot(1, 2, 1)
energy = lambda x: toy_mae.energy(toy, x)  # noqa: E731  (n, 2) -> (n,)
plot.landscape(energy, ((-4, 4), (-2, 3)), resolution=120, ax=ax, title="E(x) = E_m ‖masked error‖², mask = one coordinate")
ax.scatter(x_toy[:300, 0], x_toy[:300, 1], s=3, c="tab:red", label="data")
line1, line2 = torch.linspace(-2, 3, 100), torch.linspace(-4, 4, 100)
ax.plot(conditional_curve(0, line1), line1, "w-", lw=1.5, label="x̂₁(x₂)")
ax.plot(line2, conditional_curve(1, line2), "w--", lw=1.5, label="x̂₂(x₁)")
ax.set_xlim(-4, 4)
ax.set_ylim(-2, 3)
ax.legend(fontsize=7, loc="lower left")
rows = torch.cat([shown, masked.clamp(0, 1), recon.clamp(0, 1)])  # (24, 64)
for i, img in enumerate(rows):
    a = fig.add_subplot(3, 16, 16 * (i // 8) + 9 + i % 8)  # the right half of a 3 × 16 grid
    a.imshow(img.reshape(8, 8), cmap="gray", vmin=0, vmax=1)
    a.axis("off")
    if i % 8 == 0:
        a.set_title(["held-out digit", "masked (50%, 2×2)", "reconstruction"][i // 8], fontsize=8, loc="left")
fig.tight_layout()
fig.savefig(args.out, dpi=80)
print(f"saved {args.out}")
