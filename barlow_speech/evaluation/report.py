"""Report: paper Table 2 and Table 3 as Markdown (optionally HTML) with the figures embedded, and the sections of
`barlow-speech analyze` results.

Inputs are plain result dicts or JSON files holding them, in the schemas of `barlow_speech.results` (which the Hub
model card reads too). This module renders results; it computes none (`barlow_speech.evaluation.analysis` writes the
analyses it renders).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..results import ANALYSIS_SCHEMA, task_label, task_name

TABLE3_COLUMNS = (
    ("mig", "MIG"),
    ("sap", "SAP"),
    ("dcimig", "DCIMIG"),
    ("jemmig", "JEMMIG"),
    ("modularity", "Mod. Score"),
)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def probe_table(probe_results: Sequence[Mapping]) -> str:
    """Probe results as plain text for the terminal, a block per model: one row per task (its label column, with the
    paper's abbreviation beside it), one column per label fraction, test top-1 % as `mean ± std` over the seeds."""
    blocks = []
    for model in dict.fromkeys(r["model"] for r in probe_results):
        results = [r for r in probe_results if r["model"] == model]
        fractions = sorted({e["fraction"] for r in results for e in r["fractions"].values()})
        seeds = max(len(e["runs"]) for r in results for e in r["fractions"].values())
        rows = [["task", *(f"{100 * f:g} % labels" for f in fractions)]]
        for r in results:
            cells = {e["fraction"]: f"{100 * e['mean']:.1f} ± {100 * e['std']:.1f}" for e in r["fractions"].values()}
            rows.append([task_label(r["task"]), *(cells.get(f, "–") for f in fractions)])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))
            )
            for row in rows
        ]
        blocks.append(f"{model}: test top-1 accuracy %, mean ± std over {seeds} seed(s)\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def table2(probe_results: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """Table 2 cells: rows = upstream model, columns = task x fraction, `mean ± std` top-1 in %."""
    tasks = list(dict.fromkeys(r["task"] for r in probe_results))
    fractions = {
        t: sorted({e["fraction"] for r in probe_results if r["task"] == t for e in r["fractions"].values()})
        for t in tasks
    }
    header = ["Model"] + [f"{task_label(t)} {100 * f:g}%" for t in tasks for f in fractions[t]]
    rows = []
    for model in dict.fromkeys(r["model"] for r in probe_results):
        by_cell = {
            (r["task"], e["fraction"]): e
            for r in probe_results
            if r["model"] == model
            for e in r["fractions"].values()
        }
        cells = [
            f"{100 * by_cell[t, f]['mean']:.2f} ± {100 * by_cell[t, f]['std']:.2f}" if (t, f) in by_cell else "–"
            for t in tasks
            for f in fractions[t]
        ]
        rows.append([model] + cells)
    return header, rows


def layer_table(probe_results: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """Per-layer cells of the results probed layer by layer (`probe_layers`): rows = (model, task), columns = layers,
    test top-1 % at the largest label fraction; the layer chosen on validation is marked with *."""
    layered = [r for r in probe_results if len(r.get("layers", ())) > 1]
    names = list(dict.fromkeys(str(entry["layer"]) for r in layered for entry in r["layers"]))
    rows = []
    for r in layered:
        key = max(r["layers"][0]["test"], key=float)
        cells = {
            str(e["layer"]): f"{100 * e['test'][key]:.1f}{'*' if e['layer'] == r['layer'] else ''}"
            for e in r["layers"]
        }
        rows.append(
            [r["model"], f"{task_label(r['task'])} {100 * float(key):g}%"] + [cells.get(n, "–") for n in names]
        )
    return ["Model", "Task"] + names, rows


def table3(disentanglement_results: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """Table 3 cells: rows = model, columns = MIG, SAP, DCIMIG, JEMMIG, Mod. Score as `mean ± std`."""
    header = ["Model"] + [title for _, title in TABLE3_COLUMNS]
    rows = []
    for result in disentanglement_results:
        metrics = result["metrics"]
        rows.append(
            [result["model"]]
            + [
                f"{metrics[k]['mean']:.3f} ± {metrics[k]['std']:.4f}" if k in metrics else "–"
                for k, _ in TABLE3_COLUMNS
            ]
        )
    return header, rows


def compare_table2(probe_results: Sequence[Mapping], paper: Mapping, names: Mapping[str, str]) -> str:
    """Markdown: for each task and label fraction of the paper's Table 2, each column's top-1 % in the paper, ours and
    ours minus the paper's. `paper` is `paper_results.json`'s "table2"; `names` maps our model names to its columns."""
    ours = {
        (names[r["model"]], task_name(r["task"]), e["fraction"]): 100 * e["mean"]
        for r in probe_results
        if r["model"] in names
        for e in r["fractions"].values()
    }
    header = ["Task", "Labels %"] + [
        f"{model} {kind}" for model in paper["models"] for kind in ("paper", "ours", "diff")
    ]
    rows = []
    for task, cells in paper["cells"].items():
        for percent, values in cells.items():
            row = [task, percent]
            for model, value in zip(paper["models"], values, strict=True):
                mine = ours.get((model, task, float(percent) / 100))
                row += [f"{value:.2f}"] + (["–", "–"] if mine is None else [f"{mine:.2f}", f"{mine - value:+.2f}"])
            rows.append(row)
    return markdown_table(header, rows)


def compare_table3(disentanglement_results: Sequence[Mapping], paper: Mapping) -> str:
    """Markdown: for each model of the paper's Table 3, each metric's mean ± std in the paper, ours and ours minus the
    paper's mean. `paper` is `paper_results.json`'s "table3"."""
    ours = {r["model"]: r["metrics"] for r in disentanglement_results}
    if tuple(paper["metrics"]) != tuple(key for key, _ in TABLE3_COLUMNS):
        raise ValueError(f"paper metrics {paper['metrics']} do not follow the Table 3 columns {TABLE3_COLUMNS}.")
    header = ["Model"] + [f"{title} {kind}" for _, title in TABLE3_COLUMNS for kind in ("paper", "ours", "diff")]
    rows = []
    for model, values in paper["rows"].items():
        row = [model]
        for (key, _), (mean, std) in zip(TABLE3_COLUMNS, values, strict=True):
            mine = ours.get(model, {}).get(key)
            row.append(f"{mean:.3f} ± {std:.4f}")
            row += (
                ["–", "–"]
                if mine is None
                else [f"{mine['mean']:.3f} ± {mine['std']:.4f}", f"{mine['mean'] - mean:+.3f}"]
            )
        rows.append(row)
    return markdown_table(header, rows)


def render_markdown(
    probe_results: Sequence[Mapping],
    disentanglement_results: Sequence[Mapping],
    figures: Sequence[str | Path] = (),
    relative_to: str | Path | None = None,
) -> str:
    """The report as Markdown: Table 2, Table 3, then the figures (paths relative to `relative_to`)."""
    parts = ["# Barlow Twins speech representations: evaluation report", ""]
    if probe_results:
        parts += [
            "## Table 2. Linear evaluation (top-1 %, mean ± std over seeds) at label fractions",
            "",
            markdown_table(*table2(probe_results)),
            "",
        ]
        runs = sorted({len(e["runs"]) for r in probe_results for e in r["fractions"].values()})
        parts += [
            f"Runs per cell: {', '.join(map(str, runs))}. Probe hyper-parameters chosen on validation per run.",
            "",
        ]
        header, rows = layer_table(probe_results)
        if rows:
            parts += [
                "## Accuracy per layer (test top-1 %; * = the layer chosen on validation and reported in Table 2)",
                "",
                markdown_table(header, rows),
                "",
            ]
    if disentanglement_results:
        parts += [
            "## Table 3. Disentanglement metrics (mean ± std over runs)",
            "",
            markdown_table(*table3(disentanglement_results)),
            "",
        ]
        described = {(r["n_runs"], r["sample_size"], ", ".join(r["factors"])) for r in disentanglement_results}
        parts += [f"{n} runs of {s} samples; factors: {f}." for n, s, f in sorted(described)] + [""]
    if figures:
        parts += ["## Figures", ""]
        for figure in figures:
            figure = Path(figure)
            shown = figure.relative_to(relative_to) if relative_to and figure.is_relative_to(relative_to) else figure
            parts += [f"![{figure.stem}]({shown.as_posix()})", ""]
    return "\n".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    probe_results: Sequence[Mapping],
    disentanglement_results: Sequence[Mapping],
    figures: Sequence[str | Path] = (),
    relative_to: str | Path | None = None,
) -> str:
    """The same report as a standalone HTML page."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>barlow-speech report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:100%}</style></head><body>",
        "<h1>Barlow Twins speech representations: evaluation report</h1>",
    ]
    if probe_results:
        parts += [
            "<h2>Table 2. Linear evaluation (top-1 %, mean ± std over seeds)</h2>",
            _html_table(*table2(probe_results)),
        ]
        header, rows = layer_table(probe_results)
        if rows:
            parts += [
                "<h2>Accuracy per layer (test top-1 %; * = chosen on validation)</h2>",
                _html_table(header, rows),
            ]
    if disentanglement_results:
        parts += [
            "<h2>Table 3. Disentanglement metrics (mean ± std over runs)</h2>",
            _html_table(*table3(disentanglement_results)),
        ]
    for figure in figures:
        figure = Path(figure)
        shown = figure.relative_to(relative_to) if relative_to and figure.is_relative_to(relative_to) else figure
        parts.append(f"<h3>{html.escape(figure.stem)}</h3><img src='{html.escape(shown.as_posix())}'>")
    return "\n".join(parts + ["</body></html>"])


