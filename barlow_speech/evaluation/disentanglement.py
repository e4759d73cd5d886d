"""Disentanglement metrics of paper Table 3: MIG, SAP, DCIMIG, JEMMIG and Modularity (+ explicitness).

Every metric takes `latents` `(num_samples, num_latents)` (real-valued embeddings) and `factors`
`(num_samples, num_factors)` (discrete ground-truth factors such as accent, speaker identity, gender)
and returns a float. Conventions follow the reference implementations:

* MIG, SAP, Modularity, explicitness: google-research/disentanglement_lib (`evaluation/metrics/`):
  each latent discretised into 20 equal-width histogram bins, mutual information in nats.
* DCIMIG, JEMMIG: the public reference of Carbonneau et al., "Measuring disentanglement: a review of
  metrics" (ubisoft-laforge-disentanglement-metrics): latents min-max scaled to [0, 1] and cut into
  10 equal-width bins, information in bits.

Bins, logarithm base and sample sizes are parameters. Factors are discrete (class labels of any
dtype); a factor that takes a single value has zero entropy, carries no information to disentangle and
is left out of every metric with a warning. Equal-width binning makes all metrics invariant to
permuting latents and to positive affine rescaling of any latent (not to arbitrary monotone maps).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize
from tqdm.auto import tqdm

from ..results import DISENTANGLEMENT_SCHEMA

logger = logging.getLogger(__name__)

TABLE3_METRICS = ("mig", "sap", "dcimig", "jemmig", "modularity")  # paper Table 3 column order
ALL_METRICS = TABLE3_METRICS + ("explicitness",)
SAP_TEST_FRACTION = 0.5  # disentanglement_lib sap_score: half of the points train the 1-D SVMs
SAP_SVM_C = 0.01  # disentanglement_lib sap_score's LinearSVC(C=0.01)
SAP_BLOCK_VALUES = 2**24  # float64 values (128 MiB) per array of one block of latents in SAP's classifiers


# ---------------------------------------------------------------------------------------------- inputs
@contextlib.contextmanager
def fitting_class_codes() -> Iterator[None]:
    """Scope for scikit-learn classifiers fitted on class codes (here: factors and probe labels).

    sklearn's `check_classification_targets` warns "The number of unique classes is greater than 50% of the
    number of samples. `y` could represent a regression problem" whenever a multiclass target has more
    classes than half its samples (e.g. speaker identity in a small sample). Our targets are class codes by
    construction, so that guess is wrong here; callers report the real issue (few examples per class) once,
    in their own terms. Only that warning, only inside this scope, is ignored.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The number of unique classes is greater than 50%", category=UserWarning
        )
        yield


def _many_class_factors(codes: np.ndarray) -> list[int]:
    """Factors `(n, F)` with more classes than half of the samples (most classes then have < 2 examples)."""
    return [k for k in range(codes.shape[1]) if np.unique(codes[:, k]).size > 0.5 * len(codes)]


