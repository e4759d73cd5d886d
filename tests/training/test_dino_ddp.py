"""DINO under DDP equals one process on the concatenated batch: loss, gradients, centre and EMA teacher, with the
running centre and with Sinkhorn-Knopp centring (both sum over the global batch)."""

import copy
import gc
import os

import pytest
import torch
import torch.distributed as dist
from torch import nn

from barlow_speech.modeling_dino import DinoHead, dino_loss, ema_update_, sinkhorn_knopp, update_center
from tests.factories import tiny_config
from tests.training.test_ddp import _free_port, spawn_workers

WORLD_SIZE = 2
BATCH_PER_RANK = 4
STEPS = 2
K = 12
CENTERINGS = ("centering", "sinkhorn_knopp")


def _student() -> nn.Module:
    torch.manual_seed(0)
    config = tiny_config(objective="dino", dino_num_prototypes=K, dino_hidden_size=20, dino_bottleneck_size=6)
    head = DinoHead(config)
    nn.init.normal_(head.last_layer.weight)  # the prototypes are allocated empty (DinoSpeechForPreTraining inits them)
    return nn.Sequential(nn.Linear(10, config.hidden_size), nn.Tanh(), head)


def _crops(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Long `(2, global batch, 10)` and short `(3, global batch, 10)` crops of step `step`."""
    generator = torch.Generator().manual_seed(step)
    clips = torch.randn(WORLD_SIZE * BATCH_PER_RANK, 10, generator=generator)
    long = clips + 0.1 * torch.randn(2, *clips.shape, generator=generator)
    return long, clips + 0.3 * torch.randn(3, *clips.shape, generator=generator)


def _train(student: nn.Module, batch: slice, distributed: bool, centering: str = "centering") -> list[dict]:
    """STEPS steps of DINO on `batch` of every step's crops: loss, gradients, centre, teacher and (Sinkhorn-Knopp)
    the teacher's distributions `(long crops, batch, K)` after each step."""
    teacher = copy.deepcopy(student.module if distributed else student).requires_grad_(False)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    center, records = torch.zeros(K), []
    for step in range(STEPS):
        long, short = (crops[:, batch] for crops in _crops(step))
        crops = torch.cat([long, short])
        student_logits = student(crops.flatten(0, 1)).unflatten(0, crops.shape[:2])
        with torch.no_grad():
            teacher_logits = teacher(long.flatten(0, 1)).unflatten(0, long.shape[:2])
        optimizer.zero_grad()
        loss = dino_loss(student_logits, teacher_logits, center, 0.1, 0.04, centering, distributed).loss
        loss.backward()
        grads = [p.grad.clone() for p in student.parameters()]
        optimizer.step()
        if centering == "centering":
            center = update_center(center, teacher_logits.flatten(0, 1), momentum=0.9, distributed=distributed)
            assignment = None
        else:
            assignment = sinkhorn_knopp(teacher_logits.flatten(0, 1), 0.04, distributed=distributed)
            assignment = assignment.view_as(teacher_logits)
        ema_update_(teacher, student.module if distributed else student, momentum=0.8)
        records.append(
            {
                "loss": loss.detach(),
                "grads": grads,
                "center": center.clone(),
                "assignment": assignment,
                "teacher": [p.clone() for p in teacher.parameters()],
            }
        )
    return records


def _worker(rank: int, port: int, folder: str) -> None:
    """Teardown as tests/training/test_ddp.py: delete the DDP model, collect, barrier, then destroy the group."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        batch = slice(rank * BATCH_PER_RANK, (rank + 1) * BATCH_PER_RANK)
        for centering in CENTERINGS:
            model = nn.parallel.DistributedDataParallel(_student())
            records = _train(model, batch, distributed=True, centering=centering)
            torch.save(records, os.path.join(folder, f"{centering}_rank{rank}.pt"))
            del model
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dino_ddp")
    spawn_workers(_worker, (_free_port(), str(folder)))
    return {c: [torch.load(folder / f"{c}_rank{rank}.pt") for rank in range(WORLD_SIZE)] for c in CENTERINGS}


@pytest.mark.parametrize("centering", CENTERINGS)
def test_ddp_loss_gradients_centre_and_teacher_equal_one_process_on_the_global_batch(ranks, centering):
    single = _train(_student(), slice(None), distributed=False, centering=centering)
    ranks = ranks[centering]
    for step, expected in enumerate(single):
        if centering == "sinkhorn_knopp":  # each rank holds its clips' rows of the global batch's assignment
            got = torch.cat([r[step]["assignment"] for r in ranks], dim=1)
            torch.testing.assert_close(got, expected["assignment"], atol=1e-6, rtol=1e-5)
        # The loss is a batch mean: the global one is the mean of the ranks' (equal batches), as the Trainer logs it.
        torch.testing.assert_close(torch.stack([r[step]["loss"] for r in ranks]).mean(), expected["loss"])
        for rank in ranks:
            torch.testing.assert_close(rank[step]["center"], expected["center"], atol=1e-6, rtol=1e-5)
            for got, want in zip(rank[step]["grads"], expected["grads"], strict=True):
                torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
            for got, want in zip(rank[step]["teacher"], expected["teacher"], strict=True):
                torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_a_rank_local_centre_differs_from_the_global_one():
    """The check above can fail: centring on one rank's half of the batch gives another centre, and Sinkhorn-Knopp
    on it other distributions for the same clips."""
    single = _train(_student(), slice(None), distributed=False)
    half = _train(_student(), slice(0, BATCH_PER_RANK), distributed=False)
    assert (single[0]["center"] - half[0]["center"]).abs().max() > 1e-3
    single = _train(_student(), slice(None), distributed=False, centering="sinkhorn_knopp")
    half = _train(_student(), slice(0, BATCH_PER_RANK), distributed=False, centering="sinkhorn_knopp")
    assert (single[0]["assignment"][:, :BATCH_PER_RANK] - half[0]["assignment"]).abs().max() > 1e-3
