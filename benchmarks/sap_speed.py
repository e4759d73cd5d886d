"""Speed of SAP's 1-D classifiers solved for all latents at once vs one scikit-learn LinearSVC per latent.

SAP (Table 3) fits, for every latent and factor, a `LinearSVC(C=0.01, class_weight="balanced")` on that latent
alone. `disentanglement.single_latent_svc_accuracies` solves the same objective for every latent in one vectorised
pass (`_sap` uses it); the reference is the loop disentanglement_lib runs. Each round times ours on every factor,
then the loop; `--repeats` rounds give the median of each. Prints both times, the speed-up, the SAP score of both
and the share of (latent, factor) accuracies that are equal. Defaults: one Table 3 run of the demo (500 samples,
half of them training the classifiers; 2,048 latents; factors of 64, 2 and 4 classes, as speaker, gender and
accent), about 20 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from sklearn.svm import LinearSVC
from timing import alternating_rounds

from barlow_speech.evaluation.disentanglement import SAP_SVM_C, single_latent_svc_accuracies


def make_latents(samples: int, latents: int, classes: list[int], seed: int = 0):
    """Standardised latents whose first third carries each factor (a class offset), and the factors' codes."""
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, k, samples) for k in classes], axis=1)
    x = rng.normal(size=(samples, latents))
    for column, k in enumerate(classes):
        carriers = rng.random(latents) < 1 / 3
        x += 0.5 * rng.normal(size=(k, latents))[codes[:, column]] * carriers
    return (x - x.mean(0)) / x.std(0), codes


def sklearn_loop(x_train, y_train, x_test, y_test, svm_c: float = SAP_SVM_C) -> np.ndarray:
    """`(latents, factors)` test accuracies, one LinearSVC per latent and factor (disentanglement_lib's loop)."""
    scores = np.zeros((x_train.shape[1], y_train.shape[1]))
    for k in range(y_train.shape[1]):
        for j in range(x_train.shape[1]):
            fit = LinearSVC(C=svm_c, class_weight="balanced").fit(x_train[:, j : j + 1], y_train[:, k])
            scores[j, k] = np.mean(fit.predict(x_test[:, j : j + 1]) == y_test[:, k])
    return scores


def sap_score(scores: np.ndarray) -> float:
    """Mean over factors of the gap between the two most predictive latents."""
    top = np.sort(scores, axis=0)
    return float(np.mean(top[-1] - top[-2]))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--latents", type=int, default=2048)
    parser.add_argument("--classes", type=int, nargs="+", default=[64, 2, 4])
    parser.add_argument("--repeats", type=int, default=1, help="alternating rounds; medians are reported")
    args = parser.parse_args(argv)
    x, codes = make_latents(args.samples, args.latents, args.classes)
    half = args.samples // 2
    split = (x[:half], codes[:half], x[half:], codes[half:])

    def ours() -> np.ndarray:
        x_train, y_train, x_test, y_test = split
        return np.stack(
            [
                single_latent_svc_accuracies(x_train, y_train[:, k], x_test, y_test[:, k])
                for k in range(codes.shape[1])
            ],
            axis=1,
        )

    ours_times, loop_times, vectorised, loop = alternating_rounds(ours, lambda: sklearn_loop(*split), args.repeats)
    fast, slow = statistics.median(ours_times), statistics.median(loop_times)
    equal = float(np.mean(vectorised == loop))
    print(
        f"SAP classifiers: {args.latents} latents x {len(args.classes)} factors ({args.classes} classes), "
        f"{half} training and {args.samples - half} test samples"
    )
    print(f"vectorised: {fast:.2f} s   sklearn loop: {slow:.2f} s   speed-up: {slow / fast:.2f}x (medians)")
    print(
        f"SAP vectorised {sap_score(vectorised):.4f}   sklearn {sap_score(loop):.4f}   "
        f"equal accuracies: {100 * equal:.1f} % of (latent, factor) pairs"
    )
    return {
        "ours_seconds": fast,
        "reference_seconds": slow,
        "equal": equal,
        "sap": (sap_score(vectorised), sap_score(loop)),
    }


if __name__ == "__main__":
    main()
