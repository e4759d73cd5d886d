"""`barlow-speech probe | disentangle | report` on a tiny checkpoint and a small synthetic corpus."""

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import soundfile
import torch

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining
from barlow_speech.cli import main as cli_main
from barlow_speech.evaluation.cli import disentangle_main, probe_main, report_main
from barlow_speech.evaluation.disentanglement import TABLE3_METRICS
from barlow_speech.evaluation.sources import DataSource, recording_split
from barlow_speech.model_card import records_from_result
from barlow_speech.results import read_result_file
from tests.factories import tiny_config

# 48 train / 24 validation / 24 test clips of 8 speakers; a coarse front end (65 x 126) keeps the tiny ResNet fast.
DATA = ["--num_clips", "48", "--num_eval_clips", "24", "--loader_args", "num_speakers=8", "--device", "cpu"]
QUICK_PROBES = ["--fractions", "0.5", "1", "--seeds", "2", "--probe_steps", "20"]  # 2 fractions x 2 seeds, 20 steps


def save_tiny_checkpoint(path) -> str:
    """A BarlowSpeechForPreTraining checkpoint (weights seeded apart from random-init seed 0) with its extractor."""
    torch.manual_seed(1234)
    BarlowSpeechForPreTraining(tiny_config()).save_pretrained(path)
    BarlowSpeechFeatureExtractor(n_fft=128, hop_length=128).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny-bt"))


def test_probe_cli_writes_result_with_dataset_and_every_run_per_fraction(checkpoint, tmp_path, capsys):
    argv = [
        "--model",
        checkpoint,
        "--tasks",
        "gender",
        "word",
        *QUICK_PROBES,
    ]
    assert probe_main(argv + DATA + ["--output_dir", str(tmp_path)]) == 0
    # on screen: task (the column, the paper's abbreviation beside it) x fraction, mean +- std
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[1] == ["task", "50", "%", "labels", "100", "%", "labels"] and rows[2][:2] == ["gender", "(GR)"]
    assert rows[3][:2] == ["word", "(KWS)"] and rows[2][3] == "±" and len(rows[2]) == 8
    path = tmp_path / f"probe_{checkpoint.rsplit('/', 1)[-1]}.json"
    # the label-fraction subsets live beside the result, which names them; reading the result joins them back
    on_disk = json.loads(path.read_text())
    assert on_disk[1]["index_lists"] == {"file": f"{path.stem}.index_lists.json", "entry": 1}
    results = read_result_file(path)
    assert results[1]["index_lists"] == json.loads(path.with_name(f"{path.stem}.index_lists.json").read_text())[1]
    assert {(s["fraction"], s["seed"]) for s in results[0]["index_lists"]["subsets"]} == {
        (0.5, 0),
        (0.5, 1),
        (1.0, 0),
        (1.0, 1),
    }
    assert [r["task"] for r in results] == ["gender", "word"]  # the user's columns, not the paper's GR and KWS
    assert [r["label_column"] for r in results] == ["gender", "word"]
    for result in results:
        assert result["schema"] == "barlow_speech.probe/v1"
        assert (result["dataset"], result["split"]) == ("synthetic", "test")
        assert json.loads(result["dataset_config"])["num_speakers"] == 8
        assert sorted(result["fractions"]) == ["0.5", "1"]
        for entry in result["fractions"].values():
            assert entry["seeds"] == [0, 1] and len(entry["runs"]) == 2
            assert all(0.0 <= run <= 1.0 for run in entry["runs"])
        assert len(records_from_result(result)) == 2  # the model card accepts it: one record per fraction
    assert any(tmp_path.joinpath("embeddings").glob("*.npy")), "embeddings are cached under <output_dir>/embeddings"


