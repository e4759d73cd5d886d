"""`barlow-speech probe | disentangle | report`: Table 2, Table 3 and the figures from the command line.

    barlow-speech probe --model runs/bt-synthetic --tasks speaker_id gender word emotion --output_dir eval/
    barlow-speech probe --model random-init:runs/bt-synthetic --output_dir eval/        # same architecture, fresh weights
    barlow-speech probe --model logmel --output_dir eval/                               # log-mel statistics baseline
    barlow-speech disentangle --model runs/bt-synthetic --factors accent speaker_id gender --output_dir eval/
    barlow-speech report --models runs/bt-synthetic random-init:runs/bt-synthetic logmel --supervised \\
        --pretraining_checkpoint runs/bt-synthetic --output_dir eval/                  # runs everything, then renders
    barlow-speech report --results eval/probe_*.json eval/disentanglement_*.json --output_dir eval/

`--model` is a checkpoint folder or Hub id (a `save_pretrained` folder of any BarlowSpeech model plus its
preprocessor_config.json), `random-init:<checkpoint>` (or `--random_init`) for its architecture randomly initialised,
or `logmel`. A checkpoint without a readable preprocessor_config.json is an error (its model was trained on
normalised spectrograms); `--default_front_end` probes it with the default front end instead and records so.
`--dataset` is any name of `barlow_speech.data.load_dataset_by_name` (default: the synthetic corpus).
Result JSON follows the schemas of `barlow_speech.evaluation.report` and names the dataset, so
`barlow-speech push` can put it in a model card.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import datasets
import numpy as np
import torch

from ..configuration_barlow import BarlowSpeechConfig
from ..data import DATASET_NAMES, load_dataset_by_name
from ..data.fractions import PAPER_FRACTIONS
from ..data.synthetic import SyntheticSpeechConfig, load_synthetic
from ..feature_extraction_barlow import BarlowSpeechFeatureExtractor
from ..modeling_barlow import BarlowSpeechForPreTraining, BarlowSpeechModel
from .baselines import random_init_model, supervised_baseline
from .disentanglement import TABLE3_METRICS, disentanglement_runs
from .embeddings import extract_embeddings
from .figures import plot_accuracy_vs_fraction, plot_cross_correlation, plot_run_boxplots
from .probes import linear_probe, logmel_stats_features
from .report import load_results, write_report

logger = logging.getLogger(__name__)

# Table 2 tasks of the paper as columns of the common schema (synthetic corpus: all four exist).
PAPER_TASKS = {"speaker_id": "SR", "gender": "GR", "word": "KWS", "emotion": "ER"}
# Table 3 factors (accent, identity, gender) as columns; the names in results are the paper's.
PAPER_FACTORS = ("accent", "speaker_id", "gender")
FACTOR_NAMES = {"speaker_id": "identity"}
SPLITS = ("train", "validation", "test")
# Loaders whose `split=` selects train / validation / test; the others are split at random (80/10/10 of the
# recordings by seed), keeping every segment of a recording in one split.
SPLIT_LOADERS = {"voxceleb1", "speech_commands", "esd", "wluc"}
RANDOM_SPLIT = (0.8, 0.1, 0.1)
RECORDING_COLUMN = "path"  # the source file of a row: the segments of one recording share it
RANDOM_INIT_PREFIX = "random-init:"
LOGMEL = "logmel"
DEFAULT_FRONT_END = "default (mean 0, std 1)"  # `front_end` in result metadata when --default_front_end was used


class CliError(ValueError):
    """A bad command-line value; `barlow-speech` reports it as one line on stderr with exit code 2."""


# ------------------------------------------------------------------------------------------------ upstreams
@dataclasses.dataclass
class Upstream:
    """What is probed: a BarlowSpeech encoder (trained or randomly initialised) or the log-mel baseline (model None)."""

    name: str
    source: str
    model: BarlowSpeechModel | None = None
    extractor: BarlowSpeechFeatureExtractor | None = None
    front_end: str | None = None  # "checkpoint" or DEFAULT_FRONT_END; None for the log-mel baseline

    @property
    def metadata(self) -> dict[str, Any]:
        """What results record about the upstream: its source and, for an encoder, where its front end came from."""
        return {"upstream": self.source, **({"front_end": self.front_end} if self.front_end else {})}

    def embed(self, dataset: datasets.Dataset, dataset_id: str, batch_size: int, device: str | None, cache_dir: Path | None) -> np.ndarray:
        """Utterance embeddings `(len(dataset), dim)`: cached encoder embeddings, or log-mel statistics."""
        if self.model is None:
            return logmel_stats_features([np.asarray(a["array"], dtype=np.float32) for a in dataset["audio"]], device=device or "cpu")
        return extract_embeddings(self.model, self.extractor, dataset, batch_size=batch_size, device=device, cache_dir=cache_dir, dataset_id=dataset_id)


def _load_pretrained(loader: Callable, spec: str, what: str, **kwargs):
    """`loader(spec)` with a FileNotFoundError that says what was looked for and how to fix it."""
    if spec.startswith((".", "/", "~")) and not Path(spec).expanduser().exists():
        raise FileNotFoundError(f"checkpoint {spec!r} does not exist; pass a folder written by save_pretrained / `barlow-speech pretrain`, or a Hub id.")
    try:
        return loader(str(Path(spec).expanduser()) if Path(spec).expanduser().exists() else spec, **kwargs)
    except OSError as error:
        raise FileNotFoundError(
            f"could not load the {what} of {spec!r}: {error}. Pass a folder written by save_pretrained / "
            "`barlow-speech pretrain`, or a Hub id that is online or already cached (HF_HUB_OFFLINE=1 reads only the cache)."
        ) from error


def load_feature_extractor(spec: str, default_front_end: bool = False) -> tuple[BarlowSpeechFeatureExtractor, str]:
    """The checkpoint's feature extractor and where it came from ("checkpoint" or `DEFAULT_FRONT_END`).

    A checkpoint without a readable preprocessor_config.json is an error: its model was trained on spectrograms
    normalised with that file's statistics. `default_front_end=True` (`--default_front_end`) uses the default
    front end (mean 0, std 1) instead, with a warning.
    """
    try:
        return _load_pretrained(BarlowSpeechFeatureExtractor.from_pretrained, spec, "feature extractor"), "checkpoint"
    except FileNotFoundError as error:
        if not default_front_end:
            raise FileNotFoundError(
                f"{error} The model must see spectrograms normalised as in training: save the pretraining feature "
                "extractor into the checkpoint (extractor.save_pretrained(folder); `barlow-speech pretrain` does), or pass "
                f"--default_front_end to use the default front end {DEFAULT_FRONT_END} (recorded in the results)."
            ) from error
        logger.warning("%s: no usable preprocessor_config.json; --default_front_end: using the front end %s.", spec, DEFAULT_FRONT_END)
        return BarlowSpeechFeatureExtractor(), DEFAULT_FRONT_END


def load_upstream(spec: str, random_init: bool = False, init_seed: int = 0, name: str | None = None, default_front_end: bool = False) -> Upstream:
    """Resolve `--model`: a checkpoint / Hub id, `random-init:<checkpoint>` (or `random_init=True`) or `logmel`.

    `default_front_end`: see `load_feature_extractor`.
    """
    if spec == LOGMEL:
        return Upstream(name=name or "Log-mel stats", source=LOGMEL)
    if spec.startswith(RANDOM_INIT_PREFIX):
        spec, random_init = spec[len(RANDOM_INIT_PREFIX):], True
    if not spec:
        raise CliError(f"--model {RANDOM_INIT_PREFIX!r} needs a checkpoint after the colon, e.g. {RANDOM_INIT_PREFIX}runs/bt-synthetic.")
    if random_init:
        config = _load_pretrained(BarlowSpeechConfig.from_pretrained, spec, "config")
        model = random_init_model(config, init_seed)
        extractor, front_end = load_feature_extractor(spec, default_front_end)
        return Upstream(name=name or f"Random init ({_display_name(spec)})", source=f"{RANDOM_INIT_PREFIX}{spec}", model=model, extractor=extractor, front_end=front_end)
    model = _load_pretrained(BarlowSpeechModel.from_pretrained, spec, "model")
    extractor, front_end = load_feature_extractor(spec, default_front_end)
    return Upstream(name=name or _display_name(spec), source=spec, model=model, extractor=extractor, front_end=front_end)


def _display_name(spec: str) -> str:
    path = Path(spec).expanduser()
    return path.resolve().name if path.exists() else spec


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


# ------------------------------------------------------------------------------------------------ data
def _parse_loader_args(items: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs; values are JSON when they parse (numbers, lists, true/false), strings otherwise."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--loader_args expects key=value pairs, got {item!r}.")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


@dataclasses.dataclass
class DataSource:
    """`--dataset` and its options; `load(split)` returns that split in the common schema."""

    name: str = "synthetic"
    data_path: str | None = None
    loader_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    num_clips: int = 2000
    num_eval_clips: int = 500
    data_seed: int = 0

    def __post_init__(self):
        if self.name not in DATASET_NAMES:
            raise CliError(f"unknown --dataset {self.name!r}; choose one of {list(DATASET_NAMES)}.")
        if self.name != "synthetic" and not self.data_path:
            raise CliError(f"--dataset {self.name} needs --data_path (its local folder or Hub id).")
        self._whole: datasets.Dataset | None = None
        self._splits: dict[str, datasets.Dataset] = {}  # every upstream of a report reads the same clips once

    @property
    def dataset_id(self) -> str:
        """The dataset as a model card names it: the Hub id when `data_path` is one, else the loader name."""
        if self.data_path and not Path(self.data_path).expanduser().exists() and "/" in self.data_path:
            return self.data_path
        return self.name

    @property
    def dataset_config(self) -> str | None:
        if self.name == "synthetic":
            return json.dumps({"seed": self.data_seed, "num_clips": self.num_clips, "num_eval_clips": self.num_eval_clips, **self.loader_args}, sort_keys=True)
        return json.dumps(self.loader_args, sort_keys=True) if self.loader_args else None

    def cache_id(self, split: str) -> str:
        return "|".join([self.name, str(self.data_path), split, self.dataset_config or ""])

    def metadata(self, split: str) -> dict[str, Any]:
        return {"dataset": self.dataset_id, "dataset_config": self.dataset_config, "split": split}

    def load(self, split: str) -> datasets.Dataset:
        if split not in self._splits:
            self._splits[split] = self._load(split)
        return self._splits[split]

    def _load(self, split: str) -> datasets.Dataset:
        if self.name == "synthetic":
            fields = {f.name for f in dataclasses.fields(SyntheticSpeechConfig)}
            config = SyntheticSpeechConfig(**{k: v for k, v in self.loader_args.items() if k in fields})
            others = {k: v for k, v in self.loader_args.items() if k not in fields}
            size = self.num_clips if split == "train" else self.num_eval_clips
            if size < 1:
                raise CliError(f"the synthetic {split} split would be empty (size {size}); pass --num_clips / --num_eval_clips >= 1.")
            dataset = load_synthetic(num_clips=size, seed=self.data_seed, split=split, config=config, **others)
        elif self.name in SPLIT_LOADERS:
            dataset = load_dataset_by_name(self.name, self.data_path, split=split, **self.loader_args)
        else:
            dataset = self._random_split(split)
        if not isinstance(dataset, datasets.Dataset):
            raise CliError(f"--dataset {self.name} returned a {type(dataset).__name__}; evaluation needs an in-memory Dataset (drop streaming=true).")
        if len(dataset) == 0:
            raise ValueError(f"the {split} split of dataset {self.name!r} ({self.data_path}) has no clips; check --data_path and --loader_args.")
        return dataset

    def _random_split(self, split: str) -> datasets.Dataset:
        if self._whole is None:
            self._whole = load_dataset_by_name(self.name, self.data_path, **self.loader_args)
        whole = self._whole
        if RECORDING_COLUMN not in whole.column_names:
            raise ValueError(f"--dataset {self.name} has no {RECORDING_COLUMN!r} column to split by recording; columns: {whole.column_names}.")
        rows = recording_split(whole[RECORDING_COLUMN], self.data_seed, RANDOM_SPLIT)
        return whole.select(rows[SPLITS.index(split)])


def recording_split(recordings: Sequence[str], seed: int, proportions: Sequence[float] = RANDOM_SPLIT) -> list[np.ndarray]:
    """A seeded random split of whole recordings: row indices (sorted) of each part.

    Args:
        recordings: `(num_rows,)` the recording of each row; rows of one recording (its 1-s segments) land in one part,
            so no recording is heard in both train and test.
        proportions: the share of recordings per part (e.g. 0.8 / 0.1 / 0.1).

    Returns:
        One int64 index array per part.
    """
    names, codes = np.unique(np.asarray(recordings), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(names))
    bounds = np.round(np.cumsum((0.0, *proportions)) * len(names)).astype(int)
    part = np.full(len(names), -1, dtype=np.int64)
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        part[order[start:stop]] = index
    return [np.flatnonzero(part[codes] == index) for index in range(len(proportions))]


def known_rows(dataset: datasets.Dataset, columns: Sequence[str], split: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mask `(len(dataset),)` of rows whose `columns` are all known (ClassLabel -1 = unknown, e.g. a missing gender)
    and those columns' values on the kept rows."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(f"the {split} split has no column(s) {missing}; available: {dataset.column_names}.")
    values = {c: np.asarray(dataset[c]) for c in columns}
    known = np.ones(len(dataset), dtype=bool)
    for column, array in values.items():
        if isinstance(dataset.features[column], datasets.ClassLabel):
            known &= array >= 0
    if not known.any():
        raise ValueError(f"the {split} split has no clip with known {list(columns)}.")
    if not known.all():
        logger.warning("%s split: %d of %d clips have an unknown %s and are left out.", split, int((~known).sum()), len(dataset), "/".join(columns))
    return known, {c: a[known] for c, a in values.items()}


# ------------------------------------------------------------------------------------------------ runs
def run_probes(upstream: Upstream, source: DataSource, tasks: Sequence[str], fractions: Sequence[float], seeds: Sequence[int],
               steps: int, batch_size: int, device: str | None, cache_dir: Path | None) -> list[dict]:
    """Table 2 rows of one upstream: one probe result per task (column of the common schema)."""
    splits = {split: source.load(split) for split in SPLITS}
    embeddings = {split: upstream.embed(ds, source.cache_id(split), batch_size, device, cache_dir) for split, ds in splits.items()}
    results = []
    for column in tasks:
        arrays = {}
        for split, dataset in splits.items():
            known, values = known_rows(dataset, [column], split)
            arrays[split] = (embeddings[split][known], values[column])
        result = linear_probe(
            *arrays["train"], *arrays["validation"], *arrays["test"], fractions=fractions, seeds=seeds, steps=steps,
            device=device, model=upstream.name, task=PAPER_TASKS.get(column, column), metadata={**source.metadata("test"), "label_column": column, **upstream.metadata},
        )
        results.append(result)
    return results


def run_disentanglement(upstream: Upstream, source: DataSource, factors: Sequence[str], split: str, n_runs: int,
                        sample_size: int | None, seed: int, batch_size: int, device: str | None, cache_dir: Path | None) -> dict:
    """Table 3 row of one upstream: the metrics over `n_runs` subsamples of `split`'s embeddings."""
    dataset = source.load(split)
    embeddings = upstream.embed(dataset, source.cache_id(split), batch_size, device, cache_dir)
    known, values = known_rows(dataset, factors, split)
    return disentanglement_runs(
        embeddings[known], np.stack([values[f] for f in factors], axis=1), n_runs=n_runs, sample_size=sample_size, seed=seed,
        factor_names=[FACTOR_NAMES.get(f, f) for f in factors], model=upstream.name,
        metadata={**source.metadata(split), "factor_columns": list(factors), **upstream.metadata},
    )


