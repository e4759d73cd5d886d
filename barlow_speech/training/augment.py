"""The two augmented views of Barlow Twins (paper Fig. 1, X_A and X_B), as batched torch modules.

Every augmentation runs on the batch's device with per-example parameters drawn by torch ops (no
per-clip Python loop). Each module is a thin `nn.Module` over a pure function of this file, takes
an optional `seed` (a private `torch.Generator` on the input's device) and accepts a `generator`
argument in `forward` that overrides it, so a pipeline is reproducible end to end.

Waveform augmentations, (batch, samples) -> (batch, samples) unless stated:
    RandomTimeShift, RandomGain, RandomEqualizer, RandomReverb, AddNoise (white / pink / brown or a noise bank
    from a `_background_noise_` folder, see `load_noise_bank`), RandomSpeed.
Spectrogram augmentations, (batch, 1, freq, frames) -> same shape:
    FrequencyMask / TimeMask (SpecAugment, Park et al. 2019), RandomResizedCrop and MixupBYOLA
    (BYOL-A, Niizumi et al. 2021; nttcslab/byol-a `byol_a/augmentations.py`).
`TwoViewAugmentation` composes them around a caller-provided spectrogram function (`MultiCropAugmentation`: the long
and short crops of DINO, from the same pipeline):

    >>> aug = TwoViewAugmentation(TwoViewAugmentationConfig(seed=0))
    >>> view_a, view_b = aug(waveforms, lambda w: extractor_on_device(w))  # each (batch, 1, freq, frames)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.audio import AUDIO_EXTENSIONS, AudioDecodeError, BadFiles, decode_audio, find_audio_files
from ..data.effects import (
    NOISE_COLOURS,
    apply_gain,
    coloured_noise,
    equalize,
    mix_at_snr,
    random_crops,
    resample_speed,
    reverberate,
    room_impulse_responses,
    time_shift,
    uniform,
)

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# Pure spectrogram functions (the waveform ones are barlow_speech.data.effects).
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Modules.
# ----------------------------------------------------------------------------------------------
def seeded_generator(
    current: torch.Generator | None, seed: int | None, device: torch.device
) -> torch.Generator | None:
    """`current` if it lives on `device`, else a new generator there seeded with `seed` (None: global RNG)."""
    if seed is None:
        return None
    if current is None or current.device != torch.device(device):
        current = torch.Generator(device=device).manual_seed(seed)
    return current


class RandomAugmentation(nn.Module):
    """Base class: seedable randomness on the input's device, and per-example application probability `p`.

    Args:
        p: probability that an example is augmented (others pass through unchanged).
        seed: if given, a private `torch.Generator` on the input's device seeded with it; otherwise
            the global torch RNG. A `generator` passed to `forward` takes precedence over both.
    """

    def __init__(self, p: float = 1.0, seed: int | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p}: expected a probability in [0, 1].")
        self.p, self.seed = p, seed
        self._generator: torch.Generator | None = None

    def generator_for(self, device: torch.device, generator: torch.Generator | None = None) -> torch.Generator | None:
        if generator is not None:
            return generator
        self._generator = seeded_generator(self._generator, self.seed, device)
        return self._generator

    def select(
        self, original: torch.Tensor, augmented: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Per example: `augmented` with probability p, else `original`."""
        if self.p >= 1.0:
            return augmented
        keep = torch.rand(original.shape[0], device=original.device, generator=generator) >= self.p
        return torch.where(keep.view(-1, *([1] * (original.dim() - 1))), original, augmented)

    def extra_repr(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "training"}
        return ", ".join(f"{k}={v!r}" for k, v in fields.items() if not isinstance(v, torch.Tensor))


def _check_range(name: str, value: tuple[float, float], minimum: float | None = None) -> tuple[float, float]:
    low, high = value
    if low > high or (minimum is not None and low < minimum):
        bound = f" and min >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name}={value!r}: expected (min, max) with min <= max{bound}.")
    return float(low), float(high)


