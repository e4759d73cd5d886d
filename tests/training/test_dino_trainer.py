"""DinoTrainer: logged collapse diagnostics, the collapse warning, exact resume, and `pretrain --objective dino`."""

import json
import logging

import numpy as np
import pytest
import torch
from transformers import AutoModel

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechModel, DinoSpeechForPreTraining
from barlow_speech.cli import main as cli_main
from barlow_speech.data.synthetic import load_synthetic
from barlow_speech.repo_folder import build_repo_folder
from barlow_speech.training.dino import (
    DinoArguments,
    DinoTrainer,
    dino_history,
    teacher_momentum_at,
    teacher_temperature_at,
)
from tests.factories import QUIET_PRETRAIN_FLAGS, tiny_config, tiny_training_arguments
from tests.training.test_trainer import _losses, _StopAt

# A reduced front end (129 x 63) keeps these CPU runs to a second or two per step.
FRONT_END = {"n_fft": 256, "hop_length": 256}
DINO_HEAD = {"objective": "dino", "dino_num_prototypes": 64, "dino_hidden_size": 32, "dino_bottleneck_size": 16}
COLLAPSE_LOGGER = "barlow_speech.training.dino"


@pytest.fixture(scope="module")
def corpus():
    return load_synthetic(num_clips=48, seed=0, split="train")


def _trainer(tmp_path, corpus, max_steps=4, callbacks=None, model=None, **dino) -> DinoTrainer:
    torch.manual_seed(0)
    args = tiny_training_arguments(tmp_path, max_steps)
    return DinoTrainer(
        model=model or DinoSpeechForPreTraining(tiny_config(**DINO_HEAD)),
        args=args,
        train_dataset=corpus,
        feature_extractor=BarlowSpeechFeatureExtractor(**FRONT_END),
        callbacks=callbacks,
        dino_args=DinoArguments(warmup_teacher_temperature=0.02, warmup_teacher_temperature_steps=2, **dino),
    )


def test_training_logs_entropy_and_kl_and_moves_the_teacher_without_a_collapse_warning(tmp_path, corpus, caplog):
    trainer = _trainer(tmp_path, corpus, max_steps=3)
    teacher_before = [p.clone() for p in trainer.model.barlow.parameters()]
    with caplog.at_level(logging.WARNING, logger=COLLAPSE_LOGGER):
        trainer.train()
    history = dino_history(trainer.state.log_history)
    assert history["step"] == [1, 2, 3]
    rows = [row for row in trainer.state.log_history if "kl_to_center" in row]
    for row in rows:
        for key in ("teacher_entropy", "kl_teacher_student", "kl_to_center", "samples_per_second"):
            assert np.isfinite(row[key]), key
        assert 0 <= row["teacher_entropy"] <= np.log(64) + 1e-4
        assert row["loss"] == pytest.approx(row["teacher_entropy"] + row["kl_teacher_student"], rel=1e-4)
    assert [row["teacher_temperature"] for row in rows] == pytest.approx([0.02, 0.03, 0.04])  # warm-up
    assert min(history["kl_to_center"]) > 1e-2
    assert not [r for r in caplog.records if "collapsed" in r.getMessage()]
    assert any(not torch.equal(p, q) for p, q in zip(trainer.model.barlow.parameters(), teacher_before, strict=True))
    assert trainer.model.center.abs().sum() > 0


@pytest.mark.parametrize("collapse_threshold", [1e-2, 0.0])  # 0: only the near-uniform entropy can detect it
def test_a_collapsed_teacher_is_detected_and_warned_in_the_logs(tmp_path, corpus, caplog, collapse_threshold):
    torch.manual_seed(0)
    model = DinoSpeechForPreTraining(tiny_config(**DINO_HEAD))
    with torch.no_grad():
        model.teacher_head.mlp[-1].weight.zero_()  # the teacher's output no longer depends on its input
    trainer = _trainer(  # and it stays so
        tmp_path, corpus, max_steps=2, model=model, teacher_momentum=1.0, collapse_threshold=collapse_threshold
    )
    with caplog.at_level(logging.WARNING, logger=COLLAPSE_LOGGER):
        trainer.train()
    warnings = [r.getMessage() for r in caplog.records if "collapsed" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].startswith("step 1: the DINO teacher has collapsed: kl_to_center=")
    assert "teacher_entropy=4.159 of at most log K = 4.159" in warnings[0]
    assert "sharpening is too weak" in warnings[0]  # a constant teacher after centring is uniform
    assert max(dino_history(trainer.state.log_history)["kl_to_center"]) < 1e-6


