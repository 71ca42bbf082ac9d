"""The Energy interface: composition, validation messages, autograd score."""

import pytest
import torch

from ebm import Energy, SumEnergy
from ebm.energies import Gaussian, MLPEnergy, Ring
from samplers._validation import trusted_inputs


def test_sum_energy_is_product_of_experts():
    a = Gaussian(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    b = Gaussian(torch.ones(2, dtype=torch.float64), 2 * torch.eye(2, dtype=torch.float64))
    poe = a + b
    assert isinstance(poe, SumEnergy) and len((poe + a).terms) == 3  # sums flatten
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(poe(x), a(x) + b(x))
    torch.testing.assert_close(poe.score(x), a.score(x) + b.score(x))


def test_tempered_energy_scales_energy_and_score():
    ring = Ring()
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    hot = ring.tempered(4.0)
    torch.testing.assert_close(hot(x), ring(x) / 4)
    torch.testing.assert_close(hot.score(x), ring.score(x) / 4)
    with pytest.raises(NotImplementedError, match="grid_log_partition"):
        hot.log_partition()


def test_validation_messages_name_argument_expectation_and_fix():
    g = Gaussian(torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError) as info:
        g(torch.zeros(4, 2))
    msg = str(info.value)
    assert msg.startswith("x: expected shape (*batch, 3)") and "found shape (4, 2)" in msg and "Fix:" in msg
    with pytest.raises(TypeError, match="dtype torch.float32"):
        g(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        g([[0.0, 0.0, 0.0]])
    bad = torch.zeros(4, 3)
    bad[2, 1] = float("inf")
    with pytest.raises(ValueError, match=r"1 non-finite entry \(first at index \(2, 1\)\)"):
        g(bad)


def test_trusted_inputs_skips_per_call_checks():
    g = Gaussian(torch.zeros(2), torch.eye(2))
    bad = torch.full((1, 2), float("nan"))
    with trusted_inputs():
        assert torch.isnan(g(bad)).all()  # the caller promised to check; nothing is read back
    with pytest.raises(ValueError):
        g(bad)


def test_autograd_score_and_create_graph():
    e = MLPEnergy((2,), hidden=(8,), generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    s = e.score(x, create_graph=True)
    assert s.requires_grad  # differentiable w.r.t. the parameters, as score matching needs
    s.sum().backward()
    # every weight shapes the score; the output bias is a constant in x and rightly gets no gradient
    assert all(p.grad is not None for name, p in e.named_parameters() if name.endswith("weight"))
    assert not e.score(x).requires_grad


def test_mlp_energy_image_event_shape_and_spectral_norm():
    e = MLPEnergy((1, 8, 8), hidden=(32,), spectral_norm=True, quadratic=0.1, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert e(x).shape == (2, 5)
    assert e.score(x).shape == x.shape
    # The effect, not just the flag: every linear layer's weight, as the forward pass uses it, has
    # spectral norm 1 once the power iteration (one step per training-mode forward) has settled.
    e.train()
    for _ in range(50):
        e(x)
    e.eval()
    linears = [m for m in e.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in linears)
    norms = [float(torch.linalg.matrix_norm(m.weight.detach(), 2)) for m in linears]
    assert all(abs(s - 1) < 1e-3 for s in norms), norms
    # ... by dividing the stored weight by its largest singular value, which is not 1 here (the
    # output layer's (1, 32) weight has norm about 0.6), so ignoring the flag fails this test.
    for m in linears:
        original = m.parametrizations.weight.original.detach()
        sigma = float(torch.linalg.matrix_norm(original, 2))
        torch.testing.assert_close(m.weight.detach(), original / sigma, rtol=1e-3, atol=1e-5)
    assert abs(float(torch.linalg.matrix_norm(linears[-1].parametrizations.weight.original.detach(), 2)) - 1) > 0.1


def test_log_partition_not_implemented_message():
    class Quartic(Energy):
        def __init__(self):
            super().__init__((1,))

        def forward(self, x):
            return (x**4).sum(-1)

    with pytest.raises(NotImplementedError, match="annealed importance sampling"):
        Quartic().log_partition()
