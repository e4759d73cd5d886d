"""Linear evaluation at label fractions (paper Table 2).

Frozen utterance embeddings are standardised with the statistics of the whole train split, then a
multinomial logistic regression is trained on a stratified label fraction of it. A head per (fraction x
seed x weight decay) minimises the mean cross-entropy + weight_decay / 2 * ||W||^2, the objective of
sklearn's `LogisticRegression(C=1 / (weight_decay * n))` (binomial form for two classes). Runs of one
subset size are stacked into one tensor `(runs, subset_size, dim)` and all their heads are solved together
on the device by the batched L-BFGS of `barlow_speech.evaluation.solver` (`fit_logistic_heads`), in which every head
keeps its own memory, line search and stopping test, so a head's result is the one it would reach alone; identical
subsets (every seed at fraction 1.0) are solved once. For each (fraction, seed) the weight decay with the best
validation accuracy is kept and its test top-1 accuracy reported.

There is no learning-rate axis: with L2 regularisation the objective is strictly convex, its optimum is
unique and the solver reaches it (to sklearn's gradient tolerance) whatever the step sizes. The learning
rate matters for probes trained by SGD/Adam for a fixed budget, where it acts as a hidden regulariser; here
the weight-decay grid is that regulariser, explicitly.

`benchmarks/sklearn_probe.py` runs the same protocol as a Python loop over scikit-learn fits; tests and
`benchmarks/probes.py` compare against it. Result layout: see `barlow_speech.results`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.fractions import (
    PAPER_FRACTIONS,
    check_fraction_indices,
    fraction_indices_from_json,
    fraction_indices_to_json,
    label_fraction_indices,
)
from ..results import PROBE_SCHEMA
from .solver import HISTORY, fit_logistic_heads, head_accuracy, runs_that_fit, solver_threads

logger = logging.getLogger(__name__)

# L2 coefficient on the mean cross-entropy (sklearn's C = 1 / (decay * n)); no 0: an unregularised head on
# separable features has no optimum, so its accuracy would depend on where the solver stops
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1)


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Z-score every array with the mean/std of `train` `(num_examples, dim)` (constant dims are centred only)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [((x - mean) / std).astype(np.float32) for x in (train, *others)]


def encode_labels(train_labels: Sequence, *others: Sequence) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Integer codes 0..C-1 from the train classes; validation/test classes unseen in train become -1."""
    classes, train_codes = np.unique(np.asarray(train_labels), return_inverse=True)
    encoded = []
    for labels in others:
        labels = np.asarray(labels)
        position = np.clip(np.searchsorted(classes, labels), 0, len(classes) - 1)
        codes = np.where(classes[position] == labels, position, -1)
        if (codes < 0).any():
            logger.warning(
                "%d evaluation labels belong to classes absent from the train split; they count as errors.",
                int((codes < 0).sum()),
            )
        encoded.append(codes)
    return train_codes.reshape(-1), encoded, len(classes)


def _check_split(name: str, embeddings: np.ndarray, labels) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0 or embeddings.shape[0] != len(labels):
        raise ValueError(
            f"{name}: expected embeddings (num_examples, dim) with one label per row, got shape {embeddings.shape} "
            f"and {len(labels)} labels."
        )
    if not np.isfinite(embeddings).all():
        raise ValueError(f"{name} embeddings contain NaN or Inf; check the encoder output.")
    return embeddings


def summarise_runs(
    subsets: dict[tuple[float, int], np.ndarray],
    chosen: dict[tuple[float, int], dict],
    num_train: int,
    extra: dict,
) -> dict:
    """Assemble the probe result (schema in `barlow_speech.results`).

    `chosen[(fraction, seed)]` holds the run's "test" and "validation" top-1 and its hyper-parameters (e.g.
    "weight_decay"), each recorded per fraction as a list under its plural ("weight_decays").
    """
    fractions: dict[str, dict] = {}
    for (fraction, seed), run in chosen.items():
        entry = fractions.setdefault(
            f"{fraction:g}", {"fraction": fraction, "seeds": [], "runs": [], "validation_accuracy": []}
        )
        entry["seeds"].append(seed)
        entry["runs"].append(run["test"])
        entry["validation_accuracy"].append(run["validation"])
        for name, value in run.items():
            if name not in ("test", "validation"):
                entry.setdefault(f"{name}s", []).append(value)
    for entry in fractions.values():
        entry["mean"], entry["std"] = float(np.mean(entry["runs"])), float(np.std(entry["runs"]))
    return {
        "schema": PROBE_SCHEMA,
        "metric": "top1_accuracy",
        **extra,
        "fractions": fractions,
        "index_lists": fraction_indices_to_json(subsets, num_train),
    }


