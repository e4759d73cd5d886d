"""Ablation of the demo recipe on the synthetic corpus (docs/representations.md).

Each row pretrains the demo's Barlow Twins model (or DINO: `"objective": "dino"`) with some `DemoSettings` overrides
of `BASE` (encoder, pooling, front end, views, latent size, learning rate, steps), then probes speaker, gender, word
and emotion at 10 % and 100 % labels for the trained model and the same network randomly initialised (DINO's encoder
starts from the same weights), under each evaluated pooling (`--eval_poolings`) and every layer, plus log-mel
statistics. The layer reported as "best" is chosen on the validation split, never on test.

    python benchmarks/representation_ablation.py --rows baseline,time_mean_std --out ablation.jsonl
    python benchmarks/representation_ablation.py --list
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from barlow_speech.demo import DemoSettings, demo_source, demo_trainer, pretrain
from barlow_speech.evaluation.baselines import logmel_stats_features
from barlow_speech.evaluation.embeddings import extract_layer_embeddings
from barlow_speech.evaluation.probes import linear_probe
from barlow_speech.evaluation.sources import SPLITS
from barlow_speech.results import PAPER_TASKS

FRACTIONS = (0.1, 1.0)
# (pooling, frequency bands) evaluated on every checkpoint: pooling has no weights, so it is an evaluation choice too.
EVAL_POOLINGS = (("global", 1), ("time_mean_std", 4), ("time_mean_std", 16), ("time_mean_std", 32))

# Every row starts from the demo recipe before this ablation (commit bc9e8c7: 129 linear bins of a 256-point window,
# 4 bands, 500 validation clips, no random channel in the views), whatever the demo's defaults are now, so a row
# means the same settings in every commit.
BASE = {
    "n_fft": 256,
    "hop_length": 256,
    "n_mels": None,
    "pooling_bands": 4,
    "validation_clips": 500,
    "eq_db_std": 0.0,
    "projector_input": "last",  # the demo's defaults since ablation 5: "all_layers", a 0.9-1.1 stretch
    "rrc_time_scale": (0.6, 1.5),
    "mixup": True,  # off in the demo since ablation 7
}
# name -> DemoSettings overrides on top of BASE.
ROWS: dict[str, dict] = {
    "baseline": {"pooling": "global"},
    "time_mean_std": {"pooling": "time_mean_std"},
    "time_mean": {"pooling": "time_mean"},
    "tms_bands16": {"pooling": "time_mean_std", "pooling_bands": 16},
    "tms_mel64_b16": {"pooling": "time_mean_std", "pooling_bands": 16, "n_fft": 512, "hop_length": 256, "n_mels": 64},
    "tms_no_masks": {"pooling": "time_mean_std", "freq_mask_width": 0, "time_mask_width": 0},
    "tms_no_noise": {"pooling": "time_mean_std", "noise_prob": 0.0},
    "tms_no_mixup": {"pooling": "time_mean_std", "mixup": False},
    "tms_latent2048": {"pooling": "time_mean_std", "latent_size": 2048},
    "tms_lr5e-3": {"pooling": "time_mean_std", "learning_rate": 5e-3},
    "tms_steps600": {"pooling": "time_mean_std", "max_steps": 600},
    "tms_resnet18": {"pooling": "time_mean_std", "backbone": "resnet18"},
    # finer low-frequency resolution at the same input size: 128 mels over a 32-ms window (f0 and F1 region)
    "tms_mel128": {"pooling": "time_mean_std", "n_fft": 512, "hop_length": 256, "n_mels": 128},
    "tms_mel128_b16": {
        "pooling": "time_mean_std",
        "pooling_bands": 16,
        "n_fft": 512,
        "hop_length": 256,
        "n_mels": 128,
    },
    "tms_mel128_plain_views": {
        "pooling": "time_mean_std",
        "n_fft": 512,
        "hop_length": 256,
        "n_mels": 128,
        "freq_mask_width": 0,
        "time_mask_width": 0,
        "mixup": False,
    },
}
# The demo recipe after ablation 3 (bands per layer, 1,000 validation clips) and its next candidate changes.
DEMO_RECIPE = {
    "pooling": "time_mean_std",
    "pooling_bands": (16, 16, 16, 8),
    "n_fft": 512,
    "hop_length": 256,
    "n_mels": 128,
    "validation_clips": 1000,
}
ROWS |= {
    "demo": DEMO_RECIPE,
    "demo_steps600": {**DEMO_RECIPE, "max_steps": 600},
    "demo_mild_stretch": {**DEMO_RECIPE, "rrc_time_scale": (0.9, 1.1)},  # keeps more of the rate cue of emotion
    # views with independent random channels (the corpus colours every clip by a 3-dB equaliser both views shared)
    "demo_eq3": {**DEMO_RECIPE, "eq_db_std": 3.0},
    # each view a different 0.6-s segment of the 1-s clip: they share speaker, emotion and channel, less of the word
    "demo_segments": {**DEMO_RECIPE, "view_segment_seconds": 0.6},
    "demo_eq3_mild_stretch": {**DEMO_RECIPE, "eq_db_std": 3.0, "rrc_time_scale": (0.9, 1.1)},
    # pretraining on 3-word utterances of one speaker and emotion, each view a 1-s segment: views differ in the word
    "demo_eq3_utterances": {
        **DEMO_RECIPE,
        "eq_db_std": 3.0,
        "pretrain_words_per_clip": 3,
        "pretrain_clips": 2000,
        "view_segment_seconds": 1.0,
    },
}
# Ablation 5: the optimiser and the latent on top of the demo's defaults after ablation 4 (`demo_eq3`).
DEMO_EQ3 = ROWS["demo_eq3"]
ROWS |= {
    "demo_eq3_lr5e-3": {**DEMO_EQ3, "learning_rate": 5e-3},
    "demo_eq3_lr1e-2": {**DEMO_EQ3, "learning_rate": 1e-2},
    "demo_eq3_latent2048": {**DEMO_EQ3, "latent_size": 2048},
    # the projector reads every layer's pooled vector: the loss shapes the early layers the probes choose directly
    "demo_eq3_all_layers": {**DEMO_EQ3, "projector_input": "all_layers"},
    "demo_eq3_all_layers_mild_stretch": {**DEMO_EQ3, "projector_input": "all_layers", "rrc_time_scale": (0.9, 1.1)},
}
# After ablation 5: the demo's recipe with the stem's and stage 1's full 32 frequency rows (4 mels a band, not 8)
ROWS["demo_all_layers_b32"] = {**ROWS["demo_eq3_all_layers_mild_stretch"], "pooling_bands": (32, 32, 16, 8)}
# Ablation 7 on the demo's recipe: each view in its own random room (the corpus reverberates half its clips, and both
# views shared the room), and the views without BYOL-A mixup or without added noise (other voices and noise that the
# encoder must ignore may also hide the speaker's cues)
DEMO_ALL_LAYERS = ROWS["demo_eq3_all_layers_mild_stretch"]
ROWS |= {
    "demo_all_layers_reverb": {**DEMO_ALL_LAYERS, "reverb_prob": 0.5},
    "demo_all_layers_no_mixup": {**DEMO_ALL_LAYERS, "mixup": False},
    "demo_all_layers_no_noise": {**DEMO_ALL_LAYERS, "noise_prob": 0.0},
}
# Ablation 8: DINO (shared/paper/004, `"objective": "dino"`) on the demo's recipe, encoder, data and views; the
# demo's DINO settings before ablation 9 (AdamW 5e-4, no batch norm in the head) pinned, whatever the demo's defaults
DEMO_DEFAULTS = ROWS["demo_all_layers_no_mixup"]  # the demo's defaults since ablation 7
DINO_8 = {**DEMO_DEFAULTS, "objective": "dino", "dino_learning_rate": 5e-4, "dino_head_batchnorm": False}
ROWS |= {
    "dino_demo": DINO_8,
    # 004's crops: segments of an utterance of one speaker and emotion, so teacher and student crops differ in the word
    "dino_utterances": {**DINO_8, "pretrain_words_per_clip": 3, "pretrain_clips": 2000, "view_segment_seconds": 1.0},
    # the teacher's outputs held ~1.2 nats about the input (kl_to_center): fewer prototypes, sharper, faster
    "dino_k256": {**DINO_8, "dino_num_prototypes": 256},
    "dino_t01": {**DINO_8, "dino_teacher_temperature": 0.01},
    "dino_lr2e-3": {**DINO_8, "dino_learning_rate": 2e-3},
    # the reference and the BT learning rate again, on another seed (corpus, probe splits, initial weights)
    "dino_demo_seed1": {**DINO_8, "seed": 1},
    "dino_lr2e-3_seed1": {**DINO_8, "dino_learning_rate": 2e-3, "seed": 1},
}
# Ablation 9: the reference's batch norm in the DINO head (`use_bn_in_head`): at initialisation it lifts the teacher's
# information about the input (kl_to_center) from 1.4 to 2.9 nats, since the head no longer sees the pooled vectors'
# common part that every clip shares
DINO_9 = {**DINO_8, "dino_head_batchnorm": True}
DINO_9_LR = {**DINO_9, "dino_learning_rate": 2e-3}  # the demo's DINO from this ablation to ablation 10
ROWS |= {
    "dino_bn": DINO_9,
    "dino_bn_lr2e-3": DINO_9_LR,
    "dino_bn_m095": {**DINO_9, "dino_teacher_momentum": 0.95},
    "dino_bn_utterances": {**ROWS["dino_utterances"], "dino_head_batchnorm": True},
    "dino_bn_seed1": {**DINO_9, "seed": 1},
    "dino_bn_lr2e-3_seed1": {**DINO_9_LR, "seed": 1},
    "dino_bn_lr2e-3_seed2": {**DINO_9_LR, "seed": 2},
    # pretrained 2x and 4x longer: does more pretraining lift its deep stages?
    "dino_bn_lr2e-3_600": {**DINO_9_LR, "max_steps": 600},
    "dino_bn_lr2e-3_1200": {**DINO_9_LR, "max_steps": 1200},
}
# Ablation 10: the learning rate with batch norm in the head; shorter, more numerous short crops (within a one-word
# clip a short crop holds part of the word while speaker, gender and emotion hold throughout; 4 x 0.25 s is the audio
# of 2 x 0.5 s); DINOv2's Sinkhorn-Knopp centring (the teacher can neither collapse nor go uniform), on the demo's
# crops and on 004's utterance crops, whose teacher drifted towards uniform in ablation 9
SINKHORN_KNOPP = {"dino_centering": "sinkhorn_knopp", "dino_teacher_temperature": 0.01}
DINO_10 = {**DINO_9_LR, "dino_learning_rate": 8e-3}  # the demo's DINO since this ablation
ROWS |= {
    "dino_bn_lr4e-3": {**DINO_9_LR, "dino_learning_rate": 4e-3},
    "dino_bn_lr8e-3": DINO_10,
    "dino_bn_lr1.6e-2": {**DINO_9_LR, "dino_learning_rate": 1.6e-2},
    "dino_bn_lr4e-3_seed1": {**DINO_9_LR, "dino_learning_rate": 4e-3, "seed": 1},
    "dino_bn_lr8e-3_seed1": {**DINO_10, "seed": 1},
    "dino_bn_lr8e-3_seed2": {**DINO_10, "seed": 2},
    "dino_bn_short025x4": {**DINO_9_LR, "dino_short_crops": 4, "dino_short_crop_seconds": 0.25},
    "dino_bn_sk": {**DINO_9_LR, **SINKHORN_KNOPP},
    "dino_bn_sk_utterances": {**ROWS["dino_bn_utterances"], "dino_learning_rate": 2e-3, **SINKHORN_KNOPP},
    "dino_bn_lr8e-3_sk": {**DINO_10, **SINKHORN_KNOPP},
    "dino_bn_lr8e-3_600": {**DINO_10, "max_steps": 600},
    "dino_bn_lr8e-3_m095": {**DINO_10, "dino_teacher_momentum": 0.95},
}
# Ablation 11: 004's utterance crops at lr 8e-3 (also with Sinkhorn-Knopp, and with 004's proportions: the teacher
# hears two words, the student one); a head's MLP as wide as BT's projector (512), which halves DINO's FLOPs
# (benchmarks/dino_step_cost.py)
SK_UTTERANCES_10 = {**ROWS["dino_bn_utterances"], "dino_learning_rate": 8e-3, **SINKHORN_KNOPP}
ROWS |= {
    "dino_bn_lr8e-3_utterances": {**ROWS["dino_bn_utterances"], "dino_learning_rate": 8e-3},
    "dino_bn_lr8e-3_sk_utterances": SK_UTTERANCES_10,
    "dino_bn_lr8e-3_sk_utterances_2s_1s": {
        **SK_UTTERANCES_10,
        "dino_long_crop_seconds": 2.0,
        "dino_short_crop_seconds": 1.0,
    },
    "dino_bn_lr8e-3_h512": {**DINO_10, "dino_hidden_size": 512},
    "dino_bn_lr8e-3_h512_seed1": {**DINO_10, "dino_hidden_size": 512, "seed": 1},
}


def parse_bands(text: str) -> int | tuple[int, ...]:
    """`16` -> 16 (every layer); `16:16:16:8` -> one number per layer (stem, then each stage)."""
    bands = tuple(int(b) for b in text.split(":"))
    return bands[0] if len(bands) == 1 else bands


def _probe(train, validation, test, labels, task, name) -> dict:
    result = linear_probe(
        train,
        labels[0],
        validation,
        labels[1],
        test,
        labels[2],
        fractions=FRACTIONS,
        seeds=range(2),
        model=name,
        task=task,
    )
    return {
        f"{fraction:g}": {
            "test": result["fractions"][f"{fraction:g}"]["mean"],
            "validation": float(np.mean(result["fractions"][f"{fraction:g}"]["validation_accuracy"])),
        }
        for fraction in FRACTIONS
    }


def evaluate_layers(model, extractor, splits: dict, name: str, poolings=EVAL_POOLINGS) -> dict:
    """Per pooling and task: every layer's probe accuracy, and the layer chosen on validation at 100 % labels."""
    labels = {task: [np.asarray(splits[s][task]) for s in splits] for task in PAPER_TASKS}
    original = model.config.pooling, model.config.pooling_bands
    out = {}
    for pooling, bands in poolings:
        model.config.pooling, model.config.pooling_bands = pooling, bands
        per_split = [extract_layer_embeddings(model, extractor, splits[s]) for s in splits]
        layers = list(zip(*per_split))
        key = pooling_name(pooling, bands)
        out[key] = {}
        for task in PAPER_TASKS:
            scores = [_probe(*layer, labels[task], task, name) for layer in layers]
            best = int(np.argmax([score["1"]["validation"] for score in scores]))
            out[key][task] = {"layers": scores, "best_layer": best, "best": scores[best], "last": scores[-1]}
    model.config.pooling, model.config.pooling_bands = original
    return out


