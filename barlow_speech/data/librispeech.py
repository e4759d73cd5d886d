"""LibriSpeech (Panayotov et al., 2015; OpenSLR 12, CC BY 4.0): upstream pretraining data
(train-clean-100 = "LibriSpeech-100", train-clean-360 = "LibriSpeech-360", paper Table 1).

Label = speaker. Sources: the native tree as distributed, or the Hub dataset
`openslr/librispeech_asr` (or a local folder with its parquet layout).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import datasets
from transformers.utils import logging

from .audio import SegmentConfig
from .schema import (
    build_dataset,
    common_features,
    convert_hub_dataset,
    gender_index,
    is_hub_source,
    layout_error,
    load_hub_split,
    unique_column_values,
)

logger = logging.get_logger(__name__)

LAYOUT = """\
LibriSpeech/
  SPEAKERS.TXT                      ; ID | SEX | SUBSET | MINUTES | NAME
  train-clean-100/                  (the subset you asked for)
    <speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <speaker>/<chapter>/<speaker>-<chapter>-<utterance>.flac
"""
HUB_ID = "openslr/librispeech_asr"
# native subset -> (Hub config, Hub split) of openslr/librispeech_asr
HUB_SPLITS = {
    "train-clean-100": ("clean", "train.100"),
    "train-clean-360": ("clean", "train.360"),
    "dev-clean": ("clean", "validation"),
    "test-clean": ("clean", "test"),
    "train-other-500": ("other", "train.500"),
    "dev-other": ("other", "validation"),
    "test-other": ("other", "test"),
}


def _extra_features() -> dict:
    return {
        "chapter_id": datasets.Value("int64"),
        "utterance_id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "subset": datasets.Value("string"),
    }


def parse_speakers_txt(path: str | os.PathLike) -> dict[str, str]:
    """SPEAKERS.TXT -> {speaker id: "F"/"M"}. Comment lines start with ';'; a NAME may contain '|'."""
    genders = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        fields = [f.strip() for f in line.split("|", 4)]
        if len(fields) < 3:
            raise ValueError(f"{path}: malformed line {line!r}; expected 'ID | SEX | SUBSET | MINUTES | NAME'.")
        genders[fields[0]] = fields[1]
    return genders


def _find_librispeech_dir(root: Path, subsets: Sequence[str]) -> Path:
    for candidate in (root, root / "LibriSpeech"):
        if all((candidate / s).is_dir() for s in subsets):
            return candidate
    raise layout_error("librispeech", root, f"subset folder(s) {list(subsets)} not found", LAYOUT)


def scan_librispeech(root: str | os.PathLike, subsets: Sequence[str]) -> list[dict]:
    """Records (path + metadata, no audio) of the native tree, in sorted path order."""
    root = Path(root).expanduser()
    base = _find_librispeech_dir(root, subsets)
    speakers_file = base / "SPEAKERS.TXT"
    if not speakers_file.is_file():
        raise layout_error("librispeech", base, "SPEAKERS.TXT (speaker genders) is missing", LAYOUT)
    genders = parse_speakers_txt(speakers_file)
    records = []
    for subset in subsets:
        for trans in sorted((base / subset).glob("*/*/*.trans.txt")):
            speaker, chapter = trans.parent.parent.name, trans.parent.name
            texts = dict(line.split(" ", 1) for line in trans.read_text(encoding="utf-8").splitlines() if line.strip())
            for flac in sorted(trans.parent.glob("*.flac")):
                records.append(
                    {
                        "path": str(flac),
                        "speaker_id": speaker,
                        "gender": gender_index(genders.get(speaker)),
                        "label": speaker,
                        "chapter_id": int(chapter),
                        "utterance_id": flac.stem,
                        "text": texts.get(flac.stem, ""),
                        "subset": subset,
                    }
                )
    if not records:
        raise layout_error(
            "librispeech", base, f"no .flac files with .trans.txt transcripts in {list(subsets)}", LAYOUT
        )
    unknown = sorted({r["speaker_id"] for r in records if r["gender"] < 0})
    if unknown:
        logger.warning(f"librispeech: speakers {unknown[:10]} are not in SPEAKERS.TXT; their gender is -1 (unknown).")
    return records


def _speaker_sort_key(speaker: str) -> tuple:
    return (0, int(speaker), "") if speaker.isdigit() else (1, 0, speaker)


def load_librispeech(
    source: str | os.PathLike = HUB_ID,
    subset: str | Sequence[str] = "train-clean-100",
    *,
    split: str | None = None,
    streaming: bool = False,
    segment: SegmentConfig | bool | None = None,
    cache_dir: str | None = None,
    revision: str | None = None,
    speakers_file: str | os.PathLike | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """LibriSpeech in the common schema; `label` = `speaker_id` (ClassLabel of the subset's speakers).

    Args:
        source: a local `LibriSpeech/` tree (or its parent), a Hub id such as
            "openslr/librispeech_asr", or a local folder with that repo's parquet layout.
        subset: native subset name(s), e.g. "train-clean-100" or ["train-clean-100", "train-clean-360"].
        split: Hub only: a "config/split" pair overriding the mapping of `subset` (e.g. "clean/train.100").
        streaming: return an `IterableDataset` decoding on the fly.
        segment: cut recordings into 1-s pieces (`True` or a `SegmentConfig`); None keeps utterances.
        speakers_file: Hub only: a SPEAKERS.TXT for genders (the Hub rows lack them; else -1).

    Example: `load_librispeech("/data/LibriSpeech", "train-clean-100", segment=True)`
    """
    subsets = [subset] if isinstance(subset, str) else list(subset)
    if is_hub_source(source):
        return _load_hub(source, subsets, split, streaming, segment, cache_dir, revision, speakers_file)
    records = scan_librispeech(source, subsets)
    speakers = sorted({r["speaker_id"] for r in records}, key=_speaker_sort_key)
    features = common_features(speakers, speakers, _extra_features())
    return build_dataset(
        records, features, dataset_name="librispeech", segment=segment, streaming=streaming, cache_dir=cache_dir
    )


def _hub_row(row: dict, genders: dict[str, str], subset: str) -> dict:
    speaker = str(row["speaker_id"])
    return {
        "path": row.get("file") or row["id"],
        "speaker_id": speaker,
        "gender": gender_index(genders.get(speaker)),
        "label": speaker,
        "chapter_id": int(row["chapter_id"]),
        "utterance_id": row["id"],
        "text": row.get("text") or "",
        "subset": subset,
    }


def _load_hub(source, subsets, split, streaming, segment, cache_dir, revision, speakers_file):
    if len(subsets) != 1:
        raise ValueError(f"the Hub path loads one subset at a time, got {subsets}; concatenate the results instead.")
    subset = subsets[0]
    if split is not None:
        config, _, hub_split = split.partition("/")
        if not hub_split:
            raise ValueError(f"split must be 'config/split' such as 'clean/train.100', got {split!r}.")
    elif subset in HUB_SPLITS:
        config, hub_split = HUB_SPLITS[subset]
    else:
        raise ValueError(
            f"unknown LibriSpeech subset {subset!r}; choose one of {sorted(HUB_SPLITS)} or pass split='config/split'."
        )
    genders = parse_speakers_txt(speakers_file) if speakers_file else {}
    speakers = sorted(
        (
            str(s)
            for s in unique_column_values(
                source, config, hub_split, "speaker_id", revision=revision, cache_dir=cache_dir
            )
        ),
        key=_speaker_sort_key,
    )
    ds = load_hub_split(source, config, hub_split, streaming=streaming, revision=revision, cache_dir=cache_dir)
    features = common_features(speakers, speakers, _extra_features())
    convert = functools.partial(_hub_row, genders=genders, subset=subset)
    return convert_hub_dataset(ds, features, convert, dataset_name="librispeech", segment=segment)