def prepare_splits(
    train_embeddings: np.ndarray,
    train_labels: Sequence,
    validation_embeddings: np.ndarray,
    validation_labels: Sequence,
    test_embeddings: np.ndarray,
    test_labels: Sequence,
    fractions: Iterable[float],
    seeds: Iterable[int],
    subsets: dict[tuple[float, int], np.ndarray] | None,
) -> tuple:
    """Checked, standardised splits with label codes, the class count and the label subsets of every run:
    `(x_train, y_train, x_val, y_val, x_test, y_test, num_classes, subsets)`."""
    x_train = _check_split("train", train_embeddings, train_labels)
    x_val = _check_split("validation", validation_embeddings, validation_labels)
    x_test = _check_split("test", test_embeddings, test_labels)
    if not x_train.shape[1] == x_val.shape[1] == x_test.shape[1]:
        raise ValueError(
            "train/validation/test embeddings differ in width: "
            f"{x_train.shape[1]}, {x_val.shape[1]}, {x_test.shape[1]}."
        )
    y_train, (y_val, y_test), num_classes = encode_labels(train_labels, validation_labels, test_labels)
    if num_classes < 2:
        raise ValueError(f"a linear probe needs >= 2 classes in the train split, got {num_classes}.")
    if subsets is None:
        subsets = label_fraction_indices(y_train, fractions, seeds)
    check_fraction_indices(subsets, len(y_train))  # index lists saved for another split fail before any solve
    x_train, x_val, x_test = standardize(x_train, x_val, x_test)
    return x_train, y_train, x_val, y_val, x_test, y_test, num_classes, subsets