DATA_FIELDS = ("probe_clips", "validation_clips", "num_speakers", "seed")  # the probed splits


def baseline_key(settings: dict, poolings) -> str:
    """Rows with the same probed splits, encoder, front end and evaluated poolings share their random-init evaluation
    (the log-mel one: `logmel_key`)."""
    fields = [settings[k] for k in (*DATA_FIELDS, "backbone", "n_fft", "hop_length", "n_mels")]
    return json.dumps([*fields, [(pooling, bands) for pooling, bands in poolings]])


def logmel_key(settings: dict) -> str:
    return json.dumps(["logmel", *(settings[k] for k in DATA_FIELDS)])


def pooling_name(pooling: str, bands: int | tuple[int, ...]) -> str:
    return f"{pooling}/{bands if isinstance(bands, int) else ':'.join(map(str, bands))}"


def previous_baselines(path: Path, poolings) -> dict:
    """The random-init and log-mel evaluations of the rows already in `path` (a previous run's --out, made with the
    same library code: the key holds settings, not the code version) that evaluated the same poolings; rows from
    before the key held every probed-split field are skipped."""
    baselines: dict = {}
    names = {pooling_name(*entry) for entry in poolings}
    for line in path.read_text().splitlines() if path.exists() else []:
        row = json.loads(line)
        if any(field not in row["settings"] for field in DATA_FIELDS):
            continue
        if set(row["random_init"]) == names:
            baselines.setdefault(baseline_key(row["settings"], poolings), row["random_init"])
        baselines.setdefault(logmel_key(row["settings"]), row["logmel"])
    return baselines


