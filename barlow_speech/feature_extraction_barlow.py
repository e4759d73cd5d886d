"""Log-spectrogram front end of the Barlow Twins speech encoder (Brima et al. 2024, Sec. 2.3).

16 kHz mono audio -> 1-s segments -> |STFT| (64-ms Hann window, 513 bins, 0-8 kHz) -> log -> (x - mean) / std.
One batched `torch.stft` over all segments, on whatever device the audio (or `device=`) is on.

The segment contract: every output row is one clip. As tensors (`return_tensors="pt"`/`"np"`) `input_values` is
`(batch, segments, freq, frames)`, padded with zero segments up to the longest clip of the call, and `attention_mask`
`(batch, segments)` marks the real ones; as lists (`return_tensors=None`, what `datasets.map` stores) each row holds
only its clip's segments. Any collator that stacks or pads rows (the pipeline's, `default_data_collator`,
`BarlowSpeechDataCollator`) therefore keeps one row per clip, and the models average the real segments of each row.

Self-contained (imports only numpy, torch and transformers) so it can be shipped as remote code.
"""

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging

logger = logging.get_logger(__name__)

SAMPLING_RATE = 16000  # the paper's input rate (Sec. 2.3), the extractor's default: the package's one 16 kHz
LAST_SEGMENT_MODES = ("pad", "drop")
PAD_MODES = ("reflect", "constant", "replicate", "circular")  # torch.stft's edge padding of centred frames
# Float audio is expected in [-1, 1]. Peaks up to 4 (12 dB above full scale: more than the overshoot of resampled or
# filtered clipped audio, 1.2-2) pass; a higher peak is integer PCM stored as float (values ~30,000 for int16).
MAX_FLOAT_PEAK = 4.0
# `padding` values of transformers' feature extractors (PaddingStrategy), and what each means here (`__call__`).
PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
CALL_KEYWORDS = ("sampling_rate", "return_tensors", "device", "max_length", "truncation", "padding")
# Integer PCM is scaled to [-1, 1) by its full-scale value.
_PCM_SCALE = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31, np.dtype(np.int8): 2.0**7}
_TORCH_PCM_SCALE = {torch.int16: 2.0**15, torch.int32: 2.0**31, torch.int8: 2.0**7}


