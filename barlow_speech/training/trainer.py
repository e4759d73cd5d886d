"""`BarlowTwinsTrainer`: the stock `transformers.Trainer` with the Barlow Twins step in `compute_loss`.

Batches hold raw 1-s waveforms; on the device each step draws two augmented views (training/augment/), turns them
into log-spectrograms with the feature extractor's differentiable front end, and runs BarlowSpeechForPreTraining on
both. Everything else (bf16, gradient accumulation, checkpoints and resume, DDP via torchrun/accelerate, logging,
push_to_hub) is the stock Trainer's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from torch import nn
from transformers import Trainer

from ..arguments import check_choice
from ..data_collator import WaveformCollator
from ..feature_extraction_barlow import BarlowSpeechFeatureExtractor
from ..modeling_barlow import off_diagonal
from ..repo_folder import save_training_details, write_trainer_repo_contents
from .augment import TwoViewAugmentation
from .checkpoints import load_views_state, save_views_state, views_state_file, warn_about_legacy_views_state
from .optim import LARS, lars_param_groups

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adamw", "lars")
# The projector's BatchNorm and the loss's batch statistics need 2 samples per device (BarlowSpeechForPreTraining).
MIN_BATCH_PER_DEVICE = 2


class TrainingDivergedError(ValueError):
    """A loss term or a weight became NaN or infinite: the run is stopped and nothing of it is saved."""


@dataclass
class BarlowTwinsArguments:
    """Barlow Twins options that TrainingArguments does not have (defaults: the reference Barlow Twins)."""

    optimizer: str = field(
        default="adamw", metadata={"help": f"one of {OPTIMIZERS}; 'adamw' uses TrainingArguments.optim."}
    )
    lars_eta: float = field(default=0.001, metadata={"help": "LARS trust coefficient (reference: 0.001)."})
    lars_bias_lr_ratio: float = field(
        default=0.024, metadata={"help": "bias/norm learning rate over weight learning rate (reference 0.0048/0.2)."}
    )
    channels_last: bool = field(default=False, metadata={"help": "run the ResNet in channels_last memory format."})
    sync_batchnorm: bool = field(
        default=True, metadata={"help": "convert BatchNorm to SyncBatchNorm under multi-GPU DDP, as the reference."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "`barlow-speech pretrain`: replace the run already in --output_dir (its checkpoint folders are "
            "deleted) instead of refusing to start (transformers 5 dropped this TrainingArguments flag)."
        },
    )
    non_blocking: bool = field(
        default=True,
        metadata={
            "help": "copy pinned batches to the GPU asynchronously (accelerate's non_blocking; needs "
            "dataloader_pin_memory, the TrainingArguments default)."
        },
    )

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)


class BarlowTwinsTrainer(Trainer):
    """Trainer for `BarlowSpeechForPreTraining` on batches of raw waveforms.

    Args:
        feature_extractor: its `spectrogram` turns augmented waveforms into model inputs on the device; it is also
            the Trainer's `processing_class`, so every checkpoint can be loaded with AutoFeatureExtractor.
        augmentation: draws the two views at the feature extractor's sampling rate (a module with another
            `sampling_rate` is a ValueError); default: `default_augmentation()`, `TwoViewAugmentation()` at that rate.
        barlow_args: `BarlowTwinsArguments` (optimizer choice, channels_last, SyncBatchNorm).
        pretraining_dataset: what the model card names as the pretraining data (e.g. "librispeech (subset
            train-clean-100)"); saved beside every checkpoint's weights (`repo_folder.TRAINING_DETAILS_FILE`).
        **kwargs: passed to `transformers.Trainer` (model, args, train_dataset, eval_dataset, callbacks, ...).

    A last batch too small for the batch statistics (1 segment per device, when the set's size modulo the batch size
    is 1) is dropped, with one warning, from every map-style dataset (training, evaluation); with an iterable dataset
    (no length) make sure no batch holds a single segment.

    Logged besides `loss`: `invariance`, `redundancy` (the two terms of Eq. 1), `on_diagonal_mean` (mean C_ii, 1 is
    perfect invariance), `off_diagonal_rms` (0 is no redundancy) and `samples_per_second`.

    Example:
    ```python
    >>> trainer = BarlowTwinsTrainer(model=BarlowSpeechForPreTraining(config), args=TrainingArguments("out"),
    ...                              train_dataset=load_synthetic(2000), feature_extractor=extractor)
    >>> trainer.train()
    ```
    """

    def __init__(
        self,
        *args,
        feature_extractor: BarlowSpeechFeatureExtractor | None = None,
        augmentation: nn.Module | None = None,
        barlow_args: BarlowTwinsArguments | None = None,
        pretraining_dataset: str | None = None,
        **kwargs,
    ):
        self.barlow_args = barlow_args or BarlowTwinsArguments()
        self.pretraining_dataset = pretraining_dataset
        self.feature_extractor = feature_extractor or kwargs.get("processing_class") or BarlowSpeechFeatureExtractor()
        kwargs.setdefault("processing_class", self.feature_extractor)
        kwargs.setdefault("data_collator", WaveformCollator(self.feature_extractor.segment_samples))
        self.augmentation = augmentation or self.default_augmentation()
        rate, views_rate = self.feature_extractor.sampling_rate, getattr(self.augmentation, "sampling_rate", None)
        if views_rate not in (None, rate):
            raise ValueError(
                f"the augmentation draws views of {views_rate}-Hz audio, but the feature extractor reads {rate} Hz; "
                "build it at the extractor's rate (e.g. TwoViewAugmentation(config, "
                "sampling_rate=feature_extractor.sampling_rate))."
            )
        super().__init__(*args, **kwargs)
        self.augmentation = self.augmentation.to(self.args.device)
        if self.barlow_args.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.barlow_args.non_blocking and self.args.dataloader_pin_memory and self.args.device.type == "cuda":
            self.accelerator.dataloader_config.non_blocking = True
        if self.args.world_size > 1 and self.barlow_args.sync_batchnorm:
            if self.args.device.type == "cuda":
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
                self.model_wrapped = self.model
            else:
                logger.warning(
                    "SyncBatchNorm needs CUDA: on this device every process normalises with its own batch "
                    "statistics, so BatchNorm layers (backbone, projector) differ from one process on the whole "
                    "batch. The loss's cross-correlation is still global."
                )
        self._signature_columns = ["audio"]
        self._stats: dict[str, torch.Tensor] = {}
        self._stat_steps = 0
        self._stat_samples = 0
        self._stat_since: float | None = None  # set when the first training batch arrives, not at construction
        self._watched_terms: list[str] = []
        self._first_nonfinite_step: torch.Tensor | None = None  # per watched term, on the device; -1: finite so far
        self._micro_step = (-1, 0)

    def default_augmentation(self) -> nn.Module:
        """The views when none are given: `TwoViewAugmentation()` at the feature extractor's sampling rate."""
        return TwoViewAugmentation(sampling_rate=self.feature_extractor.sampling_rate)

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.barlow_args.optimizer != "lars" or self.optimizer is not None:
            return super().create_optimizer(model)
        groups = lars_param_groups(
            model or self.model,
            lr=self.args.learning_rate,
            weight_decay=self.args.weight_decay,
            bias_lr_ratio=self.barlow_args.lars_bias_lr_ratio,
        )
        self.optimizer = LARS(groups, lr=self.args.learning_rate, eta=self.barlow_args.lars_eta)
        return self.optimizer

    def _get_dataloader(self, dataset, description: str, batch_size: int, *args, **kwargs):
        """The stock DataLoader (the Trainer builds its training, evaluation and test loaders here), dropping the last
        batch when it would hold fewer than MIN_BATCH_PER_DEVICE segments. For the default `WaveformCollator` a
        `datasets.Dataset` without a format is read in NumPy format: its rows' waveforms come as arrays, not Python
        lists (64 clips: 6 ms instead of 40); a user's collator gets the rows as before."""
        if (
            isinstance(dataset, datasets.Dataset)
            and dataset.format["type"] is None
            and isinstance(self.data_collator, WaveformCollator)
        ):
            fmt = dataset.format
            dataset = dataset.with_format(
                "numpy", columns=fmt["columns"], output_all_columns=fmt["output_all_columns"]
            )
        remainder = len(dataset) % batch_size if isinstance(dataset, Sized) else 0
        if self.args.dataloader_drop_last or remainder == 0 or remainder >= MIN_BATCH_PER_DEVICE:
            return super()._get_dataloader(dataset, description, batch_size, *args, **kwargs)
        logger.warning(
            f"{description}: {len(dataset)} segments leave {remainder} for the last batch of {batch_size}, too few "
            "for "
            f"the batch statistics ({MIN_BATCH_PER_DEVICE} per device); that batch is dropped."
        )
        self.args.dataloader_drop_last = True
        try:
            return super()._get_dataloader(dataset, description, batch_size, *args, **kwargs)
        finally:
            self.args.dataloader_drop_last = False

    def _view_generator(self, device: torch.device, training: bool) -> torch.Generator:
        """A generator seeded by (seed, optimizer step, micro-step, rank): views are reproducible and a resumed run
        draws exactly the views the uninterrupted one would have. Evaluation draws from its own stream and does not
        advance the training micro-step."""
        step = self.state.global_step
        if training:
            micro = self._micro_step[1] + 1 if self._micro_step[0] == step else 0
            self._micro_step = (step, micro)
            key = (self.args.seed, step, micro, self.args.process_index)
        else:
            key = (self.args.seed, -1, -1, self.args.process_index)  # ints only: str hashes differ per process
        return torch.Generator(device=device).manual_seed(hash(key) % (2**63))

    def make_views(self, waveforms: torch.Tensor, training: bool = True) -> tuple[torch.Tensor | None, ...]:
        """`(batch, samples)` waveforms -> the augmentation's views: two `(batch, 1, freq, frames)` log-spectrograms
        for `TwoViewAugmentation` (long and short crops for `MultiCropAugmentation`).

        With `training=False` the views come from a fixed evaluation stream and leave the training stream's micro-step
        untouched, so evaluating changes nothing about the training run."""
        generator = self._view_generator(waveforms.device, training)
        views = self.augmentation(waveforms, self.feature_extractor.spectrogram, generator=generator)
        if self.barlow_args.channels_last:  # None: an absent group of views (DINO without short crops)
            views = tuple(v if v is None else v.contiguous(memory_format=torch.channels_last) for v in views)
        return views

    def forward_views(self, model: nn.Module, views: tuple[torch.Tensor, ...]):
        """The model's outputs on this step's views (`make_views`); subclasses for other objectives override it."""
        view_a, view_b = views
        return model(input_values=view_a, input_values_b=view_b, return_cross_correlation=True)

    def _views_state_file(self, folder: str) -> Path:
        return views_state_file(folder, self.args.process_index, self.args.world_size)

    def _save_rng_state(self, output_dir: str) -> None:
        """Checkpoints also keep the views' state, as safetensors (nothing a loaded checkpoint could run): empty for
        the package's views, whose randomness is the step's seeded generator."""
        super()._save_rng_state(output_dir)
        save_views_state(self.augmentation, self._views_state_file(output_dir))

    def _load_rng_state(self, checkpoint: str | None) -> None:
        super()._load_rng_state(checkpoint)
        if checkpoint is None:
            return
        warn_about_legacy_views_state(checkpoint)
        if self._views_state_file(checkpoint).is_file():
            load_views_state(self.augmentation, self._views_state_file(checkpoint), self.args.device)

    def compute_loss(
        self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ):
        if "waveforms" not in inputs:
            raise ValueError(
                f"BarlowTwinsTrainer batches need 'waveforms' (got {sorted(inputs)}); use WaveformCollator or a "
                "dataset in the common schema."
            )
        if model.training and self._stat_since is None:
            self._stat_since = time.perf_counter()
        outputs = self.forward_views(model, self.make_views(inputs["waveforms"], training=model.training))
        if model.training:
            self._accumulate(outputs, inputs["waveforms"].shape[0])
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def create_model_card(self, **kwargs) -> None:
        """`push_to_hub` uploads the same repo as `barlow-speech push`: remote code, projector and our model card
        (the stock card's arguments do not apply)."""
        if self.is_world_process_zero():
            write_trainer_repo_contents(self)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation = the Barlow Twins loss on held-out clips (there are no labels to predict)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs).detach()
        return loss, None, None

    def diagnostics(self, outputs) -> dict[str, torch.Tensor]:
        """What is logged besides `loss`, averaged since the last log: the terms of Eq. 1 and statistics of C."""
        c = outputs.cross_correlation
        return {
            "invariance": outputs.invariance_loss,
            "redundancy": outputs.redundancy_loss,
            "on_diagonal_mean": torch.diagonal(c).mean(),
            "off_diagonal_rms": off_diagonal(c).square().mean().sqrt(),
        }

    @torch.no_grad()
    def _accumulate(self, outputs, batch_size: int) -> None:
        diagnostics = self.diagnostics(outputs)
        for key, value in diagnostics.items():
            self._stats[key] = self._stats.get(key, 0.0) + value.detach().float()
        self._stat_steps += 1
        self._stat_samples += batch_size
        self._watch_finite({"loss": outputs.loss, **diagnostics})

    def _watch_finite(self, terms: dict[str, torch.Tensor]) -> None:
        """Record, on the loss's device (no host sync), the first step at which each term there was NaN or infinite;
        `log` and `save_model` read it (`check_finite`). Terms elsewhere (DINO's CPU teacher temperature, a schedule
        value) are not watched: copying them would cost a transfer per step."""
        device = terms["loss"].device
        terms = {key: value for key, value in terms.items() if value.device == device}
        finite = torch.stack([torch.isfinite(value.detach()).all() for value in terms.values()])
        if self._first_nonfinite_step is None:
            self._watched_terms = list(terms)
            self._first_nonfinite_step = torch.full((len(terms),), -1, dtype=torch.long, device=device)
        first = self._first_nonfinite_step
        self._first_nonfinite_step = torch.where(~finite & (first < 0), self.state.global_step + 1, first)

    def _divergence_fix(self, step: int) -> str:
        return (
            f"lower --learning_rate (it was {self.args.learning_rate:g}) or add warm-up (--warmup_steps), then start "
            f"over or resume from a checkpoint saved before step {step}."
        )

    def check_finite(self) -> None:
        """Raises `TrainingDivergedError` naming the step and the loss terms (`loss` and the `diagnostics`: Barlow
        Twins' invariance and redundancy, DINO's entropy and KL) that first became NaN or infinite."""
        if self._first_nonfinite_step is None:
            return
        diverged = {
            term: step for term, step in zip(self._watched_terms, self._first_nonfinite_step.tolist()) if step >= 0
        }
        if diverged:
            step = min(diverged.values())
            terms = ", ".join(term for term, first in diverged.items() if first == step)
            raise TrainingDivergedError(
                f"training diverged at step {step}: {terms} became NaN or infinite, so the run stops and nothing of "
                f"it is saved; {self._divergence_fix(step)}"
            )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """The stock save (final model and every checkpoint), refused with `TrainingDivergedError` when a loss term
        or a weight (parameter or buffer) is NaN or infinite: a diverged run is never saved as a model. The
        pretraining dataset goes beside the weights, for the model card (`save_training_details`)."""
        self.check_finite()
        named = (*self.model.named_parameters(), *self.model.named_buffers())
        tensors = [(name, t) for name, t in named if t.is_floating_point()]
        finite = torch.stack([torch.isfinite(t.detach()).all().to(self.args.device) for _, t in tensors]).tolist()
        bad = [name for (name, _), ok in zip(tensors, finite) if not ok]
        if bad:
            raise TrainingDivergedError(
                f"training diverged by step {self.state.global_step}: {len(bad)} of {len(tensors)} weight tensors "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}) are NaN or infinite, so they are not saved; "
                f"{self._divergence_fix(self.state.global_step)}"
            )
        super().save_model(output_dir, _internal_call)
        if self.pretraining_dataset and self.args.should_save:
            save_training_details(output_dir or self.args.output_dir, {"upstream_dataset": self.pretraining_dataset})

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Adds the `diagnostics`, averaged since the last log, to training logs; then stops a diverged run
        (`check_finite`): at the first log after the step, which also ends every `train()`."""
        if self._stat_steps and "loss" in logs:
            logs.update({key: round(float(value) / self._stat_steps, 6) for key, value in self._stats.items()})
            elapsed = time.perf_counter() - self._stat_since  # set by the first training batch, before any stats
            logs["samples_per_second"] = round(self._stat_samples * self.args.world_size / max(elapsed, 1e-9), 2)
            self._stats, self._stat_steps, self._stat_samples = {}, 0, 0
            self._stat_since = time.perf_counter()
        super().log(logs, start_time)
        self.check_finite()


__all__ = [
    "MIN_BATCH_PER_DEVICE",
    "OPTIMIZERS",
    "BarlowTwinsArguments",
    "BarlowTwinsTrainer",
    "TrainingDivergedError",
]