def test_interrupted_run_resumes_from_its_checkpoint_with_the_same_loss_trajectory(tmp_path, corpus):
    uninterrupted = _trainer(tmp_path / "a", corpus)
    uninterrupted.train()
    crashed = _trainer(tmp_path / "b", corpus, callbacks=[_StopAt(2)])
    crashed.train()
    assert max(_losses(crashed)) == 2
    assert (tmp_path / "b" / "checkpoint-2" / "views_state.safetensors").is_file()
    resumed = _trainer(tmp_path / "b", corpus)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-2"))
    expected, got = _losses(uninterrupted), {**_losses(crashed), **_losses(resumed)}
    assert sorted(got) == [1, 2, 3, 4]
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-5, abs=1e-6), step
    torch.testing.assert_close(resumed.model.center, uninterrupted.model.center)


def test_pretrain_objective_dino_writes_a_teacher_checkpoint_with_a_dino_model_card(tmp_path):
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "backbone": "tiny",
                "objective": "dino",
                "dino_num_prototypes": 32,
                "dino_hidden_size": 16,
                "dino_bottleneck_size": 8,
                "dino_head_batchnorm": True,
                "dino_teacher_temperature": 0.02,
                "dino_centering": "sinkhorn_knopp",
                "num_short_crops": 2,
            }
        )
    )
    output = tmp_path / "out"
    flags = [
        "--per_device_train_batch_size",
        "4",
        "--num_clips",
        "8",
        "--max_steps",
        "2",
        "--normalization_clips",
        "4",
    ]
    code = cli_main(["pretrain", "--config", str(config), "--output_dir", str(output), *flags, *QUIET_PRETRAIN_FLAGS])
    assert code == 0
    encoder = AutoModel.from_pretrained(output)
    assert isinstance(encoder, BarlowSpeechModel) and encoder.config.objective == "dino"
    pair = DinoSpeechForPreTraining.from_pretrained(output)
    assert (pair.config.dino_teacher_temperature, pair.config.dino_centering) == (0.02, "sinkhorn_knopp")
    assert isinstance(pair.teacher_head.mlp[1], torch.nn.BatchNorm1d)
    teacher = pair.barlow
    for loaded, expected in zip(encoder.state_dict().values(), teacher.state_dict().values(), strict=True):
        torch.testing.assert_close(loaded, expected)
    readme = (build_repo_folder(output, tmp_path / "repo") / "README.md").read_text()
    assert "| Objective | DINO self-distillation" in readme and "- dino" in readme
    assert "| Prototypes K | 32 |" in readme and "| Batch norm in the head | yes |" in readme
    assert "| Centring of the teacher | Sinkhorn-Knopp over the batch (DINOv2) |" in readme
    assert "Barlow Twins latents" not in readme


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--objective", "dnio"],
            "objective='dnio' is not one of ['barlow_twins', 'dino'] (did you mean 'dino'?).",  # the config's check
        ),
        (
            ["--num_long_crops", "0"],
            (
                "--num_long_crops 0 --long_crop_seconds 1.0 --num_short_crops 4 "
                "--short_crop_seconds 0.5: num_long=0, num_short=4: DINO needs >= 1 long crop"
            ),
        ),
        (
            ["--short_crop_seconds", "2"],
            (
                "--num_long_crops 2 --long_crop_seconds 1.0 --num_short_crops 4 "
                "--short_crop_seconds 2.0: long_seconds=1.0, short_seconds=2.0: expected"
            ),
        ),
        (["--teacher_momentum", "1.5"], "--teacher_momentum 1.5: expected a value in [0, 1]"),
        (
            ["--dino_centering", "sinkhorn"],
            "dino_centering='sinkhorn' is not one of ['centering', 'sinkhorn_knopp'] (did you mean "
            "'sinkhorn_knopp'?).",
        ),
    ],
)
def test_dino_flag_errors_are_one_line_before_any_data_loads(tmp_path, capsys, monkeypatch, flags, message):
    monkeypatch.setattr("barlow_speech.training.pretrain.load_training_audio", _no_data)
    code = cli_main(["pretrain", "--output_dir", str(tmp_path), "--report_to", "none", *flags])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"barlow-speech pretrain: error: {message}")


def test_schedules_follow_the_reference():
    assert teacher_momentum_at(0, 100, 0.996) == pytest.approx(0.996)
    assert teacher_momentum_at(50, 100, 0.996) == pytest.approx(0.998)
    assert teacher_momentum_at(100, 100, 0.996) == pytest.approx(1.0)
    assert teacher_temperature_at(0, 10, 0.04, 0.07) == pytest.approx(0.04)
    assert teacher_temperature_at(5, 10, 0.04, 0.07) == pytest.approx(0.055)
    assert teacher_temperature_at(10, 10, 0.04, 0.07) == teacher_temperature_at(99, 10, 0.04, 0.07) == 0.07
    assert teacher_temperature_at(0, 0, 0.04, 0.07) == 0.07


def _no_data(*args, **kwargs):
    raise AssertionError("the arguments must be checked before any data is loaded")
