"""The closed-form CD/PCD gradient of a Bernoulli RBM against the generic autograd path, and the
training loop's cheaper per-step machinery (plain-SGD update, batches as views)."""

import pytest
import torch
from helpers import random_rbm
from torch import nn

from ebm.data import bars_and_stripes
from ebm.energies import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM
from ebm.objectives import ContrastiveDivergence
from ebm.train import TrainingDiverged, _batches, load_checkpoint, train


def _generic(cd: ContrastiveDivergence) -> ContrastiveDivergence:
    cd.analytic_gradient = lambda model, data: None  # force the autograd path for comparison
    return cd


def _train(cd, x, *, fast, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    rbm = random_rbm(9, 5, 0.5, g)
    cd = cd if fast else _generic(cd)
    history = train(rbm, cd, x, generator=g, progress=False, **kw)
    return rbm, cd, history


@pytest.mark.parametrize("persistent, k, n_chains, batch_size", [(True, 1, None, 10), (True, 2, 13, 8), (False, 1, None, 10), (False, 3, None, 7)])
def test_fast_path_gives_the_generic_updates(persistent, k, n_chains, batch_size):
    # Same seed, so the same shuffles and the same uniforms: the two paths must take the same
    # samples and the same steps. Float64 keeps rounding (different summation order; logit(u) < a
    # instead of u < σ(a)) at ~1e-16, far below anything that could flip a sample.
    x = bars_and_stripes(3).double().repeat(5, 1)  # 70 rows: batches of 10, or 8 with a short last batch
    runs = [_train(ContrastiveDivergence(k=k, persistent=persistent, n_chains=n_chains), x, fast=fast,
                   epochs=3, batch_size=batch_size, optimizer="sgd", lr=0.1) for fast in (True, False)]
    (fast_rbm, fast_cd, fast_h), (slow_rbm, slow_cd, slow_h) = runs
    for a, b in zip(fast_rbm.parameters(), slow_rbm.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-12)  # the last step's gradient
    torch.testing.assert_close(torch.tensor(fast_h.losses), torch.tensor(slow_h.losses), rtol=0, atol=1e-12)
    if persistent:
        assert torch.equal(fast_cd.chains, slow_cd.chains)


def test_fast_path_with_adam_momentum_and_clipping_matches_generic():
    x = bars_and_stripes(3).double().repeat(4, 1)
    for kw in ({"optimizer": "adam", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3},
               {"optimizer": "sgd", "lr": 0.5, "max_grad_norm": 0.05}):
        (a, _, _), (b, _, _) = (_train(ContrastiveDivergence(k=1, persistent=True), x, fast=f, epochs=2, batch_size=8, **kw) for f in (True, False))
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


def test_fast_path_is_chosen_only_where_the_closed_form_applies():
    x = bars_and_stripes(3).double()
    rbm = BernoulliRBM(9, 4).double()
    assert ContrastiveDivergence(k=1, persistent=True).analytic_gradient(rbm, x) is not None
    assert ContrastiveDivergence(k=2).analytic_gradient(rbm, x) is not None
    from samplers import SingleSiteGibbs

    assert ContrastiveDivergence(SingleSiteGibbs()).analytic_gradient(rbm, x) is None
    assert ContrastiveDivergence(energy_penalty=0.1).analytic_gradient(rbm, x) is None
    assert ContrastiveDivergence(replay_buffer_size=16).analytic_gradient(rbm, x) is None
    assert ContrastiveDivergence().analytic_gradient(BoltzmannMachine(9).double(), x) is None
    assert ContrastiveDivergence().analytic_gradient(GaussianBernoulliRBM(9, 4).double(), x) is None
    frozen = BernoulliRBM(9, 4).double()
    frozen.visible_bias.requires_grad_(False)
    assert ContrastiveDivergence().analytic_gradient(frozen, x) is None


def test_fast_path_checks_the_data_once_with_clear_errors():
    rbm = BernoulliRBM(4, 3)
    with pytest.raises(ValueError, match="data: expected binary"):
        train(rbm, ContrastiveDivergence(), torch.full((6, 4), 0.5), epochs=1, progress=False)
    with pytest.raises(ValueError, match="Fix:"):
        train(rbm, ContrastiveDivergence(), torch.ones(6, 5), epochs=1, progress=False)
    with pytest.raises(ValueError, match="row"):
        train(rbm, ContrastiveDivergence(), torch.ones(0, 4), epochs=1, progress=False)


def test_fast_path_stops_on_a_non_finite_loss():
    rbm = BernoulliRBM(9, 4).double()
    with torch.no_grad():
        rbm.weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train(rbm, ContrastiveDivergence(persistent=True), bars_and_stripes(3).double(), epochs=1, batch_size=7, progress=False)


def test_fast_path_chains_travel_with_checkpoints_and_resume(tmp_path, generator):
    x = bars_and_stripes(3).double().repeat(3, 1)  # 42 rows: 6 batches of up to 8
    rbm, cd = BernoulliRBM(9, 4, generator=generator).double(), ContrastiveDivergence(persistent=True, n_chains=6)
    train(rbm, cd, x, epochs=2, batch_size=8, generator=generator, checkpoint=tmp_path / "ck.pt", progress=False)
    continued = []
    for fast in (True, False):  # continue from the loaded chains on both paths: the same steps
        rbm2, cd2 = BernoulliRBM(9, 4).double(), ContrastiveDivergence(persistent=True, n_chains=6)
        load_checkpoint(tmp_path / "ck.pt", model=rbm2, objective=cd2)
        assert torch.equal(cd2.chains, cd.chains) and cd2.chains.shape == (6, 9) and torch.equal(rbm2.weight, rbm.weight)
        history = train(rbm2, cd2 if fast else _generic(cd2), x, epochs=1, batch_size=8, optimizer="sgd", lr=0.1,
                        generator=torch.Generator().manual_seed(5), progress=False)
        assert len(history.losses) == 6
        continued.append((rbm2.weight.detach(), cd2.chains))
    torch.testing.assert_close(continued[0][0], continued[1][0], rtol=0, atol=1e-12)
    assert torch.equal(continued[0][1], continued[1][1])


class _Line(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.unused = nn.Parameter(torch.zeros(1, dtype=torch.float64))  # never gets a gradient


def _line_loss(model, batch, generator=None):
    x, y = batch
    return ((x @ model.w - y) ** 2).mean()


def test_plain_sgd_update_equals_torch_sgd_step():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, dtype=torch.float64, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    results = []
    for hooked in (False, True):
        model = _Line()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        if hooked:  # a step hook makes the loop call opt.step() itself
            opt.register_step_pre_hook(lambda *args: None)
        train(model, _line_loss, (x, y), epochs=3, batch_size=16, optimizer=opt, generator=torch.Generator().manual_seed(1), progress=False)
        results.append(model.w.detach().clone())
    assert torch.equal(results[0], results[1])


def test_batches_are_the_shuffled_rows_in_order():
    x = torch.arange(23, dtype=torch.float64)
    y = -x
    order = torch.randperm(23, generator=torch.Generator().manual_seed(3))
    batches = list(_batches((x, y), 5, torch.Generator().manual_seed(3), None))
    assert [len(bx) for bx, _ in batches] == [5, 5, 5, 5, 3]
    assert torch.equal(torch.cat([bx for bx, _ in batches]), x[order]) and all(torch.equal(by, -bx) for bx, by in batches)
