"""Model cards built from measured results: result JSON -> `EvalResult`s -> model-index metadata + a rendered card.

The template is `barlow_speech/templates/model_card.md` (shipped as package data), rendered with
`huggingface_hub.ModelCard.from_template`. Numbers only ever come from the results passed in: a card without results
says "Not evaluated".

Result JSON accepted by `load_records` (one file holds one of these):

* a list of flat records, or `{"results": [records]}`, each record::

      {"task": "audio-classification",         # Hub task id (model-index task.type)
       "task_name": "Keyword spotting",        # optional, pretty name
       "dataset": "google/speech_commands",    # dataset id (model-index dataset.type)
       "dataset_name": "Speech Commands",      # optional, pretty name (defaults to the id)
       "dataset_config": "v0.02",              # optional
       "split": "test",                        # optional
       "metric": "accuracy",                   # metric id (model-index metric.type)
       "label_fraction": 0.05,                 # optional: fraction of training labels of a linear probe
       "value": 0.523,                         # the measured value (mean over runs)
       "std": 0.012, "n_runs": 50}             # optional

* a probe result of `barlow_speech.evaluation.probes.linear_probe` (schema `barlow_speech.probe/...`, documented in
  `barlow_speech.results`) with the extra keys `"dataset"` (required: the card never guesses it),
  `"dataset_config"` and `"split"` (default "test"): one record per label fraction;
* a disentanglement result of `barlow_speech.evaluation.disentanglement.disentanglement_runs` (schema
  `barlow_speech.disentanglement/...`) with the same extra keys: one record per metric;
* a list of such probe / disentanglement results.

In the model-index, `label_fraction`, `std` and `n_runs` are stored in each metric's `args` (per metric, so results
of several fractions on one dataset keep their own fraction), and `load_card_results` reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .configuration_barlow import DINO_CENTERINGS
from .model_family import FamilyMember
from .results import read_result_file, task_title

TEMPLATE_PACKAGE = "barlow_speech"
TEMPLATE_NAME = "templates/model_card.md"
PAPER_DOI = "10.3390/info15020114"
NOT_RECORDED = "not recorded"
DISENTANGLEMENT_TASK = "feature-extraction"  # Hub task id for metrics computed on the embeddings themselves


@dataclass(frozen=True)
class ResultRecord:
    """One measured number and what it measures (the flat record of the module docstring)."""

    task: str
    dataset: str
    metric: str
    value: float
    task_name: str | None = None
    dataset_name: str | None = None
    dataset_config: str | None = None
    split: str | None = None
    label_fraction: float | None = None
    std: float | None = None
    n_runs: int | None = None

    def __post_init__(self):
        for name in ("task", "dataset", "metric"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"result field {name!r} must be a non-empty string, got {getattr(self, name)!r}.")
        for name in ("value", "std", "label_fraction"):
            value = getattr(self, name)
            if value is None and name != "value":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"result field {name!r} must be a finite number, got {value!r} ({self.metric}).")
        if self.label_fraction is not None and not 0 < self.label_fraction <= 1:
            raise ValueError(f"label_fraction={self.label_fraction} must be in (0, 1] (0.05 for 5 % of the labels).")

    def to_eval_result(self) -> EvalResult:
        args = {
            key: getattr(self, key) for key in ("label_fraction", "std", "n_runs") if getattr(self, key) is not None
        }
        metric_name = (
            self.metric if self.label_fraction is None else f"{self.metric} ({self.label_fraction:.0%} labels)"
        )
        return EvalResult(
            task_type=self.task,
            task_name=self.task_name,
            dataset_type=self.dataset,
            dataset_name=self.dataset_name or self.dataset,
            dataset_config=self.dataset_config,
            dataset_split=self.split,
            metric_type=self.metric,
            metric_value=float(self.value),
            metric_name=metric_name,
            metric_args=args or None,
        )

    @classmethod
    def from_eval_result(cls, result: EvalResult) -> ResultRecord:
        args = result.metric_args or {}
        return cls(
            task=result.task_type,
            task_name=result.task_name,
            dataset=result.dataset_type,
            dataset_name=None if result.dataset_name == result.dataset_type else result.dataset_name,
            dataset_config=result.dataset_config,
            split=result.dataset_split,
            metric=result.metric_type,
            value=result.metric_value,
            label_fraction=args.get("label_fraction"),
            std=args.get("std"),
            n_runs=args.get("n_runs"),
        )


_RECORD_FIELDS = {f.name for f in fields(ResultRecord)}


def _record(raw: Mapping[str, Any], source: str) -> ResultRecord:
    unknown = sorted(set(raw) - _RECORD_FIELDS)
    missing = sorted({"task", "dataset", "metric", "value"} - set(raw))
    if unknown or missing:
        raise ValueError(
            f"{source}: result record {dict(raw)!r} has unknown keys {unknown} and lacks {missing}; a record has the "
            f"keys {sorted(_RECORD_FIELDS)} (see barlow_speech.model_card)."
        )
    return ResultRecord(**raw)


def _dataset_keys(result: Mapping[str, Any], source: str) -> dict:
    if not result.get("dataset"):
        raise ValueError(
            f'{source}: the {result.get("schema")} result names no dataset; add "dataset" (e.g. '
            '"google/speech_commands"), and optionally "dataset_config" and "split", to the JSON before publishing.'
        )
    return {
        "dataset": result["dataset"],
        "dataset_config": result.get("dataset_config"),
        "split": result.get("split", "test"),
    }


def records_from_result(result: Any, source: str = "results") -> list[ResultRecord]:
    """Flat records from one parsed result JSON (any of the layouts of the module docstring)."""
    if isinstance(result, list):  # flat records, or several native results (as report.py's files may hold)
        return [
            record
            for item in result
            for record in (
                records_from_result(item, source)
                if isinstance(item, Mapping) and "schema" in item
                else [_record(item, source)]
            )
        ]
    if not isinstance(result, Mapping):
        raise ValueError(f"{source}: expected a JSON object or list of result records, got {type(result).__name__}.")
    schema = str(result.get("schema", ""))
    if schema.startswith("barlow_speech.probe/"):
        keys = _dataset_keys(result, source)
        return [
            ResultRecord(
                task="audio-classification",
                task_name=task_title(result.get("task")) or result.get("task") or None,
                metric="accuracy",
                value=entry["mean"],
                label_fraction=entry["fraction"],
                std=entry["std"],
                n_runs=len(entry["runs"]),
                **keys,
            )
            for entry in sorted(result["fractions"].values(), key=lambda e: e["fraction"])
        ]
    if schema.startswith("barlow_speech.disentanglement/"):
        keys = _dataset_keys(result, source)
        factors = ", ".join(result.get("factors", []))
        return [
            ResultRecord(
                task=DISENTANGLEMENT_TASK,
                task_name=f"Disentanglement ({factors})",
                metric=name,
                value=entry["mean"],
                std=entry["std"],
                n_runs=int(result["n_runs"]),
                **keys,
            )
            for name, entry in result["metrics"].items()
        ]
    if "results" in result:
        return records_from_result(result["results"], source)
    raise ValueError(
        f'{source}: unrecognised result JSON (keys {sorted(result)}); expected a list of records, {{"results": '
        "[...]}, or a barlow_speech.probe / barlow_speech.disentanglement result."
    )


def load_records(paths_or_results: Iterable[str | Path | Mapping | list] | None) -> list[ResultRecord]:
    """Records from result JSON files (paths, read by `barlow_speech.results.read_result_file`) or already-parsed
    results; None -> no results."""
    records: list[ResultRecord] = []
    for item in paths_or_results or []:
        if isinstance(item, ResultRecord):
            records.append(item)
        elif isinstance(item, (str, Path)):
            records.extend(records_from_result(read_result_file(item), str(item)))
        else:
            records.extend(records_from_result(item))
    return records


def _format_number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _table_row(record: ResultRecord) -> dict:
    value = _format_number(record.value) + (f" ± {_format_number(record.std)}" if record.std is not None else "")
    return {
        "task": record.task_name or record.task,
        "dataset": record.dataset_name or record.dataset,
        "config": record.dataset_config or "",
        "split": record.split or "",
        "metric": record.metric,
        "label_fraction": "" if record.label_fraction is None else f"{record.label_fraction:.0%}",
        "value": value,
        "n_runs": "" if record.n_runs is None else str(record.n_runs),
    }


def _front_end(extractor) -> str:
    ms = 1000 / extractor.sampling_rate
    bins = (
        f"{extractor.n_mels} mel bands ({extractor.f_min:g}-{extractor.f_max:g} Hz)"
        if extractor.n_mels
        else f"{extractor.num_bins} bins"
    )
    kind = "log-mel" if extractor.n_mels else "log-magnitude"
    return (
        f"{kind} STFT, n_fft {extractor.n_fft} ({extractor.n_fft * ms:g} ms Hann), hop {extractor.hop_length} "
        f"({extractor.hop_length * ms:g} ms), {bins} x {extractor.num_frames} frames per "
        f"{extractor.segment_seconds:g}-s segment"
    )


def _batch_size_rows(details: dict[str, Any]) -> list[tuple[str, Any]]:
    """The global batch (`batch_size`: per device x world size x accumulation) and/or the per-device batch
    (`batch_size_per_device`, all a Trainer checkpoint records), each under its own label; pops both keys."""
    global_batch, per_device = details.pop("batch_size", None), details.pop("batch_size_per_device", None)
    rows = [("Batch size (global)", global_batch)] if global_batch is not None or per_device is None else []
    rows += [("Batch size (per device)", per_device)] if per_device is not None else []
    return [(name, NOT_RECORDED if value is None else value) for name, value in rows]


def training_rows(config, extractor, training_details: Mapping[str, Any] | None, member: FamilyMember | None) -> list:
    """`(name, value)` rows of the card's training table; unknown values say "not recorded", never a guess."""
    details = dict(training_details or {})
    upstream = details.pop("upstream_dataset", None) or (member.upstream.pretty_name if member else NOT_RECORDED)
    rows = [
        ("Upstream (pretraining) dataset", upstream),
        ("Epochs", details.pop("epochs", NOT_RECORDED)),
        *_batch_size_rows(details),
        *objective_rows(config),
        (
            "Encoder",
            f"ResNet, stages {list(config.backbone_config.depths)}, widths "
            f"{list(config.backbone_config.hidden_sizes)} ({config.backbone_config.layer_type} blocks)",
        ),
        ("Sampling rate", f"{extractor.sampling_rate} Hz"),
        ("Front end", _front_end(extractor)),
        ("Normalisation", f"(x - {extractor.mean:.4g}) / {extractor.std:.4g}" if extractor.do_normalize else "none"),
    ]
    rows += [(key.replace("_", " ").capitalize(), value) for key, value in details.items()]
    return rows


