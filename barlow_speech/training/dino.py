"""`DinoTrainer`: DINO pretraining (Caron et al. 2021; for speech Cho et al. 2022) through the Barlow Twins trainer.

Everything but the objective is `BarlowTwinsTrainer`'s: raw 1-s waveforms per batch, views drawn on the device with
the (seed, step, micro-step, rank) seeding, checkpoints that resume with the same loss trajectory, throughput and
diagnostics logging, DDP, push_to_hub. What DINO adds:

* multi-crop views (`MultiCropAugmentation`: long crops for teacher and student, short ones for the student);
* the schedules of the reference (facebookresearch/dino `main_dino.py`): the teacher momentum follows a cosine from
  `teacher_momentum` to 1 over training, the teacher temperature warms up linearly to the config's;
* the teacher's EMA update after every optimizer step (`TeacherUpdateCallback`), identical on every DDP rank;
* logged `teacher_entropy`, `kl_teacher_student` and `kl_to_center`, and a warning when the teacher has collapsed
  (`kl_to_center` below `collapse_threshold`: every input gets the same teacher output).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import TrainerCallback

from ..arguments import check_at_least
from .augment import MultiCropAugmentation, MultiCropConfig
from .trainer import BarlowTwinsTrainer

logger = logging.getLogger(__name__)


def teacher_momentum_at(step: int, total_steps: int, base: float) -> float:
    """Cosine schedule from `base` at step 0 to 1 at `total_steps` (reference `cosine_scheduler(momentum_teacher, 1,
    ...)`): m = 1 - (1 - base) * (cos(pi * step / total_steps) + 1) / 2."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)) + 1.0) / 2.0


def teacher_temperature_at(step: int, warmup_steps: int, start: float, end: float) -> float:
    """Linear warm-up from `start` to `end` over `warmup_steps`, then `end` (reference `teacher_temp_schedule`)."""
    if step >= warmup_steps:
        return end
    return start + (end - start) * step / warmup_steps


@dataclass
class DinoArguments:
    """DINO training options (defaults: the reference DINO, and `MultiCropConfig` for the crops)."""

    teacher_momentum: float = field(
        default=0.996, metadata={"help": "teacher EMA momentum at step 0, cosine to 1 (reference: 0.996)."}
    )
    warmup_teacher_temperature: float = field(
        default=0.04, metadata={"help": "teacher temperature at step 0 (reference: 0.04; the paper suggests 0.04)."}
    )
    warmup_teacher_temperature_steps: int = field(
        default=0, metadata={"help": "steps to reach the config's dino_teacher_temperature (reference: 0)."}
    )
    num_long_crops: int = field(default=2, metadata={"help": "long crops per clip, teacher and student (2)."})
    long_crop_seconds: float = field(default=1.0, metadata={"help": "length of a long crop (1 s: the clip)."})
    num_short_crops: int = field(default=4, metadata={"help": "short crops per clip, student only (4)."})
    short_crop_seconds: float = field(default=0.5, metadata={"help": "length of a short crop (0.5 s)."})
    collapse_threshold: float = field(
        default=1e-2,
        metadata={
            "help": "warn that the teacher collapsed when kl_to_center (nats) falls below it (a healthy teacher keeps "
            "it near 1 nat or more; a run that went uniform sat at 0.004)."
        },
    )

    uniform_entropy_fraction: float = field(
        default=0.99,
        metadata={
            "help": "warn that the teacher collapsed when teacher_entropy exceeds this fraction of log K (a "
            "near-uniform teacher; a run that went uniform sat at 0.998)."
        },
    )

    def __post_init__(self):
        if not 0.0 <= self.teacher_momentum <= 1.0:
            raise ValueError(
                f"--teacher_momentum {self.teacher_momentum}: expected a value in [0, 1] (the reference: 0.996)."
            )
        check_at_least("warmup_teacher_temperature", self.warmup_teacher_temperature, 1e-6, " (the reference: 0.04)")
        check_at_least("warmup_teacher_temperature_steps", self.warmup_teacher_temperature_steps, 0)
        check_at_least("collapse_threshold", self.collapse_threshold, 0.0)
        if not 0.0 < self.uniform_entropy_fraction <= 1.0:
            raise ValueError(
                f"--uniform_entropy_fraction {self.uniform_entropy_fraction}: expected a value in (0, 1] "
                "(default 0.99)."
            )
        try:
            self.multi_crop_config()
        except ValueError as error:
            raise ValueError(
                f"--num_long_crops {self.num_long_crops} --long_crop_seconds {self.long_crop_seconds} "
                f"--num_short_crops {self.num_short_crops} --short_crop_seconds {self.short_crop_seconds}: {error}"
            ) from error

    def multi_crop_config(self) -> MultiCropConfig:
        return MultiCropConfig(
            num_long=self.num_long_crops,
            long_seconds=self.long_crop_seconds,
            num_short=self.num_short_crops,
            short_seconds=self.short_crop_seconds,
        )


class TeacherUpdateCallback(TrainerCallback):
    """After every optimizer step: teacher <- EMA of the student with the cosine momentum of this step."""

    def __init__(self, base_momentum: float):
        self.base_momentum = base_momentum

    def on_optimizer_step(self, args, state, control, model: nn.Module | None = None, **kwargs):
        model.update_teacher(teacher_momentum_at(state.global_step, state.max_steps, self.base_momentum))


