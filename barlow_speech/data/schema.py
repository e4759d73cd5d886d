"""The one schema every loader returns, so probes and pretraining never special-case a dataset.

Columns (README, "Datasets"):
    audio       {"array": float32 (samples,) at 16 kHz mono, "sampling_rate": 16000}
    path        source file (or a synthetic id)
    speaker_id  speaker identity, ClassLabel
    gender      ClassLabel(["female", "male"]); "unknown" is not a class: loaders without it use -1
    label       the dataset's task label, ClassLabel
plus dataset-specific metadata columns (accent, emotion, word, chapter, split, ...).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
from transformers.utils import logging

from ..data_collator import waveform_of
from .audio import (
    AUDIO_EXTENSIONS,
    SAMPLING_RATE,
    AudioDecodeError,
    BadFiles,
    SegmentConfig,
    decode_audio,
    segment_waveform,
)

logger = logging.get_logger(__name__)

GENDERS = ("female", "male")


def audio_feature() -> dict:
    """Decoded-audio feature: the same access pattern as `datasets.Audio` (`ex["audio"]["array"]`)
    without importing torchcodec."""
    return {"array": datasets.Sequence(datasets.Value("float32")), "sampling_rate": datasets.Value("int32")}


def iter_clips(
    dataset: datasets.Dataset,
    sampling_rate: int | None = SAMPLING_RATE,
    chunk_rows: int = 1024,
    rows: Sequence[int] | None = None,
) -> Iterator[np.ndarray]:
    """The clips of a common-schema dataset as float32 arrays `(samples,)`, in row order, `chunk_rows` at a time.

    Read from the Arrow column, one copy per chunk (~1,000x faster than a row-by-row read through Python lists;
    benchmarks/dataset_reading.py); an `audio` column of another form (e.g. bare arrays) is read row by row. `rows`
    reads only those rows, in that order (errors name a clip by its row in `dataset`). With `sampling_rate`, a clip
    at another rate is an error.
    """
    if "audio" not in dataset.column_names:
        raise ValueError(
            f"the dataset has no 'audio' column (columns: {dataset.column_names}); use the common schema."
        )
    audio = dataset.select_columns(["audio"])
    names = range(len(audio)) if rows is None else [int(row) for row in rows]
    if rows is not None:
        audio = audio.select(names)
    table = audio.with_format("arrow")
    for first in range(0, len(audio), chunk_rows):
        chunk = range(first, min(first + chunk_rows, len(audio)))
        column = table[chunk.start : chunk.stop].column("audio").combine_chunks()
        fields = dict(zip([f.name for f in column.type], column.flatten())) if pa.types.is_struct(column.type) else {}
        arrays = fields.get("array")
        flat = (
            arrays is not None
            and (pa.types.is_list(arrays.type) or pa.types.is_large_list(arrays.type))
            and pa.types.is_floating(arrays.type.value_type)
            and column.null_count == 0
            and arrays.null_count == 0
        )  # otherwise (multi-channel, missing clips, other forms) row by row, which names the problem
        if flat:  # flatten applied the slice's offset
            offsets = arrays.offsets.to_numpy()
            values = arrays.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]].astype(np.float32)
            clips = np.split(values, offsets[1:-1] - offsets[0])
            rates = fields["sampling_rate"].to_pylist() if "sampling_rate" in fields else [None] * len(clips)
        else:
            clips, rates = [], []
            for position, value in zip(chunk, audio[chunk.start : chunk.stop]["audio"]):
                if value is None:
                    raise ValueError(f"clip {names[position]} has no audio (None); drop the row or fill it.")
                if isinstance(value, dict) and value.get("array") is None:
                    raise ValueError(
                        f"clip {names[position]} is not decoded audio (keys {sorted(value)}); load the dataset with "
                        "a barlow_speech loader, which decodes into the common schema."
                    )
                clips.append(waveform_of({"audio": value}))
                if clips[-1].ndim != 1:
                    raise ValueError(
                        f"clip {names[position]} has shape {clips[-1].shape}; downmix to mono (samples,) first."
                    )
                rates.append(value.get("sampling_rate") if isinstance(value, dict) else None)
        for position, clip, rate in zip(chunk, clips, rates):
            if sampling_rate is not None and rate is not None and rate != sampling_rate:
                raise ValueError(
                    f"example {names[position]} is sampled at {rate} Hz but {sampling_rate} Hz is expected; load the "
                    f"dataset with a barlow_speech loader (they resample) or resample to {sampling_rate} Hz."
                )
            yield clip


def clip_arrays(
    dataset: datasets.Dataset, sampling_rate: int | None = SAMPLING_RATE, rows: Sequence[int] | None = None
) -> list[np.ndarray]:
    """Every clip (or those of `rows`) of a common-schema dataset in memory (`iter_clips`), for random access."""
    return list(iter_clips(dataset, sampling_rate, rows=rows))


def common_features(
    label_names: Sequence[str],
    speaker_names: Sequence[str],
    extra: Mapping[str, datasets.features.FeatureType] | None = None,
) -> datasets.Features:
    """Features of the common schema; `extra` adds dataset-specific metadata columns."""
    features = {
        "audio": audio_feature(),
        "path": datasets.Value("string"),
        "speaker_id": datasets.ClassLabel(names=list(speaker_names)),
        "gender": datasets.ClassLabel(names=list(GENDERS)),
        "label": datasets.ClassLabel(names=list(label_names)),
    }
    overlap = set(features) & set(extra or {})
    if overlap:
        raise ValueError(f"extra columns {sorted(overlap)} clash with the common schema; rename them.")
    features.update(extra or {})
    return datasets.Features(features)


def arrow_table(waveforms: np.ndarray, columns: Mapping[str, pa.Array], features: datasets.Features) -> pa.Table:
    """A common-schema table of `features` for generated corpora: the `audio` column of `(clips, samples)` float32
    waveforms at `SAMPLING_RATE`, built from the matrix without a copy per clip, beside the other `columns`."""
    n, samples = waveforms.shape
    arrays = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32) * samples), pa.array(waveforms.reshape(-1))
    )
    audio = pa.StructArray.from_arrays(
        [arrays, pa.array(np.full(n, SAMPLING_RATE, dtype=np.int32))], names=["array", "sampling_rate"]
    )
    return pa.Table.from_pydict({"audio": audio, **columns}).select(list(features)).cast(features.arrow_schema)


# ----------------------------------------------------------------------------------------------
# Building datasets in the common schema. A loader scans its tree into `records` (one dict per
# file: "path", "speaker_id", "gender", "label" and its metadata columns); these helpers decode,
# resample and optionally segment them into an eager `Dataset` or a streaming `IterableDataset`.
# ----------------------------------------------------------------------------------------------

Record = dict[str, Any]


def gender_index(gender: str | None) -> int:
    """'female'/'f' -> 0, 'male'/'m' -> 1, unknown (None, '') -> -1 (ClassLabel's "no label")."""
    if not gender:
        return -1
    g = str(gender).strip().lower()
    for index, name in enumerate(GENDERS):
        if g in (name, name[0]):
            return index
    raise ValueError(f"unknown gender {gender!r}; expected one of {GENDERS} (or 'f'/'m').")


def resolve_segment(segment: SegmentConfig | bool | None) -> SegmentConfig | None:
    """`True` -> the default 1-s `SegmentConfig`; `False`/`None` -> whole recordings."""
    if segment is True:
        return SegmentConfig()
    if segment is False or segment is None:
        return None
    if not isinstance(segment, SegmentConfig):
        raise ValueError(f"segment must be a SegmentConfig, True or None, got {type(segment).__name__}.")
    return segment


def with_segment_column(features: datasets.Features, segment: SegmentConfig | None) -> datasets.Features:
    """Adds `segment_start` (offset in samples into the source recording) when segmenting."""
    if segment is None:
        return features
    return datasets.Features({**features, "segment_start": datasets.Value("int64")})


def examples_from_wave(wave, meta: Mapping[str, Any], segment: SegmentConfig | None) -> Iterator[dict]:
    """One example per recording, or one per segment with its `segment_start`."""
    if segment is None:
        yield {**meta, "audio": {"array": wave, "sampling_rate": SAMPLING_RATE}}
        return
    pieces, starts = segment_waveform(wave, segment)
    for piece, start in zip(pieces, starts):
        yield {**meta, "audio": {"array": piece, "sampling_rate": SAMPLING_RATE}, "segment_start": int(start)}


def record_examples(record: Record, segment: SegmentConfig | None) -> list[dict]:
    """The schema examples of one record; `AudioDecodeError` when its file is unusable or gives none.

    A record's private key `_crop` = (start, stop) keeps only those samples (at 16 kHz).
    """
    wave = decode_audio(record["path"])
    if "_crop" in record:
        start, stop = record["_crop"]
        wave = wave[start:stop]
    meta = {key: value for key, value in record.items() if not key.startswith("_")}
    examples = list(examples_from_wave(wave, meta, segment))
    if not examples:
        raise AudioDecodeError(
            f"{record['path']}: its {wave.shape[0] / SAMPLING_RATE:.2f} s give no segment with {segment} "
            "(shorter than one segment with pad_last=False, or below min_voiced_fraction); relax the segment "
            "settings to keep it."
        )
    return examples


def _usable_examples(records: Sequence[Record], segment: SegmentConfig | None, bad: BadFiles | None) -> Iterator[dict]:
    """Examples of `records` in order; a file that cannot be used is skipped and added to `bad` (once)."""
    failed = set()
    for record in records:
        if record["path"] in failed:  # several records may crop one file
            continue
        try:
            examples = record_examples(record, segment)
        except AudioDecodeError as err:
            failed.add(record["path"])
            if bad is not None:
                bad.add(record["path"], str(err))
            continue
        yield from examples


def _finish_report(
    bad: BadFiles, records: Sequence[Record], rejected: Sequence[tuple[str, str]], produced: bool
) -> None:
    """Log the bad-file summary, or raise the "no usable clips" error when no file gave an example."""
    paths = {r["path"] for r in records}
    total = len(paths) + len(rejected)
    if not produced:
        folder = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in [*paths, *(p for p, _ in rejected)]])
        raise bad.no_usable_audio(repr(folder), total)
    bad.log_summary(total=total)