# How the card names each `BarlowSpeechConfig.objective`.
OBJECTIVE_NAMES = {
    "barlow_twins": "Barlow Twins (Zbontar et al. 2021; Brima et al. 2024)",
    "dino": "DINO self-distillation (Caron et al. 2021; for speech Cho et al. 2022); the encoder is the teacher",
}


def objective_rows(config) -> list[tuple[str, Any]]:
    """Rows of the training table that say which objective trained the encoder, and its settings."""
    rows = [("Objective", OBJECTIVE_NAMES[config.objective])]
    if config.objective == "dino":  # the heads read what a projector would (`projector_input`)
        head = [config.projector_input_size] + [config.dino_hidden_size] * (config.dino_head_layers - 1)
        return rows + [
            ("Prototypes K", config.dino_num_prototypes),
            ("Head", " -> ".join(map(str, [*head, config.dino_bottleneck_size, config.dino_num_prototypes]))),
            ("Batch norm in the head", "yes" if config.dino_head_batchnorm else "no"),
            (
                "Temperatures (student, teacher)",
                f"{config.dino_student_temperature}, {config.dino_teacher_temperature}",
            ),
            (
                "Centring of the teacher",
                DINO_CENTERINGS[config.dino_centering]
                + (f", momentum {config.dino_center_momentum}" if config.dino_centering == "centering" else ""),
            ),
        ]
    return rows + [
        ("Loss variant", config.loss_variant),
        ("lambda (off-diagonal weight)", config.lambda_offdiag),
        ("Latent size m", config.latent_size),
        ("Projector", " -> ".join(str(d) for d in [config.projector_input_size, *config.projector_dims])),
        ("Projector input", config.projector_input),
    ]


