"""The Barlow Twins loss under DDP equals one process on the concatenated batch (values and gradients)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from barlow_speech import LOSS_VARIANTS, barlow_twins_loss

WORLD_SIZE = 2
BATCH_PER_RANK = 8


def _encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 12), nn.Tanh(), nn.Linear(12, 6))


def _views() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x_a = torch.randn(WORLD_SIZE * BATCH_PER_RANK, 10, generator=generator)
    return x_a, x_a + 0.3 * torch.randn(x_a.shape, generator=generator)


def _loss_and_grads(model: nn.Module, x_a, x_b, variant: str, distributed: bool):
    model.zero_grad()
    out = barlow_twins_loss(model(x_a), model(x_b), lambda_offdiag=0.05, variant=variant, distributed=distributed)
    out.loss.backward()
    return out.loss.detach(), [p.grad.clone() for p in model.parameters()]


def _worker(rank: int, port: int, results: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        model = nn.parallel.DistributedDataParallel(_encoder())
        x_a, x_b = _views()
        local = slice(rank * BATCH_PER_RANK, (rank + 1) * BATCH_PER_RANK)
        output = {}
        for variant in LOSS_VARIANTS:
            output[variant] = _loss_and_grads(model, x_a[local], x_b[local], variant, distributed=True)
        if rank == 0:
            torch.save(output, results)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ddp") / "results.pt")
    mp.spawn(_worker, args=(_free_port(), path), nprocs=WORLD_SIZE, join=True)
    return torch.load(path)


@pytest.mark.parametrize("variant", LOSS_VARIANTS)
def test_ddp_loss_and_gradients_equal_one_process_on_the_global_batch(ddp_results, variant):
    x_a, x_b = _views()
    loss, grads = _loss_and_grads(_encoder(), x_a, x_b, variant, distributed=False)
    ddp_loss, ddp_grads = ddp_results[variant]
    torch.testing.assert_close(ddp_loss, loss, atol=1e-5, rtol=0)
    for ddp_grad, grad in zip(ddp_grads, grads):
        torch.testing.assert_close(ddp_grad, grad, atol=1e-5, rtol=0)


def test_local_only_loss_differs_from_the_global_one():
    """The check above can fail: computing C on one rank's half of the batch gives another loss."""
    x_a, x_b = _views()
    model = _encoder()
    global_loss, _ = _loss_and_grads(model, x_a, x_b, "mbt_bn", distributed=False)
    half_loss, _ = _loss_and_grads(model, x_a[:BATCH_PER_RANK], x_b[:BATCH_PER_RANK], "mbt_bn", distributed=False)
    assert abs(global_loss - half_loss) > 1e-3
