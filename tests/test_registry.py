"""Walk the registries: every energy and objective passes the shared checks, and no Energy
subclass in the package escapes registration."""

import importlib
import pkgutil

import pytest
import torch

import ebm
from ebm.energy import Energy
from ebm.registry import ENERGIES, LANDSCAPES, OBJECTIVES


def _import_all():
    for info in pkgutil.walk_packages(ebm.__path__, "ebm."):
        if info.name.startswith(("ebm.plot", "ebm.demos", "ebm.recipes", "ebm.cli", "ebm.__main__")):
            continue
        importlib.import_module(info.name)


_import_all()


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_energy_subclass_is_registered():
    registered = {entry.cls for entry in ENERGIES.values()}
    missing = [
        f"{c.__module__}.{c.__qualname__}"
        for c in set(_subclasses(Energy))
        if c.__module__.startswith("ebm.") and not c.__dict__.get("_abstract", False) and c not in registered
    ]
    assert not missing, f"register these energies in ebm.registry: {missing}"


def _example_input(entry, energy, n=5):
    g = torch.Generator().manual_seed(1)
    dtype = next((t.dtype for t in list(energy.parameters()) + list(energy.buffers()) if t.is_floating_point()), torch.float32)
    shape = (n, *energy.event_shape)
    if entry.binary:
        return torch.bernoulli(torch.full(shape, 0.5, dtype=dtype), generator=g)
    return torch.randn(shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("name", sorted(ENERGIES))
def test_energy_shapes_and_finiteness(name):
    entry = ENERGIES[name]
    energy = entry.example()
    x = _example_input(entry, energy)
    e = energy(x)
    assert e.shape == (5,)
    assert torch.isfinite(e).all()
    x2 = x.reshape(1, 5, *energy.event_shape)  # extra batch dimensions are allowed
    assert energy(x2).shape == (1, 5)


@pytest.mark.parametrize("name", sorted(n for n in ENERGIES if not ENERGIES[n].binary))
def test_energy_score_matches_autograd(name):
    entry = ENERGIES[name]
    energy = entry.example().double()
    x = _example_input(entry, energy).double().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(x).sum(), x)
    e, score = energy.energy_and_score(x.detach())
    torch.testing.assert_close(score, -grad, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(e, energy(x.detach()), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(energy.score(x.detach()), -grad, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ENERGIES))
def test_energy_rejects_bad_input(name):
    entry = ENERGIES[name]
    energy = entry.example()
    x = _example_input(entry, energy)
    with pytest.raises(ValueError, match="Fix:"):
        energy(x[..., :-1] if len(energy.event_shape) else x.unsqueeze(-1))
    bad = x.clone()
    bad.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        energy(bad)
    with pytest.raises(TypeError, match="Fix:"):
        energy(x.long())


@pytest.mark.parametrize("name", sorted(ENERGIES))
def test_energy_bad_params_have_clear_errors(name):
    entry = ENERGIES[name]
    for make, exc, fragment in entry.bad_params:
        with pytest.raises(exc, match=fragment) as info:
            make()
        assert "Fix:" in str(info.value)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_gives_finite_scalar_and_gradients(name):
    objective, args = OBJECTIVES[name].example()
    loss = objective(*args)
    assert loss.dim() == 0 and torch.isfinite(loss)
    params = [p for a in (objective, *args) if isinstance(a, torch.nn.Module) for p in a.parameters() if p.requires_grad]
    params += [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    assert any(g is not None for g in grads), "the loss does not depend on any parameter"
    assert all(torch.isfinite(g).all() for g in grads if g is not None)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_bad_inputs_have_clear_errors(name):
    for make, exc, fragment in OBJECTIVES[name].bad_inputs:
        with pytest.raises(exc, match=fragment) as info:
            make()
        assert "Fix:" in str(info.value)


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_landscape_presets_are_2d_energies(name):
    energy = LANDSCAPES[name].factory()
    assert isinstance(energy, Energy) and tuple(energy.event_shape) == (2,)
