"""A multilingual speech corpus synthesised offline: 41 languages, hundreds of voices, prosody, rooms and noise.

Real words in real languages, spoken by eSpeak NG (barlow_speech.data.espeak: the `espeakng-loader` wheel, no system
package, no network). Text comes from the word lists of `wordfreq` (42 languages, the 41 that eSpeak speaks are used).
Every clip varies in:

- ``language``: one of the corpus' languages;
- ``speaker_id``: a voice, i.e. an eSpeak NG voice variant drawn per speaker: vocal-tract length and formant shape,
  base pitch and range, flutter, creak, breathiness, spectral tilt, synthesiser (eSpeak's own or one of its Klatt
  voices) and speaking speed; ``gender`` sets the pitch range and the vocal-tract length;
- ``prosody``: statement, question, exclamation, calm (slow, low, narrow pitch) or excited (fast, high, wide);
- ``text``: a random sequence of the language's frequent words (keyword clips: one word of a fixed list);
- the channel, with no label: a random smooth equaliser, a room (probability `reverb_prob`), coloured noise at a
  random SNR (probability `noise_prob`) and the level, drawn per clip with the pretraining views' own functions.

Splits hold languages AND voices out: "pretrain" speaks `pretraining_languages` with the pretraining voices; "train",
"validation" and "test" (the evaluation splits, different clips of the same held-out population) speak
`evaluation_languages` with evaluation voices. No evaluation language or voice ever occurs in pretraining, so a probe
on the evaluation splits measures how a representation transfers to languages and speakers it has never heard.

Deterministic: (seed, split, config, kind, chunk_size) determine every sample (`espeak.synthesize_chunks`). Clips
are synthesised at 22,050 Hz and resampled to 16 kHz.
"""

from __future__ import annotations

import dataclasses
import functools
import unicodedata
import zlib
from collections.abc import Sequence

import datasets
import numpy as np
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from ..arguments import did_you_mean
from .audio import resample
from .effects import coloured_noise, equalize, mix_at_snr, reverberate, room_impulse_responses, uniform
from .espeak import ESPEAK_SAMPLING_RATE, Utterance, Voice, synthesize_chunks
from .schema import GENDERS, SAMPLING_RATE, arrow_table, common_features

# wordfreq's language code -> eSpeak NG's language name (the 41 of wordfreq's 42 languages that eSpeak speaks;
# Filipino is missing from eSpeak)
LANGUAGES = {
    **{code: code for code in "ar bg bn ca cs da de el en es fa fi fr he hi hu id is it ja ko lt lv mk ms".split()},
    **{code: code for code in "nb nl pl pt ro ru sk sl sv ta tr uk ur vi".split()},
    "sh": "sr",  # Serbo-Croatian, spoken by eSpeak's Serbian
    "zh": "cmn",  # Mandarin
}
# held out of pretraining: one language each of nine families or branches (Romance, West Slavic, Hellenic, Uralic,
# Semitic, Austronesian, Koreanic, Dravidian, Austroasiatic), each with relatives in pretraining except Korean
EVALUATION_LANGUAGES = ("ca", "cs", "el", "fi", "he", "id", "ko", "ta", "vi")
PRETRAINING_LANGUAGES = tuple(code for code in LANGUAGES if code not in EVALUATION_LANGUAGES)
PROSODIES = ("statement", "question", "exclamation", "calm", "excited")
# per prosody: final punctuation, speaking-rate factor, pitch and pitch range (eSpeak's 0-100, 50 = the voice's),
# volume (0-200)
_PROSODY_SETTINGS = {
    "statement": (".", 1.0, 50, 50, 100),
    "question": ("?", 1.0, 55, 60, 100),
    "exclamation": ("!", 1.1, 62, 75, 130),
    "calm": (".", 0.8, 35, 25, 80),
    "excited": ("!", 1.25, 70, 90, 120),
}
SPLITS = ("pretrain", "train", "validation", "test")
LABELS = ("language", "speaker_id", "gender", "prosody", "keyword")
KINDS = ("utterance", "keyword")
_EQ_POINTS_HZ = (100.0, 300.0, 1000.0, 3000.0, 7000.0)
# languages written in another script than Latin (wordfreq codes)
_NON_LATIN_SCRIPTS = frozenset("ar bg bn el fa he hi ja ko mk ru ta uk ur zh".split())
_CHUNKS_PER_POOL = 16  # synthesis chunks per process pool: progress, and bounded memory in flight


