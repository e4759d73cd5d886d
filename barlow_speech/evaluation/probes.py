"""Linear evaluation at label fractions (paper Table 2).

Frozen utterance embeddings are standardised with the statistics of the whole train split, then a
multinomial logistic regression is trained on a stratified label fraction of it. Every
(fraction x seed x learning rate x weight decay) head is trained at once: the weights of all heads form
one tensor `(heads, dim, classes)`, each head sees its own subset through a sample mask, and full-batch
Adam updates them together on the device. Heads never interact (the loss is a sum of per-head losses and
Adam is per-coordinate), so a head's result is the one it would reach alone. For each (fraction, seed)
the learning rate and weight decay with the best validation accuracy are kept and their test top-1
accuracy reported (DESIGN.md, "Probe protocol pitfalls": the probe's learning rate matters).

`sklearn_probe_reference` runs the same protocol as a Python loop over scikit-learn fits; tests and
`benchmarks/probes.py` compare against it. `logmel_stats_features` gives the log-mel baseline features.
Result layout: see `barlow_speech.evaluation.report`.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm
from transformers.audio_utils import mel_filter_bank

from ..data.fractions import PAPER_FRACTIONS, fraction_indices_to_json, label_fraction_indices

logger = logging.getLogger(__name__)

PROBE_SCHEMA = "barlow_speech.probe/v1"
LEARNING_RATES = (1e-3, 1e-2, 1e-1)  # log grid for full-batch Adam on standardised features
WEIGHT_DECAYS = (0.0, 1e-4, 1e-3, 1e-2)  # L2 coefficient on the mean cross-entropy


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Z-score every array with the mean/std of `train` `(num_examples, dim)` (constant dims are centred only)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [((x - mean) / std).astype(np.float32) for x in (train, *others)]


def _encode_labels(train_labels, *others) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Integer codes 0..C-1 from the train classes; validation/test classes unseen in train become -1."""
    classes, train_codes = np.unique(np.asarray(train_labels), return_inverse=True)
    encoded = []
    for labels in others:
        labels = np.asarray(labels)
        position = np.clip(np.searchsorted(classes, labels), 0, len(classes) - 1)
        codes = np.where(classes[position] == labels, position, -1)
        if (codes < 0).any():
            logger.warning("%d evaluation labels belong to classes absent from the train split; they count as errors.", int((codes < 0).sum()))
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


