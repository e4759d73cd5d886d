"""Google Speech Commands v0.02 (Warden, 2018; CC BY 4.0): keyword spotting downstream task
(paper Table 1).

Label = word: the 35 words, or the 12-class v1 task (10 commands + `_unknown_` + `_silence_`,
silence cut from `_background_noise_` into 1-s clips). Official split from
`validation_list.txt` / `testing_list.txt`. Sources: the native tree, or the Hub dataset
`google/speech_commands` (config "v0.02") or a local folder with its parquet layout.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import datasets
import soundfile as sf
from transformers.utils import logging

from .audio import SAMPLING_RATE, BadFiles, SegmentConfig
from .schema import (
    build_dataset,
    common_features,
    convert_hub_dataset,
    is_hub_source,
    layout_error,
    load_hub_split,
    unique_column_values,
)

logger = logging.get_logger(__name__)

LAYOUT = """\
<root>/                          (speech_commands_v0.02 extracted)
  validation_list.txt            "<word>/<speaker>_nohash_<n>.wav" per line
  testing_list.txt
  _background_noise_/*.wav       long noise recordings (source of _silence_)
  <word>/<speaker>_nohash_<n>.wav  for the 35 words (yes, no, up, ...)
"""
HUB_ID = "google/speech_commands"
WORDS_35 = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
    "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
    "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)  # fmt: skip
COMMANDS_V1 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
LABEL_SETS = {"words35": WORDS_35, "v1_12": COMMANDS_V1 + (UNKNOWN, SILENCE)}
SPLITS = ("train", "validation", "test")


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def word_to_label(word: str, classes: str) -> str:
    """The task label of a word: itself (words35), or a v1 command / `_unknown_` / `_silence_` (v1_12)."""
    if classes == "words35" or word in COMMANDS_V1 or word == SILENCE:
        return word
    return UNKNOWN


def _silence_records(noise_dir: Path, silence_per_file: int | None) -> list[dict]:
    """1-s `_silence_` clips cut from each background-noise file; every 10th clip to validation,
    the next to test (deterministic). Unreadable noise files are reported (`BadFiles`) and skipped."""
    records = []
    bad = BadFiles("speech_commands")
    noise_files = sorted(noise_dir.glob("*.wav"))
    for wav in noise_files:
        try:
            info = sf.info(str(wav))
        except (sf.LibsndfileError, RuntimeError, EOFError) as err:
            bad.add(
                str(wav), f"cannot read the header of this _background_noise_ file (no _silence_ clips from it): {err}"
            )
            continue
        seconds = int(info.frames / info.samplerate)
        for i in range(seconds if silence_per_file is None else min(seconds, silence_per_file)):
            split = {0: "validation", 1: "test"}.get(i % 10, "train")
            records.append(
                {
                    "path": str(wav),
                    "speaker_id": SILENCE,
                    "gender": -1,
                    "label": SILENCE,
                    "word": SILENCE,
                    "split": split,
                    "_crop": (i * SAMPLING_RATE, (i + 1) * SAMPLING_RATE),
                }
            )
    if bad:
        bad.log_summary(total=len(noise_files))
    return records


def scan_speech_commands(
    root: str | os.PathLike, classes: str = "words35", silence_per_file: int | None = None
) -> list[dict]:
    """Records of the native tree with word, label and official split (sorted by path)."""
    root = Path(root).expanduser()
    if classes not in LABEL_SETS:
        raise ValueError(f"classes must be one of {sorted(LABEL_SETS)}, got {classes!r}.")
    for name in ("validation_list.txt", "testing_list.txt"):
        if not (root / name).is_file():
            raise layout_error("speech_commands", root, f"{name} is missing", LAYOUT)
    validation, testing = _read_list(root / "validation_list.txt"), _read_list(root / "testing_list.txt")
    records = []
    for wav in sorted(root.glob("*/*.wav")):
        word = wav.parent.name
        if word.startswith("_"):
            continue
        rel = wav.relative_to(root).as_posix()
        records.append(
            {
                "path": str(wav),
                "speaker_id": wav.stem.split("_nohash_")[0],
                "gender": -1,
                "label": word_to_label(word, classes),
                "word": word,
                "split": "validation" if rel in validation else "test" if rel in testing else "train",
            }
        )
    if not records:
        raise layout_error("speech_commands", root, "no <word>/*.wav files", LAYOUT)
    unknown_words = sorted({r["word"] for r in records} - set(WORDS_35))
    if unknown_words:
        raise layout_error(
            "speech_commands", root, f"folders {unknown_words} are not Speech Commands v0.02 words", LAYOUT
        )
    if classes == "v1_12":
        noise_dir = root / "_background_noise_"
        if not noise_dir.is_dir():
            raise layout_error("speech_commands", root, "_background_noise_/ (source of _silence_) is missing", LAYOUT)
        records += _silence_records(noise_dir, silence_per_file)
    return records


def load_speech_commands(
    source: str | os.PathLike = HUB_ID,
    *,
    split: str | None = None,
    classes: str = "words35",
    streaming: bool = False,
    segment: SegmentConfig | bool | None = None,
    cache_dir: str | None = None,
    config: str = "v0.02",
    revision: str | None = None,
    silence_per_file: int | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """Speech Commands in the common schema; `label` = word (ClassLabel of `classes`).

    Args:
        source: the extracted v0.02 tree, a Hub id ("google/speech_commands") or a local folder
            with that repo's parquet layout.
        split: "train", "validation" or "test" (None: all, native tree only).
        classes: "words35" (35 words) or "v1_12" (10 commands + _unknown_ + _silence_).
        silence_per_file: cap on 1-s _silence_ clips per background-noise file (v1_12, native).

    Example: `load_speech_commands("/data/speech_commands_v0.02", split="test", classes="v1_12")`
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}.")
    if classes not in LABEL_SETS:
        raise ValueError(f"classes must be one of {sorted(LABEL_SETS)}, got {classes!r}.")
    extra = {"word": datasets.Value("string"), "split": datasets.Value("string")}
    if is_hub_source(source):
        if split is None:
            raise ValueError("the Hub path loads one split at a time: pass split='train', 'validation' or 'test'.")
        speakers = unique_column_values(source, config, split, "speaker_id", revision=revision, cache_dir=cache_dir)
        ds = load_hub_split(source, config, split, streaming=streaming, revision=revision, cache_dir=cache_dir)
        names = ds.features["label"].names
        features = common_features(LABEL_SETS[classes], [SILENCE, *speakers], extra)
        convert = functools.partial(_hub_row, label_names=names, classes=classes, split=split)
        return convert_hub_dataset(ds, features, convert, dataset_name="speech_commands", segment=segment)
    records = scan_speech_commands(source, classes, silence_per_file)
    speakers = sorted({r["speaker_id"] for r in records} - {SILENCE})
    if split is not None:
        records = [r for r in records if r["split"] == split]
    features = common_features(LABEL_SETS[classes], [SILENCE, *speakers], extra)
    return build_dataset(
        records, features, dataset_name="speech_commands", segment=segment, streaming=streaming, cache_dir=cache_dir
    )


def _hub_row(row: dict, label_names: list[str], classes: str, split: str) -> dict | None:
    """google/speech_commands row (file, audio, label, is_unknown, speaker_id, utterance_id) -> schema."""
    word = label_names[row["label"]]
    if classes == "words35" and word == SILENCE:
        return None
    return {
        "path": row["file"],
        "speaker_id": row["speaker_id"] or SILENCE,
        "gender": -1,
        "label": word_to_label(word, classes),
        "word": word,
        "split": split,
    }
