"""Audio decoding, resampling and 1-s segmentation: pure numpy functions shared by every loader.

The functional core (arrays in, arrays out) is `to_mono`, `resample`, `voiced_fraction` and
`segment_waveform`; `load_audio` wraps soundfile around it. `BadFiles` collects unreadable,
truncated or empty files so that every loader reports them (path + reason) and logs a summary
count instead of silently dropping them.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from transformers.utils import logging

from ..feature_extraction_barlow import SAMPLING_RATE  # every loader's output rate: the front end's (paper Sec. 3)

logger = logging.get_logger(__name__)

# MP3 needs libsndfile >= 1.1 (the soundfile wheels bundle it); without it .mp3 files stay out of folder scans.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg") + ((".mp3",) if "MP3" in sf.available_formats() else ())
AudioSource = str | Path | bytes | BinaryIO


class AudioDecodeError(ValueError):
    """A file that cannot be used: missing, unreadable, truncated, empty, non-finite or giving no segment."""


def to_mono(wave: np.ndarray, source: str = "<array>") -> np.ndarray:
    """Average the channels of a `(samples, channels)` array into `(samples,)`; warns when it downmixes."""
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise ValueError(f"expected audio of shape (samples,) or (samples, channels), got {wave.shape} from {source}.")
    if wave.shape[1] == 1:
        return wave[:, 0]
    logger.warning_once(
        f"downmixing {wave.shape[1]}-channel audio to mono by averaging the channels (first seen: {source})."
    )
    return wave.mean(axis=1, dtype=np.float32)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int = SAMPLING_RATE) -> np.ndarray:
    """Polyphase resampling `(samples,) -> (round(samples * target_sr / orig_sr),)`, float32."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sampling rates must be positive, got orig_sr={orig_sr}, target_sr={target_sr}.")
    if orig_sr == target_sr:
        return wave.astype(np.float32, copy=False)
    g = gcd(int(orig_sr), int(target_sr))
    return resample_poly(wave, int(target_sr) // g, int(orig_sr) // g).astype(np.float32)


def _wav_declared_frames(f: BinaryIO) -> int | None:
    """Frames a RIFF/WAVE header declares (data chunk bytes // block align); `f` is left where it was.

    libsndfile shortens a WAV's frame count to the data present, so only the header shows that a file
    was cut short. None for other formats and for streamed WAVs whose size is a 0 / 0xFFFFFFFF placeholder.
    """
    start = f.tell()
    try:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = 0
        while len(chunk := f.read(8)) == 8:
            size, body = int.from_bytes(chunk[4:], "little"), f.tell()
            if chunk[:4] == b"fmt ":
                block_align = int.from_bytes(f.read(14)[12:14], "little")
            elif chunk[:4] == b"data":
                return size // block_align if block_align and size not in (0, 0xFFFFFFFF) else None
            f.seek(body + size + (size & 1))  # chunks are padded to an even size
        return None
    finally:
        f.seek(start)


def _open_binary(source: AudioSource) -> contextlib.AbstractContextManager[BinaryIO]:
    """A binary file object for a path, raw bytes or an open file (which the caller keeps open)."""
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, (str, Path)):
        return open(source, "rb")
    return contextlib.nullcontext(source)


def _libsndfile_reason(err: Exception) -> str:
    return f"libsndfile: {str(getattr(err, 'error_string', err)).rstrip('.')}"


