"""Decode a dataset once and cache its 1-s segments, so pretraining reads arrays instead of decoding.

Cache layout (`output_dir/`):
    segments.f32     float32 memmap of shape (n_segments, segment_samples)
    metadata.parquet one row per segment: the schema's columns except audio, plus `segment_start`
    index.json       shape, dtype, sampling rate, segment config, features and the source

`CachedSegments(output_dir)` is a torch `Dataset` over it; `barlow-speech prepare` runs `prepare`.

The cache is written into a hidden sibling folder (`.<name>.partial-<pid>`, marked by a `PARTIAL` file until it is
complete) and renamed into place at the end, so an interrupted run leaves the previous cache as it was and no half
cache that `CachedSegments` would read: it refuses a folder that still holds the marker.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.utils import logging

from ..arguments import CommandParser
from .audio import SAMPLING_RATE, SegmentConfig, segment_waveform
from .registry import DATASET_NAMES, parse_loader_args

logger = logging.get_logger(__name__)

SEGMENTS_FILE, METADATA_FILE, INDEX_FILE = "segments.f32", "metadata.parquet", "index.json"
PARTIAL_MARKER = "PARTIAL"  # in a cache folder that is still being written (or whose writer was killed)
FORMAT_VERSION = 1


def _iter_segments(dataset, segment: SegmentConfig):
    """(segment array (length,), metadata dict) pairs; already-segmented datasets pass through."""
    pre_segmented = "segment_start" in (dataset.column_names or [])
    length, _ = segment.samples()
    for example in dataset:
        audio = example.pop("audio")
        wave = np.asarray(audio["array"], dtype=np.float32)
        if pre_segmented:
            if wave.shape[0] != length:
                raise ValueError(
                    f"{example['path']}: cached segments must have {length} samples, got {wave.shape[0]}."
                )
            yield wave, example
            continue
        pieces, starts = segment_waveform(wave, segment)
        for piece, start in zip(pieces, starts):
            yield piece, {**example, "segment_start": int(start)}


def prepare(
    dataset: datasets.Dataset | datasets.IterableDataset,
    output_dir: str | os.PathLike,
    segment: SegmentConfig | None = None,
    source: dict[str, Any] | None = None,
) -> Path:
    """Write `dataset`'s segments to a float32 memmap + metadata in `output_dir`; returns `output_dir`.

    `dataset` is any loader's output (whole recordings are cut with `segment`, default `SegmentConfig()`; segmented
    ones are copied). The memmap is written incrementally, so memory stays flat for large corpora. The cache is
    written beside `output_dir` and renamed into place when complete: a cache already there is replaced only then,
    and an error (or a kill) midway leaves it as it was. A non-empty `output_dir` that is not a cache is refused.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not (output_dir / INDEX_FILE).is_file():
        if not output_dir.is_dir() or any(output_dir.iterdir()):
            raise ValueError(
                f"{output_dir} is not an empty folder nor a segment cache ({INDEX_FILE}); prepare replaces its output "
                "folder, so choose a new or empty one."
            )
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = output_dir.with_name(f".{output_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    (partial / PARTIAL_MARKER).write_text("an interrupted `barlow-speech prepare` left this folder: delete it.\n")
    try:
        count = _write_cache(dataset, partial, segment or SegmentConfig(), source)
        (partial / PARTIAL_MARKER).unlink()
        _replace(output_dir, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    logger.info(f"cached {count} segments in {output_dir}")
    return output_dir


def _replace(output_dir: Path, complete: Path) -> None:
    """Rename the `complete` cache folder to `output_dir`, removing the cache (or empty folder) it replaces."""
    if not output_dir.exists():
        complete.rename(output_dir)
        return
    replaced = output_dir.with_name(f".{output_dir.name}.replaced-{os.getpid()}")
    output_dir.rename(replaced)
    complete.rename(output_dir)
    shutil.rmtree(replaced)


def _write_cache(dataset, output_dir: Path, segment: SegmentConfig, source: dict[str, Any] | None) -> int:
    """The cache's three files in `output_dir`, `index.json` last; returns the number of segments."""
    features = dataset.features
    if features is None or "audio" not in features:
        raise ValueError(
            "prepare needs a dataset in the common schema (an 'audio' column); use a barlow_speech.data loader."
        )
    meta_features = datasets.Features({k: v for k, v in features.items() if k != "audio"})
    if "segment_start" not in meta_features:
        meta_features["segment_start"] = datasets.Value("int64")
    columns: dict[str, list] = {name: [] for name in meta_features}
    length, _ = segment.samples()
    with open(output_dir / SEGMENTS_FILE, "wb") as out:
        for piece, meta in tqdm(_iter_segments(dataset, segment), desc="caching segments", unit="seg"):
            out.write(np.ascontiguousarray(piece, dtype=np.float32).tobytes())
            for name in columns:
                columns[name].append(meta[name])
    n = len(columns["segment_start"])
    if n == 0:
        raise ValueError(
            f"the dataset produced no segments of {length} samples; check the data and the segment settings."
        )
    datasets.Dataset.from_dict(columns, features=meta_features).to_parquet(str(output_dir / METADATA_FILE))
    index = {
        "format_version": FORMAT_VERSION,
        "shape": [n, length],
        "dtype": "float32",
        "sampling_rate": SAMPLING_RATE,
        "segment": dataclasses.asdict(segment),
        "features": meta_features.to_dict(),
        "source": source or {},
    }
    (output_dir / INDEX_FILE).write_text(json.dumps(index, indent=1))
    return n


class CachedSegments(torch.utils.data.Dataset):
    """Random access to cached segments: `ds[i]` -> {"input_values": (length,) float32 tensor,
    "label", "speaker_id", "gender" (ints), "index"}; `ds.metadata` is the per-segment table.

    >>> ds = CachedSegments("cache/ls100")
    >>> ds[0]["input_values"].shape
    torch.Size([16000])
    """

    def __init__(self, directory: str | os.PathLike):
        directory = Path(directory)
        index_file = directory / INDEX_FILE
        if (directory / PARTIAL_MARKER).exists():
            raise ValueError(
                f"{directory} is a cache that `barlow-speech prepare` was still writing when it stopped; delete it "
                "and load the finished cache (or run prepare again)."
            )
        if not index_file.is_file():
            raise FileNotFoundError(
                f"{directory} holds no segment cache ({INDEX_FILE} missing); run `barlow-speech prepare` first."
            )
        self.index = json.loads(index_file.read_text())
        if self.index.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory}: cache format {self.index.get('format_version')}, expected {FORMAT_VERSION}; "
                "re-run prepare."
            )
        shape = tuple(self.index["shape"])
        self.segments = np.memmap(directory / SEGMENTS_FILE, dtype=self.index["dtype"], mode="r", shape=shape)
        self.metadata = datasets.Dataset.from_parquet(
            str(directory / METADATA_FILE), features=datasets.Features.from_dict(self.index["features"])
        )
        self._labels = {
            name: np.asarray(self.metadata[name], dtype=np.int64) for name in ("label", "speaker_id", "gender")
        }

    def __len__(self) -> int:
        return self.segments.shape[0]

    @property
    def label_names(self) -> list[str]:
        return self.metadata.features["label"].names

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {"input_values": torch.from_numpy(np.array(self.segments[i])), "index": int(i)}
        item.update({name: int(values[i]) for name, values in self._labels.items()})
        return item

    def get_batch(self, indices: Sequence[int]) -> torch.Tensor:
        """Segments `indices` as one `(batch, length)` float32 tensor (one fancy-indexed read)."""
        return torch.from_numpy(np.asarray(self.segments[np.sort(np.asarray(indices))]))


