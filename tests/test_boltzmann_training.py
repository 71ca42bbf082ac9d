"""Exact evaluation, AIS against exact log Z, and CD / PCD / exact-ML training reaching known optima."""

import math

import pytest
import torch
from helpers import random_rbm

from ebm.data import bars_and_stripes
from ebm.energies import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM, GaussianMixture
from ebm.energies.boltzmann import binary_states
from ebm.evaluate import ais_log_partition, sm_schedule, empirical_entropy, exact_log_likelihood, pseudo_log_likelihood, reconstruction_error
from ebm.evaluate.metrics import boltzmann_metrics
from ebm.objectives import ContrastiveDivergence, ExactLikelihood
from ebm.train import linear_lr_decay, load_checkpoint, save_checkpoint, train


# ---------------------------------------------------------------- exact evaluation
def test_exact_log_likelihood_and_pseudo_likelihood_by_brute_force(generator):
    bm = BoltzmannMachine(5, weight_scale=1.0, generator=generator).double()
    X = binary_states(5, 0, 32)
    logp = torch.log_softmax(-bm(X), 0)
    data = X[[3, 7, 7, 30]]
    torch.testing.assert_close(exact_log_likelihood(bm, data), logp[[3, 7, 7, 30]].mean())
    # PL: log p(x_i | x_-i) from the joint table, averaged over units and rows
    index = {tuple(r.tolist()): k for k, r in enumerate(X)}
    total = 0.0
    for row in data:
        for i in range(5):
            other = row.clone()
            other[i] = 1 - other[i]
            a, b = logp[index[tuple(row.tolist())]], logp[index[tuple(other.tolist())]]
            total += float((a - torch.logaddexp(a, b)).detach())
    assert abs(float(pseudo_log_likelihood(bm, data)) - total / 20) < 1e-12
    # the empirical entropy is the best achievable mean log-likelihood
    assert abs(float(empirical_entropy(bars_and_stripes(3))) - math.log(14)) < 1e-12


def test_reconstruction_error_and_metric_helpers(generator):
    rbm = random_rbm(6, 3, 1.0, generator)
    x = binary_states(6, 0, 64)
    expected = ((rbm.prob_v(rbm.prob_h(x)) - x) ** 2).mean()
    torch.testing.assert_close(reconstruction_error(rbm, x), expected)
    metrics = boltzmann_metrics(rbm, x)
    assert set(metrics) == {"log_likelihood", "pseudo_likelihood", "reconstruction"}
    assert all(math.isfinite(fn(rbm)) for fn in metrics.values())


# ---------------------------------------------------------------- AIS
# Tolerances independent of the estimator's own standard error (a wrong std_error must not widen
# them). Each model is fixed and seeded; the AIS run's seed was varied over 30 seeds (the AIS
# draws), under the default ATen kernels and under ATEN_CPU_CAPABILITY=avx2 (identical): the SD of
# log Ẑ - log Z was 0.010 / 0.036 / 0.075 nats for the 12x8 RBM at weight scale 0.5 / 4 / 10,
# 0.0057 with data base rates (10x6 RBM) and 0.036 for the Gaussian-Bernoulli RBM, with means
# within ±0.004 of zero. The tolerance is 5 SD: a chance failure needs a 5-SD draw.
# The reported std_error is checked too: within a factor 2 of that spread (it ranged 0.0078-0.0091,
# 0.035-0.046, 0.055-0.096, 0.0044-0.0051 and 0.027-0.033 over the 30 seeds).
# The fused path (compile=True: counter-based draws, run eagerly over 20 seeds) spread a little
# more: 0.046 (12x8 RBM, scale 4) and 0.043 (Gaussian-Bernoulli RBM).
AIS_SPREAD = {0.5: 0.0102, 4.0: 0.036, 10.0: 0.075, "base_rates": 0.0057, "gaussian": 0.036, "fused_4.0": 0.046, "fused_gaussian": 0.043}


def _check_ais(est, exact, spread):
    err, se = float(est.log_z) - exact, float(est.std_error)
    assert abs(err) < 5 * spread, (err, 5 * spread)
    assert spread / 2 < se < 2 * spread, (se, spread)