def _read_checked(f: BinaryIO, name: str) -> tuple[np.ndarray, int]:
    """`(frames, channels)` float32 and the rate; AudioDecodeError unless every frame the header declares decodes."""
    declared = _wav_declared_frames(f)
    try:
        sound = sf.SoundFile(f)
    except (sf.LibsndfileError, RuntimeError, EOFError, TypeError) as err:
        raise AudioDecodeError(
            f"cannot decode {name}: {_libsndfile_reason(err)} "
            "(not audio in a format libsndfile reads, or a damaged header)."
        ) from err
    with sound:
        if declared is None and sound.format == "FLAC":
            declared = sound.frames  # STREAMINFO's total; OGG and MP3 headers declare no count
        try:
            wave = sound.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, EOFError) as err:
            raise AudioDecodeError(
                f"{name} is truncated or corrupt: decoding failed after a valid header ({_libsndfile_reason(err)}); "
                "re-download or re-export it."
            ) from err
    if declared is not None and wave.shape[0] < declared:
        raise AudioDecodeError(
            f"{name} is truncated: its header declares {declared} frames but only {wave.shape[0]} are in the file; "
            "re-download or re-export it."
        )
    return wave, sound.samplerate


def decode_audio(source: AudioSource, target_sr: int = SAMPLING_RATE, name: str | None = None) -> np.ndarray:
    """Decode a file path, raw bytes or a file object into mono float32 `(samples,)` at `target_sr`.

    Integer PCM is scaled to [-1, 1) by soundfile. Raises `AudioDecodeError` for missing, unreadable,
    truncated (fewer frames than a WAV or FLAC header declares), empty or non-finite audio, so callers
    can report the file and skip it.
    """
    name = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
    try:
        with _open_binary(source) as f:
            wave, sr = _read_checked(f, name)
    except OSError as err:  # opened in Python so that a missing file is not blamed on the audio format
        raise AudioDecodeError(f"cannot read {name}: {err.strerror or err}.") from err
    if wave.shape[0] == 0:
        raise AudioDecodeError(f"{name} holds no samples (empty file).")
    if not np.isfinite(wave).all():
        raise AudioDecodeError(f"{name} contains NaN or Inf samples.")
    return resample(to_mono(wave, name), sr, target_sr)


def frame_rms_db(wave: np.ndarray, frame_length: int = 400) -> np.ndarray:
    """RMS level in dB of non-overlapping frames: `(samples,) -> (samples // frame_length,)`."""
    n = wave.shape[-1] // frame_length
    frames = wave[..., : n * frame_length].reshape(*wave.shape[:-1], n, frame_length)
    return 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=-1) + 1e-12)


def voiced_fraction(
    segments: np.ndarray, reference_db: float, threshold_db: float = -40.0, frame_length: int = 400
) -> np.ndarray:
    """Fraction of 25-ms frames within `threshold_db` of `reference_db`: `(n, length) -> (n,)`.

    The reference is the loudest frame of the whole recording, so a quiet speaker is not
    discarded and a silent stretch of a loud recording is.
    """
    levels = frame_rms_db(segments, frame_length)
    return (levels > reference_db + threshold_db).mean(axis=-1)


@dataclass(frozen=True)
class SegmentConfig:
    """How recordings are cut into fixed-length pieces.

    Defaults follow the paper (Sec. 3: 1-s inputs at 16 kHz, 513 x 126 spectrograms).

    Args:
        length_s: segment length in seconds.
        hop_s: step between segment starts; `None` means `length_s` (no overlap).
        pad_last: zero-pad the last, shorter piece (and recordings shorter than one segment);
            `False` drops it.
        min_voiced_fraction: drop segments whose fraction of frames within `voiced_threshold_db`
            of the recording's loudest frame is below this (0 keeps everything).
        voiced_threshold_db: level below the loudest frame that still counts as voiced.
    """

    length_s: float = 1.0
    hop_s: float | None = None
    pad_last: bool = True
    min_voiced_fraction: float = 0.0
    voiced_threshold_db: float = -40.0

    def __post_init__(self):
        if self.length_s <= 0 or (self.hop_s is not None and self.hop_s <= 0):
            raise ValueError(
                f"segment length and hop must be positive, got length_s={self.length_s}, hop_s={self.hop_s}."
            )
        if not 0.0 <= self.min_voiced_fraction <= 1.0:
            raise ValueError(f"min_voiced_fraction must lie in [0, 1], got {self.min_voiced_fraction}.")

    def samples(self, sampling_rate: int = SAMPLING_RATE) -> tuple[int, int]:
        """(length, hop) in samples."""
        length = int(round(self.length_s * sampling_rate))
        hop = length if self.hop_s is None else int(round(self.hop_s * sampling_rate))
        return length, hop