@dataclass(kw_only=True)
class PrepareArguments:
    """The dataset to decode, how to cut it, and where the cache goes."""

    _argument_group_name = "prepare"
    name: str = field(metadata={"positional": True, "choices": DATASET_NAMES, "help": "dataset loader."})
    source: str = field(
        metadata={"positional": True, "help": "dataset root folder or Hub dataset id ('-' for synthetic)."}
    )
    output_dir: str = field(
        metadata={"positional": True, "help": "where segments.f32, metadata.parquet and index.json go."}
    )
    subset: str | None = field(default=None, metadata={"help": "LibriSpeech subset, e.g. train-clean-100."})
    split: str | None = field(default=None, metadata={"help": "split to cache (train/validation/test/...)."})
    length_s: float = field(default=1.0, metadata={"help": "segment length in seconds (paper: 1 s)."})
    hop_s: float | None = field(default=None, metadata={"help": "hop between segments (default: no overlap)."})
    drop_last: bool = field(default=False, metadata={"help": "drop the last short piece instead of zero-padding it."})
    min_voiced_fraction: float = field(default=0.0, metadata={"help": "drop segments with less voiced audio."})
    streaming: bool = field(
        default=False, metadata={"help": "decode on the fly instead of building an Arrow copy first."}
    )
    loader_args: list[str] = field(
        default_factory=list,
        metadata={"action": "extend", "metavar": "KEY=VALUE", "help": "extra loader keyword arguments."},
    )

    def segment_config(self) -> SegmentConfig:
        return SegmentConfig(self.length_s, self.hop_s, not self.drop_last, self.min_voiced_fraction)


def main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech prepare NAME SOURCE OUTPUT_DIR [options]`."""
    from . import load_dataset_by_name

    parser = CommandParser(
        [PrepareArguments], "prepare", __doc__.split("\n\n")[0], renamed={"loader-arg": "loader_args"}
    )
    (args,) = parser.parse(sys.argv[1:] if argv is None else argv)
    segment = args.segment_config()
    kwargs = parse_loader_args(args.loader_args)
    kwargs.update({k: v for k, v in (("subset", args.subset), ("split", args.split)) if v is not None})
    if args.name == "synthetic":  # generated, no source folder
        dataset = load_dataset_by_name(args.name, **kwargs)
    else:
        dataset = load_dataset_by_name(args.name, args.source, streaming=args.streaming, segment=segment, **kwargs)
    prepare(
        dataset,
        args.output_dir,
        segment,
        source={"name": args.name, "source": args.source, **{k: str(v) for k, v in kwargs.items()}},
    )
    return 0
