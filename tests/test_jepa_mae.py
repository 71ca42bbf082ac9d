"""JEPA and the masked autoencoder: formula oracles (independent loops), float64 gradient checks, the
EMA target's stop-gradient, masks that cover whole patches and a loss that ignores visible pixels,
batch-permutation invariance, the exact 2-D energy and bad input. The JEPA loss gathers the global
batch under DDP; its two-process equivalence test is an entry of tests/test_joint_ddp.py (which
spawns the processes once for every gathering loss)."""

import math

import pytest
import torch
from torch import nn

from ebm.energies import AutoencoderEnergy, JointEmbeddingEnergy
from ebm.objectives.jepa import JEPA, ConditionedPredictor, JEPALoss, prediction_error
from ebm.objectives.masked_autoencoder import MaskedAutoencoder, masked_reconstruction_error, patch_mask, patch_normalise
from ebm.toy_video import moving_dot_video


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- JEPA: formulas ---------------
def _jepa_oracle(p, t, z, mu, nu):
    """The loss written out entry by entry in Python floats (VICReg's v and c, unbiased variance)."""
    n, d = len(p), len(p[0])
    err = sum(sum((p[i][j] - t[i][j]) ** 2 for j in range(d)) for i in range(n)) / n
    m, k = len(z), len(z[0])
    mean = [sum(z[i][j] for i in range(m)) / m for j in range(k)]
    cov = [[sum((z[i][a] - mean[a]) * (z[i][b] - mean[b]) for i in range(m)) / (m - 1) for b in range(k)] for a in range(k)]
    var = sum(max(0.0, 1.0 - math.sqrt(cov[j][j] + 1e-4)) for j in range(k)) / k
    off = sum(cov[a][b] ** 2 for a in range(k) for b in range(k) if a != b) / k
    return err + mu * var + nu * off


def test_jepa_loss_matches_the_written_out_formula():
    p, t, z = _randn(7, 3, seed=0), _randn(7, 3, seed=1), 0.3 * _randn(7, 3, seed=2)
    got = JEPALoss(variance_weight=2.0, covariance_weight=0.5)(p, t, z)
    assert float(got) == pytest.approx(_jepa_oracle(p.tolist(), t.tolist(), z.tolist(), 2.0, 0.5), rel=1e-12)
    assert float(JEPALoss()(p, t)) == pytest.approx(_jepa_oracle(p.tolist(), t.tolist(), z.tolist(), 0.0, 0.0), rel=1e-12)
    torch.testing.assert_close(prediction_error(p, t), torch.tensor([sum((a - b) ** 2 for a, b in zip(r, s)) for r, s in zip(p.tolist(), t.tolist())], dtype=torch.float64))


def test_jepa_loss_gradcheck_float64_and_target_is_stopped():
    p, z = _randn(5, 3, seed=0).requires_grad_(), _randn(5, 3, seed=2).requires_grad_()
    t = _randn(5, 3, seed=1).requires_grad_()
    loss = JEPALoss(variance_weight=1.0, covariance_weight=0.5)
    assert torch.autograd.gradcheck(lambda p, z: loss(p, t, z), (p, z))
    (g_t,) = torch.autograd.grad(loss(p, t, z), t, allow_unused=True)
    assert g_t is None or bool((g_t == 0).all())  # sg(target)


def test_jepa_loss_batch_permutation_invariance():
    p, t, z = _randn(9, 3, seed=0), _randn(9, 3, seed=1), _randn(9, 3, seed=2)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    loss = JEPALoss(variance_weight=1.0, covariance_weight=1.0)
    assert float(loss(p[perm], t[perm], z[perm])) == pytest.approx(float(loss(p, t, z)), rel=1e-12)


def test_conditioned_predictor_adds_the_embedded_condition():
    q = ConditionedPredictor(3, 2, hidden=5).double()
    z, c = _randn(4, 3, seed=0), _randn(4, 2, seed=1)
    manual = q.out[1](torch.relu(z @ q.inp.weight.T + q.inp.bias + c @ q.cond.weight.T))
    torch.testing.assert_close(q(z, c), manual)
    assert not torch.allclose(q(z, c), q(z, torch.zeros_like(c)))


