"""Log-spectrogram front end of the Barlow Twins speech encoder (Brima et al. 2024, Sec. 2.3).

16 kHz mono audio -> 1-s segments -> |STFT| (64-ms Hann window, 513 bins, 0-8 kHz) -> log -> (x - mean) / std.
One batched `torch.stft` over all segments, on whatever device the audio (or `device=`) is on.

The segment contract: every output row is one clip. `input_values` is `(batch, segments, freq, frames)`, padded with
zero segments up to the longest clip of the call, and `attention_mask` `(batch, segments)` marks the real ones. Any
collator that stacks or pads rows (the pipeline's, `datasets.map`, `default_data_collator`,
`BarlowSpeechDataCollator`) therefore keeps one row per clip, and the models average the real segments of each row.

Self-contained (imports only numpy, torch and transformers) so it can be shipped as remote code.
"""

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging

logger = logging.get_logger(__name__)

LAST_SEGMENT_MODES = ("pad", "drop")
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
    finite = (
        torch.stack([torch.isfinite(clip).all() for clip in clips])
        if isinstance(clips, list)
        else torch.isfinite(clips).all(dim=1)
    )
    if not finite.all():
        index = int((~finite).nonzero()[0])
        raise ValueError(f"clip {index} contains NaN or Inf samples; fix or drop the clip (e.g. np.nan_to_num).")


def _decode_audio_entry(entry: dict, index: int, expected_rate: int) -> np.ndarray:
    """One `datasets` Audio value (`{"array", "sampling_rate"}`, or `{"path"}` / `{"bytes"}` undecoded) -> samples.

    Undecoded entries (an `Audio(decode=False)` column) are read with soundfile; every rate is checked.
    """
    if entry.get("array") is not None:
        array, rate = entry["array"], entry.get("sampling_rate")
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
    if rate is not None and int(rate) != expected_rate:
        raise ValueError(
            f"clip {index} is sampled at {rate} Hz, but this feature extractor expects {expected_rate} Hz; resample "
            f"first, e.g. `dataset.cast_column('audio', Audio(sampling_rate={expected_rate}))` or a barlow_speech "
            "loader (they resample)."
        )
    return array


def _split_batch(raw_speech, expected_rate: int) -> list | np.ndarray | torch.Tensor:
    """The accepted input forms as a list of clips, or a `(batch, samples)` array kept whole for vectorised work.

    Accepted: one clip `(samples,)`, a batch `(batch, samples)`, a list of 1-D clips, and what a `datasets` Audio
    column yields (one dict or a list of dicts, decoded or not).
    """
    if isinstance(raw_speech, dict):
        raw_speech = [raw_speech]
    if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
        if raw_speech.ndim == 1:
            return [raw_speech]
        if raw_speech.ndim == 2:
            batch, samples = raw_speech.shape
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
            _decode_audio_entry(clip, index, expected_rate) if isinstance(clip, dict) else clip
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


class BarlowSpeechFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns 16 kHz mono audio into the `(clips, 1, 513, 126)` log-spectrograms of the paper (for 1-s clips).

    Audio longer than `segment_seconds` is split into segments (hop `segment_seconds - segment_overlap`). Every output
    row is one clip: `input_values` `(batch, segments, freq, frames)` is padded with zero segments up to the call's
    longest clip and `attention_mask` `(batch, segments)` marks the real ones; the models average the embeddings of a
    row's real segments, so any collator that stacks rows keeps one result per clip. Normalisation uses dataset
    statistics (`mean`, `std`, fitted on the training split with `fit_normalization` and saved in
    preprocessor_config.json, like AST); per-utterance normalisation is available but off by default because it erases
    level cues of speakers.

    Args:
        sampling_rate (`int`, defaults to 16000): the only accepted input rate (paper Sec. 2.3).
        n_fft (`int`, defaults to 1024): 64-ms Hann window, 513 bins.
        hop_length (`int`, defaults to 128): 8 ms; 126 centred frames per second. The paper states a 32-ms hop
            *and* 126 frames per second; only an 8-ms hop with centred frames gives its 513 x 126 input (README).
        n_mels (`int`, *optional*): a log-mel front end with this many bands (the field's common choice: 64 from
            60 to 7,800 Hz, as BYOL-A and HEAR baselines) instead of the paper's `n_fft // 2 + 1` linear bins.
        f_min, f_max (`float`, defaults to 60 and 7800): band edges of the mel filterbank (used with `n_mels`).
        segment_seconds (`float`, defaults to 1.0): segment length.
        segment_overlap (`float`, defaults to 0.0): overlap of consecutive segments, in seconds.
        last_segment (`str`, defaults to `"pad"`): `"pad"` or `"drop"` the trailing partial segment.
        min_seconds (`float`, defaults to 0.064): shorter clips are rejected (less than one analysis window).
        mean, std (`float`, defaults to 0.0 and 1.0): dataset statistics of the log-spectrogram.
        do_normalize (`bool`, defaults to `True`): apply `(x - mean) / std`.
        per_utterance_normalize (`bool`, defaults to `False`): standardise each segment by its own mean and std.
        log_floor (`float`, defaults to 1e-6): magnitude floor before the log.
        pad_mode (`str`, defaults to `"reflect"`): edge padding of the centred STFT frames.

    Example:
    ```python
    >>> import numpy as np
    >>> from barlow_speech import BarlowSpeechFeatureExtractor
    >>> extractor = BarlowSpeechFeatureExtractor()
    >>> features = extractor(np.zeros(16000, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
    >>> features["input_values"].shape  # (clips, segments, freq, frames)
    torch.Size([1, 1, 513, 126])
    >>> extractor([np.zeros(40000), np.zeros(16000)], sampling_rate=16000)["attention_mask"]
    array([[1, 1, 1],
           [1, 0, 0]])
    ```
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        sampling_rate: int = 16000,
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
        **kwargs,
    ):
        kwargs.pop("feature_size", None)
        kwargs.pop("padding_value", None)
        super().__init__(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, **kwargs)
        for name, value in (("sampling_rate", sampling_rate), ("n_fft", n_fft), ("hop_length", hop_length)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive int.")
        if hop_length > n_fft:
            raise ValueError(f"hop_length={hop_length} exceeds n_fft={n_fft}; frames would skip samples.")
        if not (isinstance(segment_seconds, (int, float)) and np.isfinite(segment_seconds) and segment_seconds > 0):
            raise ValueError(f"segment_seconds={segment_seconds!r} must be a finite number > 0 (seconds).")
        if n_mels is not None:
            if isinstance(n_mels, bool) or not isinstance(n_mels, (int, np.integer)) or n_mels < 1:
                raise ValueError(f"n_mels={n_mels!r} must be a positive int (or None for linear bins).")
            if not 0 <= f_min < f_max <= sampling_rate / 2:
                raise ValueError(
                    f"f_min={f_min}, f_max={f_max}: need 0 <= f_min < f_max <= sampling_rate / 2 = "
                    f"{sampling_rate / 2}."
                )
        if last_segment not in LAST_SEGMENT_MODES:
            raise ValueError(f"last_segment={last_segment!r} is not one of {list(LAST_SEGMENT_MODES)}.")
        if not 0.0 <= segment_overlap < segment_seconds:
            raise ValueError(f"segment_overlap={segment_overlap} must be in [0, segment_seconds={segment_seconds}).")
        if std <= 0:
            raise ValueError(f"std={std} must be > 0; refit it with `fit_normalization`.")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.f_min = float(f_min)
        self.f_max = float(f_max)
        self.segment_seconds = segment_seconds
        self.segment_overlap = segment_overlap
        self.last_segment = last_segment
        self.min_seconds = min_seconds
        self.mean = float(mean)
        self.std = float(std)
        self.do_normalize = do_normalize
        self.per_utterance_normalize = per_utterance_normalize
        self.log_floor = log_floor
        self.pad_mode = pad_mode

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_seconds * self.sampling_rate))

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

    def segment(self, raw_speech, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate clips and split them: returns `(segments (n, segment_samples), segment_to_utterance (n,))`.

        A `(batch, samples)` input is converted, checked and moved to `device` as one tensor; a list of clips is
        checked clip by clip on its own device and the segments are moved once.
        """
        clips = _split_batch(raw_speech, self.sampling_rate)
        if isinstance(clips, list):
            clips = [_to_float_tensor(clip, f"clip {index}") for index, clip in enumerate(clips)]
        else:
            clips = _to_float_tensor(clips, "the batch")
            clips = clips.to(device, non_blocking=True) if device is not None else clips
        _check_clips(clips, int(self.min_seconds * self.sampling_rate), self.sampling_rate)
        hop_samples = self.segment_samples - int(round(self.segment_overlap * self.sampling_rate))
        segments, owners = segment_waveforms(clips, self.segment_samples, hop_samples, self.last_segment)
        if device is not None:
            segments, owners = segments.to(device, non_blocking=True), owners.to(device, non_blocking=True)
        return segments, owners

    def __call__(
        self,
        raw_speech: np.ndarray | torch.Tensor | list | dict,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        device: torch.device | str | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Featurise one clip, a list of clips, a `(batch, samples)` array or a `datasets` Audio column.

        Args:
            raw_speech: mono float audio (int16/int32 PCM arrays are scaled to [-1, 1]); or what a `datasets` Audio
                column yields: a dict or a list of dicts with `array` and `sampling_rate` (`path`/`bytes` entries of
                an `Audio(decode=False)` column are decoded with soundfile). Every rate is checked.
            sampling_rate: the rate of `raw_speech`; must equal `self.sampling_rate`. Always pass it for arrays.
            return_tensors: `"pt"` for torch tensors, `"np"` or None for numpy arrays.
            device: where to compute (e.g. `"cuda"`); defaults to the input tensors' device (CPU for numpy).

        Returns:
            `BatchFeature` with `input_values` `(batch, segments, n_fft // 2 + 1, frames)` (one row per clip, zero
            segments after a shorter clip's end) and `attention_mask` `(batch, segments)`, 1 on real segments.
        """
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
        segments, segment_to_utterance = self.segment(raw_speech, device)
        with torch.no_grad():
            spectrograms = self.spectrogram(segments).squeeze(1)
        num_clips = int(segment_to_utterance[-1]) + 1
        input_values, attention_mask = pad_segments(spectrograms, segment_to_utterance, num_clips)
        data = {"input_values": input_values, "attention_mask": attention_mask}
        if return_tensors != "pt":
            data = {key: value.cpu().numpy() for key, value in data.items()}
        return BatchFeature(data)

    def fit_normalization(self, clips: Iterable, batch_size: int = 64) -> "BarlowSpeechFeatureExtractor":
        """Set `mean` / `std` to the statistics of the log-spectrogram over `clips` (use the training split).

        The statistics are those of exactly what `spectrogram` normalises (after the per-utterance step when it is
        on), so the fitted features have mean 0 and std 1. Zero padding of short last segments is included, as it
        is in the features the model sees.

        Streams over `clips` (any iterable of 1-D 16 kHz arrays) in batches, so it works on datasets larger than
        memory. Returns self so it chains: `extractor.fit_normalization(train_audio).save_pretrained(path)`.
        """
        total, total_sq, count = 0.0, 0.0, 0
        batch: list = []

        def consume(batch: list) -> tuple[float, float, int]:
            segments, _ = self.segment(batch)
            features = self._unnormalised(segments).double()
            return features.sum().item(), features.square().sum().item(), features.numel()

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
        self.mean = total / count
        self.std = max(float(np.sqrt(max(total_sq / count - self.mean**2, 0.0))), 1e-5)
        return self


__all__ = ["BarlowSpeechFeatureExtractor", "log_spectrogram", "mel_filterbank", "pad_segments", "segment_waveforms"]
