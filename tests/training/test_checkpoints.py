"""Resuming picks the newest COMPLETE checkpoint: partial or truncated ones are skipped with the reason; the views'
state is read as safetensors and JSON, never unpickled."""

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import TrainingArguments

from barlow_speech.training.checkpoints import last_complete_checkpoint, load_views_state, save_views_state
from barlow_speech.training.pretrain import resolve_checkpoint
from tests.training.test_run_safety import _plant_malicious_pickle


def _checkpoint(run: Path, step: int) -> Path:
    """A checkpoint folder with the files resuming needs: config.json, model.safetensors, trainer_state.json."""
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    save_file({"weight": torch.zeros(64)}, str(folder / "model.safetensors"))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _resume_args(run: Path, resume: str) -> TrainingArguments:
    return TrainingArguments(output_dir=str(run), resume_from_checkpoint=resume, use_cpu=True, report_to="none")


def test_resume_last_skips_partial_and_truncated_checkpoints_with_a_warning_each(tmp_path, caplog):
    _checkpoint(tmp_path, 2)
    _truncate(_checkpoint(tmp_path, 4) / "model.safetensors", keep=100)  # disk full while saving
    (_checkpoint(tmp_path, 6) / "trainer_state.json").unlink()  # killed before the Trainer wrote its state
    (tmp_path / "checkpoint-10").mkdir()  # killed right after creating the folder
    with caplog.at_level(logging.INFO, logger="barlow_speech.training"):
        assert resolve_checkpoint(_resume_args(tmp_path, "last")) == str(tmp_path / "checkpoint-2")
    messages = [record.getMessage() for record in caplog.records]
    assert [m.split(":")[0] for m in messages if m.startswith("skipping")] == [
        "skipping checkpoint-10",
        "skipping checkpoint-6",
        "skipping checkpoint-4",
    ]
    assert any("checkpoint-6: lacks trainer_state.json" in m for m in messages)
    assert any("checkpoint-4: model.safetensors is 100 bytes but its header describes" in m for m in messages)
    assert messages[-1] == "resuming from checkpoint-2 at step 2"


@pytest.mark.parametrize("keep", [4, 20])
def test_a_truncated_header_is_named(tmp_path, keep):
    _truncate(_checkpoint(tmp_path, 3) / "model.safetensors", keep=keep)
    with pytest.raises(
        ValueError, match=r"no complete checkpoint in .*checkpoint-3 \(model.safetensors is .*truncated"
    ):
        last_complete_checkpoint(tmp_path)


def test_a_run_without_checkpoints_starts_from_scratch(tmp_path):
    assert resolve_checkpoint(_resume_args(tmp_path / "new-run", "last")) is None


def test_a_named_incomplete_checkpoint_is_a_clear_error(tmp_path):
    (_checkpoint(tmp_path, 8) / "config.json").unlink()
    with pytest.raises(ValueError, match=r"--resume_from_checkpoint .*checkpoint-8: the checkpoint lacks config.json"):
        resolve_checkpoint(_resume_args(tmp_path, str(tmp_path / "checkpoint-8")))


class _StatefulViews(torch.nn.Module):
    """A caller's augmentation with state: a buffer and JSON extra state."""

    def __init__(self, extra=None):
        super().__init__()
        self.register_buffer("bank", torch.zeros(3))
        self.extra = extra or {"seen": 0}

    def get_extra_state(self):
        return self.extra

    def set_extra_state(self, state):
        self.extra = state


def test_the_views_state_round_trips_through_safetensors_and_json(tmp_path):
    views = _StatefulViews({"seen": 5, "rates": [0.9, 1.1]})
    views.bank += torch.tensor([1.0, 2.0, 3.0])
    save_views_state(views, tmp_path / "views_state.safetensors")
    restored = _StatefulViews()
    load_views_state(restored, tmp_path / "views_state.safetensors")
    assert torch.equal(restored.bank, views.bank) and restored.extra == {"seen": 5, "rates": [0.9, 1.1]}
    with pytest.raises(ValueError, match="neither tensors nor JSON"):
        save_views_state(_StatefulViews({"generator": torch.Generator()}), tmp_path / "other.safetensors")


def test_a_views_state_that_is_not_safetensors_is_refused_without_unpickling(tmp_path):
    path, marker = tmp_path / "views_state.safetensors", tmp_path / "pwned"
    _plant_malicious_pickle(path, marker)
    with pytest.raises(ValueError, match="views_state.safetensors is not a safetensors file"):
        load_views_state(_StatefulViews(), path)  # what trainer.train(resume_from_checkpoint=...) calls
    assert not marker.exists()
