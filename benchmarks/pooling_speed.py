"""Frequency-preserving pooling (`pool_feature_map`, "time_mean_std") vs the torch one-liners it replaced.

Ours: equal frequency bands as a reshape and a mean, the population std over time written out. Reference:
`adaptive_avg_pool2d` to the bands, then `Tensor.std(correction=0)` over time (whose CPU kernel is slow on short
axes). Both pool, forward and backward, the four maps of one view of the demo's pretraining batch (64 clips of
128 mels: stem and stages 1-3 of the small ResNet, 16/16/16/8 bands), which the projector reads with
`projector_input="all_layers"`. Alternating rounds, medians; prints both times, the speed-up and the largest
difference of the pooled values. Defaults: ~5 s on 2 CPU cores.

    python benchmarks/pooling_speed.py [--batch 64 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from timing import alternating_rounds
from torch import nn

from barlow_speech.modeling_barlow import pool_feature_map

# (channels, frequency rows, frames, bands) of the demo's layers for 1-s clips (docs/representations.md)
DEMO_LAYERS = ((16, 32, 16, 16), (32, 32, 16, 16), (64, 16, 8, 16), (128, 8, 4, 8))


def reference_pool(feature_map: torch.Tensor, bands: int) -> torch.Tensor:
    """`time_mean_std` as before: adaptive pooling to the bands, then the mean and torch's std over time."""
    banded = nn.functional.adaptive_avg_pool2d(feature_map, (bands, feature_map.shape[-1]))
    return torch.cat([banded.mean(dim=-1).flatten(1), banded.std(dim=-1, correction=0).flatten(1)], dim=1)


def pool_all(pool, maps: list[torch.Tensor], iterations: int) -> list[torch.Tensor]:
    """`iterations` forward + backward passes of `pool` over every map; the last pass's pooled values."""
    for _ in range(iterations):
        pooled = [pool(x, bands) for x, (*_, bands) in zip(maps, DEMO_LAYERS)]
        torch.cat(pooled, dim=1).square().sum().backward()
    return [p.detach() for p in pooled]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=20, help="passes per timed round")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds; medians are reported")
    args = parser.parse_args(argv)
    generator = torch.Generator().manual_seed(0)
    maps = [
        torch.randn(args.batch, c, rows, frames, generator=generator, requires_grad=True)
        for c, rows, frames, _ in DEMO_LAYERS
    ]

    def ours():
        return pool_all(lambda x, bands: pool_feature_map(x, "time_mean_std", bands), maps, args.iterations)

    ours_times, reference_times, fast_values, slow_values = alternating_rounds(
        ours, lambda: pool_all(reference_pool, maps, args.iterations), args.repeats
    )
    fast, slow = statistics.median(ours_times), statistics.median(reference_times)
    difference = max(float((a - b).abs().max()) for a, b in zip(fast_values, slow_values))
    print(f"time_mean_std pooling of the demo's 4 layer maps, batch {args.batch}, forward + backward")
    print(
        f"ours {1000 * fast / args.iterations:.1f} ms   adaptive pooling + torch.std "
        f"{1000 * slow / args.iterations:.1f} ms   speed-up: {slow / fast:.2f}x   largest difference {difference:.1e}"
    )
    return {"ours_seconds": fast, "reference_seconds": slow, "largest_difference": difference}


if __name__ == "__main__":
    main()
