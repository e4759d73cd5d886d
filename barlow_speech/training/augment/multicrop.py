"""DINO's multi-crop views (Caron et al. 2021): long and short augmented crops of each clip, drawn by the two-view
pipeline of `views.py`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from ...data.effects import random_crops
from .base import check_waveforms
from .views import TwoViewAugmentation, TwoViewAugmentationConfig


@dataclasses.dataclass
class MultiCropConfig:
    """Multi-crop for speech (DINO, Caron et al. 2021 Sec. 3.1 and facebookresearch/dino `DataAugmentationDINO`):
    long and short segments of the same utterance; the teacher sees only the long ones, the student all of them.

    Cho et al. 2022 (shared/paper/004) crop long and short segments of each utterance, the short ones half as long;
    our pretraining clips are 1-s segments, so the defaults are `num_long` = 2 long crops of 1 s (the whole clip: its
    views differ by the waveform and spectrogram augmentations, as Barlow Twins' two views) and `num_short` = 4 short
    crops of 0.5 s (the reference DINO uses 2 global and 8 local crops). Short crops stay short spectrograms (half
    the frames): the ResNet and its pooling take any length. Every crop is augmented by `views` (the Barlow Twins
    pipeline; mixup partners are other clips' crops of the same length).
    """

    num_long: int = 2
    long_seconds: float = 1.0
    num_short: int = 4
    short_seconds: float = 0.5
    views: TwoViewAugmentationConfig = dataclasses.field(default_factory=TwoViewAugmentationConfig)

    def __post_init__(self):
        if self.num_long < 1 or self.num_short < 0 or self.num_long + self.num_short < 2:
            raise ValueError(
                f"num_long={self.num_long}, num_short={self.num_short}: DINO needs >= 1 long crop (the teacher's) and "
                ">= 2 crops in all (each teacher crop is compared with the other crops); the default is 2 long, 4 "
                "short."
            )
        if not 0 < self.short_seconds <= self.long_seconds:
            raise ValueError(
                f"long_seconds={self.long_seconds}, short_seconds={self.short_seconds}: expected "
                "0 < short_seconds <= long_seconds (default 1.0 and 0.5)."
            )


class MultiCropAugmentation(nn.Module):
    """Long and short augmented crops of a waveform batch, drawn on its device (see `MultiCropConfig`).

    Call: `long, short = aug(waveforms, to_spectrogram, generator=g)` with waveforms `(batch, samples)`; returns
    `long` `(num_long * batch, 1, freq, frames)` and `short` `(num_short * batch, 1, freq, frames')` (None when
    `num_short` is 0), crop-major as `random_crops`. The same `generator` draws every crop and augmentation, so the
    trainer's (seed, step, micro-step, rank) seeding makes them reproducible, as for the two Barlow Twins views.
    `noise_bank` and `sampling_rate` (the feature extractor's) are `TwoViewAugmentation`'s.
    """

    def __init__(
        self,
        config: MultiCropConfig | None = None,
        noise_bank: torch.Tensor | None = None,
        sampling_rate: int | None = None,
    ) -> None:
        super().__init__()
        self.config = config or MultiCropConfig()
        if self.config.views.view_segment_seconds is not None:
            raise ValueError(
                f"views.view_segment_seconds={self.config.views.view_segment_seconds}: multi-crop draws its own "
                "segments (long_seconds, short_seconds); set views.view_segment_seconds=None."
            )
        self.views = TwoViewAugmentation(self.config.views, noise_bank, sampling_rate)
        self.sampling_rate = self.views.sampling_rate

    def forward(
        self,
        waveforms: torch.Tensor,
        to_spectrogram: Callable[[torch.Tensor], torch.Tensor],
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_waveforms(waveforms, type(self).__name__)
        if waveforms.shape[0] < 1:
            raise ValueError("MultiCropAugmentation got an empty batch; expected at least one waveform.")
        c = self.config
        g = generator if generator is not None else self.views.generator_for(waveforms.device)
        rate = self.sampling_rate
        long = random_crops(waveforms, c.num_long, round(c.long_seconds * rate), g)
        long = self.views.augment(long, to_spectrogram, g, clips=waveforms.shape[0])
        if c.num_short == 0:
            return long, None
        short = random_crops(waveforms, c.num_short, round(c.short_seconds * rate), g)
        return long, self.views.augment(short, to_spectrogram, g, clips=waveforms.shape[0])


__all__ = ["MultiCropAugmentation", "MultiCropConfig"]
