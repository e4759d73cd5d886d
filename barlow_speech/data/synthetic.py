"""Synthetic speech corpus with known factors: the embedded default dataset (README and docs/synthetic.md).

Source-filter synthesis of one-second, word-like utterances, generated on the fly from a seed
(no download, no data file). Every clip has five ground-truth factors:

- ``speaker_id``: one of ``num_speakers`` speakers, each with persistent traits (f0 baseline and
  range, vocal-tract length, per-formant idiosyncrasies, spectral tilt, breathiness, open quotient,
  jitter, shimmer, speaking rate);
- ``gender``: speaker-level; sets the f0 range and scales every formant by the vocal-tract length;
- ``accent``: speaker-level group with per-vowel F1/F2 shifts, vowel/consonant rhythm and the
  alignment of the pitch peak;
- ``word``: one of the keywords of `LEXICON`, each a fixed phone sequence (vowels with formant
  targets and transitions, nasals, approximants, fricatives, stop closures + bursts + aspiration);
- ``emotion``: neutral / angry / happy / sad / surprise as prosody (pitch level, range and
  contour), speaking rate, vocal effort (energy and spectral tilt), breathiness, voice tension;

plus nuisances with no label: per-clip jitter of every trait, onset time, a random channel
equaliser, room reverberation, background noise (white / pink / brown) at a random SNR, level.

Synthesis (all clips of a batch at once, NumPy only):
1. glottal source: an impulse train whose periods follow the clip's f0 contour with jitter and
   whose amplitudes carry shimmer and the voicing of each segment, plus aspiration / frication
   noise; the pulse shape is a Rosenberg (1971) glottal-flow derivative of the clip's open
   quotient, applied through its spectrum in step 2;
2. filter: short-time (256-point, hop 128, sqrt-Hann WOLA) multiplication by a spectral envelope
   that cross-fades between per-segment envelopes, so formants move smoothly between targets;
   an envelope is the Rosenberg pulse spectrum x a cascade of five formant resonators x lip
   radiation x speaker tilt (voiced segments) or a place-specific noise resonance (fricatives and
   bursts);
3. nuisance: FFT convolution with a room impulse response, coloured noise at a random SNR, level.

The rooms and noise here are NumPy draws of their own, not the torch functions of `barlow_speech.data.effects` that
the pretraining views and the multilingual corpus use (one generator for both was considered): they draw from
another random stream and differ in detail (a bank of 64 rooms with a 2-ms gap before the first reflection, a noise
bank cut per clip), so switching to them would change every generated clip, and with them the demo's numbers and
every result measured on this corpus.

Public API: `SyntheticSpeechConfig`, `generate_batch` (NumPy arrays, fast) and `load_synthetic`
(a `datasets.Dataset` in the common schema of `barlow_speech.data.schema`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import zlib
from collections.abc import Sequence

import datasets
import numpy as np
import pyarrow as pa
import scipy.fft
from tqdm.auto import tqdm

from .schema import SAMPLING_RATE, arrow_table, common_features

logger = logging.getLogger(__name__)

EMOTIONS = ("neutral", "angry", "happy", "sad", "surprise")
FACTORS = ("speaker_id", "gender", "accent", "word", "emotion")
SPLITS = ("train", "validation", "test")

# Short-time filter of step 2: 16 ms frames, 8 ms hop (50 % overlap, sqrt-Hann analysis and synthesis).
_N_FFT = 256
_HOP = _N_FFT // 2
_FREQS = np.fft.rfftfreq(_N_FFT, 1.0 / SAMPLING_RATE).astype(np.float32)
_N_FORMANTS = 5
# Glottal pulse amplitude relative to the unit-variance frication noise (the vowel-to-fricative level).
_PULSE_GAIN = 8.0

# ----------------------------------------------------------------------------------------------
# Phone inventory. Vowel formants F1-F3 are the male averages of Hillenbrand et al. (1995);
# F4/F5 are typical values. Durations are citation-form values in ms (Klatt 1976).
# kind: v vowel, a approximant, n nasal, f fricative, c stop closure, b burst, h aspiration.
# ----------------------------------------------------------------------------------------------
_VOWELS = {
    "i": (342, 2322, 3000),
    "I": (427, 2034, 2684),
    "E": (580, 1799, 2605),
    "ae": (588, 1952, 2601),
    "A": (768, 1333, 2522),
    "O": (652, 997, 2538),
    "o": (497, 910, 2459),
    "U": (469, 1122, 2434),
    "V": (623, 1200, 2550),
    "a": (750, 1400, 2550),
}
VOWEL_NAMES = tuple(_VOWELS)


@dataclasses.dataclass(frozen=True)
class _Phone:
    kind: str
    formants: tuple[float, float, float] = (500.0, 1500.0, 2500.0)
    duration_ms: float = 100.0
    voicing: float = 1.0  # pulse amplitude
    noise: float = 0.0  # frication / aspiration amplitude
    noise_band: tuple[float, float] = (0.0, 0.0)  # centre and bandwidth (Hz) of a fricative/burst
    transition_ms: float = 30.0  # cross-fade into this segment


def _phones() -> dict[str, _Phone]:
    table = {name: _Phone("v", f, 120.0) for name, f in _VOWELS.items()}
    table.update(
        {
            "j": _Phone("a", (280, 2200, 3000), 60.0, 0.7),
            "w": _Phone("a", (300, 700, 2200), 60.0, 0.7),
            "l": _Phone("a", (360, 1000, 2500), 60.0, 0.6),
            "r": _Phone("a", (350, 1100, 1500), 70.0, 0.7),
            "m": _Phone("n", (250, 1100, 2200), 70.0, 0.35, transition_ms=15.0),
            "n": _Phone("n", (250, 1500, 2500), 70.0, 0.35, transition_ms=15.0),
            "s": _Phone("f", duration_ms=110.0, voicing=0.0, noise=0.5, noise_band=(5500, 2500), transition_ms=15.0),
            "S": _Phone("f", duration_ms=110.0, voicing=0.0, noise=0.6, noise_band=(2800, 1500), transition_ms=15.0),
            "f": _Phone("f", duration_ms=100.0, voicing=0.0, noise=0.15, noise_band=(4500, 7000), transition_ms=15.0),
            "cl": _Phone("c", duration_ms=60.0, voicing=0.0, transition_ms=8.0),
            "vcl": _Phone("c", (200, 1200, 2500), 50.0, voicing=0.12, transition_ms=8.0),
            "p": _Phone("b", duration_ms=15.0, voicing=0.0, noise=0.5, noise_band=(800, 3000), transition_ms=4.0),
            "t": _Phone("b", duration_ms=15.0, voicing=0.0, noise=0.7, noise_band=(4000, 2500), transition_ms=4.0),
            "k": _Phone("b", duration_ms=20.0, voicing=0.0, noise=0.6, noise_band=(2000, 1000), transition_ms=4.0),
            "h": _Phone("h", (500, 1500, 2500), 35.0, voicing=0.0, noise=0.25, transition_ms=8.0),
        }
    )
    return table


# Keywords (Speech Commands style) as segment sequences; voiceless stops are closure + burst +
# aspiration, voiced stops are a voice-bar closure + a short burst.
LEXICON: dict[str, tuple[str, ...]] = {
    "yes": ("j", "E", "s"),
    "no": ("n", "o", "U"),
    "up": ("V", "cl", "p", "h"),
    "down": ("vcl", "t", "a", "U", "n"),
    "left": ("l", "E", "f", "cl", "t", "h"),
    "right": ("r", "a", "I", "cl", "t", "h"),
    "on": ("A", "n"),
    "off": ("O", "f"),
    "stop": ("s", "cl", "t", "A", "cl", "p", "h"),
    "go": ("vcl", "k", "o", "U"),
    "sheep": ("S", "i", "cl", "p", "h"),
    "four": ("f", "O", "r"),
}

# Emotion prosody (Scherer 2003; Murray & Arnott 1993 rules for synthetic emotional speech):
# pitch level (semitones), pitch-range factor, contour peak height, declination, final rise,
# speaking-rate factor, vocal effort (dB; also flattens the spectral tilt), breathiness offset,
# open-quotient offset (tension), jitter factor.
_EMOTION_TABLE = np.array(
    [
        # level range peak decl rise  rate  effort breath oq     jitter
        [0.0, 1.0, 0.6, 0.5, 0.0, 1.00, 0.0, 0.00, 0.00, 1.0],  # neutral
        [2.5, 1.4, 0.5, 1.2, 0.0, 1.12, 6.0, -0.02, -0.10, 1.5],  # angry
        [3.0, 1.5, 1.0, 0.3, 0.2, 1.08, 3.0, 0.01, -0.04, 1.0],  # happy
        [-2.0, 0.5, 0.3, 0.6, 0.0, 0.82, -5.0, 0.07, 0.10, 1.6],  # sad
        [4.0, 1.8, 0.4, -0.2, 1.2, 1.00, 2.0, 0.02, 0.00, 1.0],  # surprise
    ],
    dtype=np.float64,
)


@dataclasses.dataclass
class SyntheticSpeechConfig:
    """Configuration of the synthetic corpus; the defaults give the numbers in docs/synthetic.md.

    Args:
        num_speakers: speakers in the population (balanced over genders and accents); >= 60 makes speaker
            identification a many-class task like VoxCeleb.
        num_accents: accent groups (per-group vowel formant shifts, rhythm, pitch-peak alignment).
        words: keywords used, a subset of `LEXICON` (default: all 12).
        population_seed: seed of the speaker population and accent groups; clips drawn with any
            clip seed or split share this population, so speaker labels mean the same everywhere.
        label: factor copied into the ``label`` column of `load_synthetic`.
        clip_seconds: clip length (1 s: the paper's segment length).
        speaker_spread: scale of between-speaker trait differences (1 = default population).
        within_speaker_jitter: scale of per-clip trait variation (f0, formants, rate, tilt).
        emotion_intensity: range (min, max) of a per-clip multiplier of the emotion effects.
        snr_db: range of the background-noise SNR (dB), drawn uniformly per clip.
        reverb_prob: probability that a clip is convolved with a room impulse response.
        rt60_s: range of the reverberation time of the rooms.
        channel_db: standard deviation (dB) of a random smooth channel equaliser per clip.
        level_dbfs: range of the clip RMS level (dBFS).
    """

    num_speakers: int = 64
    num_accents: int = 4
    words: tuple[str, ...] = tuple(LEXICON)
    population_seed: int = 0
    label: str = "speaker_id"
    clip_seconds: float = 1.0
    speaker_spread: float = 1.0
    within_speaker_jitter: float = 1.0
    emotion_intensity: tuple[float, float] = (0.4, 1.2)
    snr_db: tuple[float, float] = (5.0, 35.0)
    reverb_prob: float = 0.5
    rt60_s: tuple[float, float] = (0.15, 0.7)
    channel_db: float = 3.0
    level_dbfs: tuple[float, float] = (-35.0, -15.0)

    def __post_init__(self) -> None:
        self.words = tuple(self.words)
        unknown = [w for w in self.words if w not in LEXICON]
        if unknown or len(self.words) < 2:
            raise ValueError(f"words={self.words!r}: expected >= 2 names from {sorted(LEXICON)}; unknown: {unknown}.")
        if self.num_speakers < 2 or self.num_accents < 1:
            raise ValueError(
                f"num_speakers={self.num_speakers}, num_accents={self.num_accents}: "
                "need >= 2 speakers and >= 1 accent."
            )
        if self.label not in FACTORS:
            raise ValueError(f"label={self.label!r} is not a factor; choose one of {FACTORS}.")
        if not 0.25 <= self.clip_seconds <= 10.0:
            raise ValueError(f"clip_seconds={self.clip_seconds}: expected 0.25-10 s (the words last up to ~0.8 s).")
        for name in ("emotion_intensity", "snr_db", "rt60_s", "level_dbfs"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected (min, max) with min <= max.")

    @property
    def num_samples(self) -> int:
        return int(round(self.clip_seconds * SAMPLING_RATE))

    def factor_names(self) -> dict[str, list[str]]:
        """Class names of every factor, in label order."""
        return {
            "speaker_id": [f"spk{i:03d}" for i in range(self.num_speakers)],
            "gender": ["female", "male"],
            "accent": [f"accent{i}" for i in range(self.num_accents)],
            "word": list(self.words),
            "emotion": list(EMOTIONS),
        }


# ----------------------------------------------------------------------------------------------
# Population: speakers, accents and the tables that do not change between batches.
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Population:
    gender: np.ndarray  # (speakers,) 0 female, 1 male
    accent: np.ndarray  # (speakers,)
    f0: np.ndarray  # (speakers,) Hz
    f0_range: np.ndarray  # (speakers,) semitones
    vtl: np.ndarray  # (speakers,) formant scale
    formant_offsets: np.ndarray  # (speakers, 5) multiplicative
    tilt: np.ndarray  # (speakers,) dB/octave
    breath: np.ndarray  # (speakers,)
    open_quotient: np.ndarray  # (speakers,)
    jitter: np.ndarray  # (speakers,)
    shimmer: np.ndarray  # (speakers,)
    rate: np.ndarray  # (speakers,)
    accent_vowel_shift: np.ndarray  # (accents, vowels, 2) multiplicative F1/F2 shifts
    accent_rhythm: np.ndarray  # (accents, 2) vowel and consonant duration factors
    accent_peak: np.ndarray  # (accents,) pitch-peak position in the word
    segments: dict[str, np.ndarray]  # per-word segment tables, (words, max_segments)
    noise_bank: np.ndarray  # (3, bank) white, pink, brown; unit variance
    rir_spectra: np.ndarray  # (rooms, n_fft // 2 + 1) complex
    rir_fft: int


def _population_rng(config: SyntheticSpeechConfig, stream: str) -> np.random.Generator:
    return np.random.default_rng([config.population_seed, zlib.crc32(stream.encode())])


def _make_speakers(config: SyntheticSpeechConfig) -> dict[str, np.ndarray]:
    rng = _population_rng(config, "speakers")
    n, spread = config.num_speakers, config.speaker_spread
    gender = rng.permutation(np.arange(n) % 2)
    accent = np.empty(n, dtype=np.int64)
    for g in (0, 1):  # accents balanced within each gender
        idx = np.flatnonzero(gender == g)
        accent[idx] = rng.permutation(np.arange(idx.size) % config.num_accents)
    male = gender == 1
    st = lambda sd, size=n: rng.normal(0.0, sd * spread, size)  # noqa: E731 - semitone/log draws
    return {
        "gender": gender,
        "accent": accent,
        # f0 means: ~210 Hz female, ~120 Hz male (Hillenbrand 1995), spread ~3 semitones.
        "f0": np.where(male, 120.0, 210.0) * 2.0 ** (st(3.0) / 12.0),
        "f0_range": np.clip(3.0 + st(1.2), 1.0, 7.0),
        # vocal-tract length: female formants ~17 % higher than male (Peterson & Barney 1952).
        "vtl": np.where(male, 1.0, 1.17) * np.exp(st(0.06)),
        "formant_offsets": np.exp(st(0.05, (n, _N_FORMANTS))),
        "tilt": st(2.0),
        "breath": np.clip(0.04 + np.abs(st(0.05)), 0.0, 0.3) * np.where(male, 1.0, 1.4),
        "open_quotient": np.clip(np.where(male, 0.5, 0.6) + st(0.07), 0.35, 0.8),
        "jitter": np.clip(0.006 + np.abs(st(0.006)), 0.002, 0.04),
        "shimmer": np.clip(0.03 + np.abs(st(0.03)), 0.01, 0.15),
        "rate": np.exp(st(0.12)),
    }


def _make_segment_tables(words: Sequence[str]) -> dict[str, np.ndarray]:
    phones = _phones()
    max_len = max(len(LEXICON[w]) for w in words)
    kinds = "vanfcbh"
    shape = (len(words), max_len)
    tables = {
        "kind": np.full(shape, -1, dtype=np.int64),
        "vowel": np.full(shape, -1, dtype=np.int64),
        "formants": np.broadcast_to(np.array([500.0, 1500.0, 2500.0]), shape + (3,)).copy(),
        "duration": np.zeros(shape),
        "voicing": np.zeros(shape),
        "noise": np.zeros(shape),
        "noise_band": np.zeros(shape + (2,)),
        "transition": np.full(shape, 0.01),
    }
    for w, word in enumerate(words):
        for s, name in enumerate(LEXICON[word]):
            p = phones[name]
            tables["kind"][w, s] = kinds.index(p.kind)
            tables["vowel"][w, s] = VOWEL_NAMES.index(name) if name in _VOWELS else -1
            tables["formants"][w, s] = p.formants
            tables["duration"][w, s] = p.duration_ms / 1000.0
            tables["voicing"][w, s] = p.voicing
            tables["noise"][w, s] = p.noise
            tables["noise_band"][w, s] = p.noise_band
            tables["transition"][w, s] = p.transition_ms / 1000.0
    # Diphthong halves ("a U", "a I", "o U") are shorter than a full vowel.
    vowel = tables["vowel"] >= 0
    follows_vowel = np.zeros_like(vowel)
    follows_vowel[:, 1:] = vowel[:, :-1] & vowel[:, 1:]
    diphthong = follows_vowel | np.roll(follows_vowel, -1, axis=1)
    tables["duration"][diphthong] *= 0.75
    return tables


def _coloured_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """White, pink (1/f) and brown (1/f^2) noise, each of unit variance: (3, length) float32."""
    spectrum = scipy.fft.rfft(rng.standard_normal(length))
    f = np.maximum(np.fft.rfftfreq(length), 1.0 / length)
    bank = np.stack([scipy.fft.irfft(spectrum * f ** (-0.5 * k), n=length) for k in range(3)])
    bank /= bank.std(axis=1, keepdims=True)
    return bank.astype(np.float32)


def _room_impulse_responses(rng: np.random.Generator, rt60: tuple[float, float], rooms: int, n_fft: int) -> np.ndarray:
    """Spectra of exponentially decaying noise RIRs (direct path + diffuse tail): (rooms, n_fft//2+1)."""
    length = int(max(rt60) * SAMPLING_RATE)
    t = np.arange(length) / SAMPLING_RATE
    times = rng.uniform(*rt60, size=(rooms, 1))
    tail = rng.standard_normal((rooms, length)) * np.exp(-6.9 * t / times)  # -60 dB at t = RT60
    tail[:, : int(0.002 * SAMPLING_RATE)] = 0.0  # first reflection after 2 ms
    direct_to_reverb = 10.0 ** (rng.uniform(-3.0, 8.0, size=(rooms, 1)) / 10.0)
    tail *= np.sqrt(1.0 / (direct_to_reverb * (tail**2).sum(axis=1, keepdims=True)))
    tail[:, 0] = 1.0
    return scipy.fft.rfft(tail, n=n_fft, axis=1).astype(np.complex64)


@functools.lru_cache(maxsize=8)
def _population(config_key: tuple) -> _Population:
    config = SyntheticSpeechConfig(**dict(config_key))
    speakers = _make_speakers(config)
    rng = _population_rng(config, "accents")
    shift = np.exp(rng.normal(0.0, 0.09, size=(config.num_accents, len(VOWEL_NAMES), 2)))
    rhythm = np.exp(rng.normal(0.0, 0.15, size=(config.num_accents, 2)))
    peak = rng.uniform(0.2, 0.8, size=config.num_accents)
    nuisance_rng = _population_rng(config, "nuisance")
    rir_fft = scipy.fft.next_fast_len(config.num_samples + int(max(config.rt60_s) * SAMPLING_RATE))
    return _Population(
        accent_vowel_shift=shift,
        accent_rhythm=rhythm,
        accent_peak=peak,
        segments=_make_segment_tables(config.words),
        noise_bank=_coloured_noise(nuisance_rng, 1 << 17),
        rir_spectra=_room_impulse_responses(nuisance_rng, config.rt60_s, 64, rir_fft),
        rir_fft=rir_fft,
        **speakers,
    )


def _get_population(config: SyntheticSpeechConfig) -> _Population:
    return _population(tuple(sorted(dataclasses.asdict(config).items())))


# ----------------------------------------------------------------------------------------------
# Pure signal functions.
# ----------------------------------------------------------------------------------------------
def segment_weights(times: np.ndarray, boundaries: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Cross-fade weights of each segment at each time.

    Args:
        times: (batch, T) seconds.
        boundaries: (batch, S + 1) segment starts and the end of the last segment, non-decreasing.
        transitions: (batch, S + 1) cross-fade length (s) centred on each boundary.

    Returns:
        (batch, T, S) weights in [0, 1]; they sum to 1 inside the utterance and 0 outside it.
    """
    ramp = np.clip((times[:, :, None] - boundaries[:, None, :]) / transitions[:, None, :] + 0.5, 0.0, 1.0)
    return ramp[:, :, :-1] - ramp[:, :, 1:]


def resonance_magnitude(freqs: np.ndarray, centre: np.ndarray, bandwidth: np.ndarray) -> np.ndarray:
    """|H(f)| of a second-order resonator, unit gain at 0 Hz: F^2 / sqrt((F^2 - f^2)^2 + (B f)^2).

    Broadcasts `freqs` (..., bins) against `centre`/`bandwidth` (..., 1).
    """
    c2 = centre * centre
    return c2 / np.sqrt((c2 - freqs * freqs) ** 2 + (bandwidth * freqs) ** 2)


def rosenberg_pulse_spectrum(period_s: np.ndarray, open_quotient: np.ndarray, n_fft: int = _N_FFT) -> np.ndarray:
    """|FFT| of the Rosenberg (1971) glottal-flow derivative, one pulse per row.

    The flow rises as 0.5 (1 - cos(pi t / Tp)) for Tp = 2/3 of the open phase and falls as
    cos(pi (t - Tp) / (2 Tn)); its derivative excites the vocal tract.

    Args:
        period_s: (batch,) fundamental period T0 (s).
        open_quotient: (batch,) open phase / T0.

    Returns:
        (batch, n_fft // 2 + 1) magnitude, normalised to a peak of 1.
    """
    t = np.arange(n_fft + 1)[None, :] / SAMPLING_RATE
    open_s = np.minimum(period_s * open_quotient, (n_fft - 2) / SAMPLING_RATE)[:, None]
    tp, tn = open_s * 2.0 / 3.0, open_s / 3.0
    flow = np.where(
        t <= tp,
        0.5 * (1.0 - np.cos(np.pi * t / tp)),
        np.where(t <= tp + tn, np.cos(np.pi * np.minimum(t - tp, tn) / (2.0 * tn)), 0.0),
    )
    magnitude = np.abs(np.fft.rfft(np.diff(flow, axis=1), axis=1))
    return magnitude / magnitude.max(axis=1, keepdims=True)


def short_time_filter(excitation: np.ndarray, envelopes: np.ndarray) -> np.ndarray:
    """Time-varying filtering by weighted overlap-add: frame, FFT, multiply, inverse FFT, add.

    Args:
        excitation: (batch, samples) float32; samples a multiple of the hop (128).
        envelopes: (batch, samples // 128 + 1, 129) magnitude response of each frame.

    Returns:
        (batch, samples) float32.
    """
    batch, samples = excitation.shape
    window = np.sqrt(np.hanning(_N_FFT + 1)[:-1]).astype(np.float32)  # periodic: squares sum to 1
    padded = np.pad(excitation, ((0, 0), (_HOP, _HOP)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, _N_FFT, axis=1)[:, ::_HOP] * window
    spectra = scipy.fft.rfft(frames, axis=-1, workers=1)
    spectra *= envelopes
    frames = scipy.fft.irfft(spectra, n=_N_FFT, axis=-1, workers=1)
    frames *= window
    out = frames[:, :-1, _HOP:] + frames[:, 1:, :_HOP]  # frame j's tail + frame j+1's head
    return out.reshape(batch, samples)


def _mean_power(x: np.ndarray) -> np.ndarray:
    """Mean square of each row of (batch, samples): (batch,) float64."""
    return np.einsum("ij,ij->i", x, x).astype(np.float64) / x.shape[1]


def _envelope_db(freqs: np.ndarray, gains_db: np.ndarray) -> np.ndarray:
    """Smooth equaliser: `gains_db` (batch, K) at octave-spaced points, interpolated on log f."""
    points = np.geomspace(125.0, 8000.0, gains_db.shape[1])
    positions = np.interp(np.log(np.maximum(freqs, 62.5)), np.log(points), np.arange(len(points)))
    low = np.minimum(positions.astype(np.int64), len(points) - 2)
    frac = positions - low
    return gains_db[:, low] * (1.0 - frac) + gains_db[:, low + 1] * frac


# ----------------------------------------------------------------------------------------------
# Batch generation.
# ----------------------------------------------------------------------------------------------
def _sample_factors(
    rng: np.random.Generator, n: int, config: SyntheticSpeechConfig, pop: _Population
) -> dict[str, np.ndarray]:
    speaker = rng.integers(0, config.num_speakers, n)
    return {
        "speaker_id": speaker,
        "gender": pop.gender[speaker],
        "accent": pop.accent[speaker],
        "word": rng.integers(0, len(config.words), n),
        "emotion": rng.integers(0, len(EMOTIONS), n),
    }


def _segment_envelopes(
    rng: np.random.Generator, f: dict[str, np.ndarray], pop: _Population, clip: dict[str, np.ndarray]
) -> np.ndarray:
    """Magnitude envelope of every (clip, segment): (batch, S, bins) float32."""
    seg = pop.segments
    word, spk, acc = f["word"], f["speaker_id"], f["accent"]
    kind = seg["kind"][word]  # (n, S)
    vowel = seg["vowel"][word]
    formants = np.empty(kind.shape + (_N_FORMANTS,))
    formants[..., :3] = seg["formants"][word]
    formants[..., 3:] = (3500.0, 4500.0)
    shift = np.where(vowel[..., None] >= 0, pop.accent_vowel_shift[acc[:, None], np.maximum(vowel, 0)], 1.0)
    formants[..., :2] *= shift
    jitter = np.exp(rng.normal(0.0, 0.03 * clip["within"], formants.shape))
    formants *= (clip["vtl"][:, None] * pop.formant_offsets[spk])[:, None, :] * jitter
    formants = np.minimum(formants, 7600.0)
    bandwidths = 50.0 + 0.06 * formants  # widen with frequency (Fant 1972)
    bandwidths[kind == 2] *= 2.0  # nasal murmur: damped formants

    freqs = _FREQS.astype(np.float64)
    tract = np.ones(kind.shape + (freqs.size,))
    for k in range(_N_FORMANTS):
        tract *= resonance_magnitude(freqs, formants[..., k : k + 1], bandwidths[..., k : k + 1])
    tilt_db = clip["tilt"][:, None] * np.log2(np.maximum(freqs, 62.5) / 1000.0)[None, :]
    radiation = np.maximum(freqs, 62.5) / 1000.0  # lip radiation, +6 dB/octave
    voiced = tract * (clip["glottal"] * radiation * 10.0 ** (tilt_db / 20.0))[:, None, :]

    centre, bw = seg["noise_band"][word][..., 0:1], seg["noise_band"][word][..., 1:2]
    centre = centre * clip["vtl"][:, None, None]  # front cavity scales with the speaker
    fricative = resonance_magnitude(freqs, np.maximum(centre, 1.0), np.maximum(bw, 1.0))
    fricative /= fricative.max(axis=-1, keepdims=True)
    noisy = (kind == 3) | (kind == 5)
    envelopes = np.where(noisy[..., None], fricative, voiced)
    envelopes *= (kind >= 0)[..., None]
    return (envelopes * clip["channel"][:, None, :]).astype(np.float32)


def _per_clip_traits(
    rng: np.random.Generator, f: dict[str, np.ndarray], pop: _Population, config: SyntheticSpeechConfig
) -> dict[str, np.ndarray]:
    n = f["speaker_id"].shape[0]
    spk, emo = f["speaker_id"], _EMOTION_TABLE[f["emotion"]]
    w = config.within_speaker_jitter
    intensity = rng.uniform(*config.emotion_intensity, n)
    e = lambda col: emo[:, col] * intensity  # noqa: E731 - scaled emotion effect
    rate_factor = 1.0 + (emo[:, 5] - 1.0) * intensity
    f0 = pop.f0[spk] * 2.0 ** ((e(0) + rng.normal(0.0, 1.0 * w, n)) / 12.0)
    open_quotient = np.clip(pop.open_quotient[spk] + e(8) + rng.normal(0.0, 0.03 * w, n), 0.3, 0.85)
    effort = e(6)
    return {
        "within": w,
        "f0": f0,
        "f0_range": pop.f0_range[spk] * (1.0 + (emo[:, 1] - 1.0) * intensity) * np.exp(rng.normal(0.0, 0.2 * w, n)),
        "contour": np.stack([emo[:, 2] * intensity + 0.3, e(3), e(4)], axis=1),
        "rate": pop.rate[spk] * rate_factor * np.exp(rng.normal(0.0, 0.07 * w, n)),
        "vtl": pop.vtl[spk] * np.exp(rng.normal(0.0, 0.015 * w, n)),
        "tilt": pop.tilt[spk] + 0.5 * effort + rng.normal(0.0, 0.8 * w, n),
        "breath": np.clip(pop.breath[spk] + e(7) + rng.normal(0.0, 0.01 * w, n), 0.0, 0.5),
        "jitter": pop.jitter[spk] * (1.0 + (emo[:, 9] - 1.0) * intensity),
        "shimmer": pop.shimmer[spk],
        "effort_gain": 10.0 ** (effort / 20.0),
        "glottal": rosenberg_pulse_spectrum(1.0 / f0, open_quotient),
        "channel": 10.0 ** (_envelope_db(_FREQS, rng.normal(0.0, config.channel_db, (n, 7))) / 20.0),
    }


def _timing(
    rng: np.random.Generator, f: dict[str, np.ndarray], pop: _Population, clip: dict[str, np.ndarray], seconds: float
):
    """Segment boundaries (n, S+1), cross-fade lengths (n, S+1), onset and duration (n,)."""
    seg = pop.segments
    word, acc = f["word"], f["accent"]
    kind = seg["kind"][word]
    rhythm = np.where(kind == 0, pop.accent_rhythm[acc, 0:1], pop.accent_rhythm[acc, 1:2])
    noise = np.exp(rng.normal(0.0, 0.1 * clip["within"], kind.shape))
    durations = seg["duration"][word] * rhythm * noise / clip["rate"][:, None]
    durations *= np.minimum(1.0, 0.8 * seconds / durations.sum(axis=1, keepdims=True))  # fits in the clip
    total = durations.sum(axis=1)
    onset = rng.uniform(0.05, 1.0, len(word)) * np.maximum(seconds - total - 0.1, 0.0) + 0.02
    boundaries = onset[:, None] + np.concatenate([np.zeros((len(word), 1)), np.cumsum(durations, axis=1)], axis=1)
    transitions = np.concatenate([np.full((len(word), 1), 0.02), seg["transition"][word]], axis=1)
    transitions[:, 1:-1] = seg["transition"][word][:, 1:]
    lengths = (kind >= 0).sum(axis=1, keepdims=True)
    transitions[np.arange(kind.shape[1] + 1)[None, :] >= lengths] = 0.04  # word offset (and padding) fades out
    return boundaries, np.maximum(transitions, 1e-3), onset, total


def _pulse_times(rng: np.random.Generator, clip: dict[str, np.ndarray], pop: _Population, f, onset, total, seconds):
    """Glottal closure instants following the f0 contour with jitter: (n, K) seconds (NaN = none)."""
    n = onset.shape[0]
    peak = pop.accent_peak[f["accent"]]
    height, declination, rise = clip["contour"].T

    def f0_at(t: np.ndarray) -> np.ndarray:
        tau = np.clip((t - onset) / total, 0.0, 1.0)
        shape = (
            height * np.exp(-(((tau - peak) / 0.3) ** 2)) - declination * tau + rise * np.maximum(tau - 0.6, 0.0) / 0.4
        )
        return np.clip(clip["f0"] * 2.0 ** (clip["f0_range"] * shape / 12.0), 50.0, 600.0)

    max_pulses = int(np.ceil(seconds * 600.0)) + 1
    times = np.full((n, max_pulses), np.nan)
    t = onset - 0.01
    end = onset + total + 0.03
    jitter = rng.standard_normal((n, max_pulses)) * clip["jitter"][:, None]
    for k in range(max_pulses):
        active = t < end
        if not active.any():
            break
        times[:, k] = np.where(active, t, np.nan)
        t = t + (1.0 + jitter[:, k]) / f0_at(t)
    return times[:, : k + 1]


def generate_batch(
    num_clips: int, seed: int = 0, config: SyntheticSpeechConfig | None = None, words_per_clip: int = 1
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Synthesise `num_clips` clips at once.

    With `words_per_clip` = k > 1 every clip is an utterance of k words by one speaker in one emotion: k one-word
    segments of `config.clip_seconds`, spliced in order, each with its own onset, per-clip trait jitter, channel,
    room, noise and level (as words recorded apart). Two segments of such a clip share speaker, gender, accent and
    emotion but not the word: the utterance-level pretraining data of shared/paper/004 (and of LibriSpeech, whose
    utterances hold many words), which single-word clips cannot give.

    Args:
        num_clips: batch size (>= 1).
        seed: clip seed; the same (seed, config, words_per_clip) always gives the same clips.
        config: corpus configuration (speaker population, nuisance ranges); defaults if None.
        words_per_clip: words per clip (>= 1; 1: the corpus's one-word clips).

    Returns:
        waveforms: (num_clips, words_per_clip * config.num_samples) float32 in [-1, 1] at 16 kHz.
        factors: dict of int64 arrays (num_clips,) for "speaker_id", "gender" (0 female, 1 male), "accent",
            "emotion" (index into EMOTIONS) and "word" (index into config.words; (num_clips, words_per_clip) when
            words_per_clip > 1).
    """
    config = config or SyntheticSpeechConfig()
    if num_clips < 1:
        raise ValueError(f"num_clips={num_clips}: expected a positive number of clips.")
    if words_per_clip < 1:
        raise ValueError(f"words_per_clip={words_per_clip}: expected at least one word per clip.")
    pop = _get_population(config)
    rng = np.random.default_rng([seed, zlib.crc32(b"clips")])
    n, samples, seconds = (
        num_clips * words_per_clip,
        config.num_samples - config.num_samples % _HOP,
        config.clip_seconds,
    )
    f = _sample_factors(rng, n, config, pop)
    if words_per_clip > 1:  # the utterance's first word's speaker and emotion for all of its words
        f["speaker_id"] = np.repeat(f["speaker_id"][::words_per_clip], words_per_clip)
        f["emotion"] = np.repeat(f["emotion"][::words_per_clip], words_per_clip)
        f["gender"], f["accent"] = pop.gender[f["speaker_id"]], pop.accent[f["speaker_id"]]
    clip = _per_clip_traits(rng, f, pop, config)
    boundaries, transitions, onset, total = _timing(rng, f, pop, clip, seconds)
    seg = pop.segments
    voicing, noise_amp = seg["voicing"][f["word"]], seg["noise"][f["word"]]
    breath = clip["breath"][:, None] * voicing
    rows = np.arange(n)[:, None]

    # 1. glottal source: pulses (voicing x shimmer) + aspiration/frication noise.
    pulses = _pulse_times(rng, clip, pop, f, onset, total, seconds)
    valid = np.isfinite(pulses)
    pulse_times = np.where(valid, pulses, -1.0)
    amplitude = np.einsum("nks,ns->nk", segment_weights(pulse_times, boundaries, transitions), voicing)
    amplitude *= 1.0 + clip["shimmer"][:, None] * rng.standard_normal(amplitude.shape)
    excitation = np.zeros((n, samples), dtype=np.float32)
    position = np.clip(np.round(pulse_times * SAMPLING_RATE).astype(np.int64), 0, samples - 1)
    excitation[np.broadcast_to(rows, position.shape)[valid], position[valid]] = (
        amplitude[valid] * _PULSE_GAIN
    ).astype(np.float32)

    frame_times = (np.arange(samples // _HOP + 1) * _HOP / SAMPLING_RATE)[None, :].repeat(n, axis=0)
    frame_weights = segment_weights(frame_times, boundaries, transitions)  # (n, frames, S)
    noise_frames = np.einsum("nts,ns->nt", frame_weights, noise_amp + breath).astype(np.float32)
    offsets = rng.integers(0, pop.noise_bank.shape[1] - samples, n)
    white = np.lib.stride_tricks.sliding_window_view(pop.noise_bank[0], samples)[offsets]
    excitation += white * np.repeat(noise_frames[:, 1:], _HOP, axis=1)

    # 2. time-varying vocal-tract filter.
    envelopes = np.matmul(frame_weights.astype(np.float32), _segment_envelopes(rng, f, pop, clip))
    speech = short_time_filter(excitation, envelopes)
    speech *= clip["effort_gain"][:, None].astype(np.float32)

    # 3. nuisance: reverberation, background noise at a random SNR, level.
    reverb = np.flatnonzero(rng.random(n) < config.reverb_prob)
    if reverb.size:
        rooms = rng.integers(0, pop.rir_spectra.shape[0], reverb.size)
        spectrum = scipy.fft.rfft(speech[reverb], n=pop.rir_fft, axis=1, workers=1) * pop.rir_spectra[rooms]
        speech[reverb] = scipy.fft.irfft(spectrum, n=pop.rir_fft, axis=1, workers=1)[:, :samples]
    power = _mean_power(speech) + 1e-12
    snr = rng.uniform(*config.snr_db, n)
    colour = rng.integers(0, 3, n)
    offsets = rng.integers(0, pop.noise_bank.shape[1] - samples, n)
    background = np.lib.stride_tricks.sliding_window_view(pop.noise_bank, samples, axis=1)[colour, offsets]
    speech += background * np.sqrt(power / 10.0 ** (snr / 10.0)).astype(np.float32)[:, None]
    level = 10.0 ** (rng.uniform(*config.level_dbfs, n) / 20.0) / np.sqrt(_mean_power(speech) + 1e-12)
    speech *= level.astype(np.float32)[:, None]
    np.clip(speech, -1.0, 1.0, out=speech)
    if samples < config.num_samples:
        speech = np.pad(speech, ((0, 0), (0, config.num_samples - samples)))
    if words_per_clip > 1:
        speech = speech.reshape(num_clips, -1)
        f = {k: v[::words_per_clip] for k, v in f.items() if k != "word"} | {"word": f["word"].reshape(num_clips, -1)}
    return speech, f


def _split_seed(seed: int, split: str | None) -> int:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r}: expected one of {SPLITS} or None.")
    return int(np.random.SeedSequence([seed, zlib.crc32((split or "all").encode())]).generate_state(1)[0])


def load_synthetic(
    num_clips: int = 4000,
    seed: int = 0,
    config: SyntheticSpeechConfig | None = None,
    split: str | None = None,
    chunk_size: int = 1000,
    words_per_clip: int = 1,
) -> datasets.Dataset:
    """The synthetic corpus as a `datasets.Dataset` in the common schema.

    Columns: ``audio`` {"array": float32 (16000,), "sampling_rate": 16000}, ``path``
    ("synthetic/<split>/<index>"), ``speaker_id``, ``gender``, ``label`` (= ``config.label``) and the
    ClassLabel factors ``accent``, ``word``, ``emotion``. Splits draw different clips from the same
    speaker population, so a probe trained on "train" is scored on "test" for the same speakers.
    With `words_per_clip` = k > 1 (utterances for pretraining, see `generate_batch`) a clip holds k * 16000
    samples and ``word`` is the sequence of its k words.

    Args:
        num_clips: number of clips.
        seed: clip seed; (seed, split, config) determine the dataset exactly.
        config: corpus configuration; `SyntheticSpeechConfig()` if None.
        split: "train", "validation", "test" or None (one more independent stream).
        chunk_size: clips synthesised per `generate_batch` call (memory vs speed; part of the seed).
        words_per_clip: words per clip, k (1: one-word clips; `config.label` must then not be "word" if k > 1).

    Example:
        >>> ds = load_synthetic(num_clips=8, seed=0, split="train")
        >>> ds.features["label"].names[ds[0]["label"]]  # doctest: +SKIP
        'spk017'
    """
    config = config or SyntheticSpeechConfig()
    if num_clips < 1 or chunk_size < 1:
        raise ValueError(f"num_clips={num_clips}, chunk_size={chunk_size}: both must be positive.")
    if words_per_clip > 1 and config.label == "word":
        raise ValueError(
            f"label='word' with words_per_clip={words_per_clip}: a clip of several words has no single word label; "
            "choose another label or words_per_clip=1."
        )
    base_seed = _split_seed(seed, split)
    names = config.factor_names()
    extra = {k: datasets.ClassLabel(names=names[k]) for k in ("accent", "word", "emotion")}
    if words_per_clip > 1:
        extra["word"] = datasets.Sequence(extra["word"], length=words_per_clip)
    features = common_features(names[config.label], names["speaker_id"], extra=extra)
    prefix = f"synthetic/{split or 'all'}"
    logger.info("synthesising %d clips (seed=%d, split=%s, label=%s)", num_clips, seed, split, config.label)
    tables = []
    with tqdm(total=num_clips, desc="synthesising clips", unit="clip", disable=num_clips < 10 * chunk_size) as bar:
        for chunk, start in enumerate(range(0, num_clips, chunk_size)):
            n = min(chunk_size, num_clips - start)
            waveforms, factors = generate_batch(
                n, seed=base_seed + chunk, config=config, words_per_clip=words_per_clip
            )
            tables.append(
                _arrow_chunk(
                    waveforms, factors, config.label, [f"{prefix}/{start + i:07d}" for i in range(n)], features
                )
            )
            bar.update(n)
    return datasets.Dataset(pa.concat_tables(tables), info=datasets.DatasetInfo(features=features), split=split)


def _arrow_chunk(
    waveforms: np.ndarray, factors: dict[str, np.ndarray], label: str, paths: list[str], features: datasets.Features
) -> pa.Table:
    """One chunk as an Arrow table of `features`' schema, built from the arrays without copying per clip."""
    columns = {
        "path": pa.array(paths),
        "label": pa.array(factors[label]),
        **{k: pa.array(list(factors[k]) if factors[k].ndim > 1 else factors[k]) for k in FACTORS},
    }
    return arrow_table(waveforms, columns, features)
