"""The datasets of the paper by name: each loader with its per-dataset special cases, in one place.

`barlow-speech pretrain`, the evaluation pipeline (`barlow-speech probe | disentangle | report`) and
`barlow-speech reproduce` resolve a dataset name here; none of them branches on a dataset's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from .esd import load_esd
from .folder import load_audio_folder
from .librispeech import load_librispeech
from .speech_commands import load_speech_commands
from .synthetic import load_synthetic
from .voxceleb1 import load_voxceleb1
from .wluc import load_wluc


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is loaded.

    Args:
        loader: its loader; returns the common schema (`barlow_speech.data.schema`).
        local_only: read from a local folder only (LibriSpeech and Speech Commands also take a Hub id).
        has_splits: `split=` selects "train" / "validation" / "test"; otherwise evaluation splits whole recordings at
            random (`barlow_speech.evaluation.pipeline.recording_split`).
        has_subsets: `subset=` selects a part of the corpus (LibriSpeech: "train-clean-100", "train-clean-360").
        folder: its folder under `barlow-speech reproduce --data-root` (None: not read from disk).
    """

    loader: Callable[..., datasets.Dataset | datasets.IterableDataset]
    local_only: bool = True
    has_splits: bool = False
    has_subsets: bool = False
    folder: str | None = None

    def split_arguments(self, split: str | None = None, subset: str | None = None) -> dict[str, Any]:
        """The loader arguments that select `split` and `subset`, for the datasets that have them."""
        arguments: dict[str, Any] = {}
        if self.has_splits and split is not None:
            arguments["split"] = split
        if self.has_subsets and subset is not None:
            arguments["subset"] = subset
        return arguments


DATASETS: dict[str, DatasetSpec] = {
    "librispeech": DatasetSpec(load_librispeech, local_only=False, has_subsets=True, folder="LibriSpeech"),
    "voxceleb1": DatasetSpec(load_voxceleb1, has_splits=True, folder="VoxCeleb1"),
    "speech_commands": DatasetSpec(load_speech_commands, local_only=False, has_splits=True, folder="SpeechCommands"),
    "esd": DatasetSpec(load_esd, has_splits=True, folder="ESD"),
    "wluc": DatasetSpec(load_wluc, has_splits=True, folder="WLUC"),
    "folder": DatasetSpec(load_audio_folder),
    "synthetic": DatasetSpec(load_synthetic, local_only=False, has_splits=True),  # generated: no path
}
DATASET_NAMES = tuple(DATASETS)


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of `name`; an unknown name is a ValueError listing the known ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}.")
    return DATASETS[name]


def dataset_folder(name: str, data_root: str | Path) -> Path:
    """`<data_root>/<folder>` of dataset `name` (`barlow-speech reproduce --data-root`), checked to exist."""
    spec = dataset_spec(name)
    if spec.folder is None:
        raise ValueError(f"dataset {name!r} has no folder under a data root; it is not read from disk.")
    path = Path(data_root).expanduser() / spec.folder
    if not path.is_dir():
        layout = ", ".join(f"{s.folder}/" for s in DATASETS.values() if s.folder)
        raise FileNotFoundError(
            f"{path}: no such folder; --data-root must hold each dataset in its native layout under {layout} "
            f"(put or link the {name} tree at {path})."
        )
    return path


def load_dataset_by_name(name: str, *args: Any, **kwargs: Any) -> datasets.Dataset | datasets.IterableDataset:
    """Call the loader registered as `name` (one of DATASET_NAMES) with the given arguments."""
    return dataset_spec(name).loader(*args, **kwargs)