def segment_offsets(num_samples: int, length: int, hop: int, pad_last: bool) -> np.ndarray:
    """Start samples of the segments of a `num_samples`-long recording, `(n_segments,)`."""
    if num_samples >= length:
        starts = np.arange(0, num_samples - length + 1, hop)
        if pad_last and starts[-1] + length < num_samples:
            starts = np.append(starts, starts[-1] + hop)
        return starts
    return np.zeros(1 if pad_last and num_samples > 0 else 0, dtype=np.int64)


def segment_waveform(
    wave: np.ndarray, config: SegmentConfig = SegmentConfig(), sampling_rate: int = SAMPLING_RATE
) -> tuple[np.ndarray, np.ndarray]:
    """Cut `(samples,)` into `(n_segments, length)` float32 pieces; returns (segments, start offsets).

    Pieces are zero-padded to `length` when `config.pad_last`; segments below
    `config.min_voiced_fraction` are dropped.
    """
    length, hop = config.samples(sampling_rate)
    starts = segment_offsets(wave.shape[0], length, hop, config.pad_last)
    needed = int(starts[-1]) + length if len(starts) else 0
    padded = np.zeros(max(wave.shape[0], needed), dtype=np.float32)
    padded[: wave.shape[0]] = wave
    segments = (
        padded[starts[:, None] + np.arange(length)[None, :]] if len(starts) else np.zeros((0, length), np.float32)
    )
    if config.min_voiced_fraction > 0 and len(starts):
        reference = float(frame_rms_db(wave[None, :]).max(initial=-120.0))
        keep = voiced_fraction(segments, reference, config.voiced_threshold_db) >= config.min_voiced_fraction
        segments, starts = segments[keep], starts[keep]
    return segments, starts


class BadFiles:
    """Collects files that could not be used, with the reason; every loader reports through one.

    >>> bad = BadFiles("voxceleb1")
    >>> bad.add("wav/id10001/x/00001.wav", "cannot decode ...")   # logs a warning with path + reason
    >>> bad.log_summary(total=100)                               # "voxceleb1: skipped 1 of 100 files ..."
    """

    def __init__(self, dataset: str = "audio"):
        self.dataset = dataset
        self.entries: list[tuple[str, str]] = []

    def add(self, path: str, reason: str) -> None:
        self.entries.append((str(path), reason))
        logger.warning(f"{self.dataset}: skipping unusable file {path}: {reason}")

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.entries]

    def log_summary(self, total: int) -> None:
        """Log how many of `total` files were skipped (a warning when any were)."""
        if self.entries:
            logger.warning(
                f"{self.dataset}: skipped {len(self.entries)} of {total} files that could not be used "
                f"(first: {self.entries[0][0]}: {self.entries[0][1]})."
            )
        else:
            logger.info(f"{self.dataset}: decoded all {total} files.")

    def no_usable_audio(self, where: str, total: int) -> ValueError:
        """The error for a source of which no file gave an example: where, how many were bad and why."""
        shown = "\n".join(f"  {path}: {reason}" for path, reason in self.entries[:10])
        more = f"\n  ... and {len(self.entries) - 10} more (each logged above)" if len(self.entries) > 10 else ""
        return ValueError(
            f"{self.dataset}: no usable clips in {where}: {len(self.entries)} of {total} files are unusable:\n"
            f"{shown}{more}\nReplace or remove the bad files, or point the loader at another folder."
        )


def visible_files(root: Path) -> list[Path]:
    """Sorted files under `root` (recursive), skipping hidden files and folders."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def find_audio_files(root: Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> list[Path]:
    """Sorted audio files under `root` (recursive), skipping hidden files and folders."""
    return [p for p in visible_files(root) if p.suffix.lower() in extensions]
