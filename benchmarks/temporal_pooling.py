"""Does pooling that keeps temporal order recover emotion? Weightless statistics of a trained demo checkpoint's maps.

The synthetic emotions are largely the f0 contour's shape in time (peak, declination, final rise; `data/synthetic.py`),
which mean and std over time (`pooling="time_mean_std"`) cannot keep. Each statistic set below summarises every
layer's `(channels, bands, frames)` map (frequency in the checkpoint's `layer_bands`, `band_feature_map`) and is
probed for speaker, gender, word and emotion at 10 % and 100 % labels, the layer chosen on validation
(`probe_layers`), for the checkpoint and for the same network at the demo's random init (`torch.manual_seed(seed)`
before building it, as `demo.demo_trainer` does). docs/representations.md, "Ablation 6", holds the numbers.

    python benchmarks/temporal_pooling.py --checkpoint demo_output/bt-synthetic --out temporal_pooling.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from barlow_speech import BarlowSpeechConfig, BarlowSpeechFeatureExtractor, BarlowSpeechModel
from barlow_speech.data.schema import clip_arrays
from barlow_speech.demo import DemoSettings, demo_source
from barlow_speech.evaluation.probes import probe_layers
from barlow_speech.evaluation.sources import SPLITS
from barlow_speech.modeling_barlow import BarlowSpeechForPreTraining, band_feature_map
from barlow_speech.results import PAPER_TASKS

FRACTIONS = (0.1, 1.0)


def _std(x: torch.Tensor) -> torch.Tensor:
    return x.var(dim=-1, unbiased=False).sqrt()


def _lag1(x: torch.Tensor) -> torch.Tensor:
    """Lag-1 autocorrelation over time (0 where a band is constant)."""
    centred = x - x.mean(dim=-1, keepdim=True)
    variance = centred.square().mean(dim=-1)
    covariance = (centred[..., 1:] * centred[..., :-1]).mean(dim=-1)
    return torch.where(variance > 0, covariance / variance.clamp_min(torch.finfo(x.dtype).tiny), 0.0)


# name -> statistics of a banded map `(n, channels, bands, frames)`, each `(n, channels, bands)`
STATISTICS = {
    "mean_std": lambda b: [b.mean(-1), _std(b)],  # the demo's time_mean_std
    "mean_std_delta_std": lambda b: [b.mean(-1), _std(b), _std(b.diff(dim=-1))],  # how fast each band changes
    "mean_std_lag1": lambda b: [b.mean(-1), _std(b), _lag1(b)],  # how smoothly
    "thirds_std": lambda b: [*(part.mean(-1) for part in b.tensor_split(3, dim=-1)), _std(b)],  # begin/middle/end
}


@torch.no_grad()
def layer_features(model: BarlowSpeechModel, extractor, clips: list[np.ndarray], statistics) -> list[np.ndarray]:
    """Per layer `(clips, channels * bands * len(statistics))` of one-segment clips."""
    bands = model.config.layer_bands
    per_layer: list[list[np.ndarray]] = [[] for _ in bands]
    for start in range(0, len(clips), 64):
        inputs = extractor(clips[start : start + 64], sampling_rate=extractor.sampling_rate, return_tensors="pt")
        if inputs["input_values"].shape[1] != 1:
            raise ValueError("clips must be one segment long (the demo's 1-s clips).")
        states = model(inputs["input_values"], output_hidden_states=True).hidden_states
        for layer, (state, count) in enumerate(zip(states, bands)):
            banded = band_feature_map(state[:, 0], count)  # (n, channels, bands, frames), as pool_feature_map
            per_layer[layer].append(torch.cat([s.flatten(1) for s in statistics(banded)], dim=1).numpy())
    return [np.concatenate(chunks) for chunks in per_layer]


def evaluate(model, extractor, clips: dict, labels: dict, statistics, name: str) -> dict:
    """Per task: the chosen layer and its mean test top-1 per fraction."""
    features = [layer_features(model, extractor, clips[split], statistics) for split in SPLITS]
    layers = list(zip(*features))
    out = {}
    for task in PAPER_TASKS:
        result = probe_layers(
            layers, *(labels[split][task] for split in SPLITS), fractions=FRACTIONS, seeds=range(2), model=name
        )
        out[task] = {"layer": result["layer"], **{k: v["mean"] for k, v in result["fractions"].items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a demo's bt-synthetic folder")
    parser.add_argument("--statistics", default=",".join(STATISTICS), help=f"comma-separated, from {list(STATISTICS)}")
    parser.add_argument("--seed", type=int, default=0, help="the demo's seed (its random init)")
    parser.add_argument("--out", default="temporal_pooling.jsonl")
    options = parser.parse_args()
    unknown = sorted(set(options.statistics.split(",")) - set(STATISTICS))
    if unknown:
        parser.error(f"unknown statistics {unknown}; choose from {list(STATISTICS)}")
    trained = BarlowSpeechModel.from_pretrained(options.checkpoint).eval()
    extractor = BarlowSpeechFeatureExtractor.from_pretrained(options.checkpoint)
    torch.manual_seed(options.seed)
    initial = BarlowSpeechForPreTraining(BarlowSpeechConfig.from_pretrained(options.checkpoint)).barlow.eval()
    source = demo_source(DemoSettings(seed=options.seed))
    splits = {split: source.load(split) for split in SPLITS}
    clips = {split: list(clip_arrays(splits[split])) for split in SPLITS}
    labels = {split: {task: np.asarray(splits[split][task]) for task in PAPER_TASKS} for split in SPLITS}
    for name in options.statistics.split(","):
        models = {"bt": trained, "random_init": initial}
        row = {"statistics": name, "checkpoint": str(Path(options.checkpoint).resolve())}
        row |= {key: evaluate(m, extractor, clips, labels, STATISTICS[name], key) for key, m in models.items()}
        with open(options.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        cells = [
            f"{100 * row['bt'][t]['0.1']:.1f} / {100 * row['bt'][t]['1']:.1f} (L{row['bt'][t]['layer']}; "
            f"{100 * (row['bt'][t]['0.1'] - row['random_init'][t]['0.1']):+.1f} / "
            f"{100 * (row['bt'][t]['1'] - row['random_init'][t]['1']):+.1f})"
            for t in PAPER_TASKS
        ]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
