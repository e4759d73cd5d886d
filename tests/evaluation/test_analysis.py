"""`barlow-speech analyze layers|mi` on a tiny checkpoint and a small synthetic corpus, and its building blocks."""

import json
import math
import shutil

import matplotlib.image
import numpy as np
import pytest
import torch

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining
from barlow_speech.cli import main as cli_main
from barlow_speech.evaluation.analysis import (
    ANALYSIS_SCHEMA,
    analyze_layers,
    clip_halves,
    rank_correlations,
    view_config,
    view_layer_embeddings,
)
from barlow_speech.evaluation.pipeline import load_upstream
from barlow_speech.evaluation.probes import linear_probe
from barlow_speech.evaluation.report import write_report
from barlow_speech.evaluation.sources import DataSource
from tests.factories import tiny_config, tone_clips

# 48 train / 24 validation / 24 test clips of 8 speakers; a coarse front end (65 x 126) keeps the tiny ResNet fast.
DATA = ["--num_clips", "48", "--num_eval_clips", "24", "--loader_args", "num_speakers=8", "--device", "cpu"]
SMALL = ["--tasks", "gender", "word", "--seeds", "2", "--probe_steps", "20", "--critic_steps", "20"]
LAYERS = ["stem", "stage 1", "stage 2"]  # tiny_config: stem + two stages


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A BarlowSpeechForPreTraining checkpoint (weights seeded apart from random-init seed 0) with its extractor."""
    path = tmp_path_factory.mktemp("tiny-bt")
    torch.manual_seed(1234)
    BarlowSpeechForPreTraining(tiny_config()).save_pretrained(path)
    BarlowSpeechFeatureExtractor(n_fft=128, hop_length=128).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def layers_run(checkpoint, tmp_path_factory):
    """`analyze layers` of the checkpoint and its random init: (output folder, parsed JSON)."""
    output = tmp_path_factory.mktemp("analysis")
    argv = ["analyze", "layers", "--model", checkpoint, f"random-init:{checkpoint}", "--model_names", "BT", "Random"]
    assert cli_main(argv + SMALL + DATA + ["--output_dir", str(output)]) == 0
    return output, json.loads((output / "analysis_layers.json").read_text())


def test_analyze_layers_writes_every_estimate_per_layer_and_model(layers_run):
    _, result = layers_run
    assert (result["schema"], result["analysis"], result["dataset"]) == (ANALYSIS_SCHEMA, "layers", "synthetic")
    assert result["tasks"] == ["gender", "word"] and result["seeds"] == [0, 1]
    assert result["num_unlabelled_clips"] == 48 and result["views"]["mixup_prob"] == 0.0
    assert [model["model"] for model in result["models"]] == ["BT", "Random"]
    for model in result["models"]:
        assert model["layers"] == LAYERS and model["layer_sizes"] == [8, 8, 16]
        for task in result["tasks"]:
            assert len(model["probe_accuracy"][task]) == 3 and all(
                0.0 <= a <= 1.0 for a in model["probe_accuracy"][task]
            )
            assert model["chosen_layer"][task] in LAYERS
            assert len(model["supervised_information"][task]) == 3
        assert set(model["unsupervised_information"]) == {"segments", "views"}
        estimates = [e for task in result["tasks"] for e in model["supervised_information"][task]]
        estimates += [e for pairing in model["unsupervised_information"].values() for e in pairing]
        for entry in estimates:
            assert len(entry["runs_nats"]) == 2
            assert entry["mutual_information_bits"] == pytest.approx(entry["mutual_information_nats"] / math.log(2))
            low, high = entry["interval_bits"]
            assert low <= entry["mutual_information_bits"] <= high
        for entries in model["unsupervised_information"].values():
            assert all(e["mutual_information_nats"] <= e["cap_nats"] for e in entries)


def test_analyze_layers_writes_similarity_within_and_between_models(layers_run):
    _, result = layers_run
    assert result["pwcca_dims"] == 11  # (24 test clips - 1) // 2: the 16-d stage 2 is reduced for PWCCA
    for model in result["models"]:
        for matrix in model["similarity"].values():
            assert np.asarray(matrix).shape == (3, 3)
            assert np.diag(matrix) == pytest.approx(np.ones(3))
    (between,) = result["between_models"]
    assert between["models"] == ["BT", "Random"]
    for measure in ("linear_cka", "pwcca"):
        matrix = np.asarray(between[measure])
        assert matrix.shape == (3, 3) and ((0.0 <= matrix) & (matrix <= 1.0 + 1e-9)).all()
        assert not np.allclose(np.diag(matrix), 1.0)  # different weights: not the same representation


def test_analyze_layers_rank_correlation_covers_every_model_and_layer(layers_run):
    _, result = layers_run
    correlations = result["rank_correlation"]
    assert set(correlations) == {"segments", "views", "supervised"}
    for per_task in correlations.values():
        assert set(per_task) == {"gender", "word"}
        for entry in per_task.values():
            assert entry["num_points"] == 6  # 2 models x 3 layers
            assert set(entry["per_model"]) == {"BT", "Random"}
            assert entry["spearman"] is None or -1.0 <= entry["spearman"] <= 1.0


def test_analyze_layers_draws_its_figures(layers_run):
    output, result = layers_run
    assert result["figures"] == [
        f"analysis_layers_{name}.png" for name in ("information", "rank_correlation", "similarity")
    ]
    for name in result["figures"]:
        image = matplotlib.image.imread(output / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 200


def test_report_appends_the_analysis_found_in_its_folder(layers_run, tmp_path):
    output, _ = layers_run
    for name in ("analysis_layers.json", "analysis_layers_information.png"):
        shutil.copy(output / name, tmp_path / name)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)), np.arange(40) % 2
    probe = linear_probe(x, y, x, y, x, y, fractions=(1.0,), seeds=(0,), model="BT", task="gender", device="cpu")
    report = write_report(tmp_path, [probe]).read_text()
    assert "## Table 2." in report and "## Layer-wise analysis (`analyze layers`)" in report
    assert "| stage 2 | 16 |" in report and "### Rank correlation of MI and probe accuracy" in report
    assert "](analysis_layers_information.png)" in report


def test_analyze_mi_leaves_out_the_similarity_matrices(checkpoint, layers_run, tmp_path):
    cache = layers_run[0] / "embeddings"  # the layers run's embeddings: nothing is re-embedded but the views
    argv = ["analyze", "mi", "--model", checkpoint, "--cache_dir", str(cache), "--output_dir", str(tmp_path)]
    assert cli_main(argv + SMALL + DATA) == 0
    result = json.loads((tmp_path / "analysis_mi.json").read_text())
    assert result["analysis"] == "mi" and "between_models" not in result and "similarity" not in result["models"][0]
    assert result["figures"] == ["analysis_mi_information.png", "analysis_mi_rank_correlation.png"]
    assert all((tmp_path / name).is_file() for name in result["figures"])


def test_clip_halves_cut_each_clip_in_two_equal_parts():
    first, second = clip_halves([np.arange(10.0), np.arange(7.0)])
    assert [list(a) for a in first] == [[0, 1, 2, 3, 4], [0, 1, 2]]
    assert [list(b) for b in second] == [[5, 6, 7, 8, 9], [3, 4, 5]]


def test_views_are_seeded_so_every_model_sees_the_same_pairs(checkpoint):
    upstream = load_upstream(checkpoint)
    clips = tone_clips(6)
    same = [view_layer_embeddings(upstream, clips, view_config(seed=3), batch_size=4) for _ in range(2)]
    other = view_layer_embeddings(upstream, clips, view_config(seed=4), batch_size=4)
    for layer_a, layer_b, other_a in zip(same[0][0], same[1][0], other[0]):
        assert layer_a.shape[0] == 6 and np.array_equal(layer_a, layer_b)
        assert not np.allclose(layer_a, other_a)
    assert not np.allclose(same[0][0][-1], same[0][1][-1])  # view A and view B differ


def test_view_config_rejects_unknown_settings_naming_the_fields():
    assert view_config({"freq_mask_width": 10}).freq_mask_width == 10
    with pytest.raises(ValueError, match=r"unknown view settings \['freq_mask'\].*freq_mask_width"):
        view_config({"freq_mask": 10})


def test_rank_correlation_is_one_for_matching_orders_and_null_when_undefined():
    def model(name, segments, accuracy):
        entries = [{"mutual_information_nats": value} for value in segments]
        return {
            "model": name,
            "probe_accuracy": {"t": accuracy},
            "supervised_information": {"t": entries},
            "unsupervised_information": {"segments": entries, "views": [{"mutual_information_nats": 0.0}] * 3},
        }

    result = rank_correlations(
        [model("a", [0.1, 0.5, 0.9], [0.2, 0.3, 0.8]), model("b", [1.0, 2.0, 3.0], [0.81, 0.9, 0.95])], ["t"]
    )
    assert result["segments"]["t"]["spearman"] == pytest.approx(1.0)
    assert result["segments"]["t"]["per_model"] == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    assert result["views"]["t"]["spearman"] is None  # a constant series has no rank correlation
    assert result["views"]["t"]["num_points"] == 6


def test_analyze_layers_rejects_one_seed_and_encoders_without_layers(checkpoint):
    source = DataSource(num_clips=8, num_eval_clips=8)
    with pytest.raises(ValueError, match="need >= 2 seeds; pass --seeds 3"):
        analyze_layers([load_upstream(checkpoint)], source, seeds=[0])
    with pytest.raises(ValueError, match="not logmel"):
        analyze_layers([load_upstream("logmel")], source)