def _check_waveforms(waveforms: torch.Tensor, name: str) -> None:
    if waveforms.dim() != 2 or not waveforms.is_floating_point():
        raise ValueError(
            f"{name} expects float waveforms of shape (batch, samples); got {tuple(waveforms.shape)} "
            f"{waveforms.dtype}."
        )


def _check_spectrograms(spectrograms: torch.Tensor, name: str) -> None:
    if spectrograms.dim() != 4 or not spectrograms.is_floating_point():
        raise ValueError(
            f"{name} expects float spectrograms of shape (batch, 1, freq, frames); "
            f"got {tuple(spectrograms.shape)} {spectrograms.dtype}. Add the channel axis with x.unsqueeze(1)."
        )


class RandomTimeShift(RandomAugmentation):
    """Shift each example by a uniform random amount in [-max_shift, max_shift] samples.

    Args:
        max_shift: largest shift in samples (e.g. 1600 = 100 ms at 16 kHz).
        circular: wrap around (True) or fill with zeros (False).
        p: probability per example.
    """

    def __init__(self, max_shift: int = 1600, circular: bool = True, p: float = 1.0, seed: int | None = None) -> None:
        super().__init__(p, seed)
        if max_shift < 0:
            raise ValueError(f"max_shift={max_shift}: expected >= 0 samples.")
        self.max_shift, self.circular = max_shift, circular

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_waveforms(waveforms, type(self).__name__)
        g = self.generator_for(waveforms.device, generator)
        shifts = torch.randint(
            -self.max_shift, self.max_shift + 1, (waveforms.shape[0],), device=waveforms.device, generator=g
        )
        return self.select(waveforms, time_shift(waveforms, shifts, self.circular), g)


class RandomGain(RandomAugmentation):
    """Multiply each example by a gain drawn uniformly in `gain_db` decibels.

    Args:
        gain_db: (min, max) gain in dB.
        p: probability per example.
    """

    def __init__(self, gain_db: tuple[float, float] = (-6.0, 6.0), p: float = 1.0, seed: int | None = None) -> None:
        super().__init__(p, seed)
        self.gain_db = _check_range("gain_db", gain_db)

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_waveforms(waveforms, type(self).__name__)
        g = self.generator_for(waveforms.device, generator)
        gain = uniform(*self.gain_db, (waveforms.shape[0],), waveforms.device, g)
        return self.select(waveforms, apply_gain(waveforms, gain), g)


