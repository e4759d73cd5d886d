"""Waveform augmentations of the views, `(batch, samples)` -> `(batch, samples)`: thin seedable modules over the
pure functions of `barlow_speech.data.effects`.

    RandomTimeShift, RandomGain, RandomEqualizer, AddNoise (white / pink / brown, or a noise bank from a
    `_background_noise_` folder, see `load_noise_bank`), RandomReverb, RandomSpeed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ...data.effects import (
    NOISE_COLOURS,
    apply_gain,
    coloured_noise,
    equalize,
    mix_at_snr,
    resample_speed,
    reverberate,
    room_impulse_responses,
    time_shift,
    uniform,
)
from ...feature_extraction_barlow import SAMPLING_RATE
from .base import RandomAugmentation, check_range, check_waveforms


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
        check_waveforms(waveforms, type(self).__name__)
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
        self.gain_db = check_range("gain_db", gain_db)

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_waveforms(waveforms, type(self).__name__)
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
        sampling_rate: int = SAMPLING_RATE,
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
        check_waveforms(waveforms, type(self).__name__)
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
        self.snr_db = check_range("snr_db", snr_db)
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
        check_waveforms(waveforms, type(self).__name__)
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
        sampling_rate: int = SAMPLING_RATE,
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(p, seed)
        self.rt60_s = check_range("rt60_s", rt60_s, minimum=1e-3)
        self.drr_db = check_range("drr_db", drr_db)
        self.sampling_rate = sampling_rate

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_waveforms(waveforms, type(self).__name__)
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
        self.rates = check_range("rates", rates, minimum=1e-3)

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_waveforms(waveforms, type(self).__name__)
        g = self.generator_for(waveforms.device, generator)
        rates = uniform(*self.rates, (waveforms.shape[0],), waveforms.device, g)
        return self.select(waveforms, resample_speed(waveforms, rates), g)


__all__ = ["AddNoise", "RandomEqualizer", "RandomGain", "RandomReverb", "RandomSpeed", "RandomTimeShift"]
