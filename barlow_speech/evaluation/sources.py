"""Where evaluation data comes from: a dataset and its split policy (`DataSource`), the random split by recording of
datasets without splits of their own (`recording_split`), and the rows whose labels are known (`known_rows`).

Datasets with their own train / validation / test (`DatasetSpec.has_splits`) use them; generated corpora draw each
split from their seed; the others are split 80/10/10 by recording at random, so no recording is heard in two splits.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from ..data.registry import dataset_spec

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
RANDOM_SPLIT = (0.8, 0.1, 0.1)  # recordings per split for datasets without their own splits
RECORDING_COLUMN = "path"  # the source file of a row: the segments of one recording share it


@dataclasses.dataclass
class DataSource:
    """A dataset and its split policy; `load(split)` returns that split in the common schema (read once).

    Args:
        name: a name of `barlow_speech.data.DATASET_NAMES`.
        data_path: its local folder or Hub id (not used by the generated corpora, synthetic and tts_speech).
        loader_args: extra loader arguments (generated corpora: fields of their configuration, e.g. `num_speakers`
            of `SyntheticSpeechConfig` or `label` of `TTSSpeechConfig`, and loader arguments such as `kind`).
        num_clips, num_eval_clips: generated corpora only, clips of the train split and of the validation and test
            splits.
        num_validation_clips: generated corpora only, clips of the validation split if not `num_eval_clips`.
        data_seed: a generated corpus' clip seed, or the seed of the random split by recording.
    """

    name: str = "synthetic"
    data_path: str | None = None
    loader_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    num_clips: int = 2000
    num_eval_clips: int = 500
    data_seed: int = 0
    num_validation_clips: int | None = None

    def __post_init__(self):
        self.spec = dataset_spec(self.name)
        if not self.spec.generated and not self.data_path:
            raise ValueError(f"dataset {self.name} needs a data path (--data_path: its local folder or Hub id).")
        self._whole: datasets.Dataset | None = None
        self._splits: dict[str, datasets.Dataset] = {}  # every upstream of a report reads the same clips once

    @property
    def dataset_id(self) -> str:
        """The dataset as a model card names it: the Hub id when `data_path` is one, else the loader name."""
        if self.data_path and not Path(self.data_path).expanduser().exists() and "/" in self.data_path:
            return self.data_path
        return self.name

    @property
    def dataset_config(self) -> str | None:
        if self.spec.generated:
            settings = {"seed": self.data_seed, "num_clips": self.num_clips, "num_eval_clips": self.num_eval_clips}
            if self.num_validation_clips is not None:
                settings["num_validation_clips"] = self.num_validation_clips
            return json.dumps({**settings, **self.loader_args}, sort_keys=True)
        return json.dumps(self.loader_args, sort_keys=True) if self.loader_args else None

    def cache_id(self, split: str) -> str:
        """Names `split` of this source in embedding cache keys."""
        return "|".join([self.name, str(self.data_path), split, self.dataset_config or ""])

    def metadata(self, split: str) -> dict[str, Any]:
        return {"dataset": self.dataset_id, "dataset_config": self.dataset_config, "split": split}

    def load(self, split: str) -> datasets.Dataset:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}.")
        if split not in self._splits:
            self._splits[split] = self._load(split)
        return self._splits[split]

    def _load(self, split: str) -> datasets.Dataset:
        if self.spec.generated:
            dataset = self._generated(split)
        elif self.spec.has_splits:
            dataset = self.spec.loader(self.data_path, split=split, **self.loader_args)
        else:
            dataset = self._random_split(split)
        if not isinstance(dataset, datasets.Dataset):
            raise ValueError(
                f"dataset {self.name} returned a {type(dataset).__name__}; evaluation needs an in-memory Dataset "
                "(drop streaming=true)."
            )
        if len(dataset) == 0:
            raise ValueError(
                f"the {split} split of dataset {self.name!r} ({self.data_path}) has no clips; check the data path and "
                "the loader arguments."
            )
        return dataset

    def _generated(self, split: str) -> datasets.Dataset:
        size = self.num_clips if split == "train" else self.num_eval_clips
        if split == "validation" and self.num_validation_clips is not None:
            size = self.num_validation_clips
        return self.spec.generate(size, self.data_seed, split, self.loader_args)

    def _random_split(self, split: str) -> datasets.Dataset:
        if self._whole is None:
            self._whole = self.spec.loader(self.data_path, **self.loader_args)
        whole = self._whole
        if RECORDING_COLUMN not in whole.column_names:
            raise ValueError(
                f"dataset {self.name} has no {RECORDING_COLUMN!r} column to split by recording; columns: "
                f"{whole.column_names}."
            )
        rows = recording_split(whole[RECORDING_COLUMN], self.data_seed, RANDOM_SPLIT)
        return whole.select(rows[SPLITS.index(split)])


def recording_split(
    recordings: Sequence[str], seed: int, proportions: Sequence[float] = RANDOM_SPLIT
) -> list[np.ndarray]:
    """A seeded random split of whole recordings: row indices (sorted) of each part.

    Args:
        recordings: `(num_rows,)` the recording of each row; rows of one recording (its 1-s segments) land in one part,
            so no recording is heard in both train and test.
        proportions: the share of recordings per part (e.g. 0.8 / 0.1 / 0.1).

    Returns:
        One int64 index array per part.
    """
    names, codes = np.unique(np.asarray(recordings), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(names))
    bounds = np.round(np.cumsum((0.0, *proportions)) * len(names)).astype(int)
    part = np.full(len(names), -1, dtype=np.int64)
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        part[order[start:stop]] = index
    return [np.flatnonzero(part[codes] == index) for index in range(len(proportions))]


def known_rows(
    dataset: datasets.Dataset, columns: Sequence[str], split: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mask `(len(dataset),)` of rows whose `columns` are all known (ClassLabel -1 = unknown, e.g. a missing gender)
    and those columns' values on the kept rows."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(f"the {split} split has no column(s) {missing}; available: {dataset.column_names}.")
    values = {c: np.asarray(dataset[c]) for c in columns}
    known = np.ones(len(dataset), dtype=bool)
    for column, array in values.items():
        if isinstance(dataset.features[column], datasets.ClassLabel):
            known &= array >= 0
    if not known.any():
        raise ValueError(f"the {split} split has no clip with known {list(columns)}.")
    if not known.all():
        logger.warning(
            "%s split: %d of %d clips have an unknown %s and are left out.",
            split,
            int((~known).sum()),
            len(dataset),
            "/".join(columns),
        )
    return known, {c: a[known] for c, a in values.items()}


__all__ = ["RANDOM_SPLIT", "RECORDING_COLUMN", "SPLITS", "DataSource", "known_rows", "recording_split"]