def _ais_models():
    """The 10x6 RBM, 300 exact samples of it, and the Gaussian-Bernoulli RBM (one seeded stream)."""
    g = torch.Generator().manual_seed(7)
    rbm = random_rbm(10, 6, 3.0, g)
    X = binary_states(10, 0, 1024)
    p = torch.softmax(-rbm(X), 0).detach()
    exact_samples = X[torch.multinomial(p, 300, replacement=True, generator=g)]  # (300, 10)
    gb = GaussianBernoulliRBM(3, 5, sigma=torch.tensor([0.5, 1.0, 2.0]), weight_scale=1.5, generator=g).double()
    return rbm, exact_samples, gb


@pytest.mark.parametrize("scale", [0.5, 4.0, 10.0])
def test_ais_matches_exact_log_z_including_large_weights(scale):
    rbm = random_rbm(12, 8, scale, torch.Generator().manual_seed(1))
    est = ais_log_partition(rbm, n_chains=300, n_betas=2000, generator=torch.Generator().manual_seed(2))
    exact = rbm.log_partition().item()  # exact: 2^8 hidden states enumerated
    _check_ais(est, exact, AIS_SPREAD[scale])
    assert float(est.log_z_low) <= exact + 0.02 and exact <= float(est.log_z_high) + 0.02


def test_ais_with_data_base_rates_gaussian_rbm_and_reverse_bracket():
    rbm, exact_samples, gb = _ais_models()
    exact = rbm.log_partition().item()
    est = ais_log_partition(rbm, n_chains=300, n_betas=1500, data=exact_samples, reverse_from=exact_samples, generator=torch.Generator().manual_seed(2))
    _check_ais(est, exact, AIS_SPREAD["base_rates"])
    assert abs(float(est.log_z_upper) - exact) < 0.05  # reverse AIS from exact samples (max |error| 0.012 over the 30 seeds)
    est = ais_log_partition(gb, n_chains=300, n_betas=1500, generator=torch.Generator().manual_seed(2))
    _check_ais(est, gb.log_partition().item(), AIS_SPREAD["gaussian"])


