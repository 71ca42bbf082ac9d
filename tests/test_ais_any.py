"""Generic AIS (`ebm.evaluate.ais_any`) against exact log Z of the registry's analytic energies and
of small Boltzmann machines (exact by enumeration)."""

import pytest
import torch

import ebm.energies  # noqa: F401  (registers the energies)
from ebm.evaluate.ais_any import ais_log_partition_any
from ebm.grid import grid_sample
from ebm.registry import ENERGIES, LANDSCAPES

# Tolerances from the spread over 3 seeds measured when the test was written (300 chains, 500
# temperatures, 2 MALA steps each; binary: 200 chains, 200 temperatures): largest |error| 0.023
# for the Gaussians and the mixture, 0.096 for the 2-D landscapes (Himmelblau, whose four wells
# the base covers unevenly), 0.004 for the Boltzmann machines.
CONTINUOUS = {"gaussian": 0.06, "gaussian_mixture": 0.06, "quadratic": 0.06, "tempered": 0.06,
              "banana": 0.15, "double_well": 0.15, "himmelblau": 0.2, "neal_funnel": 0.15, "ring": 0.15, "wavy_valley": 0.15}
BINARY = {"boltzmann_machine": 0.02, "bernoulli_rbm": 0.02}
FAST = {"gaussian", "gaussian_mixture", "banana", "boltzmann_machine"}


def _case(name):
    marks = () if name in FAST else (pytest.mark.slow,)
    return pytest.param(name, marks=marks)


@pytest.mark.parametrize("name", [_case(n) for n in [*CONTINUOUS, *BINARY]])
def test_generic_ais_matches_exact_log_z(name, generator):
    model = ENERGIES[name].example().double()
    truth = float(model.log_partition().detach())
    if name in BINARY:
        r = ais_log_partition_any(model, binary=True, n_chains=200, n_betas=200, generator=generator)
        tol = BINARY[name]
    else:
        if hasattr(model, "sample"):
            data = model.sample(400, generator=generator).double()
        else:  # grid samples: exact for the piecewise-constant density, no sampler involved
            bounds = LANDSCAPES[name].bounds if name in LANDSCAPES else ((-6.0, 6.0), (-6.0, 6.0))
            data = grid_sample(model, bounds, 400, generator=generator, dtype=torch.float64)
        r = ais_log_partition_any(model, data=data, n_chains=300, n_betas=500, generator=generator)
        tol = CONTINUOUS[name]
    assert abs(float(r.log_z) - truth) < tol, (float(r.log_z), truth)


def test_reverse_ais_brackets_the_truth_with_exact_samples(generator):
    model = ENERGIES["gaussian_mixture"].example().double()
    truth = float(model.log_partition().detach())
    r = ais_log_partition_any(model, data=model.sample(400, generator=generator).double(), n_chains=300, n_betas=300, generator=generator)
    assert r.log_z_upper is not None
    # Forward is a stochastic lower bound and reverse an upper bound: with 300 runs each the pair
    # brackets the truth up to their noise (standard errors ~0.01).
    assert float(r.log_z) - 0.03 < truth < float(r.log_z_upper) + 0.03


def test_auto_reverse_run_takes_only_exact_samples(generator):
    # Regression: "auto" used any `sample` method, e.g. a latent-prior model's generator output or a
    # Boltzmann machine's MCMC, and reported a reverse "bound" computed from the wrong distribution.
    from ebm.energies import Gaussian

    class WrongSampler(Gaussian):  # the energy of N(0, I); its `sample` draws from N(5, I)
        exact_sample = None

        def sample(self, n, *, generator=None):
            return torch.randn(n, 2, generator=generator, dtype=torch.float64) + 5

    model = WrongSampler(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    data = torch.randn(400, 2, generator=generator, dtype=torch.float64)
    assert ais_log_partition_any(model, data=data, n_chains=50, n_betas=20, generator=generator).log_z_upper is None
    big = ebm.energies.BoltzmannMachine(30, generator=generator)  # too large to enumerate: no reverse run, no error
    assert ais_log_partition_any(big, n_chains=20, n_betas=5, generator=generator).log_z_upper is None


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: ais_log_partition_any(ENERGIES["gaussian"].example()), ValueError, "data"),
        (lambda: ais_log_partition_any(ENERGIES["gaussian"].example(), data=torch.zeros(5, 3)), ValueError, "dimension"),
        (lambda: ais_log_partition_any(ENERGIES["gaussian"].example(), data=torch.randn(5, 2), n_chains=1), ValueError, "n_chains"),
        (lambda: ais_log_partition_any(ENERGIES["gaussian"].example(), data=torch.randn(5, 2), n_betas=2), ValueError, "n_betas"),
        (lambda: ais_log_partition_any(ENERGIES["gaussian"].example(), data=torch.randn(1, 2)), ValueError, "at least 2"),
        (lambda: ais_log_partition_any(lambda x: x.sum(-1)), ValueError, "event_shape"),
    ],
)
def test_bad_input_gets_a_clear_error(call, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        call()
    assert "Fix:" in str(info.value)
