"""One data set, every principle: the same MLP energy trained on the 8-Gaussians toy set by
contrastive divergence (persistent Langevin chains), noise-contrastive estimation, exact score
matching, denoising score matching and sliced score matching; learned densities side by side
with the wall time of each (the figure of `ebm demo principles`).

What to look for: the score-matching family sees only local slopes, so it finds all eight modes
but can weight them unevenly; CD and NCE compare data with samples (chains or noise) and get the
overall mass right sooner but blur the modes at this budget.

Run:  python3 examples/06_every_principle.py   (about a minute on a 2-core CPU)
"""

import matplotlib.pyplot as plt
import torch

from ebm import plot
from ebm.data import make_toy
from ebm.demos.principles import BOUNDS, fit_every_principle

torch.manual_seed(0)  # examples seed once at the top; the library never does
g = torch.Generator().manual_seed(0)

x = make_toy("8gaussians", 2048, generator=g)
x = (x - x.mean(0)) / x.std(0)  # standardised: one set of hyper-parameters for every principle
results = fit_every_principle(x, steps=250, generator=g, langevin_steps=10)

print(f"| {'principle':<22} | wall time (s) | mean energy of data - of uniform box |")
print(f"|{'-' * 24}|---------------|--------------------------------------|")
box = torch.rand(4096, 2, generator=g) * 8 - 4  # uniform over the plotted square
for name, (model, seconds) in results.items():
    with torch.no_grad():
        gap = float(model(x).mean() - model(box).mean())  # negative: data sits lower than the box
    print(f"| {name:<22} | {seconds:>13.1f} | {gap:>36.2f} |")

fig, axes = plt.subplots(1, len(results) + 1, figsize=(3.9 * (len(results) + 1), 3.9), constrained_layout=True)
plot.data_density(x, BOUNDS, ax=axes[0], title="data: 8 Gaussians")
for ax, (name, (model, seconds)) in zip(axes[1:], results.items()):
    plot.landscape(model, BOUNDS, ax=ax, kind="density", colorbar=False, contours=0, title=f"{name}\n{seconds:.1f} s")
fig.suptitle("The same MLP energy trained by five principles: learned density exp(-E), normalised on the grid")
print("wrote", plot.save(fig, "out/examples/every_principle.png"))