@pytest.mark.parametrize("really_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_compiled_ais_matches_exact_log_z(monkeypatch, really_compile):
    """compile=True: the fused temperature step with counter-based draws (stubbed compile: run eagerly);
    tolerances from the fused path's own spread over seeds (AIS_SPREAD["fused_*"])."""
    if not really_compile:
        monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    rbm = random_rbm(12, 8, 4.0, torch.Generator().manual_seed(1))
    est = ais_log_partition(rbm, n_chains=300, n_betas=2000, generator=torch.Generator().manual_seed(2), compile=True)
    _check_ais(est, rbm.log_partition().item(), AIS_SPREAD["fused_4.0"])
    gb = _ais_models()[2]
    est = ais_log_partition(gb, n_chains=300, n_betas=1500, generator=torch.Generator().manual_seed(2), compile=True)
    _check_ais(est, gb.log_partition().item(), AIS_SPREAD["fused_gaussian"])


def test_compiled_ais_blocks_of_temperatures_equal_single_temperatures(monkeypatch):
    """Several temperatures per compiled call must use the same β pairs and keys as one per call."""
    import samplers.ais

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    rbm = random_rbm(12, 8, 2.0, torch.Generator().manual_seed(3))
    results = []
    for unroll in (1, 4, 7):
        monkeypatch.setattr(samplers.ais, "_UNROLL", unroll)
        est = ais_log_partition(rbm, n_chains=50, n_betas=31, generator=torch.Generator().manual_seed(5), compile=True)
        results.append(float(est.log_z))
    assert results[0] == results[1] == results[2], results


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ais_softplus_increment_and_sigmoid_match_float64_definitions(dtype):
    """Σ softplus(βa) - softplus(β'a) and σ(βa) from shared exponentials, including β' = 0 and |βa| ≫ 1."""
    from ebm.evaluate.ais import _softplus_increment_and_sigmoid

    a = torch.cat([torch.linspace(-80, 80, 161), torch.randn(339, generator=torch.Generator().manual_seed(0)) * 3]).reshape(2, 250)
    for beta_prev, beta in ((0.0, 1e-3), (0.5, 0.5001), (0.99999, 1.0), (0.0, 1.0)):
        increment, p = _softplus_increment_and_sigmoid(a.to(dtype), torch.tensor(beta_prev, dtype=dtype), torch.tensor(beta, dtype=dtype))
        ad, zero = a.double(), torch.zeros((), dtype=torch.float64)
        # logaddexp(0, x) = log(1 + eˣ) exactly (F.softplus returns x itself above x = 20).
        expected = (torch.logaddexp(zero, beta * ad) - torch.logaddexp(zero, beta_prev * ad)).sum(-1)
        # float32: βa itself carries a rounding error of ~6e-8 |βa| per unit, whatever the formula.
        atol = 1e-12 if dtype == torch.float64 else 2e-7 * float((beta * ad).abs().sum(-1).max())
        torch.testing.assert_close(increment.double(), expected, rtol=0, atol=atol)
        torch.testing.assert_close(p.double(), torch.sigmoid(beta * ad), rtol=1e-6 if dtype == torch.float32 else 1e-14, atol=1e-7 if dtype == torch.float32 else 1e-15)


@pytest.mark.parametrize("n", [3, 4, 10, 28, 29, 100, 14500])
def test_sm_schedule_runs_from_zero_to_one(n):
    b = sm_schedule(n)
    assert b.shape == (n,) and float(b[0]) == 0.0 and float(b[-1]) == 1.0 and bool((b.diff() > 0).all())


def test_ais_rejects_bad_arguments():
    with pytest.raises(ValueError, match="data"):  # a continuous non-RBM energy needs data for its base
        ais_log_partition(__import__("ebm.energies", fromlist=["DoubleWell"]).DoubleWell(), n_chains=10, n_betas=10)
    with pytest.raises(ValueError, match="betas"):  # the generic path takes n_betas, not a schedule
        ais_log_partition(BoltzmannMachine(4), n_chains=10, betas=torch.linspace(0, 1, 5))
    with pytest.raises(ValueError, match="n_chains"):
        ais_log_partition(BernoulliRBM(4, 3), n_chains=0, n_betas=10)
    with pytest.raises(ValueError, match="betas"):
        ais_log_partition(BernoulliRBM(4, 3), n_chains=5, betas=torch.tensor([0.0, 0.7, 0.5, 1.0]))
    with pytest.raises(ValueError, match="binary"):
        ais_log_partition(BernoulliRBM(4, 3), n_chains=5, n_betas=10, data=torch.full((3, 4), 0.5))


# ---------------------------------------------------------------- training
def _fit_bas(objective, epochs, lr, g, n_hidden=16, repeat=8, batch_size=28):
    x = bars_and_stripes(3)  # the 14 distinct patterns, each once: best mean LL is -log 14
    rbm = BernoulliRBM(9, n_hidden, weight_scale=0.1, generator=g)
    history = train(rbm, objective, x.repeat(repeat, 1), epochs=epochs, batch_size=batch_size, lr=lr, generator=g,
                    callbacks=[linear_lr_decay(epochs)], metrics={"ll": lambda m: float(exact_log_likelihood(m, x))},
                    metric_every=epochs, progress=False)
    return history.metrics["ll"][-1][1], -float(empirical_entropy(x))


def test_exact_ml_reaches_bars_and_stripes_optimum():
    g = torch.Generator().manual_seed(0)
    ll, best = _fit_bas(ExactLikelihood(), 300, 0.1, g, repeat=1, batch_size=14)
    assert ll > best - 0.2, (ll, best)


# Thresholds from the spread across seeds, not from one lucky seed. Each fit is seeded on its own
# (Generator(seed)); the gap to the optimum, -log 14 - LL, was measured on the 2-core Xeon VM
# (AVX-512) for seeds 0-19 (PT-PCD 0-7) under the default ATen kernels, and for seeds 0-7 also
# under ATEN_CPU_CAPABILITY=avx2 (CD-10 and PCD gave the same gaps; PT-PCD within 0.005):
#   CD-10   mean 0.148, SD 0.021, range 0.110-0.180
#   PCD-1   mean 0.183, SD 0.048, range 0.115-0.286   (one seed alone is too noisy to test)
#   PT-PCD  mean 0.161, SD 0.016, range 0.136-0.183
# The test asserts the MEAN gap over a few seeds, whose SD is SD/sqrt(n), with a margin of about
# 5 of those SDs over the population mean (an AVX2 machine's different rounding is another draw
# from the same spread: the AMD EPYC run had a PCD gap of 0.214). Untrained, the gap is
# about 3.6 nats, so every bound still demands a fit near the optimum.
BAS_SEEDS = {"cd10": (0, 1, 2, 3), "pcd": (0, 1, 2, 3), "ptpcd": (0, 1)}
BAS_MAX_MEAN_GAP = {"cd10": 0.20, "pcd": 0.30, "ptpcd": 0.22}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(BAS_SEEDS))
def test_cd_pcd_and_parallel_tempering_pcd_reach_bars_and_stripes_optimum(method):
    from samplers import ParallelTempering, SingleSiteGibbs

    make, epochs = {
        "cd10": (lambda: ContrastiveDivergence(k=10), 500),
        "pcd": (lambda: ContrastiveDivergence(k=1, persistent=True, n_chains=200), 800),
        "ptpcd": (lambda: ContrastiveDivergence(ParallelTempering(SingleSiteGibbs(), [1.0, 1.5, 2.2, 3.3]), k=1, persistent=True, n_chains=100), 500),
    }[method]
    gaps = []
    for seed in BAS_SEEDS[method]:
        ll, best = _fit_bas(make(), epochs, 0.02, torch.Generator().manual_seed(seed))
        gaps.append(best - ll)
    mean_gap = sum(gaps) / len(gaps)
    assert mean_gap < BAS_MAX_MEAN_GAP[method], (method, gaps)


