"""Batched BarlowSpeechFeatureExtractor vs librosa STFT + log on the same clips: clips/s and their ratio.

Both compute the paper's front end (|STFT|, n_fft 1024, hop 128, centred reflect-padded Hann frames, log of the
magnitude floored at 1e-6, dataset normalisation) on the same `--clips` 1-s clips; the run also checks that they
agree. librosa gets the whole (clips, samples) array in one call (its own batched path, not a Python loop).
Two ways of ours are timed:
  extractor(...)   the public call from numpy: validation, segmentation, copy to `--device`, spectrogram
  spectrogram      `extractor.spectrogram` on a batch already on the device (the path training uses)
Targets (issue 8): extractor >= 1.0x librosa on CPU, >= 50x on a GPU.

    python benchmarks/feature_extraction.py                       # CPU
    python benchmarks/feature_extraction.py --device cuda --clips 1024 --batch-size 256
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence

import librosa
import numpy as np
import torch

from barlow_speech.feature_extraction_barlow import BarlowSpeechFeatureExtractor

TARGETS = {"cpu": 1.0, "cuda": 50.0}


def librosa_features(clips: np.ndarray, extractor: BarlowSpeechFeatureExtractor) -> np.ndarray:
    """The reference front end with librosa: `(clips, samples)` -> `(clips, 1, freq, frames)` float32."""
    stft = librosa.stft(
        clips,
        n_fft=extractor.n_fft,
        hop_length=extractor.hop_length,
        window="hann",
        center=True,
        pad_mode=extractor.pad_mode,
    )
    features = np.log(np.maximum(np.abs(stft), extractor.log_floor))
    return ((features - extractor.mean) / extractor.std)[:, None].astype(np.float32)


def best_rate(run: Callable[[], object], items: int, repeats: int, sync: Callable[[], None]) -> float:
    """Items per second of the fastest of `repeats` timed calls (after one warm-up call)."""
    run()
    sync()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        best = max(best, items / (time.perf_counter() - start))
    return best


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=64, help="1-s clips featurised per timed call")
    parser.add_argument("--batch-size", type=int, default=64, help="clips per extractor call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (librosa uses numpy/scipy's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available here; use --device cpu.")
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    extractor = BarlowSpeechFeatureExtractor(mean=-3.0, std=2.5)
    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((args.clips, extractor.segment_samples))).astype(np.float32)
    batches = [clips[i : i + args.batch_size] for i in range(0, args.clips, args.batch_size)]
    resident = [torch.from_numpy(b).to(device) for b in batches]

    def ours() -> list:
        return [extractor(b, sampling_rate=16000, return_tensors="pt", device=device)["input_values"] for b in batches]

    def spectrogram_only() -> list:
        with torch.no_grad():
            return [extractor.spectrogram(b) for b in resident]

    reference = librosa_features(clips, extractor)
    difference = float(np.abs(torch.cat(ours()).cpu().numpy() - reference).max())
    librosa_rate = best_rate(lambda: librosa_features(clips, extractor), args.clips, args.repeats, lambda: None)
    ours_rate = best_rate(ours, args.clips, args.repeats, sync)
    spectrogram_rate = best_rate(spectrogram_only, args.clips, args.repeats, sync)
    target = TARGETS.get(device.type, 1.0)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{torch.get_num_threads()} threads, {os.cpu_count()} cores"
    )
    print(
        f"device: {device.type} ({where}); {args.clips} clips of 1 s, batches of {args.batch_size}, output 1x513x126"
    )
    print(f"librosa.stft + log (CPU, one batched call): {librosa_rate:10.1f} clips/s")
    print(f"extractor(...) from numpy:                   {ours_rate:10.1f} clips/s")
    print(f"extractor.spectrogram, batch on the device:   {spectrogram_rate:10.1f} clips/s")
    print(f"max |ours - librosa| = {difference:.2e} (normalised log-magnitude)")
    print(
        f"ratio extractor / librosa: {ours_rate / librosa_rate:.2f}x (target >= {target:g}x on {device.type}); "
        f"on-device spectrogram / librosa: {spectrogram_rate / librosa_rate:.2f}x"
    )
    return {
        "librosa": librosa_rate,
        "extractor": ours_rate,
        "spectrogram": spectrogram_rate,
        "max_difference": difference,
    }


if __name__ == "__main__":
    main()
