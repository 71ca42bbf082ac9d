"""DDP equivalence on CPU: 2 gloo processes (localhost) give the loss and gradients of one process
on the concatenated batch, for losses that need the global batch."""

import datetime
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ebm.distributed import gather


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 4)).double()
    g = torch.Generator().manual_seed(1)
    x_a = torch.randn(8, 5, generator=g, dtype=torch.float64)
    x_b = x_a + 0.2 * torch.randn(8, 5, generator=g, dtype=torch.float64)
    return net, x_a, x_b


def _losses():
    from ebm.objectives import DCL, EMPSSL, MMCR, MSN, BarlowTwins, FroSSL, InfoNCE, KoLeo, LeJEPA, VICReg
    from ebm.objectives.jepa import JEPALoss

    lejepa, msn = LeJEPA(lambda_=0.5, n_directions=8), MSN(4, 6, generator=torch.Generator().manual_seed(0)).double()
    return {
        "infonce": InfoNCE(0.5), "vicreg": VICReg(), "barlow": BarlowTwins(), "dcl": DCL(),
        # multi-view losses, fed the two views; LeJEPA's directions from the same seed on every rank
        "mmcr": MMCR(), "koleo": KoLeo(), "emp_ssl": EMPSSL(invariance_weight=2.0), "frossl": FroSSL(),
        "lejepa": lambda a, b: lejepa(a, b, generator=torch.Generator().manual_seed(3)),
        "msn": msn,  # anchors = view a, targets = view b (detached)
        "jepa": lambda a, b: JEPALoss(variance_weight=2.0, covariance_weight=0.5)(a, b, a),  # prediction = context = a, target b (detached inside)
    }


def _worker(rank, world, port, out_dir):
    # A bounded timeout: a lost peer fails the collective instead of hanging the suite.
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    torch.set_num_threads(1)
    try:
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
        # Rank 0 hosts the TCP store: nobody tears down before everybody is done, or a rank still
        # talking to the store in destroy_process_group can wait on a dead peer (seen once in CI).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_one_process_on_concatenated_batch(tmp_path):
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, 2, port, str(tmp_path))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    hung = [p.name for p in procs if p.exitcode is None]
    for p in procs:
        if p.exitcode is None:
            p.kill()
            p.join()
    assert not hung, f"DDP workers did not finish within 120 s: {hung}"
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = {r: torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)}
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
