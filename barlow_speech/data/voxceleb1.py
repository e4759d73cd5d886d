"""VoxCeleb1 (Nagrani et al., 2017; CC BY 4.0 metadata, audio from YouTube): upstream pretraining
data ("VoxCeleb-1", paper Table 1: 1,211 + 40 celebrities) and speaker identification.

Label = speaker; the official identification split (`iden_split.txt`: 1 = train, 2 = validation,
3 = test); `accent` = the speaker's nationality from `vox1_meta.csv`. No canonical Hub repo
exists, so the native tree is the source.
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets
from transformers.utils import logging

from .audio import SegmentConfig
from .schema import build_dataset, common_features, gender_index, layout_error

logger = logging.get_logger(__name__)

LAYOUT = """\
<root>/
  vox1_meta.csv        VoxCeleb1 ID<TAB>VGGFace1 ID<TAB>Gender<TAB>Nationality<TAB>Set
  iden_split.txt       "<1|2|3> idXXXXX/<video>/<n>.wav" per line (1 train, 2 validation, 3 test)
  wav/idXXXXX/<video>/<n>.wav   (vox1_dev_wav and vox1_test_wav merged into one wav/ folder)
"""
IDEN_SPLITS = {"1": "train", "2": "validation", "3": "test"}


def parse_vox1_meta(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """vox1_meta.csv (tab-separated; commas accepted) -> {id: {"name", "gender", "nationality", "set"}}."""
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty; expected a header and one line per speaker.")
    sep = "\t" if "\t" in lines[0] else ","
    meta = {}
    for line in lines[1:]:
        fields = [f.strip() for f in line.split(sep)]
        if len(fields) < 4:
            raise ValueError(
                f"{path}: malformed line {line!r}; expected 'ID{sep}name{sep}gender{sep}nationality{sep}set'."
            )
        meta[fields[0]] = {
            "name": fields[1],
            "gender": fields[2],
            "nationality": fields[3],
            "set": fields[4] if len(fields) > 4 else "",
        }
    return meta


def parse_iden_split(path: str | os.PathLike) -> dict[str, str]:
    """iden_split.txt -> {"idXXXXX/<video>/<n>.wav": "train"|"validation"|"test"}."""
    splits = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        code, _, rel = line.strip().partition(" ")
        if code not in IDEN_SPLITS:
            raise ValueError(
                f"{path}: split code {code!r} in {line!r}; expected 1 (train), 2 (validation) or 3 (test)."
            )
        splits[rel.strip()] = IDEN_SPLITS[code]
    return splits


def scan_voxceleb1(
    root: str | os.PathLike, meta_file: str | os.PathLike | None = None, split_file: str | os.PathLike | None = None
) -> list[dict]:
    """Records of the native tree (sorted by path) with gender, accent and the official split."""
    root = Path(root).expanduser()
    wav_dir = root / "wav"
    meta_file = Path(meta_file) if meta_file else root / "vox1_meta.csv"
    split_file = Path(split_file) if split_file else root / "iden_split.txt"
    if not wav_dir.is_dir():
        raise layout_error("voxceleb1", root, "no wav/ folder", LAYOUT)
    for required in (meta_file, split_file):
        if not required.is_file():
            raise layout_error("voxceleb1", root, f"metadata file {required.name} is missing", LAYOUT)
    meta, splits = parse_vox1_meta(meta_file), parse_iden_split(split_file)
    records, unlisted = [], 0
    for wav in sorted(wav_dir.glob("id*/*/*.wav")):
        rel = wav.relative_to(wav_dir).as_posix()
        speaker = rel.split("/")[0]
        info = meta.get(speaker)
        if info is None:
            raise ValueError(
                f"voxceleb1: speaker {speaker} ({wav}) is not in {meta_file}; use the vox1_meta.csv of this release."
            )
        unlisted += rel not in splits
        records.append(
            {
                "path": str(wav),
                "speaker_id": speaker,
                "gender": gender_index(info["gender"]),
                "label": speaker,
                "accent": info["nationality"],
                "video_id": rel.split("/")[1],
                "split": splits.get(rel, ""),
            }
        )
    if not records:
        raise layout_error("voxceleb1", root, "no wav/idXXXXX/<video>/<n>.wav files", LAYOUT)
    if unlisted:
        logger.warning(f"voxceleb1: {unlisted} files are not listed in {split_file.name}; their split is ''.")
    return records


def load_voxceleb1(
    root: str | os.PathLike,
    *,
    split: str | None = None,
    streaming: bool = False,
    segment: SegmentConfig | bool | None = None,
    cache_dir: str | None = None,
    meta_file: str | os.PathLike | None = None,
    split_file: str | os.PathLike | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """VoxCeleb1 in the common schema; `label` = speaker, `split` = official identification split.

    Args:
        root: folder holding `wav/`, `vox1_meta.csv` and `iden_split.txt` (see LAYOUT).
        split: keep only "train", "validation" or "test" (None keeps everything, the
            pretraining setting).
        segment: cut utterances into 1-s pieces (`True` or a `SegmentConfig`).

    Example: `load_voxceleb1("/data/voxceleb1", split="train", segment=True)`
    """
    if split is not None and split not in IDEN_SPLITS.values():
        raise ValueError(f"split must be one of {sorted(IDEN_SPLITS.values())} or None, got {split!r}.")
    records = scan_voxceleb1(root, meta_file, split_file)
    speakers = sorted({r["speaker_id"] for r in records})
    if split is not None:
        records = [r for r in records if r["split"] == split]
        if not records:
            raise ValueError(f"voxceleb1: no files of split {split!r} in {root}; check iden_split.txt.")
    extra = {
        "accent": datasets.Value("string"),
        "video_id": datasets.Value("string"),
        "split": datasets.Value("string"),
    }
    features = common_features(speakers, speakers, extra)
    return build_dataset(
        records, features, dataset_name="voxceleb1", segment=segment, streaming=streaming, cache_dir=cache_dir
    )
