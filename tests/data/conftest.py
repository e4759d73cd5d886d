"""Factories for tiny fixture trees in each dataset's native layout (generated audio, real metadata formats)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def tone(
    seconds: float, sr: int = 16_000, freq: float = 220.0, channels: int = 1, amplitude: float = 0.3
) -> np.ndarray:
    """A sine tone, `(samples,)` or `(samples, channels)` float32; channel c at (c + 1) / channels of the amplitude, so
    no channel equals their mean (a downmix that kept one channel would show)."""
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave * (c + 1) / channels for c in range(channels)], axis=1)


def write_audio(
    path: Path,
    seconds: float = 1.0,
    sr: int = 16_000,
    freq: float = 220.0,
    channels: int = 1,
    subtype: str | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, sr, freq, channels), sr, subtype=subtype)
    return path


def audio_bytes(seconds: float = 1.0, sr: int = 16_000, freq: float = 220.0, fmt: str = "FLAC") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, sr, freq), sr, format=fmt)
    return buf.getvalue()


def corrupt(path: Path) -> Path:
    """Overwrite a file with bytes that are not audio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x00\x00not really a wave file")
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to its first `keep` fraction of bytes; its header still declares every frame."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def random_bytes(path: Path, size: int = 3000, seed: int = 0) -> Path:
    """Random bytes under any name (a garbage `.mp3`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


def make_librispeech_tree(
    root: Path,
    speakers: Mapping[str, str] = {"103": "F", "1034": "M", "1040": "M"},
    subset: str = "train-clean-100",
    chapters: int = 1,
    utterances: int = 2,
    seconds: float = 1.5,
) -> Path:
    base = root / "LibriSpeech"
    lines = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    for i, (speaker, sex) in enumerate(speakers.items()):
        lines.append(f"{speaker:<5}| {sex} | {subset:<16} | 25.03 | Reader {i} | with a bar")
        for c in range(chapters):
            chapter = str(1000 + 10 * i + c)
            folder = base / subset / speaker / chapter
            trans = []
            for u in range(utterances):
                utt = f"{speaker}-{chapter}-{u:04d}"
                write_audio(folder / f"{utt}.flac", seconds, freq=150 + 40 * i)
                trans.append(f"{utt} WORDS OF UTTERANCE {u}")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(trans) + "\n")
    (base / "SPEAKERS.TXT").write_text("; LibriSpeech speakers\n" + "\n".join(lines) + "\n")
    return base


def make_voxceleb1_tree(
    root: Path,
    speakers: Mapping[str, tuple[str, str, str]] | None = None,
    videos: int = 2,
    clips: int = 2,
    seconds: float = 1.2,
) -> Path:
    """wav/idXXXXX/<video>/<n>.wav + vox1_meta.csv (tab-separated) + iden_split.txt (1/2/3)."""
    speakers = speakers or {
        "id10001": ("A.J._Buckley", "m", "Ireland"),
        "id10002": ("A.R._Rahman", "m", "India"),
        "id10003": ("Aamir_Khan", "f", "India"),
    }
    meta = ["VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"]
    split = []
    for i, (speaker, (name, sex, nationality)) in enumerate(speakers.items()):
        meta.append(f"{speaker}\t{name}\t{sex}\t{nationality}\tdev")
        for v in range(videos):
            for c in range(clips):
                rel = f"{speaker}/video{v}{i:02d}Xy/{c + 1:05d}.wav"
                write_audio(root / "wav" / rel, seconds, freq=180 + 30 * i)
                split.append(f"{1 + (v * clips + c) % 3} {rel}")
    (root / "vox1_meta.csv").write_text("\n".join(meta) + "\n")
    (root / "iden_split.txt").write_text("\n".join(split) + "\n")
    return root


SC_WORDS = ("yes", "no", "marvin", "zero")


def make_speech_commands_tree(root: Path, words: Sequence[str] = SC_WORDS, per_word: int = 3) -> Path:
    """<word>/<speaker>_nohash_<n>.wav + validation_list.txt/testing_list.txt + _background_noise_/."""
    validation, testing = [], []
    for w, word in enumerate(words):
        for n in range(per_word):
            rel = f"{word}/{0xABC000 + n:08x}_nohash_{w % 2}.wav"
            write_audio(root / rel, 1.0, freq=200 + 50 * w)
            if n == 1:
                validation.append(rel)
            elif n == 2:
                testing.append(rel)
    write_audio(root / "_background_noise_" / "white_noise.wav", 3.2)
    (root / "_background_noise_" / "README.md").write_text("noise clips\n")
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    return root


ESD_EMOTIONS_ZH = {"Neutral": "中立", "Angry": "生气", "Happy": "快乐", "Sad": "伤心", "Surprise": "惊喜"}


def make_esd_tree(
    root: Path,
    speakers: Sequence[str] = ("0001", "0011"),
    indices: Sequence[int] = (1, 21, 51),
    split_folders: bool = False,
) -> Path:
    """<speaker>/<Emotion>/<speaker>_<nnnnnn>.wav + <speaker>/<speaker>.txt ("id<TAB>text<TAB>emotion").

    `indices` are utterance positions within each emotion's block of 350 (1-20 evaluation,
    21-50 test, 51-350 train); `split_folders` nests files in train/evaluation/test folders.
    """
    for speaker in speakers:
        lines = []
        for e, emotion in enumerate(ESD_EMOTIONS_ZH):
            for index in indices:
                utt = f"{speaker}_{e * 350 + index:06d}"
                split = "evaluation" if index <= 20 else "test" if index <= 50 else "train"
                folder = root / speaker / emotion / (split if split_folders else "")
                write_audio(folder / f"{utt}.wav", 1.3, freq=150 + 60 * e)
                label = ESD_EMOTIONS_ZH[emotion] if int(speaker) <= 10 else emotion
                lines.append(f"{utt}\tsentence number {index}\t{label}")
        (root / speaker / f"{speaker}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


WLUC_LEADERS = ("Benjamin_Netanyau", "Jens_Stoltenberg", "Julia_Gillard", "Magaret_Tarcher", "Nelson_Mandela")


def make_wluc_tree(root: Path, leaders: Sequence[str] = WLUC_LEADERS, clips: int = 10) -> Path:
    """16000_pcm_speeches/<Leader_Name>/<n>.wav 1-s clips + _background_noise_/ + other/."""
    base = root / "16000_pcm_speeches"
    for i, leader in enumerate(leaders):
        for n in range(clips):
            write_audio(base / leader / f"{n}.wav", 1.0, freq=120 + 40 * i)
    write_audio(base / "_background_noise_" / "running_tap.wav", 2.0)
    write_audio(base / "other" / "exercise_bike.wav", 2.0)
    return base


def write_hub_parquet(
    folder: Path, config: str, split: str, rows: Mapping[str, list], features: datasets.Features
) -> Path:
    """A local folder in a Hub repo's layout: <config>/<split>/0000.parquet + README.md configs,
    with the audio column stored as `Audio` ({bytes, path}) as on the Hub."""
    ds = datasets.Dataset.from_dict(dict(rows), features=features).cast_column("audio", datasets.Audio(decode=False))
    (folder / config / split).mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(folder / config / split / "0000.parquet"))
    readme = folder / "README.md"
    entries = readme.read_text().split("---")[1] if readme.exists() else "\nconfigs:\n"
    entries += f"- config_name: {config}\n  data_files:\n  - split: {split}\n    path: {config}/{split}/*.parquet\n"
    readme.write_text(f"---{entries}---\n")
    return folder


HUB_AUDIO = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}


@pytest.fixture
def cache_dir(tmp_path: Path) -> str:
    return str(tmp_path / "hf_cache")


@pytest.fixture
def make():
    """The factories above, for tests: `make.librispeech_tree(tmp_path)`, `make.corrupt(path)`, ..."""
    return SimpleNamespace(
        tone=tone,
        write_audio=write_audio,
        audio_bytes=audio_bytes,
        corrupt=corrupt,
        truncate=truncate,
        random_bytes=random_bytes,
        librispeech_tree=make_librispeech_tree,
        voxceleb1_tree=make_voxceleb1_tree,
        speech_commands_tree=make_speech_commands_tree,
        esd_tree=make_esd_tree,
        wluc_tree=make_wluc_tree,
        hub_parquet=write_hub_parquet,
        HUB_AUDIO=HUB_AUDIO,
        SC_WORDS=SC_WORDS,
        WLUC_LEADERS=WLUC_LEADERS,
    )