def _check_inputs(latents: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes; encode each factor column as integer codes 0..K-1; drop single-valued factors."""
    latents = np.asarray(latents, dtype=np.float64)
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    if latents.ndim != 2 or factors.ndim != 2:
        raise ValueError(
            f"expected latents (num_samples, num_latents) and factors (num_samples, num_factors), "
            f"got shapes {latents.shape} and {factors.shape}."
        )
    if latents.shape[0] != factors.shape[0] or latents.shape[0] < 2:
        raise ValueError(
            f"latents and factors need the same number (>= 2) of samples, got {latents.shape[0]} and "
            f"{factors.shape[0]}."
        )
    if not np.isfinite(latents).all():
        raise ValueError("latents contain NaN or Inf; check the encoder output before measuring disentanglement.")
    codes = np.stack([np.unique(column, return_inverse=True)[1].reshape(-1) for column in factors.T], axis=1)
    informative = codes.max(axis=0) > 0
    if not informative.all():
        logger.warning(
            "factors %s take a single value (zero entropy) and are left out.", np.flatnonzero(~informative).tolist()
        )
    if not informative.any():
        raise ValueError("every factor takes a single value; disentanglement needs at least one varying factor.")
    return latents, codes[:, informative]


def equal_width_bins(latents: np.ndarray, num_bins: int) -> np.ndarray:
    """Per-latent equal-width discretisation between the column's min and max.

    Same bins as disentanglement_lib's `_histogram_discretize` (`np.histogram` edges) and as the min-max
    scaling + `get_bin_index` of the DCIMIG/JEMMIG reference. `(n, L)` floats -> `(n, L)` ints in [0, num_bins).
    """
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}.")
    low, high = latents.min(axis=0), latents.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return np.clip(np.floor((latents - low) / span * num_bins), 0, num_bins - 1).astype(np.int64)


def _joint_counts(binned: np.ndarray, factor: np.ndarray, num_bins: int) -> np.ndarray:
    """Contingency tables of every latent with one factor: `(L, num_bins, K)` counts."""
    num_latents, num_values = binned.shape[1], int(factor.max()) + 1
    flat = (np.arange(num_latents) * num_bins + binned) * num_values + factor[:, None]
    return np.bincount(flat.ravel(), minlength=num_latents * num_bins * num_values).reshape(
        num_latents, num_bins, num_values
    )


def _entropy_of_counts(counts: np.ndarray, axes: tuple[int, ...], base: float) -> np.ndarray:
    p = counts / counts.sum(axis=axes, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=axes) / math.log(base)


def information_matrices(
    binned: np.ndarray, codes: np.ndarray, num_bins: int, base: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plug-in information estimates of discretised latents vs discrete factors.

    Returns `mi` `(L, F)` = I(z_l; f_k), `joint` `(L, F)` = H(z_l, f_k) and `h_factor` `(F,)` = H(f_k),
    in units of log `base` (e = nats, as sklearn's `mutual_info_score`; 2 = bits).
    """
    mi, joint, h_factor = [], [], []
    for factor in codes.T:
        counts = _joint_counts(binned, factor, num_bins)
        h_z = _entropy_of_counts(counts.sum(axis=2), (1,), base)
        h_f = _entropy_of_counts(counts.sum(axis=1), (1,), base)
        h_zf = _entropy_of_counts(counts, (1, 2), base)
        mi.append(np.maximum(h_z + h_f - h_zf, 0.0))
        joint.append(h_zf)
        h_factor.append(h_f[0])
    return np.stack(mi, axis=1), np.stack(joint, axis=1), np.asarray(h_factor)


def _top_two(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second largest along `axis` (second = 0 where there is only one entry)."""
    ordered = -np.sort(-values, axis=axis)
    first = np.take(ordered, 0, axis=axis)
    second = np.take(ordered, 1, axis=axis) if values.shape[axis] > 1 else np.zeros_like(first)
    return first, second


# --------------------------------------------------------------------------------------------- metrics
def mig(latents: np.ndarray, factors: np.ndarray, num_bins: int = 20, base: float = math.e) -> float:
    """Mutual Information Gap. Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018.

    MIG = mean_k (I(z_(1); f_k) - I(z_(2); f_k)) / H(f_k), z_(1), z_(2) the two latents most informative
    about f_k (disentanglement_lib `mig.py`: 20 histogram bins, nats). Range [0, 1].
    """
    latents, codes = _check_inputs(latents, factors)
    if latents.shape[1] < 2:
        raise ValueError(f"MIG compares the two most informative latents; got {latents.shape[1]} latent.")
    mi, _, h_factor = information_matrices(equal_width_bins(latents, num_bins), codes, num_bins, base)
    first, second = _top_two(mi, axis=0)
    return float(np.mean((first - second) / h_factor))


def modularity(latents: np.ndarray, factors: np.ndarray, num_bins: int = 20, base: float = math.e) -> float:
    """Modularity. Ridgeway & Mozer, "Learning Deep Disentangled Embeddings With the F-Statistic Loss", NeurIPS 2018.

    Per latent: 1 - sum_{k != k*} I_k^2 / ((F - 1) I_{k*}^2) on squared MI (disentanglement_lib
    `modularity_explicitness.py`); latents with no information score 0; averaged over latents.
    With a single factor every informative latent is perfectly modular (score 1). It measures whether each
    latent concentrates on one factor, not how informative latents are.
    """
    latents, codes = _check_inputs(latents, factors)
    mi, _, _ = information_matrices(equal_width_bins(latents, num_bins), codes, num_bins, base)
    squared = np.square(mi)
    peak = squared.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (squared.sum(axis=1) - peak) / (peak * max(squared.shape[1] - 1.0, 1.0))
    return float(np.mean(np.where(peak > 0, 1.0 - delta, 0.0)))


def dcimig(latents: np.ndarray, factors: np.ndarray, num_bins: int = 10, base: float = 2.0) -> float:
    """DCIMIG. Sepliarskaia, Kiseleva & de Rijke, "How to Not Measure Disentanglement", arXiv:1910.05587 (2019).

    Each latent is assigned to its most informative factor with gap I(z; f_(1)) - I(z; f_(2)); each factor
    keeps the largest gap among its latents; DCIMIG = sum of kept gaps / sum_k H(f_k) (reference: min-max
    scaling, 10 bins, bits). Range [0, 1].
    """
    latents, codes = _check_inputs(latents, factors)
    mi, _, h_factor = information_matrices(equal_width_bins(latents, num_bins), codes, num_bins, base)
    first, second = _top_two(mi, axis=1)
    gaps = np.zeros_like(mi)
    gaps[np.arange(mi.shape[0]), mi.argmax(axis=1)] = first - second
    return float(gaps.max(axis=0).sum() / h_factor.sum())


def jemmig(latents: np.ndarray, factors: np.ndarray, num_bins: int = 10, base: float = 2.0) -> float:
    """Normalised JEMMIG. Do & Tran, "Theory and Evaluation Metrics for Learning Disentangled Representations",
    ICLR 2020.

    Per factor: JEMMIG_k = H(f_k, z_(1)) - I(f_k; z_(1)) + I(f_k; z_(2)), normalised as
    1 - JEMMIG_k / (H(f_k) + log num_bins) so that 1 is best (reference: min-max scaling, 10 bins, bits).
    Averaged over factors. Independent latents score 1 - H(z_(1)) / log num_bins, i.e. 0 only when the
    binned latent is uniform (Gaussian latents score about 0.2).
    """
    latents, codes = _check_inputs(latents, factors)
    if latents.shape[1] < 2:
        raise ValueError(f"JEMMIG compares the two most informative latents; got {latents.shape[1]} latent.")
    mi, joint, h_factor = information_matrices(equal_width_bins(latents, num_bins), codes, num_bins, base)
    first, second = _top_two(mi, axis=0)
    best_joint = joint[mi.argmax(axis=0), np.arange(mi.shape[1])]
    per_factor = 1.0 - (best_joint - first + second) / (h_factor + math.log(num_bins) / math.log(base))
    return float(per_factor.mean())


def _split(latents: np.ndarray, codes: np.ndarray, test_fraction: float, seed: int):
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}.")
    order = np.random.default_rng(seed).permutation(len(latents))
    cut = int(round(len(latents) * (1.0 - test_fraction)))
    if cut < 2 or cut >= len(latents):
        raise ValueError(
            f"{len(latents)} samples are too few for a train/test split with test_fraction={test_fraction}."
        )
    train, test = order[:cut], order[cut:]
    mean, std = latents[train].mean(axis=0), latents[train].std(axis=0)
    scaled = (latents - mean) / np.where(std > 0, std, 1.0)
    return scaled[train], codes[train], scaled[test], codes[test]


def _newton_step(h_ww, h_wb, h_bb, grad_w, grad_b) -> tuple[np.ndarray, np.ndarray]:
    """-H^-1 g for the 2 x 2 Hessians [[h_ww, h_wb], [h_wb, h_bb]] and gradients (grad_w, grad_b) of many (w, b)."""
    determinant = h_ww * h_bb - h_wb * h_wb
    return -(h_bb * grad_w - h_wb * grad_b) / determinant, -(h_ww * grad_b - h_wb * grad_w) / determinant


def _squared_hinge_newton(
    x: np.ndarray, targets: np.ndarray, costs: np.ndarray, w: np.ndarray, b: np.ndarray, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise 0.5 (w^2 + b^2) + sum_i costs_i max(0, 1 - targets_i (w x_i + b))^2 for `(problems, n)` arrays by a
    generalised Newton method with backtracking (the objective is convex and piecewise quadratic), from `(w, b)`
    `(problems,)`; returns the optimum `(w, b)`."""

    def objective(w, b):
        slack = np.maximum(1.0 - targets * (w[:, None] * x + b[:, None]), 0.0)
        return 0.5 * (w * w + b * b) + (costs * slack * slack).sum(-1)

    value = objective(w, b)
    tolerance = 1e-9 * (1.0 + costs.sum(-1))  # the gradient's float64 noise grows with the sum of costs
    for _ in range(max_iter):
        slack = 1.0 - targets * (w[:, None] * x + b[:, None])
        active = costs * (slack > 0)
        residual = active * slack * targets
        grad_w, grad_b = w - 2.0 * (residual * x).sum(-1), b - 2.0 * residual.sum(-1)
        if (np.maximum(np.abs(grad_w), np.abs(grad_b)) <= tolerance).all():
            break
        h_ww, h_wb, h_bb = 1.0 + 2.0 * (active * x * x).sum(-1), 2.0 * (active * x).sum(-1), 1.0 + 2.0 * active.sum(-1)
        step_w, step_b = _newton_step(h_ww, h_wb, h_bb, grad_w, grad_b)
        slope, length = grad_w * step_w + grad_b * step_b, np.ones_like(w)
        candidate = objective(w + step_w, b + step_b)
        for _ in range(50):  # halve each problem's step until its objective decreases enough (Armijo)
            short = candidate > value + 1e-4 * length * slope
            if not short.any():
                break
            length = np.where(short, 0.5 * length, length)
            candidate = objective(w + length * step_w, b + length * step_b)
        else:  # no decrease left at float64 precision: those problems stay where they are
            short = candidate > value + 1e-4 * length * slope
            length, candidate = np.where(short, 0.0, length), np.where(short, value, candidate)
        w, b, value = w + length * step_w, b + length * step_b, candidate
    else:
        logger.warning(f"SAP: {max_iter} Newton iterations left some 1-D classifiers short of the tolerance.")
    return w, b


def single_latent_svc_accuracies(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, svm_c: float = SAP_SVM_C
) -> np.ndarray:
    """Test accuracy `(num_latents,)` of `LinearSVC(C=svm_c, class_weight="balanced")` fitted on each latent alone.

    The problem sklearn hands liblinear for each latent l, solved for all latents at once: per binary problem (the
    two classes, or one class against the rest), min_{w, b} 0.5 (w^2 + b^2) + sum_i C_i max(0, 1 - t_i (w x_il + b))^2
    with t_i = +-1, the bias penalised (intercept_scaling 1) and C_i = svm_c x the balanced weight n / (K n_k) of a
    sample's class (one-vs-rest: the rest get svm_c, as in liblinear). Where every sample keeps a positive slack the
    objective is a ridge regression of t on (x, 1), solved from per-class sums of x and x^2 in closed form; the
    problems whose solution leaves some slack at 0 (checked exactly from per-class minima and maxima) go on by
    `_squared_hinge_newton`. Exact optima where liblinear stops at its tolerance: on random latents the accuracies
    agree with sklearn's on 99 % of latents, elsewhere by one test sample (`tests/evaluation/test_disentanglement.py`).

    Args:
        x_train, x_test: `(n, num_latents)` and `(m, num_latents)` latents (standardised on the train part).
        y_train, y_test: `(n,)` and `(m,)` class codes of one factor (>= 2 classes in train).
    """
    classes, codes = np.unique(y_train, return_inverse=True)
    k, n, num_latents = classes.size, codes.size, x_train.shape[1]
    balanced = svm_c * n / (k * np.bincount(codes, minlength=k))
    if k == 2:  # one problem: classes[1] is +1 (sklearn's decision > 0), both classes weighted
        targets = np.array([[-1.0, 1.0]])
        costs = balanced[None, :]
    else:  # one problem per class against the rest
        targets = np.where(np.eye(k, dtype=bool), 1.0, -1.0)
        costs = np.where(targets > 0, balanced[:, None], svm_c)
    # latents in blocks: the scores and the Newton problems hold (problems x block x samples) float64 values
    block = max(1, SAP_BLOCK_VALUES // (targets.shape[0] * max(n, len(y_test))))
    accuracies = [
        _svc_block(x_train[:, j : j + block], codes, x_test[:, j : j + block], y_test, classes, targets, costs)
        for j in range(0, num_latents, block)
    ]
    return np.concatenate(accuracies)


def _svc_block(x_train, codes, x_test, y_test, classes, targets, costs) -> np.ndarray:
    """`single_latent_svc_accuracies` for one block of latents, with its problems' targets and costs
    `(problems, classes)`."""
    k, num_latents = classes.size, x_train.shape[1]
    x = x_train.astype(np.float64)
    one_hot = np.eye(k)[codes].T  # (k, n)
    sums = [one_hot.sum(1, keepdims=True) * np.ones((1, num_latents)), one_hot @ x, one_hot @ (x * x)]  # (k, L)
    weighted = [costs @ s for s in sums]  # sum_i C_i x^p, (problems, L)
    signed = [(costs * targets) @ s for s in sums[:2]]  # sum_i C_i t_i x^p
    # every sample active: a quadratic, solved by one Newton step from (0, 0) (gradient -2 sum_i C_i t_i (x_i, 1))
    h_ww, h_wb, h_bb = 1.0 + 2.0 * weighted[2], 2.0 * weighted[1], 1.0 + 2.0 * weighted[0]
    w, b = _newton_step(h_ww, h_wb, h_bb, -2.0 * signed[1], -2.0 * signed[0])
    # every slack positive <=> max over each class's samples of t (w x + b) < 1, from the class's min and max of x
    lowest = np.stack([x[codes == c].min(0) for c in range(k)])  # (k, L)
    highest = np.stack([x[codes == c].max(0) for c in range(k)])
    tw = targets[:, :, None] * w[:, None, :]  # (problems, k, L)
    margin = np.maximum(tw * lowest, tw * highest) + targets[:, :, None] * b[:, None, :]
    rest = np.argwhere(margin.max(1) >= 1.0)  # (problem, latent) pairs with an inactive sample
    if len(rest):
        w[rest[:, 0], rest[:, 1]], b[rest[:, 0], rest[:, 1]] = _squared_hinge_newton(
            x[:, rest[:, 1]].T, targets[rest[:, 0]][:, codes], costs[rest[:, 0]][:, codes], *np.zeros((2, len(rest)))
        )
    scores = w[:, :, None] * x_test.T.astype(np.float64)[None] + b[:, :, None]  # (problems, L, m)
    predicted = classes[(scores[0] > 0).astype(int)] if k == 2 else classes[scores.argmax(0)]
    return (predicted == np.asarray(y_test)[None, :]).mean(1)


def _sap(
    latents: np.ndarray, codes: np.ndarray, test_fraction: float, svm_c: float, seed: int
) -> tuple[float, list[int]]:
    """SAP of validated inputs, and the factors with more classes than half of the SAP training samples."""
    if latents.shape[1] < 2:
        raise ValueError(f"SAP compares the two most predictive latents; got {latents.shape[1]} latent.")
    x_train, y_train, x_test, y_test = _split(latents, codes, test_fraction, seed)
    scores = np.zeros((latents.shape[1], codes.shape[1]))
    for k in range(codes.shape[1]):
        if np.unique(y_train[:, k]).size < 2:
            raise ValueError(f"factor {k} has a single value in the SAP training split; use more samples.")
        scores[:, k] = single_latent_svc_accuracies(x_train, y_train[:, k], x_test, y_test[:, k], svm_c)
    first, second = _top_two(scores, axis=0)
    return float(np.mean(first - second)), _many_class_factors(y_train)


def _warn_many_classes(factors: Sequence[int], train_size: int, runs: str = "") -> None:
    logger.warning(
        "SAP%s: factors %s have more classes than half of the %d SAP training samples, so most classes have "
        "fewer than 2 training examples and their 1-D LinearSVC scores are noisy; use more samples (sample_size).",
        runs,
        list(factors),
        train_size,
    )


def sap(
    latents: np.ndarray,
    factors: np.ndarray,
    test_fraction: float = SAP_TEST_FRACTION,
    svm_c: float = SAP_SVM_C,
    seed: int = 0,
) -> float:
    """Separated Attribute Predictability. Kumar, Sattigeri & Balakrishnan, "Variational Inference of
    Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018, Section 3.

    Score matrix S[l, k] = test accuracy of a 1-D `LinearSVC(C=0.01, class_weight="balanced")` predicting
    factor k from latent l alone (disentanglement_lib `sap_score.py`, discrete factors); SAP = mean over
    factors of the gap between the two best latents. The samples are split train/test (`test_fraction`,
    `seed`) and each latent is standardised on the train part, so SAP does not depend on a latent's scale.
    Its maximum is 1 - (accuracy of the second-best latent), about 0.5 for a balanced binary factor.
    A factor with more classes than half of the training samples (speakers in a small sample) is scored
    but logged once as noisy.
    """
    latents, codes = _check_inputs(latents, factors)
    score, many_classes = _sap(latents, codes, test_fraction, svm_c, seed)
    if many_classes:
        _warn_many_classes(many_classes, int(round(len(latents) * (1.0 - test_fraction))))
    return score


def explicitness(latents: np.ndarray, factors: np.ndarray, test_fraction: float = 0.5, seed: int = 0) -> float:
    """Explicitness. Ridgeway & Mozer 2018: macro ROC-AUC on the test split of a logistic regression from
    all standardised latents to each factor (disentanglement_lib `explicitness_per_factor`), averaged
    over factors. Range [0.5 (chance), 1]."""
    latents, codes = _check_inputs(latents, factors)
    x_train, y_train, x_test, y_test = _split(latents, codes, test_fraction, seed)
    per_factor = []
    for k in range(codes.shape[1]):
        with fitting_class_codes():
            classifier = LogisticRegression(max_iter=1000).fit(x_train, y_train[:, k])
        indicator = label_binarize(y_test[:, k], classes=classifier.classes_)
        if indicator.shape[1] == 1:  # binary factor: label_binarize returns only the positive column
            indicator = np.hstack([1 - indicator, indicator])
        scored = (indicator.min(axis=0) == 0) & (indicator.max(axis=0) == 1)  # classes with both outcomes in test
        per_factor.append(
            roc_auc_score(indicator[:, scored], classifier.predict_proba(x_test)[:, scored], average="macro")
        )
    return float(np.mean(per_factor))


# ------------------------------------------------------------------------------------------ Table 3 runs
def _subsample_with_every_factor_varying(
    rng: np.random.Generator, factors: np.ndarray, sample_size: int, attempts: int = 100
) -> np.ndarray:
    """Indices of a random subsample in which every factor takes >= 2 values, so every run scores the same factor
    set (a factor that happened to be constant would otherwise be dropped from that run only)."""
    for _ in range(attempts):
        chosen = rng.choice(len(factors), size=sample_size, replace=False)
        if (factors[chosen].max(axis=0) > factors[chosen].min(axis=0)).all():
            return chosen
    raise ValueError(
        f"in {attempts} random subsamples of {sample_size} samples some factor never varied; increase sample_size."
    )


def disentanglement_runs(
    latents: np.ndarray,
    factors: np.ndarray,
    n_runs: int = 50,
    sample_size: int | None = None,
    seed: int = 0,
    metrics: Iterable[str] = TABLE3_METRICS,
    mig_bins: int = 20,
    reference_bins: int = 10,
    factor_names: Sequence[str] | None = None,
    model: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> dict:
    """Table 3: every metric on `n_runs` random subsamples of `sample_size` samples -> mean ± std.

    Args:
        latents: `(num_samples, num_latents)` utterance embeddings.
        factors: `(num_samples, num_factors)` discrete factors (accent, identity, gender in the paper).
        n_runs: number of subsamples (paper: 50).
        sample_size: samples per run, drawn without replacement; default half of the samples.
        seed: seeds the subsamples and the SAP / explicitness train/test splits.
        metrics: names from `ALL_METRICS`.
        mig_bins: histogram bins for MIG and modularity (disentanglement_lib: 20).
        reference_bins: bins for DCIMIG and JEMMIG (their reference: 10).
        factor_names, model: recorded in the result.
        metadata: extra top-level keys of the result, e.g. `{"dataset": ..., "dataset_config": ..., "split": "test"}`
            (the Hub model card needs "dataset").

    Returns:
        A disentanglement result (schema in `barlow_speech.results`):
        `{"schema", "model", "factors", "n_runs", "sample_size", "seed", "config",
        "metrics": {name: {"mean", "std", "runs"}}}`.
    """
    metrics = tuple(metrics)
    unknown = sorted(set(metrics) - set(ALL_METRICS))
    if unknown:
        raise ValueError(f"unknown disentanglement metrics {unknown}; choose from {list(ALL_METRICS)}.")
    num_factors = 1 if np.ndim(factors) == 1 else np.shape(factors)[1]
    names = list(factor_names) if factor_names is not None else [f"factor_{k}" for k in range(num_factors)]
    if len(names) != num_factors:
        raise ValueError(f"got {len(names)} factor_names for {num_factors} factors.")
    columns = np.asarray(factors).reshape(len(factors), -1)
    names = [name for name, column in zip(names, columns.T) if len(np.unique(column)) > 1]
    latents, factors = _check_inputs(latents, factors)  # warns once about single-valued factors
    num_samples = len(latents)
    sample_size = num_samples // 2 if sample_size is None else int(sample_size)
    if not 2 <= sample_size <= num_samples:
        raise ValueError(f"sample_size must lie in [2, {num_samples}] (the number of samples), got {sample_size}.")
    functions = {
        "mig": lambda z, f, s: mig(z, f, num_bins=mig_bins),
        "modularity": lambda z, f, s: modularity(z, f, num_bins=mig_bins),
        "dcimig": lambda z, f, s: dcimig(z, f, num_bins=reference_bins),
        "jemmig": lambda z, f, s: jemmig(z, f, num_bins=reference_bins),
        "sap": lambda z, f, s: sap_run(z, f, s),
        "explicitness": lambda z, f, s: explicitness(z, f, seed=s),
    }
    many_classes: dict[int, int] = {}  # factor -> runs in which SAP's training split had too few examples per class

    def sap_run(z: np.ndarray, f: np.ndarray, s: int) -> float:
        score, factors_hit = _sap(*_check_inputs(z, f), SAP_TEST_FRACTION, SAP_SVM_C, s)
        for k in factors_hit:
            many_classes[k] = many_classes.get(k, 0) + 1
        return score

    rng = np.random.default_rng(seed)
    runs: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in tqdm(range(n_runs), desc="disentanglement runs", disable=n_runs < 5):
        chosen = _subsample_with_every_factor_varying(rng, factors, sample_size)
        run_seed = int(rng.integers(2**31))
        for name in metrics:
            runs[name].append(functions[name](latents[chosen], factors[chosen], run_seed))
    if many_classes:
        _warn_many_classes(
            sorted(many_classes),
            int(round(sample_size * (1.0 - SAP_TEST_FRACTION))),
            f" in up to {max(many_classes.values())} of {n_runs} runs",
        )
    return {
        "schema": DISENTANGLEMENT_SCHEMA,
        "model": model,
        **dict(metadata or {}),
        "factors": names,  # the factors scored: single-valued ones are left out
        "n_runs": int(n_runs),
        "sample_size": sample_size,
        "seed": int(seed),
        "config": {
            "mig_bins": mig_bins,
            "mig_units": "nats",
            "reference_bins": reference_bins,
            "reference_units": "bits",
        },
        "metrics": {
            name: {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": [float(v) for v in values]}
            for name, values in runs.items()
        },
    }