def _task(condition_dim=2, momentum=0.9):
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    return f, JEPA(f, ConditionedPredictor(3, condition_dim, hidden=6).double(), base_momentum=momentum)


def test_jepa_energy_is_the_prediction_error_against_the_ema_target():
    f, task = _task()
    x, y, c = _randn(5, 4, seed=0), _randn(5, 4, seed=1), _randn(5, 2, seed=2)
    with torch.no_grad():
        for p in task.target.network.parameters():  # a target that differs from f
            p.add_(0.1)
    expected = (task.predictor(f(x), c) - task.target.network(y)).pow(2).sum(-1)
    torch.testing.assert_close(task.energy(f, x, y, c), expected)
    perm = torch.tensor([4, 2, 0, 1, 3])
    torch.testing.assert_close(task.energy(f, x[perm], y[perm], c[perm]), expected[perm])
    # a JointEmbeddingEnergy's encoder is found (its f)
    torch.testing.assert_close(task.energy(JointEmbeddingEnergy(f, event_shape=(4,)), x, y, c), expected)


def test_jepa_ema_target_gets_no_gradient_and_follows_the_online_encoder():
    f, task = _task(momentum=0.9)
    old = [p.clone() for p in task.target.network.parameters()]
    with torch.no_grad():
        for p in f.parameters():
            p.add_(0.5)
    loss = task(f, (_randn(6, 4, seed=0), _randn(6, 4, seed=1), _randn(6, 2, seed=2)))
    loss.backward()
    assert all(p.grad is None for p in task.target.network.parameters())
    assert all(p.grad is not None for p in f.parameters()) and all(p.grad is not None for p in task.predictor.parameters())
    for t, o, online in zip(task.target.network.parameters(), old, f.parameters()):
        torch.testing.assert_close(t, 0.9 * o + 0.1 * online.detach())


def test_jepa_task_gradcheck_float64():
    f, task = _task()
    task.eval()  # no EMA update inside gradcheck's repeated calls
    x, y, c = _randn(4, 4, seed=0), _randn(4, 4, seed=1), _randn(4, 2, seed=2)
    assert torch.autograd.gradcheck(lambda x, c: task(f, (x, y, c)), (x.requires_grad_(), c.requires_grad_()))


def test_jepa_bad_input_says_how_to_fix():
    f, task = _task()
    x = _randn(5, 4)
    for call, fragment in [
        (lambda: task(f, (x, x)), "condition"),
        (lambda: task(f, (x, x[:3], _randn(5, 2))), "target"),
        (lambda: task(f, (x.float(), x.float(), _randn(5, 2).float())), "context"),
        (lambda: task(f, x), "augment"),
        (lambda: task(f, (x, x, _randn(5, 2), x)), "batch"),
        (lambda: JEPALoss(variance_weight=1.0)(x, x, x[:1]), "context"),
    ]:
        with pytest.raises((ValueError, TypeError), match=fragment) as info:
            call()
        assert "Fix:" in str(info.value)


