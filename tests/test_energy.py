"""The Energy interface: composition, validation messages, autograd score."""

import pytest
import torch

from ebm import Energy, SumEnergy
from ebm.energies import Gaussian, MLPEnergy, Ring
from samplers.validation import trusted_inputs


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
    e = MLPEnergy((1, 8, 8), hidden=(32,), spectral_norm=True, quadratic=0.1)
    x = torch.randn(2, 5, 1, 8, 8)
    assert e(x).shape == (2, 5)
    assert e.score(x).shape == x.shape


def test_log_partition_not_implemented_message():
    class Quartic(Energy):
        def __init__(self):
            super().__init__((1,))

        def forward(self, x):
            return (x**4).sum(-1)

    with pytest.raises(NotImplementedError, match="annealed importance sampling"):
        Quartic().log_partition()


# ---------------------------------------------------------------------------------- issue #14 (A)
def _raises_clear(exc, fn, fragment=None):
    with pytest.raises(exc) as info:
        fn()
    assert "Fix:" in str(info.value)
    if fragment is not None:
        assert fragment in str(info.value), str(info.value)
    return str(info.value)


@pytest.mark.parametrize("method", ["score", "energy_and_score", "log_prob"])
def test_entry_points_check_x_like_call(method):
    # Gaussian overrides energy_and_score and log_prob analytically: it used to broadcast (5, 1)
    gauss = Gaussian(torch.zeros(2), torch.eye(2))
    _raises_clear(ValueError, lambda: getattr(gauss, method)(torch.randn(5, 1)), "event shape")
    _raises_clear(TypeError, lambda: getattr(gauss, method)(torch.zeros(5, 2, dtype=torch.long)))
    _raises_clear(ValueError, lambda: getattr(gauss, method)(torch.full((5, 2), float("nan"))), "finite")


def test_float64_input_for_float32_mlp_names_the_fix():
    mlp = MLPEnergy(2, hidden=(4,), generator=torch.Generator().manual_seed(0))
    for call in (lambda x: mlp(x), lambda x: mlp.score(x), lambda x: mlp.energy_and_score(x)):
        message = _raises_clear(TypeError, lambda: call(torch.randn(3, 2, dtype=torch.float64)))
        assert "x.to(torch.float32)" in message and "energy.double()" in message  # not torch's "mat1 and mat2"


def test_a_new_energy_is_checked_by_construction():
    class Bowl(Energy):  # a user's energy with an analytic score and no validation of its own
        def forward(self, x):
            return 0.5 * (x * x).sum(-1)

        def energy_and_score(self, x, *, create_graph=False):
            return self.forward(x), -x

    bowl = Bowl(3)  # an int event shape
    assert bowl.event_shape == (3,)
    _raises_clear(ValueError, lambda: bowl.energy_and_score(torch.zeros(4, 2)), "event shape")
    _raises_clear(ValueError, lambda: bowl.score(torch.zeros(4, 2)), "event shape")
    with trusted_inputs():  # samplers validate once, then skip the per-call checks
        assert bowl.score(torch.zeros(4, 3)).shape == (4, 3)


def test_int_event_shapes():
    assert Energy(2).event_shape == (2,) and MLPEnergy(2, hidden=(4,)).event_shape == (2,)
    assert MLPEnergy((1, 8, 8), hidden=(4,)).event_shape == (1, 8, 8)
    _raises_clear(ValueError, lambda: Energy(0), "event_shape")
    _raises_clear(TypeError, lambda: Energy("2"), "event_shape")


def test_empty_batch_gives_empty_energies():
    mlp = MLPEnergy(2, hidden=(4,), generator=torch.Generator().manual_seed(0))
    assert mlp(torch.zeros(0, 2)).shape == (0,)
    e, s = mlp.energy_and_score(torch.zeros(0, 2))
    assert e.shape == (0,) and s.shape == (0, 2)


def test_constructors_with_a_generator_leave_the_global_rng_alone():
    from ebm.energies import AutoencoderEnergy, DecoderEnergy, LatentEBMPrior, NoiseConditionalEnergy

    makers = [
        lambda g: MLPEnergy(2, hidden=(4,), generator=g),
        lambda g: MLPEnergy(2, hidden=(4,), spectral_norm=True, generator=g),
        lambda g: AutoencoderEnergy(2, 3, hidden=4, generator=g),
        lambda g: DecoderEnergy(2, hidden=4, generator=g),
        lambda g: NoiseConditionalEnergy(2, hidden=4, generator=g),
        lambda g: LatentEBMPrior(3, hidden=4, prior_hidden=4, generator=g),
    ]
    for make in makers:
        torch.manual_seed(123)
        before = torch.get_rng_state()
        a = make(torch.Generator().manual_seed(5))
        assert torch.equal(before, torch.get_rng_state()), make
        b = make(torch.Generator().manual_seed(5))  # and the generator alone decides the weights
        for pa, pb in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(pa, pb)


def test_joint_embedding_event_shape_is_inferred_or_required():
    from torch import nn

    from ebm.energies import JointEmbeddingEnergy

    energy = JointEmbeddingEnergy(nn.Linear(5, 3))
    assert energy.x_event_shape == (5,) and energy.event_shape == (2, 5)  # it used to default to (2,)
    assert JointEmbeddingEnergy(nn.Linear(5, 3), nn.Linear(7, 3)).y_event_shape == (7,)
    _raises_clear(ValueError, lambda: JointEmbeddingEnergy(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())), "event_shape=")
    _raises_clear(ValueError, lambda: JointEmbeddingEnergy(nn.Linear(5, 3), event_shape=(2,)), "(5,)")


def test_boltzmann_machine_log_partition_names_what_works():
    from ebm.energies import BoltzmannMachine

    message = _raises_clear(ValueError, lambda: BoltzmannMachine(30).log_partition())
    assert "samplers.AIS" in message and "GeometricPath" in message and "gibbs" in message


def test_energy_module_does_not_import_the_energies():
    # ebm.energies imports ebm.energy; an import back (even one inside a function) is a circle
    import ast

    import ebm.energy

    tree = ast.parse(open(ebm.energy.__file__).read())
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m and m.startswith("ebm.energies")], modules


def test_grid_sample_is_importable_where_documented():
    from ebm.evaluate import grid_sample
    from ebm.grid import grid_sample as same

    assert grid_sample is same


def test_joint_embedding_score_of_a_pair():
    from torch import nn

    from ebm.energies import JointEmbeddingEnergy

    g = torch.Generator().manual_seed(0)
    energy = JointEmbeddingEnergy(nn.Linear(3, 2), nn.Linear(4, 2), "euclidean").double()
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    e, (sx, sy) = energy.energy_and_score((x, y))
    xr, yr = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    gx, gy = torch.autograd.grad(energy((xr, yr)).sum(), (xr, yr))
    torch.testing.assert_close(sx, -gx)
    torch.testing.assert_close(sy, -gy)
    torch.testing.assert_close(e, energy((x, y)))
    _raises_clear(ValueError, lambda: energy.score((x, y[:, :3])), "y")
