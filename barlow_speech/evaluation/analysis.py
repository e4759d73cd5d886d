"""Layer-wise mutual-information and similarity analyses ("beyond the paper", seed papers 002 and 003).

For every layer of one or more encoders (stem, then each stage: `pooled_hidden_states`, pooled like `pooler_output`):

* probe accuracy: a linear probe per task on all train labels, every layer on the same subset (`probes.probe_layers`);
* the supervised bound I(Z;Y) >= H(Y) - CE per task (`information.probe_information`) on the labelled clips of all
  three splits, in nats and bits with a Student-t interval over seeds; its probe sees each layer's top 256 principal
  components (`--bound_dims`; any probe gives a bound);
* the unsupervised bound I(A;B) >= log N - L_NCE (`information.infonce_information`) between two parts of the data,
  without labels, on the train split: `segments` pairs the first and second half of each clip (two 1-s segments of a
  2-s clip), `views` pairs two augmented views of each clip's first segment drawn by the package's
  `training.augment.TwoViewAugmentation` (mixup off by default: it mixes other clips into a view); the critic sees
  each view's top 256 whitened principal components (`--critic_dims`; a function of a view cannot add information,
  so the bound holds, and a 4,096 x 4,096 critic would cost minutes per estimate);
* `analyze layers` only: layer x layer linear CKA and PWCCA (`similarity.similarity_matrix`) on the test split, within
  each model and between the first model and every other one (e.g. a checkpoint and `random-init:` of it);
* the check of Liu et al. 2024 (paper 002): Spearman's rank correlation between each MI estimate and probe accuracy
  over every (model, layer) point, and per model over its layers.

    barlow-speech analyze layers --model runs/bt-synthetic random-init:runs/bt-synthetic --output_dir eval/
    barlow-speech analyze mi --model runs/bt-synthetic --tasks speaker_id word --seeds 5 --output_dir eval/

Writes `analysis_<layers|mi>.json` and PNGs named `analysis_<layers|mi>_*.png` into `--output_dir`;
`barlow-speech report --output_dir` on the same folder appends them (`evaluation.report.analysis_report`). The JSON::

    {"schema": "barlow_speech.layer_analysis/v1", "analysis": "layers", "dataset": "synthetic",
     "dataset_config": "{...}", "splits": {"probes": "train / validation / test", "unsupervised_information": "train",
     ...}, "tasks": ["speaker_id", ...], "seeds": [0, 1, 2], "confidence": 0.95,
     "views": {TwoViewAugmentationConfig fields}, "num_unlabelled_clips": 1000,
     "models": [{"model": "bt-synthetic", "upstream": "...", "front_end": "checkpoint",
                 "layers": ["stem", "stage 1", ...], "layer_sizes": [16, 32, ...],
                 "probe_accuracy": {task: [top-1 per layer]}, "chosen_layer": {task: name},
                 "probe_validation_accuracy": {task: [...]},
                 "supervised_information": {task: [probe_information per layer]},
                 "unsupervised_information": {"segments" | "views": [{"mutual_information_nats",
                     "mutual_information_bits", "interval_nats", "interval_bits", "runs_nats", "learning_rates",
                     "cap_nats", "cap_bits", "num_train", "num_test", "critic_dims"} per layer]},
                 "similarity": {"linear_cka": L x L, "pwcca": L x L}}],  # similarity: `layers` only
     "between_models": [{"models": [first, other], "linear_cka": L x M, "pwcca": L x M}],  # `layers`, >= 2 models
     "pwcca_dims": 249, "rank_correlation": {"segments" | "views" | "supervised": {task: {"spearman", "p_value",
         "num_points", "per_model": {model: rho}}}}, "figures": ["analysis_layers_information.png", ...]}

A Spearman rho is null where it is undefined (fewer than 3 points, or a constant series).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import torch

from ..results import ANALYSIS_SCHEMA, PAPER_TASKS
from ..training.augment import TwoViewAugmentation, TwoViewAugmentationConfig
from .embeddings import extract_layer_embeddings
from .figures import plot_layer_information, plot_layer_similarity, plot_rank_correlation
from .information import (
    NATS_PER_BIT,
    confidence_interval,
    infonce_information,
    principal_components,
    probe_information,
)
from .pipeline import Upstream, layer_names, write_results
from .probes import probe_layers
from .similarity import SIMILARITY_MEASURES, similarity_matrix
from .sources import SPLITS, DataSource, known_rows

logger = logging.getLogger(__name__)

ANALYSES = ("layers", "mi")  # `mi` leaves out the CKA / PWCCA matrices
PAIRINGS = ("segments", "views")
SUPERVISED = "supervised"  # the rank-correlation entry of the supervised bound
# InfoNCE critic step sizes, the one that validates best kept per estimate: 0.5 (the isotropic default) overshoots on
# pooled CNN layers, whose channels share a few factors, and then leaves the bound at exactly 0.
CRITIC_LEARNING_RATES = (0.5, 0.05)
# L-BFGS iterations of the probes and supervised bounds: on the demo checkpoint 100 instead of 300 moved each layer's
# bound by <= 0.02 nats (1 %) and its top-1 by <= 2.7 points (8 of 300 test clips), 3-4x faster; the heads that
# still move after 100 iterations are the weakly regularised ones, which validation rarely keeps
ANALYSIS_PROBE_STEPS = 100
ANALYSIS_SPLITS = {
    "probes": "train / validation / test",
    "supervised_information": "train + validation + test",
    "unsupervised_information": "train",
    "similarity": "test",
}  # which clips each estimate reads


# ------------------------------------------------------------------------------------------------ paired parts
def clip_halves(waveforms: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """First and second half of each `(samples,)` clip: two lists of `(samples // 2,)` arrays."""
    halves = [(clip[: len(clip) // 2], clip[len(clip) // 2 : 2 * (len(clip) // 2)]) for clip in waveforms]
    return [first for first, _ in halves], [second for _, second in halves]


def view_config(view_args: Mapping[str, Any] | None = None, seed: int = 0) -> TwoViewAugmentationConfig:
    """The package's two views with mixup off (it mixes other clips into a view), `view_args` overriding fields."""
    fields = {field.name for field in dataclasses.fields(TwoViewAugmentationConfig)} - {"seed"}
    unknown = sorted(set(view_args or {}) - fields)
    if unknown:
        raise ValueError(
            f"unknown view settings {unknown}; choose among the TwoViewAugmentationConfig fields {sorted(fields)}."
        )
    return TwoViewAugmentationConfig(**{"mixup_prob": 0.0, **(view_args or {}), "seed": seed})