@dataclasses.dataclass(frozen=True)
class TTSSpeechConfig:
    """The corpus: who speaks which languages, how long a clip is, and the channel.

    Args:
        pretraining_languages, evaluation_languages: wordfreq codes (keys of `LANGUAGES`); disjoint.
        num_pretraining_voices, num_evaluation_voices: speakers of each population (half female, half male).
        voice_seed: seed of both voice populations.
        clip_seconds: length of an utterance clip (keyword clips: `keyword_seconds`).
        keyword_seconds: length of a keyword clip.
        keywords_per_language: keywords of each evaluation language (kind "keyword").
        vocabulary_size: frequent words of each language that texts are drawn from.
        label: the column copied into `label`: one of `LABELS` ("keyword" for keyword clips only).
        eq_db_std: spread of the random equaliser's gains, dB.
        reverb_prob, rt60_s: probability of a room and its reverberation-time range.
        noise_prob, snr_db: probability of coloured noise and its SNR range.
        level_dbfs: RMS level range.
        segment_seconds: cut every clip into consecutive segments of this length, one row each (the clip's labels
            repeated, its path plus `/<segment>`), e.g. 1.0 for pretraining on the 1-s segments of 3-s sentences; a
            divisor of the clip's length. None: one row per clip.
    """

    pretraining_languages: tuple[str, ...] = PRETRAINING_LANGUAGES
    evaluation_languages: tuple[str, ...] = EVALUATION_LANGUAGES
    num_pretraining_voices: int = 240
    num_evaluation_voices: int = 32
    voice_seed: int = 0
    clip_seconds: float = 3.0
    keyword_seconds: float = 1.0
    keywords_per_language: int = 6
    vocabulary_size: int = 3000
    label: str = "language"
    eq_db_std: float = 3.0
    reverb_prob: float = 0.4
    rt60_s: tuple[float, float] = (0.15, 0.8)
    noise_prob: float = 0.6
    snr_db: tuple[float, float] = (5.0, 35.0)
    level_dbfs: tuple[float, float] = (-38.0, -20.0)
    segment_seconds: float | None = None

    def __post_init__(self):
        for field in ("pretraining_languages", "evaluation_languages"):
            codes = getattr(self, field)
            if not codes:
                raise ValueError(f"{field} is empty; name at least one of {sorted(LANGUAGES)}.")
            for code in codes:
                if code not in LANGUAGES:
                    raise ValueError(
                        f"{field}: unknown language {code!r}{did_you_mean(code, list(LANGUAGES))}; choose from "
                        f"{sorted(LANGUAGES)}."
                    )
        shared = sorted(set(self.pretraining_languages) & set(self.evaluation_languages))
        if shared:
            raise ValueError(
                f"languages {shared} are in both pretraining_languages and evaluation_languages; evaluation languages "
                "are held out of pretraining, so the two must be disjoint."
            )
        for field in ("num_pretraining_voices", "num_evaluation_voices", "keywords_per_language", "vocabulary_size"):
            if isinstance(getattr(self, field), bool) or not isinstance(getattr(self, field), int):
                raise ValueError(f"{field}={getattr(self, field)!r} must be an int.")
            if getattr(self, field) < 1:
                raise ValueError(f"{field}={getattr(self, field)} must be >= 1.")
        for field in ("clip_seconds", "keyword_seconds"):
            if not 0.25 <= getattr(self, field) <= 30:
                raise ValueError(f"{field}={getattr(self, field)} must be between 0.25 and 30 seconds.")
        if self.label not in LABELS:
            raise ValueError(f"label={self.label!r} is not one of {list(LABELS)}.")
        for field in ("reverb_prob", "noise_prob"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"{field}={getattr(self, field)} must be a probability in [0, 1].")
        for field, low in (("rt60_s", 0.01), ("snr_db", -20.0), ("level_dbfs", -80.0)):
            lo, hi = getattr(self, field)
            if not low <= lo <= hi:
                raise ValueError(f"{field}={(lo, hi)} must be a range (low, high) with {low} <= low <= high.")
        if self.segment_seconds is not None:
            pieces = min(self.clip_seconds, self.keyword_seconds) / self.segment_seconds
            if not (self.segment_seconds > 0 and abs(pieces - round(pieces)) < 1e-9 and round(pieces) >= 1):
                raise ValueError(
                    f"segment_seconds={self.segment_seconds} must divide clip_seconds={self.clip_seconds} and "
                    f"keyword_seconds={self.keyword_seconds} (each clip is cut into whole segments), or be None."
                )
        if self.level_dbfs[1] > 0 or self.eq_db_std < 0:
            raise ValueError(f"level_dbfs={self.level_dbfs} must be <= 0 dBFS and eq_db_std={self.eq_db_std} >= 0.")


