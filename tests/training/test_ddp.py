"""The Barlow Twins loss under DDP equals one process on the concatenated batch (values and gradients)."""

import gc
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from barlow_speech import LOSS_VARIANTS, barlow_twins_loss

WORLD_SIZE = 2
BATCH_PER_RANK = 8
WORKER_TIMEOUT_S = 300  # two spawned Pythons importing torch + transformers on a slow, shared CPU finish in ~60 s


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
    """Teardown order matters: a DDP model that outlives `destroy_process_group` can deadlock gloo's worker thread
    (it waits for the GIL to finish an all-reduce while `~ProcessGroupGloo` joins it). So: delete the model, collect
    its reference cycles (reducer, hooks), barrier, then destroy the group."""
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
        del model
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_workers(worker, args: tuple, nprocs: int = WORLD_SIZE, timeout: float = WORKER_TIMEOUT_S) -> None:
    """`mp.spawn` whose join gives up after `timeout` seconds: a hung worker is killed and reported, not waited on."""
    context = mp.start_processes(worker, args=args, nprocs=nprocs, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout
    while not context.join(timeout=max(deadline - time.monotonic(), 0.0)):  # raises if a worker failed
        if time.monotonic() >= deadline:
            hung = [rank for rank, process in enumerate(context.processes) if process.is_alive()]
            for process in context.processes:
                process.kill()
                process.join()
            raise TimeoutError(
                f"DDP worker(s) {hung} still running after {timeout:g} s (a collective or process-group teardown "
                "deadlock?); killed them. Run the test alone with `-s` to see where they stopped."
            )


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ddp") / "results.pt")
    spawn_workers(_worker, (_free_port(), path))
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


def _hang(rank: int) -> None:
    time.sleep(3600)


def test_a_hung_worker_fails_fast_with_a_clear_message():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"worker\(s\) \[0, 1\] still running after 2 s .*killed them"):
        spawn_workers(_hang, (), timeout=2)
    assert time.monotonic() - start < 30
