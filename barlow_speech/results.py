"""The result files of barlow-speech: their schemas, which evaluation writes and reports and model cards read.

Probe result (`barlow_speech.evaluation.probes.linear_probe`; also the Supervised baseline of
`barlow_speech.evaluation.baselines.supervised_baseline`), accuracies in [0, 1]::

    {"schema": "barlow_speech.probe/v1", "metric": "top1_accuracy",
     "model": "BT-LS-100", "task": "speaker_id", "num_classes": 5, "num_train": 6000, ...,
     "dataset": "synthetic", "dataset_config": "{...}", "split": "test",  # `metadata=`; the model card needs "dataset"
     "label_column": "speaker_id", "upstream": "runs/bt-ls100",           # added by `barlow-speech probe`
     "probe": {"optimizer": "lbfgs_batched", "steps": 300, "tol": 1e-4, "iterations": 41, "weight_decays": [...]},
     "fractions": {"0.05": {"fraction": 0.05, "mean": 0.39, "std": 0.02, "runs": [...], "seeds": [...],
                            "weight_decays": [...], "validation_accuracy": [...]}, ...},
     "index_lists": {"num_examples": 6000, "subsets": [{"fraction": 0.05, "seed": 0, "indices": [...]}, ...]}}

On disk the index lists (the label-fraction subsets: most of a result's size) live beside the result file, in
`<name>.index_lists.json` (one entry per result), and the result holds `"index_lists": {"file": ..., "entry": i}`;
`read_result_file` puts them back, so a result read from disk is the one that was written.

"probe" names the solver (`steps`: its iteration cap; `iterations`: the most any batch ran); baselines record
their own optimizer there. Per fraction, each run's hyper-parameters are listed: "weight_decays" (the one chosen on
validation) for probes; "learning_rates" and "weight_decays" for the Supervised baseline, which trains with them.

Disentanglement result (`barlow_speech.evaluation.disentanglement.disentanglement_runs`)::

    {"schema": "barlow_speech.disentanglement/v1", "model": "BT-128", "factors": ["accent", "identity", "gender"],
     "dataset": "synthetic", "dataset_config": "{...}", "split": "test",  # `metadata=`; the model card needs "dataset"
     "factor_columns": ["accent", "speaker_id", "gender"], "upstream": "runs/bt-128",  # by `barlow-speech disentangle`
     "n_runs": 50, "sample_size": 3750, "seed": 0, "config": {"mig_bins": 20, ...},
     "metrics": {"mig": {"mean": 0.02, "std": 0.002, "runs": [...]}, "sap": {...}, "dcimig": {...},
                 "jemmig": {...}, "modularity": {...}}}

Layer-wise analysis (`barlow-speech analyze`, `barlow_speech.evaluation.analysis`, which documents its fields): schema
"barlow_speech.layer_analysis/v1".

`load_results` reads result files for reports (probe and disentanglement results); the model card turns the same
files into flat records (`barlow_speech.model_card.load_records`). Both read a file with `read_result_file`, and name
the paper's Table 2 tasks from `PAPER_TASKS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

PROBE_SCHEMA = "barlow_speech.probe/v1"
DISENTANGLEMENT_SCHEMA = "barlow_speech.disentanglement/v1"
ANALYSIS_SCHEMA = "barlow_speech.layer_analysis/v1"


class PaperTask(NamedTuple):
    """One task of the paper's Table 2: its column in the tables and its name in model cards."""

    abbreviation: str
    name: str


# Table 2 tasks of the paper, by their label column in the common schema (the synthetic corpus has all four).
PAPER_TASKS = {
    "speaker_id": PaperTask("SR", "Speaker recognition"),
    "gender": PaperTask("GR", "Gender recognition"),
    "word": PaperTask("KWS", "Keyword spotting"),
    "emotion": PaperTask("ER", "Emotion recognition"),
}


def task_name(column: str) -> str:
    """The paper's abbreviation of a label column (SR, GR, KWS, ER: its Table 2 keys), or the column itself."""
    return PAPER_TASKS[column].abbreviation if column in PAPER_TASKS else column


