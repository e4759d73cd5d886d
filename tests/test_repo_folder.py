"""One checkpoint loader (`barlow_speech.repo_folder.load_pretrained`) behind every path that reads a checkpoint:
the HEAR / s3prl frame encoder, the evaluation pipeline and publishing refuse the same broken folders the same way."""

from pathlib import Path

import pytest
import tomllib
import torch
from packaging.requirements import Requirement
from transformers import TrainingArguments

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining, BarlowTwinsTrainer, hear
from barlow_speech.evaluation.pipeline import load_upstream
from barlow_speech.repo_folder import build_repo_folder, load_checkpoint, write_trainer_repo_contents
from barlow_speech.training.pretrain import DataArguments
from tests.factories import tiny_config

LOADERS = {"hear": hear.load_model, "evaluation": load_upstream, "publishing": load_checkpoint}


def _checkpoint(folder):
    BarlowSpeechForPreTraining(tiny_config()).save_pretrained(folder)
    BarlowSpeechFeatureExtractor().save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_names_a_truncated_weights_file_instead_of_a_traceback(tmp_path, loader):
    checkpoint = _checkpoint(tmp_path / "run")
    weights = tmp_path / "run" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    truncated = r"model\.safetensors is \d+ bytes but its header describes \d+ \(truncated\)"
    with pytest.raises(ValueError, match=truncated):
        LOADERS[loader](checkpoint)


def _card_row(folder, name: str) -> str:
    (row,) = [line for line in (folder / "README.md").read_text().splitlines() if line.startswith(f"| {name} |")]
    return row


def test_the_card_names_the_pretraining_dataset_the_run_used_from_the_trainer_and_from_its_checkpoints(tmp_path):
    data = DataArguments(dataset="tts_speech", num_clips=24)
    assert data.describe() == "tts_speech (split pretrain, 24 generated clips)"
    assert (
        DataArguments(dataset="librispeech", data_path="org/ls").describe() == "librispeech (subset train-clean-100)"
    )
    args = TrainingArguments(str(tmp_path / "run"), per_device_train_batch_size=2, report_to=[], use_cpu=True)
    trainer = BarlowTwinsTrainer(
        model=BarlowSpeechForPreTraining(tiny_config()),
        args=args,
        feature_extractor=BarlowSpeechFeatureExtractor(),
        pretraining_dataset=data.describe(),
    )
    trainer.save_model()  # what the end of a run and every checkpoint call
    expected = "| Upstream (pretraining) dataset | tts_speech (split pretrain, 24 generated clips) |"
    assert _card_row(build_repo_folder(tmp_path / "run", tmp_path / "repo"), "Upstream (pretraining) dataset") == (
        expected
    )
    assert _card_row(write_trainer_repo_contents(trainer), "Upstream (pretraining) dataset") == expected


def test_the_cards_requirements_are_the_ranges_the_package_declares_not_the_installed_versions(tmp_path):
    declared = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    ranges = {Requirement(line).name: Requirement(line).specifier for line in declared["dependencies"]}
    BarlowSpeechForPreTraining(tiny_config()).save_pretrained(tmp_path / "run")
    BarlowSpeechFeatureExtractor().save_pretrained(tmp_path / "run")
    folder = build_repo_folder(tmp_path / "run", tmp_path / "repo")
    lines = (folder / "requirements.txt").read_text().splitlines()[1:]
    written = {Requirement(line).name: Requirement(line).specifier for line in lines}
    assert list(written) == ["torch", "transformers", "numpy", "safetensors"]
    assert written == {name: ranges[name] for name in written}  # e.g. torch>=2.2, not the installed 2.13.0
    assert "transformers>=5.0,<6" in lines  # lower bound first
    assert f"torch>={torch.__version__.split('+')[0]}" not in lines