@torch.no_grad()
def view_layer_embeddings(
    upstream: Upstream,
    waveforms: Sequence[np.ndarray],
    config: TwoViewAugmentationConfig,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per layer, the embeddings `(clips, layer_size)` of view A and of view B of each clip's first segment.

    Clips are cut or zero-padded to one segment; batch k draws its views with a generator seeded `config.seed + k`,
    so every upstream with the same front end sees the same views.
    """
    encoder = upstream.model.to(device).eval()
    extractor, length = upstream.extractor, upstream.extractor.segment_samples
    augmentation = TwoViewAugmentation(config, sampling_rate=extractor.sampling_rate).to(device)
    outputs: tuple[list[list[np.ndarray]], list[list[np.ndarray]]] = ([], [])
    for batch, start in enumerate(range(0, len(waveforms), batch_size)):
        clips = waveforms[start : start + batch_size]
        segments = torch.zeros(len(clips), length)
        for row, clip in enumerate(clips):
            segments[row, : min(length, len(clip))] = torch.as_tensor(clip[:length])
        generator = torch.Generator(device=device).manual_seed(config.seed + batch)
        views = augmentation(segments.to(device), extractor.spectrogram, generator=generator, update_memory=False)
        for output, view in zip(outputs, views):
            states = encoder(input_values=view, output_hidden_states=True).pooled_hidden_states
            output.append([state.float().cpu().numpy() for state in states])
    return tuple([np.concatenate(layer) for layer in zip(*output)] for output in outputs)


# ------------------------------------------------------------------------------------------------ estimates
def seeded_infonce(
    views_a: np.ndarray, views_b: np.ndarray, seeds: Sequence[int], confidence: float = 0.95, **kwargs
) -> dict:
    """`infonce_information` of `(n, dim_a)`, `(n, dim_b)` pairs once per seed, summarised as mean and interval."""
    runs = [infonce_information(views_a, views_b, seed=seed, **kwargs) for seed in seeds]
    nats = np.array([run["mutual_information_nats"] for run in runs])
    interval = confidence_interval(nats, confidence)
    return {
        "mutual_information_nats": float(nats.mean()),
        "mutual_information_bits": float(nats.mean() / NATS_PER_BIT),
        "interval_nats": list(interval),
        "interval_bits": [bound / NATS_PER_BIT for bound in interval],
        "runs_nats": nats.tolist(),
        "learning_rates": [run["learning_rate"] for run in runs],
        **{key: runs[0][key] for key in ("cap_nats", "cap_bits", "num_train", "num_test", "critic_dims", "bound")},
    }


def rank_correlations(models: Sequence[Mapping], tasks: Sequence[str]) -> dict:
    """Spearman rho between each MI estimate (`PAIRINGS`, and the supervised bound of the same task) and probe top-1,
    over every (model, layer) point and per model over its layers."""

    def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
        if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            return None, None
        rho, p_value = scipy.stats.spearmanr(x, y)
        return float(rho), float(p_value)

    def information(model: Mapping, measure: str, task: str) -> list[float]:
        per_layer = (
            model["supervised_information"][task]
            if measure == SUPERVISED
            else model["unsupervised_information"][measure]
        )
        return [entry["mutual_information_nats"] for entry in per_layer]

    result = {}
    for measure in (*PAIRINGS, SUPERVISED):
        for task in tasks:
            pairs = [(information(m, measure, task), m["probe_accuracy"][task]) for m in models]
            rho, p_value = spearman(*(np.concatenate(side).tolist() for side in zip(*pairs)))
            result.setdefault(measure, {})[task] = {
                "spearman": rho,
                "p_value": p_value,
                "num_points": sum(len(x) for x, _ in pairs),
                "per_model": {m["model"]: spearman(*pair)[0] for m, pair in zip(models, pairs)},
            }
    return result


def analyze_layers(
    upstreams: Sequence[Upstream],
    source: DataSource,
    tasks: Sequence[str] = tuple(PAPER_TASKS),
    similarity: bool = True,
    seeds: Sequence[int] = range(3),
    confidence: float = 0.95,
    mi_clips: int | None = None,
    view_args: Mapping[str, Any] | None = None,
    probe_steps: int = ANALYSIS_PROBE_STEPS,
    critic_steps: int = 300,
    critic_learning_rates: Sequence[float] = CRITIC_LEARNING_RATES,
    critic_dims: int | None = 256,
    bound_dims: int | None = 256,
    pwcca_dims: int | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
) -> dict:
    """The layer-wise analysis of `upstreams` on `source` (module docstring: what is measured, and the schema).

    Args:
        upstreams: encoders (`load_upstream`; not `logmel`, which has no layers).
        source: the data; probes use its train / validation / test splits.
        tasks: label columns, one probe and one supervised bound each.
        similarity: add the CKA / PWCCA matrices (`analyze layers`).
        seeds: >= 2 seeds: splits of the supervised bound and of the InfoNCE pairs, for the intervals.
        mi_clips: train clips of the unsupervised bounds (default: all).
        view_args: `TwoViewAugmentationConfig` overrides of the views (e.g. mask widths for a small front end).
        probe_steps, critic_steps: L-BFGS iterations of each probe and supervised bound, SGD steps of each InfoNCE
            critic.
        critic_learning_rates: the critics' step-size grid, chosen per estimate on validation pairs.
        critic_dims: the InfoNCE critic sees each view's top principal components, at most this many (fitted on the
            estimate's train pairs; still a lower bound, `infonce_information`).
        bound_dims: the supervised bound's probe sees each layer's top principal components, at most this many
            (fitted on each seed's train part; still a lower bound, `probe_information`): a 4,096-d layer with 64
            speakers otherwise costs minutes of L-BFGS per seed.
        pwcca_dims: PWCCA sees each layer's top principal components, at most this many (default: as many as the
            test clips allow, (n - 1) // 2); CKA sees every dimension.
    """
    seeds = [int(seed) for seed in seeds]
    if len(seeds) < 2:
        raise ValueError(f"seeds={seeds}: the intervals need >= 2 seeds; pass --seeds 3.")
    if not upstreams or any(upstream.model is None for upstream in upstreams):
        raise ValueError(
            "the layer analysis needs encoders with layers: pass checkpoints or random-init:<checkpoint>, not logmel."
        )
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    views = view_config(view_args, seeds[0])
    splits = {split: source.load(split) for split in SPLITS}
    unlabelled = splits["train"].select(range(min(mi_clips or len(splits["train"]), len(splits["train"]))))
    waveforms = [np.asarray(audio["array"], dtype=np.float32) for audio in unlabelled["audio"]]
    halves = clip_halves(waveforms)
    models, test_layers = [], []
    for upstream in upstreams:
        logger.info("layer analysis of %s", upstream.name)
        embed = functools.partial(
            extract_layer_embeddings,
            upstream.model,
            upstream.extractor,
            layers=None,
            batch_size=batch_size,
            device=device,
            cache_dir=cache_dir,
        )
        per_split = {split: embed(dataset, dataset_id=source.cache_id(split)) for split, dataset in splits.items()}
        test_layers.append(per_split["test"])
        names = layer_names(upstream, len(upstream.model.config.layer_sizes))
        entry = {
            "model": upstream.name,
            **upstream.metadata,
            "layers": names,
            "layer_sizes": upstream.model.config.layer_sizes,
        }
        for task in tasks:
            known = {split: known_rows(dataset, [task], split) for split, dataset in splits.items()}
            labels = [known[split][1][task] for split in SPLITS]
            layers = [tuple(per_split[split][k][known[split][0]] for split in SPLITS) for k in range(len(names))]
            probe = probe_layers(
                layers,
                *labels,
                layer_names=names,
                fractions=(1.0,),
                seeds=(0,),
                steps=probe_steps,
                device=device,
                model=upstream.name,
                task=task,
            )
            entry.setdefault("probe_accuracy", {})[task] = [summary["test"]["1"] for summary in probe["layers"]]
            entry.setdefault("probe_validation_accuracy", {})[task] = [
                summary["validation"]["1"] for summary in probe["layers"]
            ]
            entry.setdefault("chosen_layer", {})[task] = probe["layer"]
            entry.setdefault("supervised_information", {})[task] = [
                probe_information(
                    np.concatenate(layer),
                    np.concatenate(labels),
                    seeds,
                    confidence=confidence,
                    max_iter=probe_steps,
                    device=device,
                    feature_dims=bound_dims,
                )
                for layer in layers
            ]
        cache_id = f"{source.cache_id('train')}|{len(waveforms)} clips"
        pairs = {
            "segments": [
                embed(half, dataset_id=f"{cache_id}|{part} half") for part, half in zip(("first", "second"), halves)
            ],
            "views": view_layer_embeddings(upstream, waveforms, views, batch_size, device),
        }
        entry["unsupervised_information"] = {
            pairing: [
                seeded_infonce(
                    a,
                    b,
                    seeds,
                    confidence,
                    steps=critic_steps,
                    learning_rate=critic_learning_rates,
                    critic_dims=critic_dims,
                    device=device,
                )
                for a, b in zip(*pair)
            ]
            for pairing, pair in pairs.items()
        }
        models.append(entry)
    result = {
        "schema": ANALYSIS_SCHEMA,
        "analysis": "layers" if similarity else "mi",
        "dataset": source.dataset_id,
        "dataset_config": source.dataset_config,
        "splits": ANALYSIS_SPLITS,
        "tasks": list(tasks),
        "seeds": seeds,
        "confidence": confidence,
        "views": dataclasses.asdict(views),
        "num_unlabelled_clips": len(waveforms),
        "models": models,
    }
    if similarity:
        dims = pwcca_dims or (len(splits["test"]) - 1) // 2
        reduced = [  # as SVCCA before CCA: each layer on its top principal components
            [
                principal_components(torch.as_tensor(layer), dims=dims, whiten=False, exact=True)[0].numpy()
                for layer in layers
            ]
            for layers in test_layers
        ]
        inputs = {"linear_cka": test_layers, "pwcca": reduced}
        for k, entry in enumerate(models):
            entry["similarity"] = {m: similarity_matrix(inputs[m][k], m).tolist() for m in SIMILARITY_MEASURES}
        result["between_models"] = [
            {
                "models": [models[0]["model"], other["model"]],
                **{m: similarity_matrix(inputs[m][0], m, others=inputs[m][k]).tolist() for m in SIMILARITY_MEASURES},
            }
            for k, other in enumerate(models[1:], start=1)
        ]
        result["pwcca_dims"] = dims
    result["rank_correlation"] = rank_correlations(models, tasks)
    return result


# ------------------------------------------------------------------------------------------------ outputs
def write_analysis(result: Mapping, output_dir: str | Path) -> list[Path]:
    """Draw the figures of `result` and write `analysis_<analysis>.json` (naming them) into `output_dir`."""
    output_dir = Path(output_dir)
    prefix = f"analysis_{result['analysis']}"
    figures = [
        plot_layer_information(result, output_dir / f"{prefix}_information.png"),
        plot_rank_correlation(result, output_dir / f"{prefix}_rank_correlation.png"),
    ]
    if "between_models" in result:
        figures.append(plot_layer_similarity(result, output_dir / f"{prefix}_similarity.png"))
    payload = {**result, "figures": [figure.name for figure in figures]}
    return [write_results(output_dir / f"{prefix}.json", payload), *figures]


__all__ = [
    "ANALYSIS_PROBE_STEPS",
    "analyze_layers",
    "clip_halves",
    "rank_correlations",
    "seeded_infonce",
    "view_config",
    "view_layer_embeddings",
    "write_analysis",
]
