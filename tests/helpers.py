"""Helpers shared by several test files (not a test module: pytest collects test_*.py only)."""

import contextlib
import datetime
import math
import socket

import torch
from scipy import stats

from ebm.energies import BernoulliRBM


def random_rbm(n_visible, n_hidden, scale, generator):
    """A float64 RBM with weights of the given scale and standard-normal biases."""
    rbm = BernoulliRBM(n_visible, n_hidden, weight_scale=scale, generator=generator).double()
    with torch.no_grad():
        rbm.visible_bias.normal_(generator=generator)
        rbm.hidden_bias.normal_(generator=generator)
    return rbm


def finite_difference_check(loss_fn, params, eps=1e-6, atol=1e-6, rtol=1e-5):
    """Autograd gradient of ``loss_fn()`` w.r.t. ``params`` against central differences, every entry."""
    grads = torch.autograd.grad(loss_fn(), params, allow_unused=True)
    for p, g in zip(params, grads):
        g = torch.zeros_like(p) if g is None else g
        flat = p.data.view(-1)
        numeric = torch.zeros_like(flat)
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + eps
            up = loss_fn().item()
            flat[i] = old - eps
            down = loss_fn().item()
            flat[i] = old
            numeric[i] = (up - down) / (2 * eps)
        torch.testing.assert_close(g.reshape(-1), numeric, atol=atol, rtol=rtol)


def sparse_problem(n=40, k=24, f=12, dtype=torch.float64, seed=0):
    """A small LASSO problem: unit-norm dictionary (k, f), 15%-dense codes plus noise, α = 0.1 × median ‖D xᵀ‖∞."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(k, f, generator=g, dtype=dtype)
    d = d / d.norm(dim=1, keepdim=True)
    z = torch.randn(n, k, generator=g, dtype=dtype) * (torch.rand(n, k, generator=g, dtype=dtype) < 0.15)
    x = z @ d + 0.05 * torch.randn(n, f, generator=g, dtype=dtype)
    alpha = 0.1 * float((x @ d.T).abs().amax(1).median())
    return x, d, alpha


def break_torch_compile(monkeypatch):
    """Make torch.compile return steps that fail as a missing C++ compiler would (after checking the flags)."""
    from torch._inductor.exc import InvalidCxxCompiler

    def broken_compile(fn, **kwargs):
        assert kwargs["fullgraph"] is True and kwargs["dynamic"] is False

        def fail(*args):
            raise InvalidCxxCompiler()

        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)


@contextlib.contextmanager
def gloo_rank(rank: int, world: int, port: int):
    """Run the block as rank ``rank`` of a localhost gloo group of ``world`` processes (one thread).

    A bounded timeout makes a lost peer fail the collective instead of hanging the suite, and a
    barrier ends the block: rank 0 hosts the TCP store, so nobody tears down before everybody is
    done (a rank still talking to the store in destroy_process_group waited on a dead peer once in CI).
    """
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    torch.set_num_threads(1)
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_gloo_ranks(worker, out_dir, world: int = 2, timeout: float = 120.0) -> dict:
    """Spawn ``world`` processes running the module-level ``worker(rank, world, port, out_dir)``,
    which saves ``out_dir/rank{r}.pt``; fail on a hang or a non-zero exit; return ``{rank: loaded}``."""
    import torch.multiprocessing as mp

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [mp.get_context("spawn").Process(target=worker, args=(r, world, port, str(out_dir))) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    hung = [p.name for p in procs if p.exitcode is None]
    for p in procs:
        if p.exitcode is None:
            p.kill()
            p.join()
    assert not hung, f"DDP workers did not finish within {timeout:.0f} s: {hung}"
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return {r: torch.load(f"{out_dir}/rank{r}.pt", weights_only=True) for r in range(world)}


MASK32 = (1 << 32) - 1


def battery_pvalues(w: torch.Tensor) -> dict[str, float]:
    """p-values of frequency, block frequency, runs, lag-1 serial correlation and byte χ² on ``w`` (32-bit words)."""
    u = w.to(torch.int64) & MASK32  # (n,) unsigned words
    shifts = torch.arange(32)
    bits = ((u.unsqueeze(1) >> shifts) & 1).reshape(-1).to(torch.int8)  # (32 n,) bits, word-major
    n = bits.numel()
    ones = int(bits.sum())
    out = {}
    # SP 800-22 §2.1 monobit frequency: S = Σ(2b - 1), p = erfc(|S| / √(2n)).
    out["frequency"] = math.erfc(abs(2 * ones - n) / math.sqrt(2 * n))
    # §2.2 frequency within blocks of M = 1024 bits: χ² = 4M Σ(π_i - ½)² with n/M degrees of freedom.
    m_block = 1024
    pi = bits[: n // m_block * m_block].view(-1, m_block).sum(1, dtype=torch.float64) / m_block
    out["block frequency"] = float(stats.chi2.sf(float(4 * m_block * ((pi - 0.5) ** 2).sum()), pi.numel()))
    # §2.3 runs: V = number of runs; p = erfc(|V - 2nπ(1-π)| / (2√(2n) π(1-π))).
    prop = ones / n
    v = 1 + int((bits[1:] != bits[:-1]).sum())
    out["runs"] = math.erfc(abs(v - 2 * n * prop * (1 - prop)) / (2 * math.sqrt(2 * n) * prop * (1 - prop)))
    # Lag-1 serial correlation of the words as uniforms: √n r ~ N(0, 1).
    x = u.to(torch.float64) / 2.0**32 - 0.5
    r = float((x[1:] * x[:-1]).mean() / (x * x).mean())
    out["serial correlation"] = math.erfc(abs(r) * math.sqrt(u.numel()) / math.sqrt(2))
    # Byte χ²: the 4 bytes of every word, 256 cells, 255 degrees of freedom.
    b = ((u.unsqueeze(1) >> torch.tensor([0, 8, 16, 24])) & 255).reshape(-1)
    out["byte chi-square"] = float(stats.chisquare(torch.bincount(b, minlength=256).double().numpy()).pvalue)
    # Pairs of consecutive words' top 4 bits: 256 cells (serial test of SP 800-22 §2.11, m = 8 bits).
    top = (u >> 28)
    pairs = top[:-1:2] * 16 + top[1::2]
    out["pair chi-square"] = float(stats.chisquare(torch.bincount(pairs, minlength=256).double().numpy()).pvalue)
    return out
