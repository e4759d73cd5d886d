"""The evaluation pipeline that the demo, `barlow-speech probe | disentangle | report` and `reproduce` share.

    upstream = load_upstream("runs/bt-ls100")                  # or "random-init:runs/bt-ls100", "logmel"
    source = DataSource("wluc", "/data/WLUC")                  # a dataset and its split policy
    probes = run_probes(upstream, source, ProbeProtocol(tasks=["speaker_id", "gender"]))         # Table 2 rows
    table3 = run_disentanglement(upstream, DataSource("voxceleb1", "/data/VoxCeleb1"), DisentanglementProtocol())
    untrained, trained = cross_correlations(load_pretraining_pair("runs/bt-ls100"), ...)          # Fig. 3
    write_report("eval/", probes, [table3], report_figures("eval/", probes))      # evaluation.report

Upstreams: a checkpoint folder or Hub id (a `save_pretrained` folder of any BarlowSpeech model plus its
preprocessor_config.json), `random-init:<checkpoint>` for its architecture randomly initialised, `logmel` for log-mel
statistics, or a model in memory (`Upstream(name, source, model, extractor)`, as the demo builds). A checkpoint without
a readable preprocessor_config.json is an error (its model was trained on normalised spectrograms) unless
`default_front_end=True`, which uses the default front end and records so. Data and splits:
`barlow_speech.evaluation.sources` (`DataSource`, also importable from here). Results follow the schemas of
`barlow_speech.results`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from ..configuration_barlow import BarlowSpeechConfig
from ..data.fractions import PAPER_FRACTIONS
from ..data.schema import clip_arrays
from ..feature_extraction_barlow import BarlowSpeechFeatureExtractor
from ..modeling_barlow import BarlowSpeechForPreTraining, BarlowSpeechModel, check_frequency_rows, describe_front_end
from ..repo_folder import load_pretrained
from ..results import INDEX_LISTS_SUFFIX, PAPER_TASKS, split_index_lists
from ..training.augment import TwoViewAugmentation, TwoViewAugmentationConfig
from .baselines import logmel_stats_features, random_init_model, supervised_baseline
from .disentanglement import disentanglement_runs
from .embeddings import extract_layer_embeddings
from .figures import plot_accuracy_vs_fraction, plot_cross_correlation, plot_run_boxplots
from .probes import probe_layers
from .sources import SPLITS, DataSource, known_rows

logger = logging.getLogger(__name__)

# Table 3 factors (accent, identity, gender) as columns; the names in results are the paper's.
PAPER_FACTORS = ("accent", "speaker_id", "gender")
FACTOR_NAMES = {"speaker_id": "identity"}
RANDOM_INIT_PREFIX = "random-init:"
LOGMEL = "logmel"
DEFAULT_FRONT_END = "default (mean 0, std 1)"  # `front_end` in result metadata when default_front_end was used


# ------------------------------------------------------------------------------------------------ upstreams
@dataclasses.dataclass
class Upstream:
    """What is probed: a BarlowSpeech encoder (trained or randomly initialised), or log-mel statistics (model None)."""

    name: str
    source: str
    model: torch.nn.Module | None = None
    extractor: BarlowSpeechFeatureExtractor | None = None
    front_end: str | None = (
        None  # "checkpoint" or DEFAULT_FRONT_END; None for the log-mel baseline and models in memory
    )

    @property
    def metadata(self) -> dict[str, Any]:
        """What results record about the upstream: its source and, for a checkpoint, where its front end came from."""
        return {"upstream": self.source, **({"front_end": self.front_end} if self.front_end else {})}

    def embed(
        self,
        dataset: datasets.Dataset,
        dataset_id: str,
        batch_size: int = 64,
        device: str | None = None,
        cache_dir: Path | None = None,
    ) -> np.ndarray:
        """Utterance embeddings `(len(dataset), dim)`: (cached) encoder embeddings, or log-mel statistics."""
        return self.embed_layers(dataset, dataset_id, [None], batch_size, device, cache_dir)[0]

    def embed_layers(
        self,
        dataset: datasets.Dataset,
        dataset_id: str,
        layers: Sequence[int | None] | None = None,
        batch_size: int = 64,
        device: str | None = None,
        cache_dir: Path | None = None,
    ) -> list[np.ndarray]:
        """Per layer (`extract_layer_embeddings`; None = `pooler_output`, default every layer) the utterance
        embeddings; the log-mel baseline has one "layer", its statistics."""
        if self.model is None:
            clips = [np.asarray(a["array"], dtype=np.float32) for a in dataset["audio"]]
            return [logmel_stats_features(clips, device=device or "cpu")]
        return extract_layer_embeddings(
            self.model, self.extractor, dataset, layers, batch_size, device, cache_dir, dataset_id
        )


def check_front_end(config: BarlowSpeechConfig, extractor: BarlowSpeechFeatureExtractor, front_end: str) -> None:
    """Raise unless the extractor gives the frequency rows the model was trained on (`config.num_frequency_bins`);
    with `DEFAULT_FRONT_END` (`--default_front_end`) the message says the default cannot stand in for this model."""
    rows, given = config.num_frequency_bins, extractor.num_bins
    if front_end == DEFAULT_FRONT_END and rows is not None and rows != given:
        raise ValueError(
            f"--default_front_end gives {given} frequency rows ({describe_front_end(given)}), "
            f"but this model was trained on {rows} ({describe_front_end(rows)}): put the preprocessor_config.json it "
            "was trained with back into the checkpoint (`barlow-speech pretrain` saves it) and drop the flag."
        )
    check_frequency_rows(config, given)


def load_feature_extractor(spec: str, default_front_end: bool = False) -> tuple[BarlowSpeechFeatureExtractor, str]:
    """The checkpoint's feature extractor and where it came from ("checkpoint" or `DEFAULT_FRONT_END`).

    A checkpoint without a readable preprocessor_config.json is an error: its model was trained on spectrograms
    normalised with that file's statistics. `default_front_end=True` uses the default front end (mean 0, std 1)
    instead, with a warning.
    """
    try:
        return load_pretrained(BarlowSpeechFeatureExtractor, spec), "checkpoint"
    except FileNotFoundError as error:
        if not default_front_end:
            raise FileNotFoundError(
                f"{error} The model must see spectrograms normalised as in training: save the pretraining feature "
                "extractor into the checkpoint (extractor.save_pretrained(folder); `barlow-speech pretrain` does), or "
                f"pass --default_front_end to use the default front end {DEFAULT_FRONT_END} (recorded in the results)."
            ) from error
        logger.warning("%s: no usable preprocessor_config.json; using the front end %s.", spec, DEFAULT_FRONT_END)
        return BarlowSpeechFeatureExtractor(), DEFAULT_FRONT_END


def load_architecture(
    checkpoint: str, default_front_end: bool = False
) -> tuple[BarlowSpeechConfig, BarlowSpeechFeatureExtractor, str]:
    """A checkpoint's config, feature extractor and the extractor's origin (see `load_feature_extractor`)."""
    config = load_pretrained(BarlowSpeechConfig, checkpoint)
    return (config, *load_feature_extractor(checkpoint, default_front_end))


def load_upstream(
    spec: str, random_init: bool = False, init_seed: int = 0, name: str | None = None, default_front_end: bool = False
) -> Upstream:
    """Resolve a model spec: a checkpoint / Hub id, `random-init:<checkpoint>` (or `random_init=True`) or `logmel`."""
    if spec == LOGMEL:
        return Upstream(name=name or "Log-mel stats", source=LOGMEL)
    if spec.startswith(RANDOM_INIT_PREFIX):
        spec, random_init = spec[len(RANDOM_INIT_PREFIX) :], True
    if not spec:
        raise ValueError(
            f"model {RANDOM_INIT_PREFIX!r} needs a checkpoint after the colon, e.g. "
            f"{RANDOM_INIT_PREFIX}runs/bt-synthetic."
        )
    if random_init:
        config, extractor, front_end = load_architecture(spec, default_front_end)
        check_front_end(config, extractor, front_end)
        return Upstream(
            name=name or f"Random init ({display_name(spec)})",
            source=f"{RANDOM_INIT_PREFIX}{spec}",
            model=random_init_model(config, init_seed),
            extractor=extractor,
            front_end=front_end,
        )
    model = load_pretrained(BarlowSpeechModel, spec)
    extractor, front_end = load_feature_extractor(spec, default_front_end)
    check_front_end(model.config, extractor, front_end)
    return Upstream(
        name=name or display_name(spec), source=spec, model=model, extractor=extractor, front_end=front_end
    )


def display_name(spec: str) -> str:
    """A checkpoint's row name in the tables: its folder name, or the Hub id."""
    path = Path(spec).expanduser()
    return path.resolve().name if path.exists() else spec


