"""Parallel tempering and AIS against exact answers.

PT: a two-mode mixture with known weights; the fraction of T = 1 replicas in the left mode is
compared with its weight at Z = 4.5 binomial standard errors (false-failure rate 6.8e-6).
AIS: exact log Z by closed form (Gaussians) or enumeration (binary models, incl. large couplings).
"""

import itertools
import math

import pytest
import torch

from samplers import AIS, MALA, GeometricPath, ParallelTempering, SingleSiteGibbs, geometric_temperatures

Z = 4.5


MU = torch.tensor([[-4.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
LOGW = torch.tensor([0.3, 0.7], dtype=torch.float64).log()


def mixture(x):
    """Two N(μ_k, 0.5² I) modes with weights 0.3 / 0.7 (barrier ~30 nats between them)."""
    d = ((x[:, None, :] - MU) ** 2).sum(-1) / (2 * 0.25)  # (n, 2)
    return -torch.logsumexp(LOGW - d, 1)


def test_parallel_tempering_recovers_mode_weights_where_mala_cannot():
    n = 600
    x0 = MU[0].expand(n, 2).clone()  # every chain starts in the light (0.3) mode
    gen = torch.Generator().manual_seed(0)
    mala = MALA(0.1).run(mixture, x0, 250, generator=gen)
    pt = ParallelTempering(MALA(0.1), geometric_temperatures(60.0, 8)).run(mixture, x0, 250, generator=gen)
    se = math.sqrt(0.3 * 0.7 / n)
    left_mala = float((mala.x[:, 0] < 0).double().mean())
    left_pt = float((pt.x[:, 0] < 0).double().mean())
    assert left_mala > 0.99  # MALA never crosses the barrier
    assert abs(left_pt - 0.3) < Z * se, left_pt
    swaps = pt.extras["swap_acceptance"]
    assert swaps.shape == (7,) and (swaps > 0.2).all() and (swaps <= 1).all()
    assert pt.extras["x_all"].shape == (8, n, 2)


def test_parallel_tempering_with_gibbs_kernel_matches_enumeration():
    n = 5
    gen = torch.Generator().manual_seed(1)
    j = torch.randn(n, n, generator=gen, dtype=torch.float64) * 2
    J = torch.triu(j, 1) + torch.triu(j, 1).T
    b = torch.randn(n, generator=gen, dtype=torch.float64)
    energy = lambda x: -0.5 * ((x @ J) * x).sum(-1) - x @ b
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)
    p = torch.softmax(-energy(states), 0)
    r = ParallelTempering(SingleSiteGibbs(), [1.0, 2.0, 4.0]).run(energy, torch.zeros(20000, n, dtype=torch.float64), 20, generator=gen)
    q = torch.bincount((r.x * 2 ** torch.arange(n - 1, -1, -1)).sum(1).long(), minlength=2**n) / 20000
    # TV between an exact 20000-sample histogram and p is ≈ 0.01 here; 0.03 leaves a wide margin.
    assert 0.5 * float((p - q).abs().sum()) < 0.03


def test_ais_gaussian_closed_form():
    gen = torch.Generator().manual_seed(2)
    cov = torch.tensor([[2.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    prec = torch.linalg.inv(cov)
    base = lambda x: 0.5 * (x ** 2).sum(-1)
    target = lambda x: 0.5 * ((x @ prec) * x).sum(-1)
    exact = 0.5 * math.log(torch.linalg.det(2 * math.pi * cov).item())
    r = AIS(100, step_size=0.3, kernel_steps=2).run(GeometricPath(base, target), torch.randn(1000, 2, generator=gen, dtype=torch.float64), math.log(2 * math.pi), generator=gen)
    assert abs(float(r.log_z) - exact) < Z * float(r.std_error) + 1e-3
    assert float(r.std_error) < 0.02 and r.log_weights.shape == (1000,)


def bm_setup(n, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    j = torch.randn(n, n, generator=gen, dtype=torch.float64) * scale
    J = torch.triu(j, 1) + torch.triu(j, 1).T
    b = torch.randn(n, generator=gen, dtype=torch.float64) * scale / 2
    energy = lambda x: -0.5 * ((x @ J) * x).sum(-1) - x @ b
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)
    exact = float(torch.logsumexp(-energy(states), 0))
    path = GeometricPath(lambda x: torch.zeros(x.shape[0], dtype=x.dtype), energy)  # uniform base
    return energy, states, exact, path


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_ais_binary_exact_log_z_and_error_shrinks_with_temperatures(scale):
    n = 8
    energy, states, exact, path = bm_setup(n, scale, seed=3)
    errors, ses = [], []
    for k in [10, 100, 1000]:
        gen = torch.Generator().manual_seed(4)
        x0 = torch.bernoulli(torch.full((200, n), 0.5, dtype=torch.float64), generator=gen)
        r = AIS(k, kernel="gibbs").run(path, x0, n * math.log(2), generator=gen)
        errors.append(abs(float(r.log_z) - exact))
        ses.append(float(r.std_error))
        if k == 1000:
            assert errors[-1] < max(Z * float(r.std_error), 0.02), (errors, float(r.std_error))
    assert errors[2] < errors[0] and errors[2] < 0.05, errors
    assert ses[0] > ses[1] > ses[2], ses  # the weights' spread shrinks as temperatures are added


def test_reverse_ais_brackets_log_z():
    n = 8
    energy, states, exact, path = bm_setup(n, 3.0, seed=5)
    gen = torch.Generator().manual_seed(6)
    p = torch.softmax(-energy(states), 0)
    x_exact = states[torch.multinomial(p, 400, replacement=True, generator=gen)]  # exact target samples
    x0 = torch.bernoulli(torch.full((400, n), 0.5, dtype=torch.float64), generator=gen)
    ais = AIS(30, kernel="gibbs")
    lower = ais.run(path, x0, n * math.log(2), generator=gen)
    upper = ais.run_reverse(path, x_exact, n * math.log(2), generator=gen)
    # Stochastic bounds: E[lower] <= log Z <= E[upper]; allow Z standard errors of slack.
    assert float(lower.log_z) < exact + Z * float(lower.std_error)
    assert float(upper.log_z) > exact - Z * float(upper.std_error)
    assert abs(float(upper.log_z) - exact) < 0.3 and abs(float(lower.log_z) - exact) < 0.3


def test_ais_user_kernel_protocol():
    # A user kernel(x, beta, generator) that samples p_beta exactly (a Gaussian path in closed form).
    base = lambda x: 0.5 * (x ** 2).sum(-1)
    target = lambda x: 0.5 * (x ** 2).sum(-1) / 9.0  # N(0, 9 I)
    kernel = lambda x, beta, g: torch.randn(x.shape, generator=g, dtype=x.dtype) / math.sqrt(1 - beta + beta / 9.0)
    gen = torch.Generator().manual_seed(7)
    r = AIS(50, kernel=kernel).run(GeometricPath(base, target), torch.randn(2000, 2, generator=gen, dtype=torch.float64), math.log(2 * math.pi), generator=gen)
    assert abs(float(r.log_z) - math.log(2 * math.pi * 9)) < Z * float(r.std_error)