def row_settings(overrides: dict, output_dir: str) -> tuple[DemoSettings, str]:
    """A row's `DemoSettings` (`BASE`, then the row's overrides) and its objective (the overrides' `"objective"`:
    `"dino"` pretrains DINO on the same settings; default Barlow Twins)."""
    fields = {**BASE, **overrides}
    objective = fields.pop("objective", "barlow_twins")
    return replace(DemoSettings(output_dir=output_dir), **fields), objective


def run_row(name: str, overrides: dict, baselines: dict, poolings=EVAL_POOLINGS) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"ablation-{name}-") as folder:
        settings, objective = row_settings(overrides, folder)
        start = time.perf_counter()
        trainer, initial = demo_trainer(settings, Path(folder), objective)
        pretrain(trainer, Path(folder))
        seconds = time.perf_counter() - start
        source = demo_source(settings)
        splits = {split: source.load(split) for split in SPLITS}
        row = {
            "row": name,
            "objective": objective,
            "overrides": overrides,
            "settings": asdict(settings),
            "pretrain_seconds": seconds,
            # the pretrained model's evaluation ("bt" also for DINO rows: the key of every earlier row)
            "bt": evaluate_layers(trainer.model, trainer.feature_extractor, splits, objective, poolings),
        }
        key, logmel = baseline_key(row["settings"], poolings), logmel_key(row["settings"])
        if key not in baselines:
            baselines[key] = evaluate_layers(initial, trainer.feature_extractor, splits, "Random init", poolings)
        if logmel not in baselines:
            waveforms = {s: [np.asarray(x["audio"]["array"], dtype=np.float32) for x in splits[s]] for s in splits}
            stats = [logmel_stats_features(waveforms[s]) for s in splits]
            baselines[logmel] = {
                task: _probe(*stats, [np.asarray(splits[s][task]) for s in splits], task, "log-mel")
                for task in PAPER_TASKS
            }
        return {**row, "random_init": baselines[key], "logmel": baselines[logmel]}