def render_model_card(
    config,
    extractor,
    *,
    repo_id: str,
    results: list[ResultRecord] | None = None,
    training_details: Mapping[str, Any] | None = None,
    member: FamilyMember | None = None,
    has_projector: bool = True,
) -> ModelCard:
    """The model card of a checkpoint: YAML metadata (model-index from `results`) + the rendered template.

    Args:
        config: the model's `BarlowSpeechConfig`.
        extractor: its `BarlowSpeechFeatureExtractor` (front-end parameters).
        repo_id: `"org/name"` used in the usage snippets and as the model-index name.
        results: measured results (`load_records`); none -> "Not evaluated".
        training_details: e.g. `{"epochs": 50, "batch_size": 64, "upstream_dataset": "..."}` (others are listed too);
            `batch_size` is the global batch, `batch_size_per_device` the per-device one.
        member: the family member the checkpoint is (card text and `datasets:` metadata).
    """
    results = list(results or [])
    model_name = repo_id.rsplit("/", 1)[-1]
    datasets = sorted({member.upstream.dataset_id} if member and member.upstream.on_hub else set())
    card_data = ModelCardData(
        language=["en"],
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="feature-extraction",
        tags=["audio", "speech", "self-supervised-learning", config.objective.replace("_", "-"), "custom_code"],
        datasets=datasets or None,
        model_name=model_name,
        eval_results=[record.to_eval_result() for record in results] or None,
    )
    family = (
        member.card_metadata()
        if member
        else {
            "family_description": f"{model_name}: a speech encoder trained with barlow-speech "
            f"({OBJECTIVE_NAMES[config.objective]}).",
            "upstream_dataset_name": (training_details or {}).get("upstream_dataset", NOT_RECORDED),
            "upstream_domain": "speech",
        }
    )
    template = resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_NAME).read_text(encoding="utf-8")
    return ModelCard.from_template(
        card_data,
        template_str=template,
        model_id=model_name,
        repo_id=repo_id,
        hidden_size=config.hidden_size,
        latent_size=config.latent_size,
        projector_input=config.projector_input,
        hop_length=extractor.hop_length,
        has_projector=has_projector,
        objective=config.objective,
        training_rows=training_rows(config, extractor, training_details, member),
        results=[_table_row(record) for record in results],
        **family,
    )


def load_card_results(card_path: str | Path) -> list[ResultRecord]:
    """The results recorded in a card's model-index (inverse of `render_model_card`'s metadata)."""
    card = ModelCard.load(card_path)
    return [ResultRecord.from_eval_result(result) for result in (card.data.eval_results or [])]


def record_dicts(records: Iterable[ResultRecord]) -> list[dict]:
    """Records as plain dicts (None fields dropped), e.g. to write a results JSON."""
    return [{k: v for k, v in asdict(record).items() if v is not None} for record in records]


__all__ = [
    "ResultRecord",
    "load_card_results",
    "load_records",
    "objective_rows",
    "record_dicts",
    "records_from_result",
    "render_model_card",
    "training_rows",
]
