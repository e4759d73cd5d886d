"""Stratified label fractions for linear evaluation (paper Table 2: 5 / 10 / 50 / 100 % of the labels).

`label_fraction_indices` draws, for every (fraction, seed), a subset of a labelled split in which every
class keeps at least one example and each class contributes ``round(fraction * count)`` examples.
For one seed the subsets are nested (the 5 % subset lies inside the 10 % one): each class is permuted
once per seed and every fraction takes a prefix of that permutation. Index lists are saved with the
results (`save_fraction_indices` / `load_fraction_indices`) so runs stay comparable (DESIGN.md, "Probe
protocol pitfalls").

JSON layout (also used inside probe results, see `barlow_speech.evaluation.report`)::

    {"num_examples": 7500,
     "subsets": [{"fraction": 0.05, "seed": 0, "indices": [3, 17, ...]}, ...]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

PAPER_FRACTIONS = (0.05, 0.1, 0.5, 1.0)  # paper Table 2


def _check_fractions(fractions: Iterable[float]) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    if not fractions:
        raise ValueError("fractions is empty; pass at least one label fraction in (0, 1], e.g. (0.05, 0.1, 0.5, 1.0).")
    bad = [f for f in fractions if not 0.0 < f <= 1.0]
    if bad:
        raise ValueError(f"label fractions must lie in (0, 1], got {bad}; write 5 % as 0.05.")
    return fractions


def label_fraction_indices(
    labels: Sequence | np.ndarray,
    fractions: Iterable[float] = PAPER_FRACTIONS,
    seeds: Iterable[int] = range(50),
) -> dict[tuple[float, int], np.ndarray]:
    """Stratified, seed-reproducible subsets of a labelled split.

    Args:
        labels: `(num_examples,)` class labels (ints or strings).
        fractions: label fractions in (0, 1].
        seeds: one subset per seed and fraction.

    Returns:
        `{(fraction, seed): sorted int64 indices into labels}`; every class keeps >= 1 example.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}.")
    fractions = _check_fractions(fractions)
    _, codes = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]
    subsets: dict[tuple[float, int], np.ndarray] = {}
    for seed in seeds:
        rng = np.random.default_rng(int(seed))
        permuted = [rng.permutation(m) for m in members]
        for fraction in fractions:
            chosen = [p[: max(1, int(round(fraction * len(p))))] for p in permuted]
            subsets[(fraction, int(seed))] = np.sort(np.concatenate(chosen)).astype(np.int64)
    return subsets


def fraction_indices_to_json(subsets: dict[tuple[float, int], np.ndarray], num_examples: int) -> dict:
    """The JSON-ready form of `label_fraction_indices`' output (layout in the module docstring)."""
    return {
        "num_examples": int(num_examples),
        "subsets": [
            {"fraction": float(f), "seed": int(s), "indices": [int(i) for i in idx]} for (f, s), idx in subsets.items()
        ],
    }


def fraction_indices_from_json(payload: dict) -> dict[tuple[float, int], np.ndarray]:
    """Inverse of `fraction_indices_to_json`."""
    if "subsets" not in payload:
        raise ValueError(f"not a label-fraction index file: expected a 'subsets' key, got keys {sorted(payload)}.")
    return {
        (float(s["fraction"]), int(s["seed"])): np.asarray(s["indices"], dtype=np.int64) for s in payload["subsets"]
    }


def save_fraction_indices(subsets: dict[tuple[float, int], np.ndarray], num_examples: int, path: str | Path) -> Path:
    """Write the index lists to `path` (JSON) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fraction_indices_to_json(subsets, num_examples)))
    return path


def load_fraction_indices(path: str | Path) -> dict[tuple[float, int], np.ndarray]:
    """Read index lists written by `save_fraction_indices`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label-fraction index file {path} does not exist; write it with save_fraction_indices.")
    return fraction_indices_from_json(json.loads(path.read_text()))