def test_disentangle_cli_writes_table3_result_with_paper_factor_names(checkpoint, tmp_path):
    argv = ["--model", checkpoint, "--model_name", "BT tiny", "--n_runs", "3", "--sample_size", "16"]
    assert disentangle_main(argv + DATA + ["--output_dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "disentanglement_BT_tiny.json").read_text())
    assert result["model"] == "BT tiny"
    assert result["factors"] == ["accent", "identity", "gender"]
    assert result["factor_columns"] == ["accent", "speaker_id", "gender"]
    assert (result["dataset"], result["split"], result["n_runs"], result["sample_size"]) == (
        "synthetic",
        "test",
        3,
        16,
    )
    assert set(result["metrics"]) == set(TABLE3_METRICS)
    assert all(len(m["runs"]) == 3 and np.isfinite(m["mean"]) for m in result["metrics"].values())
    assert len(records_from_result(result)) == len(TABLE3_METRICS)


def test_report_cli_evaluates_models_and_baselines_and_writes_tables_and_figures(checkpoint, tmp_path):
    argv = [
        "--models",
        checkpoint,
        f"random-init:{checkpoint}",
        "logmel",
        "--model_names",
        "BT",
        "Random init",
        "Log-mel",
        "--supervised",
        "--supervised_steps",
        "2",
        "--supervised_batch_size",
        "8",
        "--pretraining_checkpoint",
        checkpoint,
        "--heatmap_clips",
        "16",
        "--tasks",
        "gender",
        *QUICK_PROBES,
        "--n_runs",
        "2",
        "--html",
        "--output_dir",
        str(tmp_path),
    ]
    assert report_main(argv + DATA) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## Table 2." in report and "## Table 3." in report
    for row in ("| BT |", "| Random init |", "| Log-mel |", "| Supervised |"):
        assert row in report
    assert (tmp_path / "report.html").is_file()
    for name in ("accuracy_vs_fraction.png", "runs_boxplot.png", "cross_correlation.png"):
        assert f"]({name})" in report
        image = matplotlib.image.imread(tmp_path / name)
        assert (
            image.ndim == 3 and min(image.shape[:2]) > 100 and image.std() > 0.05
        )  # a drawn figure, not a blank page
    # a second report from the written JSON alone reproduces the tables
    results = sorted(str(p) for p in tmp_path.glob("*.json"))
    assert report_main(["--results", *results, "--output_dir", str(tmp_path / "again")]) == 0
    again = (tmp_path / "again" / "report.md").read_text()
    assert again.split("## Figures")[0].count("| Supervised |") == 1 and "| BT |" in again


LABELS = "['speaker_id', 'gender', 'label', 'accent', 'word', 'emotion']"


@pytest.mark.parametrize(
    "command, flags, message",
    [
        ("probe", ["--tasks", "loudness"], "--tasks loudness: not a label column of the synthetic data; choose from"),
        (
            "probe",
            ["--tasks", "gender", "path"],
            "--tasks path: not a label column of the synthetic data; choose from",
        ),
        ("disentangle", ["--factors", "speaker_id", "segment"], "--factors segment: not a label column of the"),
    ],
)
def test_a_task_or_factor_that_is_not_a_label_column_is_a_clear_error(
    checkpoint, tmp_path, capsys, command, flags, message
):
    # `path` was probed as a label (one class per clip): 0 % top-1 and exit code 0
    code = cli_main([command, "--model", checkpoint, *flags, "--output_dir", str(tmp_path)] + DATA)
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        code == 2 and error.startswith(f"barlow-speech {command}: error: {message}") and error.endswith(f"{LABELS}.")
    )
    assert not list(tmp_path.glob("*.json"))


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = cli_main(["disentangle", "--model", str(tmp_path / "no-such-run"), "--output_dir", str(tmp_path)] + DATA)
    assert code == 2
    assert "no such folder" in capsys.readouterr().err


def test_empty_dataset_is_a_clear_error(checkpoint, tmp_path, capsys):
    def probe_folder(folder: Path, *flags: str) -> int:
        command = ["probe", "--model", "logmel", "--dataset", "folder", "--data_path", str(folder), *flags]
        return cli_main([*command, "--output_dir", str(tmp_path)])

    empty = tmp_path / "empty"
    empty.mkdir()
    assert probe_folder(empty) == 2
    assert "no audio files" in capsys.readouterr().err
    two_clips = tmp_path / "two"
    two_clips.mkdir()
    for i in range(2):
        soundfile.write(two_clips / f"{i}.wav", np.zeros(16000, dtype=np.float32), 16000)
    assert probe_folder(two_clips, "--tasks", "label") == 2
    assert "the validation split of dataset 'folder'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def checkpoint_without_extractor(tmp_path_factory) -> str:
    """A trained-model checkpoint whose preprocessor_config.json (its normalisation statistics) is missing."""
    path = tmp_path_factory.mktemp("no-extractor")
    BarlowSpeechForPreTraining(tiny_config()).save_pretrained(path)
    return str(path)


def test_checkpoint_without_preprocessor_config_is_an_error_not_a_silent_default(
    checkpoint_without_extractor, tmp_path, capsys
):
    code = cli_main(
        ["probe", "--model", checkpoint_without_extractor, "--tasks", "gender", "--output_dir", str(tmp_path)] + DATA
    )
    message = capsys.readouterr().err
    assert code == 2
    assert "feature extractor" in message and "--default_front_end" in message
    assert not list(tmp_path.glob("probe_*.json"))


def test_default_front_end_flag_probes_and_records_the_default_front_end(
    checkpoint_without_extractor, checkpoint, tmp_path
):
    argv = [
        "--tasks",
        "gender",
        "--fractions",
        "1",
        "--seeds",
        "1",
        "--probe_steps",
        "5",
        "--default_front_end",
    ] + DATA
    assert (
        probe_main(
            ["--model", checkpoint_without_extractor, "--model_name", "bare", *argv, "--output_dir", str(tmp_path)]
        )
        == 0
    )
    assert json.loads((tmp_path / "probe_bare.json").read_text())[0]["front_end"] == "default (mean 0, std 1)"
    assert probe_main(["--model", checkpoint, "--model_name", "saved", *argv, "--output_dir", str(tmp_path)]) == 0
    assert (
        json.loads((tmp_path / "probe_saved.json").read_text())[0]["front_end"] == "checkpoint"
    )  # the flag only fills a gap


def test_random_split_keeps_every_segment_of_a_recording_in_one_split(tmp_path):
    for i in range(10):  # 10 recordings of 3 s -> 30 one-second segments
        soundfile.write(
            tmp_path / f"rec{i}.wav", 0.1 * np.sin(np.arange(48000) * (0.01 + 0.001 * i)).astype(np.float32), 16000
        )
    source = DataSource("folder", str(tmp_path), {"segment": True, "cache_dir": str(tmp_path / "cache")}, data_seed=3)
    splits = {split: source.load(split) for split in ("train", "validation", "test")}
    recordings = {split: set(ds["path"]) for split, ds in splits.items()}
    assert [len(r) for r in recordings.values()] == [8, 1, 1]
    assert [len(ds) for ds in splits.values()] == [24, 3, 3]  # each recording with all 3 of its segments
    assert not (recordings["train"] & recordings["test"]) and not (recordings["train"] & recordings["validation"])


def test_recording_split_is_seeded_and_assigns_each_recording_once():
    recordings = np.repeat([f"r{i}" for i in range(20)], 1 + np.arange(20) % 3)
    parts = recording_split(recordings, seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(recordings)))
    assert [len(set(recordings[p])) for p in parts] == [16, 2, 2]
    assert all(np.array_equal(a, b) for a, b in zip(parts, recording_split(recordings, seed=0)))
    assert not np.array_equal(parts[2], recording_split(recordings, seed=1)[2])
