"""Conjugate EBMs (Wu et al. 2021, arXiv:2106.13798) and CLEL (Lee et al. 2023, arXiv:2303.03023) on 2-D data.

1. A conjugate EBM, E(x, z) = -η(x)ᵀ(z, z²) - log p(z) with a mixture-of-Gaussians bias p(z), trained
   by maximum likelihood of its closed-form marginal E(x) (replay-buffer Langevin negatives): the
   marginal density, MALA samples, the closed-form posterior p(z | x) and the data's posterior means.
2. CLEL: E(x, z) = ½‖f(x)‖² - β ĝ(x)ᵀz, z the embedding a SimCLR encoder (trained alongside) gives x:
   the marginal at β = 1 and 5, and samples guided by each mode's latent (MALA on E(x, z_c)).
3. With --digits: CLEL on 8×8 digits, unconditional and class-latent-guided samples.

250 updates of batch 256 on standardised 8 Gaussians each; held-out log-lik. by grid quadrature of log Z.

Run:  `python3 examples/20_conjugate_and_clel.py [--quick] [--digits]`  (figures in out/examples/)
"""

import argparse
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch import nn

import samplers
from ebm import plot
from ebm.augment import DigitAugment
from ebm.data import load_digits, make_toy
from ebm.demos import clel, conjugate
from ebm.demos.principles import principles
from ebm.energies import CLELEnergy, MLPEnergy
from ebm.grid import grid_log_partition
from ebm.objectives import CLEL
from ebm.train import train

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="60 updates instead of 250, coarser plots")
parser.add_argument("--digits", action="store_true", help="also train CLEL on 8x8 digits (a few minutes on a CPU)")
args = parser.parse_args()
torch.manual_seed(0)  # seeded once, here
torch.set_num_threads(1)
steps, res = (60, 60) if args.quick else (250, 150)
BOX = ((-4.0, 4.0), (-4.0, 4.0))
g = torch.Generator().manual_seed(0)
raw, raw_test = make_toy("8gaussians", 2048, generator=g), make_toy("8gaussians", 4000, generator=g)
mu, sd = raw.mean(0), raw.std(0)
x, x_test = (raw - mu) / sd, (raw_test - mu) / sd  # standardised, (n, 2)
labels = torch.round(torch.atan2(raw[:, 1], raw[:, 0]) / (math.pi / 4)).long() % 8  # which of the 8 modes, (n,)
colors = plt.get_cmap("tab10")(labels.numpy())


def held_out(energy):
    with torch.no_grad():
        ll = float((-energy.double()(x_test.double()) - grid_log_partition(energy, BOX, 300)).mean())
    energy.float()
    return ll


def langevin(energy, n, n_steps=400, generator=g):  # MALA from uniform starts on the box
    return samplers.MALA(0.01).run(energy, torch.rand(n, 2, generator=generator) * 8 - 4, n_steps, generator=generator).x.detach()


def timed(fit):
    fit(x[:64], steps=2, generator=torch.Generator().manual_seed(9))  # warm-up: one-time imports out of the timing
    t0 = time.perf_counter()
    return fit(x, steps=steps, generator=torch.Generator().manual_seed(1)), time.perf_counter() - t0


def fit_cd_mlp(data, *, steps, generator):  # the first-wave reference: an MLP energy by Langevin PCD
    model = MLPEnergy((2,), hidden=(64, 64), quadratic=0.01, generator=torch.Generator().manual_seed(3))
    batches = lambda gen: data[torch.randint(data.shape[0], (256,), generator=gen)]  # noqa: E731
    train(model, principles(data)["CD (Langevin PCD)"], batches, epochs=1, steps_per_epoch=steps, lr=5e-3, max_grad_norm=10.0, generator=generator, progress=False)
    return model


