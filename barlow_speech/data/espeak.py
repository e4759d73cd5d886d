"""In-process speech synthesis with libespeak-ng, the formant synthesiser the `espeakng-loader` wheel bundles.

No system package and no network: the wheel carries the library and its data (about 100 languages); we call its C
API (`espeak_Initialize`, `espeak_SetVoiceByName`, `espeak_SetSynthCallback`, `espeak_Synth`) through ctypes.
A `Voice` is an eSpeak NG voice variant file (docs/voices.md of espeak-ng): pitch, formant scaling, flutter,
roughness, breath, tone, and which of eSpeak's two synthesisers speaks. Variants are written into a private copy of
the data folder (links to the wheel's files plus our own `voices/!v/`), so every voice of a corpus is a file that
eSpeak loads by name.

Determinism: eSpeak keeps its waveform generator's state (glottal phase, pitch) from one utterance to the next, and
re-initialising it does not reset that. Output is a function of the sequence of calls since the process started, so
`synthesize_chunks` synthesises each chunk of utterances in a fresh process: a chunk's audio depends only on the
chunk.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

ESPEAK_SAMPLING_RATE = 22050  # what libespeak-ng synthesises at; `espeak_Initialize` returns it
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_EE_OK = 0
# espeak_PARAMETER: words per minute, volume (0-200), pitch and pitch range (0-100 around the voice's), word gap
# (units of 10 ms)
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_INSTALL_HINT = "pip install 'barlow-speech[speech]' (or: pip install espeakng-loader wordfreq)"


@lru_cache(maxsize=1)
def _loader():
    try:
        import espeakng_loader
    except ImportError as error:
        raise ImportError(f"speech synthesis needs the espeakng-loader wheel: {_INSTALL_HINT}.") from error
    return espeakng_loader


@dataclasses.dataclass(frozen=True)
class Voice:
    """One speaker: an eSpeak NG voice variant (values as in espeak-ng's docs/voices.md).

    Args:
        name: file name of the variant (letters, digits, `_`, `-`).
        gender: "female" or "male" (a label; the sound comes from the other fields).
        pitch_hz: `pitch <base> <top>` in Hz: the voice's base pitch and the top of its range.
        formant_scale: frequency of formants 0-8 in percent of eSpeak's (vocal-tract length and shape).
        formant_strength: strength of formants 0-8 in percent.
        flutter: pitch wavering (eSpeak's default 100 per mille of its own scale; 0: none).
        roughness: creak, 0-7.
        breath: breathiness noise on formants 1-8 (0: none).
        tone: `tone` pairs (Hz, amplitude 0-255): the voiced spectrum's tilt.
        klatt: 0 for eSpeak's own synthesiser, 1-6 for one of its Klatt synthesiser voices.
        speed_percent: speaking speed relative to the language's.
    """

    name: str
    gender: str
    pitch_hz: tuple[int, int]
    formant_scale: tuple[int, ...] = (100,) * 9
    formant_strength: tuple[int, ...] = (100,) * 9
    flutter: int = 0
    roughness: int = 0
    breath: int = 0
    tone: tuple[int, ...] = (600, 170, 1200, 135, 2000, 110)
    klatt: int = 0
    speed_percent: int = 100

    def __post_init__(self):
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"voice name {self.name!r}: use letters, digits, '_' and '-' only (it is a file name).")
        if self.gender not in ("female", "male"):
            raise ValueError(f"voice {self.name}: gender={self.gender!r}, expected 'female' or 'male'.")
        low, high = self.pitch_hz
        if not 20 <= low <= high <= 600:
            raise ValueError(f"voice {self.name}: pitch_hz={self.pitch_hz}, expected 20 <= base <= top <= 600 Hz.")
        if len(self.formant_scale) != 9 or len(self.formant_strength) != 9:
            raise ValueError(f"voice {self.name}: give formant_scale and formant_strength for formants 0-8 (9 each).")
        if not 0 <= self.roughness <= 7 or not 0 <= self.klatt <= 6:
            raise ValueError(f"voice {self.name}: roughness={self.roughness} (0-7), klatt={self.klatt} (0-6).")

    def variant_file(self) -> str:
        """The text of this voice's eSpeak NG variant file."""
        lines = [
            "language variant",
            f"name {self.name}",
            f"gender {self.gender}",
            f"pitch {self.pitch_hz[0]} {self.pitch_hz[1]}",
            *(
                f"formant {index} {scale} {strength} 100"
                for index, (scale, strength) in enumerate(zip(self.formant_scale, self.formant_strength))
            ),
            f"flutter {self.flutter}",
            f"roughness {self.roughness}",
            "tone " + " ".join(map(str, self.tone)),
            f"speed {self.speed_percent}",
        ]
        if self.breath:
            lines.append("breath " + " ".join([str(self.breath)] * 4))
        if self.klatt:
            lines.append(f"klatt {self.klatt}")
        return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class Utterance:
    """What to say and how: one call of the synthesiser.

    Args:
        text: UTF-8 text (clause punctuation sets the intonation: '.', '?', '!', ',').
        language: an eSpeak NG language (voice) name, e.g. "en", "de", "cmn".
        voice: the `Voice` that speaks it.
        words_per_minute: speaking rate (eSpeak: 80-450).
        pitch, pitch_range: 0-100 around the voice's own (50: the voice's).
        volume: 0-200 (100: eSpeak's default).
        word_gap: extra pause between words, in units of 10 ms.
        seed: seed of eSpeak's noise generator (frication, breath).
    """

    text: str
    language: str
    voice: Voice
    words_per_minute: int = 175
    pitch: int = 50
    pitch_range: int = 50
    volume: int = 100
    word_gap: int = 0
    seed: int = 0


class EspeakSynthesizer:
    """libespeak-ng in this process, over a private data folder that holds our voices' variant files.

    eSpeak is a process-global library: make one synthesizer per process (`synthesize_chunks` does, in fresh
    processes). Unknown languages and voices are ValueErrors naming them.
    """

    def __init__(self, voices: Sequence[Voice] = ()) -> None:
        loader = _loader()
        self._folder = tempfile.TemporaryDirectory(prefix="barlow-speech-espeak-")
        data = Path(self._folder.name) / "espeak-ng-data"
        _mirror_data(Path(loader.get_data_path()), data)
        self._variants = data / "voices" / "!v"
        self._written: set[str] = set()
        for voice in voices:
            self.add_voice(voice)
        self._lib = ctypes.cdll.LoadLibrary(loader.get_library_path())
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data.parent).encode(), 0)
        if rate != ESPEAK_SAMPLING_RATE:
            raise RuntimeError(f"libespeak-ng failed to initialise (returned {rate}) with data at {data}.")
        self._chunks: list[np.ndarray] = []

        @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        def collect(wave, count, events):
            if count > 0:
                self._chunks.append(np.ctypeslib.as_array(wave, shape=(count,)).copy())
            return 0

        self._callback = collect  # keep a reference: the library calls it
        self._lib.espeak_SetSynthCallback(self._callback)

    def add_voice(self, voice: Voice) -> None:
        """Write `voice`'s variant file, so `language+<voice.name>` can be selected."""
        if voice.name not in self._written:
            (self._variants / voice.name).write_text(voice.variant_file())
            self._written.add(voice.name)

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        """`(samples,)` int16 audio at `ESPEAK_SAMPLING_RATE` of one utterance."""
        self.add_voice(utterance.voice)
        name = f"{utterance.language}+{utterance.voice.name}"
        if self._lib.espeak_SetVoiceByName(name.encode()) != _EE_OK:
            raise ValueError(
                f"eSpeak NG has no language {utterance.language!r} (voice {name!r}); see `espeak_languages()`."
            )
        for parameter, value in (
            (_RATE, utterance.words_per_minute),
            (_VOLUME, utterance.volume),
            (_PITCH, utterance.pitch),
            (_RANGE, utterance.pitch_range),
            (_WORDGAP, utterance.word_gap),
        ):
            self._lib.espeak_SetParameter(parameter, int(value), 0)
        self._lib.espeak_ng_SetRandSeed(int(utterance.seed))
        text = utterance.text.encode("utf-8") + b"\0"
        self._chunks = []
        status = self._lib.espeak_Synth(text, len(text), 0, 0, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status} on {utterance.text[:40]!r} ({name}).")
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)


