"""BarlowTwinsTrainer: logged loss parts, LARS, exact resume from a checkpoint, and the pretrain CLI."""

import json
import logging

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, AutoModel, TrainerCallback

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining, BarlowSpeechModel
from barlow_speech.cli import main as cli_main
from barlow_speech.data.synthetic import load_synthetic
from barlow_speech.data_collator import WaveformCollator
from barlow_speech.modeling_dino import DinoSpeechForPreTraining
from barlow_speech.training.augment import DEMO_VIEWS, TwoViewAugmentation, TwoViewAugmentationConfig
from barlow_speech.training.dino import DinoTrainer
from barlow_speech.training.optim import LARS
from barlow_speech.training.pretrain import build_trainer, parse_arguments
from barlow_speech.training.trainer import BarlowTwinsArguments, BarlowTwinsTrainer
from tests.factories import QUIET_PRETRAIN_FLAGS, tiny_config, tiny_training_arguments

# A reduced front end (129 x 63) keeps these CPU runs to a second or two per test.
FRONT_END = {"n_fft": 256, "hop_length": 256}


@pytest.fixture(scope="module")
def corpus():
    return load_synthetic(num_clips=48, seed=0, split="train")


def _trainer(tmp_path, corpus, max_steps=4, callbacks=None, **barlow) -> BarlowTwinsTrainer:
    """`max_steps=-1`: one epoch."""
    torch.manual_seed(0)
    model = BarlowSpeechForPreTraining(tiny_config())
    args = tiny_training_arguments(tmp_path, max_steps)
    return BarlowTwinsTrainer(
        model=model,
        args=args,
        train_dataset=corpus,
        feature_extractor=BarlowSpeechFeatureExtractor(**FRONT_END),
        barlow_args=BarlowTwinsArguments(**barlow),
        callbacks=callbacks,
    )


def test_training_logs_invariance_redundancy_and_correlation_statistics(tmp_path, corpus):
    trainer = _trainer(tmp_path, corpus, max_steps=3)
    trainer.train()
    logged = [row for row in trainer.state.log_history if "loss" in row]
    assert len(logged) == 3
    for row in logged:
        for key in ("invariance", "redundancy", "on_diagonal_mean", "off_diagonal_rms", "samples_per_second"):
            assert np.isfinite(row[key]), key
        assert row["loss"] == pytest.approx(row["invariance"] + 5.1e-3 * row["redundancy"], rel=1e-4)
    assert [row["step"] for row in logged] == [1, 2, 3]


class _StopAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _losses(trainer) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in trainer.state.log_history if "loss" in row}


def test_interrupted_run_resumes_from_its_checkpoint_with_the_same_loss_trajectory(tmp_path, corpus):
    uninterrupted = _trainer(tmp_path / "a", corpus, max_steps=4)
    uninterrupted.train()
    crashed = _trainer(tmp_path / "b", corpus, max_steps=4, callbacks=[_StopAt(2)])
    crashed.train()
    assert max(_losses(crashed)) == 2
    assert (tmp_path / "b" / "checkpoint-2" / "views_state.safetensors").is_file()
    resumed = _trainer(tmp_path / "b", corpus, max_steps=4)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-2"))
    expected, got = _losses(uninterrupted), {**_losses(crashed), **_losses(resumed)}
    assert sorted(got) == [1, 2, 3, 4]
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-5, abs=1e-6), step


def test_views_differ_and_are_reproducible_for_a_step(tmp_path, corpus):
    trainer = _trainer(tmp_path, corpus)
    waveforms = WaveformCollator()([corpus[i] for i in range(4)])["waveforms"]
    a1, b1 = trainer.make_views(waveforms)
    trainer._micro_step = (-1, 0)
    a2, b2 = trainer.make_views(waveforms)
    assert not torch.allclose(a1, b1)
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(b1, b2)


def test_evaluation_views_leave_the_training_stream_alone(tmp_path, corpus):
    trainer = _trainer(tmp_path, corpus)
    waveforms = WaveformCollator()([corpus[i] for i in range(4)])["waveforms"]
    trainer.make_views(waveforms)
    micro_step = trainer._micro_step
    eval_a, _ = trainer.make_views(waveforms, training=False)
    again_a, _ = trainer.make_views(waveforms, training=False)
    assert trainer._micro_step == micro_step
    torch.testing.assert_close(eval_a, again_a)  # a fixed evaluation stream


