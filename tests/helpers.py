"""Helpers shared by several test files (not a test module: pytest collects test_*.py only)."""

import contextlib
import datetime
import socket

import torch

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
