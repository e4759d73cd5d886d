"""`barlow-speech pretrain` runs that must not run code, overwrite a run or save a diverged one (issue 33)."""

import logging
import os
import shlex
import shutil

import pytest
import torch

from barlow_speech.cli import main as cli_main

# A tiny run: 2-stage ResNet, 16-d latent, a 129 x 63 front end, batch 4 of 16 synthetic clips, a checkpoint every
# 2 steps. The default views (BYOL-A mixup on) are the ones whose state was a 132-MB pickle.
TINY = [
    "--backbone", "tiny", "--latent_size", "16", "--num_clips", "16", "--normalization_clips", "4",
    "--per_device_train_batch_size", "4", "--n_fft", "256", "--hop_length", "256", "--save_steps", "2",
    "--logging_steps", "1", "--use_cpu", "true", "--report_to", "none", "--disable_tqdm", "true",
]  # fmt: skip


def pretrain(output_dir, *flags: str) -> int:
    return cli_main(["pretrain", "--output_dir", str(output_dir), *TINY, *flags])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run of 2 steps with its checkpoint-2 (copy it before changing it)."""
    run = tmp_path_factory.mktemp("safety") / "run"
    assert pretrain(run, "--max_steps", "2") == 0
    return run


class _RunsACommand:
    """Unpickling this runs `touch <marker>`: what an attacker would put in a shared checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _plant_malicious_pickle(path, marker) -> None:
    """Write the pickle at `path`, proving first that unpickling it runs the command."""
    pickle = marker.with_name("exploit.pt")  # torch.load would read a `.safetensors` name as safetensors
    torch.save(_RunsACommand(marker), pickle)
    torch.load(pickle, weights_only=False)
    assert marker.exists()
    marker.unlink()
    shutil.move(pickle, path)


def test_a_checkpoint_keeps_the_views_state_in_kilobytes_of_safetensors(finished_run):
    checkpoint = finished_run / "checkpoint-2"
    assert (checkpoint / "views_state.safetensors").stat().st_size < 4096
    assert not list(checkpoint.glob("augmentation_state*"))


def test_a_legacy_pickled_views_state_is_never_loaded_only_warned_about(finished_run, tmp_path, caplog):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    shutil.copytree(finished_run, run)
    _plant_malicious_pickle(run / "checkpoint-2" / "augmentation_state.pt", marker)
    with caplog.at_level(logging.WARNING, logger="barlow_speech.training"):
        code = pretrain(run, "--resume_from_checkpoint", "last", "--max_steps", "3")
    assert not marker.exists(), "resuming unpickled the checkpoint's augmentation_state.pt and ran its command"
    assert code == 0  # the views keep no state: the legacy file is ignored, with a warning
    assert any("augmentation_state.pt" in r.getMessage() and "never read" in r.getMessage() for r in caplog.records)


def test_a_pickle_under_the_views_state_name_is_refused_in_one_line(finished_run, tmp_path, capsys):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    shutil.copytree(finished_run, run)
    _plant_malicious_pickle(run / "checkpoint-2" / "views_state.safetensors", marker)
    code = pretrain(run, "--resume_from_checkpoint", str(run / "checkpoint-2"), "--max_steps", "3")
    assert not marker.exists()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err.startswith("barlow-speech pretrain: error: --resume_from_checkpoint ")
    assert "views_state.safetensors is not a safetensors file" in err
