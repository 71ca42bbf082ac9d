"""The ellipse: the lecture picture of a latent-variable EBM (NYU Deep Learning, LeCun & Canziani 2021).

Data: y = (2 cos θ, sin θ) + noise with a hidden angle θ. Model: E(y, z) = ‖y - g(z)‖² with a small
decoder g of a 1-D latent angle z. The free energy

    F_β(y) = -1/β log ∫ exp(-β E(y, z)) dz      (β = ∞: min_z E(y, z))

is computed on a grid of 256 angles. Training minimises the mean F_∞ of the data (ebm.train with
ebm.objectives.FreeEnergyLoss): the decoder's curve moves onto the data and carves a ring of low
energy. Lowering β (raising the temperature) smooths the ring into a wider bowl.

Run:  python examples/11_ellipse.py            (about 10 s; figure in out/examples/)
Same figure:  ebm demo ellipse   (the `ellipse` story of `ebm demo`)
"""

import argparse
import math
from pathlib import Path

import torch

from ebm.demos.latent import run_ellipse
from ebm.energies import DecoderEnergy
from ebm.energies.decoder import make_ellipse

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="out/examples")
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)

y = make_ellipse(1024, radii=(2.0, 1.0), noise=0.05, generator=g)  # (1024, 2)
model = DecoderEnergy(2, hidden=32, n_grid=256, generator=g)
history = model.fit(y, epochs=10 if args.quick else 60, lr=1e-2, generator=g, progress=False)
print(f"mean free energy of the data: {history.epoch_losses[0]:.3f} (epoch 1) -> {history.epoch_losses[-1]:.4f}")

with torch.no_grad():
    centre, outside = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 0.0]])
    for beta in (math.inf, 5.0, 0.5):
        f = [model.free_energy(p, beta).mean().item() for p in (y[:256], centre, outside)]
        print(f"β = {beta:>4}: F(data) mean {f[0]:+.3f}   F(centre) {f[1]:+.3f}   F(3, 0) {f[2]:+.3f}")
    z = model.infer(y[:5])  # the best latent angle of each point, (5,)
    print("inferred angles (deg):", [round(math.degrees(a)) for a in z.tolist()])

paths = run_ellipse(Path(args.out), g, args.quick)
print("wrote", *paths)
