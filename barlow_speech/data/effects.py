"""Waveform effects: pure functions of `(batch, samples)` float tensors, batched on their device.

What the pretraining views (`barlow_speech.training.augment`) and the channel of the multilingual speech corpus
(`barlow_speech.data.tts_speech`) apply to audio: shift, crop, gain, a smooth equaliser, coloured noise at an SNR,
synthetic rooms, speed. Randomness comes only from an explicit `torch.Generator` argument (None: torch's global RNG),
so a caller that seeds its generator gets the same audio on every run. Tensors in, tensors out: the stateful,
seedable `nn.Module`s of the views are thin wrappers over these.

The synthetic corpus (`barlow_speech.data.synthetic`) keeps its own NumPy noise and rooms: see its docstring.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power-spectrum exponent: 1 / f^k


def uniform(
    low: float, high: float, shape: Sequence[int], device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """Uniform samples in [low, high), float32, drawn on `device`."""
    return low + (high - low) * torch.rand(tuple(shape), device=device, generator=generator)


def time_shift(waveforms: torch.Tensor, shifts: torch.Tensor, circular: bool = True) -> torch.Tensor:
    """Shift each row by `shifts` samples (positive = later); circular wrap or zero fill.

    Args:
        waveforms: (batch, samples).
        shifts: (batch,) integer shifts.
    """
    samples = waveforms.shape[-1]
    source = torch.arange(samples, device=waveforms.device)[None, :] - shifts[:, None].long()
    if circular:
        return torch.gather(waveforms, 1, source % samples)
    inside = (source >= 0) & (source < samples)
    return torch.gather(waveforms, 1, source.clamp(0, samples - 1)) * inside


def crop(waveforms: torch.Tensor, starts: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Window [start, start + num_samples) of each row, zero-padded past the end: (batch, num_samples)."""
    index = starts[:, None].long() + torch.arange(num_samples, device=waveforms.device)[None, :]
    inside = index < waveforms.shape[-1]
    return torch.gather(waveforms, 1, index.clamp(max=waveforms.shape[-1] - 1)) * inside