class RandomEqualizer(RandomAugmentation):
    """A random smooth channel per example: gains drawn N(0, `gain_db_std`^2) dB at `num_points` log-spaced
    frequencies from `low_hz` to `high_hz`, interpolated on log frequency (`equalize`). Microphones and rooms colour
    every recording differently; two views with independent channels ask the encoder to ignore the colouring.

    Args:
        gain_db_std: standard deviation of each point's gain in dB.
        num_points: gain points (>= 2); 7 spans 125 Hz to 8 kHz in octaves.
        low_hz, high_hz: the first and last point (at most the Nyquist frequency).
        sampling_rate: of the waveforms.
        p: probability per example.
    """

    def __init__(
        self,
        gain_db_std: float = 3.0,
        num_points: int = 7,
        low_hz: float = 125.0,
        high_hz: float = 8000.0,
        sampling_rate: int = 16_000,
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(p, seed)
        if gain_db_std < 0 or num_points < 2 or not 0 < low_hz < high_hz <= sampling_rate / 2:
            raise ValueError(
                f"gain_db_std={gain_db_std}, num_points={num_points}, low_hz={low_hz}, high_hz={high_hz}, "
                f"sampling_rate={sampling_rate}: expected gain_db_std >= 0, num_points >= 2 and "
                "0 < low_hz < high_hz <= sampling_rate / 2."
            )
        self.gain_db_std, self.sampling_rate = float(gain_db_std), sampling_rate
        points = torch.logspace(np.log10(low_hz), np.log10(high_hz), num_points)
        self.register_buffer("points_hz", points, persistent=False)

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_waveforms(waveforms, type(self).__name__)
        g = self.generator_for(waveforms.device, generator)
        shape = (waveforms.shape[0], len(self.points_hz))
        gains = self.gain_db_std * torch.randn(shape, device=waveforms.device, generator=g)
        return self.select(waveforms, equalize(waveforms, gains, self.sampling_rate, self.points_hz), g)


class AddNoise(RandomAugmentation):
    """Add noise at an SNR drawn uniformly in `snr_db` (signal power over the whole example).

    Args:
        snr_db: (min, max) signal-to-noise ratio in dB.
        colours: noise colours drawn uniformly per example, from "white", "pink", "brown"; ignored
            when `noise_bank` is given.
        noise_bank: optional 1-D tensor of recorded noise (e.g. `load_noise_bank(".../_background_noise_")`);
            each example gets a random excerpt (wrapping around the bank).
        p: probability per example.
    """

    def __init__(
        self,
        snr_db: tuple[float, float] = (5.0, 40.0),
        colours: Sequence[str] = ("white", "pink"),
        noise_bank: torch.Tensor | None = None,
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(p, seed)
        self.snr_db = _check_range("snr_db", snr_db)
        unknown = [c for c in colours if c not in NOISE_COLOURS]
        if unknown or not colours:
            raise ValueError(f"colours={tuple(colours)!r}: expected a non-empty subset of {tuple(NOISE_COLOURS)}.")
        self.colours = tuple(colours)
        if noise_bank is not None and (noise_bank.dim() != 1 or noise_bank.numel() < 2):
            raise ValueError(
                f"noise_bank has shape {tuple(noise_bank.shape)}: expected a 1-D tensor of noise samples "
                "(load_noise_bank returns one)."
            )
        self.register_buffer("noise_bank", None if noise_bank is None else noise_bank.float(), persistent=False)

    def sample_noise(
        self, shape: tuple[int, int], device: torch.device, generator: torch.Generator | None
    ) -> torch.Tensor:
        """(batch, samples) noise from the bank or of random colours."""
        batch, samples = shape
        if self.noise_bank is not None:
            bank = self.noise_bank.to(device)
            offsets = torch.randint(0, bank.numel(), (batch,), device=device, generator=generator)
            index = (offsets[:, None] + torch.arange(samples, device=device)[None, :]) % bank.numel()
            return bank[index]
        exponents = torch.tensor([NOISE_COLOURS[c] for c in self.colours], device=device)
        choice = torch.randint(0, len(self.colours), (batch,), device=device, generator=generator)
        return coloured_noise(shape, exponents[choice], device, generator)

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_waveforms(waveforms, type(self).__name__)
        g = self.generator_for(waveforms.device, generator)
        noise = self.sample_noise(tuple(waveforms.shape), waveforms.device, g).to(waveforms.dtype)
        snr = uniform(*self.snr_db, (waveforms.shape[0],), waveforms.device, g)
        return self.select(waveforms, mix_at_snr(waveforms, noise, snr), g)


class RandomReverb(RandomAugmentation):
    """Reverberation in a random synthetic room per example (`room_impulse_responses`, `reverberate`): recordings of
    one speaker come from many rooms, and two views in different rooms ask the encoder to ignore the room, as the
    room-impulse-response augmentation of x-vector and WavLM training does.

    Args:
        rt60_s: (min, max) reverberation time in seconds, drawn uniformly per example.
        drr_db: (min, max) direct-to-reverberant energy ratio in dB.
        sampling_rate: of the waveforms.
        p: probability per example.
    """

    def __init__(
        self,
        rt60_s: tuple[float, float] = (0.1, 0.8),
        drr_db: tuple[float, float] = (-3.0, 10.0),
        sampling_rate: int = 16_000,
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(p, seed)
        self.rt60_s = _check_range("rt60_s", rt60_s, minimum=1e-3)
        self.drr_db = _check_range("drr_db", drr_db)
        self.sampling_rate = sampling_rate

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_waveforms(waveforms, type(self).__name__)
        g = self.generator_for(waveforms.device, generator)
        batch, device = waveforms.shape[0], waveforms.device
        rt60, drr = uniform(*self.rt60_s, (batch,), device, g), uniform(*self.drr_db, (batch,), device, g)
        length = int(np.ceil(self.rt60_s[1] * self.sampling_rate))  # the longest room decays to -60 dB
        rooms = room_impulse_responses(rt60, drr, length, self.sampling_rate, g)
        return self.select(waveforms, reverberate(waveforms, rooms), g)


class RandomSpeed(RandomAugmentation):
    """Speed perturbation by resampling (tempo and pitch change together), length preserved.

    Args:
        rates: (min, max) playback-rate factor, e.g. (0.9, 1.1) as in Kaldi's speed perturbation.
        p: probability per example.
    """

    def __init__(self, rates: tuple[float, float] = (0.9, 1.1), p: float = 1.0, seed: int | None = None) -> None:
        super().__init__(p, seed)
        self.rates = _check_range("rates", rates, minimum=1e-3)

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_waveforms(waveforms, type(self).__name__)
        g = self.generator_for(waveforms.device, generator)
        rates = uniform(*self.rates, (waveforms.shape[0],), waveforms.device, g)
        return self.select(waveforms, resample_speed(waveforms, rates), g)


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
        _check_spectrograms(spectrograms, type(self).__name__)
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
        self.freq_scale = _check_range("freq_scale", freq_scale, minimum=1e-3)
        self.time_scale = _check_range("time_scale", time_scale, minimum=1e-3)

    def forward(self, spectrograms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_spectrograms(spectrograms, type(self).__name__)
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
        _check_spectrograms(spectrograms, type(self).__name__)
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


# ----------------------------------------------------------------------------------------------
# The two views.
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TwoViewAugmentationConfig:
    """Parameters of the two-view pipeline; a stage is off when its probability is 0 (or rates None).

    Waveform stage (per view, in this order): segment (off by default) -> speed -> time shift -> gain -> equaliser
    (off by default) -> reverberation (off by default) -> noise. With `view_segment_seconds`, each view is a random
    segment of the clip, drawn independently per view, so the views share the speaker, emotion and channel but less of
    the phonetic content (the segments of one utterance of Cho et al. 2022, shared/paper/004).
    Spectrogram stage: mixup -> random resized crop -> frequency masks -> time masks.
    Defaults: BYOL-A values for mixup and random resized crop; SpecAugment-LD-like masks scaled to
    a 513 x 126 spectrogram; SNR and gain ranges typical of speech SSL (e.g. COLA, BYOL-A v2).
    """

    seed: int | None = None
    # waveform
    view_segment_seconds: float | None = None  # each view a random segment of this length (None: the whole clip)
    max_shift_seconds: float = 0.1
    circular_shift: bool = True
    shift_prob: float = 1.0
    gain_db: tuple[float, float] = (-6.0, 6.0)
    gain_prob: float = 1.0
    eq_db_std: float = 0.0  # RandomEqualizer's gain spread in dB (0: off)
    eq_prob: float = 1.0
    reverb_prob: float = 0.0  # RandomReverb: each view in its own random room with this probability (0: off)
    reverb_rt60_s: tuple[float, float] = (0.1, 0.8)
    snr_db: tuple[float, float] = (5.0, 40.0)
    noise_colours: tuple[str, ...] = ("white", "pink")
    noise_prob: float = 0.8
    speed_rates: tuple[float, float] | None = None
    speed_prob: float = 1.0
    sampling_rate: int = 16_000
    # spectrogram
    mixup_ratio: float = 0.4
    mixup_prob: float = 1.0
    rrc_virtual_crop_scale: tuple[float, float] = (1.0, 1.5)
    rrc_freq_scale: tuple[float, float] = (0.6, 1.5)
    rrc_time_scale: tuple[float, float] = (0.6, 1.5)
    rrc_prob: float = 1.0
    freq_mask_width: int = 40
    num_freq_masks: int = 2
    time_mask_width: int = 12
    num_time_masks: int = 2
    mask_prob: float = 1.0


# The demo's views (docs/representations.md, ablations 2, 4, 5 and 7), for its 128-mel x 63-frame input: masks scaled
# to it; a random 3-dB channel per view (the corpus colours every clip with one, which both views would share); noise;
# a 0.9-1.1 time stretch (keeps more of the speaking rate); no frequency stretch, since invariance to shifted pitch
# and formants would erase the speaker and gender cues; no mixup (another clip's voice cost speaker cues).
DEMO_VIEWS = TwoViewAugmentationConfig(
    freq_mask_width=10,
    time_mask_width=6,
    noise_prob=0.8,
    rrc_freq_scale=(1.0, 1.0),
    rrc_time_scale=(0.9, 1.1),
    eq_db_std=3.0,
    mixup_prob=0.0,
)
# `barlow-speech pretrain --views`: "default" is `TwoViewAugmentationConfig()` (BYOL-A style, for the paper's 513 x
# 126 input), "demo" the views of `barlow-speech demo` and `bt-small-synthetic`.
VIEW_PRESETS = {"default": TwoViewAugmentationConfig(), "demo": DEMO_VIEWS}


class TwoViewAugmentation(nn.Module):
    """Two independently augmented views (X_A, X_B) of a waveform batch, around a spectrogram function.

    Args:
        config: `TwoViewAugmentationConfig`.
        noise_bank: optional 1-D recorded-noise tensor for `AddNoise` (see `load_noise_bank`).

    Call: `view_a, view_b = aug(waveforms, to_spectrogram)` with waveforms (batch, samples) and
    `to_spectrogram` mapping (n, samples) -> (n, 1, freq, frames) or (n, freq, frames) on the same
    device (e.g. the feature extractor's torch path). Both views are computed in one call of
    `to_spectrogram` on the stacked (2 * batch) waveforms. Returns two (batch, 1, freq, frames)
    tensors in the spectrogram function's dtype.
    """

    def __init__(
        self, config: TwoViewAugmentationConfig | None = None, noise_bank: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        self.config = c = config or TwoViewAugmentationConfig()
        if c.view_segment_seconds is not None and round(c.view_segment_seconds * c.sampling_rate) < 1:
            raise ValueError(
                f"view_segment_seconds={c.view_segment_seconds}: expected a length of at least one sample, or None "
                "(the whole clip)."
            )
        if c.eq_db_std < 0:
            raise ValueError(f"eq_db_std={c.eq_db_std}: expected a spread >= 0 dB (0: no random channel).")
        waveform: list[nn.Module] = []
        if c.speed_rates is not None and c.speed_prob > 0:
            waveform.append(RandomSpeed(c.speed_rates, p=c.speed_prob))
        if c.shift_prob > 0 and c.max_shift_seconds > 0:
            waveform.append(
                RandomTimeShift(int(c.max_shift_seconds * c.sampling_rate), c.circular_shift, p=c.shift_prob)
            )
        if c.gain_prob > 0:
            waveform.append(RandomGain(c.gain_db, p=c.gain_prob))
        if c.eq_prob > 0 and c.eq_db_std > 0:
            waveform.append(RandomEqualizer(c.eq_db_std, sampling_rate=c.sampling_rate, p=c.eq_prob))
        if c.reverb_prob > 0:
            waveform.append(RandomReverb(c.reverb_rt60_s, sampling_rate=c.sampling_rate, p=c.reverb_prob))
        if c.noise_prob > 0:
            waveform.append(AddNoise(c.snr_db, c.noise_colours, noise_bank=noise_bank, p=c.noise_prob))
        self.waveform_augmentations = nn.ModuleList(waveform)
        self.mixup = MixupBYOLA(c.mixup_ratio, p=c.mixup_prob) if c.mixup_prob > 0 else None
        spectrogram: list[nn.Module] = []
        if c.rrc_prob > 0:
            spectrogram.append(
                RandomResizedCrop(c.rrc_virtual_crop_scale, c.rrc_freq_scale, c.rrc_time_scale, p=c.rrc_prob)
            )
        if c.mask_prob > 0:
            spectrogram.append(FrequencyMask(c.freq_mask_width, c.num_freq_masks, p=c.mask_prob))
            spectrogram.append(TimeMask(c.time_mask_width, c.num_time_masks, p=c.mask_prob))
        self.spectrogram_augmentations = nn.ModuleList(spectrogram)
        self._generator: torch.Generator | None = None

    def generator_for(self, device: torch.device) -> torch.Generator | None:
        self._generator = seeded_generator(self._generator, self.config.seed, device)
        return self._generator

    def augment_waveforms(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Waveform stage: (batch, samples) -> (batch, samples)."""
        for module in self.waveform_augmentations:
            waveforms = module(waveforms, generator=generator)
        return waveforms

    def augment_spectrograms(
        self, spectrograms: torch.Tensor, generator: torch.Generator | None = None, clips: int | None = None
    ) -> torch.Tensor:
        """Spectrogram stage: (rows, 1, freq, frames) -> same shape; `clips`: how many clips the crop-major rows hold
        (mixup's partners are other clips; default: every row its own clip)."""
        if self.mixup is not None:
            spectrograms = self.mixup(spectrograms, generator=generator, clips=clips)
        for module in self.spectrogram_augmentations:
            spectrograms = module(spectrograms, generator=generator)
        return spectrograms

    def forward(
        self,
        waveforms: torch.Tensor,
        to_spectrogram: Callable[[torch.Tensor], torch.Tensor],
        generator: torch.Generator | None = None,
        update_memory: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`generator` (on the waveforms' device) overrides the configured seed for this call. `update_memory` is
        ignored: the views keep no state since mixup draws its partners from the batch (the keyword stays for the
        callers that passed False to keep evaluation batches out of the old mixup memory)."""
        _check_waveforms(waveforms, type(self).__name__)
        if waveforms.shape[0] < 1:
            raise ValueError("TwoViewAugmentation got an empty batch; expected at least one waveform.")
        g = generator if generator is not None else self.generator_for(waveforms.device)
        if self.config.view_segment_seconds is None:
            stacked = torch.cat([waveforms, waveforms])
        else:  # crop-major: rows [0, batch) are view A's segments, [batch, 2 batch) view B's
            segment = round(self.config.view_segment_seconds * self.config.sampling_rate)
            if segment > waveforms.shape[-1]:
                raise ValueError(
                    f"view_segment_seconds={self.config.view_segment_seconds} is {segment} samples, longer than the "
                    f"{waveforms.shape[-1]}-sample clips: both views would be the whole clip; pass a shorter segment "
                    "or None."
                )
            stacked = random_crops(waveforms, 2, segment, g)
        view_a, view_b = self.augment(stacked, to_spectrogram, g, clips=waveforms.shape[0]).chunk(2)
        return view_a, view_b

    def augment(
        self,
        waveforms: torch.Tensor,
        to_spectrogram: Callable[[torch.Tensor], torch.Tensor],
        generator: torch.Generator | None = None,
        clips: int | None = None,
    ) -> torch.Tensor:
        """One augmented view per row: `(n, samples)` -> waveform stage -> `to_spectrogram` -> spectrogram stage ->
        `(n, 1, freq, frames)`. `forward` calls it on the stacked waveforms of both views; multi-crop on its crops.
        `clips`: how many clips the crop-major rows are views of (default: n)."""
        waveforms = self.augment_waveforms(waveforms, generator)
        spectrograms = to_spectrogram(waveforms)
        if spectrograms.dim() == 3:
            spectrograms = spectrograms.unsqueeze(1)
        _check_spectrograms(spectrograms, "to_spectrogram's output")
        if spectrograms.shape[0] != waveforms.shape[0]:
            raise ValueError(
                f"to_spectrogram returned {spectrograms.shape[0]} spectrograms for {waveforms.shape[0]} waveforms; "
                "it must map (n, samples) to (n, 1, freq, frames)."
            )
        return self.augment_spectrograms(spectrograms, generator, clips)


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
    """

    def __init__(self, config: MultiCropConfig | None = None, noise_bank: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config or MultiCropConfig()
        if self.config.views.view_segment_seconds is not None:
            raise ValueError(
                f"views.view_segment_seconds={self.config.views.view_segment_seconds}: multi-crop draws its own "
                "segments (long_seconds, short_seconds); set views.view_segment_seconds=None."
            )
        self.views = TwoViewAugmentation(self.config.views, noise_bank)

    def forward(
        self,
        waveforms: torch.Tensor,
        to_spectrogram: Callable[[torch.Tensor], torch.Tensor],
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        _check_waveforms(waveforms, type(self).__name__)
        if waveforms.shape[0] < 1:
            raise ValueError("MultiCropAugmentation got an empty batch; expected at least one waveform.")
        c = self.config
        g = generator if generator is not None else self.views.generator_for(waveforms.device)
        rate = c.views.sampling_rate
        long = random_crops(waveforms, c.num_long, round(c.long_seconds * rate), g)
        long = self.views.augment(long, to_spectrogram, g, clips=waveforms.shape[0])
        if c.num_short == 0:
            return long, None
        short = random_crops(waveforms, c.num_short, round(c.short_seconds * rate), g)
        return long, self.views.augment(short, to_spectrogram, g, clips=waveforms.shape[0])


def load_noise_bank(folder: str | Path, sampling_rate: int = 16_000) -> torch.Tensor:
    """Concatenate every audio file of a folder (e.g. Speech Commands / WLUC `_background_noise_`) into one noise bank.

    Each file is decoded with `barlow_speech.data.audio.decode_audio` (mono, resampled to `sampling_rate`) and
    scaled to unit RMS, so every noise type gets the same weight per second before `AddNoise` rescales it to the
    drawn SNR. Unreadable, empty or silent files are reported (`BadFiles`) and skipped.

    Returns:
        (total_samples,) float32 tensor on the CPU.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"noise folder {str(folder)!r} does not exist; pass the path of a `_background_noise_` folder."
        )
    files = find_audio_files(folder)
    if not files:
        raise FileNotFoundError(
            f"no {'/'.join(AUDIO_EXTENSIONS)} files in {str(folder)!r}; expected recorded noise files."
        )
    bad = BadFiles("noise bank")
    pieces = []
    for path in files:
        try:
            audio = decode_audio(path, target_sr=sampling_rate)
        except AudioDecodeError as err:
            bad.add(str(path), str(err))
            continue
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        if rms == 0.0:
            bad.add(str(path), "silent (all samples are zero)")
            continue
        pieces.append(audio / np.float32(rms))
    bad.log_summary(total=len(files))
    if not pieces:
        raise FileNotFoundError(
            f"no usable noise in {str(folder)!r}: every audio file is unreadable, empty or silent "
            f"({bad.entries[0][1]})."
        )
    logger.info("noise bank: %d files, %.1f s from %s", len(pieces), sum(map(len, pieces)) / sampling_rate, folder)
    return torch.from_numpy(np.concatenate(pieces))
