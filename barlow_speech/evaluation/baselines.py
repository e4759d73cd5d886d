"""Baselines of paper Table 2 next to the Barlow Twins rows.

* Supervised (the paper's "Supervised" column): `BarlowSpeechForAudioClassification` with the checkpoint's
  architecture, randomly initialised and trained end to end from scratch on each labelled fraction with the stock
  `transformers.Trainer`. Each (fraction, seed) run uses the same stratified label subset as the linear probe
  (`label_fraction_indices` on the same class codes) and `TrainingArguments(seed=seed)`; the result has the probe
  schema (`barlow_speech.results`), so it sits in Table 2 and the figures like any other row.
* Random init: the same architecture with fresh weights (`random_init_model`), probed like a trained checkpoint.
  Weights are drawn after `transformers.set_seed(seed)`, the seed policy of every other run here.
* Log-mel statistics (`logmel_stats_features`): per clip, the mean and std over frames of a log-mel spectrogram.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import Trainer, TrainingArguments, set_seed
from transformers.audio_utils import mel_filter_bank

from ..configuration_barlow import BarlowSpeechConfig
from ..data.fractions import PAPER_FRACTIONS, label_fraction_indices
from ..data.schema import clip_arrays
from ..data_collator import BarlowSpeechDataCollator
from ..feature_extraction_barlow import SAMPLING_RATE, BarlowSpeechFeatureExtractor
from ..modeling_barlow import BarlowSpeechForAudioClassification, BarlowSpeechModel, BarlowSpeechPreTrainedModel
from .probes import encode_labels, summarise_runs

logger = logging.getLogger(__name__)


def random_init_model(
    config: BarlowSpeechConfig, seed: int = 0, model_class: type[BarlowSpeechPreTrainedModel] | None = None
) -> BarlowSpeechPreTrainedModel:
    """A model of `config`'s architecture, fresh weights drawn after `set_seed(seed)` (default `BarlowSpeechModel`)."""
    set_seed(seed)
    return (model_class or BarlowSpeechModel)(copy.deepcopy(config))


class _LabelledClips(torch.utils.data.Dataset):
    """Rows `indices` of a common-schema dataset with integer targets: items `{"audio": (samples,), "labels": int}`.

    A batch is read in one `clip_arrays` call (the DataLoader's `__getitems__`), not row by row."""

    def __init__(self, dataset: datasets.Dataset, indices: Sequence[int], codes: np.ndarray, sampling_rate: int):
        self.dataset, self.indices, self.codes = dataset, np.asarray(indices), np.asarray(codes)
        self.sampling_rate = sampling_rate

    def __len__(self) -> int:
        return len(self.indices)

    def __getitems__(self, items: Sequence[int]) -> list[dict]:
        rows = self.indices[np.asarray(items, dtype=np.int64)]
        clips = clip_arrays(self.dataset, self.sampling_rate, rows=rows)
        return [{"audio": clip, "labels": int(self.codes[row])} for clip, row in zip(clips, rows)]

    def __getitem__(self, item: int) -> dict:
        return self.__getitems__([item])[0]


def _label_codes(split: str, dataset: datasets.Dataset, column: str) -> np.ndarray:
    if column not in dataset.column_names:
        raise ValueError(f"the {split} split has no column {column!r}; available columns: {dataset.column_names}.")
    if len(dataset) == 0:
        raise ValueError(f"the {split} split is empty; the supervised baseline needs labelled clips in every split.")
    return np.asarray(dataset[column])


def _accuracy(trainer: Trainer, clips: _LabelledClips) -> float:
    """Top-1 of `trainer.model` on `clips`; targets of classes unseen in training (code -100) count as errors."""
    logits = trainer.predict(clips).predictions
    return float(np.mean(np.argmax(logits, axis=-1) == clips.codes[clips.indices]))


