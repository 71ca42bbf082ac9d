"""The public shared validators (`samplers.validation`), the ones samplers and energies both use."""

import pytest
import torch

import samplers.validation as v
from ebm import _validation as ebm_validation
from ebm.energies import Gaussian, MLPEnergy


def test_public_module_exports_and_ebm_reexports():
    for name in v.__all__:
        assert getattr(v, name) is getattr(ebm_validation, name, getattr(v, name))
    for name in ("check_energy_input_like", "check_energy_output", "check_energy_input", "format_error", "trusted_inputs"):
        assert name in v.__all__ and getattr(ebm_validation, name) is getattr(v, name)


def test_check_energy_input_like_names_the_fix():
    mlp = MLPEnergy(2, hidden=(4,), generator=torch.Generator().manual_seed(0))
    x0 = torch.zeros(3, 2)
    assert v.check_energy_input_like("x0", x0, mlp) is x0
    with pytest.raises(TypeError, match=r"x0\.to\(torch\.float32\).*energy\.double\(\)"):
        v.check_energy_input_like("x0", x0.double(), mlp)
    with pytest.raises(ValueError, match=r"x0: expected shape \(\*batch, 2\).*Fix:"):
        v.check_energy_input_like("x0", torch.zeros(3, 5), mlp)
    with pytest.raises(ValueError, match=r"x0\.to\('cpu'\)"):
        v.check_energy_input_like("x0", x0.to("meta"), mlp)
    with pytest.raises(TypeError, match="real floating-point"):
        v.check_energy_input_like("x0", x0.to(torch.complex64), mlp)
    with pytest.raises(TypeError, match="as_tensor"):
        v.check_energy_input_like("x0", [[0.0, 0.0]], mlp)
    with pytest.raises(ValueError, match="finite"):
        v.check_energy_input_like("x0", torch.full((3, 2), float("inf")), mlp)


def test_check_energy_input_like_duck_types_plain_callables():
    plain = lambda x: (x * x).sum(-1)  # noqa: E731  no event shape, no parameters: any width, any float dtype
    for x in (torch.zeros(3, 5), torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, 2, device="meta")):
        assert v.check_energy_input_like("x0", x, plain) is x
    with pytest.raises(TypeError, match=r"x0\.float\(\)"):  # half precision underflows log densities
        v.check_energy_input_like("x0", torch.zeros(3, 2, dtype=torch.float16), plain)
    gauss = Gaussian(torch.zeros(2), torch.eye(2))  # buffers, not parameters, set its dtype
    with pytest.raises(TypeError, match="float32"):
        v.check_energy_input_like("x0", torch.zeros(3, 2, dtype=torch.float64), gauss)


def test_check_energy_output():
    x = torch.zeros(4, 2)
    v.check_energy_output(torch.zeros(4), torch.zeros(4, 2), x)
    v.check_energy_output(torch.zeros(4), None, x)
    with pytest.raises(ValueError, match=r"one energy per chain, shape \(4,\).*Fix:"):
        v.check_energy_output(torch.zeros(4, 2), None, x)
    with pytest.raises(ValueError, match="energy.score"):
        v.check_energy_output(torch.zeros(4), torch.zeros(4, 3), x)
    with pytest.raises(ValueError, match=r"chains \[1\]"):
        v.check_energy_output(torch.tensor([0.0, float("nan"), 0.0, 0.0]), None, x)


def test_meta_tensors_pass_the_finiteness_check():
    x = torch.zeros(2, 2, device="meta")
    assert v.check_finite("x", x) is x
