"""Cached-segment reads vs decoding on the fly: segments per second and their ratio (target >= 5x).

Writes `--files` FLAC recordings of `--seconds` at 44.1 kHz (so decoding includes resampling, as
for VoxCeleb/ESD-style sources), caches their 1-s segments with `prepare`, then reads every
segment in a shuffled order both ways:
  on the fly: decode the segment's file, resample, cut (what a map-style dataset without a cache does)
  cached:     one row of the float32 memmap (`CachedSegments`)

    python benchmarks/cache_read.py [--files 16 --seconds 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from barlow_speech.data.audio import SegmentConfig, decode_audio, segment_waveform
from barlow_speech.data.folder import load_audio_folder
from barlow_speech.data.prepare import CachedSegments, prepare


def write_corpus(root: Path, files: int, seconds: float, sr: int = 44_100) -> None:
    rng = np.random.default_rng(0)
    for i in range(files):
        sf.write(root / f"{i:04d}.flac", (0.1 * rng.standard_normal(int(seconds * sr))).astype(np.float32), sr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audio_dir, cache_dir = Path(tmp) / "audio", Path(tmp) / "cache"
        audio_dir.mkdir()
        write_corpus(audio_dir, args.files, args.seconds)
        dataset = load_audio_folder(audio_dir, streaming=True)
        prepare(dataset, cache_dir)
        cached = CachedSegments(cache_dir)
        paths, starts = cached.metadata["path"], cached.metadata["segment_start"]
        order = np.random.default_rng(0).permutation(len(cached))
        config = SegmentConfig()

        t0 = time.perf_counter()
        for i in order:
            pieces, offsets = segment_waveform(decode_audio(paths[i]), config)
            _ = pieces[list(offsets).index(starts[i])]
        on_the_fly = len(order) / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        for i in order:
            _ = cached[int(i)]["input_values"]
        from_cache = len(order) / (time.perf_counter() - t0)

    print(f"segments: {len(order)} (1 s at 16 kHz from {args.files} files of {args.seconds} s at 44.1 kHz)")
    print(f"decode on the fly: {on_the_fly:10.1f} segments/s")
    print(f"cached memmap:     {from_cache:10.1f} segments/s")
    print(f"ratio cached / on the fly: {from_cache / on_the_fly:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
