"""Boltzmann energies against brute force: free energies, log Z, conditionals, flip deltas, input errors."""

import math

import pytest
import torch
from helpers import random_rbm

from ebm.energies import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM
from ebm.energies.boltzmann import binary_states
from ebm.train import load_checkpoint, save_checkpoint


@pytest.mark.parametrize("v,h", [(5, 3), (3, 5), (4, 4)])
def test_rbm_free_energy_and_log_z_match_brute_force(v, h, generator):
    rbm = random_rbm(v, h, 1.5, generator)
    V, H = binary_states(v, 0, 2**v), binary_states(h, 0, 2**h)
    joint = rbm.joint_energy(V.unsqueeze(1), H.unsqueeze(0))  # (2^v, 2^h)
    torch.testing.assert_close(rbm(V), -torch.logsumexp(-joint, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(rbm.log_partition(), torch.logsumexp(-joint.flatten(), 0), rtol=0, atol=1e-12)
    torch.testing.assert_close(rbm.log_prob(V).exp().sum(), torch.tensor(1.0, dtype=torch.float64))


def test_rbm_conditionals_match_definitions(generator):
    rbm = random_rbm(4, 3, 2.0, generator)
    V, H = binary_states(4, 0, 16), binary_states(3, 0, 8)
    joint = -rbm.joint_energy(V.unsqueeze(1), H.unsqueeze(0))  # (16, 8) log-unnormalised p(v, h)
    p_h_given_v = torch.softmax(joint, 1)  # (16, 8)
    torch.testing.assert_close(rbm.prob_h(V), p_h_given_v @ H, rtol=0, atol=1e-12)
    p_v_given_h = torch.softmax(joint, 0)  # (16, 8)
    torch.testing.assert_close(rbm.prob_v(H), p_v_given_h.T @ V, rtol=0, atol=1e-12)
    # sampled conditionals have the right means (4 standard errors over 20,000 draws)
    v = V[5].expand(20000, 4)
    mean = rbm.sample_h(v, generator=generator).mean(0)
    p = rbm.prob_h(V[5])
    assert ((mean - p).abs() <= 4 * (p * (1 - p) / 20000).sqrt() + 1e-9).all()


def test_flip_deltas_match_energy_differences(generator):
    rbm = random_rbm(6, 4, 1.0, generator)
    bm = BoltzmannMachine(6, weight_scale=1.0, generator=generator).double()
    x = binary_states(6, 0, 64)
    for model in (rbm, bm):
        all_d = model.all_flip_energy_deltas(x)
        for i in range(6):
            flipped = x.clone()
            flipped[:, i] = 1 - flipped[:, i]
            torch.testing.assert_close(model.flip_energy_deltas(x, i), model(flipped) - model(x))
            torch.testing.assert_close(all_d[:, i], model(flipped) - model(x))


def test_boltzmann_machine_log_z_conditionals_and_symmetry(generator):
    bm = BoltzmannMachine(7, weight_scale=1.0, generator=generator).double()
    X = binary_states(7, 0, 128)
    J = bm.coupling.detach()
    torch.testing.assert_close(J, J.T)
    assert (J.diagonal() == 0).all()
    brute = torch.logsumexp(0.5 * ((X @ J) * X).sum(-1) + X @ bm.bias.detach(), 0)
    torch.testing.assert_close(bm.log_partition(), brute)
    torch.testing.assert_close(bm.tempered(2.0).log_partition(), torch.logsumexp(-bm(X) / 2, 0))
    # p(x_0 = 1 | rest) from the joint table
    logp = -bm(X)
    on, off = X[:, 0] == 1, X[:, 0] == 0
    cond = torch.sigmoid(logp[on] - logp[off])  # pairs differ only in unit 0 (bit 0 is the lowest)
    torch.testing.assert_close(bm.conditional_prob(X[off])[:, 0], cond)
    # gradient steps keep coupling symmetric with zero diagonal
    opt = torch.optim.Adam(bm.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        bm(X[:20]).mean().backward()
        opt.step()
        bm.constrain_parameters_()
    J = bm.coupling.detach()
    torch.testing.assert_close(J, J.T)
    assert (J.diagonal() == 0).all()


def test_gaussian_bernoulli_rbm_log_z_by_quadrature_and_conditionals(generator):
    gb = GaussianBernoulliRBM(2, 3, sigma=torch.tensor([0.7, 1.3]), weight_scale=1.0, generator=generator).double()
    t = torch.linspace(-15, 15, 1201, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)  # (1201², 2)
    cell = (t[1] - t[0]) ** 2
    quad = torch.logsumexp(-gb(grid), 0) + cell.log()
    torch.testing.assert_close(gb.log_partition(), quad, rtol=0, atol=1e-6)
    # p(v | h) is N(b + W h, σ²): sampled mean and std within 5 standard errors
    h = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64).expand(50000, 3)
    s = gb.sample_v(h, generator=generator)
    mean = gb.mean_v(h[:1])[0]
    assert ((s.mean(0) - mean).abs() < 5 * gb.sigma / math.sqrt(50000)).all()
    assert ((s.std(0) - gb.sigma).abs() < 5 * gb.sigma / math.sqrt(2 * 50000)).all()


def test_log_partition_refuses_huge_models_and_suggests_ais():
    with pytest.raises(ValueError, match="ais_log_partition"):
        BernoulliRBM(30, 40).log_partition()
    with pytest.raises(ValueError, match="Fix:"):
        BoltzmannMachine(26).log_partition()


def test_bad_inputs_have_clear_errors():
    rbm = BernoulliRBM(4, 3)
    with pytest.raises(ValueError, match="binary"):
        rbm(torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="Fix:"):
        rbm(torch.ones(2, 5))
    with pytest.raises(ValueError, match="binary"):
        BoltzmannMachine(3)(torch.full((1, 3), 2.0))
    from ebm.evaluate import exact_log_likelihood, pseudo_log_likelihood

    with pytest.raises(ValueError, match="row"):
        exact_log_likelihood(rbm, torch.zeros(0, 4))
    with pytest.raises(ValueError, match="row"):
        pseudo_log_likelihood(rbm, torch.zeros(0, 4))
    with pytest.raises(ValueError, match="symmetric"):
        BoltzmannMachine(2, coupling=torch.tensor([[0.0, 1.0], [0.0, 0.0]]))


def test_save_load_round_trip(tmp_path, generator):
    models = [BernoulliRBM(5, 3, generator=generator), GaussianBernoulliRBM(2, 4, generator=generator), BoltzmannMachine(4, generator=generator)]
    for model in models:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator))
        path = tmp_path / f"{type(model).__name__}.pt"
        save_checkpoint(path, model=model)
        fresh = type(model)(*([5, 3] if isinstance(model, BernoulliRBM) else [2, 4] if isinstance(model, GaussianBernoulliRBM) else [4]))
        load_checkpoint(path, model=fresh)
        for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
            assert torch.equal(a, b), name