def markdown_row(row: dict) -> str:
    """`| row | eval pooling | speaker 10/100 (layer) | ... |` per evaluated pooling, best layer on validation."""
    lines = []
    for pooling, tasks in row["bt"].items():
        cells = [
            f"{100 * tasks[t]['best']['0.1']['test']:.1f} / {100 * tasks[t]['best']['1']['test']:.1f} "
            f"(L{tasks[t]['best_layer']})"
            for t in PAPER_TASKS
        ]
        lines.append(f"| {row['row']} | {pooling} | " + " | ".join(cells) + f" | {row['pretrain_seconds'] / 60:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="baseline", help=f"comma-separated, from {list(ROWS)}")
    parser.add_argument("--out", default="ablation.jsonl")
    parser.add_argument("--list", action="store_true")
    parser.add_argument(
        "--reuse_baselines",
        action="store_true",
        help="reuse the random-init and log-mel evaluations of rows already in --out with the same probed splits, "
        "front end and poolings (only when --out was written by the same library code).",
    )
    parser.add_argument("--max_steps", type=int, default=None, help="override every row's pretraining steps")
    parser.add_argument(
        "--eval_poolings",
        default=None,
        help="comma-separated pooling/bands to evaluate, bands per layer separated by ':', e.g. time_mean_std/4 or "
        "time_mean_std/16:16:16:8 (default: " + ",".join(pooling_name(*entry) for entry in EVAL_POOLINGS) + ")",
    )
    options = parser.parse_args()
    if options.list:
        print(json.dumps(ROWS, indent=1))
        return
    logging.basicConfig(level=logging.WARNING)
    poolings = EVAL_POOLINGS
    if options.eval_poolings:
        items = (item.split("/") for item in options.eval_poolings.split(","))
        poolings = tuple((pooling, parse_bands(bands)) for pooling, bands in items)
    baselines = previous_baselines(Path(options.out), poolings) if options.reuse_baselines else {}
    for name in options.rows.split(","):
        overrides = ROWS[name] if options.max_steps is None else {**ROWS[name], "max_steps": options.max_steps}
        row = run_row(name, overrides, baselines, poolings)
        with open(options.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(markdown_row(row), flush=True)


if __name__ == "__main__":
    main()