def task_label(task: str) -> str:
    """A probe result's task (its label column) for a reader, with the paper's abbreviation beside it where it has one:
    `speaker_id (SR)`; a result written before tasks kept their column's name (`SR`) reads as it is."""
    paper = PAPER_TASKS.get(task)
    return f"{task} ({paper.abbreviation})" if paper else task


INDEX_LISTS_SUFFIX = ".index_lists.json"


def split_index_lists(path: str | Path, payload: Any) -> tuple[Any, list | None]:
    """`payload` (a result or a list of results) to be written at `path`, without its index lists, and the index
    lists (one entry per result, None for one without) for `<name>.index_lists.json` beside it; (payload, None) when
    no result has index lists."""
    results = payload if isinstance(payload, list) else [payload]
    lists = [r.get("index_lists") if isinstance(r, dict) else None for r in results]
    if not any(isinstance(entry, dict) and "subsets" in entry for entry in lists):
        return payload, None
    name = Path(path).with_suffix("").name + INDEX_LISTS_SUFFIX
    stripped = [
        {**r, "index_lists": {"file": name, "entry": i}} if lists[i] is not None else r for i, r in enumerate(results)
    ]
    return (stripped if isinstance(payload, list) else stripped[0]), lists


def _join_index_lists(path: Path, payload: Any) -> Any:
    """`payload` read from `path` with the index lists of its results read back from the file beside it."""
    results = payload if isinstance(payload, list) else [payload]
    files: dict[str, list] = {}
    for result in results:
        reference = result.get("index_lists") if isinstance(result, dict) else None
        if isinstance(reference, dict) and "file" in reference:
            if reference["file"] not in files:
                files[reference["file"]] = read_result_file(path.with_name(reference["file"]))
            result["index_lists"] = files[reference["file"]][reference["entry"]]
    return payload


def task_title(task: str | None) -> str | None:
    """The model card's name of a result's task, its label column or the paper's abbreviation (`"word"`, `"KWS"` ->
    "Keyword spotting"), or None for another task."""
    paper = PAPER_TASKS.get(task) or next((p for p in PAPER_TASKS.values() if p.abbreviation == task), None)
    return paper.name if paper else None


def read_result_file(path: str | Path) -> Any:
    """The parsed JSON of a result file; a FileNotFoundError or ValueError naming the file when it is missing or not
    JSON."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"result file {path} does not exist; write it with `barlow-speech probe` or `disentangle`."
        )
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"result file {path} is not valid JSON: {error}.") from error
    return _join_index_lists(path, payload)


def load_results(paths: Iterable[str | Path]) -> tuple[list[dict], list[dict]]:
    """Read result files (one result or a list of results each) -> (probe results, disentanglement results); the
    index-list files beside probe results are read with them."""
    probes, disentanglement = [], []
    for path in paths:
        if str(path).endswith(INDEX_LISTS_SUFFIX):  # read with its result (a glob such as probe_*.json matches it)
            continue
        payload = read_result_file(path)
        for result in payload if isinstance(payload, list) else [payload]:
            schema = result.get("schema")
            if schema == PROBE_SCHEMA:
                probes.append(result)
            elif schema == DISENTANGLEMENT_SCHEMA:
                disentanglement.append(result)
            else:
                raise ValueError(
                    f"{path}: unknown result schema {schema!r}; "
                    f"expected {PROBE_SCHEMA!r} or {DISENTANGLEMENT_SCHEMA!r}."
                )
    return probes, disentanglement


__all__ = [
    "ANALYSIS_SCHEMA",
    "DISENTANGLEMENT_SCHEMA",
    "PAPER_TASKS",
    "PROBE_SCHEMA",
    "INDEX_LISTS_SUFFIX",
    "PaperTask",
    "load_results",
    "split_index_lists",
    "task_label",
    "read_result_file",
    "task_name",
    "task_title",
]
