"""DDP equivalence on CPU: 2 gloo processes (localhost) give the loss and gradients of one process
on the concatenated batch, for losses that need the global batch."""

import pytest
import torch
from helpers import gloo_rank, run_gloo_ranks

from ebm.distributed import gather


def _make(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 4)).double()
    g = torch.Generator().manual_seed(1)
    x_a = torch.randn(8, 5, generator=g, dtype=torch.float64)
    x_b = x_a + 0.2 * torch.randn(8, 5, generator=g, dtype=torch.float64)
    return net, x_a, x_b


def _vicregl_on_made_up_maps():
    from ebm.objectives import VICRegL

    vicregl = VICRegL(alpha=0.5, num_matches=(2, 1))

    def maps(z):  # a 2x2 "feature map" and fixed cell locations made from the embedding, row by row
        y = torch.stack([z, 0.8 * z.flip(1) + 0.1, 1.2 * z.roll(1, 1) - 0.05, 0.5 * z], 1).reshape(-1, 2, 2, z.shape[1])  # (n, 2, 2, d); no isometric copies, no distance ties
        loc = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=z.dtype).reshape(1, 2, 2, 2).expand(z.shape[0], 2, 2, 2)
        return y, loc

    def loss(a, b):
        (ya, la), (yb, lb) = maps(a), maps(b)
        return vicregl(a, b, ya, yb, la, lb * 1.3 + torch.tensor([0.31, 0.17], dtype=a.dtype))  # no distance ties

    return loss


def _losses():
    from ebm.objectives import DCL, EBCLR, EMPSSL, IFM, MMCR, MSN, BarlowTwins, DirectCLR, FroSSL, InfoNCE, KoLeo, LeJEPA, VICReg
    from ebm.objectives.jepa import JEPALoss

    lejepa, msn = LeJEPA(lambda_=0.5, n_directions=8), MSN(4, 6, generator=torch.Generator().manual_seed(0)).double()
    ebclr = EBCLR(lambda x, g: x, (5,), temperature=0.5, generative_weight=0.3, l2_weight=0.01)
    return {
        "infonce": InfoNCE(0.5), "vicreg": VICReg(), "barlow": BarlowTwins(), "dcl": DCL(),
        # multi-view losses, fed the two views; LeJEPA's directions from the same seed on every rank
        "mmcr": MMCR(), "koleo": KoLeo(), "emp_ssl": EMPSSL(invariance_weight=2.0), "frossl": FroSSL(),
        "lejepa": lambda a, b: lejepa(a, b, generator=torch.Generator().manual_seed(3)),
        "msn": msn,  # anchors = view a, targets = view b (detached)
        "jepa": lambda a, b: JEPALoss(variance_weight=2.0, covariance_weight=0.5)(a, b, a),  # prediction = context = a, target b (detached inside)
        "directclr": DirectCLR(3, 0.5), "ifm": IFM(0.2, 0.5),
        "ebclr": lambda a, b: ebclr.loss(a, b, 0.5 * a.flip(1) - 0.2),  # negatives made row by row
        "vicregl": _vicregl_on_made_up_maps(),
    }


def _worker(rank, world, port, out_dir):
    with gloo_rank(rank, world, port):
        out = {}
        for name, loss_fn in _losses().items():
            net, x_a, x_b = _make()
            ddp = torch.nn.parallel.DistributedDataParallel(net)
            rows = slice(rank * 4, rank * 4 + 4)
            loss = loss_fn(ddp(x_a[rows]), ddp(x_b[rows]))
            loss.backward()  # DDP averages gradients over ranks
            out[name] = (loss.item(), [p.grad.clone() for p in net.parameters()])
        # the naive gather (no all-reduce in backward) would give gradients W times too small:
        z = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
        gather(z * (rank + 1)).sum().backward()
        out["gather_grad"] = z.grad.clone()
        torch.save(out, f"{out_dir}/rank{rank}.pt")


def test_two_process_gloo_equals_one_process_on_concatenated_batch(tmp_path):
    results = run_gloo_ranks(_worker, tmp_path)
    for name, loss_fn in _losses().items():
        net, x_a, x_b = _make()
        loss = loss_fn(net(x_a), net(x_b))
        loss.backward()
        for r in range(2):
            got_loss, got_grads = results[r][name]
            assert got_loss == pytest.approx(loss.item(), rel=1e-12), name
            for g_ddp, p in zip(got_grads, net.parameters()):
                torch.testing.assert_close(g_ddp, p.grad, rtol=1e-10, atol=1e-12)
    # d/dz of sum over the gathered rows, summed over both ranks' losses: each rank's rows are
    # used by 2 losses, scaled by (rank + 1) -> 2 * (rank + 1).
    torch.testing.assert_close(results[0]["gather_grad"], torch.full((2, 3), 2.0, dtype=torch.float64))
    torch.testing.assert_close(results[1]["gather_grad"], torch.full((2, 3), 4.0, dtype=torch.float64))
