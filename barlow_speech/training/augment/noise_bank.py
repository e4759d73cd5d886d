"""Recorded noise for `AddNoise`: a folder of audio files (e.g. a `_background_noise_` folder) as one noise bank."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ...data.audio import AUDIO_EXTENSIONS, SAMPLING_RATE, AudioDecodeError, BadFiles, decode_audio, find_audio_files

logger = logging.getLogger(__name__)


def load_noise_bank(folder: str | Path, sampling_rate: int = SAMPLING_RATE) -> torch.Tensor:
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


__all__ = ["load_noise_bank"]