def linear_probe(
    train_embeddings: np.ndarray,
    train_labels: Sequence,
    validation_embeddings: np.ndarray,
    validation_labels: Sequence,
    test_embeddings: np.ndarray,
    test_labels: Sequence,
    fractions: Iterable[float] = PAPER_FRACTIONS,
    seeds: Iterable[int] = range(50),
    weight_decays: Sequence[float] = WEIGHT_DECAYS,
    steps: int = 300,
    device: str | torch.device | None = None,
    runs_per_batch: int | None = None,
    subsets: dict[tuple[float, int], np.ndarray] | None = None,
    model: str = "",
    task: str = "",
    metadata: Mapping[str, Any] | None = None,
    tol: float = 1e-4,
    solved_runs: Mapping[tuple[float, int], Mapping[str, Any]] | None = None,
) -> dict:
    """Table 2 linear evaluation: all (fraction x seed x weight decay) heads solved in batches.

    Args:
        *_embeddings: `(num_examples, dim)` frozen utterance embeddings of each split.
        *_labels: `(num_examples,)` task labels (any dtype).
        fractions, seeds: label fractions of the train split and one stratified subset per seed.
        weight_decays: the L2 grid; the best one on validation is kept per run.
        steps: L-BFGS iterations at most per batch (heads stop earlier once converged).
        device: where to train; default CUDA when available.
        runs_per_batch: solve at most this many runs (label subsets) per batch (default: all runs of one
            subset size that fit in the solver's `MEMORY_BUDGET_BYTES` of state).
        subsets: precomputed `{(fraction, seed): train indices}` (e.g. `load_fraction_indices`).
        model, task: recorded in the result.
        metadata: extra top-level keys of the result, e.g. `{"dataset": ..., "dataset_config": ..., "split": "test"}`
            (the Hub model card needs "dataset").
        tol: a head has converged when the max absolute entry of its gradient is <= tol (sklearn's default).
        solved_runs: `{(fraction, seed): {"indices", "test", "validation", "weight_decay"}}` of runs solved before on
            these embeddings with the same weight decays, steps and tol (`probe_layers`' screening run); a run whose
            label subset equals its "indices" takes that result instead of being solved again.

    Returns:
        A probe result: per fraction mean/std of test top-1 over seeds, every run, the chosen
        weight decay and the index lists.
    """
    if len(weight_decays) == 0 or min(weight_decays) < 0:
        raise ValueError(
            f"weight_decays must be a non-empty list of L2 coefficients >= 0, got {list(weight_decays)}; "
            f"e.g. {list(WEIGHT_DECAYS)}."
        )
    x_train, y_train, x_val, y_val, x_test, y_test, num_classes, subsets = prepare_splits(
        train_embeddings,
        train_labels,
        validation_embeddings,
        validation_labels,
        test_embeddings,
        test_labels,
        fractions,
        seeds,
        subsets,
    )
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    x_train_t, x_val_t, x_test_t = (torch.as_tensor(x, device=device) for x in (x_train, x_val, x_test))
    y_train_t, y_val_t, y_test_t = (
        torch.as_tensor(y, dtype=torch.long, device=device) for y in (y_train, y_val, y_test)
    )
    known = {
        run: entry
        for run, entry in (solved_runs or {}).items()
        if run in subsets and np.array_equal(np.asarray(entry["indices"]), subsets[run])
    }
    runs = [run for run in subsets if run not in known]
    # identical subsets (every seed at fraction 1.0) are trained once and their results shared
    first_with_subset: dict[bytes, int] = {}
    source = [first_with_subset.setdefault(subsets[run].tobytes(), r) for r, run in enumerate(runs)]
    distinct = sorted(set(source))
    # runs with equal subset sizes (one fraction) share a batch: their rows stack into one tensor
    by_size = sorted(distinct, key=lambda r: len(subsets[runs[r]]))
    columns = len(weight_decays) * (1 if num_classes == 2 else num_classes)
    batches = []
    for size, group in itertools.groupby(by_size, key=lambda r: len(subsets[runs[r]])):
        group = list(group)
        chunk = runs_per_batch or runs_that_fit(size, x_train.shape[1], columns, HISTORY)
        batches += [group[i : i + chunk] for i in range(0, len(group), chunk)]
    val = np.zeros((len(runs), len(weight_decays)))
    test = np.zeros_like(val)
    iterations = []
    largest = max([len(batch) * len(subsets[runs[batch[0]]]) for batch in batches], default=0)
    largest *= (x_train.shape[1] + 1) * columns
    with solver_threads(device, largest):  # the accuracy einsums are as small as the solver's matmuls
        for batch in tqdm(batches, desc="linear probes", disable=len(batches) < 3):
            index = torch.as_tensor(np.stack([subsets[runs[r]] for r in batch]), device=device)
            w, b, used = fit_logistic_heads(
                x_train_t[index], y_train_t[index], weight_decays, num_classes, steps, tol, HISTORY
            )
            val[batch] = head_accuracy(w, b, x_val_t, y_val_t).cpu().numpy()
            test[batch] = head_accuracy(w, b, x_test_t, y_test_t).cpu().numpy()
            iterations.append(used)
    val, test = val[source], test[source]
    position = {run: r for r, run in enumerate(runs)}
    chosen = {}
    for run in subsets:  # in the subsets' order, solved or known
        if run in known:
            chosen[run] = {name: known[run][name] for name in ("test", "validation", "weight_decay")}
            continue
        r = position[run]
        best = int(np.argmax(val[r]))
        chosen[run] = {
            "test": float(test[r, best]),
            "validation": float(val[r, best]),
            "weight_decay": weight_decays[best],
        }
    extra = {
        "model": model,
        "task": task,
        "num_classes": num_classes,
        "num_train": len(x_train),
        "num_validation": len(x_val),
        "num_test": len(x_test),
        "probe": {
            "optimizer": "lbfgs_batched",
            "steps": steps,
            "tol": tol,
            "iterations": max(iterations, default=0),
            "weight_decays": list(weight_decays),
        },
        **dict(metadata or {}),
    }
    return summarise_runs(subsets, chosen, len(x_train), extra)


