"""CPU embedding cost: the shipped small encoder against transformers' Wav2Vec2 base, built in the same run (issue 30).

Ours: the shipped `bt-small` (`barlow_speech.pretrained("bt-small")`) with its feature extractor, `pooler_output` per
clip. Reference: `Wav2Vec2Model(Wav2Vec2Config())` (the base configuration, random weights) with
`Wav2Vec2FeatureExtractor()`, `last_hidden_state` averaged over time per clip.

Each (model, batch size) runs in a fresh Python process: the model is built, a warm-up batch runs, the RSS is read (the
baseline) and its high-water mark reset, then every clip is embedded batch by batch without gradients, feature
extractor included. Printed: the real-time factor (audio seconds / wall seconds), the peak RSS (absolute, and over the
baseline), and the ratios ours / reference. Memory is read as benchmarks/long_audio_memory.py reads it (Linux).

    python benchmarks/embedding_speed.py                                   # 10 clips of 10 s, batch 1 and 8
    python benchmarks/embedding_speed.py --clips 32 --seconds 5 --batch_sizes 1 8 32 --threads 2
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from long_audio_memory import MIB, child_or_main, measure_in_child, status_bytes

MODELS = ("ours", "reference")


def build(model: str, reference_layers: int):
    """`(describe, embed)` of `model`: `embed(list of 16 kHz clips)` -> `(clips, hidden)`, extractor included."""
    import torch

    if model == "reference":
        from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

        extractor = Wav2Vec2FeatureExtractor()
        encoder = Wav2Vec2Model(Wav2Vec2Config(num_hidden_layers=reference_layers)).eval()
        size = "base" if reference_layers == 12 else f"base with {reference_layers} layers"
        describe = f"Wav2Vec2Model(Wav2Vec2Config()) ({size}), random weights"

        def embed(clips):
            features = extractor(clips, sampling_rate=16000, return_tensors="pt")
            with torch.no_grad():
                return encoder(features["input_values"]).last_hidden_state.mean(dim=1)

        return describe, embed

    from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechModel, pretrained

    folder = pretrained("bt-small")
    extractor = BarlowSpeechFeatureExtractor.from_pretrained(folder)
    encoder = BarlowSpeechModel.from_pretrained(folder).eval()
    describe = "bt-small (the shipped encoder)"

    def embed(clips):
        features = extractor(clips, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            return encoder(**features).pooler_output

    return describe, embed


def measure(model: str, batch_size: int, clips: int, seconds: float, threads: int | None, reference_layers: int):
    """Run in a fresh process: embed `clips` clips of `seconds` s, `batch_size` at a time; time and memory."""
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    describe, embed = build(model, reference_layers)
    rng = np.random.default_rng(0)
    audio = [0.1 * rng.standard_normal(round(seconds * 16000), dtype=np.float32) for _ in range(clips)]
    embed(audio[:batch_size])  # warm-up: thread pools and oneDNN's first-call state are not the measurement's
    baseline = status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts from the current RSS
    start = time.perf_counter()
    for first in range(0, clips, batch_size):
        embeddings = embed(audio[first : first + batch_size])
    wall = time.perf_counter() - start
    return {
        "model": describe,
        "wall": wall,
        "rtf": clips * seconds / wall,
        "peak": status_bytes("VmHWM"),
        "baseline": baseline,
        "hidden": embeddings.shape[-1],
        "threads": torch.get_num_threads(),
    }


def measure_in_fresh_process(model: str, batch_size: int, args: argparse.Namespace) -> dict:
    options = {"model": model, "batch_size": batch_size, "clips": args.clips, "seconds": args.seconds}
    options |= {"threads": args.threads, "reference_layers": args.reference_layers}
    return measure_in_child(__file__, options, f"{model} at batch {batch_size}")


def describe(run: dict) -> str:
    return (
        f"real-time factor {run['rtf']:,.1f} ({run['wall']:.2f} s), peak RSS {run['peak'] / MIB:,.0f} MiB "
        f"({(run['peak'] - run['baseline']) / MIB:,.1f} MiB over the loaded model), {run['hidden']}-d embeddings"
    )


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--reference_layers", type=int, default=12, help="Wav2Vec2's layers (12: the base model)")
    args = parser.parse_args(argv)
    results: dict = {}
    print(f"CPU, {args.clips} clips of {args.seconds:g} s, no gradients, feature extractors included")
    for batch_size in args.batch_sizes:
        runs = {model: measure_in_fresh_process(model, batch_size, args) for model in MODELS}
        print(f"batch {batch_size} ({runs['ours']['threads']} threads):")
        for model, run in runs.items():
            print(f"  {model}: {run['model']}: {describe(run)}")
        ours, reference = runs["ours"], runs["reference"]
        print(f"  real-time factor ours / reference, batch {batch_size}: {ours['rtf'] / reference['rtf']:.2f}x")
        print(f"  peak RSS ours / reference, batch {batch_size}: {ours['peak'] / reference['peak']:.2f}x")
        results[batch_size] = runs
    return results


if __name__ == "__main__":
    child_or_main(measure, main)