def test_boltzmann_machine_trained_by_single_site_gibbs_pcd():
    g = torch.Generator().manual_seed(0)
    x = bars_and_stripes(2)  # 2×2: 6 patterns
    bm = BoltzmannMachine(4, generator=g)
    before = float(exact_log_likelihood(bm, x))
    train(bm, ContrastiveDivergence(k=1, persistent=True, n_chains=200), x.repeat(20, 1), epochs=30, batch_size=40, lr=0.05,
          generator=g, callbacks=[linear_lr_decay(30)], progress=False)
    after = float(exact_log_likelihood(bm, x))
    assert after > before + 0.2 and (bm.coupling == bm.coupling.T).all()


def test_gaussian_bernoulli_rbm_learns_a_two_component_mixture():
    g = torch.Generator().manual_seed(0)
    mix = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), 0.25 * torch.eye(2).expand(2, 2, 2).clone(), torch.tensor([0.3, 0.7]))
    x, x_test = mix.sample(2000, generator=g), mix.sample(2000, generator=g)
    best = float(mix.log_prob(x_test).mean())
    rbm = GaussianBernoulliRBM(2, 4, weight_scale=0.5, generator=g)
    train(rbm, ContrastiveDivergence(k=1, persistent=True, n_chains=200), x, epochs=60, batch_size=100, lr=0.02,
          generator=g, callbacks=[linear_lr_decay(60)], progress=False)
    ll = (-rbm(x_test).double().mean() - rbm.log_partition().double()).item()
    assert ll > best - 0.05, (ll, best)  # one Gaussian fitted to x scores about best - 0.9


def test_persistent_chains_travel_with_checkpoints(tmp_path, generator):
    rbm = BernoulliRBM(9, 4, generator=generator)
    cd = ContrastiveDivergence(k=1, persistent=True, n_chains=7)
    x = bars_and_stripes(3)
    cd(rbm, x, generator=generator).backward()
    save_checkpoint(tmp_path / "ck.pt", model=rbm, objective=cd)
    rbm2, cd2 = BernoulliRBM(9, 4), ContrastiveDivergence(k=1, persistent=True, n_chains=7)
    load_checkpoint(tmp_path / "ck.pt", model=rbm2, objective=cd2)
    assert torch.equal(cd.chains, cd2.chains) and cd2.chains.shape == (7, 9)
    assert torch.equal(rbm.weight, rbm2.weight)


def test_cd_bad_inputs():
    rbm = BernoulliRBM(4, 3)
    cd = ContrastiveDivergence()
    with pytest.raises(ValueError, match="binary"):
        cd(rbm, torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="Fix:"):
        cd(rbm, torch.ones(2, 5))
    with pytest.raises(ValueError, match="row"):
        cd(rbm, torch.ones(0, 4))
    with pytest.raises(ValueError, match="sampler"):
        from ebm.energies import MLPEnergy

        cd(MLPEnergy((2,)), torch.zeros(3, 2))


def test_train_rbm_recipe_writes_metrics_checkpoint_and_figures(tmp_path):
    import json

    from ebm.cli import main

    out = tmp_path / "run"
    assert main(["train", "rbm", "--data", "bars-and-stripes", "--hidden", "4", "--method", "pcd", "--epochs", "2",
                 "--batch-size", "100", "--chains", "20", "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["test_log_likelihood"] < 0 and len(result["metrics"]["test_pseudo_likelihood"]) == 2
    for name in ("checkpoint.pt", "filters.png", "samples.png", "curves.png"):
        assert (out / name).exists(), name
