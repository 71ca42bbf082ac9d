"""Hardening of the objectives (issue 14, part D): every registered objective refuses an empty
batch with the house message, extra batch dimensions either give the same value or a clear error,
Sinkhorn-Knopp is stable in the log domain, whitening refuses rank-deficient batches, VICReg and
VCReg share one hyper-parameter check, the SSL losses check finiteness and follow float64 input."""

import pytest
import torch

import ebm.energies  # noqa: F401  (registers the energies the examples build)
import ebm.objectives  # noqa: F401  (registers every objective)
from ebm.objectives import VCReg, VICReg, WMSE, sinkhorn_knopp, whiten
from ebm.registry import OBJECTIVES


def _map_tensors(fn, args):
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(fn(a))
        elif isinstance(a, (list, tuple)):
            out.append(type(a)(_map_tensors(fn, a)))
        else:
            out.append(a)
    return tuple(out)


def _call(objective, args, seed=0):
    """Call an objective; the (model, batch) ones get a fresh seeded generator (same draws twice)."""
    if isinstance(args[0], torch.Tensor):  # joint-embedding losses: tensors only, deterministic
        return objective(*args)
    return objective(*args, generator=torch.Generator().manual_seed(seed))


def _empty(a):
    return a.detach()[:0].requires_grad_(a.requires_grad)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_registered_objective_refuses_an_empty_batch(name):
    """A mean over zero rows is NaN: every objective must say so (check_batch in objectives/_common.py)."""
    objective, args = OBJECTIVES[name].example()
    with pytest.raises(ValueError, match=r"(?s)(?=.*empty)(?=.*Fix:)"):
        _call(objective, _map_tensors(_empty, args))


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_extra_batch_dimensions_give_the_same_value_or_a_clear_error(name):
    """``(1, n, ...)`` and ``(2, n/2, ...)`` batches: the same loss as ``(n, ...)``, or the house error.

    The joint-embedding losses document ``(n, d)`` embeddings and the data objectives that need one
    batch axis say to flatten; the others (autoencoders, CD, exact ML, free energy) accept any
    batch shape and must not change their value (ContractiveLoss did, before the fix).
    """
    objective, args = OBJECTIVES[name].example()
    reference = _call(objective, args)
    for lift in (lambda a: a.detach().unsqueeze(0), lambda a: a.detach().reshape(2, a.shape[0] // 2, *a.shape[1:])):
        objective, args = OBJECTIVES[name].example()  # fresh state (queues, chains, banks)
        lifted = _map_tensors(lambda a: lift(a).requires_grad_(a.requires_grad), args)
        try:
            value = _call(objective, lifted)
        except ValueError as err:
            assert "Fix:" in str(err)
            continue
        torch.testing.assert_close(value, reference)


def test_contractive_loss_is_the_same_for_extra_batch_dims():
    """The regression: the Jacobian penalty sliced dimension 1 (a batch axis) for 3-D input."""
    objective, (model, x) = OBJECTIVES["contractive_autoencoder"].example()
    flat = objective(model, x)
    torch.testing.assert_close(objective(model, x.unsqueeze(0)), flat)
    torch.testing.assert_close(objective(model, x.reshape(4, 4, 2)), flat)


def test_lista_losses_refuse_an_empty_batch():
    from ebm.sparse import LISTA, lista_objective_loss, lista_supervised_loss

    d = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    model = LISTA(d, 0.1, n_layers=2)
    with pytest.raises(ValueError, match=r"(?s)(?=.*empty)(?=.*Fix:)"):
        lista_objective_loss(model, torch.zeros(0, 4))
    with pytest.raises(ValueError, match=r"(?s)(?=.*empty)(?=.*Fix:)"):
        lista_supervised_loss(model, (torch.zeros(0, 4), torch.zeros(0, 6)))


# ---------------------------------------------------------------- Sinkhorn-Knopp
def _sinkhorn_linear(scores, epsilon, iterations):
    """The textbook iteration on exp(S/ε) in float64 (valid when nothing underflows)."""
    n, k = scores.shape
    q = torch.exp((scores.double() - scores.max()) / epsilon)
    for _ in range(iterations):
        q = q / q.sum(0, keepdim=True) / k
        q = q / q.sum(1, keepdim=True) / n
    return q * n


def test_sinkhorn_log_domain_equals_the_linear_iteration_on_valid_scores():
    s = torch.nn.functional.normalize(torch.randn(16, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    for epsilon, iterations in [(0.05, 3), (0.5, 50)]:
        torch.testing.assert_close(sinkhorn_knopp(s.double(), epsilon, iterations), _sinkhorn_linear(s, epsilon, iterations), rtol=1e-10, atol=1e-12)


def test_sinkhorn_is_finite_for_scores_far_above_epsilon():
    """scores * 100 / 0.05: exp underflowed to 0 for whole columns, and 0/0 gave NaN."""
    s = torch.randn(32, 6, generator=torch.Generator().manual_seed(1)) * 100
    q = sinkhorn_knopp(s)
    assert torch.isfinite(q).all()
    torch.testing.assert_close(q.sum(1), torch.ones(32))
    assert float(q.min()) >= 0
    # Scores * 2 / 0.05 span ~±200: float32's exp underflows there, float64's does not, so the
    # textbook iteration in float64 is an independent reference for the float32 log-domain result.
    s = torch.randn(32, 6, generator=torch.Generator().manual_seed(4)) * 2
    torch.testing.assert_close(sinkhorn_knopp(s), _sinkhorn_linear(s, 0.05, 3).float(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"epsilon": -1.0}, "epsilon"), ({"epsilon": 0.0}, "epsilon"), ({"iterations": 0}, "iterations")],
)
def test_sinkhorn_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"{match}.*Fix:"):
        sinkhorn_knopp(torch.randn(4, 3), **kwargs)


def test_sinkhorn_rejects_non_finite_and_empty_scores():
    with pytest.raises(ValueError, match="scores.*finite"):
        sinkhorn_knopp(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="scores.*non-empty"):
        sinkhorn_knopp(torch.zeros(0, 3))


# ---------------------------------------------------------------- whitening
def test_whitening_a_rank_deficient_batch_raises_the_house_error_and_eps_fixes_it():
    z = torch.randn(16, 3, generator=torch.Generator().manual_seed(2))
    z[:, 2] = 0.5  # (16, 3), a collapsed dimension: the covariance has an exact zero row
    with pytest.raises(ValueError, match=r"(?s)z_a.*rank-deficient.*eps"):
        WMSE()(z, z + 0.1)
    with pytest.raises(ValueError, match="rank-deficient"):
        whiten(z)
    loss = WMSE(eps=1e-4)(z, z + 0.1)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="eps"):
        whiten(z, eps=-1.0)


