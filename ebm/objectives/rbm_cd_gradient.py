"""The closed-form CD-k / PCD gradient of a Bernoulli RBM, written straight into ``.grad``.

For a Bernoulli RBM, ``F(v) = -bᵀv - Σ_j softplus(c_j + (vW)_j)``, so the surrogate loss of
`ContrastiveDivergence`, ``L = mean F(v⁺) - mean F(v⁻)``, has the gradient

    ∂L/∂W = <v pᵀ>_⁻ - <v pᵀ>_⁺,   ∂L/∂b = <v>_⁻ - <v>_⁺,   ∂L/∂c = <p>_⁻ - <p>_⁺,

with ``p = σ(c + vW)`` the hidden conditional probabilities and <·>_⁺ / <·>_⁻ means over the data
batch and the negatives (Hinton 2002; Hinton 2012, "A Practical Guide to Training Restricted
Boltzmann Machines"). This module computes exactly that estimator without autograd:

* the negatives come from the same block Gibbs chain as `rbm_block_gibbs` (h ~ p(h | v), then
  v ~ p(v | h), k times) started where `ContrastiveDivergence` starts it (the data batch for CD-k,
  the persistent ``objective.chains`` for PCD, initialised by the same code);
* the uniforms are drawn in the generic path's order (h then v, per sweep) in one call; on the CPU
  generator, which fills a tensor element by element, these are the very numbers the generic path
  draws. A unit is on when ``logit(u) < a`` (a = its pre-activation), which is ``u < σ(a)`` without
  the sigmoid;
* positives and negatives are stacked, so one matrix product yields the hidden pre-activations of
  both and one more yields ∂L/∂W; the loss L itself is returned for the history and the NaN guard.

The training loop (`ebm.train.train`) asks ``ContrastiveDivergence.analytic_gradient`` for this
step once and then calls it instead of ``loss.backward()``; the optimiser, its update rule and the
checkpointed state are unchanged. tests/test_rbm_cd_gradient.py checks that both paths take the
same samples and the same steps.

At 64 × 16 with 10 rows per batch a step is ~15 tiny tensor operations; the generic path
(per-batch validation, the autograd graph, separate sampler calls) spends most of its time in
per-operation overhead, which is what this path removes.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm._validation import check_tensor
from ebm.objectives._common import check_batch

__all__ = ["rbm_cd_gradient_step"]


def _applies(objective, model) -> bool:
    from ebm.energies.boltzmann import BernoulliRBM

    if type(model) is not BernoulliRBM or objective.sampler is not None:
        return False
    if objective.replay_buffer_size > 0 or objective.energy_penalty > 0:
        return False
    if model._forward_hooks or model._forward_pre_hooks:
        return False
    params = list(model.parameters())
    wanted = (model.weight, model.visible_bias, model.hidden_bias)
    if len(params) != 3 or not all(p.requires_grad for p in wanted):
        return False
    # Tensor hooks would expect autograd to run; leave such models to the generic path.
    return not any(getattr(p, "_backward_hooks", None) or getattr(p, "_post_accumulate_grad_hooks", None) for p in wanted)


def rbm_cd_gradient_step(objective, model, data: Tensor):
    """Build ``step(batch, generator) -> loss`` for CD-k / PCD on a `BernoulliRBM`, or None.

    The step draws the negatives (advancing ``objective.chains`` when persistent; the chains live in
    a preallocated buffer updated in place, so clone them to keep a snapshot), writes
    ``∂L/∂W, ∂L/∂b, ∂L/∂c`` of ``L = mean F(v⁺) - mean F(v⁻)`` into the parameters' ``.grad`` and
    returns ``L`` (a 0-d tensor, no graph). It must run under ``torch.no_grad()``. ``data`` is
    validated here once (binary, right width, dtype and device), so batches sliced from it are not
    checked again.

    Reference: Hinton (2002), "Training Products of Experts by Minimizing Contrastive Divergence";
    Tieleman (2008), "Training Restricted Boltzmann Machines using Approximations to the
    Likelihood Gradient".

    Args:
        objective: a `ContrastiveDivergence`.
        model: the energy being trained.
        data: the whole training set ``(n, n_visible)``.

    Returns:
        The step function, or None when the closed form does not apply (another energy, a custom
        sampler, a replay buffer, an energy penalty, frozen or extra parameters, hooks).

    Raises:
        ValueError / TypeError: ``data`` is empty, not binary, or has the wrong width, dtype or device.

    Example:
        >>> from ebm.energies import BernoulliRBM
        >>> from ebm.objectives import ContrastiveDivergence
        >>> rbm, x = BernoulliRBM(9, 4), torch.bernoulli(torch.full((20, 9), 0.5))
        >>> step = rbm_cd_gradient_step(ContrastiveDivergence(persistent=True), rbm, x)
        >>> with torch.no_grad():
        ...     loss = step(x[:10], None)  # rbm.weight.grad, .visible_bias.grad, .hidden_bias.grad: dL/dθ
    """
    if not _applies(objective, model) or not isinstance(data, Tensor):
        return None
    check_tensor("data", data, ndim=2, floating=True)
    check_batch("data", data)
    model.check_input(data, "data")
    weight, visible_bias, hidden_bias = model.weight, model.visible_bias, model.hidden_bias
    W, b, c = weight.detach(), visible_bias.detach(), hidden_bias.detach()  # aliases: the optimiser's updates show
    n_visible, n_hidden, k, persistent = model.n_visible, model.n_hidden, objective.k, objective.persistent
    like = {"dtype": W.dtype, "device": W.device}
    grad_w = torch.empty_like(W)
    cache: dict[tuple[int, int], SimpleNamespace] = {}  # per (negatives, batch rows): the stacked buffers and their views

    def buffers(m: int, n: int) -> SimpleNamespace:
        vv = torch.empty((m + n, n_visible), **like)  # rows [negatives (the chains); data batch]
        q = torch.empty((2, m + n, n_hidden), **like)  # [softplus(a); σ(a)] of every row, a = c + vW
        # d_i: +1/m on negatives, -1/n on positives, so L = Σ_i d_i (v_i·b + Σ_j softplus(a_ij)).
        d = torch.cat([torch.full((m,), 1.0 / m, **like), torch.full((n,), -1.0 / n, **like)])
        # z = [∂L/∂b | Σ_i d_i softplus(a_i) | ∂L/∂c] and w = [b | 1]: then L = z[:V+H]·w.
        z, w = torch.empty(n_visible + 2 * n_hidden, **like), torch.ones(n_visible + n_hidden, **like)
        u = torch.empty(k * m * (n_hidden + n_visible), **like)  # the uniforms of one step, h then v per sweep
        mh, mv = m * n_hidden, m * n_visible
        sweeps = [(u[s * (mh + mv) : s * (mh + mv) + mh].view(m, n_hidden), u[s * (mh + mv) + mh : (s + 1) * (mh + mv)].view(m, n_visible))
                  for s in range(k)]
        return SimpleNamespace(
            vv=vv, chains=vv[:m], positives=vv[m:], vv_t=vv.T, q=q, softplus=q[0], prob=q[1], d=d, d_col=d.unsqueeze(1),
            grad_b=z[:n_visible], sums=z[n_visible:].view(2, n_hidden), grad_c=z[n_visible + n_hidden :],
            z=z[: n_visible + n_hidden], w=w, w_b=w[:n_visible], u=u, sweeps=sweeps,
            a_h=torch.empty((m, n_hidden), **like), a_v=torch.empty((m, n_visible), **like), h=torch.empty((m, n_hidden), **like),
        )

    W_t = W.T
    state = objective._buffers  # the registered buffer "chains", read without nn.Module.__getattr__

    def step(batch: Tensor, generator: torch.Generator | None) -> Tensor:
        n = batch.shape[0]
        if persistent:
            chains_now = state["chains"]
            if chains_now is None:
                objective._start(model, batch, generator)  # the same initialisation as the generic path
                chains_now = state["chains"]
            m = chains_now.shape[0]
        else:
            m = n
        buf = cache.get((m, n))
        if buf is None:
            buf = cache[(m, n)] = buffers(m, n)
        buf.positives.copy_(batch)
        if not persistent:
            x = buf.positives  # CD-k starts the chains at the data
        elif chains_now is buf.chains:
            x = buf.chains
        else:  # first step, another batch size, or chains replaced (e.g. loaded from a checkpoint)
            x = buf.chains.copy_(chains_now)
            objective.chains = buf.chains
        # The uniforms of the whole step in one draw, in the order the generic path draws them, turned
        # into logistic noise: u < σ(a) ⇔ logit(u) < a, so no sigmoid is needed to sample.
        buf.u.uniform_(generator=generator).logit_()
        for l_h, l_v in buf.sweeps:
            h = torch.lt(l_h, torch.addmm(c, x, W, out=buf.a_h), out=buf.h)  # h ~ p(h | v)
            x = torch.lt(l_v, torch.addmm(b, h, W_t, out=buf.a_v), out=buf.chains)  # v ~ p(v | h)
        p = torch.addmm(c, buf.vv, W, out=buf.prob)  # hidden pre-activations of negatives and positives at once
        F.softplus(p, out=buf.softplus)  # kept for the loss, before σ overwrites the pre-activations
        p.sigmoid_()
        buf.q.mul_(buf.d_col)
        torch.mm(buf.vv_t, p, out=grad_w)  # Σ_i d_i v_i p_iᵀ
        torch.mv(buf.vv_t, buf.d, out=buf.grad_b)  # Σ_i d_i v_i
        torch.sum(buf.q, 1, out=buf.sums)  # [Σ_i d_i softplus(a_i); Σ_i d_i p_i]
        if weight.grad is not grad_w or visible_bias.grad is not buf.grad_b or hidden_bias.grad is not buf.grad_c:
            weight.grad, visible_bias.grad, hidden_bias.grad = grad_w, buf.grad_b, buf.grad_c  # first step, or grads were reset
        buf.w_b.copy_(b)
        return torch.dot(buf.z, buf.w)  # b·∂L/∂b + Σ_ij d_i softplus(a_ij) = L

    return step