def _mirror_data(source: Path, target: Path) -> None:
    """`target` as a copy of eSpeak's data folder made of links, with an empty `voices/!v/` of our own."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name != "voices":
            os.symlink(entry, target / entry.name)
    (target / "voices").mkdir()
    for entry in (source / "voices").iterdir():
        if entry.name != "!v":
            os.symlink(entry, target / "voices" / entry.name)
    (target / "voices" / "!v").mkdir()


@lru_cache(maxsize=1)
def espeak_languages() -> frozenset[str]:
    """The language names eSpeak NG's bundled data can speak: its language voices, `lang/<family>/<name>`."""
    data = Path(_loader().get_data_path())
    return frozenset(path.name for path in (data / "lang").rglob("*") if path.is_file())


def _synthesize_chunk(job: tuple[Sequence[Utterance], Callable[[np.ndarray], np.ndarray] | None]) -> list[np.ndarray]:
    utterances, postprocess = job
    synthesizer = EspeakSynthesizer()
    audio = [synthesizer.synthesize(utterance) for utterance in utterances]
    return [postprocess(clip) for clip in audio] if postprocess else audio


def synthesize_chunks(
    chunks: Sequence[Sequence[Utterance]],
    postprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    processes: int | None = None,
) -> list[list[np.ndarray]]:
    """Synthesise each chunk of utterances in a fresh process (so a chunk's audio depends on the chunk alone).

    Args:
        chunks: utterances, grouped; the grouping is part of what determines the audio.
        postprocess: applied to each clip `(samples,)` int16 in the worker (e.g. trimming and resampling); a
            picklable top-level function or `functools.partial` of one.
        processes: worker processes at a time (default: the CPUs available to this process).

    Returns:
        per chunk, per utterance, the (post-processed) audio.
    """
    if not chunks:
        return []
    if processes is None:
        processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # fork: a worker starts in milliseconds and inherits the loaded modules; the parent never initialises eSpeak, so
    # every worker's library starts fresh
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with context.Pool(processes=max(1, min(processes, len(chunks))), maxtasksperchild=1) as pool:
        return pool.map(_synthesize_chunk, [(chunk, postprocess) for chunk in chunks], chunksize=1)


__all__ = [
    "ESPEAK_SAMPLING_RATE",
    "EspeakSynthesizer",
    "Utterance",
    "Voice",
    "espeak_languages",
    "synthesize_chunks",
]