print(f"standardised 8 Gaussians, {x.shape[0]} training / {x_test.shape[0]} test points, {steps} updates of batch 256")
cebm, t_cebm = timed(conjugate.fit_2d)
clel_1, t_clel_1 = timed(clel.fit_2d)  # β = 1: the table's setting
(clel_model, clel_objective), t_clel = timed(lambda d, **kw: clel.fit_2d(d, beta=5.0, return_objective=True, **kw))  # β = 5 guides harder
mlp, t_mlp = timed(fit_cd_mlp)
for name, model, seconds in (("conjugate EBM (GMM bias)", cebm, t_cebm), ("CLEL, β = 1", clel_1, t_clel_1), ("CLEL, β = 5", clel_model, t_clel), ("MLP, Langevin PCD", mlp, t_mlp)):
    print(f"  {name:40s} held-out log-lik {held_out(model):7.3f}   wall {seconds:5.1f} s")

# 1. The conjugate EBM: marginal, samples, and the closed-form posterior over the bias's components.
fig, axes = plt.subplots(1, 5, figsize=(19, 3.9), constrained_layout=True)
axes[0].scatter(x[:, 0], x[:, 1], s=2, c=colors), axes[0].set_title("data (colour: mode)")
plot.landscape(cebm, BOX, ax=axes[1], kind="density", resolution=res, colorbar=False, contours=0, title=f"marginal exp(-E(x)), closed form\n{t_cebm:.1f} s")
plot.samples(langevin(cebm, 1000), ax=axes[2], color="tab:red", size=3)
axes[2].set(xlim=(-4, 4), ylim=(-4, 4), title="MALA samples of the marginal")
t = torch.linspace(-4, 4, res)
grid = torch.stack(torch.meshgrid(t, t, indexing="xy"), -1).reshape(-1, 2)  # (res², 2)
with torch.no_grad():
    z_mean = cebm.encode(x)  # E[z | x], (n, 2)
    lo, hi = z_mean.min(0).values - 1.5, z_mean.max(0).values + 1.5
    zt = [torch.linspace(float(lo[i]), float(hi[i]), res) for i in range(2)]
    zz = torch.stack(torch.meshgrid(*zt, indexing="xy"), -1).reshape(-1, 2)  # (res², 2) latent grid
    for c in (0, 2, 5):  # p(z | x) in closed form, a mixture of Gaussians over z, for one x of mode c
        point = x[labels == c][0]
        dens = torch.exp(cebm.posterior_log_prob(point.expand(zz.shape[0], 2), zz)).reshape(res, res)
        axes[3].contour(zt[0], zt[1], dens, levels=4, colors=[plt.get_cmap("tab10")(c)])
axes[3].set_title("closed-form p(z | x) for one x\nfrom each of three modes")
axes[4].scatter(z_mean[:, 0], z_mean[:, 1], s=2, c=colors), axes[4].set_title("posterior means E[z | x] of the data\n(colour: mode; zoomed in)")
fig.suptitle("Conjugate EBM (Wu et al. 2021): tractable posterior, marginal trained by maximum likelihood (Langevin negatives)")
print("wrote", plot.save(fig, "out/examples/conjugate_ebm.png", dpi=80))

# 2. CLEL: the contrastive latent guides sampling to a cluster.
with torch.no_grad():
    emb = F.normalize(clel_objective.encoder(x), dim=-1)  # the encoder's latents of the data, (n, p)
    z_c = F.normalize(torch.stack([emb[labels == c].mean(0) for c in range(8)]), dim=-1)  # one latent per mode, (8, p)
guided = langevin(clel_model.conditional_energy(z_c.repeat_interleave(60, 0)), 480)  # (480, 2), 60 chains per mode
fig, axes = plt.subplots(1, 6, figsize=(22, 3.9), constrained_layout=True)
axes[0].scatter(x[:, 0], x[:, 1], s=2, c=colors), axes[0].set_title("data (colour: mode)")
for ax, model, beta, seconds in ((axes[1], clel_1, 1, t_clel_1), (axes[3], clel_model, 5, t_clel)):
    plot.landscape(model, BOX, ax=ax, kind="density", resolution=res, colorbar=False, contours=0, title=f"β = {beta}: marginal exp(-½‖f(x)‖²)\n{seconds:.1f} s")
