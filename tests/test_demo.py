"""The demo, shortened: the whole pipeline runs, training moves towards invariance, every layer is probed.

Which encoder wins a factor is measured by the full demo (README, docs/representations.md), not asserted here: in the
shortened run the margins are thinner than their run-to-run spread."""

import dataclasses
import json

import pytest
from transformers import AutoModel

from barlow_speech.demo import (
    DemoSettings,
    demo_config,
    demo_trainer,
    demo_views,
    parse_settings,
    pretrain,
    run_demo,
)
from barlow_speech.feature_extraction_barlow import SAMPLING_RATE
from barlow_speech.training.augment import DEMO_VIEWS


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("demo")
    return output_dir, run_demo(dataclasses.replace(DemoSettings.quick(str(output_dir)), compare_dino=True))


def test_shortened_demo_probes_every_layer_and_keeps_the_one_chosen_on_validation(demo):
    _, result = demo
    for r in result["probe_results"]:
        if r["model"] in ("BT (synthetic)", "Random init", "DINO (synthetic)"):
            assert [entry["layer"] for entry in r["layers"]] == ["stem", "stage 1", "stage 2", "stage 3"]
            chosen = next(entry for entry in r["layers"] if entry["layer"] == r["layer"])
            best = max(r["layers"], key=lambda entry: entry["validation"]["1"])
            assert chosen is best and r["fractions"]["1"]["mean"] == chosen["test"]["1"]
    supervised = [r for r in result["probe_results"] if r["model"] == "Supervised"]
    assert {r["task"] for r in supervised} == {"speaker_id", "gender", "word", "emotion"}  # the label columns


def test_shortened_demo_trains_towards_invariance(demo):
    _, result = demo
    assert result["on_diagonal_trained"] > result["on_diagonal_untrained"]


def test_shortened_demo_writes_the_report_figures_results_and_a_loadable_checkpoint(demo):
    output_dir, result = demo
    report = result["report"].read_text()
    for heading in (
        "# barlow-speech demo",
        "Table 2",
        "Table 3",
        "loss_curve.png",
        "cross_correlation.png",
        "accuracy_vs_fraction.png",
    ):
        assert heading in report
    assert list(result["seconds"]) == [
        "pretraining",
        "Fig. 3",
        "DINO pretraining",
        "linear probes",
        "supervised",
        "Table 3",
        "report",
    ]
    assert "Wall clock on this machine: pretraining" in report
    assert "AdamW lr 0.008, weight decay 0.04; batch norm in the head: yes; centring: running centre (DINO)" in report
    for figure in ("loss_curve.png", "cross_correlation.png", "accuracy_vs_fraction.png"):
        assert (output_dir / figure).stat().st_size > 10_000
    probes = json.loads((output_dir / "probe_results.json").read_text())
    assert {r["label_column"] for r in probes} == {"speaker_id", "gender", "word", "emotion"}
    assert all(r["dataset"] == "synthetic" for r in probes)
    config = AutoModel.from_pretrained(output_dir / "bt-synthetic").config
    assert config.latent_size == 512 and config.projector_input == "all_layers"


def test_shortened_demo_compares_dino_with_barlow_twins_per_factor_and_layer(demo):
    output_dir, result = demo
    dino = [r for r in result["probe_results"] if r["model"] == "DINO (synthetic)"]
    assert {r["task"] for r in dino} == {"speaker_id", "gender", "word", "emotion"}  # the label columns
    assert set(result["dino_wins"]) == {"Random init", "BT (synthetic)"}
    report = result["report"].read_text()
    assert "DINO on the same encoder" in report and "| DINO (synthetic) | speaker_id (SR) 100% |" in report
    encoder = AutoModel.from_pretrained(output_dir / "dino-synthetic")
    assert encoder.config.objective == "dino" and type(encoder).__name__ == "BarlowSpeechModel"


def test_demo_arguments_override_the_defaults_or_the_quick_settings():
    settings = parse_settings(
        ["--pooling_bands", "16", "16", "16", "8", "--n_mels", "0", "--mixup", "true", "--eq_db_std", "0"]
    )
    assert settings.pooling_bands == (16, 16, 16, 8) and settings.n_mels is None and settings.mixup is True
    assert settings.eq_db_std == 0.0
    assert DemoSettings().projector_input == "all_layers"  # the demo recipe (docs/representations.md, "Ablation 5")
    assert parse_settings(["--projector_input", "last"]).projector_input == "last"
    assert settings.max_steps == DemoSettings().max_steps  # everything else stays the default
    quick = parse_settings(["--quick", "--output_dir", "out", "--pooling_bands", "4", "--compare_dino"])
    assert quick == dataclasses.replace(DemoSettings.quick("out"), pooling_bands=4, compare_dino=True)
    with pytest.raises(ValueError, match=r"pooling='max' is not one of \['global'"):
        parse_settings(["--pooling", "max"])  # not a pooling mode: checked by the config, once
    with pytest.raises(ValueError, match="reverb_prob=1.5"):
        parse_settings(["--reverb_prob", "1.5"])  # before any clip is generated
    # DINO's settings fail before Barlow Twins pretrains, not when DINO's crops are drawn
    with pytest.raises(ValueError, match=r"dino_short_crop_seconds=2.0, .*expected 0 < short_seconds <= long_seconds"):
        DemoSettings(dino_short_crop_seconds=2.0)
    with pytest.raises(ValueError, match=r"dino_teacher_momentum=1.5, .*--teacher_momentum 1.5: expected a value in"):
        DemoSettings(dino_teacher_momentum=1.5)
    with pytest.raises(ValueError, match="longer than the 1-s pretraining clips would be zero-padded"):
        DemoSettings(dino_long_crop_seconds=2.0)
    utterances = DemoSettings(dino_long_crop_seconds=2.0, pretrain_words_per_clip=3, view_segment_seconds=1.0)
    assert utterances.dino_arguments().multi_crop_config().long_seconds == 2.0
    assert demo_config(DemoSettings(dino_hidden_size=256), "dino").dino_hidden_size == 256  # the DINO head's width


def test_the_demos_views_are_the_demo_preset_of_barlow_speech_pretrain():
    assert (
        demo_views(DemoSettings(), DemoSettings().mixup, SAMPLING_RATE).config == DEMO_VIEWS
    )  # one definition of the views
    noisy = demo_views(dataclasses.replace(DemoSettings(), noise_prob=0.0, mixup=True), True, SAMPLING_RATE).config
    assert (noisy.noise_prob, noisy.mixup_prob, DEMO_VIEWS.noise_prob) == (0.0, 1.0, 0.8)


def test_demo_pretrains_on_utterances_with_segment_views(tmp_path):
    """Utterances of several words reach the views whole (the collator keeps them), each view a 1-s segment."""
    settings = dataclasses.replace(
        DemoSettings.quick(str(tmp_path)),
        pretrain_clips=96,
        max_steps=2,
        pretrain_words_per_clip=3,
        view_segment_seconds=1.0,
    )
    trainer, _ = demo_trainer(settings, tmp_path)
    pretrain(trainer, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))  # the trainer's own path (NumPy-formatted rows)
    assert batch["waveforms"].shape == (settings.batch_size, 3 * 16000)
    assert trainer.state.global_step == 2 and trainer.state.log_history[-1]["train_loss"] > 0
    with pytest.raises(ValueError, match="view_segment_seconds"):
        DemoSettings(pretrain_words_per_clip=3)
    assert (
        parse_settings(["--pretrain_words_per_clip", "2", "--view_segment_seconds", "0.8"]).view_segment_seconds == 0.8
    )
