"""Any folder of audio (wav/flac/ogg, and mp3 where libsndfile reads it; recursive) in the common
schema, for pretraining on your own recordings. Files in a first-level sub-folder get that folder's
name as speaker and label (`<root>/<speaker>/**.wav`); files directly in `<root>` get the label "audio".
Files with other extensions are left out with a warning that counts them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import datasets
from transformers.utils import logging

from .audio import AUDIO_EXTENSIONS, SegmentConfig, visible_files
from .schema import build_dataset, common_features, layout_error

logger = logging.get_logger(__name__)

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
    extensions = tuple(e.lower() for e in extensions)
    every = visible_files(root)
    files = [p for p in every if p.suffix.lower() in extensions]
    left_out = Counter(p.suffix.lower() or "(none)" for p in every if p.suffix.lower() not in extensions)
    if left_out:
        logger.warning(
            f"folder: left out {sum(left_out.values())} files under {str(root)!r} whose extension is not in "
            f"{list(extensions)} ({dict(left_out)}); pass extensions=[...] to decode them."
        )
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
    return build_dataset(
        records, features, dataset_name="folder", segment=segment, streaming=streaming, cache_dir=cache_dir
    )
