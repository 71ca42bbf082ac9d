"""What the playground offers and the one check that every setting from a browser goes through.

A *scene* is a flat dictionary of settings (flat, so that it fits in a URL a teacher can hand out):
the mode, the target (a landscape in sampling mode, a toy data set or drawn points in training mode),
the model with its sizes, the training principle with its hyper-parameters, the sampler with its
step size, chain count and temperature, and the view. `catalogue()` lists every choice and every range;
the page builds its controls from it, and `validate_scene` checks a client's dictionary against it
(unknown keys, wrong types, values out of range and combinations that do not fit are refused with the
house message: argument, expected, found, fix). Nothing a client sends reaches the library unchecked.

Example:
    >>> scene = validate_scene({"mode": "train", "data": "moons", "model": "mlp", "principle": "dsm"})
    >>> scene["sigma"]
    0.1
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ebm._validation import format_error

__all__ = ["DEFAULTS", "TRAIN_BOUNDS", "SceneError", "validate_scene", "catalogue"]

TRAIN_BOUNDS = ((-4.5, 4.5), (-4.5, 4.5))  # the toy data sets live in [-4, 4]²
MAX_DRAWN_POINTS = 4000


class SceneError(ValueError):
    """A scene setting from the client is unknown, of the wrong type, out of range or does not fit."""


# Models offered in training mode and the principles that fit each (first = default).
MODELS = {
    "mlp": ("MLPEnergy: a neural energy, width × depth", ("dsm", "ssm", "sm", "cd", "pcd", "nce")),
    "gaussian": ("a Gaussian E = ½(x − μ)ᵀP(x − μ), learnable μ and P (exact log Z)", ("exact", "sm", "dsm", "ssm", "nce", "cd", "pcd")),
    "kmeans": ("k-means: E(x, z) = ‖x - c_z‖², a latent energy", ("free_energy",)),
    "gmm": ("Gaussian mixture (latent component), fitted by EM", ("em",)),
    "pca": ("PCA: squared distance to a line (closed form)", ("svd",)),
    "sparse_coding": ("sparse coding: min_z ½‖x - zD‖² + α‖z‖₁", ("free_energy",)),
    "autoencoder": ("autoencoder: E(x) = ‖x - d(e(x))‖²", ("reconstruction", "denoising", "contractive", "sparse_code")),
    "rbm": ("Bernoulli RBM on the binarised 2-D grid", ("pcd", "cd", "exact")),
}

PRINCIPLES = {
    "dsm": "denoising score matching (Vincent 2011)",
    "ssm": "sliced score matching (Song et al. 2019)",
    "sm": "exact score matching (Hyvärinen 2005)",
    "cd": "contrastive divergence CD-k (Hinton 2002)",
    "pcd": "persistent CD (Tieleman 2008)",
    "nce": "noise-contrastive estimation (Gutmann & Hyvärinen 2010)",
    "free_energy": "minimise the data's free energy (LeCun et al. 2006)",
    "em": "expectation-maximisation (Dempster et al. 1977)",
    "svd": "closed form by the SVD",
    "reconstruction": "reconstruction loss",
    "denoising": "denoising autoencoder loss (Vincent et al. 2008)",
    "contractive": "contractive autoencoder loss (Rifai et al. 2011)",
    "sparse_code": "sparse autoencoder loss (Ranzato et al. 2007)",
    "exact": "exact likelihood: mean E(x) + log Z, log Z exact (Ackley et al. 1985)",
}

SAMPLERS = {
    "mala": "MALA: Langevin proposal + Metropolis test (Roberts & Tweedie 1996)",
    "ula": "ULA: unadjusted Langevin (biased for a finite step)",
    "hmc": "HMC: leapfrog + Metropolis test (Duane et al. 1987; Neal 2011)",
    "nuts": "NUTS: HMC that picks its own trajectory length (Hoffman & Gelman 2014)",
    "underdamped": "underdamped Langevin: momentum + friction, BAOAB (Leimkuhler & Matthews 2013)",
    "svgd": "SVGD: interacting particles pushed by the score and apart by a kernel (Liu & Wang 2016)",
}

DATA_SETS = ("moons", "8gaussians", "circles", "rings", "swissroll", "pinwheel", "2spirals", "checkerboard", "drawn")

# Numeric knobs: name -> (kind, low, high, default, scale, label). Integers are "int"; "log" sliders
# move on a log scale. The ranges are what a 2-core classroom machine keeps interactive.
KNOBS = {
    "width": ("int", 8, 256, 64, "log", "MLP width"),
    "depth": ("int", 1, 4, 2, "lin", "MLP hidden layers"),
    "components": ("int", 1, 16, 8, "lin", "clusters / components / atoms"),
    "alpha": ("float", 0.01, 2.0, 0.3, "log", "sparse-coding penalty α"),
    "hidden": ("int", 1, 64, 16, "log", "RBM hidden units / AE width ÷ 4"),
    "bits": ("int", 2, 5, 4, "lin", "RBM bits per axis (grid 2^bits per side)"),
    "k": ("int", 1, 100, 10, "log", "MCMC steps per update (CD-k)"),
    "sigma": ("float", 0.01, 2.0, 0.1, "log", "noise σ (DSM / denoising AE)"),
    "projections": ("int", 1, 8, 1, "lin", "random projections (SSM)"),
    "noise_ratio": ("float", 0.25, 8.0, 1.0, "log", "noise samples per data point (NCE)"),
    "penalty": ("float", 0.0, 2.0, 0.1, "lin", "contractive / sparsity penalty"),
    "lr": ("float", 1e-5, 100.0, 3e-3, "log", "learning rate"),
    "batch": ("int", 16, 1024, 128, "log", "batch size"),
    "steps": ("int", 1, 50, 5, "log", "optimiser steps per frame"),
    "step_size": ("float", 1e-4, 2.0, 0.05, "log", "sampler step size"),
    "leapfrog": ("int", 1, 50, 10, "log", "HMC leapfrog steps"),
    "chains": ("int", 1, 512, 64, "log", "chains"),
    "temperature": ("float", 0.05, 20.0, 1.0, "log", "temperature T (samples exp(-E/T))"),
    "sweeps": ("int", 1, 100, 2, "log", "sampler steps per frame"),
    "seed": ("int", 0, 2**31 - 1, 0, "lin", "random seed"),
}

CHOICES = {
    "mode": ("train", "sample"),
    "target": None,  # filled lazily from ebm.registry.LANDSCAPES (every built-in 2-D landscape)
    "data": DATA_SETS,
    "model": tuple(MODELS),
    "principle": tuple(PRINCIPLES),
    "sampler": tuple(SAMPLERS),
    "optimizer": ("adam", "sgd"),
}

DEFAULTS = {"mode": "train", "target": "double_well", "data": "moons", "model": "mlp", "principle": "dsm", "sampler": "mala", "optimizer": "adam"}
DEFAULTS.update({name: spec[3] for name, spec in KNOBS.items()})


def _landscapes() -> tuple[str, ...]:
    import ebm.energies  # noqa: F401  (registers the built-in landscapes)
    from ebm.registry import LANDSCAPES

    return tuple(LANDSCAPES)


def catalogue() -> dict:
    """Every choice and range, as JSON for the page (which builds its controls from it)."""
    import ebm.energies  # noqa: F401
    from ebm.registry import LANDSCAPES

    return {
        "modes": list(CHOICES["mode"]),
        "targets": {name: {"description": e.description, "bounds": e.bounds} for name, e in LANDSCAPES.items()},
        "data": list(DATA_SETS),
        "models": {name: {"description": d, "principles": list(p)} for name, (d, p) in MODELS.items()},
        "principles": dict(PRINCIPLES),
        "samplers": dict(SAMPLERS),
        "optimizers": list(CHOICES["optimizer"]),
        "knobs": {n: {"kind": k, "low": lo, "high": hi, "default": dv, "scale": s, "label": lab} for n, (k, lo, hi, dv, s, lab) in KNOBS.items()},
        "defaults": dict(DEFAULTS),
        "train_bounds": TRAIN_BOUNDS,
        "max_drawn_points": MAX_DRAWN_POINTS,
    }


def _number(name: str, value, kind: str, low: float, high: float):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SceneError(format_error(name, f"a number in [{low}, {high}]", f"{type(value).__name__} {value!r}"[:80], f"send {name} as a number"))
    try:
        number = float(value)  # URLs carry strings
    except ValueError:
        raise SceneError(format_error(name, f"a number in [{low}, {high}]", repr(value)[:80], f"send {name} as a number")) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise SceneError(format_error(name, f"a number in [{low}, {high}]", repr(value)[:80], f"choose {name} inside the range"))
    if kind == "int":
        if number != int(number):
            raise SceneError(format_error(name, f"an integer in [{low}, {high}]", repr(value)[:80], f"round {name}"))
        return int(number)
    return number


def validate_scene(settings: Mapping, base: Mapping | None = None) -> dict:
    """Check a client's scene settings and fill in the rest from ``base`` (default: `DEFAULTS`).

    Args:
        settings: ``{name: value}``; names from `KNOBS` and `CHOICES`. Numbers may arrive as strings
            (from a URL). Unknown names are refused (a typo should not be silently ignored).
        base: the scene to update (the session's current one).

    Returns:
        A complete, checked scene dictionary.

    Raises:
        SceneError: a name is unknown, a value has the wrong type or is out of range, or the principle
            does not fit the model (the message lists those that do).
    """
    if not isinstance(settings, Mapping):
        raise SceneError(format_error("settings", "an object {name: value}", type(settings).__name__, "send a JSON object"))
    scene = dict(base if base is not None else DEFAULTS)
    for name, value in settings.items():
        if not isinstance(name, str) or (name not in KNOBS and name not in CHOICES):
            known = sorted(list(KNOBS) + list(CHOICES))
            raise SceneError(format_error("settings", f"names among {known}", repr(name)[:60], "remove or correct the unknown name"))
        if name in KNOBS:
            kind, low, high = KNOBS[name][:3]
            scene[name] = _number(name, value, kind, low, high)
        else:
            options = _landscapes() if name == "target" else CHOICES[name]
            if not isinstance(value, str) or value not in options:
                raise SceneError(format_error(name, f"one of {list(options)}", repr(value)[:60], f"pick a {name} from the list"))
            scene[name] = value
    if "model" in settings and "principle" not in settings and scene["principle"] not in MODELS[scene["model"]][1]:
        scene["principle"] = MODELS[scene["model"]][1][0]  # a new model brings its default principle
    fitting = MODELS[scene["model"]][1]
    if scene["mode"] == "train" and scene["principle"] not in fitting:
        raise SceneError(format_error("principle", f"one of {list(fitting)} for the model {scene['model']!r}", repr(scene["principle"]), "pick a principle that fits the model"))
    return scene
