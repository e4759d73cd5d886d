"""Every benchmark script runs on CPU with tiny sizes and prints the ratio it exists to measure (issue 8)."""

import dataclasses
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from barlow_speech import BarlowSpeechConfig, pretrained

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str, monkeypatch):
    """Import benchmarks/<name>.py as module `name` (the folder on sys.path, as when the script is run)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def ratio_in(output: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}: ([0-9.]+)x", output)
    assert match, f"no '{label}: <ratio>x' line in:\n{output}"
    return float(match.group(1))


def test_train_throughput_prints_bt_vs_bare_ratio_memory_and_flops(monkeypatch, capsys):
    module = load_benchmark("train_throughput", monkeypatch)
    (result,) = module.main("--device cpu --batch-size 2 --latent-size 32 --steps 1 --warmup 0 --repeats 1".split())
    out = capsys.readouterr().out
    assert ratio_in(out, "ratio BT step / bare backbone") == pytest.approx(result["ratio"], abs=0.006)
    assert "device: cpu" in out and "peak memory" in out
    # the BT step does the bare backbone's work plus the projector and loss, so it counts more FLOPs
    assert result["bt"].flops_per_step > result["bare"].flops_per_step > 0
    assert result["bt"].peak_memory_bytes > 0


def test_dino_step_cost_prints_dino_vs_bt_ratios_and_where_dinos_step_goes(monkeypatch, capsys):
    module = load_benchmark("dino_step_cost", monkeypatch)
    result = module.main(["--batch-size", "4", "--steps", "1", "--warmup", "0", "--repeats", "1"])
    out = capsys.readouterr().out
    assert ratio_in(out, "step time DINO / BT") == pytest.approx(result["time_ratio"], abs=0.006)
    # DINO's student alone sees more audio than BT's two views (2 x 1 s + 2 x 0.5 s), and its teacher adds a forward
    assert ratio_in(out, "model FLOPs DINO / BT") == pytest.approx(result["flop_ratio"], abs=0.006)
    assert result["flop_ratio"] > 1.5
    assert set(result["stages"]) == {"crops", "teacher forward", "teacher EMA update"}
    assert all(rate > 0 for rate in result["stages"].values()) and "the rest" in out


def test_input_pipeline_prints_end_to_end_vs_resident_ratio(monkeypatch, capsys):
    module = load_benchmark("input_pipeline", monkeypatch)
    result = module.main(
        "--device cpu --step views --batch-size 2 --workers 0 --steps 2 --warmup 1 --repeats 1".split()
    )
    out = capsys.readouterr().out
    assert ratio_in(out, "ratio end to end / resident") == pytest.approx(result["ratio"], abs=0.006)
    assert "cached segments" in out


def test_feature_extraction_matches_librosa_and_prints_ratio(monkeypatch, capsys):
    module = load_benchmark("feature_extraction", monkeypatch)
    result = module.main(["--clips", "4", "--batch-size", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert ratio_in(out, "ratio extractor / librosa") == pytest.approx(
        result["extractor"] / result["librosa"], abs=0.006
    )
    assert result["max_difference"] < 1e-2  # normalised log-magnitudes of the same clips agree


def test_probe_benchmark_prints_speedup(monkeypatch, capsys):
    module = load_benchmark("probes", monkeypatch)
    module.main(
        [
            "--clips",
            "200",
            "--dim",
            "16",
            "--classes",
            "3",
            "--seeds",
            "2",
            "--fractions",
            "0.5",
            "1.0",
            "--weight_decays",
            "0.01",
            "--steps",
            "30",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert re.search(r"speed-up: [0-9.]+x", out), out


def test_analysis_speed_prints_three_ratios_and_the_batched_critics_agree(monkeypatch, capsys):
    module = load_benchmark("analysis_speed", monkeypatch)
    sizes = ["--clips", "160", "--width", "256", "--dims", "32", "--critic_steps", "30", "--max_iter", "30"]
    result = module.main([*sizes, "--repeats", "1"])
    out = capsys.readouterr().out
    for label, entry in (
        ("ratio exact / randomised SVD", "components"),
        ("ratio one critic per rate / batched grid", "critics"),
        ("ratio 30 / 100 L-BFGS iterations", "bound"),
    ):
        seconds = result[entry]
        assert ratio_in(out, label) == pytest.approx(seconds["reference_seconds"] / seconds["ours_seconds"], abs=0.006)
    # a randomised basis of a decaying spectrum keeps nearly all of the exact top components' variance (measured
    # 99.99 %), and training the learning rates as one batch changes no critic: same estimate as the rate alone
    assert result["components"]["variance_kept"] > 0.99
    assert result["critics"]["difference_nats"] < 1e-4


def test_probe_row_space_prints_its_speed_up_and_both_solves_agree(monkeypatch, capsys):
    module = load_benchmark("probe_row_space", monkeypatch)
    sizes = ["--clips", "400", "--dim", "256", "--classes", "4", "--seeds", "2", "--steps", "50", "--repeats", "1"]
    result = module.main([*sizes, "--device", "cpu"])
    out = capsys.readouterr().out
    assert ratio_in(out, "speed-up") == pytest.approx(result["reference_seconds"] / result["ours_seconds"], abs=0.006)
    # the same heads up to float32 rounding: top-1 within a point (measured 0.25 at the defaults)
    assert result["largest_difference"] <= 1.0


def test_sap_speed_prints_its_speed_up_and_the_same_scores(monkeypatch, capsys):
    module = load_benchmark("sap_speed", monkeypatch)
    result = module.main(["--samples", "200", "--latents", "24", "--classes", "8", "2"])
    out = capsys.readouterr().out
    assert ratio_in(out, "speed-up") == pytest.approx(result["reference_seconds"] / result["ours_seconds"], abs=0.006)
    # exact optima vs liblinear's tolerance: a boundary test point may flip (measured: all equal at these sizes)
    assert result["equal"] >= 0.9 and abs(result["sap"][0] - result["sap"][1]) < 0.02


def test_dataset_reading_prints_both_speed_ups_and_reads_the_same_samples(monkeypatch, capsys):
    module = load_benchmark("dataset_reading", monkeypatch)
    result = module.main(["--clips", "96", "--batch-size", "32", "--repeats", "1"])
    out = capsys.readouterr().out
    for label, key in (("trainer batches", "trainer_batches"), ("all clips", "all_clips")):
        timing = result[key]
        ratio = timing["reference_seconds"] / timing["ours_seconds"]
        assert ratio_in(out, f"{label} speed-up") == pytest.approx(ratio, abs=0.006)
        assert timing["equal"], f"{label}: the two readers gave different samples"


def test_pooling_speed_prints_its_speed_up_and_pools_the_same_values(monkeypatch, capsys):
    module = load_benchmark("pooling_speed", monkeypatch)
    result = module.main(["--batch", "4", "--iterations", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert ratio_in(out, "speed-up") == pytest.approx(result["reference_seconds"] / result["ours_seconds"], abs=0.006)
    assert result["largest_difference"] < 1e-5  # float32 rounding of the std (measured 2.4e-7)


def test_ablation_reads_per_layer_bands_and_reuses_only_matching_baselines(monkeypatch, tmp_path):
    module = load_benchmark("representation_ablation", monkeypatch)
    assert module.parse_bands("16") == 16 and module.parse_bands("16:16:16:8") == (16, 16, 16, 8)
    poolings = (("time_mean_std", (16, 16, 16, 8)),)
    settings = {
        "probe_clips": 2000,
        "validation_clips": 1000,
        "num_speakers": 64,
        "seed": 0,
        "backbone": "small",
        "n_fft": 512,
        "hop_length": 256,
        "n_mels": 128,
    }
    rows = [
        {"settings": settings, "random_init": {"time_mean_std/16:16:16:8": "A"}, "logmel": "L"},
        {"settings": {**settings, "validation_clips": 500}, "random_init": {"time_mean_std/16:16:16:8": "B"}},
        {"settings": {**settings, "n_mels": None}, "random_init": {"global/1": "C"}, "logmel": "L2"},
        {"settings": {"seed": 0}, "random_init": {"time_mean_std/16:16:16:8": "D"}, "logmel": "old"},
    ]
    rows[1]["logmel"] = "L500"
    out = tmp_path / "ablation.jsonl"
    out.write_text("\n".join(json.dumps(row) for row in rows))
    baselines = module.previous_baselines(out, poolings)
    assert baselines[module.baseline_key(settings, poolings)] == {"time_mean_std/16:16:16:8": "A"}
    other_split = module.baseline_key({**settings, "validation_clips": 500}, poolings)
    assert baselines[other_split] == {"time_mean_std/16:16:16:8": "B"}  # its own split, not row 1's
    assert module.baseline_key({**settings, "n_mels": None}, poolings) not in baselines  # another pooling evaluated
    assert baselines[module.logmel_key(settings)] == "L" and "old" not in baselines.values()  # rows before the key
    assert module.previous_baselines(tmp_path / "missing.jsonl", poolings) == {}
    # a row means the same settings after the demo's defaults move on (mixup went off after ablation 7)
    resolved = {name: {**module.BASE, **module.ROWS[name]} for name in module.ROWS}
    assert resolved["demo_eq3_all_layers_mild_stretch"]["mixup"] is True
    assert resolved["demo_all_layers_no_mixup"]["mixup"] is False


def test_ablation_rows_resolve_to_demo_settings_and_an_objective(monkeypatch, tmp_path):
    module = load_benchmark("representation_ablation", monkeypatch)
    resolved = {name: module.row_settings(overrides, str(tmp_path)) for name, overrides in module.ROWS.items()}
    assert resolved["demo_all_layers_no_mixup"][1] == "barlow_twins"
    settings, objective = resolved["dino_demo"]

    def recipe(row_settings):  # everything but DINO's own settings
        return {k: v for k, v in dataclasses.asdict(row_settings).items() if not k.startswith("dino_")}

    assert objective == "dino" and recipe(settings) == recipe(resolved["demo_all_layers_no_mixup"][0])
    assert resolved["dino_lr2e-3"][0].dino_learning_rate == 2e-3
    # ablation 8 keeps its DINO settings (no batch norm in the head, lr 5e-4) whatever the demo's defaults
    assert (settings.dino_head_batchnorm, settings.dino_learning_rate) == (False, 5e-4)
    assert resolved["dino_bn"][0].dino_head_batchnorm is True
    with pytest.raises(TypeError, match="dino_prototypes"):
        module.row_settings({"dino_prototypes": 256}, str(tmp_path))  # a misspelt setting fails, never ignored


def test_temporal_pooling_mean_std_is_the_models_own_pooling_and_every_set_widens_it(monkeypatch):
    import torch

    from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechModel
    from tests.factories import tiny_config, tone_clips

    module = load_benchmark("temporal_pooling", monkeypatch)
    torch.manual_seed(0)
    model = BarlowSpeechModel(tiny_config(pooling="time_mean_std", pooling_bands=[8, 4, 2])).eval()
    extractor, clips = BarlowSpeechFeatureExtractor(), tone_clips(3)
    features = {name: module.layer_features(model, extractor, clips, s) for name, s in module.STATISTICS.items()}
    inputs = extractor(clips, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        pooled = model(inputs["input_values"], output_hidden_states=True).pooled_hidden_states
    for ours, reference in zip(features["mean_std"], pooled, strict=True):
        np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-4, atol=1e-5)
    statistics = {"mean_std": 2, "mean_std_delta_std": 3, "mean_std_lag1": 3, "thirds_std": 4}
    for name, count in statistics.items():
        widths = [layer.shape for layer in features[name]]
        assert widths == [(3, channels * bands * count) for channels, bands in zip([8, 8, 16], [8, 4, 2])]
        assert all(np.isfinite(layer).all() for layer in features[name])


def test_long_audio_memory_prints_peaks_and_their_ratio_and_chunking_bounds_them(monkeypatch, capsys):
    module = load_benchmark("long_audio_memory", monkeypatch)
    results = module.main(["--short_minutes", "0.05", "--long_minutes", "0.4", "--chunk_segments", "2"])
    out = capsys.readouterr().out
    for mode in module.MODES:
        short, long = results["demo", mode][0.05], results["demo", mode][0.4]
        assert (short["segments"], long["segments"]) == (3, 24)
        label = f"ratio 0.4 min / 0.05 min, {mode}"
        assert ratio_in(out, label) == pytest.approx(long["extra"] / short["extra"], abs=0.006)
        ratio = long["beyond_outputs"] / short["beyond_outputs"]
        assert ratio_in(out, f"{label}, beyond the outputs") == pytest.approx(ratio, abs=0.006)
        assert long["peak"] >= long["baseline"] > 0 and long["outputs"] > short["outputs"] > 0
    # 24 segments at once hold more than twice what 2 at a time do (measured 12.5-17.8 MiB against 2.4-2.8 MiB beyond
    # the outputs)
    assert results["demo", "unchunked"][0.4]["beyond_outputs"] > 2 * results["demo", "chunked"][0.4]["beyond_outputs"]


def test_benchmarks_are_importable_without_running(monkeypatch):
    """Importing a benchmark must not start a measurement (tests and users import their helpers)."""
    for name in (
        "train_throughput",
        "dino_step_cost",
        "input_pipeline",
        "feature_extraction",
        "probes",
        "analysis_speed",
        "probe_row_space",
        "sap_speed",
        "dataset_reading",
        "pooling_speed",
        "representation_ablation",
        "temporal_pooling",
        "long_audio_memory",
        "embedding_speed",
    ):
        assert callable(load_benchmark(name, monkeypatch).main)


def test_speech_corpus_generation_prints_its_real_time_factor_against_the_synthetic_corpus(monkeypatch, capsys):
    module = load_benchmark("tts_speech_generation", monkeypatch)
    result = module.main(["--num_clips", "4", "--clip_seconds", "1", "--repeats", "1", "--processes", "1"])
    out = capsys.readouterr().out
    printed = ratio_in(out, "speech vs synthetic corpus (audio seconds per second)")
    assert printed == pytest.approx(result["ratio"], abs=0.005)  # printed with two decimals
    assert result["speech_rtf"] > 0 and result["synthetic_rtf"] > 0


def test_heldout_speech_probes_every_upstream_on_every_task_over_the_seeds(monkeypatch, tmp_path, capsys):
    import torch

    from tests.factories import tiny_checkpoint

    module = load_benchmark("heldout_speech", monkeypatch)
    weights = tmp_path / "byola.pth"
    torch.save(module.ByolaAudioNTT2020().state_dict(), weights)
    checkpoint = tiny_checkpoint(tmp_path / "tiny")
    rows = module.main(
        [
            "--models",
            checkpoint,
            "--byola_weights",
            str(weights),
            "--seeds",
            "2",
            "--train_clips",
            "24",
            "--validation_clips",
            "12",
            "--test_clips",
            "12",
        ]
    )
    out = capsys.readouterr().out
    assert set(rows) == {"tiny", "random init (tiny)", "log-mel statistics", "BYOL-A 512-d (AudioSet)"}
    for results in rows.values():
        assert set(results) == {"language", "speaker_id", "gender", "prosody", "keyword"}
        assert all(len(results[task][fraction]) == 2 for task in results for fraction in (0.1, 1.0))
    assert "| BYOL-A 512-d (AudioSet) |" in out and "language ID 10 % / 100 %" in out


def test_embedding_speed_prints_real_time_factors_peak_memory_and_their_ratios(monkeypatch, capsys):
    module = load_benchmark("embedding_speed", monkeypatch)
    results = module.main(["--clips", "2", "--seconds", "1", "--batch_sizes", "1", "2", "--reference_layers", "1"])
    out = capsys.readouterr().out
    assert sorted(results) == [1, 2]
    hidden = BarlowSpeechConfig.from_pretrained(pretrained("bt-small")).hidden_size
    for batch_size, runs in results.items():
        ours, reference = runs["ours"], runs["reference"]
        assert ours["model"].startswith("bt-small") and reference["model"].startswith("Wav2Vec2Model")
        assert (ours["hidden"], reference["hidden"]) == (hidden, 768)
        for run in (ours, reference):
            assert run["rtf"] == pytest.approx(2.0 / run["wall"]) and run["peak"] >= run["baseline"] > 0
        rtf = ratio_in(out, f"real-time factor ours / reference, batch {batch_size}")
        assert rtf == pytest.approx(ours["rtf"] / reference["rtf"], abs=0.006)
        peak = ratio_in(out, f"peak RSS ours / reference, batch {batch_size}")
        assert peak == pytest.approx(ours["peak"] / reference["peak"], abs=0.006)