def generate_examples(
    records: Sequence[Record],
    segment: SegmentConfig | None,
    dataset_name: str,
    rejected: Sequence[tuple[str, str]] = (),
) -> Iterator[dict]:
    """The streaming generator: decode `records` in order, report and skip unusable files (and the scan's
    `rejected` (path, reason) pairs), log a summary at the end; raise when no file gave an example."""
    bad = BadFiles(dataset_name)
    for path, reason in rejected:
        bad.add(path, reason)
    produced = False
    for example in _usable_examples(records, segment, bad):
        produced = True
        yield example
    _finish_report(bad, records, rejected, produced)


class _NoExamples(Exception):
    """Raised by the eager generator when no file gave an example; `build_dataset` then says why."""


def _generate_unreported(records: Sequence[Record], segment: SegmentConfig | None, cache_key: Any) -> Iterator[dict]:
    """The eager generator: skips unusable files silently, because a load answered from the `datasets` cache
    never runs it; `build_dataset` reports them on every load instead.

    `cache_key` (file sizes and mtimes) is unused here: it is part of the generator's arguments so that
    `datasets` regenerates its cache when a file changes.
    """
    produced = False
    for example in _usable_examples(records, segment, None):
        produced = True
        yield example
    if not produced:
        raise _NoExamples