def train_linear_heads(
    x_runs: torch.Tensor,
    y_runs: torch.Tensor,
    learning_rates: Sequence[float],
    weight_decays: Sequence[float],
    num_classes: int,
    steps: int = 300,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-batch Adam on many independent multinomial logistic-regression heads at once.

    Each run (one label subset) gets one head per (learning rate, weight decay); head (r, l, k) minimises
    mean_i CE(x_runs[r, i] W + b, y_runs[r, i]) + weight_decays[k] / 2 * ||W||^2.

    Args:
        x_runs: `(runs, subset_size, dim)` standardised features of each run's subset.
        y_runs: `(runs, subset_size)` int64 class codes.
        learning_rates: L Adam learning rates (one parameter group each: stock `torch.optim.Adam`).
        weight_decays: K L2 coefficients.
        num_classes: C.
        steps: full-batch Adam steps.

    Returns:
        weights `(runs, L, dim, K, C)` and biases `(runs, L, K, C)`.
    """
    runs, _, dim = x_runs.shape
    k, c = len(weight_decays), num_classes
    decay = torch.as_tensor(weight_decays, dtype=x_runs.dtype, device=x_runs.device).view(1, 1, k, 1)
    targets = y_runs[:, :, None, None].expand(-1, -1, k, 1)
    weights = [torch.zeros(runs, dim, k, c, device=x_runs.device, requires_grad=True) for _ in learning_rates]
    biases = [torch.zeros(runs, 1, k * c, device=x_runs.device, requires_grad=True) for _ in learning_rates]
    optimizer = torch.optim.Adam([{"params": [w, b], "lr": float(lr)} for w, b, lr in zip(weights, biases, learning_rates)])
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = x_runs.new_zeros(())
        for w, b in zip(weights, biases):
            logits = torch.baddbmm(b, x_runs, w.view(runs, dim, k * c)).view(runs, -1, k, c)
            cross_entropy = -torch.log_softmax(logits, dim=-1).gather(-1, targets)
            loss = loss + cross_entropy.mean(dim=1).sum() + 0.5 * (decay * w.square()).sum()
        loss.backward()
        optimizer.step()
    return torch.stack(weights, 1).detach(), torch.stack(biases, 1).detach().view(runs, len(learning_rates), k, c)


@torch.no_grad()
def head_accuracy(weights: torch.Tensor, biases: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Top-1 accuracy `(runs, L, K)` of heads `(runs, L, dim, K, C)` on features `(n, dim)` and codes `(n,)`."""
    logits = torch.einsum("nd,rldkc->rlknc", x, weights) + biases[..., None, :]
    return (logits.argmax(dim=-1) == y).float().mean(dim=-1)


def _summarise(
    subsets: dict[tuple[float, int], np.ndarray],
    chosen: dict[tuple[float, int], dict],
    num_train: int,
    extra: dict,
) -> dict:
    """Assemble the probe result (schema in `barlow_speech.evaluation.report`)."""
    fractions: dict[str, dict] = {}
    for (fraction, seed), run in chosen.items():
        entry = fractions.setdefault(f"{fraction:g}", {"fraction": fraction, "seeds": [], "runs": [], "learning_rates": [], "weight_decays": [], "validation_accuracy": []})
        entry["seeds"].append(seed)
        entry["runs"].append(run["test"])
        entry["learning_rates"].append(run["learning_rate"])
        entry["weight_decays"].append(run["weight_decay"])
        entry["validation_accuracy"].append(run["validation"])
    for entry in fractions.values():
        entry["mean"], entry["std"] = float(np.mean(entry["runs"])), float(np.std(entry["runs"]))
    return {"schema": PROBE_SCHEMA, "metric": "top1_accuracy", **extra, "fractions": fractions, "index_lists": fraction_indices_to_json(subsets, num_train)}


def _prepare(train_embeddings, train_labels, validation_embeddings, validation_labels, test_embeddings, test_labels, fractions, seeds, subsets):
    x_train = _check_split("train", train_embeddings, train_labels)
    x_val = _check_split("validation", validation_embeddings, validation_labels)
    x_test = _check_split("test", test_embeddings, test_labels)
    if not x_train.shape[1] == x_val.shape[1] == x_test.shape[1]:
        raise ValueError(f"train/validation/test embeddings differ in width: {x_train.shape[1]}, {x_val.shape[1]}, {x_test.shape[1]}.")
    y_train, (y_val, y_test), num_classes = _encode_labels(train_labels, validation_labels, test_labels)
    if num_classes < 2:
        raise ValueError(f"a linear probe needs >= 2 classes in the train split, got {num_classes}.")
    if subsets is None:
        subsets = label_fraction_indices(y_train, fractions, seeds)
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
    learning_rates: Sequence[float] = LEARNING_RATES,
    weight_decays: Sequence[float] = WEIGHT_DECAYS,
    steps: int = 300,
    device: str | torch.device | None = None,
    runs_per_batch: int | None = None,
    subsets: dict[tuple[float, int], np.ndarray] | None = None,
    model: str = "",
    task: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> dict:
    """Table 2 linear evaluation: all (fraction x seed x learning rate x weight decay) heads in one batch.

    Args:
        *_embeddings: `(num_examples, dim)` frozen utterance embeddings of each split.
        *_labels: `(num_examples,)` task labels (any dtype).
        fractions, seeds: label fractions of the train split and one stratified subset per seed.
        learning_rates, weight_decays: the log grid; the best pair on validation is kept per run.
        steps: full-batch Adam steps.
        device: where to train; default CUDA when available.
        runs_per_batch: train at most this many runs (label subsets) per batch to bound memory (default: all
            runs of one fraction at once; memory ~ runs x subset_size x dim floats).
        subsets: precomputed `{(fraction, seed): train indices}` (e.g. `load_fraction_indices`).
        model, task: recorded in the result.
        metadata: extra top-level keys of the result, e.g. `{"dataset": ..., "dataset_config": ..., "split": "test"}`
            (the Hub model card needs "dataset").

    Returns:
        A probe result: per fraction mean/std of test top-1 over seeds, every run, the chosen
        hyper-parameters and the index lists.
    """
    x_train, y_train, x_val, y_val, x_test, y_test, num_classes, subsets = _prepare(
        train_embeddings, train_labels, validation_embeddings, validation_labels, test_embeddings, test_labels, fractions, seeds, subsets
    )
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    x_train_t, x_val_t, x_test_t = (torch.as_tensor(x, device=device) for x in (x_train, x_val, x_test))
    y_train_t, y_val_t, y_test_t = (torch.as_tensor(y, dtype=torch.long, device=device) for y in (y_train, y_val, y_test))
    runs = list(subsets)
    grid = list(itertools.product(learning_rates, weight_decays))
    # identical subsets (every seed at fraction 1.0) are trained once and their results shared
    first_with_subset: dict[bytes, int] = {}
    source = [first_with_subset.setdefault(subsets[run].tobytes(), r) for r, run in enumerate(runs)]
    distinct = sorted(set(source))
    # runs with equal subset sizes (one fraction) share a batch: their rows stack into one tensor
    by_size = sorted(distinct, key=lambda r: len(subsets[runs[r]]))
    batches = [list(group) for _, group in itertools.groupby(by_size, key=lambda r: len(subsets[runs[r]]))]
    if runs_per_batch:
        batches = [b[i : i + runs_per_batch] for b in batches for i in range(0, len(b), runs_per_batch)]
    val = np.zeros((len(runs), len(learning_rates), len(weight_decays)))
    test = np.zeros_like(val)
    for batch in tqdm(batches, desc="linear probes", disable=len(batches) < 3):
        index = torch.as_tensor(np.stack([subsets[runs[r]] for r in batch]), device=device)
        w, b = train_linear_heads(x_train_t[index], y_train_t[index], learning_rates, weight_decays, num_classes, steps)
        val[batch] = head_accuracy(w, b, x_val_t, y_val_t).cpu().numpy()
        test[batch] = head_accuracy(w, b, x_test_t, y_test_t).cpu().numpy()
    val, test = val[source].reshape(len(runs), -1), test[source].reshape(len(runs), -1)  # flattened in `grid` order
    chosen = {}
    for r, run in enumerate(runs):
        best = int(np.argmax(val[r]))
        chosen[run] = {"test": float(test[r, best]), "validation": float(val[r, best]), "learning_rate": grid[best][0], "weight_decay": grid[best][1]}
    extra = {
        "model": model, "task": task, "num_classes": num_classes, "num_train": len(x_train), "num_validation": len(x_val),
        "num_test": len(x_test), "probe": {"optimizer": "adam_full_batch", "steps": steps, "learning_rates": list(learning_rates), "weight_decays": list(weight_decays)},
        **dict(metadata or {}),
    }
    return _summarise(subsets, chosen, len(x_train), extra)


def sklearn_probe_reference(
    train_embeddings: np.ndarray,
    train_labels: Sequence,
    validation_embeddings: np.ndarray,
    validation_labels: Sequence,
    test_embeddings: np.ndarray,
    test_labels: Sequence,
    fractions: Iterable[float] = PAPER_FRACTIONS,
    seeds: Iterable[int] = range(50),
    weight_decays: Sequence[float] = WEIGHT_DECAYS,
    max_iter: int = 1000,
    subsets: dict[tuple[float, int], np.ndarray] | None = None,
) -> dict:
    """The same protocol as a loop of `sklearn.linear_model.LogisticRegression` fits (tests/benchmarks only).

    A weight decay `lambda` on the mean loss of `n` examples is sklearn's `C = 1 / (lambda * n)`.
    """
    x_train, y_train, x_val, y_val, x_test, y_test, num_classes, subsets = _prepare(
        train_embeddings, train_labels, validation_embeddings, validation_labels, test_embeddings, test_labels, fractions, seeds, subsets
    )
    chosen = {}
    for run, idx in subsets.items():
        best = None
        for decay in weight_decays:
            c = np.inf if decay == 0 else 1.0 / (decay * len(idx))
            classifier = LogisticRegression(C=c, max_iter=max_iter).fit(x_train[idx], y_train[idx])
            val = float(np.mean(classifier.predict(x_val) == y_val))
            if best is None or val > best["validation"]:
                best = {"validation": val, "test": float(np.mean(classifier.predict(x_test) == y_test)), "learning_rate": None, "weight_decay": decay}
        chosen[run] = best
    extra = {"num_classes": num_classes, "num_train": len(x_train), "probe": {"optimizer": "sklearn_lbfgs", "max_iter": max_iter, "weight_decays": list(weight_decays)}}
    return _summarise(subsets, chosen, len(x_train), extra)


def logmel_stats_features(
    waveforms: Sequence[np.ndarray],
    sampling_rate: int = 16_000,
    n_mels: int = 64,
    n_fft: int = 400,
    hop_length: int = 160,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Log-mel baseline: per clip, the mean and std over frames of a log-mel spectrogram.

    Args:
        waveforms: mono float clips, each `(samples,)`, at `sampling_rate`.
        n_mels, n_fft, hop_length: HTK mel filters over a Hann-window STFT (defaults: 25 ms / 10 ms at 16 kHz).

    Returns:
        `(num_clips, 2 * n_mels)` float32: `[mean_1..mean_n_mels, std_1..std_n_mels]`.
    """
    if len(waveforms) == 0:
        raise ValueError("waveforms is empty; pass at least one clip.")
    lengths = [len(np.asarray(w).reshape(-1)) for w in waveforms]
    if any(np.asarray(w).ndim != 1 for w in waveforms) or min(lengths) < n_fft // 2 + 1:
        raise ValueError(f"every waveform must be a mono 1-D array of >= {n_fft // 2 + 1} samples; got lengths {min(lengths)}..{max(lengths)}.")
    filters = torch.as_tensor(
        mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sampling_rate / 2, sampling_rate, mel_scale="htk"), dtype=torch.float32, device=device
    )
    window = torch.hann_window(n_fft, device=device)
    features = []
    for start in tqdm(range(0, len(waveforms), batch_size), desc="log-mel features", disable=len(waveforms) <= batch_size):
        clips = waveforms[start : start + batch_size]
        batch = torch.zeros(len(clips), max(len(c) for c in clips), device=device)
        for i, clip in enumerate(clips):
            batch[i, : len(clip)] = torch.as_tensor(np.asarray(clip, dtype=np.float32), device=device)
        power = torch.stft(batch, n_fft, hop_length, window=window, center=True, return_complex=True).abs().square()
        log_mel = torch.log(torch.einsum("bft,fm->bmt", power, filters) + 1e-6)
        frames = torch.tensor([1 + (len(c) - n_fft // 2) // hop_length for c in clips], device=device)  # windows inside the clip
        valid = (torch.arange(log_mel.shape[-1], device=device) < frames[:, None]).float()[:, None, :]
        mean = (log_mel * valid).sum(-1) / valid.sum(-1)
        std = (((log_mel - mean[..., None]) ** 2 * valid).sum(-1) / valid.sum(-1)).sqrt()
        features.append(torch.cat([mean, std], dim=1).cpu())
    return torch.cat(features).numpy()
