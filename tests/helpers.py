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
