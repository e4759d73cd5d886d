"""Linear evaluation at label fractions (paper Table 2).

Frozen utterance embeddings are standardised with the statistics of the whole train split, then a
multinomial logistic regression is trained on a stratified label fraction of it. A head per (fraction x
seed x weight decay) minimises the mean cross-entropy + weight_decay / 2 * ||W||^2, the objective of
sklearn's `LogisticRegression(C=1 / (weight_decay * n))` (binomial form for two classes). Runs of one
subset size are stacked into one tensor `(runs, subset_size, dim)` and all their heads are solved together
on the device by a batched L-BFGS (`fit_logistic_heads`) in which every head keeps its own memory, line
search and stopping test, so a head's result is the one it would reach alone; identical subsets (every
seed at fraction 1.0) are solved once. A subset much smaller than the embedding's width is solved in the row space
of its features (an exact change of coordinates, see `fit_logistic_heads`): the solver's matmuls shrink from dim
to subset-size columns. For each (fraction, seed) the weight decay with the best validation
accuracy is kept and its test top-1 accuracy reported.

There is no learning-rate axis: with L2 regularisation the objective is strictly convex, its optimum is
unique and the solver reaches it (to sklearn's gradient tolerance) whatever the step sizes. The learning
rate matters for probes trained by SGD/Adam for a fixed budget, where it acts as a hidden regulariser; here
the weight-decay grid is that regulariser, explicitly.

`benchmarks/sklearn_probe.py` runs the same protocol as a Python loop over scikit-learn fits; tests and
`benchmarks/probes.py` compare against it. `logmel_stats_features` gives the log-mel baseline features.
Result layout: see `barlow_speech.results`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.audio_utils import mel_filter_bank

from ..data.fractions import (
    PAPER_FRACTIONS,
    check_fraction_indices,
    fraction_indices_from_json,
    fraction_indices_to_json,
    label_fraction_indices,
)
from ..feature_extraction_barlow import SAMPLING_RATE
from ..results import PROBE_SCHEMA

logger = logging.getLogger(__name__)

# L2 coefficient on the mean cross-entropy (sklearn's C = 1 / (decay * n)); no 0: an unregularised head on
# separable features has no optimum, so its accuracy would depend on where the solver stops
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1)
_ARMIJO = 1e-4  # sufficient-decrease constant of the line search (Nocedal & Wright, Sec. 3.1)
_MAX_LINE_SEARCH = 30  # step halvings before a head is declared stalled
_HISTORY = 10  # L-BFGS correction pairs per head (scipy's and sklearn's default)
MEMORY_BUDGET_BYTES = 4 * 2**30  # solver state of one batch of runs, see `_runs_per_batch`
# Below this many multiply-adds per solver matmul, CPU solves run on one thread: each iteration is a handful of
# small ops, and intra-op threads cost more in synchronisation than they save (2 shared cores: a 22k-element
# `exp` took 12 ms on 2 threads and 0.02 ms on 1; the default benchmark ran 12x faster on 1 thread).
SINGLE_THREAD_WORK = 2**26
# Subsets of at most this fraction of the embedding's width are solved in their row space (`fit_logistic_heads`): the
# demo's probes ran 2.5-5x faster at 0.1-0.2 and no faster at 0.4 (QR, and the stopping bound's extra iterations).
ROW_SPACE_MAX_RATIO = 0.25


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


def _objective(
    theta: torch.Tensor, x: torch.Tensor, targets: torch.Tensor, decay: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head L2-regularised mean cross-entropy and its gradient.

    Args:
        theta: `(runs, dim + 1, K, C')` weights with the bias as the last row; C' = C, or 1 for a binary task
            (one logit against a fixed 0, sklearn's binomial parameterisation).
        x: `(runs, n, dim + 1)` features with a trailing column of ones.
        targets: `(runs, n, 1, C)` one-hot class codes.
        decay: `(1, 1, K, 1)` L2 coefficients (the bias row is not penalised).

    Returns:
        loss `(runs, K)` and gradient shaped like `theta`.
    """
    runs, n, width = x.shape
    logits = torch.bmm(x, theta.reshape(runs, width, -1)).view(runs, n, *theta.shape[2:])
    if targets.shape[-1] != theta.shape[-1]:  # binary: logits (0, z)
        logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)
    log_probs = torch.log_softmax(logits, dim=-1)
    weights = theta[:, :-1]
    loss = -(log_probs * targets).sum(-1).mean(1) + 0.5 * decay[0, 0, :, 0] * weights.square().sum((1, 3))
    residual = (log_probs.exp() - targets)[..., -theta.shape[-1] :]  # d CE / d logits, (runs, n, K, C')
    gradient = torch.bmm(x.transpose(1, 2), residual.reshape(runs, n, -1)).view_as(theta) / n
    gradient[:, :-1] += decay * weights
    return loss, gradient