def _bits(entry: Mapping) -> str:
    low, high = entry["interval_bits"]
    return f"{entry['mutual_information_bits']:.2f} [{low:.2f}, {high:.2f}]"


def _rho(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def analysis_markdown(result: Mapping) -> str:
    """Markdown of one analysis: a table of layers per model, the rank correlations and the figures (linked by file
    name: the report lies next to them)."""
    tasks = result["tasks"]
    pairings = list(result["models"][0]["unsupervised_information"])  # the unsupervised bounds' parts (segments, ...)
    parts = [
        f"## Layer-wise analysis (`analyze {result['analysis']}`)",
        "",
        (
            f"Dataset {result['dataset']}; MI lower bounds in bits, [{100 * result['confidence']:g} % interval over "
            f"seeds {result['seeds']}]; unsupervised pairs from {result['num_unlabelled_clips']} train clips."
        ),
        "",
    ]
    header = [
        "Layer",
        "dim",
        *(f"top-1 % {t}" for t in tasks),
        *(f"I(Z;{t})" for t in tasks),
        *(f"I({p})" for p in pairings),
    ]
    for model in result["models"]:
        rows = [
            [
                name,
                str(size),
                *(f"{100 * model['probe_accuracy'][t][k]:.1f}" for t in tasks),
                *(_bits(model["supervised_information"][t][k]) for t in tasks),
                *(_bits(model["unsupervised_information"][p][k]) for p in pairings),
            ]
            for k, (name, size) in enumerate(zip(model["layers"], model["layer_sizes"]))
        ]
        parts += [f"### {model['model']}", "", markdown_table(header, rows), ""]
    models = [model["model"] for model in result["models"]]
    rows = [
        [
            measure,
            task,
            _rho(entry["spearman"]),
            "–" if entry["p_value"] is None else f"{entry['p_value']:.3f}",
            str(entry["num_points"]),
            *(_rho(entry["per_model"][m]) for m in models),
        ]
        for measure, per_task in result["rank_correlation"].items()
        for task, entry in per_task.items()
    ]
    parts += [
        "### Rank correlation of MI and probe accuracy (Spearman, paper 002)",
        "",
        markdown_table(["MI", "task", "rho (all layers, models)", "p", "points", *(f"rho {m}" for m in models)], rows),
        "",
    ]
    parts += [f"![{Path(name).stem}]({name})\n" for name in result.get("figures", [])]
    return "\n".join(parts)


def analysis_report(output_dir: str | Path) -> tuple[str, list[Path]]:
    """The Markdown sections and figures of every `analysis_*.json` in `output_dir` ("" and [] when there is none)."""
    sections, figures = [], []
    for path in sorted(Path(output_dir).glob("analysis_*.json")):
        result = json.loads(path.read_text())
        if result.get("schema") != ANALYSIS_SCHEMA:
            continue
        sections.append(analysis_markdown(result))
        figures += [path.parent / name for name in result["figures"]]
    return "\n".join(sections), figures


def write_report(
    output_dir: str | Path,
    probe_results: Sequence[Mapping] = (),
    disentanglement_results: Sequence[Mapping] = (),
    figures: Sequence[str | Path] = (),
    html_too: bool = False,
) -> Path:
    """Write `report.md` (and `report.html`) into `output_dir`, figures linked relative to it; returns report.md.

    The tables and figures of any `barlow-speech analyze` result already in `output_dir` (`analysis_*.json`) are
    appended."""
    if not probe_results and not disentanglement_results:
        raise ValueError("nothing to report: pass probe and/or disentanglement results.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    analysis, analysis_figures = analysis_report(output_dir)  # `barlow-speech analyze` results in the same folder
    report = output_dir / "report.md"
    report.write_text(render_markdown(probe_results, disentanglement_results, figures, output_dir) + analysis)
    if html_too:
        page = render_html(probe_results, disentanglement_results, [*figures, *analysis_figures], output_dir)
        (output_dir / "report.html").write_text(page)
    return report
