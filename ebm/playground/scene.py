"""A scene: the library objects behind one browser tab, advanced a tick at a time and read as frames.

Training mode fits a model to a toy data set (or to points drawn by clicking) with `ebm.train.train`
and an `ebm.objectives` principle, while display chains sample the model being carved; sampling mode
runs a `samplers` sampler on a built-in landscape. Nothing here re-implements a method: every update is
the library's own train loop, objective or sampler; the scene only builds them from a checked
`ebm.playground.catalogue` scene and reads numbers out for the page.

The quality number is, in training mode, the held-out mean log-likelihood by grid quadrature,
``log p(x) = -E(x) - log Z`` with ``log Z ≈ log Σ_cells exp(-E(c)) ΔxΔy`` on the view box (the model
restricted to the box, the same grid that is drawn); in sampling mode it is the Metropolis acceptance
rate and the effective sample size (Geyer 1992; Vehtari et al. 2021, arXiv:1903.08008) of the last
window of draws.

Example:
    >>> from ebm.playground.catalogue import validate_scene
    >>> scene = Scene(validate_scene({"mode": "sample", "target": "banana"}))
    >>> scene.advance()
    >>> frame = scene.frame()
    >>> len(frame["chains"]) == scene.settings["chains"]
    True
"""

from __future__ import annotations

import base64
import math
from collections import deque

import torch
from torch import nn

import ebm.energies as E
import ebm.objectives as O
import samplers
from ebm.data import make_toy
from ebm.grid import energy_on_grid, grid_points
from ebm.objectives import rbm_block_gibbs
from ebm.playground.catalogue import TRAIN_BOUNDS, SceneError
from ebm.registry import LANDSCAPES
from ebm.train import History, default_objective, make_optimizer, train

__all__ = ["Scene", "GridCodedRBM"]

DISPLAY_RESOLUTION = 64  # cells per side of the drawn landscape (4096 energies per frame)
SCORE_RESOLUTION = 16  # arrows per side of the score field
HELD_OUT = 500
N_DATA = 2000
LOSS_WINDOW = 2000  # losses kept for the curve (the History is trimmed to this, keeping memory flat)
ESS_WINDOW = 100  # draws kept per chain for the ESS


def _gray(n: torch.Tensor) -> torch.Tensor:
    return n ^ (n >> 1)