def test_lars_is_an_optimizer_choice(tmp_path, corpus):
    trainer = _trainer(tmp_path, corpus, max_steps=1, optimizer="lars")
    trainer.train()
    assert isinstance(
        trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer, LARS
    )


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="adamw"):
        BarlowTwinsArguments(optimizer="sgd")


def test_collator_pads_short_clips_and_rejects_other_schemas():
    batch = WaveformCollator(16000)([{"audio": {"array": np.ones(8000)}}, {"audio": np.ones(20000)}])
    assert batch["waveforms"].shape == (2, 16000)
    assert batch["waveforms"][0, 8000:].abs().sum() == 0
    with pytest.raises(ValueError, match="'audio'"):
        WaveformCollator()([{"speech": np.ones(10)}])


def test_pretrain_cli_writes_a_checkpoint_that_auto_classes_load(tmp_path):
    config = tmp_path / "run.json"
    run = {"backbone": "tiny", "latent_size": 16, "num_clips": 24, "max_steps": 3}
    run |= {"pooling": "time_mean_std", "pooling_bands": [8, 4, 2], "projector_input": "all_layers"}
    run |= {"n_fft": 512, "hop_length": 256, "n_mels": 32}  # the demo's front end, fewer bands
    config.write_text(json.dumps(run))
    output = tmp_path / "out"
    flags = ["--per_device_train_batch_size", "8", "--max_steps", "2", "--normalization_clips", "8"]
    code = cli_main(["pretrain", "--config", str(config), "--output_dir", str(output), *flags, *QUIET_PRETRAIN_FLAGS])
    assert code == 0
    model = AutoModel.from_pretrained(output)
    assert isinstance(model, BarlowSpeechModel) and model.config.latent_size == 16
    # the encoder's pooling and the heads' input come from the flags, not the paper's defaults
    assert (model.config.pooling, model.config.layer_bands) == ("time_mean_std", [8, 4, 2])
    assert model.config.projector_input == "all_layers"
    extractor = AutoFeatureExtractor.from_pretrained(output)
    assert extractor.mean != 0.0  # fitted on the training audio
    assert (extractor.n_fft, extractor.hop_length, extractor.n_mels, extractor.num_bins) == (512, 256, 32, 32)
    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 2  # the command line overrode the file's max_steps


@pytest.mark.parametrize("objective", ["barlow_twins", "dino"])
def test_pretrain_views_flag_picks_a_preset_for_the_views_or_crops(objective):
    flags = ["--output_dir", "out", "--backbone", "tiny", "--num_clips", "8", "--normalization_clips", "4"]
    parsed = parse_arguments([*flags, "--objective", objective, "--views", "demo", "--report_to", "none"])
    trainer = build_trainer(parsed.model, parsed.data, parsed.barlow, parsed.training, parsed.dino)
    config = trainer.augmentation.config
    views = config.views if objective == "dino" else config  # DINO augments each crop with them
    assert views == DEMO_VIEWS and views is not DEMO_VIEWS  # a copy: the preset stays as defined
    default = parse_arguments(flags)
    assert build_trainer(*default[:3], default.training).augmentation.config == TwoViewAugmentationConfig()


def test_a_last_batch_of_one_segment_is_dropped_with_one_warning_not_a_crash(tmp_path, corpus, caplog):
    trainer = _trainer(tmp_path, corpus.select(range(17)), max_steps=-1)  # 17 = 2 x 8 + 1
    with caplog.at_level(logging.WARNING, logger="barlow_speech.training.trainer"):
        trainer.train()
        metrics = trainer.evaluate(corpus.select(range(9)))  # 9 = 8 + 1
    assert trainer.state.global_step == 2 and np.isfinite(metrics["eval_loss"])
    dropped = [record.getMessage() for record in caplog.records if "dropped" in record.getMessage()]
    assert len(dropped) == 2
    assert dropped[0].startswith("Training: 17 segments leave 1 for the last batch of 8")
    assert not trainer.args.dataloader_drop_last  # the caller's arguments are left as they were


