"""Stratified label fractions for linear evaluation (paper Table 2: 5 / 10 / 50 / 100 % of the labels).

`label_fraction_indices` draws, for every (fraction, seed), a subset of a labelled split in which every
class keeps at least one example and each class contributes ``round(fraction * count)`` examples.
For one seed the subsets are nested (the 5 % subset lies inside the 10 % one): each class is permuted
once per seed and every fraction takes a prefix of that permutation. Index lists are saved with the
results (`save_fraction_indices` / `load_fraction_indices`) so runs stay comparable (README,
"Evaluation"). A loaded file remembers the split size it was drawn for (`FractionIndices`), and
`check_fraction_indices` rejects it on a split of another size or with an index out of range, so lists
saved for one split are never applied silently to another.

JSON layout (also used inside probe results, see `barlow_speech.results`)::

    {"num_examples": 7500,
     "subsets": [{"fraction": 0.05, "seed": 0, "indices": [3, 17, ...]}, ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

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


class FractionIndices(dict):
    """`{(fraction, seed): int64 indices}` read from an index file, with the size of the split it was drawn for.

    Attributes:
        num_examples: the saved split size (None for a file that did not record it).
        source: where the lists came from (a path), named in validation errors.
    """

    def __init__(self, subsets: dict[tuple[float, int], np.ndarray], num_examples: int | None, source: str) -> None:
        super().__init__(subsets)
        self.num_examples = num_examples
        self.source = source


def check_fraction_indices(
    subsets: dict[tuple[float, int], np.ndarray], num_examples: int, split: str = "train"
) -> None:
    """Raise ValueError unless `subsets` index a split of `num_examples` rows.

    Checks the split size saved with the lists (a `FractionIndices`) and that every index lies in
    `[0, num_examples)`.
    """
    source = getattr(subsets, "source", "the label-fraction index lists")
    saved = getattr(subsets, "num_examples", None)
    fix = (
        f"Index lists only fit the split they were drawn for: load the {split} split the file was saved for "
        f"(same dataset, config, segmentation and filtering), or drop the file and draw new lists for this split "
        f"with label_fraction_indices."
    )
    if saved is not None and int(saved) != int(num_examples):
        raise ValueError(
            f"{source} was saved for a {split} split of {saved} examples, but the {split} split given has "
            f"{num_examples}. {fix}"
        )
    for (fraction, seed), idx in subsets.items():
        idx = np.asarray(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= num_examples):
            raise ValueError(
                f"{source}: subset (fraction={fraction:g}, seed={seed}) holds indices in [{idx.min()}, {idx.max()}], "
                f"outside the {split} split's [0, {num_examples}). {fix}"
            )


def fraction_indices_to_json(subsets: dict[tuple[float, int], np.ndarray], num_examples: int) -> dict:
    """The JSON-ready form of `label_fraction_indices`' output (layout in the module docstring).

    Raises ValueError (`check_fraction_indices`) when the lists do not index a split of `num_examples` rows.
    """
    check_fraction_indices(subsets, num_examples)
    return {
        "num_examples": int(num_examples),
        "subsets": [
            {"fraction": float(f), "seed": int(s), "indices": [int(i) for i in idx]} for (f, s), idx in subsets.items()
        ],
    }


def fraction_indices_from_json(payload: dict, source: str = "the label-fraction index lists") -> FractionIndices:
    """Inverse of `fraction_indices_to_json`; the result keeps the saved `num_examples`."""
    if "subsets" not in payload:
        raise ValueError(f"not a label-fraction index file: expected a 'subsets' key, got keys {sorted(payload)}.")
    subsets = {
        (float(s["fraction"]), int(s["seed"])): np.asarray(s["indices"], dtype=np.int64) for s in payload["subsets"]
    }
    saved = payload.get("num_examples")
    return FractionIndices(subsets, None if saved is None else int(saved), source)


def save_fraction_indices(subsets: dict[tuple[float, int], np.ndarray], num_examples: int, path: str | Path) -> Path:
    """Write the index lists to `path` (JSON) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fraction_indices_to_json(subsets, num_examples)))
    return path


def load_fraction_indices(path: str | Path, num_examples: int | None = None, split: str = "train") -> FractionIndices:
    """Read index lists written by `save_fraction_indices`.

    With `num_examples` (the length of the split they will index) the lists are validated at once
    (`check_fraction_indices`); without it, `fraction_indices_to_json` (called by `linear_probe` when it
    records them) validates them against the split they were used on.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"label-fraction index file {path} does not exist; write it with save_fraction_indices."
        )
    subsets = fraction_indices_from_json(json.loads(path.read_text()), source=f"label-fraction index file {path}")
    if num_examples is not None:
        check_fraction_indices(subsets, num_examples, split)
    return subsets
