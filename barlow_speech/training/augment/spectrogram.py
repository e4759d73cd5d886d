"""Spectrogram augmentations of the views, `(batch, 1, freq, frames)` -> same shape, and their pure functions.

FrequencyMask / TimeMask (SpecAugment, Park et al. 2019), RandomResizedCrop and MixupBYOLA (BYOL-A, Niizumi et
al. 2021; nttcslab/byol-a `byol_a/augmentations.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...data.effects import uniform
from .base import RandomAugmentation, check_range, check_spectrograms


def band_masks(size: int, starts: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Union of intervals [start, start + width) per example: (batch, size) bool from (batch, masks)."""
    index = torch.arange(size, device=starts.device)[None, None, :]
    inside = (index >= starts[..., None]) & (index < (starts + widths)[..., None])
    return inside.any(dim=1)


def resized_crop(
    spectrograms: torch.Tensor, boxes: torch.Tensor, canvas: tuple[int, int], mode: str = "bicubic"
) -> torch.Tensor:
    """BYOL-A random resized crop: crop `boxes` from a zero canvas holding the input at its centre, resize back.

    Args:
        spectrograms: (batch, channels, freq, frames).
        boxes: (batch, 4) integer (top, left, height, width) in canvas coordinates.
        canvas: (height, width) of the virtual canvas, >= (freq, frames).
        mode: `grid_sample` interpolation ("bicubic" as in BYOL-A, or "bilinear").

    Returns:
        (batch, channels, freq, frames): the crop resized with align_corners=True.
    """
    batch, channels, height, width = spectrograms.shape
    pad_top, pad_left = (canvas[0] - height) // 2, (canvas[1] - width) // 2
    top, left, box_h, box_w = boxes.to(torch.float32).unbind(dim=1)
    theta = torch.zeros(batch, 2, 3, device=spectrograms.device, dtype=torch.float32)
    # grid x (time) and y (freq) in [-1, 1] of the input, align_corners=True: x_in = 2 * pixel / (W - 1) - 1.
    theta[:, 0, 0] = (box_w - 1) / max(width - 1, 1)
    theta[:, 0, 2] = 2 * (left - pad_left) / max(width - 1, 1) + theta[:, 0, 0] - 1
    theta[:, 1, 1] = (box_h - 1) / max(height - 1, 1)
    theta[:, 1, 2] = 2 * (top - pad_top) / max(height - 1, 1) + theta[:, 1, 1] - 1
    grid = F.affine_grid(theta, [batch, channels, height, width], align_corners=True)
    out = F.grid_sample(spectrograms.float(), grid, mode=mode, padding_mode="zeros", align_corners=True)
    return out.to(spectrograms.dtype)


