"""Dictionary learning: monotone batch objective, unit atoms, online progress, SparseCodingEnergy."""

import math

import pytest
import torch

from ebm.energies import SparseCodingEnergy
from ebm.sparse import fista, learn_dictionary, objective


def _signals(n=300, k=6, f=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = torch.nn.functional.normalize(torch.randn(k, f, generator=g, dtype=torch.float64), dim=1)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * (torch.rand(n, k, generator=g, dtype=torch.float64) < 0.3)
    return z @ d + 0.01 * torch.randn(n, f, generator=g, dtype=torch.float64)


def test_batch_objective_never_increases_and_atoms_unit_norm():
    x = _signals()
    res = learn_dictionary(x, 8, 0.1, n_epochs=8, method="batch", generator=torch.Generator().manual_seed(0))
    obj = res.objective
    assert all(b <= a + 1e-12 for a, b in zip(obj, obj[1:]))
    assert obj[-1] < obj[0]
    torch.testing.assert_close(res.dictionary.norm(dim=1), torch.ones(8, dtype=x.dtype))
    assert len(res.wall_time) == 8


def test_online_learning_improves_held_out_energy():
    data = _signals(800)
    x, held = data[:600], data[600:]
    g = torch.Generator().manual_seed(5)  # not 0: that stream would start with the true atoms
    init = torch.nn.functional.normalize(torch.randn(8, 16, generator=g, dtype=torch.float64), dim=1)
    res = learn_dictionary(x, 8, 0.1, n_epochs=3, method="online", batch_size=64, init=init, generator=g)

    def held_energy(d):
        return float(objective(held, fista(held, d, 0.1, tol=1e-6).codes, d, 0.1).mean())

    assert held_energy(res.dictionary) < 0.5 * held_energy(init)
    torch.testing.assert_close(res.dictionary.norm(dim=1), torch.ones(8, dtype=x.dtype))


def test_bad_arguments():
    x = _signals(20)
    with pytest.raises(ValueError, match="method"):
        learn_dictionary(x, 4, 0.1, method="sgd")
    with pytest.raises(ValueError, match="alpha.*Fix:"):
        learn_dictionary(x, 4, -0.1)
    with pytest.raises(ValueError, match="zero atom.*Fix:"):
        learn_dictionary(x, 4, 0.1, init=torch.zeros(4, 16, dtype=x.dtype))


def test_sparse_coding_energy_is_min_over_codes_with_envelope_gradients():
    g = torch.Generator().manual_seed(0)
    e = SparseCodingEnergy(torch.randn(5, 3, generator=g, dtype=torch.float64), alpha=0.2)
    x = torch.randn(4, 2, 3, generator=g, dtype=torch.float64)
    f = e(x)
    assert f.shape == (4, 2)
    z = e.infer(x)
    # Free energy equals the joint energy at the solver's minimiser, below any perturbation of it.
    torch.testing.assert_close(f, e.joint_energy(x, z))
    assert bool((e.joint_energy(x, z + 0.01 * torch.randn(z.shape, generator=g, dtype=z.dtype)) >= f).all())
    # Envelope theorem: dF/dD equals the finite difference of min_z E.
    d0 = e.dictionary.detach().clone()
    f.sum().backward()
    direction = torch.randn(d0.shape, generator=g, dtype=d0.dtype)
    eps = 1e-6
    with torch.no_grad():
        e.dictionary.copy_(d0 + eps * direction)
        up = e(x).sum()
        e.dictionary.copy_(d0 - eps * direction)
        down = e(x).sum()
    assert math.isclose(float((up - down) / (2 * eps)), float((e.dictionary.grad * direction).sum()), rel_tol=1e-5)
