"""Quality on held-out languages and voices: linear probes of frozen encoders on the speech corpus' evaluation splits.

    python benchmarks/heldout_speech.py --models bt-small demo_output/bt-synthetic \\
        --byola_weights AudioNTT2020-BYOLA-64x96d512.pth          # the table of docs/heldout_speech.md

Every split speaks the corpus' evaluation languages with its evaluation voices (`barlow_speech.data.tts_speech`),
none of which occurs in pretraining. Tasks: language ID, speaker ID, gender and prosody on 3-s utterances, keyword
spotting on 1-s keyword clips; each probed with the package's linear protocol (L2 chosen on validation) at 10 % and
100 % of the training labels, one label subset per seed. Each upstream is probed through its default embedding
(`pooler_output`); the random-init row draws a new network per seed (the architecture of the first `--models`
entry). The log-mel row is 64 log-mel means and standard deviations. `--byola_weights` adds BYOL-A's published 512-d
encoder (Niizumi et al. 2021, nttcslab/byol-a `AudioNTT2020-BYOLA-64x96d512.pth`, under its own licence: pass the
file, nothing of it is shipped), with its front end and pooling written out below from the paper and config.yaml.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank

from barlow_speech.data.schema import clip_arrays
from barlow_speech.evaluation.baselines import logmel_stats_features
from barlow_speech.evaluation.embeddings import extract_embeddings
from barlow_speech.evaluation.pipeline import LOGMEL, RANDOM_INIT_PREFIX, load_upstream
from barlow_speech.evaluation.probes import linear_probe
from barlow_speech.evaluation.sources import SPLITS, DataSource
from barlow_speech.shipped import available, pretrained

UTTERANCE_TASKS = {"language": "language ID", "speaker_id": "speaker ID", "gender": "gender", "prosody": "prosody"}
KEYWORD_TASK = {"keyword": "keywords"}
FRACTIONS = (0.1, 1.0)


class ByolaAudioNTT2020(nn.Module):
    """BYOL-A's encoder (AudioNTT2020, d = 512): 3 x (3x3 conv 64-BN-ReLU-2x2 max pool) over a (64 mel, time)
    log-mel patch, a per-frame MLP (64 * 8 -> 512 -> 512, ReLU), then max + mean over time."""

    def __init__(self, n_mels: int = 64, dim: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for channels_in in (1, 64, 64):
            layers += [nn.Conv2d(channels_in, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2, 2)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Linear(64 * (n_mels // 8), dim), nn.ReLU(), nn.Dropout(0.3), nn.Linear(dim, dim), nn.ReLU()
        )

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """`(batch, 1, mel, frames)` -> `(batch, dim)`."""
        maps = self.features(log_mel).permute(0, 3, 2, 1)  # (batch, frames, mel, channels)
        frames = self.fc(maps.reshape(*maps.shape[:2], -1))
        return frames.max(dim=1).values + frames.mean(dim=1)


class ByolaEmbedder:
    """BYOL-A's front end (16 kHz, 64-ms window, 10-ms hop, 64 mel bands 60-7,800 Hz, log) normalised by the
    statistics of the first clips it embeds (the task's training split, as its evaluation code does)."""

    def __init__(self, weights: str) -> None:
        self.network = ByolaAudioNTT2020()
        self.network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.network.eval()
        bank = mel_filter_bank(513, 64, 60.0, 7800.0, 16000, norm=None, mel_scale="htk")
        self.filters = torch.as_tensor(bank, dtype=torch.float32)
        self.statistics: tuple[torch.Tensor, torch.Tensor] | None = None

    def log_mel(self, clip: np.ndarray) -> torch.Tensor:
        window = torch.hann_window(1024)
        spectrum = torch.stft(torch.as_tensor(clip), 1024, 160, window=window, return_complex=True)
        power = spectrum.abs().square()
        return torch.log(torch.einsum("ft,fm->mt", power, self.filters) + torch.finfo(torch.float32).eps)

    @torch.no_grad()
    def __call__(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        patches = [self.log_mel(clip) for clip in clips]
        if self.statistics is None:
            values = torch.cat([patch.flatten() for patch in patches])
            self.statistics = values.mean(), values.std()
        mean, std = self.statistics
        return np.stack([self.network(((p - mean) / std)[None, None])[0].numpy() for p in patches])


def sources(data_seed: int, train: int, validation: int, test: int) -> dict[str, DataSource]:
    """The evaluation splits: 3-s utterances and 1-s keyword clips of the held-out languages and voices."""
    sizes = {"num_clips": train, "num_validation_clips": validation, "num_eval_clips": test, "data_seed": data_seed}
    keywords = {"kind": "keyword", "label": "keyword", "keywords_per_language": 4}
    return {
        "utterance": DataSource("tts_speech", **sizes),
        "keyword": DataSource("tts_speech", loader_args=keywords, **sizes),
    }


def probe(embeddings: dict[str, np.ndarray], labels: dict[str, np.ndarray], seed: int) -> dict[float, float]:
    """Test top-1 per label fraction of one seed's probe."""
    result = linear_probe(
        embeddings["train"],
        labels["train"],
        embeddings["validation"],
        labels["validation"],
        embeddings["test"],
        labels["test"],
        fractions=FRACTIONS,
        seeds=[seed],
        steps=150,
    )
    return {fraction: result["fractions"][f"{fraction:g}"]["mean"] for fraction in FRACTIONS}


def evaluate(embed, data: dict[str, DataSource], seeds: Sequence[int], per_seed: bool) -> dict[str, dict]:
    """{task: {fraction: [top-1 per seed]}}; `embed(clips, seed)` gives `(clips, dim)` (a new network per seed when
    `per_seed`, else one network for every seed)."""
    results: dict[str, dict] = {}
    for kind, tasks in (("utterance", UTTERANCE_TASKS), ("keyword", KEYWORD_TASK)):
        splits = {split: data[kind].load(split) for split in SPLITS}
        cached: dict[int, dict[str, np.ndarray]] = {}
        for seed in seeds:
            key = seed if per_seed else 0
            if key not in cached:
                cached[key] = {split: embed(clip_arrays(dataset), seed) for split, dataset in splits.items()}
            for task in tasks:
                labels = {split: np.asarray(dataset[task]) for split, dataset in splits.items()}
                for fraction, accuracy in probe(cached[key], labels, seed).items():
                    results.setdefault(task, {}).setdefault(fraction, []).append(accuracy)
    return results


def model_embedder(spec: str):
    """`embed(clips, seed)` of a checkpoint, `random-init:<checkpoint>` (a new network per seed) or `logmel`."""
    if spec == LOGMEL:
        return lambda audio, seed: logmel_stats_features(audio)

    def embed(audio: Sequence[np.ndarray], seed: int) -> np.ndarray:
        upstream = load_upstream(spec, init_seed=seed)
        return extract_embeddings(upstream.model, upstream.extractor, audio, batch_size=64)

    return embed


def resolve(spec: str) -> str:
    """A shipped model's name (`bt-small`) as its folder; anything else as given."""
    return str(pretrained(spec)) if spec in available() else spec


def cell(values: Sequence[float]) -> str:
    mean = 100 * statistics.mean(values)
    spread = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {spread:.1f}"


def markdown(rows: dict[str, dict[str, dict]]) -> str:
    tasks = {**UTTERANCE_TASKS, **KEYWORD_TASK}
    header = "| upstream | " + " | ".join(f"{name} 10 % / 100 %" for name in tasks.values()) + " |"
    lines = [header, "|---|" + "---:|" * len(tasks)]
    for name, results in rows.items():
        cells = [f"{cell(results[task][0.1])} / {cell(results[task][1.0])}" for task in tasks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["bt-small"], help="shipped names or checkpoint folders")
    parser.add_argument("--byola_weights", default=None, help="BYOL-A's AudioNTT2020-BYOLA-64x96d512.pth")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data_seed", type=int, default=1000)
    parser.add_argument("--train_clips", type=int, default=2000)
    parser.add_argument("--validation_clips", type=int, default=600)
    parser.add_argument("--test_clips", type=int, default=1200)
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    data = sources(args.data_seed, args.train_clips, args.validation_clips, args.test_clips)
    seeds = list(range(args.seeds))
    models = [resolve(spec) for spec in args.models]
    rows = {Path(spec).name: evaluate(model_embedder(spec), data, seeds, per_seed=False) for spec in models}
    rows[f"random init ({Path(models[0]).name})"] = evaluate(
        model_embedder(RANDOM_INIT_PREFIX + models[0]), data, seeds, per_seed=True
    )
    rows["log-mel statistics"] = evaluate(model_embedder(LOGMEL), data, seeds, per_seed=False)
    if args.byola_weights:
        byola = ByolaEmbedder(args.byola_weights)
        rows["BYOL-A 512-d (AudioSet)"] = evaluate(lambda audio, seed: byola(audio), data, seeds, per_seed=False)
    print(markdown(rows))
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
