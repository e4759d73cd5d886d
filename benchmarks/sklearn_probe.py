"""The linear-probe protocol of `barlow_speech.evaluation.probes` as a Python loop of scikit-learn fits.

The reference that `benchmarks/probes.py` times the batched L-BFGS probes against and that the probe tests compare
accuracies with: same label subsets, same objective (`LogisticRegression(C=1 / (weight_decay * n))`), same choice of
the weight decay on validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from barlow_speech.data.fractions import PAPER_FRACTIONS
from barlow_speech.evaluation.disentanglement import fitting_class_codes
from barlow_speech.evaluation.probes import WEIGHT_DECAYS, prepare_splits, summarise_runs


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
    """The same protocol as a loop of `sklearn.linear_model.LogisticRegression` fits .

    A weight decay `lambda` on the mean loss of `n` examples is sklearn's `C = 1 / (lambda * n)`.
    """
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
    chosen = {}
    for run, idx in subsets.items():
        best = None
        for decay in weight_decays:
            c = np.inf if decay == 0 else 1.0 / (decay * len(idx))
            with fitting_class_codes():  # many classes in a small subset are still classes
                classifier = LogisticRegression(C=c, max_iter=max_iter).fit(x_train[idx], y_train[idx])
            val = float(np.mean(classifier.predict(x_val) == y_val))
            if best is None or val > best["validation"]:
                test = float(np.mean(classifier.predict(x_test) == y_test))
                best = {"validation": val, "test": test, "weight_decay": decay}
        chosen[run] = best
    probe = {"optimizer": "sklearn_lbfgs", "max_iter": max_iter, "weight_decays": list(weight_decays)}
    extra = {"num_classes": num_classes, "num_train": len(x_train), "probe": probe}
    return summarise_runs(subsets, chosen, len(x_train), extra)