def probe_layers(
    layer_embeddings: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    train_labels: Sequence,
    validation_labels: Sequence,
    test_labels: Sequence,
    layer_names: Sequence[str | int] | None = None,
    **probe_kwargs: Any,
) -> dict:
    """The layer chosen on validation (as SUPERB chooses layers, never on test), then the whole protocol on it.

    Every layer is probed once at the largest label fraction with the first seed (one run, the same label subset for
    every layer); the layer with the best validation top-1 there gets every fraction and seed, reusing that run for
    every run of the protocol with its label subset (at fraction 1.0: every seed's).

    Args:
        layer_embeddings: per layer, the `(train, validation, test)` embeddings (`extract_layer_embeddings` per split).
        *_labels: the task labels of each split.
        layer_names: how each layer is recorded (default: its index; 0 = stem).
        probe_kwargs: `linear_probe` arguments (fractions, seeds, subsets, model, task, ...).

    Returns:
        The chosen layer's probe result, plus `"layer"` (its name), `"layers"`: per layer, the validation and test
        top-1 of the selection run keyed by its fraction, so the report can show accuracy over depth, and
        `"layer_selection"`: that run's fraction and seed.
    """
    if not layer_embeddings:
        raise ValueError(
            "layer_embeddings is empty; pass (train, validation, test) embeddings for at least one layer."
        )
    names = list(range(len(layer_embeddings))) if layer_names is None else list(layer_names)
    if len(names) != len(layer_embeddings):
        raise ValueError(f"got {len(names)} layer_names for {len(layer_embeddings)} layers.")
    fractions = tuple(probe_kwargs.pop("fractions", PAPER_FRACTIONS))
    seeds = list(probe_kwargs.pop("seeds", range(50)))
    if not fractions or not seeds:
        raise ValueError(f"fractions={fractions} and seeds={seeds} must not be empty.")
    selection = {"fractions": (max(fractions),), "seeds": seeds[:1]}
    screening = dict(probe_kwargs)
    if probe_kwargs.get("subsets") is not None:
        screening["subsets"] = {(max(fractions), seeds[0]): probe_kwargs["subsets"][max(fractions), seeds[0]]}
    results = []
    for train, validation, test in layer_embeddings:
        result = linear_probe(
            train, train_labels, validation, validation_labels, test, test_labels, **selection, **screening
        )
        screening["subsets"] = fraction_indices_from_json(result["index_lists"])
        results.append(result)
    key = f"{max(fractions):g}"
    summaries = [
        {
            "layer": name,
            "validation": {key: float(np.mean(r["fractions"][key]["validation_accuracy"]))},
            "test": {key: r["fractions"][key]["mean"]},
        }
        for name, r in zip(names, results)
    ]
    best = int(np.argmax([summary["validation"][key] for summary in summaries]))
    chosen = results[best]
    if len(fractions) > 1 or len(seeds) > 1:
        train, validation, test = layer_embeddings[best]
        entry = chosen["fractions"][key]
        screened = {
            "indices": screening["subsets"][max(fractions), seeds[0]],
            "test": entry["runs"][0],
            "validation": entry["validation_accuracy"][0],
            "weight_decay": entry["weight_decays"][0],
        }
        kwargs = {**probe_kwargs, "fractions": fractions, "seeds": seeds}
        kwargs["solved_runs"] = {(max(fractions), seed): screened for seed in seeds}
        screening_iterations = chosen["probe"]["iterations"]
        chosen = linear_probe(train, train_labels, validation, validation_labels, test, test_labels, **kwargs)
        chosen["probe"]["iterations"] = max(chosen["probe"]["iterations"], screening_iterations)
    selected = {"fraction": max(fractions), "seed": seeds[0]}
    return {**chosen, "layer": names[best], "layers": summaries, "layer_selection": selected}
