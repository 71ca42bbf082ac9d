"""Ising parameter recovery, in the spirit of Table 1 of the minimum probability flow paper
(Sohl-Dickstein, Battaglino & DeWeese 2011, arXiv:0906.4779), sized for a minute on a laptop CPU.

A fully visible Boltzmann machine on 10 units with random couplings; 5000 exact samples drawn by
enumerating its 1024 states. Each principle fits a fresh machine to the same samples; we report
the RMS error of the 45 couplings and the wall time. Exact maximum likelihood (by enumeration,
only possible because n is tiny) gives the statistical floor for these samples.

Run:  python3 examples/07_ising_parameter_recovery.py
"""

import time

import torch

from ebm.energies import BoltzmannMachine
from ebm.energies.boltzmann import binary_states
from ebm.objectives import ContrastiveDivergence, ExactLikelihood, MinimumProbabilityFlow, PseudoLikelihood, RatioMatching
from ebm.train import train

torch.manual_seed(0)  # examples seed once at the top; the library never does
g = torch.Generator().manual_seed(0)
N_UNITS, N_SAMPLES = 10, 5000
# float64 throughout: exact maximum likelihood with L-BFGS stalls in float32 (the loss stops
# changing at float32 resolution near the optimum; see the ExactLikelihood docstring).
DTYPE = torch.float64

# ---------------------------------------------------------------- the true model and exact samples
j = torch.triu(torch.randn(N_UNITS, N_UNITS, generator=g, dtype=DTYPE) * 0.5, 1)
truth = BoltzmannMachine(N_UNITS, coupling=j + j.T, bias=torch.randn(N_UNITS, generator=g, dtype=DTYPE) * 0.3)
states = binary_states(N_UNITS, 0, 2**N_UNITS, dtype=DTYPE)  # (1024, 10): every state
with torch.no_grad():
    probs = torch.softmax(-truth(states), 0)  # exact p(x)
x = states[torch.multinomial(probs, N_SAMPLES, replacement=True, generator=g)]  # (5000, 10) exact draws
iu = torch.triu_indices(N_UNITS, N_UNITS, 1)


def coupling_error(model):
    diff = (model.effective_coupling() - truth.effective_coupling()).detach()[iu[0], iu[1]]
    return float(diff.pow(2).mean().sqrt())


def fresh():
    return BoltzmannMachine(N_UNITS, dtype=DTYPE, weight_scale=0.0)


# ---------------------------------------------------------------- the principles
runs = {
    # Deterministic objectives: full batch, L-BFGS through the shared loop.
    "minimum probability flow": dict(objective=MinimumProbabilityFlow(), optimizer="lbfgs", lr=1.0, epochs=8, batch_size=N_SAMPLES),
    "pseudo-likelihood": dict(objective=PseudoLikelihood(), optimizer="lbfgs", lr=1.0, epochs=8, batch_size=N_SAMPLES),
    "ratio matching": dict(objective=RatioMatching(), optimizer="lbfgs", lr=1.0, epochs=8, batch_size=N_SAMPLES),
    # Sampling-based: single-site Gibbs sweeps from the data batch, Adam on mini-batches.
    "CD-1": dict(objective=ContrastiveDivergence(k=1), optimizer="adam", lr=0.02, epochs=15, batch_size=250),
    "CD-10": dict(objective=ContrastiveDivergence(k=10), optimizer="adam", lr=0.02, epochs=15, batch_size=250),
    "exact maximum likelihood": dict(objective=ExactLikelihood(), optimizer="lbfgs", lr=1.0, epochs=8, batch_size=N_SAMPLES),
}

train(fresh(), PseudoLikelihood(), x[:10], epochs=1, optimizer="lbfgs", progress=False)  # warm-up: one-time imports (seconds) stay out of the timings
print(f"Boltzmann machine, n = {N_UNITS}, {N_SAMPLES} exact samples; initial coupling error {coupling_error(fresh()):.4f}")
print(f"| {'principle':<26} | RMS coupling error | wall time (s) |")
print(f"|{'-' * 28}|--------------------|---------------|")
for name, cfg in runs.items():
    model = fresh()
    objective = cfg.pop("objective")
    t0 = time.perf_counter()
    train(model, objective, x, generator=g, progress=False, **cfg)
    seconds = time.perf_counter() - t0
    print(f"| {name:<26} | {coupling_error(model):>18.4f} | {seconds:>13.2f} |")
