"""Generation speed of the multilingual speech corpus (`load_tts_speech`) against the synthetic corpus.

    python benchmarks/tts_speech_generation.py                     # 512 clips of 3 s, every core
    python benchmarks/tts_speech_generation.py --processes 1       # one synthesis process

Both corpora generate the same seconds of audio in the same run, alternating `--repeats` rounds; the script prints
each one's audio seconds per wall-clock second (its real-time factor) and their ratio. The speech corpus synthesises
with eSpeak NG in worker processes (one per core by default), resamples to 16 kHz and adds the channel in the parent;
the synthetic corpus (`load_synthetic`) runs in this process.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Sequence

from barlow_speech.data.synthetic import load_synthetic
from barlow_speech.data.tts_speech import TTSSpeechConfig, load_tts_speech


def real_time_factor(generate, audio_seconds: float) -> float:
    """Audio seconds produced per wall-clock second by `generate()`."""
    start = time.perf_counter()
    generate()
    return audio_seconds / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_clips", type=int, default=512)
    parser.add_argument("--clip_seconds", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=None, help="synthesis processes (default: every core)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    config = TTSSpeechConfig(clip_seconds=args.clip_seconds)
    seconds = args.num_clips * args.clip_seconds
    synthetic_clips = max(1, round(seconds))  # the synthetic corpus' clips are 1 s long
    ours, reference = [], []
    for round_ in range(args.repeats):
        speech = functools.partial(
            load_tts_speech, args.num_clips, split="pretrain", seed=round_, config=config, processes=args.processes
        )
        ours.append(real_time_factor(speech, seconds))
        reference.append(
            real_time_factor(functools.partial(load_synthetic, synthetic_clips, seed=round_), synthetic_clips)
        )
    result = {"speech_rtf": statistics.median(ours), "synthetic_rtf": statistics.median(reference)}
    result["ratio"] = result["speech_rtf"] / result["synthetic_rtf"]
    print(
        f"speech corpus: {result['speech_rtf']:.1f} s of audio per second ({args.num_clips} clips of "
        f"{args.clip_seconds:g} s, {args.processes or 'every core'} processes)"
    )
    print(f"synthetic corpus: {result['synthetic_rtf']:.1f} s of audio per second ({synthetic_clips} clips of 1 s)")
    print(f"speech vs synthetic corpus (audio seconds per second): {result['ratio']:.2f}x")
    return result


if __name__ == "__main__":
    main()