def run_supervised(checkpoint: str, source: DataSource, tasks: Sequence[str], fractions: Sequence[float], seeds: Sequence[int],
                   max_steps: int, batch_size: int, learning_rate: float, device: str | None, default_front_end: bool = False) -> list[dict]:
    """The "Supervised" row: `checkpoint`'s architecture trained from scratch per task, fraction and seed."""
    config = _load_pretrained(BarlowSpeechConfig.from_pretrained, checkpoint, "config")
    extractor, front_end = load_feature_extractor(checkpoint, default_front_end)
    splits = {split: source.load(split) for split in SPLITS}
    results = []
    for column in tasks:
        kept = {split: ds.select(np.flatnonzero(known_rows(ds, [column], split)[0])) for split, ds in splits.items()}
        results.append(supervised_baseline(
            config, extractor, kept["train"], kept["validation"], kept["test"], column, fractions=fractions, seeds=seeds,
            max_steps=max_steps, batch_size=batch_size, learning_rate=learning_rate, device=device,
            task=PAPER_TASKS.get(column, column), metadata={**source.metadata("test"), "upstream": f"supervised:{checkpoint}", "front_end": front_end},
        ))
    return results


@torch.no_grad()
def cross_correlations(checkpoint: str, dataset: datasets.Dataset, num_clips: int = 256, seed: int = 0, device: str | None = None,
                       default_front_end: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 3: C `(latent, latent)` of the two views' latents for the untrained and the trained pretraining model.

    Both models see the same two augmented views (seeded) of the first `num_clips` clips; the untrained model is the
    checkpoint's architecture with fresh weights (`random_init_model(config, seed)`).
    """
    from ..training.augment import TwoViewAugmentation, TwoViewAugmentationConfig

    trained, info = _load_pretrained(BarlowSpeechForPreTraining.from_pretrained, checkpoint, "pretraining model", output_loading_info=True)
    if any(key.startswith("projector") for key in info["missing_keys"]):
        raise ValueError(f"{checkpoint!r} has no projector weights; the cross-correlation heatmap needs a pretraining checkpoint (BarlowSpeechForPreTraining).")
    extractor, _ = load_feature_extractor(checkpoint, default_front_end)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    count = min(num_clips, len(dataset))
    if count < 2:
        raise ValueError(f"the cross-correlation needs >= 2 clips, the dataset has {len(dataset)}.")
    length = extractor.segment_samples
    waveforms = torch.zeros(count, length)
    for i, audio in enumerate(dataset.select(range(count))["audio"]):
        clip = torch.as_tensor(np.asarray(audio["array"], dtype=np.float32))[:length]
        waveforms[i, : clip.numel()] = clip
    augmentation = TwoViewAugmentation(TwoViewAugmentationConfig(seed=seed)).to(device)
    view_a, view_b = augmentation(waveforms.to(device), extractor.spectrogram)
    untrained = random_init_model(trained.config, seed, BarlowSpeechForPreTraining)
    return tuple(
        model.to(device).eval()(view_a, view_b, return_cross_correlation=True, distributed=False).cross_correlation.cpu().numpy()
        for model in (untrained, trained)
    )


# ------------------------------------------------------------------------------------------------ arguments
def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", required=True, help=f"checkpoint folder or Hub id, '{RANDOM_INIT_PREFIX}<checkpoint>', or '{LOGMEL}'.")
    group.add_argument("--model_name", default=None, help="name of the row in the tables (default: the checkpoint's folder name).")
    group.add_argument("--random_init", action="store_true", help="the checkpoint's architecture with fresh weights (random-init baseline).")
    group.add_argument("--init_seed", type=int, default=0, help="seed of the random-init weights.")
    _add_front_end_argument(parser)


def _add_front_end_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--default_front_end", action="store_true",
                        help=f"use the default front end {DEFAULT_FRONT_END} for checkpoints without a preprocessor_config.json "
                             "(otherwise an error); recorded as front_end in the results.")


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default="synthetic", help=f"one of {list(DATASET_NAMES)}.")
    group.add_argument("--data_path", default=None, help="the dataset's local folder or Hub id (not needed for synthetic).")
    group.add_argument("--loader_args", nargs="*", default=[], metavar="KEY=VALUE",
                       help="extra loader arguments (synthetic: SyntheticSpeechConfig fields such as num_speakers=16).")
    group.add_argument("--num_clips", type=int, default=2000, help="synthetic: clips of the train split.")
    group.add_argument("--num_eval_clips", type=int, default=500, help="synthetic: clips of the validation and test splits.")
    group.add_argument("--data_seed", type=int, default=0, help="synthetic clip seed / random split seed.")


def _add_run_arguments(parser: argparse.ArgumentParser, output_help: str) -> None:
    parser.add_argument("--output_dir", required=True, help=output_help)
    parser.add_argument("--device", default=None, help="'cpu', 'cuda', 'cuda:1', ... (default: CUDA when available).")
    parser.add_argument("--batch_size", type=int, default=64, help="clips per forward pass when embedding.")
    parser.add_argument("--cache_dir", default=None, help="embedding cache (default: <output_dir>/embeddings).")


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("linear probe (Table 2)")
    group.add_argument("--tasks", nargs="+", default=list(PAPER_TASKS), help="label columns, one probe each (paper: speaker_id gender word emotion).")
    group.add_argument("--fractions", nargs="+", type=float, default=list(PAPER_FRACTIONS), help="label fractions (paper: 0.05 0.1 0.5 1).")
    group.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per fraction (paper: 50).")
    group.add_argument("--probe_steps", type=int, default=300, help="the most L-BFGS iterations of each probe.")


def _add_disentangle_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("disentanglement (Table 3)")
    group.add_argument("--factors", nargs="+", default=list(PAPER_FACTORS), help="factor columns (paper: accent, identity, gender).")
    group.add_argument("--split", default="test", choices=SPLITS, help="split whose embeddings are measured.")
    group.add_argument("--n_runs", type=int, default=50, help="random subsamples (paper: 50).")
    group.add_argument("--sample_size", type=int, default=None, help="clips per subsample (default: half of the split).")
    group.add_argument("--disentangle_seed", type=int, default=0, help="seed of the subsamples.")


def _source(args: argparse.Namespace) -> DataSource:
    return DataSource(args.dataset, args.data_path, _parse_loader_args(args.loader_args), args.num_clips, args.num_eval_clips, args.data_seed)


def _cache_dir(args: argparse.Namespace) -> Path:
    return Path(args.cache_dir) if args.cache_dir else Path(args.output_dir) / "embeddings"


def _write_json(path: Path, payload: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1))
    logger.info("wrote %s", path)
    return path


def _check_runs(args: argparse.Namespace) -> None:
    if getattr(args, "seeds", 1) < 1 or getattr(args, "n_runs", 1) < 1:
        raise CliError("--seeds and --n_runs must be >= 1.")


def _main(prog: str, build: Callable[[argparse.ArgumentParser], None], run: Callable[[argparse.Namespace], Any], argv: Sequence[str] | None) -> int:
    """Parse and run; `barlow_speech.cli` turns a bad input (ValueError / FileNotFoundError) into one stderr line."""
    parser = argparse.ArgumentParser(prog=f"barlow-speech {prog}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _check_runs(args)
    for path in run(args):
        print(path)
    return 0


# ------------------------------------------------------------------------------------------------ commands
def _probe(args: argparse.Namespace) -> list[Path]:
    upstream = load_upstream(args.model, args.random_init, args.init_seed, args.model_name, args.default_front_end)
    results = run_probes(upstream, _source(args), args.tasks, args.fractions, range(args.seeds), args.probe_steps, args.batch_size, args.device, _cache_dir(args))
    return [_write_json(Path(args.output_dir) / f"probe_{_slug(upstream.name)}.json", results)]


def probe_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech probe`: linear evaluation at label fractions; writes `<output_dir>/probe_<model>.json` (a list, one per task)."""
    def build(parser):
        _add_model_arguments(parser)
        _add_data_arguments(parser)
        _add_probe_arguments(parser)
        _add_run_arguments(parser, "where probe_<model>.json and the embedding cache go.")

    return _main("probe", build, _probe, argv)


def _disentangle(args: argparse.Namespace) -> list[Path]:
    upstream = load_upstream(args.model, args.random_init, args.init_seed, args.model_name, args.default_front_end)
    result = run_disentanglement(upstream, _source(args), args.factors, args.split, args.n_runs, args.sample_size, args.disentangle_seed,
                                 args.batch_size, args.device, _cache_dir(args))
    return [_write_json(Path(args.output_dir) / f"disentanglement_{_slug(upstream.name)}.json", result)]


def disentangle_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech disentangle`: MIG, SAP, DCIMIG, JEMMIG, modularity over runs; writes `disentanglement_<model>.json`."""
    def build(parser):
        _add_model_arguments(parser)
        _add_data_arguments(parser)
        _add_disentangle_arguments(parser)
        _add_run_arguments(parser, "where disentanglement_<model>.json and the embedding cache go.")

    return _main("disentangle", build, _disentangle, argv)


def _report(args: argparse.Namespace) -> list[Path]:
    if not args.results and not args.models:
        raise CliError("nothing to report: pass --results JSON files and/or --models to evaluate.")
    if args.model_names and len(args.model_names) != len(args.models):
        raise CliError(f"--model_names has {len(args.model_names)} names for {len(args.models)} --models.")
    output_dir = Path(args.output_dir)
    probes, disentanglement = load_results(args.results)
    source = _source(args) if args.models or args.supervised or args.pretraining_checkpoint else None
    for index, spec in enumerate(args.models):
        upstream = load_upstream(spec, init_seed=args.init_seed, name=args.model_names[index] if args.model_names else None,
                                 default_front_end=args.default_front_end)
        probe_results = run_probes(upstream, source, args.tasks, args.fractions, range(args.seeds), args.probe_steps, args.batch_size, args.device, _cache_dir(args))
        _write_json(output_dir / f"probe_{_slug(upstream.name)}.json", probe_results)
        probes += probe_results
        result = run_disentanglement(upstream, source, args.factors, args.split, args.n_runs, args.sample_size, args.disentangle_seed,
                                     args.batch_size, args.device, _cache_dir(args))
        _write_json(output_dir / f"disentanglement_{_slug(upstream.name)}.json", result)
        disentanglement.append(result)
    if args.supervised:
        checkpoint = args.supervised_checkpoint or next((m for m in args.models if m != LOGMEL), None)
        if checkpoint is None:
            raise CliError("--supervised needs the architecture: pass --supervised_checkpoint or a checkpoint in --models.")
        checkpoint = checkpoint.removeprefix(RANDOM_INIT_PREFIX)
        supervised = run_supervised(checkpoint, source, args.tasks, args.fractions, range(args.seeds), args.supervised_steps,
                                    args.supervised_batch_size, args.supervised_learning_rate, args.device, args.default_front_end)
        _write_json(output_dir / "probe_Supervised.json", supervised)
        probes += supervised
    figures = []
    if probes:
        figures.append(plot_accuracy_vs_fraction(probes, output_dir / "accuracy_vs_fraction.png"))
        fraction = args.boxplot_fraction if args.boxplot_fraction is not None else min(e["fraction"] for r in probes for e in r["fractions"].values())
        runs = {}
        for result in probes:
            entry = next((e for e in result["fractions"].values() if np.isclose(e["fraction"], fraction)), None)
            if entry is not None:
                runs.setdefault(f"{result['task']} ({100 * fraction:g} % labels)", {})[result["model"]] = entry["runs"]
        if runs:
            figures.append(plot_run_boxplots(runs, output_dir / "runs_boxplot.png"))
    if args.pretraining_checkpoint:
        untrained, trained = cross_correlations(args.pretraining_checkpoint, source.load(args.split), args.heatmap_clips, args.init_seed, args.device,
                                               args.default_front_end)
        figures.append(plot_cross_correlation(untrained, trained, output_dir / "cross_correlation.png"))
    return [write_report(output_dir, probes, disentanglement, figures, html_too=args.html), *figures]


def report_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech report`: Table 2, Table 3 and the figures into `<output_dir>/report.md` (+ PNGs, optional HTML)."""
    def build(parser):
        parser.add_argument("--results", nargs="*", default=[], help="probe / disentanglement result JSON files to include.")
        parser.add_argument("--models", nargs="*", default=[], help=f"upstreams to probe and measure: checkpoints, '{RANDOM_INIT_PREFIX}<checkpoint>', '{LOGMEL}'.")
        parser.add_argument("--model_names", nargs="*", default=None, help="row names of --models, in order.")
        parser.add_argument("--init_seed", type=int, default=0, help="seed of random-init weights (baseline rows and the untrained heatmap).")
        _add_front_end_argument(parser)
        parser.add_argument("--supervised", action="store_true", help="add the Supervised row (architecture trained from scratch with Trainer).")
        parser.add_argument("--supervised_checkpoint", default=None, help="architecture of the Supervised row (default: the first checkpoint of --models).")
        parser.add_argument("--supervised_steps", type=int, default=1000, help="Trainer max_steps per supervised run.")
        parser.add_argument("--supervised_batch_size", type=int, default=32)
        parser.add_argument("--supervised_learning_rate", type=float, default=1e-3)
        parser.add_argument("--pretraining_checkpoint", default=None, help="draw the Fig. 3 heatmap: this BarlowSpeechForPreTraining checkpoint vs its random init.")
        parser.add_argument("--heatmap_clips", type=int, default=256, help="clips (batch) of the cross-correlation matrices.")
        parser.add_argument("--boxplot_fraction", type=float, default=None, help="label fraction of the box plots (default: the smallest).")
        parser.add_argument("--html", action="store_true", help="also write report.html.")
        _add_data_arguments(parser)
        _add_probe_arguments(parser)
        _add_disentangle_arguments(parser)
        _add_run_arguments(parser, "where report.md, the figures, the result JSON and the embedding cache go.")

    return _main("report", build, _report, argv)
