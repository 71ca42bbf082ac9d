"""Cross-check the newer joint-embedding losses against lightly 1.6.0: same seeded float64 inputs,
value and gradient, max absolute differences printed as a markdown table (BENCHMARKS.md,
"Joint-embedding (SSL)").

lightly imports torchvision, whose registry wheel is a CUDA build that does not load beside the CPU
torch, so this runs in its own virtual environment with a stand-in torchvision (lightly_stub/):

    python3 -m venv .venv-lightly
    .venv-lightly/bin/pip install /path/to/torch-2.13.0+cpu-...whl numpy
    .venv-lightly/bin/pip install lightly==1.6.0 --no-deps
    .venv-lightly/bin/python benchmarks/peers/lightly_loss_check.py

Ours is imported from this checkout by path (the `ebm` package does not clash with lightly).
Gradients are taken with respect to the raw inputs; where our loss normalises internally and
lightly expects normalised inputs, lightly is fed ``F.normalize(x)`` inside the graph, so both
gradients are d(loss)/d(raw x).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lightly_stub"))  # the stand-in torchvision (this script only)
sys.path.insert(0, str(HERE.parents[1]))  # this checkout's `ebm`

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import lightly  # noqa: E402
from lightly.loss import EMPSSLLoss, FroSSLLoss, KoLeoLoss, MMCRLoss, MSNLoss  # noqa: E402
from lightly.loss.emp_ssl_loss import invariance_loss as lightly_emp_invariance  # noqa: E402
from lightly.loss.emp_ssl_loss import tcr_loss as lightly_tcr  # noqa: E402
from lightly.loss.lejepa_loss import LeJEPALoss, SIGReg as LightlySIGReg  # noqa: E402

from ebm.objectives.emp_ssl import EMPSSL, total_coding_rate  # noqa: E402
from ebm.objectives.frossl import FroSSL  # noqa: E402
from ebm.objectives.koleo import KoLeo  # noqa: E402
from ebm.objectives.lejepa import LeJEPA, SIGReg  # noqa: E402
from ebm.objectives.mmcr import MMCR  # noqa: E402
from ebm.objectives.msn import MSN  # noqa: E402

DT = torch.float64


def leaf(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DT).requires_grad_(True)


def compare(f_ours, f_theirs, leaves):
    """(value ours, value lightly, |Δ value|, max |Δ grad| over the leaves)."""
    out = []
    for f in (f_ours, f_theirs):
        xs = [x.detach().clone().requires_grad_(True) for x in leaves]
        v = f(*xs)
        grads = torch.autograd.grad(v, xs, allow_unused=True)  # MSN's targets get none, on both sides
        out.append((v.item(), [torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads)]))
    (vo, go), (vt, gt) = out
    dg = max(float((a - b).abs().max()) for a, b in zip(go, gt))
    return vo, vt, abs(vo - vt), dg


def cases(seed: int):
    n, d = 32, 8
    rows = []

    # MMCR: lightly takes (online, momentum) each (n, k, d), unit-norm; ours the 2k views.
    k = 2
    rows.append(("MMCR (n=32, k=2+2, d=8, λ=5e-3)", *compare(
        lambda o, m: MMCR(lmbda=5e-3)(*o.unbind(1), *m.unbind(1)),
        lambda o, m: MMCRLoss(lmda=5e-3)(F.normalize(o, dim=-1), F.normalize(m, dim=-1)),
        [leaf(n, k, d, seed=seed), leaf(n, k, d, seed=seed + 1)])))
    rows.append(("MMCR (n=4 < d=8)", *compare(
        lambda o, m: MMCR(lmbda=5e-3)(*o.unbind(1), *m.unbind(1)),
        lambda o, m: MMCRLoss(lmda=5e-3)(F.normalize(o, dim=-1), F.normalize(m, dim=-1)),
        [leaf(4, k, d, seed=seed + 2), leaf(4, k, d, seed=seed + 3)])))

    # KoLeo
    rows.append(("KoLeo (n=32, d=8)", *compare(lambda x: KoLeo()(x), lambda x: KoLeoLoss()(x), [leaf(n, d, seed=seed + 4)])))

    # SIGReg: the same directions -- lightly draws from the global RNG, ours from a generator.
    def theirs_sigreg(*views):
        torch.manual_seed(seed)
        return LightlySIGReg(num_vectors=256)(torch.stack(views))

    rows.append(("SIGReg (2 views, n=64, d=8, M=256)", *compare(
        lambda a, b: SIGReg(n_directions=256)(a, b, generator=torch.Generator().manual_seed(seed)),
        theirs_sigreg, [leaf(64, d, seed=seed + 5), leaf(64, d, seed=seed + 6)])))

    def theirs_lejepa(g1, g2, l1, l2, l3):
        torch.manual_seed(seed)
        return LeJEPALoss(sigreg_num_vectors=256)(local_proj=torch.stack([l1, l2, l3]), global_proj=torch.stack([g1, g2]))

    rows.append(("LeJEPA (2 global + 3 local, n=16, d=8)", *compare(
        lambda *v: LeJEPA(n_global=2, n_directions=256)(*v, generator=torch.Generator().manual_seed(seed)),
        theirs_lejepa, [leaf(16, d, seed=seed + 7 + i) for i in range(5)])))

    # MSN: anchors (m n, d) view-major, targets (n, d), prototypes (K, d).
    m, K = 2, 10

    def ours_msn(anchors, targets, protos):
        loss = MSN(d, K)
        del loss.prototypes  # use the leaf itself (a new Parameter would be a different leaf)
        loss.prototypes = protos
        return loss(anchors, targets)

    rows.append(("MSN (m=2, n=16, d=8, K=10)", *compare(
        ours_msn, lambda a, t, p: MSNLoss()(a, t, p),
        [leaf(m * 16, d, seed=seed + 12), leaf(16, d, seed=seed + 13), leaf(K, d, seed=seed + 14)])))

    # EMP-SSL: the terms separately; the full loss differs in the sign of the coding rate.
    views = [leaf(n, d, seed=seed + 20 + i) for i in range(4)]
    rows.append(("EMP-SSL coding rate R (4 views)", *compare(
        lambda *v: total_coding_rate(F.normalize(torch.stack(v), dim=-1), 0.2).mean(),
        lambda *v: lightly_tcr(F.normalize(torch.stack(v), dim=-1), eps=0.2), views)))
    rows.append(("EMP-SSL invariance (4 views)", *compare(
        lambda *v: -EMPSSL(invariance_weight=1.0)(*v) - total_coding_rate(F.normalize(torch.stack(v), dim=-1), 0.2).mean(),
        lambda *v: lightly_emp_invariance(F.normalize(torch.stack(v), dim=-1)).neg(), views)))
    rows.append(("EMP-SSL full loss, as printed (sign of R differs)", *compare(
        lambda *v: EMPSSL()(*v), lambda *v: EMPSSLLoss()([F.normalize(x, dim=-1) for x in v]), views)))
    rows.append(("EMP-SSL ours vs lightly with R's sign flipped", *compare(
        lambda *v: EMPSSL()(*v),
        lambda *v: EMPSSLLoss()([F.normalize(x, dim=-1) for x in v]) - 2 * lightly_tcr(F.normalize(torch.stack(v), dim=-1), eps=0.2), views)))

    # FroSSL, both sides of the n-versus-d branch.
    rows.append(("FroSSL (3 views, n=32 > d=8)", *compare(lambda *v: FroSSL()(*v), lambda *v: FroSSLLoss()(list(v)), [leaf(n, d, seed=seed + 30 + i) for i in range(3)])))
    rows.append(("FroSSL (2 views, n=6 < d=8)", *compare(lambda *v: FroSSL()(*v), lambda *v: FroSSLLoss()(list(v)), [leaf(6, d, seed=seed + 40 + i) for i in range(2)])))
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(f"lightly {lightly.__version__}, torch {torch.__version__}, float64, seed {args.seed}\n")
    print("| loss (setting) | ours | lightly | max abs Δ value | max abs Δ gradient |")
    print("|---|---|---|---|---|")
    for name, vo, vt, dv, dg in cases(args.seed):
        print(f"| {name} | {vo:.10g} | {vt:.10g} | {dv:.1e} | {dg:.1e} |")


if __name__ == "__main__":
    main()
