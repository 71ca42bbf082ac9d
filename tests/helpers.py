"""Helpers shared by several test files (not a test module: pytest collects test_*.py only)."""

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
