"""Does the input path keep the device fed? End-to-end step rate vs the same step on a batch already on the device.

End to end (what `barlow-speech pretrain --dataset cached` runs): segments cached by `barlow-speech prepare`
(CachedSegments memmap) -> the trainer's own DataLoader (`trainer.get_train_dataloader()`: shuffling, `--workers`
worker processes, pinned memory and the accelerator's device copy on CUDA) -> the step.
Resident: the same step, repeated on one batch that is already on the device.

The step is BarlowTwinsTrainer's training step (views + forward/backward + optimizer, `--step train`) or only its
feature extraction + augmentation (`--step views`, the harshest test of the loader). Prints steps/s of both and their
ratio (issue 8 target >= 0.9x).

    python benchmarks/input_pipeline.py                                   # CPU, synthetic cache, tiny ResNet
    python benchmarks/input_pipeline.py --device cuda --backbone resnet50 --latent-size 2048 --batch-size 64 \\
        --bf16 --channels-last --workers 8 --steps 50 [--cache-dir cache/ls100]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from train_throughput import BarlowTwinsStep, build_trainer, describe_device, resolve_device, synchronize

from barlow_speech.data.prepare import CachedSegments, prepare
from barlow_speech.data.synthetic import load_synthetic
from barlow_speech.recipes import BACKBONES
from barlow_speech.training.pretrain import DataArguments, load_training_audio

TARGET_RATIO = 0.9


def synthetic_cache(directory: Path, num_clips: int) -> Path:
    """A `barlow-speech prepare` cache of `num_clips` 1-s synthetic clips in `directory`."""
    return prepare(load_synthetic(num_clips=num_clips, seed=0), directory)


def endless(loader) -> Iterator[dict]:
    """Batches of `loader`, epoch after epoch."""
    while True:
        yield from loader


def steps_per_second(
    step: Callable[[dict], object], batches: Iterator[dict], steps: int, warmup: int, device: torch.device
) -> float:
    for batch in itertools.islice(batches, warmup):
        step(batch)
    synchronize(device)
    start = time.perf_counter()
    for batch in itertools.islice(batches, steps):
        step(batch)
    synchronize(device)
    return steps / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cache-dir", default=None, help="an existing `barlow-speech prepare` output (default: synthetic)"
    )
    parser.add_argument(
        "--clips", type=int, default=None, help="synthetic clips to cache (default: enough for one pass)"
    )
    parser.add_argument("--step", choices=["train", "views"], default="train")
    parser.add_argument("--backbone", choices=list(BACKBONES), default="tiny")
    parser.add_argument("--latent-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds; the best of each counts")
    parser.add_argument("--device", default=None)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        cache = (
            Path(args.cache_dir)
            if args.cache_dir
            else synthetic_cache(Path(tmp) / "cache", args.clips or (args.warmup + args.steps) * args.batch_size)
        )
        segments = len(CachedSegments(cache))
        dataset = load_training_audio(DataArguments(dataset="cached", data_path=str(cache)), seed=0)
        trainer = build_trainer(
            args.backbone,
            args.batch_size,
            device,
            str(Path(tmp) / "run"),
            args.latent_size,
            args.bf16,
            args.channels_last,
            args.compile,
            train_dataset=dataset,
            num_workers=args.workers,
        )
        if args.step == "train":
            step: Callable[[dict], object] = BarlowTwinsStep(trainer)
        else:

            def step(batch: dict) -> object:
                with torch.no_grad():
                    return trainer.make_views(batch["waveforms"].to(device, non_blocking=True))

        batches = endless(trainer.get_train_dataloader())
        resident = next(batches)
        resident = {key: value.to(device) for key, value in resident.items()}
        rates: dict[str, list[float]] = {"end_to_end": [], "resident": []}
        for _ in range(args.repeats):
            rates["resident"].append(
                steps_per_second(step, itertools.repeat(resident), args.steps, args.warmup, device)
            )
            rates["end_to_end"].append(steps_per_second(step, batches, args.steps, args.warmup, device))
    best = {key: max(values) for key, values in rates.items()}
    ratio = best["end_to_end"] / best["resident"]
    print(
        f"device: {describe_device(device)}; step '{args.step}', backbone {args.backbone}, batch {args.batch_size}, "
        f"{args.workers} DataLoader workers, pin_memory={device.type == 'cuda'}, {segments} cached segments"
    )
    print(
        f"end to end (cache -> DataLoader -> device -> step): {best['end_to_end']:8.2f} steps/s "
        f"({best['end_to_end'] * args.batch_size:.1f} samples/s)"
    )
    print(
        f"batch resident on the device:                      {best['resident']:8.2f} steps/s "
        f"({best['resident'] * args.batch_size:.1f} samples/s)"
    )
    print(f"ratio end to end / resident: {ratio:.2f}x (target >= {TARGET_RATIO}x)")
    return {"ratio": ratio, **best}


if __name__ == "__main__":
    main()
