"""WLUC, World Leaders at the US Congress (paper Table 1, ref. 27: American Rhetoric speech bank;
distributed as 1-s 16 kHz PCM clips, the Kaggle "Speaker Recognition Dataset" `16000_pcm_speeches`):
speaker and gender identification downstream tasks.

Label = leader; gender derived from the leader; a deterministic split stratified by leader.
`_background_noise_/` holds noise for augmentation (`background_noise_files`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets
import numpy as np
from transformers.utils import logging

from .audio import SegmentConfig, find_audio_files
from .schema import build_dataset, common_features, gender_index, layout_error

logger = logging.get_logger(__name__)

LAYOUT = """\
16000_pcm_speeches/
  Benjamin_Netanyau/ Jens_Stoltenberg/ Julia_Gillard/ Magaret_Tarcher/ Nelson_Mandela/
    <n>.wav                    1-s 16 kHz clips, numbered in speech order
  _background_noise_/*.wav     (augmentation noise, not a class)
  other/                       (not a class)
"""
# Folder names as distributed (including their spelling).
LEADER_GENDERS = {
    "Benjamin_Netanyau": "male",
    "Jens_Stoltenberg": "male",
    "Julia_Gillard": "female",
    "Magaret_Tarcher": "female",
    "Nelson_Mandela": "male",
}
SPLITS = ("train", "validation", "test")


def _find_base(root: Path) -> Path:
    for candidate in (root, root / "16000_pcm_speeches"):
        if candidate.is_dir() and any((candidate / leader).is_dir() for leader in LEADER_GENDERS):
            return candidate
    raise layout_error("wluc", root, "no leader folders", LAYOUT)


def _clip_order(path: Path) -> tuple:
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def stratified_split(n: int, fractions: Sequence[float], seed: int | None = None) -> list[str]:
    """Split names for `n` clips of one leader: contiguous blocks in clip order (neighbouring
    1-s clips of one speech stay together) or, with `seed`, a seeded shuffle."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(
            f"fractions must be three non-negative numbers (train, validation, test) summing to 1, got {fractions}."
        )
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    names = np.array(SPLITS)[np.searchsorted(bounds, np.arange(n), side="right")]
    if seed is not None:
        names = names[np.random.default_rng(seed).permutation(n)]
    return names.tolist()


def scan_wluc(
    root: str | os.PathLike,
    genders: Mapping[str, str] | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int | None = None,
) -> list[dict]:
    """Records of the native tree with leader, derived gender and split (clip order per leader)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise layout_error("wluc", root, "the folder does not exist", LAYOUT)
    genders = {**LEADER_GENDERS, **(genders or {})}
    base = _find_base(root)
    leaders = sorted(
        p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")) and p.name != "other"
    )
    unknown = [leader for leader in leaders if leader not in genders]
    if unknown:
        raise ValueError(
            f"wluc: no gender known for leader folder(s) {unknown}; pass genders={{name: 'female'|'male'}}."
        )
    records = []
    for leader in leaders:
        clips = sorted(find_audio_files(base / leader), key=_clip_order)
        for clip, split in zip(clips, stratified_split(len(clips), fractions, seed)):
            records.append(
                {
                    "path": str(clip),
                    "speaker_id": leader,
                    "gender": gender_index(genders[leader]),
                    "label": leader,
                    "split": split,
                }
            )
    if not records:
        raise layout_error("wluc", base, "no <Leader_Name>/*.wav clips", LAYOUT)
    return records


def background_noise_files(root: str | os.PathLike) -> list[Path]:
    """The `_background_noise_` recordings distributed with WLUC, for additive-noise augmentation."""
    return find_audio_files(_find_base(Path(root).expanduser()) / "_background_noise_")


def load_wluc(
    root: str | os.PathLike,
    *,
    split: str | None = None,
    streaming: bool = False,
    segment: SegmentConfig | bool | None = None,
    cache_dir: str | None = None,
    genders: Mapping[str, str] | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """WLUC in the common schema; `label` = leader, `gender` derived from the leader.

    Args:
        root: `16000_pcm_speeches/` or its parent (see LAYOUT).
        split: "train", "validation" or "test" (None keeps all); per leader, the first 80 % of
            clips (in clip order) are train, the next 10 % validation, the last 10 % test.
        genders: extra or corrected {leader folder: "female"|"male"}.
        fractions, seed: split proportions; a seed shuffles clips before the split.

    Example: `load_wluc("/data/16000_pcm_speeches", split="train")`
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}.")
    records = scan_wluc(root, genders, fractions, seed)
    leaders = sorted({r["speaker_id"] for r in records})
    if split is not None:
        records = [r for r in records if r["split"] == split]
        if not records:
            raise ValueError(
                f"wluc: no clips of split {split!r} under {root} with fractions {tuple(fractions)}; each leader needs "
                "enough clips for a share of every split: add clips or raise that split's fraction."
            )
    features = common_features(leaders, leaders, {"split": datasets.Value("string")})
    return build_dataset(
        records, features, dataset_name="wluc", segment=segment, streaming=streaming, cache_dir=cache_dir
    )
