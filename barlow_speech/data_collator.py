"""Data collators, beside the feature extractor whose inputs they batch.

`BarlowSpeechDataCollator`: batches for the stock `Trainer` (fine-tuning, linear evaluation) that keep the segment
contract (one row per clip). Rows either hold audio (featurised in one batched call) or features made earlier by
`datasets.map` with the feature extractor, batched or per example. Features of clips with different segment counts are
padded with zero segments and `attention_mask` marks the real ones, so the model returns exactly one prediction per
row.

`WaveformCollator`: batches of raw waveforms for pretraining (`BarlowTwinsTrainer` draws its views from them on the
device).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .feature_extraction_barlow import SAMPLING_RATE, BarlowSpeechFeatureExtractor


def waveform_of(example: Mapping) -> np.ndarray:
    """The float32 waveform of an example in the common schema (`example["audio"]["array"]`) or with a bare array
    under "audio"."""
    audio = example["audio"]
    return np.asarray(audio["array"] if isinstance(audio, dict) else audio, dtype=np.float32)


def _as_tensor(value: Any, dtype: torch.dtype) -> torch.Tensor:
    return value.to(dtype) if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value), dtype=dtype)


def _row_segments(row: Mapping[str, Any], index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One row's `(segments, freq, frames)` features and `(segments,)` mask (a per-example map adds a leading 1)."""
    values = _as_tensor(row["input_values"], torch.float32)
    mask = row.get("attention_mask")
    mask = torch.ones(values.shape[-3], dtype=torch.long) if mask is None else _as_tensor(mask, torch.long)
    if values.ndim == 4 and values.shape[0] == 1:
        values, mask = values[0], mask.reshape(-1)
    if values.ndim != 3 or mask.shape != values.shape[:1]:
        raise ValueError(
            f"row {index}: input_values {tuple(values.shape)} with attention_mask {tuple(mask.shape)} is not one "
            "clip's "
            "(segments, freq, frames) features and (segments,) mask; map the dataset with the feature extractor "
            "(batched or not) and keep both columns."
        )
    return values, mask


class BarlowSpeechDataCollator:
    """Collate rows into `{"input_values": (batch, segments, freq, frames), "attention_mask": (batch, segments),
    "labels": (batch,)}`.

    Args:
        feature_extractor: featurises rows that hold raw audio (`audio_column`: an array or a `datasets` Audio dict).
        audio_column: the audio column of raw rows.
        label_column: the label column; `"label"` and `"labels"` are both recognised when it is left as `"label"`.

    Example:
    ```python
    >>> collator = BarlowSpeechDataCollator(feature_extractor)
    >>> trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)
    ```
    """

    def __init__(
        self, feature_extractor: BarlowSpeechFeatureExtractor, audio_column: str = "audio", label_column: str = "label"
    ):
        self.feature_extractor = feature_extractor
        self.audio_column = audio_column
        self.label_column = label_column

    def _labels(self, rows: Sequence[Mapping[str, Any]]) -> torch.Tensor | None:
        keys = [self.label_column] + (["labels"] if self.label_column == "label" else [])
        present = [key for key in keys if key in rows[0]]
        if not present:
            return None
        key = present[0]
        missing = [index for index, row in enumerate(rows) if row.get(key) is None]
        if missing:
            raise ValueError(f"rows {missing} have no {key!r}; every row of a labelled batch needs a label.")
        return torch.as_tensor([int(row[key]) for row in rows], dtype=torch.long)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("got an empty batch of rows.")
        if "input_values" in rows[0]:
            pairs = [_row_segments(row, index) for index, row in enumerate(rows)]
            most = max(values.shape[0] for values, _ in pairs)
            batch = {
                "input_values": torch.stack(
                    [torch.nn.functional.pad(values, (0, 0, 0, 0, 0, most - values.shape[0])) for values, _ in pairs]
                ),
                "attention_mask": torch.stack(
                    [torch.nn.functional.pad(mask, (0, most - mask.shape[0])) for _, mask in pairs]
                ),
            }
        elif self.audio_column in rows[0]:
            audio = [row[self.audio_column] for row in rows]
            rate = None if isinstance(audio[0], dict) else self.feature_extractor.sampling_rate
            batch = dict(self.feature_extractor(audio, sampling_rate=rate, return_tensors="pt"))
        else:
            raise ValueError(
                f"rows have keys {sorted(rows[0])}; expected 'input_values' (features from the feature extractor) or "
                f"{self.audio_column!r} (audio, set audio_column= for another name). Under a Trainer, raw audio rows "
                f"lose their {self.audio_column!r} column unless TrainingArguments(remove_unused_columns=False): the "
                "Trainer drops every column the model's forward does not take."
            )
        labels = self._labels(rows)
        if labels is not None:
            batch["labels"] = labels
        return batch


class WaveformCollator:
    """Stacks examples' 1-s waveforms into `{"waveforms": (batch, segment_samples)}`.

    Accepts the common schema (`example["audio"]["array"]`) or a bare array under "audio". Shorter clips are
    zero-padded; longer ones keep their first segment (segment long audio beforehand, e.g. `barlow-speech prepare`,
    to train on all of it).
    """

    def __init__(self, segment_samples: int = SAMPLING_RATE):  # one second
        self.segment_samples = segment_samples

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = np.zeros((len(examples), self.segment_samples), dtype=np.float32)
        for row, example in enumerate(examples):
            if "audio" not in example:
                raise ValueError(
                    f"example {row} has no 'audio' column (keys: {sorted(example)}); use the common schema."
                )
            array = waveform_of(example)
            if array.ndim != 1:
                raise ValueError(f"example {row} has audio of shape {array.shape}; downmix to mono first.")
            length = min(array.shape[0], self.segment_samples)
            batch[row, :length] = array[:length]
        return {"waveforms": torch.from_numpy(batch)}


__all__ = ["BarlowSpeechDataCollator", "WaveformCollator", "waveform_of"]