def supervised_baseline(
    config: BarlowSpeechConfig,
    extractor: BarlowSpeechFeatureExtractor,
    train_dataset: datasets.Dataset,
    validation_dataset: datasets.Dataset,
    test_dataset: datasets.Dataset,
    label_column: str,
    fractions: Iterable[float] = PAPER_FRACTIONS,
    seeds: Iterable[int] = range(5),
    max_steps: int = 1000,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    device: str | None = None,
    model: str = "Supervised",
    task: str = "",
    metadata: Mapping[str, Any] | None = None,
    training_overrides: Mapping[str, Any] | None = None,
) -> dict:
    """The paper's "Supervised" column: the architecture trained from scratch on each label fraction with `Trainer`.

    Args:
        config: architecture (e.g. a pretraining checkpoint's config); `num_labels` and the label maps are set here.
        extractor: the front end that turns each clip into `(segments, freq, frames)` log-spectrograms.
        *_dataset: common-schema datasets of the three splits (audio + `label_column`).
        label_column: the task's label column (e.g. "gender").
        fractions, seeds: one run per (fraction, seed); subsets are the linear probe's (`label_fraction_indices`).
        max_steps, batch_size, learning_rate, weight_decay: `TrainingArguments` of every run (AdamW, linear decay).
        device: "cpu" forces the CPU; default lets `Trainer` pick the accelerator.
        model, task, metadata: recorded in the result (`metadata` adds top-level keys such as "dataset").
        training_overrides: any other `TrainingArguments` fields.

    Returns:
        A probe-schema result (`barlow_speech.results`): per fraction, test top-1 of every seed with
        mean/std, validation top-1, and the index lists.
    """
    y_train, (y_val, y_test), num_classes = encode_labels(
        *(
            _label_codes(name, ds, label_column)
            for name, ds in (("train", train_dataset), ("validation", validation_dataset), ("test", test_dataset))
        )
    )
    if num_classes < 2:
        raise ValueError(
            f"the supervised baseline needs >= 2 classes of {label_column!r} in the train split, got {num_classes}."
        )
    y_val, y_test = (
        np.where(y_val < 0, -100, y_val),
        np.where(y_test < 0, -100, y_test),
    )  # -100: ignored by the CE loss
    classes = np.unique(np.asarray(train_dataset[label_column]))
    subsets = label_fraction_indices(y_train, fractions, seeds)
    run_config = copy.deepcopy(config)
    run_config.num_labels = num_classes
    run_config.id2label = {i: str(c) for i, c in enumerate(classes)}
    run_config.label2id = {str(c): i for i, c in enumerate(classes)}
    run_config.freeze_encoder = False
    collator = BarlowSpeechDataCollator(extractor, label_column="labels")
    rate = extractor.sampling_rate
    validation = _LabelledClips(validation_dataset, range(len(validation_dataset)), y_val, rate)
    test = _LabelledClips(test_dataset, range(len(test_dataset)), y_test, rate)
    chosen = {}
    with tempfile.TemporaryDirectory(prefix="barlow-supervised-") as output_dir:
        for (fraction, seed), indices in tqdm(
            subsets.items(), desc=f"supervised {task or label_column}", disable=len(subsets) < 3
        ):
            args = TrainingArguments(
                output_dir=output_dir,
                max_steps=max_steps,
                per_device_train_batch_size=batch_size,
                per_device_eval_batch_size=batch_size,
                learning_rate=learning_rate,
                weight_decay=weight_decay,
                seed=seed,
                data_seed=seed,
                save_strategy="no",
                eval_strategy="no",
                logging_strategy="no",
                report_to="none",
                disable_tqdm=True,
                remove_unused_columns=False,
                use_cpu=device == "cpu",
                **dict(training_overrides or {}),
            )
            network = random_init_model(run_config, seed, BarlowSpeechForAudioClassification)
            trainer = Trainer(
                model=network,
                args=args,
                train_dataset=_LabelledClips(train_dataset, indices, y_train, rate),
                data_collator=collator,
            )
            trainer.train()
            chosen[fraction, seed] = {
                "test": _accuracy(trainer, test),
                "validation": _accuracy(trainer, validation),
                "learning_rate": learning_rate,
                "weight_decay": weight_decay,
            }
            logger.info(
                "supervised %s fraction=%g seed=%d: test top-1 %.3f",
                label_column,
                fraction,
                seed,
                chosen[fraction, seed]["test"],
            )
    extra = {
        "model": model,
        "task": task or label_column,
        "label_column": label_column,
        "num_classes": num_classes,
        "num_train": len(y_train),
        "num_validation": len(y_val),
        "num_test": len(y_test),
        "probe": {
            "optimizer": "trainer_adamw_end_to_end",
            "steps": max_steps,
            "batch_size": batch_size,
            "learning_rates": [learning_rate],
            "weight_decays": [weight_decay],
        },
        **dict(metadata or {}),
    }
    return summarise_runs(subsets, chosen, len(y_train), extra)


def logmel_stats_features(
    waveforms: Sequence[np.ndarray],
    sampling_rate: int = SAMPLING_RATE,
    n_mels: int = 64,
    n_fft: int = 400,
    hop_length: int = 160,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Log-mel baseline: per clip, the mean and std over frames of a log-mel spectrogram.

    Args:
        waveforms: mono float clips, each `(samples,)`, at `sampling_rate`.
        n_mels, n_fft, hop_length: HTK mel filters over a Hann-window STFT (defaults: 25 ms / 10 ms at 16 kHz).

    Returns:
        `(num_clips, 2 * n_mels)` float32: `[mean_1..mean_n_mels, std_1..std_n_mels]`.
    """
    if len(waveforms) == 0:
        raise ValueError("waveforms is empty; pass at least one clip.")
    lengths = [len(np.asarray(w).reshape(-1)) for w in waveforms]
    if any(np.asarray(w).ndim != 1 for w in waveforms) or min(lengths) < n_fft // 2 + 1:
        raise ValueError(
            f"every waveform must be a mono 1-D array of >= {n_fft // 2 + 1} samples; "
            f"got lengths {min(lengths)}..{max(lengths)}."
        )
    filters = torch.as_tensor(
        mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sampling_rate / 2, sampling_rate, mel_scale="htk"),
        dtype=torch.float32,
        device=device,
    )
    window = torch.hann_window(n_fft, device=device)
    features = []
    for start in tqdm(
        range(0, len(waveforms), batch_size), desc="log-mel features", disable=len(waveforms) <= batch_size
    ):
        clips = waveforms[start : start + batch_size]
        batch = torch.zeros(len(clips), max(len(c) for c in clips), device=device)
        for i, clip in enumerate(clips):
            batch[i, : len(clip)] = torch.as_tensor(np.asarray(clip, dtype=np.float32), device=device)
        power = torch.stft(batch, n_fft, hop_length, window=window, center=True, return_complex=True).abs().square()
        log_mel = torch.log(torch.einsum("bft,fm->bmt", power, filters) + 1e-6)
        frames = torch.tensor(
            [1 + (len(c) - n_fft // 2) // hop_length for c in clips], device=device
        )  # windows inside the clip
        valid = (torch.arange(log_mel.shape[-1], device=device) < frames[:, None]).float()[:, None, :]
        mean = (log_mel * valid).sum(-1) / valid.sum(-1)
        std = (((log_mel - mean[..., None]) ** 2 * valid).sum(-1) / valid.sum(-1)).sqrt()
        features.append(torch.cat([mean, std], dim=1).cpu())
    return torch.cat(features).numpy()
