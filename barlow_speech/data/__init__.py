"""Dataset loaders: one module per dataset, each returning the common schema (schema.py).

`load_dataset_by_name("librispeech", source=..., subset="train-clean-100")` dispatches by name.
"""

from __future__ import annotations

from typing import Any, Callable

import datasets

from .audio import BadFiles, SegmentConfig, decode_audio, resample, segment_waveform, to_mono
from .esd import load_esd
from .folder import load_audio_folder
from .librispeech import load_librispeech
from .schema import common_features
from .speech_commands import load_speech_commands
from .voxceleb1 import load_voxceleb1
from .wluc import load_wluc

LOADERS: dict[str, Callable[..., datasets.Dataset | datasets.IterableDataset]] = {
    "librispeech": load_librispeech,
    "voxceleb1": load_voxceleb1,
    "speech_commands": load_speech_commands,
    "esd": load_esd,
    "wluc": load_wluc,
    "folder": load_audio_folder,
}
DATASET_NAMES = (*LOADERS, "synthetic")


def load_dataset_by_name(name: str, *args: Any, **kwargs: Any) -> datasets.Dataset | datasets.IterableDataset:
    """Call the loader registered as `name` (one of DATASET_NAMES) with the given arguments."""
    if name == "synthetic":
        from .synthetic import load_synthetic

        return load_synthetic(*args, **kwargs)
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASET_NAMES)}.")
    return LOADERS[name](*args, **kwargs)


__all__ = [
    "BadFiles",
    "DATASET_NAMES",
    "LOADERS",
    "SegmentConfig",
    "common_features",
    "decode_audio",
    "load_audio_folder",
    "load_dataset_by_name",
    "load_esd",
    "load_librispeech",
    "load_speech_commands",
    "load_voxceleb1",
    "load_wluc",
    "resample",
    "segment_waveform",
    "to_mono",
]