def slug(name: str) -> str:
    """`name` as a file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


# ------------------------------------------------------------------------------------------------ protocols
LAYER_CHOICES = ("last", "best")


@dataclasses.dataclass
class ProbeProtocol:
    """Table 2: linear probes per task (label column) at label fractions, `seeds` stratified subsets per fraction."""

    tasks: Sequence[str] = tuple(PAPER_TASKS)
    fractions: Sequence[float] = PAPER_FRACTIONS
    seeds: int = 5  # paper: 50 runs
    steps: int = 300  # L-BFGS iterations at most per head
    # "last": `pooler_output` (the paper); "best": every layer probed, the layer chosen on validation (as SUPERB)
    layer: str = "last"

    def __post_init__(self):
        if self.seeds < 1:
            raise ValueError(f"seeds={self.seeds}: a probe protocol needs >= 1 seed per fraction (paper: 50).")
        if self.layer not in LAYER_CHOICES:
            raise ValueError(f"layer={self.layer!r} is not one of {list(LAYER_CHOICES)}.")


@dataclasses.dataclass
class DisentanglementProtocol:
    """Table 3: metrics of the `split` embeddings against `factors`, over `n_runs` random subsamples."""

    factors: Sequence[str] = PAPER_FACTORS
    split: str = "test"
    n_runs: int = 50  # paper: 50
    sample_size: int | None = None  # clips per subsample (default: half of the split)
    seed: int = 0

    def __post_init__(self):
        if self.n_runs < 1:
            raise ValueError(f"n_runs={self.n_runs}: disentanglement needs >= 1 run (paper: 50).")


@dataclasses.dataclass
class SupervisedProtocol:
    """The "Supervised" row: the architecture trained from scratch with `Trainer` per task, fraction and seed."""

    max_steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 1e-3
    # label fractions of the end-to-end runs, which cost far more than a probe (None: the probe protocol's)
    fractions: Sequence[float] | None = None


# ------------------------------------------------------------------------------------------------ runs
def run_probes(
    upstream: Upstream,
    source: DataSource,
    protocol: ProbeProtocol,
    batch_size: int = 64,
    device: str | None = None,
    cache_dir: Path | None = None,
) -> list[dict]:
    """Table 2 rows of one upstream: one probe result per task (label column); with `protocol.layer == "best"` every
    layer is probed and the result is the layer chosen on validation, with the accuracy of every layer."""
    splits = {split: source.load(split) for split in SPLITS}
    layers = None if protocol.layer == "best" else [None]
    embeddings = {
        split: upstream.embed_layers(dataset, source.cache_id(split), layers, batch_size, device, cache_dir)
        for split, dataset in splits.items()
    }
    results = []
    for column in protocol.tasks:
        known, labels = {}, {}
        for split, dataset in splits.items():
            known[split], values = known_rows(dataset, [column], split)
            labels[split] = values[column]
        per_layer = [
            tuple(embeddings[split][k][known[split]] for split in SPLITS) for k in range(len(embeddings["train"]))
        ]
        results.append(
            probe_layers(
                per_layer,
                *(labels[split] for split in SPLITS),
                layer_names=layer_names(upstream, len(per_layer)),
                fractions=protocol.fractions,
                seeds=range(protocol.seeds),
                steps=protocol.steps,
                device=device,
                model=upstream.name,
                task=column,
                metadata={**source.metadata("test"), "label_column": column, **upstream.metadata},
            )
        )
    return results


def layer_names(upstream: Upstream, count: int) -> list[str]:
    """Names of probed layers: "stem", "stage 1", ... for every layer; "pooler_output" for one (or log-mel stats)."""
    if count == 1:
        return ["pooler_output" if upstream.model is not None else "log-mel statistics"]
    return ["stem", *(f"stage {k}" for k in range(1, count))]


def run_disentanglement(
    upstream: Upstream,
    source: DataSource,
    protocol: DisentanglementProtocol,
    batch_size: int = 64,
    device: str | None = None,
    cache_dir: Path | None = None,
) -> dict:
    """Table 3 row of one upstream: the metrics over `protocol.n_runs` subsamples of the split's embeddings."""
    dataset = source.load(protocol.split)
    embeddings = upstream.embed(dataset, source.cache_id(protocol.split), batch_size, device, cache_dir)
    known, values = known_rows(dataset, protocol.factors, protocol.split)
    codes = np.stack([np.unique(values[f], return_inverse=True)[1].reshape(-1) for f in protocol.factors], axis=1)
    return disentanglement_runs(
        embeddings[known],
        codes,
        n_runs=protocol.n_runs,
        sample_size=protocol.sample_size,
        seed=protocol.seed,
        factor_names=[FACTOR_NAMES.get(f, f) for f in protocol.factors],
        model=upstream.name,
        metadata={**source.metadata(protocol.split), "factor_columns": list(protocol.factors), **upstream.metadata},
    )


