"""Any folder of audio (wav/flac/ogg, recursive) in the common schema, for pretraining on your own
recordings. Files in a first-level sub-folder get that folder's name as speaker and label
(`<root>/<speaker>/**.wav`); files directly in `<root>` get the label "audio".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import datasets

from .audio import AUDIO_EXTENSIONS, SegmentConfig, find_audio_files
from .schema import build_dataset, common_features, layout_error

LAYOUT = """\
<root>/
  <any name>.wav|.flac|.ogg            (label "audio")
  <speaker or class>/**/<name>.wav     (label = the first-level folder name)
"""
ROOT_LABEL = "audio"


def scan_folder(root: str | os.PathLike, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[dict]:
    """Records of every audio file under `root` (sorted by path); gender unknown (-1)."""
    root = Path(root)
    if not root.is_dir():
        raise layout_error("folder", root, "the folder does not exist", LAYOUT)
    files = find_audio_files(root, tuple(e.lower() for e in extensions))
    if not files:
        raise layout_error("folder", root, f"no audio files with extensions {list(extensions)}", LAYOUT)
    records = []
    for path in files:
        parts = path.relative_to(root).parts
        group = parts[0] if len(parts) > 1 else ROOT_LABEL
        records.append({"path": str(path), "speaker_id": group, "gender": -1, "label": group})
    return records


def load_audio_folder(
    root: str | os.PathLike,
    *,
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
    streaming: bool = False,
    segment: SegmentConfig | bool | None = None,
    cache_dir: str | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """All audio under `root`, decoded to 16 kHz mono, in the common schema.

    Example: `load_audio_folder("~/recordings", segment=True)`
    """
    records = scan_folder(Path(root).expanduser(), extensions)
    groups = sorted({r["label"] for r in records})
    features = common_features(groups, groups)
    return build_dataset(records, features, dataset_name="folder", segment=segment, streaming=streaming, cache_dir=cache_dir)