# ---------------------------------------------------------------- the moving-dot video ---------
def test_moving_dot_video_shapes_motion_and_noise_kinds():
    g = torch.Generator().manual_seed(0)
    frames, pos, vel = moving_dot_video(5, 6, 12, noise="fixed", noise_level=0.5, generator=g)
    assert frames.shape == (5, 6, 12, 12) and pos.shape == (5, 6, 2) and vel.shape == (5, 2)
    torch.testing.assert_close(pos[:, 1:] - pos[:, :-1], vel[:, None].expand(5, 5, 2), rtol=0, atol=1e-5)  # constant velocity
    assert bool(((pos >= 2 - 1e-5) & (pos <= 12 - 1 - 2 + 1e-5)).all())  # inside the margin
    clean, _, _ = moving_dot_video(5, 6, 12, noise="none", generator=torch.Generator().manual_seed(0))
    noise = frames - clean  # same seed: same dots, then the background
    torch.testing.assert_close(noise, noise[:, :1].expand_as(noise))  # fixed: one background per video
    changing = moving_dot_video(5, 6, 12, noise="changing", generator=torch.Generator().manual_seed(0))[0] - clean
    assert not torch.allclose(changing[:, 0], changing[:, 1])
    # the dot's brightest pixel is where the position says (noise-free)
    flat = clean.flatten(2).argmax(-1)  # (5, 6)
    torch.testing.assert_close(torch.stack([flat // 12, flat % 12], -1).float(), pos.round(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise"):
        moving_dot_video(2, 3, noise="slow")


# ---------------------------------------------------------------- MAE ---------------------------
def test_patch_mask_hides_exactly_m_whole_patches():
    mask = patch_mask(50, (8, 8), 2, 0.75, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (50, 8, 8) and mask.dtype == torch.bool
    blocks = mask.reshape(50, 4, 2, 4, 2)
    assert bool((blocks == blocks[:, :, :1, :, :1]).all())  # constant inside every 2×2 patch
    assert bool((blocks[:, :, 0, :, 0].sum((1, 2)) == 12).all())  # round(0.75 · 16) patches each
    assert mask.float().mean(0).min() > 0.4  # every patch gets hidden sometimes (mean 0.75 over 50 draws)
    again = patch_mask(50, (8, 8), 2, 0.75, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)


def test_masked_error_and_patch_normalisation_match_loops():
    x, r = _randn(3, 16, seed=0), _randn(3, 16, seed=1)
    m = patch_mask(3, (4, 4), 2, 0.5, generator=torch.Generator().manual_seed(0)).reshape(3, 16)
    expected = [sum((x[i, j] - r[i, j]) ** 2 for j in range(16) if m[i, j]) / int(m[i].sum()) for i in range(3)]
    torch.testing.assert_close(masked_reconstruction_error(x, r, m), torch.tensor(expected, dtype=torch.float64))
    norm = patch_normalise(x, (4, 4), 2)
    img, out = x.reshape(3, 4, 4), norm.reshape(3, 4, 4)
    for i in range(3):
        for a in range(0, 4, 2):
            for b in range(0, 4, 2):
                block = img[i, a : a + 2, b : b + 2]
                torch.testing.assert_close(out[i, a : a + 2, b : b + 2], (block - block.mean()) / (block.var(unbiased=False) + 1e-6).sqrt())


def _mae_model(dim=16, seed=0):
    return AutoencoderEnergy(dim, 4, hidden=8, generator=torch.Generator().manual_seed(seed)).double()


def test_mae_loss_ignores_visible_pixels_and_never_sees_hidden_ones():
    model, mae = _mae_model(), MaskedAutoencoder((4, 4), 2, mask_ratio=0.5).double()
    with torch.no_grad():
        mae.mask_token.copy_(_randn(16, seed=3))
    x = _randn(4, 16, seed=0)
    m = patch_mask(4, (4, 4), 2, 0.5, generator=torch.Generator().manual_seed(1)).reshape(4, 16)
    base = mae.reconstruction_error(model, x, m)
    # the loss reads the hidden pixels only: a decoder that is wrong on the visible ones changes nothing
    wrong = AutoencoderEnergy(16, 4, hidden=8).double()
    wrong.load_state_dict(model.state_dict())
    wrong.decode = lambda z: model.decode(z) + 100.0 * (~m).double()
    torch.testing.assert_close(mae.reconstruction_error(wrong, x, m), base)
    # the encoder sees the mask token, not the hidden pixels: the reconstruction ignores them
    x2 = torch.where(m, x + 5.0, x)
    seen = lambda v: model.decode(model.encode(torch.where(m, mae.mask_token.expand_as(v), v)))  # noqa: E731
    torch.testing.assert_close(seen(x2), seen(x))
    # ... and the error equals the oracle on the reconstruction
    torch.testing.assert_close(base, ((x - seen(x)) ** 2 * m).sum(1) / m.sum(1))


def test_mae_forward_gradcheck_float64_and_generator_reproducible():
    model, mae = _mae_model(), MaskedAutoencoder((4, 4), 2, mask_ratio=0.5, norm_pix=True).double()
    x = _randn(3, 16, seed=0).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: mae(model, x, generator=torch.Generator().manual_seed(0)), (x,))
    a = mae(model, x, generator=torch.Generator().manual_seed(7))
    b = mae(model, x, generator=torch.Generator().manual_seed(7))
    assert a.item() == b.item()
    loss = mae(model, x.detach(), generator=torch.Generator().manual_seed(7))
    loss.backward()
    assert mae.mask_token.grad is not None and model.encoder[0].weight.grad is not None


def test_mae_energy_in_2d_is_the_exact_two_mask_average():
    model, mae = _mae_model(dim=2), MaskedAutoencoder((1, 2), 1, mask_ratio=0.5).double()
    with torch.no_grad():
        mae.mask_token.copy_(torch.tensor([0.3, -0.2], dtype=torch.float64))
    x = _randn(6, 2, seed=0)
    rec = lambda v: model.decode(model.encode(v))  # noqa: E731
    hide1 = rec(torch.stack([torch.full((6,), 0.3, dtype=torch.float64), x[:, 1]], 1))[:, 0]
    hide2 = rec(torch.stack([x[:, 0], torch.full((6,), -0.2, dtype=torch.float64)], 1))[:, 1]
    expected = 0.5 * ((x[:, 0] - hide1) ** 2 + (x[:, 1] - hide2) ** 2)
    torch.testing.assert_close(mae.energy(model, x), expected)
    perm = torch.tensor([5, 3, 1, 0, 2, 4])
    torch.testing.assert_close(mae.energy(model, x[perm]), expected[perm])
    assert mae.all_masks().shape == (2, 1, 2)


def test_mae_energy_monte_carlo_when_masks_are_many():
    model, mae = _mae_model(64), MaskedAutoencoder((8, 8), 2, mask_ratio=0.5).double()
    x = _randn(3, 64, seed=0)
    e1 = mae.energy(model, x, n_masks=16, generator=torch.Generator().manual_seed(0))
    e2 = mae.energy(model, x, n_masks=16, generator=torch.Generator().manual_seed(0))
    assert e1.shape == (3,) and torch.equal(e1, e2) and bool((e1 > 0).all())


def test_mae_with_an_encoder_and_its_own_decoder_trains_the_encoder():
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    mae = MaskedAutoencoder((4, 4), 2, mask_ratio=0.5, decoder=nn.Linear(3, 16))
    loss = mae(JointEmbeddingEnergy(f, event_shape=(16,)), torch.rand(5, 16), generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert f[0].weight.grad is not None and mae.decoder.weight.grad is not None


def test_mae_bad_input_says_how_to_fix():
    model, mae = _mae_model(), MaskedAutoencoder((4, 4), 2).double()
    for call, exc, fragment in [
        (lambda: mae(model, _randn(4, 15)), ValueError, "batch"),
        (lambda: mae(model, _randn(4, 16).float()), TypeError, "batch"),
        (lambda: mae(model, _randn(0, 16)), ValueError, "batch"),
        (lambda: mae(model, _randn(4, 16), generator=3), TypeError, "generator"),
        (lambda: MaskedAutoencoder((4, 4), 4), ValueError, "patch_size"),
        (lambda: MaskedAutoencoder((4, 4), 2, mask_ratio=0.0), ValueError, "mask_ratio"),
        (lambda: MaskedAutoencoder((4, 4), 2, decoder="d"), TypeError, "decoder"),
        (lambda: mae.energy(model, _randn(4, 16), n_masks=0), ValueError, "n_masks"),
    ]:
        with pytest.raises(exc, match=fragment) as info:
            call()
        assert "Fix:" in str(info.value)