def _no_data(*args, **kwargs):
    raise AssertionError("the arguments must be checked before any data is loaded")


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--backbone", "resnet19"],
            (
                "--backbone resnet19: expected one of ['resnet50', 'resnet18', 'small', 'tiny'] "
                "(did you mean 'resnet18'?)."
            ),
        ),
        (["--latent_size", "0"], "--latent_size 0: expected a value >= 1 (the paper: 2048; the tests: 16)."),
        (["--per_device_train_batch_size", "1"], "--per_device_train_batch_size 1: expected a value >= 2"),
        (["--dataset", "librispeech"], "--dataset librispeech needs --data_path"),
        (["--dataset", "folder", "--data_path", "no/such/folder"], "--data_path no/such/folder: no such folder"),
        (["--latnt_size", "16"], "unknown argument(s) --latnt_size (did you mean '--latent_size'?)"),
        (  # architecture values: checked by the config the flags build
            ["--pooling", "time_mean_sd"],
            "pooling='time_mean_sd' is not one of ['global', 'time_mean', 'time_mean_std'] (did you mean "
            "'time_mean_std'?).",
        ),
        (
            ["--backbone", "small", "--pooling_bands", "16", "8"],
            "pooling_bands=[16, 8] must be one int >= 1 per entry of hidden_states (4: the stem, then each stage)",
        ),
        (["--n_mels", "0"], "--n_mels 0: n_mels=0 must be a positive int (or None for linear bins)."),
        (["--n_fft", "256", "--hop_length", "512"], "--n_fft 256 --hop_length 512: hop_length=512 exceeds n_fft=256"),
        (
            ["--model_name_or_path", "runs/bt", "--n_mels", "64"],
            "--n_mels 64 with --model_name_or_path: a checkpoint keeps the front end it was trained with",
        ),
        (["--views", "dem"], "--views dem: expected one of ['default', 'demo'] (did you mean 'demo'?)."),
        (
            ["--max_steps", "0"],  # the Trainer trained one step
            "--max_steps 0 --num_train_epochs 3: nothing to train; pass --max_steps > 0, or --max_steps -1 (the "
            "default) with --num_train_epochs > 0.",
        ),
    ],
)
def test_pretrain_user_errors_are_one_line_with_exit_code_2_before_any_data_loads(
    tmp_path, capsys, monkeypatch, flags, message
):
    monkeypatch.setattr("barlow_speech.training.pretrain.load_training_audio", _no_data)
    code = cli_main(["pretrain", "--output_dir", str(tmp_path), "--report_to", "none", *flags])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"barlow-speech pretrain: error: {message}")


def test_config_file_typo_names_the_file_and_the_right_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("barlow_speech.training.pretrain.load_training_audio", _no_data)
    config = tmp_path / "run.yaml"
    config.write_text("backbone: tiny\nlatnet_size: 16\n")
    assert cli_main(["pretrain", "--config", str(config), "--output_dir", str(tmp_path)]) == 2
    assert f"--config {config}: unknown key(s) 'latnet_size' (did you mean 'latent_size'?)" in capsys.readouterr().err


def test_debug_flag_shows_the_traceback_instead(tmp_path):
    with pytest.raises(ValueError, match="--backbone resnet19"):
        cli_main(["--debug", "pretrain", "--output_dir", str(tmp_path), "--backbone", "resnet19"])


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr("barlow_speech.training.pretrain.build_trainer", lambda *args: {}["bug"])
    with pytest.raises(KeyError):
        cli_main(["pretrain", "--output_dir", str(tmp_path), "--backbone", "tiny", "--report_to", "none"])


def test_the_views_take_the_feature_extractors_sampling_rate_and_refuse_another(tmp_path, corpus):
    extractor = BarlowSpeechFeatureExtractor(sampling_rate=22050, **FRONT_END)
    model, args = BarlowSpeechForPreTraining(tiny_config()), tiny_training_arguments(tmp_path, 1)
    views = BarlowTwinsTrainer(model=model, args=args, train_dataset=corpus, feature_extractor=extractor).augmentation
    shift = views.waveform_augmentations[0]  # RandomTimeShift: max_shift_seconds (0.1 s) at the extractor's rate
    assert (views.sampling_rate, shift.max_shift) == (22050, 2205)
    dino = DinoTrainer(
        model=DinoSpeechForPreTraining(tiny_config(objective="dino")), args=args, feature_extractor=extractor
    )
    assert dino.augmentation.sampling_rate == 22050
    with pytest.raises(ValueError, match="draws views of 16000-Hz audio, but the feature extractor reads 22050 Hz"):
        BarlowTwinsTrainer(model=model, args=args, feature_extractor=extractor, augmentation=TwoViewAugmentation())
    with pytest.raises(ValueError, match=r"sampling_rate=16000, but the feature extractor reads 22050-Hz audio"):
        TwoViewAugmentation(TwoViewAugmentationConfig(sampling_rate=16000), sampling_rate=extractor.sampling_rate)
