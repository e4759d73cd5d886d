import json

import pytest

from barlow_speech.evaluation.report import layer_table, render_html, render_markdown, table2, table3, write_report
from barlow_speech.results import load_results


def make_probe(model, task, mean):
    return {
        "schema": "barlow_speech.probe/v1",
        "metric": "top1_accuracy",
        "model": model,
        "task": task,
        "fractions": {
            f"{f:g}": {"fraction": f, "mean": mean + f / 10, "std": 0.01, "runs": [mean] * 3}
            for f in (0.05, 0.1, 0.5, 1.0)
        },
        "index_lists": {"num_examples": 10, "subsets": []},
    }


def make_disentanglement(model, mig):
    metrics = {
        k: {"mean": mig, "std": 0.0012, "runs": [mig] * 2} for k in ("mig", "sap", "dcimig", "jemmig", "modularity")
    }
    return {
        "schema": "barlow_speech.disentanglement/v1",
        "model": model,
        "factors": ["accent", "identity", "gender"],
        "n_runs": 2,
        "sample_size": 100,
        "seed": 0,
        "config": {},
        "metrics": metrics,
    }


def test_table2_rows_are_models_and_columns_task_by_fraction():
    header, rows = table2(
        [make_probe("Supervised", "SR", 0.3), make_probe("BT-LS-100", "SR", 0.4), make_probe("BT-LS-100", "GR", 0.6)]
    )
    assert header == ["Model", "SR 5%", "SR 10%", "SR 50%", "SR 100%", "GR 5%", "GR 10%", "GR 50%", "GR 100%"]
    assert rows[0][0] == "Supervised" and rows[0][1] == "30.50 ± 1.00" and rows[0][5] == "–"
    assert rows[1][8] == "70.00 ± 1.00"


def layered_probe(model, task, tests, chosen):
    result = make_probe(model, task, 0.5)
    result["layer"] = chosen
    result["layers"] = [
        {"layer": name, "validation": {"0.1": 0.0, "1": 0.0}, "test": {"0.1": 0.0, "1": value}}
        for name, value in tests.items()
    ]
    return result


def test_layer_table_shows_every_layer_at_full_labels_and_marks_the_chosen_one():
    results = [
        layered_probe("BT", "SR", {"stem": 0.1, "stage 1": 0.25}, "stage 1"),
        layered_probe("DINO", "SR", {"stem": 0.2, "stage 1": 0.125}, "stem"),
        layered_probe("Log-mel stats", "SR", {"log-mel statistics": 0.3}, "log-mel statistics"),  # one: no row
    ]
    header, rows = layer_table(results)
    assert header == ["Model", "Task", "stem", "stage 1"]
    assert rows == [["BT", "SR 100%", "10.0", "25.0*"], ["DINO", "SR 100%", "20.0*", "12.5"]]
    assert "Accuracy per layer" in render_markdown(results, [])
    assert "Accuracy per layer" not in render_markdown([make_probe("Log-mel stats", "SR", 0.3)], [])


def test_table3_follows_the_paper_columns():
    header, rows = table3([make_disentanglement("BT-128", 0.02)])
    assert header == ["Model", "MIG", "SAP", "DCIMIG", "JEMMIG", "Mod. Score"]
    assert rows == [["BT-128"] + ["0.020 ± 0.0012"] * 5]


def test_report_is_written_from_json_files_with_figures_linked(tmp_path):
    (tmp_path / "probe.json").write_text(json.dumps([make_probe("BT", "KWS", 0.5)]))
    (tmp_path / "dis.json").write_text(json.dumps(make_disentanglement("BT", 0.01)))
    probes, dis = load_results([tmp_path / "probe.json", tmp_path / "dis.json"])
    figure = tmp_path / "out" / "figures" / "fig3.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"png")
    report = write_report(tmp_path / "out", probes, dis, [figure], html_too=True)
    text = report.read_text()
    assert "Table 2" in text and "Table 3" in text and "| BT | 50.50 ± 1.00 |" in text
    assert "![fig3](figures/fig3.png)" in text
    assert "<img src='figures/fig3.png'>" in (tmp_path / "out" / "report.html").read_text()


def test_unknown_schema_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ValueError, match="unknown result schema"):
        load_results([tmp_path / "x.json"])
    with pytest.raises(FileNotFoundError, match="barlow-speech probe"):
        load_results([tmp_path / "missing.json"])
    with pytest.raises(ValueError, match="nothing to report"):
        write_report(tmp_path)


def test_html_escapes_model_names():
    assert "&lt;b&gt;" in render_html([make_probe("<b>", "SR", 0.1)], [])
