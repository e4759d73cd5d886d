"""The datasets of the paper by name: each loader with its per-dataset special cases, in one place.

`barlow-speech pretrain`, the evaluation pipeline (`barlow-speech probe | disentangle | report`) and
`barlow-speech reproduce` resolve a dataset name here; none of them branches on a dataset's name.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from ..arguments import did_you_mean
from .esd import load_esd
from .folder import load_audio_folder
from .librispeech import load_librispeech
from .speech_commands import load_speech_commands
from .synthetic import SyntheticSpeechConfig, load_synthetic
from .tts_speech import TTSSpeechConfig, load_tts_speech
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
        folder: its folder under `barlow-speech reproduce --data_root` (None: not read from disk).
        config_class: for a corpus generated offline (no path): its configuration dataclass, whose fields a caller's
            loader arguments may set; the loader takes `num_clips`, `seed`, `split` and `config`.
        pretraining_split: the split `barlow-speech pretrain` reads by default.
    """

    loader: Callable[..., datasets.Dataset | datasets.IterableDataset]
    local_only: bool = True
    has_splits: bool = False
    has_subsets: bool = False
    folder: str | None = None
    config_class: type | None = None
    pretraining_split: str = "train"

    @property
    def generated(self) -> bool:
        """Whether the corpus is generated offline from a seed (it has no path)."""
        return self.config_class is not None

    def generate(self, num_clips: int, seed: int, split: str, loader_args: dict[str, Any] | None = None):
        """`num_clips` clips of `split` of a generated corpus; `loader_args` holds `config_class` fields (e.g.
        `num_speakers`) and other loader arguments (e.g. `kind`)."""
        if num_clips < 1:
            raise ValueError(f"the {split} split would be empty (num_clips={num_clips}); pass a clip count >= 1.")
        config, others = self.generator_arguments(loader_args or {})
        return self.loader(num_clips=num_clips, seed=seed, split=split, config=config, **others)

    def generator_arguments(self, loader_args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """`loader_args` of a generated corpus split into its configuration (built, so bad values fail here) and the
        other loader arguments; an unknown key is a ValueError naming the closest known one."""
        if self.config_class is None:
            raise ValueError("this dataset is read from disk or the Hub, not generated: it takes no loader_args.")
        fields = {field.name for field in dataclasses.fields(self.config_class)}
        parameters = set(inspect.signature(self.loader).parameters) - {"num_clips", "seed", "split", "config"}
        for key in loader_args:
            if key not in fields | parameters:
                raise ValueError(
                    f"loader_args: unknown key {key!r}{did_you_mean(key, sorted(fields | parameters))}; use fields of "
                    f"{self.config_class.__name__} or the loader's arguments {sorted(parameters)}."
                )
        # lists (from JSON or YAML) as the tuples the frozen configurations hold
        config = self.config_class(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in loader_args.items() if k in fields}
        )
        return config, {k: v for k, v in loader_args.items() if k not in fields}

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
    "synthetic": DatasetSpec(load_synthetic, local_only=False, has_splits=True, config_class=SyntheticSpeechConfig),
    "tts_speech": DatasetSpec(
        load_tts_speech, local_only=False, has_splits=True, config_class=TTSSpeechConfig, pretraining_split="pretrain"
    ),
}
DATASET_NAMES = tuple(DATASETS)


def parse_loader_args(items: Sequence[str], flag: str = "--loader_args") -> dict[str, Any]:
    """`key=value` pairs; values are JSON when they parse (numbers, lists, true/false), strings otherwise."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects key=value pairs, got {item!r}.")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of `name`; an unknown name is a ValueError listing the known ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}.")
    return DATASETS[name]


def dataset_folder(name: str, data_root: str | Path) -> Path:
    """`<data_root>/<folder>` of dataset `name` (`barlow-speech reproduce --data_root`), checked to exist."""
    spec = dataset_spec(name)
    if spec.folder is None:
        raise ValueError(f"dataset {name!r} has no folder under a data root; it is not read from disk.")
    path = Path(data_root).expanduser() / spec.folder
    if not path.is_dir():
        layout = ", ".join(f"{s.folder}/" for s in DATASETS.values() if s.folder)
        raise FileNotFoundError(
            f"{path}: no such folder; --data_root must hold each dataset in its native layout under {layout} "
            f"(put or link the {name} tree at {path})."
        )
    return path


def load_dataset_by_name(name: str, *args: Any, **kwargs: Any) -> datasets.Dataset | datasets.IterableDataset:
    """Call the loader registered as `name` (one of DATASET_NAMES) with the given arguments."""
    return dataset_spec(name).loader(*args, **kwargs)