def _report_skipped_files(
    records: Sequence[Record],
    rejected: Sequence[tuple[str, str]],
    kept_paths: set[str],
    segment: SegmentConfig | None,
    dataset_name: str,
) -> None:
    """Report the files of `records` that gave no example (re-decoding only those, to say why) and the scan's
    `rejected` ones, as a generating load would; raise the "no usable clips" error when no file gave one."""
    bad = BadFiles(dataset_name)
    for path, reason in rejected:
        bad.add(path, reason)
    missing = [r for r in records if r["path"] not in kept_paths]
    for path in dict.fromkeys(example["path"] for example in _usable_examples(missing, segment, bad)):
        bad.add(path, "decodes now but is missing from the cached dataset; delete the cache_dir to rebuild it.")
    _finish_report(bad, records, rejected, produced=bool(kept_paths))


def file_stats(paths: Sequence[str]) -> list[tuple[int, int]]:
    """(size, mtime_ns) per file: the cache key of a generated dataset."""
    stats = [os.stat(p) for p in paths]
    return [(s.st_size, s.st_mtime_ns) for s in stats]


def build_dataset(
    records: Sequence[Record],
    features: datasets.Features,
    *,
    dataset_name: str,
    segment: SegmentConfig | bool | None = None,
    streaming: bool = False,
    cache_dir: str | None = None,
    rejected: Sequence[tuple[str, str]] = (),
) -> datasets.Dataset | datasets.IterableDataset:
    """Decode `records` into the common schema, eagerly (Arrow cache) or as a stream.

    Both modes run the same decoding, so a stream yields the same examples in the same order.
    Audio: `ex["audio"]["array"]` float32 `(samples,)` at 16 kHz, `(length,)` when segmented.
    `rejected` holds (path, reason) pairs of files the scan found but could not use (a bad name);
    they are reported and counted with the undecodable ones, on every load, cached or not. When no
    file gives an example, a ValueError names the folder and lists the bad files.
    """
    segment = resolve_segment(segment)
    features = with_segment_column(features, segment)
    # Tuples, not lists: `datasets` splits list arguments into one generator call per item,
    # which would break the one-summary-per-dataset bad-file report.
    records, rejected = tuple(records), tuple(map(tuple, rejected))
    if streaming:
        gen_kwargs = {"records": records, "segment": segment, "dataset_name": dataset_name, "rejected": rejected}
        return datasets.IterableDataset.from_generator(generate_examples, features=features, gen_kwargs=gen_kwargs)
    gen_kwargs = {"records": records, "segment": segment, "cache_key": tuple(file_stats([r["path"] for r in records]))}
    try:
        ds = datasets.Dataset.from_generator(
            _generate_unreported, features=features, gen_kwargs=gen_kwargs, cache_dir=cache_dir
        )
    except datasets.exceptions.DatasetGenerationError as err:
        if not isinstance(err.__cause__, _NoExamples):
            raise
        ds = None
    kept_paths = set(ds.unique("path")) if ds is not None else set()
    _report_skipped_files(records, rejected, kept_paths, segment, dataset_name)
    return ds