def apply_gain(waveforms: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """Scale each row of (batch, samples) by `gain_db` (batch,) decibels."""
    return waveforms * torch.pow(10.0, gain_db / 20.0).to(waveforms.dtype)[:, None]


def equalize(
    waveforms: torch.Tensor, gains_db: torch.Tensor, sampling_rate: int, points_hz: torch.Tensor
) -> torch.Tensor:
    """Filter each row of (batch, samples) by a smooth zero-phase equaliser: `gains_db` (batch, K) at the ascending
    frequencies `points_hz` (K,), interpolated linearly on log frequency and held constant beyond both ends (the
    channel model of the synthetic corpus, `data.synthetic._envelope_db`)."""
    if points_hz.dim() != 1 or len(points_hz) < 2 or gains_db.shape != (waveforms.shape[0], len(points_hz)):
        raise ValueError(
            f"gains_db has shape {tuple(gains_db.shape)} and points_hz {tuple(points_hz.shape)}: expected "
            f"({waveforms.shape[0]}, K) gains, one row per waveform, at K >= 2 frequencies."
        )
    samples = waveforms.shape[-1]
    log_points = points_hz.to(waveforms.device, torch.float32).log()
    log_freqs = torch.fft.rfftfreq(samples, 1.0 / sampling_rate, device=waveforms.device).log()  # DC: -inf
    low = (torch.searchsorted(log_points, log_freqs, right=True) - 1).clamp(0, len(log_points) - 2)
    fraction = ((log_freqs - log_points[low]) / (log_points[low + 1] - log_points[low])).clamp(0.0, 1.0)
    gains_db = gains_db.to(waveforms.device, torch.float32)
    curve_db = gains_db[:, low] * (1.0 - fraction) + gains_db[:, low + 1] * fraction  # (batch, bins)
    spectrum = torch.fft.rfft(waveforms.float(), dim=-1) * torch.pow(10.0, curve_db / 20.0)
    return torch.fft.irfft(spectrum, n=samples, dim=-1).to(waveforms.dtype)


def coloured_noise(
    shape: Sequence[int], exponents: torch.Tensor | float, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """Gaussian noise with power spectrum 1 / f^exponent (0 white, 1 pink, 2 brown), unit variance per row.

    Args:
        shape: (batch, samples).
        exponents: one exponent, or (batch,) exponents (one colour per example, a single FFT).
    """
    batch, samples = shape
    white = torch.randn((batch, samples), device=device, generator=generator)
    exponents = torch.as_tensor(exponents, dtype=torch.float32, device=device).reshape(-1, 1)
    freqs = torch.fft.rfftfreq(samples, device=device).clamp(min=1.0 / samples)[None, :]
    noise = torch.fft.irfft(torch.fft.rfft(white) * freqs ** (-exponents / 2.0), n=samples)
    return noise / noise.std(dim=-1, keepdim=True).clamp(min=1e-12)


def mix_at_snr(waveforms: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """waveforms + noise scaled so that mean-power(waveforms) / mean-power(noise) = 10^(snr_db / 10).

    Args:
        waveforms, noise: (batch, samples).
        snr_db: (batch,).
    """
    signal_power = waveforms.pow(2).mean(dim=-1)
    noise_power = noise.pow(2).mean(dim=-1).clamp(min=eps)
    scale = torch.sqrt(signal_power / (noise_power * torch.pow(10.0, snr_db / 10.0)))
    return waveforms + noise * scale[:, None].to(waveforms.dtype)


def room_impulse_responses(
    rt60_s: torch.Tensor, drr_db: torch.Tensor, samples: int, sampling_rate: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Synthetic room impulse responses `(batch, samples)`: a unit direct path, then a Gaussian noise tail decaying
    exponentially to -60 dB at t = `rt60_s` (batch,), its energy `drr_db` (batch,) below the direct path's (the
    direct-to-reverberant ratio), the statistical room model of Polack (1988) / Lehmann & Johansson (2008)."""
    t = torch.arange(1, samples, device=rt60_s.device, dtype=torch.float32) / sampling_rate
    tail = torch.randn((rt60_s.shape[0], samples - 1), device=rt60_s.device, generator=generator)
    tail = tail * torch.exp(-np.log(1000.0) * t / rt60_s[:, None])  # amplitude 1e-3 (-60 dB) at RT60
    energy = tail.square().sum(dim=-1, keepdim=True).clamp_min(1e-20)
    tail = tail * torch.sqrt(torch.pow(10.0, -drr_db[:, None] / 10.0) / energy)
    return torch.cat([torch.ones_like(tail[:, :1]), tail], dim=-1)


def reverberate(waveforms: torch.Tensor, impulse_responses: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Convolve each row of (batch, samples) with its impulse response (batch, L) by FFT, keep the first `samples`
    (the room's tail past the end is cut, as a recording that stops) and the row's RMS level."""
    samples, length = waveforms.shape[-1], impulse_responses.shape[-1]
    n = 1 << (samples + length - 2).bit_length()  # >= samples + length - 1: linear, not circular; a fast FFT size
    spectrum = torch.fft.rfft(waveforms.float(), n=n) * torch.fft.rfft(impulse_responses.float(), n=n)
    wet = torch.fft.irfft(spectrum, n=n)[:, :samples]
    scale = torch.sqrt(
        waveforms.float().square().mean(-1, keepdim=True) / wet.square().mean(-1, keepdim=True).clamp_min(eps)
    )
    return (wet * scale).to(waveforms.dtype)


def resample_speed(waveforms: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
    """Play each row `rates` times faster (tempo and pitch together, like `sox speed`) by linear interpolation.

    Output sample i reads input position i * rate; positions past the end read zeros, so the
    length is preserved. Args: waveforms (batch, samples); rates (batch,) > 0.
    """
    samples = waveforms.shape[-1]
    position = torch.arange(samples, device=waveforms.device, dtype=torch.float32)[None, :] * rates[:, None]
    left = position.floor().long()
    frac = (position - left).to(waveforms.dtype)
    padded = F.pad(waveforms, (0, 2))  # reads at `samples` and `samples + 1` are zeros
    left = left.clamp(max=samples)
    return torch.gather(padded, 1, left) * (1.0 - frac) + torch.gather(padded, 1, left + 1) * frac


def random_crops(
    waveforms: torch.Tensor, count: int, num_samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """`count` random windows of `num_samples` samples of every row, crop-major: `(batch, samples)` ->
    `(count * batch, num_samples)` where rows `[i * batch, (i + 1) * batch)` are crop i of each row (zero-padded when
    a row is shorter than the window)."""
    repeated = waveforms.repeat(count, 1)
    slack = max(waveforms.shape[-1] - num_samples, 0)
    starts = torch.randint(0, slack + 1, (repeated.shape[0],), device=waveforms.device, generator=generator)
    return crop(repeated, starts, num_samples)


__all__ = [
    "NOISE_COLOURS",
    "apply_gain",
    "coloured_noise",
    "crop",
    "equalize",
    "mix_at_snr",
    "random_crops",
    "resample_speed",
    "reverberate",
    "room_impulse_responses",
    "time_shift",
    "uniform",
]