class GridCodedRBM(nn.Module):
    """A Bernoulli RBM seen as a 2-D energy: each point is binarised to the Gray code of its grid cell.

    The view box is cut into ``2^bits × 2^bits`` cells; a point's cell column and row are written in
    ``bits``-bit Gray code (neighbouring cells differ in one bit) and concatenated into the RBM's
    ``2·bits`` visible units. ``E(x) = F(code(x))``, the RBM's free energy, so the landscape is
    piecewise constant on the cells and ``log Z`` of the 2-D density is the RBM's exact ``log Z``
    plus the log cell area.

    Args:
        rbm: a `BernoulliRBM` with ``n_visible = 2·bits``.
        bits: bits per axis.
        bounds: the box ``((x0, x1), (y0, y1))``.

    Shapes: ``forward(x (n, 2)) -> (n,)``; ``encode(x (n, 2)) -> (n, 2·bits)``; ``decode(v (n, 2·bits)) -> (n, 2)`` cell centres.
    """

    def __init__(self, rbm, bits: int, bounds):
        super().__init__()
        self.rbm, self.bits, self.bounds = rbm, bits, bounds
        self.event_shape = torch.Size((2,))
        self.register_buffer("powers", 2 ** torch.arange(bits - 1, -1, -1))  # (bits,) most significant first

    def cells(self, x: torch.Tensor) -> torch.Tensor:
        """Cell indices ``(n, 2)`` (column, row) of points ``(n, 2)``, clamped into the box."""
        side = 2**self.bits
        lo = torch.tensor([self.bounds[0][0], self.bounds[1][0]], dtype=x.dtype)
        hi = torch.tensor([self.bounds[0][1], self.bounds[1][1]], dtype=x.dtype)
        return ((x - lo) / (hi - lo) * side).floor().long().clamp(0, side - 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        code = _gray(self.cells(x))  # (n, 2)
        bits = (code.unsqueeze(-1) // self.powers) % 2  # (n, 2, bits)
        return bits.reshape(x.shape[0], 2 * self.bits).to(self.rbm.weight.dtype)  # (n, 2·bits)

    def decode(self, v: torch.Tensor) -> torch.Tensor:
        g = (v.reshape(-1, 2, self.bits).round().long() * self.powers).sum(-1)  # (n, 2) Gray codes
        n = g.clone()
        shift = g >> 1
        while bool(shift.any()):  # inverse Gray code: n = g ^ (g >> 1) ^ (g >> 2) ^ ...
            n ^= shift
            shift = shift >> 1
        side = 2**self.bits
        lo = torch.tensor([self.bounds[0][0], self.bounds[1][0]])
        hi = torch.tensor([self.bounds[0][1], self.bounds[1][1]])
        return lo + (n.to(lo.dtype) + 0.5) / side * (hi - lo)  # (n, 2) cell centres

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rbm(self.encode(x))


class Scene:
    """Build and advance one scene; see the module docstring.

    Args:
        settings: a complete scene from `ebm.playground.catalogue.validate_scene`.
        drawn: points ``(m, 2)`` drawn by clicking (the data when ``settings['data'] == 'drawn'``).

    Raises:
        SceneError: drawn data with too few points for the model.
        ValueError / TypeError: from the library, if a combination is refused there.
    """

    def __init__(self, settings: dict, drawn: torch.Tensor | None = None):
        self.settings = dict(settings)
        s = self.settings
        self.generator = torch.Generator().manual_seed(s["seed"])
        self.status = ""
        self.losses: deque[float] = deque(maxlen=LOSS_WINDOW)
        self.new_losses: list[float] = []
        self.steps_done = 0
        self.draws: deque[torch.Tensor] = deque(maxlen=ESS_WINDOW)
        self.acceptance = None
        self.grid_version = 0
        self._grid_cache = None
        self.model = None
        self.rbm_view = None
        if s["mode"] == "sample":
            self._build_sampling()
        else:
            self._build_training(drawn)
        self.sampler = self._make_sampler()
        self.chains = self._uniform(s["chains"])  # (chains, 2)
        if self.rbm_view is not None:
            self.visible = self.rbm_view.encode(self.chains)  # (chains, 2·bits) Gibbs states
            self.hidden = torch.zeros(s["chains"], self.model.n_hidden)

    # ------------------------------------------------------------------ building
    def _uniform(self, n: int) -> torch.Tensor:
        (x0, x1), (y0, y1) = self.bounds
        u = torch.rand(n, 2, generator=self.generator)
        return torch.stack([x0 + u[:, 0] * (x1 - x0), y0 + u[:, 1] * (y1 - y0)], 1)  # (n, 2)

    def _build_sampling(self) -> None:

        entry = LANDSCAPES[self.settings["target"]]
        self.bounds = entry.bounds
        self.target = entry.factory()
        self.data = None
        self.held_out = None

    def _build_training(self, drawn) -> None:

        s = self.settings
        self.bounds = TRAIN_BOUNDS
        if s["data"] == "drawn":
            data = drawn if drawn is not None else torch.zeros(0, 2)
            need = max(2, s["components"]) if s["model"] in ("kmeans", "gmm", "sparse_coding") else 2
            if data.shape[0] < need:
                self.data = data
                self.held_out = data
                self.model = None
                self.status = f"click on the landscape to draw data points (at least {need} for this model)"
                return
            self.data, self.held_out = data, data  # drawn points: the quality number is the training log-likelihood
        else:
            x = make_toy(s["data"], N_DATA + HELD_OUT, generator=self.generator)
            self.data, self.held_out = x[:N_DATA], x[N_DATA:]
        self._build_model()

    def _build_model(self) -> None:

        s, g, x = self.settings, self.generator, self.data
        model, principle = s["model"], s["principle"]
        self.objective = None
        self.fit_iterations = 0
        if model in ("mlp", "gaussian"):
            self.model = E.MLPEnergy((2,), (s["width"],) * s["depth"], generator=g) if model == "mlp" else E.QuadraticEnergy(2)
            if principle == "exact":
                self.objective = O.ExactLikelihood()  # the Gaussian's log Z is exact
            elif principle == "dsm":
                self.objective = O.DenoisingScoreMatching(s["sigma"])
            elif principle == "ssm":
                self.objective = O.SlicedScoreMatching(s["projections"])
            elif principle == "sm":
                self.objective = O.ScoreMatching()
            elif principle in ("cd", "pcd"):
                self.objective = O.ContrastiveDivergence(self._make_sampler(), k=s["k"], persistent=principle == "pcd")
            elif principle == "nce":
                # Noise: a Gaussian fitted to the data and widened 1.5×, so it covers the data's support.
                cov = torch.cov(x.T) * 2.25 + 1e-3 * torch.eye(2)
                noise = torch.distributions.MultivariateNormal(x.mean(0), cov)
                self.objective = O.NoiseContrastiveEstimation(noise, s["noise_ratio"])
        elif model == "kmeans":
            idx = torch.randperm(x.shape[0], generator=g)[: s["components"]]
            self.model = E.KMeansEnergy(x[idx].clone())  # starts at data points: Lloyd-like motion by gradient
            self.objective = O.FreeEnergyLoss()
        elif model == "sparse_coding":
            # A looser solver tolerance than the library default keeps a frame interactive (FISTA per point).
            self.model = E.SparseCodingEnergy(torch.randn(s["components"], 2, generator=g), s["alpha"], tol=1e-5, max_iter=300)
            self.objective = O.FreeEnergyLoss()
        elif model == "autoencoder":
            common = {"hidden": 4 * s["hidden"], "generator": g}
            self.model = {
                "reconstruction": lambda: E.AutoencoderEnergy(2, 1, **common),
                "denoising": lambda: E.DenoisingAutoencoderEnergy(2, 1, noise_std=s["sigma"], **common),
                "contractive": lambda: E.ContractiveAutoencoderEnergy(2, 1, penalty=s["penalty"], **common),
                "sparse_code": lambda: E.SparseAutoencoderEnergy(2, 1, sparsity=s["penalty"], **common),
            }[principle]()
            self.objective = default_objective(self.model)
        elif model == "rbm":
            rbm = E.BernoulliRBM(2 * s["bits"], s["hidden"], generator=g)
            self.rbm_view = GridCodedRBM(rbm, s["bits"], self.bounds)
            self.model = rbm
            self.objective = O.ExactLikelihood() if principle == "exact" else O.ContrastiveDivergence(k=s["k"], persistent=principle == "pcd")
            self.data_codes = self.rbm_view.encode(x)  # (n, 2·bits)
        elif model in ("gmm", "pca"):
            self.model = E.PCAEnergy.fit(x, 1) if model == "pca" else E.GMMEnergy.fit(x, s["components"], n_iter=0, tol=None, generator=self._fit_generator())
        if self.objective is not None:
            params = list(self.model.parameters()) + (list(self.objective.parameters()) if isinstance(self.objective, nn.Module) else [])
            self.optimizer = make_optimizer(params, s["optimizer"], lr=s["lr"])
            self.history = History()

    def _fit_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.settings["seed"] + 1)  # the same EM seeding at every iteration count

    def _make_sampler(self):
        s = self.settings
        if s["sampler"] == "ula":
            return samplers.ULA(s["step_size"])
        if s["sampler"] == "hmc":
            return samplers.HMC(s["step_size"], s["leapfrog"])
        if s["sampler"] == "nuts":  # the page's step size, no warm-up: a tick is a few transitions
            return samplers.NUTS(s["step_size"], warmup_steps=0, max_tree_depth=6)
        if s["sampler"] == "underdamped":
            return samplers.UnderdampedLangevin(s["step_size"], friction=1.0)
        if s["sampler"] == "svgd":
            return samplers.SVGD(s["step_size"])
        return samplers.MALA(s["step_size"])

    @property
    def energy(self):
        """The energy being drawn and sampled (2-D, ``(n, 2) -> (n,)``), or None before there is one."""
        if self.settings["mode"] == "sample":
            return self.target
        return self.rbm_view if self.rbm_view is not None else self.model

    def _sampled_energy(self):
        t = self.settings["temperature"]
        energy = self.energy
        if t == 1.0 or self.rbm_view is not None:
            return energy
        return energy.tempered(t) if hasattr(energy, "tempered") else (lambda x: energy(x) / t)

    # ------------------------------------------------------------------ updating
    def update(self, changes: dict) -> None:
        """Apply live knobs (learning rate, sampler, chains count, temperature, steps) without a rebuild."""
        s = self.settings
        s.update(changes)
        if "lr" in changes and self.objective is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = s["lr"]
        if {"sampler", "step_size", "leapfrog"} & set(changes):
            self.sampler = self._make_sampler()
            self.draws.clear()
        if "chains" in changes or "temperature" in changes:
            self.draws.clear()
        if "chains" in changes:
            self.chains = self._uniform(s["chains"])
            if self.rbm_view is not None:
                self.visible = self.rbm_view.encode(self.chains)
                self.hidden = torch.zeros(s["chains"], self.model.n_hidden)
        if "temperature" in changes and self.settings["mode"] == "sample":
            self.grid_version += 1

    def trainable(self) -> bool:
        return self.settings["mode"] == "train" and self.model is not None

    def advance(self) -> None:
        """One tick: ``steps`` optimiser steps (training mode) then ``sweeps`` sampler steps for the chains.

        Raises:
            ebm.train.TrainingDiverged: the loss or a parameter became non-finite (the library's message).
            samplers.SamplerDivergedError: display chains hit a non-finite energy.
        """
        if self.trainable():
            self._train_tick()
        if self.energy is not None:
            self._sample_tick()

    def _train_tick(self) -> None:

        s = self.settings
        if s["model"] in ("gmm", "pca"):
            self._fit_tick()
            return
        data = self.data_codes if self.rbm_view is not None else self.data
        n, batch = data.shape[0], min(s["batch"], data.shape[0])

        def batches(g):
            return data[torch.randint(n, (batch,), generator=g)]  # (batch, d) drawn with replacement

        # `epochs` counts the run's total (a History carries the epochs done): one more per tick.
        train(self.model, self.objective, batches, epochs=self.history.epochs_done + 1, steps_per_epoch=s["steps"], optimizer=self.optimizer,
              lr=s["lr"], generator=self.generator, progress=False, history=self.history)
        fresh = self.history.losses[-s["steps"]:]
        del self.history.losses[:-1]  # keep the History bounded; the curve lives in self.losses
        self.history.epoch_losses.clear()
        self._record(fresh)
        self.grid_version += 1

    def _fit_tick(self) -> None:
        """GMM: one more EM iteration (a refit from the same seeding, shown step by step); PCA: the SVD once."""

        s = self.settings
        if s["model"] == "pca":
            if self.fit_iterations == 0:
                self._record([float(self.model(self.data).mean())])
                self.grid_version += 1
            self.fit_iterations = 1
            self.status = "PCA is solved in closed form (one SVD): nothing more to train"
            return
        if self.fit_iterations >= 100 or "converged" in self.status:
            return
        self.fit_iterations += 1
        self.model = E.GMMEnergy.fit(self.data, s["components"], n_iter=self.fit_iterations, tol=1e-6, generator=self._fit_generator())
        self._record([-self.model.history_[-1]])
        if self.model.n_iter_ < self.fit_iterations:
            self.status = f"EM converged after {self.model.n_iter_} iterations"
        self.grid_version += 1

    def _record(self, losses) -> None:
        self.losses.extend(losses)
        self.new_losses.extend(losses)
        self.steps_done += len(losses)

    def _sample_tick(self) -> None:
        s = self.settings
        if self.rbm_view is not None:

            result = rbm_block_gibbs(self.model).run(None, (self.hidden, self.visible), s["sweeps"], generator=self.generator)
            self.hidden, self.visible = result.x
            # Cell centres plus a fixed per-chain offset, so that chains in one cell stay distinguishable.
            offset = (torch.arange(s["chains"]).unsqueeze(1) * torch.tensor([0.618, 0.382]) % 1 - 0.5) * 0.6
            width = (self.bounds[0][1] - self.bounds[0][0]) / 2 ** s["bits"]
            self.chains = self.rbm_view.decode(self.visible) + offset * width  # (chains, 2)
            self.acceptance = None
        else:
            result = self.sampler.run(self._sampled_energy(), self.chains, s["sweeps"], generator=self.generator)
            x = result.x.detach()
            if s["mode"] == "train":
                (x0, x1), (y0, y1) = self.bounds
                x = torch.stack([x[:, 0].clamp(x0, x1), x[:, 1].clamp(y0, y1)], 1)  # display chains stay in the box
            self.chains = x
            rate = result.acceptance_rate
            self.acceptance = None if rate is None else float(rate.mean())
        self.draws.append(self.chains.clone())

    # ------------------------------------------------------------------ reading
    def grid(self):
        """``(values (r, r) float32, log_z)`` of the drawn energy on the view box, row 0 at the lowest y."""

        if self._grid_cache is not None and self._grid_cache[0] == self.grid_version:
            return self._grid_cache[1:]
        energy = self._sampled_energy() if self.settings["mode"] == "sample" else self.energy
        r = 2 ** self.settings["bits"] if self.rbm_view is not None else DISPLAY_RESOLUTION
        if hasattr(energy, "event_shape"):
            _, _, values = energy_on_grid(energy, self.bounds, r)
        else:

            with torch.no_grad():
                values = energy(grid_points(self.bounds, r)[2]).reshape(r, r)  # (r, r)
        values = values.detach().float()
        (x0, x1), (y0, y1) = self.bounds
        finite = torch.isfinite(values)
        log_z = float(torch.logsumexp(-values[finite].double(), 0)) + math.log((x1 - x0) * (y1 - y0) / values.numel()) if bool(finite.any()) else float("nan")
        self._grid_cache = (self.grid_version, values, log_z)
        return values, log_z

    def quality(self, log_z: float) -> dict:
        """Training: held-out log-likelihood by grid quadrature; sampling: acceptance and ESS."""
        out = {}
        if self.settings["mode"] == "train" and self.energy is not None and self.held_out is not None and self.held_out.shape[0]:
            with torch.no_grad():
                e = self.energy(self.held_out).double()
            if self.rbm_view is not None:  # exact: the RBM's own log Z plus the log cell area
                (x0, x1), (y0, y1) = self.bounds
                with torch.no_grad():
                    log_z = float(self.model.log_partition()) + math.log((x1 - x0) * (y1 - y0) / 4 ** self.settings["bits"])
            out["loglik"] = float(-e.mean() - log_z)
        if self.acceptance is not None:
            out["acceptance"] = self.acceptance
        if len(self.draws) >= 8:
            from samplers import effective_sample_size

            draws = torch.stack(list(self.draws)).double()  # (window, chains, 2)
            if bool(torch.isfinite(draws).all()) and bool((draws.var(0).mean(0) > 0).all()):
                out["ess"] = float(effective_sample_size(draws).min())
                out["ess_draws"] = draws.shape[0] * draws.shape[1]
        return out

    def score_field(self):
        """``-∇E`` on a ``16 × 16`` grid as a flat list ``[sx, sy, ...]`` (row 0 at the lowest y), or None."""

        energy = self.energy
        if energy is None or self.rbm_view is not None or not hasattr(energy, "score"):
            return None
        _, _, pts = grid_points(self.bounds, SCORE_RESOLUTION)
        s = energy.score(pts).detach()  # (256, 2)
        if not bool(torch.isfinite(s).all()):
            return None
        return [round(v, 4) for v in s.reshape(-1).tolist()]

    def frame(self, *, include_grid: bool = True, include_data: bool = False) -> dict:
        """What the page draws: the landscape grid (base64 float32), score field, chains, losses, quality."""
        out = {"type": "frame", "mode": self.settings["mode"], "bounds": self.bounds, "step": self.steps_done, "status": self.status}
        log_z = float("nan")
        if self.energy is not None:
            values, log_z = self.grid()
            out["grid_version"] = self.grid_version
            if include_grid:
                out["grid"] = {"size": values.shape[0], "data": base64.b64encode(values.contiguous().numpy().tobytes()).decode(), "log_z": log_z}
                out["score"] = self.score_field()
        out["chains"] = [[round(a, 4), round(b, 4)] for a, b in self.chains.tolist()]
        out["losses"], self.new_losses = self.new_losses, []
        out["quality"] = self.quality(log_z) if self.energy is not None else {}
        if include_data and self.data is not None:
            show = self.data[:600]
            out["data"] = [[round(a, 3), round(b, 3)] for a, b in show.tolist()]
        return out

    def export_png(self, path, *, kind: str = "energy", log_scale: bool = False, score: bool = True) -> str:
        """Write the current view as a PNG through `ebm.plot` (landscape, score field, data and chains)."""
        from ebm import plot

        if self.energy is None:
            raise SceneError("export: expected a scene with an energy to draw, found none yet. Fix: draw data points or pick a data set first")
        s = self.settings
        name = s["target"] if s["mode"] == "sample" else f"{s['model']} / {s['principle']} on {s['data']}"
        energy = self._sampled_energy() if s["mode"] == "sample" else self.energy
        r = 2 ** s["bits"] if self.rbm_view is not None else 150
        ax = plot.landscape(energy, self.bounds, resolution=r, kind=kind, log_scale=log_scale, title=name)
        if score and self.score_field() is not None:
            plot.score_field(self.energy, self.bounds, ax=ax)
        if self.data is not None and self.data.shape[0]:
            plot.samples(self.data[:600], ax=ax, color="white", size=3, alpha=0.5, label="data")
        plot.samples(self.chains, ax=ax, color="tab:red", size=10, alpha=0.9, label="chains")
        return str(plot.save(ax, path))