class DinoTrainer(BarlowTwinsTrainer):
    """Trainer for `DinoSpeechForPreTraining` on batches of raw waveforms (see the module docstring).

    Args:
        dino_args: `DinoArguments` (schedules, crops, collapse threshold).
        augmentation: draws the crops; defaults to `MultiCropAugmentation(dino_args.multi_crop_config())` at the
            feature extractor's sampling rate.
        **kwargs: as `BarlowTwinsTrainer` (model, args, train_dataset, feature_extractor, barlow_args, ...).

    Logged besides `loss`: `teacher_entropy` (h(P_t), at most log K), `kl_teacher_student` (loss - entropy),
    `kl_to_center` (0 when the teacher gives every input the same output), `teacher_temperature`, `samples_per_second`.

    Example:
    ```python
    >>> config = BarlowSpeechConfig(objective="dino")
    >>> trainer = DinoTrainer(model=DinoSpeechForPreTraining(config), args=TrainingArguments("out"),
    ...                       train_dataset=load_synthetic(2000), feature_extractor=extractor)
    >>> trainer.train()  # trainer.save_model("out"): AutoModel.from_pretrained("out") is the teacher encoder
    ```
    """

    def __init__(
        self,
        *args,
        dino_args: DinoArguments | None = None,
        augmentation: MultiCropAugmentation | None = None,
        **kwargs,
    ):
        self.dino_args = dino_args or DinoArguments()
        super().__init__(*args, augmentation=augmentation, **kwargs)
        self.add_callback(TeacherUpdateCallback(self.dino_args.teacher_momentum))

    def default_augmentation(self) -> nn.Module:
        """The crops when none are given: `MultiCropAugmentation` of `dino_args` at the extractor's sampling rate."""
        return MultiCropAugmentation(
            self.dino_args.multi_crop_config(), sampling_rate=self.feature_extractor.sampling_rate
        )

    def teacher_temperature(self) -> float:
        """This step's teacher temperature: warm-up from `warmup_teacher_temperature` to the config's."""
        return teacher_temperature_at(
            self.state.global_step,
            self.dino_args.warmup_teacher_temperature_steps,
            self.dino_args.warmup_teacher_temperature,
            self.model.config.dino_teacher_temperature,
        )

    def forward_views(self, model: nn.Module, views: tuple[torch.Tensor, torch.Tensor | None]):
        """Crop-major `(crops * batch, 1, freq, frames)` long and short crops -> `(crops, batch, ...)` -> the model."""
        long, short = views
        crops = self.augmentation.config
        return model(
            input_values=long.unflatten(0, (crops.num_long, -1)),
            input_values_short=None if short is None else short.unflatten(0, (crops.num_short, -1)),
            teacher_temperature=self.teacher_temperature(),
        )

    def diagnostics(self, outputs) -> dict[str, torch.Tensor]:
        """Collapse diagnostics (`DinoLossOutput`) and the teacher temperature, averaged since the last log."""
        return {
            "teacher_entropy": outputs.teacher_entropy,
            "kl_teacher_student": outputs.kl_teacher_student,
            "kl_to_center": outputs.kl_to_center,
            "teacher_temperature": torch.tensor(self.teacher_temperature()),
        }

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Logs as `BarlowTwinsTrainer`, and warns when the teacher has collapsed: one output for every input
        (`kl_to_center` below `collapse_threshold`) or a near-uniform output (`teacher_entropy` above
        `uniform_entropy_fraction` of log K; centring then leaves nothing to distil)."""
        super().log(logs, start_time)
        kl, entropy = logs.get("kl_to_center"), logs.get("teacher_entropy")
        if kl is None or entropy is None or not self.is_world_process_zero():
            return
        max_entropy = math.log(self.model.config.dino_num_prototypes)
        constant = kl < self.dino_args.collapse_threshold
        uniform = entropy > self.dino_args.uniform_entropy_fraction * max_entropy
        if not (constant or uniform):
            return
        near_uniform = entropy > 0.9 * max_entropy
        # Sinkhorn-Knopp centring has no momentum: only the temperature sets how much it spreads the teacher
        momentum = "lower dino_center_momentum or " if self.model.config.dino_centering == "centering" else ""
        fix = (
            "a near-uniform output: sharpening is too weak; lower dino_teacher_temperature"
            if near_uniform
            else f"one prototype dominates: centring is too weak; {momentum}raise the teacher temperature"
        )
        logger.warning(
            f"step {self.state.global_step}: the DINO teacher has collapsed: kl_to_center={kl:.3g} nats "
            f"(collapse_threshold={self.dino_args.collapse_threshold:g}), teacher_entropy={entropy:.4g} of at most "
            f"log K = {max_entropy:.4g} (uniform_entropy_fraction={self.dino_args.uniform_entropy_fraction:g}): "
            f"{fix}, or lower the learning rate or raise --teacher_momentum."
        )


def dino_history(log_history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Training curves from `trainer.state.log_history`: step -> loss, teacher_entropy, kl_to_center."""
    rows = [row for row in log_history if "loss" in row and "kl_to_center" in row]
    return {key: [row[key] for row in rows] for key in ("step", "loss", "teacher_entropy", "kl_to_center")}


__all__ = [
    "DinoArguments",
    "DinoTrainer",
    "TeacherUpdateCallback",
    "dino_history",
    "teacher_momentum_at",
    "teacher_temperature_at",
]
