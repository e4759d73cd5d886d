"""The demo, shortened: the whole pipeline runs and the BT checkpoint beats random init on speaker."""

import json

import pytest
from transformers import AutoModel

from barlow_speech.demo import DemoSettings, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("demo")
    return output_dir, run_demo(DemoSettings.quick(str(output_dir)))


def test_shortened_demo_bt_beats_random_init_on_speaker(demo):
    _, result = demo
    probes = [r for r in result["probe_results"] if r["task"] == "SR" and r["model"] != "Supervised"]  # 100 % labels
    speaker = {r["model"]: r["fractions"]["1"]["mean"] for r in probes}
    assert speaker["BT (synthetic)"] > speaker["Random init"]


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
    for figure in ("loss_curve.png", "cross_correlation.png", "accuracy_vs_fraction.png"):
        assert (output_dir / figure).stat().st_size > 10_000
    probes = json.loads((output_dir / "probe_results.json").read_text())
    assert {r["label_column"] for r in probes} == {"speaker_id", "gender", "word", "emotion"}
    assert all(r["dataset"] == "synthetic" for r in probes)
    assert AutoModel.from_pretrained(output_dir / "bt-synthetic").config.latent_size == 512