def _head_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Inner product per head of two `(runs, dim + 1, K, C')` tensors -> `(runs, K)`."""
    return (a * b).sum((1, 3))


def _per_head(values: torch.Tensor) -> torch.Tensor:
    """`(runs, K)` -> `(runs, 1, K, 1)`, broadcastable over a head's parameters."""
    return values[:, None, :, None]


def _two_loop(
    gradient: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], scale: torch.Tensor
) -> torch.Tensor:
    """L-BFGS two-loop recursion per head: H gradient from the correction pairs (s, y, 1 / y.s) and H0 = scale * I."""
    q, alphas = gradient.clone(), []
    for s, y, rho in reversed(pairs):
        alpha = rho * _head_dot(s, q)
        q -= _per_head(alpha) * y
        alphas.append(alpha)
    q *= _per_head(scale)
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        q += _per_head(alpha - rho * _head_dot(y, q)) * s
    return q


@torch.no_grad()
def fit_logistic_heads(
    x_runs: torch.Tensor,
    y_runs: torch.Tensor,
    weight_decays: Sequence[float],
    num_classes: int,
    max_iter: int = 300,
    tol: float = 1e-4,
    history: int = 10,
    row_space: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Batched L-BFGS on many independent multinomial logistic-regression heads at once.

    Head (r, k) minimises mean_i CE(x_runs[r, i] W + b, y_runs[r, i]) + weight_decays[k] / 2 * ||W||^2,
    sklearn's `LogisticRegression(C=1 / (weight_decays[k] * n))` objective (a binary task uses its
    binomial form: one logit against 0). Every head keeps its own L-BFGS memory, step size (backtracking
    Armijo line search) and stopping test (max |gradient| <= `tol`, sklearn's `gtol`); converged heads
    stop moving while the others go on, so a head's result is the one it would reach alone.

    When subset_size <= `ROW_SPACE_MAX_RATIO` x dim, each run is solved in the row space of its features: with
    x = R^T Q^T (QR of x^T, Q `(dim, subset_size)` orthonormal) and W = Q B, the logits x W = R^T B and the penalty
    ||W||^2 = ||B||^2, and every L-BFGS iterate from W = 0 stays in that space (each gradient x^T residual + decay W
    does; representer theorem). The iterates and the first step (scaled by the gradient's 1-norm in the original
    coordinates) are those of the solve in dim coordinates (in exact arithmetic), at about subset_size / dim of its
    cost per iteration; the stopping test bounds max |gradient| in the original coordinates (`_converged`), so a head
    may take a few more iterations, never fewer.

    Args:
        x_runs: `(runs, subset_size, dim)` standardised features of each run's subset.
        y_runs: `(runs, subset_size)` int64 class codes.
        weight_decays: K L2 coefficients (0 = unregularised; then only `max_iter` bounds the fit).
        num_classes: C.
        max_iter: L-BFGS iterations at most.
        tol: stop a head once the max absolute entry of its gradient is <= tol.
        history: L-BFGS memory (correction pairs kept per head).
        row_space: solve subsets much smaller than dim in their row space (False: always in dim coordinates, the
            reference of `benchmarks/probe_row_space.py`).

    Returns:
        weights `(runs, dim, K, C)`, biases `(runs, K, C)` and the number of iterations run.
    """
    runs, n, dim = x_runs.shape
    columns = len(weight_decays) * (1 if num_classes == 2 else num_classes)
    basis = None
    if row_space and n <= ROW_SPACE_MAX_RATIO * dim:  # an orthonormal basis (runs, dim, n), features (runs, n, n)
        basis, triangle = torch.linalg.qr(x_runs.transpose(1, 2))
        x_runs = triangle.transpose(1, 2)
    with _solver_threads(x_runs.device, runs * n * (x_runs.shape[2] + 1) * columns):
        theta, iterations = _lbfgs(x_runs, y_runs, weight_decays, num_classes, max_iter, tol, history, basis)
        if basis is not None:  # back to dim coordinates: W = Q B
            theta = _in_original_coordinates(theta, basis)
    if theta.shape[-1] == 1:  # binary: expand (0, z) into two class columns
        theta = torch.cat([torch.zeros_like(theta), theta], dim=-1)
    return theta[:, :-1], theta[:, -1], iterations


def _in_original_coordinates(values: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Parameters or a gradient `(runs, r + 1, K, C')` in the row-space basis `(runs, dim, r)` -> `(runs, dim + 1, K,
    C')`: the weight rows mapped by Q, the bias row kept."""
    runs, _, *head = values.shape
    weights = torch.bmm(basis, values[:, :-1].flatten(2)).view(runs, basis.shape[1], *head)
    return torch.cat([weights, values[:, -1:]], dim=1)


def _converged(gradient: torch.Tensor, tol: float, leverage: torch.Tensor | None) -> torch.Tensor:
    """`(runs, K)`: max |entry| of each head's gradient in the original coordinates <= tol (sklearn's gtol test).

    In row-space coordinates the weight rows of the original gradient are Q g, so |(Q g)_ic| <= ||Q_i|| ||g_:c||
    with `leverage` `(runs,)` the largest row norm of each basis Q: the test uses that bound (cheap: no mapping
    back), so a head never stops before the test in dim coordinates would stop it, and may go on a few iterations
    closer to the optimum."""
    if leverage is None:
        return gradient.abs().amax((1, 3)) <= tol
    bound = leverage[:, None] * gradient[:, :-1].square().sum(1).sqrt().amax(-1)
    return torch.maximum(bound, gradient[:, -1].abs().amax(-1)) <= tol


def _lbfgs(
    x_runs: torch.Tensor,
    y_runs: torch.Tensor,
    weight_decays: Sequence[float],
    num_classes: int,
    max_iter: int,
    tol: float,
    history: int,
    basis: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """The solver of `fit_logistic_heads`: parameters `(runs, width + 1, K, C')` (bias last) and iterations run.

    `basis` `(runs, dim, width)`: x_runs are row-space coordinates (see `fit_logistic_heads`); the first step and
    the stopping test then use the gradient in the original dim coordinates."""
    runs, n, dim = x_runs.shape
    k = len(weight_decays)
    x = torch.cat([x_runs, x_runs.new_ones(runs, n, 1)], dim=2)
    targets = torch.nn.functional.one_hot(y_runs, num_classes).to(x.dtype)[:, :, None, :]
    decay = torch.as_tensor(weight_decays, dtype=x.dtype, device=x.device).view(1, 1, k, 1)
    theta = x.new_zeros(runs, dim + 1, k, 1 if num_classes == 2 else num_classes)
    loss, gradient = _objective(theta, x, targets, decay)
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1 / y.s) per head, 0 where skipped
    original = gradient if basis is None else _in_original_coordinates(gradient, basis)
    leverage = None if basis is None else basis.square().sum(2).amax(1).sqrt()
    scale = 1.0 / original.abs().sum((1, 3)).clamp_min(1.0)  # first step: scaled steepest descent
    stalled = torch.zeros_like(loss, dtype=torch.bool)  # heads whose line search found no decrease
    iteration = 0
    for iteration in range(1, max_iter + 1):
        active = ~_converged(gradient, tol, leverage) & ~stalled
        if not bool(active.any()):
            iteration -= 1
            break
        direction = -_two_loop(gradient, pairs, scale)
        slope = _head_dot(gradient, direction)
        direction = torch.where(_per_head(slope < 0), direction, -gradient)  # safeguard: always a descent direction
        slope = torch.where(slope < 0, slope, -_head_dot(gradient, gradient))
        step = active.to(x.dtype)
        for _ in range(_MAX_LINE_SEARCH):  # halve each moving head's step until its loss decreases enough (Armijo)
            candidate = theta + _per_head(step) * direction
            new_loss, new_gradient = _objective(candidate, x, targets, decay)
            failed = (step > 0) & (new_loss > loss + _ARMIJO * step * slope)
            if not bool(failed.any()):
                break
            step = torch.where(failed, step * 0.5, step)
        else:
            stalled |= failed
            step = torch.where(failed, torch.zeros_like(step), step)
            candidate = theta + _per_head(step) * direction
            new_loss, new_gradient = _objective(candidate, x, targets, decay)
        s, y = candidate - theta, new_gradient - gradient
        curvature, y_norm = _head_dot(s, y), _head_dot(y, y)
        valid = curvature > 1e-10 * y_norm  # skip pairs of heads that did not move (or lack curvature)
        rho = torch.where(valid, 1.0 / curvature.clamp_min(1e-30), torch.zeros_like(curvature))
        pairs = (pairs + [(s, y, rho)])[-history:]
        scale = torch.where(valid, curvature / y_norm.clamp_min(1e-30), scale)
        theta, loss, gradient = candidate, new_loss, new_gradient
    return theta, iteration


@torch.no_grad()
def head_accuracy(weights: torch.Tensor, biases: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Top-1 accuracy `(runs, K)` of heads `(runs, dim, K, C)` (biases `(runs, K, C)`) on features `(n, dim)` and
    codes `(n,)`."""
    logits = torch.einsum("nd,rdkc->rknc", x, weights) + biases[..., None, :]
    return (logits.argmax(dim=-1) == y).float().mean(dim=-1)


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


@contextlib.contextmanager
def _solver_threads(device: torch.device, work: int, single_thread_below: int = SINGLE_THREAD_WORK):
    """Run small CPU solves (< `single_thread_below` multiply-adds per matmul) on one torch thread, then restore."""
    if device.type != "cpu" or work >= single_thread_below:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _runs_per_batch(subset_size: int, dim: int, columns: int, history: int, budget: int = MEMORY_BUDGET_BYTES) -> int:
    """How many runs of one subset size fit in `budget` bytes of float32 solver state.

    Per run: the subset's features, logits and residuals of its `columns` (K x C') outputs, and the parameters,
    gradient, line-search candidate, direction and 2 x `history` correction pairs of all its heads (plus the
    row-space basis and its QR workspace when the run is solved in its row space).
    """
    parameters = (dim + 1) * columns
    per_run = 4 * (subset_size * (dim + 1) + 3 * subset_size * columns + (2 * history + 8) * parameters)
    if subset_size <= ROW_SPACE_MAX_RATIO * dim:  # the row-space basis and its QR workspace
        per_run += 4 * 2 * subset_size * dim
    return max(1, budget // per_run)


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
            subset size that fit in `MEMORY_BUDGET_BYTES` of solver state).
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
        chunk = runs_per_batch or _runs_per_batch(size, x_train.shape[1], columns, _HISTORY)
        batches += [group[i : i + chunk] for i in range(0, len(group), chunk)]
    val = np.zeros((len(runs), len(weight_decays)))
    test = np.zeros_like(val)
    iterations = []
    largest = max([len(batch) * len(subsets[runs[batch[0]]]) for batch in batches], default=0)
    largest *= (x_train.shape[1] + 1) * columns
    with _solver_threads(device, largest):  # the accuracy einsums are as small as the solver's matmuls
        for batch in tqdm(batches, desc="linear probes", disable=len(batches) < 3):
            index = torch.as_tensor(np.stack([subsets[runs[r]] for r in batch]), device=device)
            w, b, used = fit_logistic_heads(
                x_train_t[index], y_train_t[index], weight_decays, num_classes, steps, tol, _HISTORY
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


def logmel_stats_features(
    waveforms: Sequence[np.ndarray],
    sampling_rate: int = SAMPLING_RATE,
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
        raise ValueError(
            f"every waveform must be a mono 1-D array of >= {n_fft // 2 + 1} samples; "
            f"got lengths {min(lengths)}..{max(lengths)}."
        )
    filters = torch.as_tensor(
        mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sampling_rate / 2, sampling_rate, mel_scale="htk"),
        dtype=torch.float32,
        device=device,
    )
    window = torch.hann_window(n_fft, device=device)
    features = []
    for start in tqdm(
        range(0, len(waveforms), batch_size), desc="log-mel features", disable=len(waveforms) <= batch_size
    ):
        clips = waveforms[start : start + batch_size]
        batch = torch.zeros(len(clips), max(len(c) for c in clips), device=device)
        for i, clip in enumerate(clips):
            batch[i, : len(clip)] = torch.as_tensor(np.asarray(clip, dtype=np.float32), device=device)
        power = torch.stft(batch, n_fft, hop_length, window=window, center=True, return_complex=True).abs().square()
        log_mel = torch.log(torch.einsum("bft,fm->bmt", power, filters) + 1e-6)
        frames = torch.tensor(
            [1 + (len(c) - n_fft // 2) // hop_length for c in clips], device=device
        )  # windows inside the clip
        valid = (torch.arange(log_mel.shape[-1], device=device) < frames[:, None]).float()[:, None, :]
        mean = (log_mel * valid).sum(-1) / valid.sum(-1)
        std = (((log_mel - mean[..., None]) ** 2 * valid).sum(-1) / valid.sum(-1)).sqrt()
        features.append(torch.cat([mean, std], dim=1).cpu())
    return torch.cat(features).numpy()
