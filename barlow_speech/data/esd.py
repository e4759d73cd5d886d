"""ESD, the Emotional Speech Dataset (Zhou et al., 2021/2022; research use only): emotion
recognition downstream task (paper Table 1).

20 speakers (0001-0010 Mandarin, 0011-0020 English) x 5 emotions x 350 parallel utterances.
Label = emotion. Official split per speaker and emotion, by utterance position within the
emotion's block of 350: 1-20 evaluation, 21-50 test, 51-350 train (the released
`train/evaluation/test` folders follow it; flat copies are split by the same rule).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import datasets
from transformers.utils import logging

from .audio import SegmentConfig
from .schema import build_dataset, common_features, gender_index, layout_error

logger = logging.get_logger(__name__)

LAYOUT = """\
<root>/                              ("Emotion Speech Dataset" extracted; one extra level is fine)
  0001/ ... 0020/
    0011.txt                         "<speaker>_<nnnnnn><TAB><text><TAB><emotion>" per line
    Neutral/ Angry/ Happy/ Sad/ Surprise/
      [train/|evaluation/|test/]<speaker>_<nnnnnn>.wav
"""
EMOTIONS = ("Neutral", "Angry", "Happy", "Sad", "Surprise")
SPLITS = ("train", "evaluation", "test")
UTTERANCES_PER_EMOTION = 350
# Speaker sex as listed in the ESD README (HLTSingapore/Emotional-Speech-Data).
SPEAKER_GENDERS = {
    **{s: "female" for s in ("0001", "0002", "0003", "0007", "0009", "0015", "0016", "0017", "0018", "0019")},
    **{s: "male" for s in ("0004", "0005", "0006", "0008", "0010", "0011", "0012", "0013", "0014", "0020")},
}
SPEAKERS = tuple(sorted(SPEAKER_GENDERS))


def official_split(utterance_number: int) -> str:
    """ESD split of utterance `<speaker>_<utterance_number>`: position 1-20 of its emotion's
    block -> "evaluation", 21-50 -> "test", 51-350 -> "train"."""
    position = (utterance_number - 1) % UTTERANCES_PER_EMOTION + 1
    return "evaluation" if position <= 20 else "test" if position <= 50 else "train"


def language_of(speaker: str) -> str:
    """'zh' for speakers 0001-0010 (Mandarin), 'en' for 0011-0020."""
    return "zh" if int(speaker) <= 10 else "en"


def read_transcripts(path: Path) -> dict[str, str]:
    """<speaker>.txt -> {utterance id: text}; the release mixes UTF-8, UTF-16 and GB18030 files."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{path}: cannot decode as UTF-8, UTF-16 or GB18030.")
    transcripts = {}
    for line in text.splitlines():
        fields = line.strip().split("\t")
        if len(fields) >= 2:
            transcripts[fields[0]] = fields[1]
    return transcripts


def _find_esd_dir(root: Path) -> Path:
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if any((candidate / s).is_dir() for s in SPEAKERS):
            return candidate
    raise layout_error("esd", root, "no speaker folders 0001 ... 0020", LAYOUT)


def scan_esd(root: str | os.PathLike) -> tuple[list[dict], list[tuple[str, str]]]:
    """Records of the native tree (sorted by path) with emotion, language, gender and official split,
    and the (path, reason) pairs of `.wav` files not named `<speaker>_<nnnnnn>.wav` (stray copies)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise layout_error("esd", root, "the folder does not exist", LAYOUT)
    base = _find_esd_dir(root)
    records, rejected = [], []
    for speaker in SPEAKERS:
        folder = base / speaker
        if not folder.is_dir():
            continue
        transcript_file = folder / f"{speaker}.txt"
        transcripts = read_transcripts(transcript_file) if transcript_file.is_file() else {}
        if not transcripts:
            logger.warning(f"esd: {transcript_file} is missing or empty; the text column will be ''.")
        for emotion in EMOTIONS:
            for wav in sorted((folder / emotion).rglob("*.wav")):
                match = re.fullmatch(rf"{speaker}_(\d{{6}})", wav.stem)
                if match is None:
                    reason = f"does not follow the ESD naming {speaker}_<nnnnnn>.wav, so its split is unknown"
                    rejected.append((str(wav), f"{reason}; rename it."))
                    continue
                number = int(match.group(1))
                split = official_split(number)
                if wav.parent.name in SPLITS and wav.parent.name != split:
                    raise ValueError(
                        f"esd: {wav} lies in {wav.parent.name}/ but utterance {number} belongs to {split}."
                    )
                records.append(
                    {
                        "path": str(wav),
                        "speaker_id": speaker,
                        "gender": gender_index(SPEAKER_GENDERS[speaker]),
                        "label": emotion,
                        "emotion": emotion,
                        "language": language_of(speaker),
                        "text": transcripts.get(wav.stem, ""),
                        "split": split,
                    }
                )
    if not records and not rejected:
        raise layout_error("esd", base, "no <speaker>/<Emotion>/*.wav files", LAYOUT)
    return records, rejected


def load_esd(
    root: str | os.PathLike,
    *,
    split: str | None = None,
    language: str | None = None,
    streaming: bool = False,
    segment: SegmentConfig | bool | None = None,
    cache_dir: str | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """ESD in the common schema; `label` = emotion (Neutral, Angry, Happy, Sad, Surprise).

    Args:
        root: the extracted ESD folder (see LAYOUT).
        split: "train", "evaluation" (alias "validation") or "test"; None keeps all.
        language: "en" or "zh" to keep one half of the speakers.

    Example: `load_esd("/data/ESD", split="train", language="en")`
    """
    split = "evaluation" if split == "validation" else split
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} (or 'validation') or None, got {split!r}.")
    if language not in (None, "en", "zh"):
        raise ValueError(f"language must be 'en', 'zh' or None, got {language!r}.")
    records, rejected = scan_esd(root)
    records = [r for r in records if split in (None, r["split"]) and language in (None, r["language"])]
    if not records:
        stray = f" ({len(rejected)} skipped for their names, e.g. {rejected[0][0]})" if rejected else ""
        raise ValueError(f"esd: no files with split={split!r} and language={language!r} under {root}{stray}.")
    extra = {
        "emotion": datasets.Value("string"),  # = label, under the name the synthetic corpus and the probes use
        "language": datasets.Value("string"),
        "text": datasets.Value("string"),
        "split": datasets.Value("string"),
    }
    features = common_features(EMOTIONS, SPEAKERS, extra)
    return build_dataset(
        records,
        features,
        dataset_name="esd",
        segment=segment,
        streaming=streaming,
        cache_dir=cache_dir,
        rejected=rejected,
    )
