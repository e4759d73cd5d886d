"""The two augmented views of Barlow Twins (paper Fig. 1, X_A and X_B): `TwoViewAugmentation` composes the waveform
and spectrogram augmentations around a caller-provided spectrogram function; `TwoViewAugmentationConfig` holds their
parameters, `DEMO_VIEWS` and `VIEW_PRESETS` the named choices.

    >>> aug = TwoViewAugmentation(TwoViewAugmentationConfig(seed=0))
    >>> view_a, view_b = aug(waveforms, lambda w: extractor_on_device(w))  # each (batch, 1, freq, frames)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from ...data.effects import random_crops
from ...feature_extraction_barlow import SAMPLING_RATE
from .base import check_spectrograms, check_waveforms, seeded_generator
from .spectrogram import FrequencyMask, MixupBYOLA, RandomResizedCrop, TimeMask
from .waveform import AddNoise, RandomEqualizer, RandomGain, RandomReverb, RandomSpeed, RandomTimeShift


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
    # of the audio: None takes the feature extractor's, which the trainer passes (`TwoViewAugmentation`'s
    # `sampling_rate`); a rate here that differs from it is an error
    sampling_rate: int | None = None
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


def views_sampling_rate(configured: int | None, extractor_rate: int | None) -> int:
    """The rate the views run at: the feature extractor's (`extractor_rate`), else the config's, else `SAMPLING_RATE`.

    A config that gives another rate than the extractor's is a ValueError: the views would draw shifts, rooms and
    segments in the wrong time scale."""
    if configured is not None and extractor_rate is not None and configured != extractor_rate:
        raise ValueError(
            f"TwoViewAugmentationConfig.sampling_rate={configured}, but the feature extractor reads "
            f"{extractor_rate}-Hz audio: the views run at the extractor's rate; drop sampling_rate from the views' "
            "config."
        )
    return extractor_rate or configured or SAMPLING_RATE


class TwoViewAugmentation(nn.Module):
    """Two independently augmented views (X_A, X_B) of a waveform batch, around a spectrogram function.

    Args:
        config: `TwoViewAugmentationConfig`.
        noise_bank: optional 1-D recorded-noise tensor for `AddNoise` (see `load_noise_bank`).
        sampling_rate: of the audio, the feature extractor's (`views_sampling_rate`; the trainer checks it).

    Call: `view_a, view_b = aug(waveforms, to_spectrogram)` with waveforms (batch, samples) and
    `to_spectrogram` mapping (n, samples) -> (n, 1, freq, frames) or (n, freq, frames) on the same
    device (e.g. the feature extractor's torch path). Both views are computed in one call of
    `to_spectrogram` on the stacked (2 * batch) waveforms. Returns two (batch, 1, freq, frames)
    tensors in the spectrogram function's dtype.
    """

    def __init__(
        self,
        config: TwoViewAugmentationConfig | None = None,
        noise_bank: torch.Tensor | None = None,
        sampling_rate: int | None = None,
    ) -> None:
        super().__init__()
        self.config = c = config or TwoViewAugmentationConfig()
        self.sampling_rate = rate = views_sampling_rate(c.sampling_rate, sampling_rate)
        if c.view_segment_seconds is not None and round(c.view_segment_seconds * rate) < 1:
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
            waveform.append(RandomTimeShift(int(c.max_shift_seconds * rate), c.circular_shift, p=c.shift_prob))
        if c.gain_prob > 0:
            waveform.append(RandomGain(c.gain_db, p=c.gain_prob))
        if c.eq_prob > 0 and c.eq_db_std > 0:
            waveform.append(RandomEqualizer(c.eq_db_std, sampling_rate=rate, p=c.eq_prob))
        if c.reverb_prob > 0:
            waveform.append(RandomReverb(c.reverb_rt60_s, sampling_rate=rate, p=c.reverb_prob))
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
        check_waveforms(waveforms, type(self).__name__)
        if waveforms.shape[0] < 1:
            raise ValueError("TwoViewAugmentation got an empty batch; expected at least one waveform.")
        g = generator if generator is not None else self.generator_for(waveforms.device)
        if self.config.view_segment_seconds is None:
            stacked = torch.cat([waveforms, waveforms])
        else:  # crop-major: rows [0, batch) are view A's segments, [batch, 2 batch) view B's
            segment = round(self.config.view_segment_seconds * self.sampling_rate)
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
        check_spectrograms(spectrograms, "to_spectrogram's output")
        if spectrograms.shape[0] != waveforms.shape[0]:
            raise ValueError(
                f"to_spectrogram returned {spectrograms.shape[0]} spectrograms for {waveforms.shape[0]} waveforms; "
                "it must map (n, samples) to (n, 1, freq, frames)."
            )
        return self.augment_spectrograms(spectrograms, generator, clips)


__all__ = ["DEMO_VIEWS", "VIEW_PRESETS", "TwoViewAugmentation", "TwoViewAugmentationConfig", "views_sampling_rate"]