def _hub_audio_source(audio: Mapping[str, Any] | None) -> bytes | str | None:
    if not audio:
        return None
    return audio.get("bytes") or audio.get("path")


def _convert_hub_row(
    row: dict, convert: Callable[[dict], Record | None], segment: SegmentConfig | None, bad: BadFiles
) -> Iterator[dict]:
    """The schema examples of one Hub row (none when `convert` skips it or its audio is unusable)."""
    meta = convert(row)
    if meta is None:
        return
    source = _hub_audio_source(row.get("audio"))
    try:
        if source is None:
            raise AudioDecodeError(f"{meta['path']} has neither audio bytes nor a readable path.")
        wave = decode_audio(source, name=meta["path"])
    except AudioDecodeError as err:
        bad.add(meta["path"], str(err))
        return
    yield from examples_from_wave(wave, meta, segment)


def _convert_hub_batch(
    batch: dict[str, list],
    convert: Callable[[dict], Record | None],
    segment: SegmentConfig | None,
    bad: BadFiles,
    features: datasets.Features,
) -> dict[str, list]:
    rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
    out: dict[str, list] = {column: [] for column in features}
    for row in rows:
        for example in _convert_hub_row(row, convert, segment, bad):
            encoded = features.encode_example({column: example[column] for column in features})
            for column in features:
                out[column].append(encoded[column])
    return out


def _stream_hub_examples(
    shards: Sequence[datasets.IterableDataset],
    convert: Callable[[dict], Record | None],
    segment: SegmentConfig | None,
    columns: Sequence[str],
    dataset_name: str,
) -> Iterator[dict]:
    """Convert streamed Hub rows and log the bad-row summary once the shards are exhausted."""
    bad = BadFiles(dataset_name)
    total = 0
    for shard in shards:
        for row in shard:
            total += 1
            for example in _convert_hub_row(row, convert, segment, bad):
                yield {column: example[column] for column in columns}
    bad.log_summary(total=total)