plot.samples(langevin(clel_1, 1000), ax=axes[2], color="tab:red", size=3)
axes[2].set(xlim=(-4, 4), ylim=(-4, 4), title="β = 1: MALA samples of the marginal")
with torch.no_grad():
    nearest = (clel_model.project(grid) @ z_c.T).argmax(-1)  # which mode's latent ĝ(x) points to, (res²,)
axes[4].imshow(nearest.reshape(res, res), origin="lower", extent=(-4, 4, -4, 4), cmap="tab10", alpha=0.5, vmin=0, vmax=9, interpolation="nearest")
axes[4].scatter(x[:, 0], x[:, 1], s=1, c="k")
axes[4].set_title("β = 5: argmax_c ĝ(x)ᵀz_c, the latent's\ndirection over the plane")
axes[5].scatter(guided[:, 0], guided[:, 1], s=3, c=plt.get_cmap("tab10")(torch.arange(8).repeat_interleave(60).numpy()))
axes[5].set(xlim=(-4, 4), ylim=(-4, 4), title="β = 5, guided: MALA on E(x, z_c)\n60 chains per mode (colour: guiding mode)")
fig.suptitle("CLEL (Lee et al. 2023): a SimCLR encoder's latent guides the EBM")
hit = float((torch.round(torch.atan2(guided[:, 1] * sd[1] + mu[1], guided[:, 0] * sd[0] + mu[0]) / (math.pi / 4)).long() % 8 == torch.arange(8).repeat_interleave(60)).float().mean())
print(f"  CLEL latent-guided samples in the guiding mode's sector: {hit:.1%} (chance 12.5%)")
print("wrote", plot.save(fig, "out/examples/clel.png", dpi=80))

# 3. CLEL on 8x8 digits (optional).
if args.digits:
    xd, yd = load_digits("train")  # (1347, 64) in [0, 1]
    energy = CLELEnergy(64, feature_dim=64, latent_dim=32, hidden=(256, 256), projection_hidden=128, beta=1.0, generator=g)
    encoder = nn.Sequential(nn.Linear(64, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 32))
    sampler = clel.ShortRunLangevin(step=10.0, noise=0.005, clamp=(0.0, 1.0))  # gradient step and noise set apart, as for images
    objective = CLEL(encoder, DigitAugment(), sampler=sampler, k=40, replay_buffer_size=2000, energy_penalty=0.1)
    t0 = time.perf_counter()
    train(energy, objective, xd, epochs=8 if args.quick else 60, batch_size=128, lr=1e-3, max_grad_norm=10.0, generator=g, progress=False)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        zc = F.normalize(torch.stack([F.normalize(encoder(xd[yd == c]), dim=-1).mean(0) for c in range(10)]), dim=-1)  # (10, 32)
    free = sampler.run(energy, torch.rand(20, 64, generator=g), 200, generator=g).x
    cond = sampler.run(energy.conditional_energy(zc.repeat_interleave(10, 0)), torch.rand(100, 64, generator=g), 200, generator=g).x  # 10 per digit
    agree = (LogisticRegression(max_iter=3000).fit(xd, yd).predict(cond) == yd.new_tensor(range(10)).repeat_interleave(10).numpy()).mean()
    print(f"  CLEL on digits: {seconds:.0f} s; guided samples a logistic regression reads as the guiding digit: {agree:.0%} (chance 10%)")
    fig, axes = plt.subplots(4, 10, figsize=(10, 4.4), constrained_layout=True)
    for ax, img in zip(axes.flat, torch.cat([free, cond.reshape(10, 10, 64)[:, :2].transpose(0, 1).reshape(20, 64)])):
        ax.imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1), ax.axis("off")
    fig.suptitle("CLEL on 8×8 digits: rows 1-2 unconditional short-run samples; rows 3-4 guided by the latent of digit 0…9 (columns)")
    print("wrote", plot.save(fig, "out/examples/clel_digits.png", dpi=80))