def log_mixup_exp(x: torch.Tensor, z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """log((1 - alpha) exp(x) + alpha exp(z)), computed stably; alpha (batch,) in [0, 1)."""
    alpha = alpha.to(torch.float32).view(-1, *([1] * (x.dim() - 1)))
    mixed = torch.logaddexp(torch.log1p(-alpha) + x.float(), torch.log(alpha) + z.float())
    return mixed.to(x.dtype)


class _BandMask(RandomAugmentation):
    """SpecAugment mask along one axis: `num_masks` bands of width uniform in [0, max_width]."""

    dim: int  # -2 frequency, -1 time

    def __init__(
        self,
        max_width: int,
        num_masks: int = 2,
        mask_value: float | str = "mean",
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(p, seed)
        if max_width < 0 or num_masks < 0:
            raise ValueError(f"max_width={max_width}, num_masks={num_masks}: expected non-negative integers.")
        if not (isinstance(mask_value, (int, float)) or mask_value == "mean"):
            raise ValueError(f"mask_value={mask_value!r}: expected a number or 'mean' (each example's mean).")
        self.max_width, self.num_masks, self.mask_value = max_width, num_masks, mask_value

    def forward(self, spectrograms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_spectrograms(spectrograms, type(self).__name__)
        g = self.generator_for(spectrograms.device, generator)
        batch, size = spectrograms.shape[0], spectrograms.shape[self.dim]
        device = spectrograms.device
        widths = torch.randint(0, min(self.max_width, size) + 1, (batch, self.num_masks), device=device, generator=g)
        starts = (torch.rand((batch, self.num_masks), device=device, generator=g) * (size - widths + 1)).long()
        mask = band_masks(size, starts, widths)
        mask = mask[:, None, :, None] if self.dim == -2 else mask[:, None, None, :]
        if self.mask_value == "mean":
            fill = spectrograms.mean(dim=(1, 2, 3), keepdim=True)
        else:
            fill = torch.tensor(float(self.mask_value), device=device, dtype=spectrograms.dtype)
        return self.select(spectrograms, torch.where(mask, fill, spectrograms), g)


class FrequencyMask(_BandMask):
    """SpecAugment frequency masking (Park et al. 2019): `num_masks` bands of <= `max_width` bins.

    Args:
        max_width: widest band, in frequency bins (F in the SpecAugment paper).
        num_masks: bands per example (m_F).
        mask_value: fill value, or "mean" for each example's mean (neutral for log spectrograms).
        p: probability per example.
    Shapes: (batch, 1, freq, frames) -> same.
    """

    dim = -2


class TimeMask(_BandMask):
    """SpecAugment time masking: `num_masks` spans of <= `max_width` frames (T and m_T in the paper).

    Args: as `FrequencyMask`, along frames.
    """

    dim = -1


class RandomResizedCrop(RandomAugmentation):
    """BYOL-A random resized crop (Niizumi et al. 2021, nttcslab/byol-a `RandomResizeCrop`).

    The input is placed at the centre of a zero canvas `virtual_crop_scale` times its size; a box of
    `freq_scale` x `time_scale` times the input size (clipped to the canvas) is cut at a random
    position and resized back to the input size with bicubic interpolation. Zero padding assumes
    normalised (zero-mean) log spectrograms, as in BYOL-A.

    Args:
        virtual_crop_scale: canvas size (freq ratio, time ratio); BYOL-A default (1.0, 1.5).
        freq_scale: (min, max) crop height ratio; BYOL-A default (0.6, 1.5).
        time_scale: (min, max) crop width ratio; BYOL-A default (0.6, 1.5).
        p: probability per example.
    Shapes: (batch, 1, freq, frames) -> same.
    """

    def __init__(
        self,
        virtual_crop_scale: tuple[float, float] = (1.0, 1.5),
        freq_scale: tuple[float, float] = (0.6, 1.5),
        time_scale: tuple[float, float] = (0.6, 1.5),
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(p, seed)
        if min(virtual_crop_scale) < 1.0:
            raise ValueError(
                f"virtual_crop_scale={virtual_crop_scale!r}: the canvas must be at least the input size (>= 1.0)."
            )
        self.virtual_crop_scale = tuple(float(v) for v in virtual_crop_scale)
        self.freq_scale = check_range("freq_scale", freq_scale, minimum=1e-3)
        self.time_scale = check_range("time_scale", time_scale, minimum=1e-3)

    def forward(self, spectrograms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_spectrograms(spectrograms, type(self).__name__)
        g = self.generator_for(spectrograms.device, generator)
        batch, _, height, width = spectrograms.shape
        device = spectrograms.device
        canvas = (int(height * self.virtual_crop_scale[0]), int(width * self.virtual_crop_scale[1]))
        box_h = (uniform(*self.freq_scale, (batch,), device, g) * height).long().clamp(1, canvas[0])
        box_w = (uniform(*self.time_scale, (batch,), device, g) * width).long().clamp(1, canvas[1])
        top = (torch.rand(batch, device=device, generator=g) * (canvas[0] - box_h + 1)).long()
        left = (torch.rand(batch, device=device, generator=g) * (canvas[1] - box_w + 1)).long()
        boxes = torch.stack([top, left, box_h, box_w], dim=1)
        return self.select(spectrograms, resized_crop(spectrograms, boxes, canvas), g)


class MixupBYOLA(RandomAugmentation):
    """BYOL-A mixup with partners from the same batch: mix each example with another clip's in linear-power space
    (log-mixup-exp).

    x' = log((1 - a) exp(x) + a exp(z)), a ~ U(0, ratio), z the same view of another clip of the batch, drawn with
    the generator (never the clip itself, nor another view of it). BYOL-A draws z from a FIFO memory of past examples;
    partners from the batch leave the module without state, so a checkpoint carries no spectrograms (512 of them were
    132 MB) and a resumed run, whose generator is seeded by the step, draws the partners of an uninterrupted one. A
    batch of one clip passes through.

    Args:
        ratio: largest mixing weight a (BYOL-A alpha, default 0.4).
        p: probability per example.
    Shapes: (rows, 1, freq, frames) -> same; `clips` says how many clips the rows hold (crop-major: row r is a view
    of clip r % clips; default: every row its own clip).
    """

    def __init__(self, ratio: float = 0.4, p: float = 1.0, seed: int | None = None) -> None:
        super().__init__(p, seed)
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"ratio={ratio}: expected 0 <= ratio < 1 (BYOL-A: 0.4).")
        self.ratio = ratio

    def forward(
        self, spectrograms: torch.Tensor, generator: torch.Generator | None = None, clips: int | None = None
    ) -> torch.Tensor:
        check_spectrograms(spectrograms, type(self).__name__)
        rows, device = spectrograms.shape[0], spectrograms.device
        clips = clips or rows
        if rows % clips:
            raise ValueError(f"{rows} rows are not views of {clips} clips (crop-major: rows = views x clips).")
        if clips < 2:
            return spectrograms
        g = self.generator_for(device, generator)
        alpha = uniform(0.0, self.ratio, (rows,), device, g)
        row = torch.arange(rows, device=device)
        clip = row % clips
        partner_clip = (clip + torch.randint(1, clips, (rows,), device=device, generator=g)) % clips
        partners = spectrograms[row - clip + partner_clip]
        return self.select(spectrograms, log_mixup_exp(spectrograms, partners, alpha), g)


__all__ = [
    "FrequencyMask",
    "MixupBYOLA",
    "RandomResizedCrop",
    "TimeMask",
    "band_masks",
    "log_mixup_exp",
    "resized_crop",
]