def load_hub_split(
    source: str | os.PathLike,
    config: str | None,
    split: str,
    *,
    streaming: bool = False,
    revision: str | None = None,
    cache_dir: str | None = None,
    columns: Sequence[str] | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """A split of a Hub dataset id, or of a local folder holding a Hub repo's parquet layout.

    The audio column is cast to `Audio(decode=False)` so that no torchcodec is needed;
    `columns` reads only those columns (cheap metadata passes).
    """
    local = Path(source).expanduser()
    kwargs: dict[str, Any] = {"split": split, "streaming": streaming, "cache_dir": cache_dir}
    if revision is not None and not local.is_dir():
        kwargs["revision"] = revision
    if columns is not None:
        kwargs["columns"] = list(columns)
    try:
        ds = datasets.load_dataset(str(local) if local.is_dir() else str(source), config, **kwargs)
    except (FileNotFoundError, ValueError, ConnectionError) as err:  # offline, a missing id: ConnectionError
        no_folder = "" if local.is_dir() else f" No local folder {str(local.resolve())!r} exists either."
        raise FileNotFoundError(
            f"could not load split {split!r} (config {config!r}) of {str(source)!r}: {err}.{no_folder} Pass a Hub "
            "dataset id, or the path of a local folder (the native tree, or that repo's parquet files and configs)."
        ) from err
    if isinstance(ds.features, datasets.Features) and isinstance(ds.features.get("audio"), datasets.Audio):
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
    return ds


def convert_hub_dataset(
    ds: datasets.Dataset | datasets.IterableDataset,
    features: datasets.Features,
    convert: Callable[[dict], Record | None],
    *,
    dataset_name: str,
    segment: SegmentConfig | bool | None = None,
    batch_size: int = 32,
) -> datasets.Dataset | datasets.IterableDataset:
    """Map a Hub split onto the common schema: `convert(row)` gives a row's schema metadata
    (or None to skip it); audio bytes are decoded with soundfile, resampled and segmented.

    Undecodable rows are reported and skipped, with a summary: for a `Dataset` after the map, which
    always runs (a map answered from the `datasets` cache would skip the decoding and so the report),
    and a ValueError when every decoded row was bad; for an `IterableDataset` once a pass over each
    of its shards ends.
    """
    segment = resolve_segment(segment)
    features = with_segment_column(features, segment)
    if isinstance(ds, datasets.IterableDataset):
        # one generator call per source shard keeps the stream shardable across DataLoader workers and ranks
        shards = [ds.shard(num_shards=ds.n_shards, index=i) for i in range(ds.n_shards)]
        gen_kwargs = {
            "shards": shards,
            "convert": convert,
            "segment": segment,
            "columns": tuple(features),
            "dataset_name": dataset_name,
        }
        return datasets.IterableDataset.from_generator(_stream_hub_examples, features=features, gen_kwargs=gen_kwargs)
    bad = BadFiles(dataset_name)
    fn = functools.partial(_convert_hub_batch, convert=convert, segment=segment, bad=bad, features=features)
    mapped = ds.map(
        fn,
        batched=True,
        batch_size=batch_size,
        remove_columns=list(ds.column_names),
        features=features,
        load_from_cache_file=False,
    )
    if bad and len(mapped) == 0:
        raise bad.no_usable_audio("this Hub split", len(ds))
    bad.log_summary(total=len(ds))
    return mapped


def layout_error(dataset: str, root: str | os.PathLike, problem: str, layout: str) -> FileNotFoundError:
    """A FileNotFoundError that shows the tree the loader expected."""
    return FileNotFoundError(f"{dataset}: {problem} under {str(root)!r}. Expected layout:\n{layout.rstrip()}")


def _holds_any(folder: Path, suffixes: Sequence[str]) -> bool:
    return any(p.suffix.lower() in suffixes for p in folder.rglob("*"))


def is_hub_source(source: str | os.PathLike) -> bool:
    """True for a Hub dataset id or a local folder in a Hub repo's parquet layout; False for a native tree.

    An existing folder always wins over a Hub id of the same spelling (`data/LibriSpeech`); it counts as
    a parquet layout only when it holds parquet files and no audio, so a native tree with a `prepare`
    cache or a Hub download inside stays native. A path that does not exist is a Hub id if shaped `org/name`.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return not _holds_any(path, AUDIO_EXTENSIONS) and _holds_any(path, (".parquet",))
    if path.exists():
        raise FileNotFoundError(f"expected a dataset folder or a Hub dataset id, got the file {str(source)!r}.")
    parts = str(source).split("/")
    if len(parts) == 2 and all(parts) and not str(source).startswith((".", "~")):
        return True
    raise FileNotFoundError(
        f"no such dataset folder {str(source)!r} (looked in {str(path.resolve())!r}), and it is not a Hub id of "
        "the form 'org/name'; pass the root of the downloaded tree or a Hub dataset id."
    )


def unique_column_values(
    source: str | os.PathLike,
    config: str | None,
    split: str,
    column: str,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
) -> list:
    """Sorted distinct non-null values of one metadata column of a Hub split, reading only that column."""
    ds = load_hub_split(
        source, config, split, streaming=True, revision=revision, cache_dir=cache_dir, columns=[column]
    )
    return sorted({row[column] for row in ds} - {None})