def run_supervised(
    config: BarlowSpeechConfig,
    extractor: BarlowSpeechFeatureExtractor,
    source: DataSource,
    probes: ProbeProtocol,
    protocol: SupervisedProtocol,
    device: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[dict]:
    """The "Supervised" rows: `config`'s architecture trained from scratch per task of `probes`, seed and fraction
    (`protocol.fractions`, else `probes.fractions`).

    The models record `extractor`'s frequency rows; a config that records other rows is an error before any data
    loads.
    """
    check_frequency_rows(config, extractor.num_bins)
    config = copy.deepcopy(config)
    config.num_frequency_bins = extractor.num_bins
    splits = {split: source.load(split) for split in SPLITS}
    results = []
    for column in probes.tasks:
        kept = {split: ds.select(np.flatnonzero(known_rows(ds, [column], split)[0])) for split, ds in splits.items()}
        results.append(
            supervised_baseline(
                config,
                extractor,
                kept["train"],
                kept["validation"],
                kept["test"],
                column,
                fractions=probes.fractions if protocol.fractions is None else protocol.fractions,
                seeds=range(probes.seeds),
                max_steps=protocol.max_steps,
                batch_size=protocol.batch_size,
                learning_rate=protocol.learning_rate,
                device=device,
                task=column,
                metadata={**source.metadata("test"), "label_column": column, **(metadata or {})},
            )
        )
    return results


# ------------------------------------------------------------------------------------------------ Fig. 3
def figure3_views(
    config: TwoViewAugmentationConfig | None = None, sampling_rate: int | None = None
) -> TwoViewAugmentation:
    """The pretraining views (`training.augment`, default config) without mixup, which would mix in other clips, at
    `sampling_rate` (the feature extractor's)."""
    config = dataclasses.replace(config or TwoViewAugmentationConfig(), mixup_prob=0.0)
    return TwoViewAugmentation(config, sampling_rate=sampling_rate)


def load_pretraining_pair(
    checkpoint: str, init_seed: int = 0, default_front_end: bool = False
) -> tuple[BarlowSpeechForPreTraining, BarlowSpeechForPreTraining, BarlowSpeechFeatureExtractor]:
    """A pretraining checkpoint's model with fresh weights (`random_init_model(config, init_seed)`), the trained model,
    and its feature extractor: the two sides of Fig. 3."""
    trained, info = load_pretrained(BarlowSpeechForPreTraining, checkpoint, output_loading_info=True)
    if any(key.startswith("projector") for key in info["missing_keys"]):
        raise ValueError(
            f"{checkpoint!r} has no projector weights; the cross-correlation heatmap needs a pretraining checkpoint "
            "(BarlowSpeechForPreTraining, as `barlow-speech pretrain` writes)."
        )
    extractor, front_end = load_feature_extractor(checkpoint, default_front_end)
    check_front_end(trained.config, extractor, front_end)
    return random_init_model(trained.config, init_seed, BarlowSpeechForPreTraining), trained, extractor


def stack_clips(dataset: datasets.Dataset, count: int, num_samples: int) -> np.ndarray:
    """The first `count` clips of `dataset`, cut or zero-padded to `num_samples`: `(count, num_samples)` float32."""
    count = min(count, len(dataset))
    waveforms = np.zeros((count, num_samples), dtype=np.float32)
    for i, clip in enumerate(clip_arrays(dataset.select(range(count)), sampling_rate=None)):
        waveforms[i, : min(clip.size, num_samples)] = clip[:num_samples]
    return waveforms


@torch.no_grad()
def cross_correlations(
    models: Sequence[BarlowSpeechForPreTraining],
    extractor: BarlowSpeechFeatureExtractor,
    waveforms: np.ndarray,
    views: TwoViewAugmentation,
    seed: int = 0,
    device: str | None = None,
) -> list[np.ndarray]:
    """Fig. 3: C `(latent, latent)` of each model on the same two views (drawn once, seeded) of `waveforms`.

    Args:
        models: pretraining models (e.g. untrained and trained, `load_pretraining_pair`); run in eval mode.
        waveforms: `(clips, samples)` clips at the extractor's sampling rate, >= 2 of them.
        views: the two-view augmentation (`figure3_views`, or the demo's), at the extractor's sampling rate.
    """
    if views.sampling_rate != extractor.sampling_rate:
        raise ValueError(
            f"the views run at {views.sampling_rate} Hz but the feature extractor reads {extractor.sampling_rate} Hz; "
            "build them with sampling_rate=extractor.sampling_rate."
        )
    if len(waveforms) < 2:
        raise ValueError(f"the cross-correlation needs >= 2 clips, got {len(waveforms)}; pass more clips.")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    generator = torch.Generator(device).manual_seed(seed)
    batch = torch.as_tensor(np.asarray(waveforms, dtype=np.float32), device=device)
    view_a, view_b = views.to(device)(batch, extractor.spectrogram, generator=generator, update_memory=False)
    return [
        model.to(device)
        .eval()(view_a, view_b, return_cross_correlation=True, distributed=False)
        .cross_correlation.cpu()
        .numpy()
        for model in models
    ]


# ------------------------------------------------------------------------------------------------ report
def _write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: a run killed while writing leaves no half file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload, indent=1))
    partial.replace(path)


