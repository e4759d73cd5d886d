"""The augmented views of pretraining, as batched torch modules (one file per layer).

Every augmentation runs on the batch's device with per-example parameters drawn by torch ops (no per-clip Python
loop). Each module is a thin `nn.Module` over a pure function, takes an optional `seed` and accepts a `generator` in
`forward` that overrides it (`base.py`), so a pipeline is reproducible end to end.

- `waveform.py`: RandomTimeShift, RandomGain, RandomEqualizer, AddNoise, RandomReverb, RandomSpeed, over the pure
  waveform functions of `barlow_speech.data.effects` (re-exported here);
- `spectrogram.py`: FrequencyMask, TimeMask, RandomResizedCrop, MixupBYOLA and their pure functions;
- `views.py`: the two views of Barlow Twins (`TwoViewAugmentation`, its config and the presets `DEMO_VIEWS`,
  `VIEW_PRESETS`);
- `multicrop.py`: DINO's long and short crops (`MultiCropAugmentation`);
- `noise_bank.py`: recorded noise for `AddNoise` (`load_noise_bank`).

    >>> aug = TwoViewAugmentation(TwoViewAugmentationConfig(seed=0))
    >>> view_a, view_b = aug(waveforms, lambda w: extractor_on_device(w))  # each (batch, 1, freq, frames)
"""

from ...data.effects import (
    NOISE_COLOURS,
    apply_gain,
    coloured_noise,
    crop,
    equalize,
    mix_at_snr,
    random_crops,
    resample_speed,
    reverberate,
    room_impulse_responses,
    time_shift,
    uniform,
)
from .base import RandomAugmentation, seeded_generator
from .multicrop import MultiCropAugmentation, MultiCropConfig
from .noise_bank import load_noise_bank
from .spectrogram import (
    FrequencyMask,
    MixupBYOLA,
    RandomResizedCrop,
    TimeMask,
    band_masks,
    log_mixup_exp,
    resized_crop,
)
from .views import DEMO_VIEWS, VIEW_PRESETS, TwoViewAugmentation, TwoViewAugmentationConfig
from .waveform import AddNoise, RandomEqualizer, RandomGain, RandomReverb, RandomSpeed, RandomTimeShift

__all__ = [
    "DEMO_VIEWS",
    "NOISE_COLOURS",
    "VIEW_PRESETS",
    "AddNoise",
    "FrequencyMask",
    "MixupBYOLA",
    "MultiCropAugmentation",
    "MultiCropConfig",
    "RandomAugmentation",
    "RandomEqualizer",
    "RandomGain",
    "RandomResizedCrop",
    "RandomReverb",
    "RandomSpeed",
    "RandomTimeShift",
    "TimeMask",
    "TwoViewAugmentation",
    "TwoViewAugmentationConfig",
    "apply_gain",
    "band_masks",
    "coloured_noise",
    "crop",
    "equalize",
    "load_noise_bank",
    "log_mixup_exp",
    "mix_at_snr",
    "random_crops",
    "resample_speed",
    "resized_crop",
    "reverberate",
    "room_impulse_responses",
    "seeded_generator",
    "time_shift",
    "uniform",
]