@lru_cache(maxsize=8)
def mel_filterbank(sampling_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """`(n_mels, n_fft // 2 + 1)` float32 triangular filters on Slaney's mel scale with area normalisation
    ("slaney"), the defaults of `librosa.filters.mel` (Slaney 1998, Auditory Toolbox), from transformers'
    `mel_filter_bank`."""
    bank = mel_filter_bank(n_fft // 2 + 1, n_mels, f_min, f_max, sampling_rate, norm="slaney", mel_scale="slaney")
    return bank.T.astype(np.float32)


def log_spectrogram(
    waveforms: torch.Tensor,
    n_fft: int = 1024,
    hop_length: int = 128,
    pad_mode: str = "reflect",
    log_floor: float = 1e-6,
    mel_filters: torch.Tensor | None = None,
) -> torch.Tensor:
    """Log-magnitude STFT (or log mel-band magnitude) of a batch of clips.

    Args:
        waveforms: `(batch, samples)` float audio.
        n_fft: window and FFT size (Hann, periodic); `n_fft // 2 + 1` frequency bins.
        hop_length: frame step; frames are centred, so `1 + samples // hop_length` frames.
        pad_mode: padding of the centred frames at the clip edges (`torch.stft`'s `pad_mode`).
        log_floor: magnitudes are clamped to this before the natural log (silence stays finite).
        mel_filters: optional `(n_mels, n_fft // 2 + 1)` filterbank (`mel_filterbank`): the output is then
            0.5 * log(mel-band power), i.e. the log of the band's root power, in the same units as the linear bins.

    Returns:
        `(batch, 1, n_fft // 2 + 1 or n_mels, frames)` float32 on the input's device.
    """
    window = torch.hann_window(n_fft, device=waveforms.device, dtype=torch.float32)
    stft = torch.stft(
        waveforms.float(),
        n_fft=n_fft,
        hop_length=hop_length,
        window=window,
        center=True,
        pad_mode=pad_mode,
        return_complex=True,
    )
    # log|X| = 0.5 log(re^2 + im^2): cheaper than torch's complex abs() on CPU, and no sqrt in the gradient.
    parts = torch.view_as_real(stft)
    power = parts[..., 0].square() + parts[..., 1].square()
    if mel_filters is not None:
        power = torch.matmul(mel_filters.to(power.device), power)
    return power.clamp_min(log_floor**2).log().mul(0.5).unsqueeze(1)


def _segment_layout(num_samples: int, segment_samples: int, hop_samples: int, last_segment: str) -> tuple[int, int]:
    """(number of segments, padded length) of a clip: at least one segment, trailing piece padded or dropped."""
    count = 1 + max(num_samples - segment_samples, 0) // hop_samples
    if (count - 1) * hop_samples + segment_samples < num_samples and last_segment == "pad":
        count += 1
    return count, max((count - 1) * hop_samples + segment_samples, num_samples)


def segment_waveforms(
    clips: Sequence[torch.Tensor] | torch.Tensor, segment_samples: int, hop_samples: int, last_segment: str = "pad"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split 1-D clips (a list, or a `(batch, samples)` tensor of equal-length clips) into fixed-length segments.

    A clip shorter than one segment is zero-padded to one segment. The trailing partial piece of a longer clip is
    zero-padded (`last_segment="pad"`) or dropped (`"drop"`). A 2-D batch is split in one vectorised `unfold`.

    Returns:
        segments: `(n_segments, segment_samples)`.
        segment_to_utterance: `(n_segments,)` long, the index of the clip each segment came from.
    """
    if last_segment not in LAST_SEGMENT_MODES:
        raise ValueError(f"last_segment={last_segment!r} is not one of {list(LAST_SEGMENT_MODES)}.")
    if isinstance(clips, torch.Tensor) and clips.ndim == 2:
        batch, num_samples = clips.shape
        count, padded_length = _segment_layout(num_samples, segment_samples, hop_samples, last_segment)
        padded = torch.nn.functional.pad(clips, (0, padded_length - num_samples))
        segments = padded.unfold(1, segment_samples, hop_samples)[:, :count].reshape(-1, segment_samples)
        owners = torch.arange(batch, device=clips.device).repeat_interleave(count)
        return segments, owners
    pieces, owners = [], []
    for index, clip in enumerate(clips):
        count, padded_length = _segment_layout(clip.shape[-1], segment_samples, hop_samples, last_segment)
        padded = torch.nn.functional.pad(clip, (0, padded_length - clip.shape[-1]))
        pieces.append(padded.unfold(0, segment_samples, hop_samples)[:count])
        owners.append(torch.full((count,), index, dtype=torch.long, device=clip.device))
    return torch.cat(pieces), torch.cat(owners)


def pad_segments(
    segments: torch.Tensor, segment_to_utterance: torch.Tensor, num_clips: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Group flat segment rows by clip: `(n_segments, *rest)` -> `(num_clips, max_segments, *rest)` and a mask.

    `segment_to_utterance` `(n_segments,)` must be sorted (as `segment_waveforms` returns it). Missing segments of
    shorter clips are zeros and `attention_mask` `(num_clips, max_segments)` (long) is 1 on the real ones.
    """
    counts = torch.bincount(segment_to_utterance, minlength=num_clips)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(segments.shape[0], device=segments.device) - starts[segment_to_utterance]
    # One host sync for the padded size; equal-length batches need nothing else.
    max_segments = int(counts.max())
    padded = segments.new_zeros((num_clips, max_segments, *segments.shape[1:]))
    padded[segment_to_utterance, position] = segments
    attention_mask = torch.zeros((num_clips, max_segments), dtype=torch.long, device=segments.device)
    attention_mask[segment_to_utterance, position] = 1
    return padded, attention_mask


def _to_float_tensor(audio, what: str) -> torch.Tensor:
    """Audio of any shape -> float32 tensor (int PCM scaled to [-1, 1]); a torch input keeps its device."""
    if isinstance(audio, torch.Tensor):
        if audio.is_floating_point():
            return audio.float()
        if audio.dtype not in _TORCH_PCM_SCALE:
            raise ValueError(f"{what} has dtype {audio.dtype}; pass float audio in [-1, 1] or int16 PCM.")
        return audio.float() / _TORCH_PCM_SCALE[audio.dtype]
    array = np.asarray(audio)
    if array.dtype in _PCM_SCALE:
        array = array.astype(np.float32) / _PCM_SCALE[array.dtype]
    elif not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"{what} has dtype {array.dtype}; pass float audio in [-1, 1] (float32/float64) or int16 PCM."
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _check_clips(clips: list[torch.Tensor] | torch.Tensor, min_samples: int, sampling_rate: int) -> None:
    """Mono, non-empty, long enough and finite; errors name the clip and the fix."""
    for index, clip in enumerate(clips if isinstance(clips, list) else clips[:1]):
        if clip.ndim != 1:
            raise ValueError(
                f"clip {index} has shape {tuple(clip.shape)}: the model takes mono audio. Downmix multi-channel "
                "audio first, e.g. `audio.mean(axis=0)` for (channels, samples) or `audio.mean(axis=1)` for "
                "soundfile's (samples, channels)."
            )
        if clip.numel() == 0:
            raise ValueError(f"clip {index} is empty; remove it or check the file it was decoded from.")
    lengths = [clip.numel() for clip in clips] if isinstance(clips, list) else [clips.shape[1]] * clips.shape[0]
    for index, length in enumerate(lengths):
        if length < min_samples:
            raise ValueError(
                f"clip {index} has {length} samples ({length / sampling_rate:.3f} s); at least {min_samples} "
                f"({min_samples / sampling_rate} s) are needed. Pad it or drop it."
            )
    # one pass per clip gives both checks: NaN and Inf propagate into the extremes
    if isinstance(clips, list):
        extremes = torch.stack([torch.stack(torch.aminmax(clip)) for clip in clips])
    else:
        extremes = torch.stack(torch.aminmax(clips, dim=1), dim=1)
    finite = torch.isfinite(extremes).all(dim=1)
    if not finite.all():
        index = int((~finite).nonzero()[0])
        raise ValueError(f"clip {index} contains NaN or Inf samples; fix or drop the clip (e.g. np.nan_to_num).")
    peaks = extremes.abs().amax(dim=1)
    loud = peaks > MAX_FLOAT_PEAK
    if loud.any():
        index = int(loud.nonzero()[0])
        raise ValueError(
            f"clip {index} peaks at {float(peaks[index]):.6g}, but float audio is expected in [-1, 1] (peaks up to "
            f"{MAX_FLOAT_PEAK:g} pass): it looks like integer PCM stored as float. Divide it by 32768 (int16 scale) "
            "or pass the int16 array itself, which is scaled for you."
        )


def _decode_audio_entry(entry: dict, index: int, expected_rate: int, call_rate: int | None) -> np.ndarray:
    """One `datasets` Audio value (`{"array", "sampling_rate"}`, or `{"path"}` / `{"bytes"}` undecoded) -> samples.

    Undecoded entries (an `Audio(decode=False)` column) are read with soundfile; every rate is checked. A decoded
    entry without `sampling_rate` takes the call's `sampling_rate` (`call_rate`); without either its rate is unknown.
    """
    if entry.get("array") is not None:
        array, rate = entry["array"], entry.get("sampling_rate", call_rate)
        if rate is None:
            raise ValueError(
                f"clip {index} is a dict with 'array' but no 'sampling_rate', so its rate is unknown; add "
                f"'sampling_rate' to the dict (datasets' Audio feature always does) or pass sampling_rate= to the "
                "call."
            )
    elif entry.get("bytes") is not None or entry.get("path"):
        import io

        import soundfile

        source = io.BytesIO(entry["bytes"]) if entry.get("bytes") is not None else entry["path"]
        try:
            array, rate = soundfile.read(source, dtype="float32", always_2d=False)
        except Exception as error:  # soundfile raises several types for unreadable audio
            raise ValueError(f"clip {index} ({entry.get('path') or 'bytes'}) could not be decoded: {error}") from error
    else:
        raise ValueError(
            f"clip {index} is a dict with keys {sorted(entry)}; a datasets Audio value needs 'array' and "
            "'sampling_rate' (decoded) or 'path'/'bytes' (Audio(decode=False))."
        )
    if int(rate) != expected_rate:
        raise ValueError(
            f"clip {index} is sampled at {rate} Hz, but this feature extractor expects {expected_rate} Hz; resample "
            f"first, e.g. `barlow_speech.data.audio.resample(array, {rate})`, a barlow_speech loader (they resample), "
            f"or `dataset.cast_column('audio', Audio(sampling_rate={expected_rate}))` (datasets decodes with "
            "torchcodec: pip install 'barlow-speech[decode]')."
        )
    return array


def _path_error(path, where: str) -> ValueError:
    """The error for a file name given where audio samples are expected."""
    return ValueError(
        f"{where} is the file name {str(path)!r}, but the feature extractor takes audio samples, not files. Read the "
        f"file first, e.g. `audio, rate = soundfile.read({str(path)!r}, dtype='float32')` (downmix and resample to "
        "16 kHz if needed), or pass a datasets Audio(decode=False) entry {'path': ...}, which is decoded for you."
    )


def _split_batch(raw_speech, expected_rate: int, call_rate: int | None) -> list | np.ndarray | torch.Tensor:
    """The accepted input forms as a list of clips, or a `(batch, samples)` array kept whole for vectorised work.

    Accepted: one clip `(samples,)`, a batch `(batch, samples)` (a 2-D array is always a batch of clips, the
    Hugging Face convention: `(2, N)` is two clips, not one stereo clip), a list of 1-D clips, and what a `datasets`
    Audio column yields (one dict or a list of dicts, decoded or not).
    """
    if isinstance(raw_speech, (str, bytes, os.PathLike)):
        raise _path_error(raw_speech, "raw_speech")
    if isinstance(raw_speech, dict):
        raw_speech = [raw_speech]
    if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
        if raw_speech.ndim == 1:
            return [raw_speech]
        if raw_speech.ndim == 2:
            batch, samples = raw_speech.shape
            if batch == 0:
                raise ValueError(
                    f"got an empty batch of shape {tuple(raw_speech.shape)}: no clip to featurise; pass at least one "
                    "clip, (samples,) or (batch, samples)."
                )
            if samples <= 8 < batch:
                raise ValueError(
                    f"got an array of shape {tuple(raw_speech.shape)}, which looks like one (samples, channels) "
                    "recording. Downmix it with `audio.mean(axis=1)`; a 2-D array is read as (batch, samples)."
                )
            return raw_speech
        raise ValueError(
            f"got an array of shape {tuple(raw_speech.shape)}; pass one clip (samples,), a batch (batch, samples) "
            "or a list of 1-D clips."
        )
    if isinstance(raw_speech, (list, tuple)):
        if len(raw_speech) == 0:
            raise ValueError("got an empty list of clips; pass at least one clip.")
        for index, clip in enumerate(raw_speech):
            if isinstance(clip, (str, bytes, os.PathLike)):
                raise _path_error(clip, f"clip {index}")
        if all(np.isscalar(x) for x in raw_speech):
            if all(isinstance(x, (int, np.integer)) for x in raw_speech):
                raise ValueError(
                    "got a list of integers: its bit depth is unknown, so it cannot be scaled to [-1, 1]. Pass "
                    "integer "
                    "PCM as a typed array (e.g. `np.asarray(samples, dtype=np.int16)`, scaled by 2**15) or float "
                    "audio in [-1, 1]."
                )
            return [np.asarray(raw_speech, dtype=np.float32)]
        return [
            _decode_audio_entry(clip, index, expected_rate, call_rate) if isinstance(clip, dict) else clip
            for index, clip in enumerate(raw_speech)
        ]
    raise ValueError(
        f"raw_speech of type {type(raw_speech).__name__} is not supported; pass a numpy array, a torch tensor, a "
        "list of them, or a datasets Audio column (dicts with 'array' and 'sampling_rate')."
    )


def _is_lazy_sequence(raw_speech) -> bool:
    """A sized iterable that is none of the array types, e.g. `datasets`' lazy `Column`."""
    concrete = (np.ndarray, torch.Tensor, list, tuple, dict, str, bytes)
    return not isinstance(raw_speech, concrete) and hasattr(raw_speech, "__len__") and hasattr(raw_speech, "__iter__")


def _is_audio_column(raw_speech) -> bool:
    """Whether the input is `datasets` Audio values, which carry their own rate."""
    first = raw_speech[0] if isinstance(raw_speech, (list, tuple)) and raw_speech else raw_speech
    return isinstance(first, dict)


class _SettingError(ValueError):
    """A front-end setting the extractor refuses at construction; `from_pretrained` adds the folder it came from."""


def _positive_int(name: str, value, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise _SettingError(f"{name}={value!r} must be a positive int{hint}.")


def _finite_number(
    name: str, value, above: float | None = None, at_least: float | None = None, below: float | None = None, hint=""
) -> float:
    """`value` as a float; a `_SettingError` unless it is a finite real number (not a string, not a bool) in bounds."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    valid = number and math.isfinite(value)
    valid = valid and (above is None or value > above) and (at_least is None or value >= at_least)
    if not (valid and (below is None or value < below)):
        bounds = [f"> {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else ""]
        bounds.append(f"< {below:g}" if below is not None else "")
        bound = " and ".join(b for b in bounds if b)
        raise _SettingError(f"{name}={value!r} must be a finite number{' ' + bound if bound else ''}{hint}.")
    return float(value)


def _normalisation(mean, std) -> tuple[float, float]:
    """Checked dataset statistics `(mean, std)` of the log-spectrogram."""
    refit = "; refit it with `fit_normalization` on the training split's audio"
    return _finite_number("mean", mean, hint=refit), _finite_number("std", std, above=0.0, hint=refit)


def _padding_strategy(padding, return_tensors: str | None) -> str:
    """transformers' `padding` values (`True`, `False`, `"longest"`, `"max_length"`, `"do_not_pad"`, or a
    `PaddingStrategy`) as one of `PADDING_STRATEGIES`; None is `"longest"` for a batch of tensors and `"do_not_pad"`
    for a list of rows (`return_tensors=None`)."""
    if padding is None:
        return "do_not_pad" if return_tensors is None else "longest"
    if isinstance(padding, bool):
        return "longest" if padding else "do_not_pad"
    if isinstance(padding, str) and padding in PADDING_STRATEGIES:
        return str(getattr(padding, "value", padding))
    raise ValueError(
        f"padding={padding!r} is not one of None, True, False or {list(PADDING_STRATEGIES)} (transformers' values)."
    )


def _check_length_options(max_length, truncation, strategy: str) -> None:
    """`max_length`, `truncation` and `padding` as transformers' audio feature extractors take them; a combination
    that would do nothing is an error rather than silently ignored."""
    if max_length is not None:
        _positive_int("max_length", max_length, " (samples)")
    if not isinstance(truncation, bool):
        raise ValueError(f"truncation={truncation!r} must be True or False.")
    if max_length is None and (truncation or strategy == "max_length"):
        option = "truncation=True" if truncation else "padding='max_length'"
        raise ValueError(f"{option} needs max_length, in samples (e.g. max_length=16000 for 1 s at 16 kHz).")
    if max_length is not None and not truncation and strategy != "max_length":
        raise ValueError(
            f"max_length={max_length} does nothing on its own: pass truncation=True to cut each clip to its first "
            f"{max_length} samples, or padding='max_length' to pad every row to the segments of {max_length} samples."
        )


class BarlowSpeechFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns 16 kHz mono audio into the `(clips, 1, 513, 126)` log-spectrograms of the paper (for 1-s clips).

    Audio longer than `segment_seconds` is split into segments (hop `segment_seconds - segment_overlap`). Every output
    row is one clip. With `return_tensors="pt"` or `"np"`, `input_values` `(batch, segments, freq, frames)` is padded
    with zero segments up to the call's longest clip and `attention_mask` `(batch, segments)` marks the real ones; the
    models average the embeddings of a row's real segments, so any collator that stacks rows keeps one result per
    clip. With `return_tensors=None` (the default, what `datasets.map` stores) the output is a list of rows, each
    holding only its own clip's segments, `(segments_i, freq, frames)` with a mask of ones `(segments_i,)`, as
    transformers' audio extractors return unpadded lists: a batched map stores every clip at its own length instead
    of the batch's longest, and `BarlowSpeechDataCollator` pads the rows of each training batch.

    Normalisation uses dataset statistics (`mean`, `std`, fitted on the training split with `fit_normalization` and
    saved in preprocessor_config.json, like AST); per-utterance normalisation is available but off by default because
    it erases level cues of speakers. Spectrograms are computed `chunk_segments` segments at a time, so a long clip
    needs the memory of its output plus one chunk's STFT.

    Every setting is checked at construction (and so when preprocessor_config.json is loaded): a string where a number
    belongs, a non-finite or non-positive `std` or `log_floor`, an unknown `pad_mode`, or segments shorter than one
    `n_fft` window are a `ValueError` naming the field.

    Args:
        sampling_rate (`int`, defaults to 16000): the only accepted input rate (paper Sec. 2.3).
        n_fft (`int`, defaults to 1024): 64-ms Hann window, 513 bins.
        hop_length (`int`, defaults to 128): 8 ms; 126 centred frames per second. The paper states a 32-ms hop
            *and* 126 frames per second; only an 8-ms hop with centred frames gives its 513 x 126 input (README).
        n_mels (`int`, *optional*): a log-mel front end with this many bands (the field's common choice: 64 from
            60 to 7,800 Hz, as BYOL-A and HEAR baselines) instead of the paper's `n_fft // 2 + 1` linear bins.
        f_min, f_max (`float`, defaults to 60 and 7800): band edges of the mel filterbank (used with `n_mels`).
        segment_seconds (`float`, defaults to 1.0): segment length; at least one `n_fft` window.
        segment_overlap (`float`, defaults to 0.0): overlap of consecutive segments, in seconds.
        last_segment (`str`, defaults to `"pad"`): `"pad"` or `"drop"` the trailing partial segment.
        min_seconds (`float`, defaults to 0.064): shorter clips are rejected (less than one analysis window).
        mean, std (`float`, defaults to 0.0 and 1.0): dataset statistics of the log-spectrogram (finite, std > 0).
        do_normalize (`bool`, defaults to `True`): apply `(x - mean) / std`.
        per_utterance_normalize (`bool`, defaults to `False`): standardise each segment by its own mean and std.
        log_floor (`float`, defaults to 1e-6): magnitude floor before the log, so silence stays finite; its square
            must be a normal float32 (log_floor >= 1.1e-19).
        pad_mode (`str`, defaults to `"reflect"`): edge padding of the centred STFT frames, one of `PAD_MODES`.
        chunk_segments (`int`, defaults to 32): segments per STFT call; bounds the memory of long clips.

    Example:
    ```python
    >>> import numpy as np
    >>> from barlow_speech import BarlowSpeechFeatureExtractor
    >>> extractor = BarlowSpeechFeatureExtractor()
    >>> features = extractor(np.zeros(16000, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
    >>> features["input_values"].shape  # (clips, segments, freq, frames)
    torch.Size([1, 1, 513, 126])
    >>> extractor([np.zeros(40000), np.zeros(16000)], sampling_rate=16000, return_tensors="np")["attention_mask"]
    array([[1, 1, 1],
           [1, 0, 0]])
    >>> [row.shape for row in extractor([np.zeros(40000), np.zeros(16000)], sampling_rate=16000)["input_values"]]
    [(3, 513, 126), (1, 513, 126)]
    ```
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        sampling_rate: int = SAMPLING_RATE,
        n_fft: int = 1024,
        hop_length: int = 128,
        n_mels: int | None = None,
        f_min: float = 60.0,
        f_max: float = 7800.0,
        segment_seconds: float = 1.0,
        segment_overlap: float = 0.0,
        last_segment: str = "pad",
        min_seconds: float = 0.064,
        mean: float = 0.0,
        std: float = 1.0,
        do_normalize: bool = True,
        per_utterance_normalize: bool = False,
        log_floor: float = 1e-6,
        pad_mode: str = "reflect",
        chunk_segments: int = 32,
        **kwargs,
    ):
        kwargs.pop("feature_size", None)
        kwargs.pop("padding_value", None)
        for name, value in (("sampling_rate", sampling_rate), ("n_fft", n_fft), ("hop_length", hop_length)):
            _positive_int(name, value)
        _positive_int("chunk_segments", chunk_segments, " (segments per STFT call)")
        super().__init__(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, **kwargs)
        if hop_length > n_fft:
            raise _SettingError(f"hop_length={hop_length} exceeds n_fft={n_fft}; frames would skip samples.")
        segment_seconds = _finite_number("segment_seconds", segment_seconds, above=0.0, hint=" (seconds)")
        if round(segment_seconds * sampling_rate) < n_fft:
            raise _SettingError(
                f"segment_seconds={segment_seconds:g} is {round(segment_seconds * sampling_rate)} samples, fewer than "
                f"one n_fft={n_fft} window; use segments of at least n_fft / sampling_rate = "
                f"{n_fft / sampling_rate:g} s (the paper: 1.0)."
            )
        if n_mels is not None:
            _positive_int("n_mels", n_mels, " (or None for linear bins)")
            f_min, f_max = _finite_number("f_min", f_min), _finite_number("f_max", f_max)
            if not 0 <= f_min < f_max <= sampling_rate / 2:
                raise _SettingError(
                    f"f_min={f_min:g}, f_max={f_max:g}: need 0 <= f_min < f_max <= sampling_rate / 2 = "
                    f"{sampling_rate / 2:g}."
                )
        if last_segment not in LAST_SEGMENT_MODES:
            raise _SettingError(f"last_segment={last_segment!r} is not one of {list(LAST_SEGMENT_MODES)}.")
        if pad_mode not in PAD_MODES:
            raise _SettingError(f"pad_mode={pad_mode!r} is not one of {list(PAD_MODES)} (torch.stft's pad_mode).")
        segment_overlap = _finite_number(
            "segment_overlap", segment_overlap, at_least=0.0, below=segment_seconds, hint=" (segment_seconds)"
        )
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.f_min = float(f_min)
        self.f_max = float(f_max)
        self.segment_seconds = segment_seconds
        self.segment_overlap = segment_overlap
        self.last_segment = last_segment
        self.min_seconds = _finite_number("min_seconds", min_seconds, at_least=0.0, hint=" (seconds)")
        self.mean, self.std = _normalisation(mean, std)
        self.do_normalize = do_normalize
        self.per_utterance_normalize = per_utterance_normalize
        self.log_floor = _finite_number(
            "log_floor",
            log_floor,
            at_least=math.sqrt(np.finfo(np.float32).tiny),
            hint=" (a magnitude floor > 0 keeps the log of silence finite; its square must be a normal float32)",
        )
        self.pad_mode = pad_mode
        self.chunk_segments = chunk_segments

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "BarlowSpeechFeatureExtractor":
        """`FeatureExtractionMixin.from_pretrained`; a setting the extractor refuses is reported with the folder (or
        Hub id) whose preprocessor_config.json holds it."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except _SettingError as error:
            raise ValueError(
                f"the preprocessor_config.json of {str(pretrained_model_name_or_path)!r} is invalid: {error}"
            ) from error

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_seconds * self.sampling_rate))

    @property
    def hop_samples(self) -> int:
        """Samples between the starts of consecutive segments."""
        return self.segment_samples - int(round(self.segment_overlap * self.sampling_rate))

    @property
    def num_frames(self) -> int:
        """Frames per segment: 126 for the defaults."""
        return 1 + self.segment_samples // self.hop_length

    @property
    def num_bins(self) -> int:
        """Frequency rows of `input_values`: 513 for the defaults, `n_mels` for the mel front end."""
        return self.n_mels or self.n_fft // 2 + 1

    def _unnormalised(self, segments: torch.Tensor) -> torch.Tensor:
        """Log-spectrogram with the optional per-utterance standardisation, before the dataset mean/std."""
        mel_filters = None
        if self.n_mels:
            bank = mel_filterbank(self.sampling_rate, self.n_fft, self.n_mels, self.f_min, self.f_max)
            mel_filters = torch.from_numpy(bank)
        features = log_spectrogram(segments, self.n_fft, self.hop_length, self.pad_mode, self.log_floor, mel_filters)
        if self.per_utterance_normalize:
            mean = features.mean(dim=(1, 2, 3), keepdim=True)
            std = features.std(dim=(1, 2, 3), keepdim=True)
            features = (features - mean) / (std + 1e-5)
        return features

    def spectrogram(self, segments: torch.Tensor) -> torch.Tensor:
        """`(batch, segment_samples)` waveforms -> normalised `(batch, 1, freq, frames)` log-spectrograms.

        This is the differentiable, on-device part of the front end; training calls it on augmented waveforms.
        """
        features = self._unnormalised(segments)
        return (features - self.mean) / self.std if self.do_normalize else features

    def _clips(
        self, raw_speech, device=None, call_rate: int | None = None, max_length: int | None = None
    ) -> list[torch.Tensor] | torch.Tensor:
        """Checked float32 clips, each cut to its first `max_length` samples: a list of 1-D tensors (each on its own
        device), or a `(batch, samples)` input as one tensor moved to `device`."""
        clips = _split_batch(raw_speech, self.sampling_rate, call_rate)
        if isinstance(clips, list):
            clips = [_to_float_tensor(clip, f"clip {index}")[..., :max_length] for index, clip in enumerate(clips)]
        else:
            clips = _to_float_tensor(clips, "the batch")[:, :max_length]
            clips = clips.to(device, non_blocking=True) if device is not None else clips
        _check_clips(clips, int(self.min_seconds * self.sampling_rate), self.sampling_rate)
        return clips

    def _segment_counts(self, clips: list[torch.Tensor] | torch.Tensor) -> list[int]:
        """Segments of each clip."""
        lengths = [clip.shape[-1] for clip in clips] if isinstance(clips, list) else [clips.shape[1]] * len(clips)
        return [
            _segment_layout(length, self.segment_samples, self.hop_samples, self.last_segment)[0] for length in lengths
        ]

    def _chunks(
        self, clips: list[torch.Tensor] | torch.Tensor, chunk_segments: int | None, device=None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """`(segments (n, segment_samples), owners (n,), positions (n,))` of checked clips, at most `chunk_segments`
        segments at a time (None: all in one), in clip order: row i is segment `positions[i]` of clip `owners[i]`.

        Only a chunk's segments are ever copied out of the clips: equal-length clips are cut in groups of whole clips
        (one vectorised `segment_waveforms`), a clip longer than a chunk in runs of `chunk_segments` segments.
        """
        counts = self._segment_counts(clips)
        limit = chunk_segments or sum(counts)
        pieces: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        filled = 0
        for piece in self._pieces(clips, counts, limit):
            if filled + piece[0].shape[0] > limit:
                yield self._join(pieces, device)
                pieces, filled = [], 0
            pieces.append(piece)
            filled += piece[0].shape[0]
        yield self._join(pieces, device)

    def _pieces(self, clips: list[torch.Tensor] | torch.Tensor, counts: list[int], limit: int) -> Iterator[tuple]:
        """Runs of at most `limit` segments, as `_chunks` yields them, each from one group of clips."""
        segment, hop = self.segment_samples, self.hop_samples
        blocks = [clips] if isinstance(clips, torch.Tensor) else [clip[None] for clip in clips]
        first = 0  # index of the block's first clip
        for block in blocks:
            count = counts[first]
            if count <= limit:
                rows = limit // count
                for start in range(0, len(block), rows):
                    group = block[start : start + rows]
                    segments, owners = segment_waveforms(group, segment, hop, self.last_segment)
                    positions = torch.arange(count, device=owners.device).repeat(len(group))
                    yield segments, owners + first + start, positions
            else:
                for row, clip in enumerate(block):
                    for begin in range(0, count, limit):
                        take = min(limit, count - begin)
                        run = clip[begin * hop : begin * hop + (take - 1) * hop + segment]
                        segments, owners = segment_waveforms(run[None], segment, hop, self.last_segment)
                        yield segments, owners + first + row, torch.arange(begin, begin + take, device=owners.device)
            first += len(block)

    @staticmethod
    def _join(pieces: list[tuple], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One chunk from `_pieces`' runs: their segments, owners and positions concatenated, on `device`."""
        parts = [piece[0] if len(pieces) == 1 else torch.cat(piece) for piece in zip(*pieces)]
        return tuple(part.to(device, non_blocking=True) if device is not None else part for part in parts)

    def segment_chunks(
        self, raw_speech, chunk_segments: int | None = None, device: torch.device | str | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Validate clips and split them, `chunk_segments` segments at a time (None: all in one chunk).

        Yields `(segments (n, segment_samples), segment_to_utterance (n,), positions (n,))` on `device`: row i is
        segment `positions[i]` of clip `segment_to_utterance[i]`, in clip order. The clips are checked before the
        first chunk is cut, and only a chunk's segments are copied at a time.
        """
        return self._chunks(self._clips(raw_speech, device), chunk_segments, device)

    def segment(self, raw_speech, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate clips and split them: returns `(segments (n, segment_samples), segment_to_utterance (n,))`.

        A `(batch, samples)` input is converted, checked and moved to `device` as one tensor; a list of clips is
        checked clip by clip on its own device and the segments are moved once.
        """
        ((segments, owners, _),) = self.segment_chunks(raw_speech, None, device)
        return segments, owners

    def __call__(
        self,
        raw_speech: np.ndarray | torch.Tensor | list | dict,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        device: torch.device | str | None = None,
        max_length: int | None = None,
        truncation: bool = False,
        padding: bool | str | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Featurise one clip, a list of clips, a `(batch, samples)` array or a `datasets` Audio column.

        Args:
            raw_speech: mono float audio in [-1, 1] (int16/int32 PCM arrays are scaled to [-1, 1]; float audio
                peaking above `MAX_FLOAT_PEAK` is refused as integer PCM stored as float); or what a `datasets` Audio
                column yields: a dict or a list of dicts with `array` and `sampling_rate` (`path`/`bytes` entries of
                an `Audio(decode=False)` column are decoded with soundfile). Every rate is checked. A 2-D array is a
                batch of clips, `(batch, samples)` (the Hugging Face convention): `(2, N)` is two clips, not a stereo
                recording; downmix stereo first.
            sampling_rate: the rate of `raw_speech`; must equal `self.sampling_rate`. Always pass it for arrays.
            return_tensors: `"pt"` for a batch of torch tensors, `"np"` for a batch of numpy arrays, None (default)
                for a list of numpy arrays, one per clip (the rows `datasets.map` stores).
            device: where to compute (e.g. `"cuda"`); defaults to the input tensors' device (CPU for numpy).
            max_length: in samples; with `truncation=True` each clip is cut to its first `max_length` samples, with
                `padding="max_length"` every row is padded to the segments of `max_length` samples.
            truncation: cut clips to `max_length` (as transformers' audio feature extractors do).
            padding: rows are padded with zero segments that `attention_mask` marks and the models skip.
                `True` / `"longest"`: to the call's longest clip. `"max_length"`: to the segments of `max_length`
                samples (or the longest clip, if longer), a fixed shape. `False` / `"do_not_pad"`: no padding; clips
                of different segment counts are then an error for `"pt"`/`"np"` (a batch of tensors cannot be
                ragged, as in transformers) and rows of their own lengths for None. None (default): `"longest"` for
                `"pt"`/`"np"`, `"do_not_pad"` for None, so a batched `datasets.map` stores no padding.

        Other keyword arguments are a `ValueError` listing these.

        Returns:
            `BatchFeature` with `input_values` `(batch, segments, n_fft // 2 + 1, frames)` (one row per clip, zero
            segments after a shorter clip's end) and `attention_mask` `(batch, segments)`, 1 on real segments; for
            `return_tensors=None` lists of the rows, `(segments_i, freq, frames)` and `(segments_i,)` each.
        """
        if kwargs:
            raise ValueError(
                f"unknown keyword argument(s) {sorted(kwargs)}; {type(self).__name__} takes {list(CALL_KEYWORDS)}."
            )
        strategy = _padding_strategy(padding, return_tensors)
        _check_length_options(max_length, truncation, strategy)
        if _is_lazy_sequence(raw_speech):
            raw_speech = list(raw_speech)  # e.g. a `datasets` Column (`dataset["audio"]`)
        if sampling_rate is None:
            if not _is_audio_column(raw_speech):
                logger.warning(
                    f"`sampling_rate` was not passed to {type(self).__name__}; assuming {self.sampling_rate} Hz. Pass "
                    "it to catch audio at the wrong rate."
                )
        elif isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)):
            raise ValueError(
                f"sampling_rate={sampling_rate!r} is a {type(sampling_rate).__name__}; pass the rate as an int "
                f"(e.g. sampling_rate={self.sampling_rate})."
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"audio sampled at {sampling_rate} Hz, but this feature extractor expects {self.sampling_rate} Hz; "
                f"resample to {self.sampling_rate} first (e.g. scipy.signal.resample_poly or librosa.resample)."
            )
        if return_tensors not in (None, "np", "pt"):
            raise ValueError(f"return_tensors={return_tensors!r}; use 'pt', 'np' or None.")
        clips = self._clips(raw_speech, device, sampling_rate, max_length if truncation else None)
        counts = self._segment_counts(clips)
        widths = self._row_widths(counts, strategy, max_length, batch=return_tensors is not None)
        values, mask = self._features(clips, counts, widths, device)
        if return_tensors is None:
            rows = {"input_values": values.split(widths), "attention_mask": mask.split(widths)}
            return BatchFeature({key: [row.cpu().numpy() for row in value] for key, value in rows.items()})
        data = {"input_values": values.unflatten(0, (len(widths), -1)), "attention_mask": mask.view(len(widths), -1)}
        if return_tensors == "np":
            data = {key: value.cpu().numpy() for key, value in data.items()}
        return BatchFeature(data)

    def _row_widths(self, counts: list[int], strategy: str, max_length: int | None, batch: bool) -> list[int]:
        """Segments of each output row under the padding `strategy`: the clip's own `counts` when not padded, else
        the longest clip's (or `max_length`'s); `batch` rows (tensors) must all be as wide."""
        rows = max(counts)
        if strategy == "max_length":
            rows = max(rows, _segment_layout(max_length, self.segment_samples, self.hop_samples, self.last_segment)[0])
        elif strategy == "do_not_pad":
            if batch and min(counts) != rows:
                raise ValueError(
                    f"padding=False, but the clips have between {min(counts)} and {rows} segments: a batch of "
                    "tensors cannot hold rows of different lengths. Use padding=True (the default for tensors: zero "
                    "segments marked 0 in attention_mask, which the models skip), or return_tensors=None for a list "
                    "of rows of their own lengths."
                )
            return counts
        return [rows] * len(counts)

    def _features(
        self, clips: list[torch.Tensor] | torch.Tensor, counts: list[int], widths: list[int], device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows of checked clips one after another: `input_values` `(sum(widths), freq, frames)` and
        `attention_mask` `(sum(widths),)`, row i holding clip i's `counts[i]` segments then zero segments up to
        `widths[i]`. The spectrograms are computed `chunk_segments` segments at a time into the output."""
        device = torch.device(device) if device is not None else (clips if torch.is_tensor(clips) else clips[0]).device
        width = torch.tensor(widths, device=device)
        starts = width.cumsum(0) - width
        position = torch.arange(sum(widths), device=device) - starts.repeat_interleave(width)
        attention_mask = (position < torch.tensor(counts, device=device).repeat_interleave(width)).long()
        input_values = torch.zeros((sum(widths), self.num_bins, self.num_frames), device=device)
        with torch.no_grad():
            for segments, owners, positions in self._chunks(clips, self.chunk_segments, device):
                input_values[starts[owners] + positions] = self.spectrogram(segments).squeeze(1)
        return input_values, attention_mask

    def fit_normalization(self, clips: Iterable, batch_size: int = 64) -> "BarlowSpeechFeatureExtractor":
        """Set `mean` / `std` to the statistics of the log-spectrogram over `clips` (use the training split).

        The statistics are those of exactly what `spectrogram` normalises (after the per-utterance step when it is
        on), so the fitted features have mean 0 and std 1. Zero padding of short last segments is included, as it
        is in the features the model sees.

        Streams over `clips` (any iterable of 1-D 16 kHz arrays) in batches, and each batch `chunk_segments` segments
        at a time, so it works on datasets larger than memory. Clips are checked as `__call__` checks them (finite,
        in [-1, 1]), and statistics that are not finite are refused, so `mean` and `std` stay as they were. Returns
        self so it chains: `extractor.fit_normalization(train_audio).save_pretrained(path)`.
        """
        total, total_sq, count = 0.0, 0.0, 0
        batch: list = []

        def consume(batch: list) -> tuple[float, float, int]:
            sums = np.zeros(3)
            for segments, _, _ in self.segment_chunks(batch, self.chunk_segments):
                features = self._unnormalised(segments).double()
                sums += (features.sum().item(), features.square().sum().item(), features.numel())
            return sums[0], sums[1], int(sums[2])

        for clip in clips:
            batch.append(clip)
            if len(batch) == batch_size:
                s, sq, n = consume(batch)
                total, total_sq, count, batch = total + s, total_sq + sq, count + n, []
        if batch:
            s, sq, n = consume(batch)
            total, total_sq, count = total + s, total_sq + sq, count + n
        if count == 0:
            raise ValueError("fit_normalization got no clips; pass the training split's audio arrays.")
        mean = total / count
        self.mean, self.std = _normalisation(mean, max(math.sqrt(max(total_sq / count - mean**2, 0.0)), 1e-5))
        return self


__all__ = [
    "BarlowSpeechFeatureExtractor",
    "MAX_FLOAT_PEAK",
    "log_spectrogram",
    "mel_filterbank",
    "pad_segments",
    "segment_waveforms",
]