def write_results(path: str | Path, payload: Any) -> Path:
    """Write result JSON and return its path; probe results' index lists go to `<name>.index_lists.json` beside it
    (`barlow_speech.results.split_index_lists`), written first, so the result never names a missing file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload, index_lists = split_index_lists(path, payload)
    if index_lists is not None:
        _write_json(path.with_name(path.with_suffix("").name + INDEX_LISTS_SUFFIX), index_lists)
    _write_json(path, payload)
    logger.info("wrote %s", path)
    return path


def boxplot_runs(probe_results: Sequence[dict], fraction: float | None = None) -> dict[str, dict[str, list[float]]]:
    """Top-1 of every run at one label fraction (default: the smallest): {"<task> (<f> % labels)": {model: runs}}."""
    if fraction is None:
        fraction = min(e["fraction"] for r in probe_results for e in r["fractions"].values())
    runs: dict[str, dict[str, list[float]]] = {}
    for result in probe_results:
        entry = next((e for e in result["fractions"].values() if np.isclose(e["fraction"], fraction)), None)
        if entry is not None:
            runs.setdefault(f"{result['task']} ({100 * fraction:g} % labels)", {})[result["model"]] = entry["runs"]
    return runs


def report_figures(
    output_dir: str | Path,
    probe_results: Sequence[dict] = (),
    correlations: Sequence[np.ndarray] | None = None,
    boxplot_fraction: float | None = None,
) -> list[Path]:
    """The figures of a report: accuracy vs label fraction and box plots over runs (Fig. 4-5) from probe results, and
    the cross-correlation heatmap untrained vs trained (Fig. 3) from `correlations`."""
    output_dir = Path(output_dir)
    figures = []
    if probe_results:
        figures.append(plot_accuracy_vs_fraction(probe_results, output_dir / "accuracy_vs_fraction.png"))
        runs = boxplot_runs(probe_results, boxplot_fraction)
        if runs:
            figures.append(plot_run_boxplots(runs, output_dir / "runs_boxplot.png"))
    if correlations is not None:
        figures.append(plot_cross_correlation(*correlations, output_dir / "cross_correlation.png"))
    return figures