def _role(split: str) -> str:
    """Which population a split draws from: "pretrain" or "evaluation"."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {list(SPLITS)}.")
    return "pretrain" if split == "pretrain" else "evaluation"


@functools.lru_cache(maxsize=8)
def voice_population(config: TTSSpeechConfig, role: str) -> tuple[Voice, ...]:
    """The voices of "pretrain" (`p000`, ...) or "evaluation" (`e000`, ...), alternately female and male.

    Speaker traits follow adult speech (Peterson & Barney 1952; Titze 1994): a female vocal tract is about 14 %
    shorter (formants about 14 % higher) and her pitch about an octave higher.
    """
    count = config.num_pretraining_voices if role == "pretrain" else config.num_evaluation_voices
    rng = np.random.default_rng([config.voice_seed, zlib.crc32(role.encode())])
    voices = []
    for index in range(count):
        gender = GENDERS[index % 2]
        female = gender == "female"
        tract = rng.normal(1.14 if female else 1.0, 0.04)
        scale = [100, *(int(round(100 * tract * rng.normal(1.0, 0.03))) for _ in range(5)), 100, 100, 100]
        strength = [100, *(int(rng.integers(70, 131)) for _ in range(5)), 100, 100, 100]
        base = float(np.exp(rng.normal(np.log(205.0 if female else 112.0), 0.13)))
        top = base * rng.uniform(1.25, 1.9)
        tilt = (600, 170, 1200, int(rng.integers(110, 161)), 2000, int(rng.integers(70, 141)))
        voices.append(
            Voice(
                name=f"{role[0]}{index:03d}",
                gender=gender,
                pitch_hz=(int(round(base)), int(round(min(top, 590)))),
                formant_scale=tuple(scale),
                formant_strength=tuple(strength),
                flutter=int(rng.integers(0, 30)),
                roughness=int(rng.choice([0, 0, 0, 1, 2, 3])),
                breath=0 if rng.random() < 0.6 else int(rng.integers(5, 40)),
                tone=tilt,
                klatt=0 if rng.random() < 0.6 else int(rng.integers(1, 7)),
                speed_percent=int(rng.integers(85, 116)),
            )
        )
    return tuple(voices)


@functools.lru_cache(maxsize=64)
def vocabulary(language: str, size: int) -> tuple[str, ...]:
    """The `size` most frequent words of `language` (a wordfreq code) made of letters only."""
    try:
        import wordfreq
    except ImportError as error:
        raise ImportError(
            "the speech corpus takes its texts from wordfreq: pip install 'barlow-speech[speech]'."
        ) from error
    latin = language not in _NON_LATIN_SCRIPTS  # their lists also hold Latin-script (mostly English) words: dropped
    words = [w for w in wordfreq.top_n_list(language, 3 * size) if _is_word(w) and (latin or not w.isascii())]
    return tuple(words[:size])


def _is_word(token: str) -> bool:
    """Letters and combining marks only (Indic vowel signs are marks, so `str.isalpha` would drop most Hindi words)."""
    return all(unicodedata.category(c)[0] in "LM" for c in token) and unicodedata.category(token[0])[0] == "L"


def keywords(config: TTSSpeechConfig) -> tuple[str, ...]:
    """Keyword labels `"<language>:<word>"`: per evaluation language, `keywords_per_language` frequent words of at
    least three letters (two for Chinese and Japanese characters), past the 50 most frequent (function words)."""
    labels = []
    for language in config.evaluation_languages:
        shortest = 2 if language in ("zh", "ja") else 3
        words = [w for w in vocabulary(language, config.vocabulary_size)[50:] if len(w) >= shortest]
        if len(words) < config.keywords_per_language:
            raise ValueError(
                f"{language} has {len(words)} candidate keywords, fewer than keywords_per_language="
                f"{config.keywords_per_language}."
            )
        labels += [f"{language}:{word}" for word in words[: config.keywords_per_language]]
    return tuple(labels)


def _plan(
    rng: np.random.Generator, config: TTSSpeechConfig, role: str, kind: str, count: int, voices: Sequence[Voice]
) -> tuple[list[Utterance], dict[str, np.ndarray], list[str]]:
    """`count` utterances with their factors: voice, language, prosody, text (and keyword)."""
    languages = config.pretraining_languages if role == "pretrain" else config.evaluation_languages
    keyword_labels = keywords(config) if kind == "keyword" else ()
    factors = {
        "speaker_id": rng.integers(0, len(voices), count),
        "prosody": rng.integers(0, len(PROSODIES), count),
        "language": rng.integers(0, len(languages), count),
    }
    if kind == "keyword":
        factors["keyword"] = rng.integers(0, len(keyword_labels), count)
        factors["language"] = np.array([languages.index(keyword_labels[k].split(":")[0]) for k in factors["keyword"]])
    utterances, texts = [], []
    for row in range(count):
        voice = voices[factors["speaker_id"][row]]
        language = languages[factors["language"][row]]
        punctuation, rate, pitch, pitch_range, volume = _PROSODY_SETTINGS[PROSODIES[factors["prosody"][row]]]
        words_per_minute = int(round(175 * rate * rng.uniform(0.85, 1.15)))
        if kind == "keyword":
            text = keyword_labels[factors["keyword"][row]].split(":", 1)[1]
        else:
            # about 2.2 words a second at 175 words per minute, so the sentence (and its final intonation) fits
            count_words = max(1, int(round(config.clip_seconds * 2.2 * words_per_minute / 175 + rng.integers(-1, 2))))
            words = vocabulary(language, config.vocabulary_size)
            picked = [words[i] for i in rng.integers(0, len(words), count_words)]
            text = " ".join(
                word + ("," if i % 5 == 4 and i + 1 < len(picked) else "") for i, word in enumerate(picked)
            )
        text += punctuation
        texts.append(text)
        utterances.append(
            Utterance(
                text=text,
                language=LANGUAGES[language],
                voice=voice,
                words_per_minute=words_per_minute,
                pitch=int(np.clip(pitch + rng.integers(-8, 9), 0, 100)),
                pitch_range=int(np.clip(pitch_range + rng.integers(-10, 11), 0, 100)),
                volume=volume,
                word_gap=int(rng.integers(0, 3)),
                seed=int(rng.integers(0, 2**31 - 1)),
            )
        )
    return utterances, factors, texts


def _trim_and_resample(audio: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """int16 speech at 22,050 Hz -> float32 at 16 kHz without its leading and trailing silence (runs in a worker)."""
    wave = audio.astype(np.float32) / 2.0**15
    loud = np.flatnonzero(np.abs(wave) > threshold)
    if loud.size:
        wave = wave[loud[0] : loud[-1] + 1]
    return resample(wave, ESPEAK_SAMPLING_RATE)


def _place(speech: Sequence[np.ndarray], num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """`(clips, num_samples)`: each clip's speech at a random offset, or its last `num_samples` (its end, with the
    final intonation) when longer."""
    out = np.zeros((len(speech), num_samples), dtype=np.float32)
    for row, wave in enumerate(speech):
        if len(wave) >= num_samples:
            out[row] = wave[len(wave) - num_samples :]
        else:
            start = int(rng.integers(0, num_samples - len(wave) + 1))
            out[row, start : start + len(wave)] = wave
    return out


def apply_channel(waveforms: np.ndarray, config: TTSSpeechConfig, generator: torch.Generator) -> np.ndarray:
    """A random channel per clip, with the pretraining views' functions: equaliser, room, coloured noise, level.

    Args:
        waveforms: `(clips, samples)` float32 at 16 kHz.
    Returns:
        `(clips, samples)` float32 in [-1, 1].
    """
    x = torch.from_numpy(waveforms)
    n, samples = x.shape
    device = x.device
    points = torch.tensor(_EQ_POINTS_HZ)
    x = equalize(x, config.eq_db_std * torch.randn((n, len(points)), generator=generator), SAMPLING_RATE, points)
    rooms = torch.rand(n, generator=generator) < config.reverb_prob
    if rooms.any():
        k = int(rooms.sum())
        rt60 = uniform(*config.rt60_s, (k,), device, generator)
        drr = uniform(0.0, 12.0, (k,), device, generator)
        responses = room_impulse_responses(rt60, drr, int(config.rt60_s[1] * SAMPLING_RATE), SAMPLING_RATE, generator)
        x[rooms] = reverberate(x[rooms], responses)
    noisy = torch.rand(n, generator=generator) < config.noise_prob
    if noisy.any():
        k = int(noisy.sum())
        colours = torch.randint(0, 3, (k,), generator=generator).float()  # white, pink, brown
        noise = coloured_noise((k, samples), colours, device, generator)
        x[noisy] = mix_at_snr(x[noisy], noise, uniform(*config.snr_db, (k,), device, generator))
    level_db = uniform(*config.level_dbfs, (n,), device, generator)
    rms = x.square().mean(dim=1).clamp_min(1e-12).sqrt()
    x = x * (10.0 ** (level_db / 20.0) / rms)[:, None]
    return x.clamp(-1.0, 1.0).numpy()


def _split_seed(seed: int, split: str, kind: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(f"{split}/{kind}".encode())]).generate_state(1)[0])


def load_tts_speech(
    num_clips: int = 2000,
    split: str = "pretrain",
    seed: int = 0,
    config: TTSSpeechConfig | None = None,
    kind: str = "utterance",
    voices: Sequence[str] | None = None,
    chunk_size: int = 64,
    processes: int | None = None,
) -> datasets.Dataset:
    """The multilingual speech corpus as a `datasets.Dataset` in the common schema.

    Args:
        num_clips: clips to synthesise.
        split: "pretrain" (pretraining languages and voices) or "train" / "validation" / "test" (the held-out
            evaluation languages and voices; different clips of the same population).
        seed: clip seed; (seed, split, config, kind, voices, chunk_size) determine the dataset exactly.
        config: `TTSSpeechConfig()` if None.
        kind: "utterance" (`config.clip_seconds` of a sentence) or "keyword" (one keyword of
            `keywords(config)` in `config.keyword_seconds`; evaluation splits only).
        voices: speak with these voices of the split's population only (names such as "e003"; default: all).
        chunk_size: utterances per synthesis process (part of the seed).
        processes: synthesis processes at a time (default: the available CPUs).

    Returns:
        Columns ``audio`` {"array": float32 (clip samples,), "sampling_rate": 16000}, ``path``
        ("tts_speech/<split>/<index>"), ``speaker_id`` (the population's voices), ``gender``, ``label`` (=
        `config.label`), ``language``, ``prosody`` (ClassLabels), ``text`` and, for keyword clips, ``keyword``.

    Example:
        >>> probe_train = load_tts_speech(2000, split="train", config=TTSSpeechConfig(label="speaker_id"))
    """
    config = config or TTSSpeechConfig()
    role = _role(split)
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {list(KINDS)}.")
    if kind == "keyword" and role == "pretrain":
        raise ValueError("keyword clips speak the evaluation languages' keywords; use an evaluation split with them.")
    if config.label == "keyword" and kind != "keyword":
        raise ValueError("label='keyword' needs kind='keyword' (utterance clips have no keyword).")
    if num_clips < 1 or chunk_size < 1:
        raise ValueError(f"num_clips={num_clips} and chunk_size={chunk_size} must be >= 1.")
    population = voice_population(config, role)
    speaking = _select_voices(population, voices)
    rng = np.random.default_rng(_split_seed(seed, split, kind))
    utterances, factors, texts = _plan(rng, config, role, kind, num_clips, speaking)
    factors["speaker_id"] = np.array([population.index(speaking[i]) for i in factors["speaker_id"]])
    seconds = config.keyword_seconds if kind == "keyword" else config.clip_seconds
    num_samples = int(round(seconds * SAMPLING_RATE))
    chunks = [utterances[start : start + chunk_size] for start in range(0, num_clips, chunk_size)]
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    waveforms = []
    with tqdm(total=num_clips, desc=f"speaking {split} clips", unit="clip", disable=num_clips < 500) as bar:
        for start in range(0, len(chunks), _CHUNKS_PER_POOL):
            speech = [
                clip
                for chunk in synthesize_chunks(chunks[start : start + _CHUNKS_PER_POOL], _trim_and_resample, processes)
                for clip in chunk
            ]
            waveforms.append(apply_channel(_place(speech, num_samples, rng), config, generator))
            bar.update(len(speech))
    return _dataset(np.concatenate(waveforms), factors, texts, config, role, kind, split, population)


def _select_voices(population: Sequence[Voice], names: Sequence[str] | None) -> tuple[Voice, ...]:
    if names is None:
        return tuple(population)
    by_name = {voice.name: voice for voice in population}
    unknown = [name for name in names if name not in by_name]
    if unknown or not names:
        raise ValueError(
            f"voices={list(names)}: {unknown or 'no voice'} not in this split's population "
            f"({population[0].name} ... {population[-1].name}); pretraining voices are p000 ..., evaluation voices "
            "e000 ... (held out: an evaluation split never speaks with a pretraining voice)."
        )
    return tuple(by_name[name] for name in names)


def _dataset(
    waveforms: np.ndarray,
    factors: dict[str, np.ndarray],
    texts: list[str],
    config: TTSSpeechConfig,
    role: str,
    kind: str,
    split: str,
    population: Sequence[Voice],
) -> datasets.Dataset:
    languages = config.pretraining_languages if role == "pretrain" else config.evaluation_languages
    names = {
        "speaker_id": [voice.name for voice in population],
        "gender": list(GENDERS),
        "language": list(languages),
        "prosody": list(PROSODIES),
        "keyword": list(keywords(config)) if kind == "keyword" else [],
    }
    factors = {**factors, "gender": np.array([GENDERS.index(population[i].gender) for i in factors["speaker_id"]])}
    extra = {
        "language": datasets.ClassLabel(names=names["language"]),
        "prosody": datasets.ClassLabel(names=names["prosody"]),
        "text": datasets.Value("string"),
    }
    if kind == "keyword":
        extra["keyword"] = datasets.ClassLabel(names=names["keyword"])
    features = common_features(names[config.label], names["speaker_id"], extra=extra)
    paths = [f"tts_speech/{split}/{kind}/{i:07d}" for i in range(len(waveforms))]
    if config.segment_seconds is not None:
        pieces = waveforms.shape[1] // int(round(config.segment_seconds * SAMPLING_RATE))
        waveforms = waveforms.reshape(len(waveforms) * pieces, -1)
        factors = {name: np.repeat(values, pieces) for name, values in factors.items()}
        texts = [text for text in texts for _ in range(pieces)]
        paths = [f"{path}/{piece}" for path in paths for piece in range(pieces)]
    columns = {
        "path": pa.array(paths),
        "label": pa.array(factors[config.label]),
        "text": pa.array(texts),
        **{column: pa.array(factors[column]) for column in ("speaker_id", "gender", "language", "prosody")},
    }
    if kind == "keyword":
        columns["keyword"] = pa.array(factors["keyword"])
    table = arrow_table(waveforms, columns, features)
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features), split=split)


__all__ = [
    "EVALUATION_LANGUAGES",
    "LANGUAGES",
    "PRETRAINING_LANGUAGES",
    "PROSODIES",
    "TTSSpeechConfig",
    "keywords",
    "load_tts_speech",
    "voice_population",
    "vocabulary",
]
