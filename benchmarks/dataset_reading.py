"""Reading clips from a `datasets.Dataset`: the package's two readers vs the row-by-row reads they replaced.

- trainer batches: `BarlowTwinsTrainer`'s own DataLoader (a dataset without a format is read in NumPy format, so a
  row's waveform comes as one array) vs the stock DataLoader over the same dataset as it is (every waveform a Python
  list of floats); both collate with `WaveformCollator`, `--batch-size` clips a batch, in order.
- all clips: `data.schema.clip_arrays` (the Arrow column, a chunk at a time) vs `np.asarray(row["audio"]["array"])`
  for every row, what the embeddings, the supervised baseline and Fig. 3 read before.

Each round times ours, then the reference (`--repeats` rounds, medians). Prints both times and the speed-up of
each reader, and checks that both give the same samples. Defaults (2,048 one-second synthetic clips): ~30 s on
2 CPU cores.

    python benchmarks/dataset_reading.py [--clips 2048 --batch-size 64 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import numpy as np
import torch
from timing import alternating_rounds
from train_throughput import build_trainer

from barlow_speech.data.schema import clip_arrays
from barlow_speech.data.synthetic import load_synthetic


def batches(loader) -> torch.Tensor:
    """Every batch's `(batch, samples)` waveforms, concatenated."""
    return torch.cat([batch["waveforms"] for batch in loader])


def compare(label: str, ours, reference, repeats: int, same) -> dict:
    """Alternating rounds of `ours()` and `reference()`; prints the medians and the speed-up."""
    ours_times, reference_times, ours_result, reference_result = alternating_rounds(ours, reference, repeats)
    fast, slow = statistics.median(ours_times), statistics.median(reference_times)
    equal = bool(same(ours_result, reference_result))
    print(
        f"{label} speed-up: {slow / fast:.2f}x   (ours {fast:.3f} s, row by row {slow:.3f} s; same samples: {equal})"
    )
    return {"ours_seconds": fast, "reference_seconds": slow, "equal": equal}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians are reported")
    args = parser.parse_args(argv)
    dataset = load_synthetic(num_clips=args.clips, seed=0)
    print(f"{args.clips} synthetic clips of 1 s, batches of {args.batch_size}")
    with tempfile.TemporaryDirectory() as folder:
        trainer = build_trainer("small", args.batch_size, torch.device("cpu"), folder, latent_size=64)
        trainer.args.per_device_eval_batch_size = args.batch_size
        stock = torch.utils.data.DataLoader(
            dataset,
            batch_size=args.batch_size,
            collate_fn=trainer.data_collator,
            drop_last=trainer.args.dataloader_drop_last,  # as the trainer's loader
        )
        results = {
            "trainer_batches": compare(
                "trainer batches",
                lambda: batches(trainer.get_eval_dataloader(dataset)),
                lambda: batches(stock),
                args.repeats,
                torch.equal,
            )
        }
    results["all_clips"] = compare(
        "all clips",
        lambda: clip_arrays(dataset),
        lambda: [np.asarray(row["audio"]["array"], dtype=np.float32) for row in dataset],
        args.repeats,
        lambda a, b: len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)),
    )
    return results


if __name__ == "__main__":
    main()