# ---------------------------------------------------------------- VICReg / VCReg
@pytest.mark.parametrize("kwargs", [{"eps": -5.0}, {"eps": 0.0}, {"gamma": -1.0}, {"gamma": 0.0}, {"gamma": float("nan")}])
def test_vicreg_and_vcreg_refuse_the_same_hinge_parameters(kwargs):
    (name,) = kwargs
    for cls in (VICReg, VCReg):
        with pytest.raises(ValueError, match=f"{name}.*Fix:"):
            cls(**kwargs)


# ---------------------------------------------------------------- embeddings
@pytest.mark.parametrize("name", sorted(n for n, e in OBJECTIVES.items() if isinstance(e.example()[1][0], torch.Tensor)))
def test_joint_embedding_losses_refuse_non_finite_embeddings(name):
    objective, args = OBJECTIVES[name].example()
    first = args[0].detach().clone()
    first[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"(?s)finite.*Fix:"):
        objective(first, *args[1:])
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        objective, args = OBJECTIVES[name].example()
        second = args[1].detach().clone()
        second[0, -1] = float("inf")
        with pytest.raises(ValueError, match=r"(?s)finite.*Fix:"):
            objective(args[0], second, *args[2:])


def _seeded_example(name):
    """The registry example with the module's own random state (queues, banks, prototypes) seeded."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return OBJECTIVES[name].example()


def _as(dtype, args):
    return _map_tensors(lambda a: a.detach().to(dtype) if a.is_floating_point() else a, args)


# SIGReg and LeJEPA draw fresh random projections on every call (in the embeddings' dtype), so
# two calls agree only in distribution; their dtype handling is tested in test_joint_losses_more.py.
_RANDOM_PER_CALL = {"sigreg", "lejepa"}


@pytest.mark.parametrize("name", sorted(n for n, e in OBJECTIVES.items() if isinstance(e.example()[1][0], torch.Tensor) and n not in _RANDOM_PER_CALL))
def test_joint_embedding_losses_follow_float64_input(name):
    """MoCo's queue, PIRL's bank, SwAV's prototypes and CPC's critics are float32; float64
    embeddings must work without .double() and give the float32 value to float32 accuracy."""
    objective, args = _seeded_example(name)
    try:
        value64 = objective(*_as(torch.float64, args))
    except TypeError as err:  # refusing the dtype with the house message is the other allowed answer (MSN)
        assert "Fix:" in str(err) and "float64" in str(err)
        return
    assert value64.dtype == torch.float64
    objective, args = _seeded_example(name)
    value32 = objective(*_as(torch.float32, args))
    torch.testing.assert_close(value64.float(), value32, rtol=1e-4, atol=1e-5)
