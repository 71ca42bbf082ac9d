"""The newer training principles on a 2-D toy and on a small Boltzmann machine.

1. 8 Gaussians (standardised): the same MLP energy trained by energy discrepancy (Schröder et al.
   2023, arXiv:2307.06431), one-level diffusion recovery likelihood (Gao et al. 2021,
   arXiv:2012.08125) and energy matching (Balcerak et al. 2025, arXiv:2504.10612); a continuous flow
   trained by flow matching (Lipman et al. 2023, arXiv:2210.02747). Held-out log-likelihood by grid
   quadrature of each model's log Z, and the wall time of each.
2. Multi-level DRL on a noise-conditional energy, sampled by its reverse chain.
3. Concrete score matching (Meng et al. 2022, arXiv:2211.00802) on exact samples of a 6-unit
   Boltzmann machine, against exact maximum likelihood.

Run:  `python3 examples/21_newer_objectives.py [--quick] [--plot out/newer_objectives.png]`
"""

import argparse
import time

import torch

from ebm.data import make_toy
from ebm.energies import BoltzmannMachine, MLPEnergy, NoiseConditionalEnergy, VelocityFlowEnergy
from ebm.energies.boltzmann import binary_states
from ebm.grid import grid_log_partition
from ebm.objectives import ConcreteScoreMatching, DiffusionRecoveryLikelihood, EnergyDiscrepancy, EnergyMatching, ExactLikelihood, FlowMatching
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a smaller budget (a fifth of the steps)")
parser.add_argument("--plot", default=None, help="save the learned densities here")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)  # tiny networks: one CPU thread is fastest on a small, shared CPU
g = torch.Generator().manual_seed(0)
BOX = ((-5.0, 5.0), (-5.0, 5.0))
steps = 50 if args.quick else 250
epochs = max(1, round(steps * 256 / 2048))
raw, raw_test = make_toy("8gaussians", 2048, generator=g), make_toy("8gaussians", 4000, generator=g)
x, x_test = (raw - raw.mean(0)) / raw.std(0), (raw_test - raw.mean(0)) / raw.std(0)  # (n, 2), standardised


def held_out(energy):
    """Mean test log-likelihood -E(x) - log Z, log Z by midpoint quadrature on the box (float64)."""
    e = energy.double()
    with torch.no_grad():
        log_z = grid_log_partition(e, BOX, 120 if args.quick else 200)
        ll = float((-e(x_test.double()) - log_z).mean())
    energy.float()
    return ll


# 1. One MLP energy per principle, same initial weights, same budget (Adam, lr 5e-3, batch 256).
print(f"8 Gaussians (standardised), {x.shape[0]} points, {epochs * 8} updates of batch 256")
objectives = {
    "energy discrepancy (σ=0.5, M=16)": EnergyDiscrepancy(0.5, n_negatives=16),
    "DRL, one level (σ=0.5)": DiffusionRecoveryLikelihood([0.5], langevin_steps=30),
    "energy matching": EnergyMatching(langevin_steps=50, warmup_steps=int(0.6 * epochs * 8)),
}
models = {}
for name, objective in objectives.items():
    model = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    train(model, objective, x, epochs=epochs, batch_size=256, lr=5e-3, max_grad_norm=10.0, generator=g, progress=False)
    seconds = time.perf_counter() - t0
    density = objective.boltzmann(model) if isinstance(objective, EnergyMatching) else model  # EM's density: exp(-V/ε_max)
    models[name] = density
    print(f"  {name:34s} held-out log-lik {held_out(density):7.3f}   {seconds:5.1f} s")

flow = VelocityFlowEnergy(2, hidden=64, n_steps=20, generator=torch.Generator().manual_seed(1))
t0 = time.perf_counter()
train(flow, FlowMatching(), x, epochs=epochs, batch_size=256, lr=5e-3, max_grad_norm=10.0, generator=g, progress=False)
seconds = time.perf_counter() - t0
models["flow matching (CNF)"] = flow
with torch.no_grad():
    print(f"  {'flow matching (CNF, exact -log p)':34s} held-out log-lik {held_out(flow):7.3f}   {seconds:5.1f} s"
          f"   (grid log Z = {float(grid_log_partition(flow.double(), BOX, 80)):.3f}, 0 for a normalised flow)")
    flow.float()

# 2. Multi-level DRL: one network for four levels; samples by the reverse chain from N(0, I).
levels = NoiseConditionalEnergy(2, hidden=64, generator=torch.Generator().manual_seed(1))
drl = DiffusionRecoveryLikelihood([0.2, 0.4, 0.6, 0.8], langevin_steps=30)
t0 = time.perf_counter()
train(levels, drl, x, epochs=epochs, batch_size=256, lr=5e-3, max_grad_norm=10.0, generator=g, progress=False)
samples = drl.sample(levels, 2000, generator=g)  # (2000, 2)
radius = samples.norm(dim=-1)
print(f"\nDRL, 4 levels: {time.perf_counter() - t0:.1f} s; reverse-chain samples have radius {float(radius.mean()):.2f} ± {float(radius.std()):.2f}"
      f" (data {float(x.norm(dim=-1).mean()):.2f} ± {float(x.norm(dim=-1).std()):.2f}); level-0 held-out log-lik {held_out(drl.data_energy(levels)):.3f}")
models["DRL, 4 levels (level 0)"] = drl.data_energy(levels)

# 3. Concrete score matching vs exact maximum likelihood on exact samples of a Boltzmann machine.
n = 6
j = torch.triu(torch.randn(n, n, generator=g, dtype=torch.float64) * 0.6, 1)
truth = BoltzmannMachine(n, coupling=j + j.T, bias=torch.randn(n, generator=g, dtype=torch.float64) * 0.4)
states = binary_states(n, 0, 2**n)  # (64, 6): every state
with torch.no_grad():
    probs = torch.softmax(-truth(states), 0)
data = states[torch.multinomial(probs, 1000 if args.quick else 5000, replacement=True, generator=g)]
iu = torch.triu_indices(n, n, 1)
print(f"\n{n}-unit Boltzmann machine, {data.shape[0]} exact samples: RMS coupling error")
for name, objective in (("concrete score matching", ConcreteScoreMatching()), ("exact maximum likelihood", ExactLikelihood())):
    model = BoltzmannMachine(n, dtype=torch.float64, weight_scale=0.0)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(model, data)
        loss.backward()
        return loss

    opt.step(closure)
    err = (model.effective_coupling() - truth.effective_coupling()).detach()[iu[0], iu[1]]
    print(f"  {name:26s} {float(err.pow(2).mean().sqrt()):.3f}")

if args.plot:
    import matplotlib.pyplot as plt

    from ebm import plot

    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.2), constrained_layout=True)
    for ax, (name, energy) in zip(axes, models.items()):
        plot.landscape(energy, ((-4, 4), (-4, 4)), ax=ax, kind="density", resolution=50 if args.quick else 90, colorbar=False, contours=0, title=name)
    plot.save(fig, args.plot)
    print(f"figure: {args.plot}")
