"""`barlow-speech pretrain` runs that must not run code, overwrite a run or save a diverged one (issue 33)."""

import errno
import json
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import transformers

from barlow_speech import BarlowSpeechForPreTraining
from barlow_speech.cli import main as cli_main
from barlow_speech.data.synthetic import load_synthetic
from barlow_speech.training.pretrain import config_differences
from barlow_speech.training.trainer import BarlowTwinsTrainer, TrainingDivergedError
from tests.factories import tiny_config, tiny_training_arguments

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


# ------------------------------------------------------------------------------------------------ used output folders
def _last_error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1] if lines else ""


def test_a_second_run_into_a_used_output_dir_is_refused_and_resume_continues_that_run(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    weights = (run / "model.safetensors").read_bytes()
    assert pretrain(run, "--max_steps", "1") == 2
    assert _last_error(capsys) == (
        f"barlow-speech pretrain: error: --output_dir {run} already holds a run (checkpoint-2, trainer_state.json, "
        "model.safetensors): pass --resume_from_checkpoint last to continue it, --overwrite_output_dir true to "
        "replace it, or choose a new --output_dir."
    )
    assert (run / "model.safetensors").read_bytes() == weights and sorted(
        p.name for p in run.glob("checkpoint-*")
    ) == ["checkpoint-2"]
    assert pretrain(run, "--resume_from_checkpoint", "last", "--max_steps", "3") == 0
    history = json.loads((run / "trainer_state.json").read_text())["log_history"]
    assert [row["step"] for row in history if "loss" in row] == [1, 2, 3]  # the first run's steps, then one more


def test_overwrite_output_dir_replaces_the_run_and_its_checkpoints(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert pretrain(run, "--max_steps", "1", "--overwrite_output_dir", "true") == 0
    assert not (run / "checkpoint-2").exists()  # `--resume_from_checkpoint last` can no longer resume the old run
    assert json.loads((run / "trainer_state.json").read_text())["global_step"] == 1


def _lock(folder, pid: int) -> None:
    folder.mkdir()
    record = {"pid": pid, "host": socket.gethostname(), "started": "2026-12-07T10:00:00"}
    (folder / "_pretrain.lock").write_text(json.dumps(record))


def test_a_concurrent_run_is_refused_and_a_killed_runs_lock_is_taken_over(tmp_path, capsys, caplog):
    run = tmp_path / "run"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        _lock(run, other.pid)
        assert pretrain(run, "--max_steps", "1") == 2
        assert _last_error(capsys) == (
            f"barlow-speech pretrain: error: --output_dir {run} is locked by _pretrain.lock: another run (pid "
            f"{other.pid} on {socket.gethostname()}, started 2026-12-07T10:00:00) is writing to it. Wait for it to "
            "finish or choose another --output_dir."
        )
        assert json.loads((run / "_pretrain.lock").read_text())["pid"] == other.pid  # the other run's lock stays
    finally:
        other.kill()
        other.wait()
    with caplog.at_level(logging.WARNING, logger="barlow_speech.training"):
        assert pretrain(run, "--max_steps", "1", "--save_strategy", "no") == 0  # the other run was killed
    assert any(r.getMessage().startswith("taking over the stale lock") for r in caplog.records)
    assert not (run / "_pretrain.lock").exists() and (run / "model.safetensors").is_file()


# ------------------------------------------------------------------------------------------------ diverged runs
DINO_HEAD = ["--dino_num_prototypes", "32", "--dino_hidden_size", "16", "--dino_bottleneck_size", "8"]


@pytest.mark.parametrize(
    "objective, logging_steps, terms",
    [
        ("barlow_twins", "1", "loss, invariance, redundancy, on_diagonal_mean, off_diagonal_rms"),  # seen at the log
        ("barlow_twins", "100", "loss, invariance, redundancy, on_diagonal_mean, off_diagonal_rms"),  # at the save
        ("dino", "100", "loss, teacher_entropy, kl_teacher_student, kl_to_center"),
    ],
)
def test_a_diverged_run_stops_naming_the_step_and_terms_and_saves_nothing(
    tmp_path, capsys, objective, logging_steps, terms
):
    run = tmp_path / "run"
    flags = ["--objective", objective, *DINO_HEAD, "--num_short_crops", "0"] if objective == "dino" else []
    code = pretrain(run, *flags, "--learning_rate", "1e12", "--max_steps", "2", "--logging_steps", logging_steps)
    assert code == 2
    assert _last_error(capsys).startswith(
        f"barlow-speech pretrain: error: training diverged at step 2: {terms} became NaN or infinite, so the run "
        "stops and nothing of it is saved; lower --learning_rate (it was 1e+12)"
    )
    assert sorted(p.name for p in run.iterdir()) == []  # no model, no checkpoint of step 2, no lock left behind


def test_non_finite_weights_are_never_saved(tmp_path):
    torch.manual_seed(0)
    model = BarlowSpeechForPreTraining(tiny_config())
    trainer = BarlowTwinsTrainer(
        model=model, args=tiny_training_arguments(tmp_path, 1), train_dataset=load_synthetic(num_clips=8, seed=0)
    )
    with torch.no_grad():
        model.projector[0].weight[0, 0] = float("inf")
    with pytest.raises(TrainingDivergedError, match=r"1 of \d+ weight tensors \(projector.0.weight\) are NaN"):
        trainer.save_model(str(tmp_path / "final"))
    assert not (tmp_path / "final").exists()


# ------------------------------------------------------------------------------------------------ clear errors
def test_resuming_with_another_architecture_names_the_differing_fields(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert pretrain(run, "--resume_from_checkpoint", "last", "--max_steps", "3", "--latent_size", "32") == 2
    assert _last_error(capsys) == (
        f"barlow-speech pretrain: error: --resume_from_checkpoint {run / 'checkpoint-2'}: the checkpoint's model "
        "differs from the one these flags build (projector_dims: [16, 16, 16] -> [32, 32, 32]; checkpoint -> flags). "
        "Resume with the flags the run started with (its config.json), or start the new model in another --output_dir."
    )


def test_config_differences_name_nested_fields_and_skip_fields_an_older_checkpoint_does_not_record():
    saved = {"projector_dims": [16], "backbone_config": {"depths": [1, 1]}, "transformers_version": "5.0.0"}
    wanted = {"projector_dims": [16], "backbone_config": {"depths": [2, 2], "hidden_sizes": [8]}}
    wanted |= {"num_frequency_bins": 513, "transformers_version": "5.25.0"}  # a field newer than the checkpoint
    assert config_differences(saved, wanted) == ["backbone_config.depths: [1, 1] -> [2, 2]"]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("run.yaml", "backbone: tiny\nlatent_size: [16\n", "not valid YAML at line 3, column 1: expected ',' or ']'"),
        ("run.json", '{"backbone": "tiny",\n "latent_size": 16,}', "not valid JSON at line 2, column 20: Expecting"),
    ],
)
def test_a_broken_config_file_is_one_line_naming_the_file_and_the_position(tmp_path, capsys, name, text, message):
    config = tmp_path / name
    config.write_text(text)
    assert cli_main(["pretrain", "--config", str(config), "--output_dir", str(tmp_path / "run")]) == 2
    assert _last_error(capsys).startswith(f"barlow-speech pretrain: error: --config {config}: {message}")


def test_a_full_disk_is_one_line_naming_the_path_and_the_cause(tmp_path, capsys, monkeypatch):
    def disk_full(self, output_dir=None, _internal_call=False):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(output_dir, "model.safetensors"))

    monkeypatch.setattr(transformers.Trainer, "save_model", disk_full)  # the final model's weights
    assert pretrain(tmp_path / "run", "--max_steps", "1", "--save_strategy", "no") == 2
    assert _last_error(capsys) == (
        f"barlow-speech pretrain: error: {tmp_path / 'run' / 'model.safetensors'}: no space left on device; free "
        "space or choose another output folder (--output_dir)."
    )


@pytest.mark.parametrize(
    "code, cause",
    [
        (errno.EROFS, "read-only file system; choose another output folder (--output_dir)."),
        (errno.EACCES, "permission denied; make the folder writable or choose another output folder (--output_dir)."),
    ],
)
def test_a_read_only_output_folder_is_one_line_naming_the_path_and_the_cause(
    tmp_path, capsys, monkeypatch, code, cause
):
    def refuse(path):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr("barlow_speech.training.checkpoints._create_lock", refuse)  # the run's first write
    assert pretrain(tmp_path / "run", "--max_steps", "1") == 2
    assert _last_error(capsys) == f"barlow-speech pretrain: error: {tmp_path / 'run' / '_pretrain.lock'}: {cause}"
