"""Speed of the layer analysis' shortcuts (`barlow-speech analyze`), each against the way it replaced, same run.

1. Principal components: the randomised SVD of `principal_components` vs the full SVD (`exact=True`) of one
   `(clips, width)` layer; prints the ratio and the share of the exact top-`dims` variance the randomised basis keeps.
2. InfoNCE critics: the learning-rate grid trained as one batched product (`infonce_information` with every rate)
   vs one critic per rate, one run after the other; prints the ratio and the difference between the batched estimate
   and the per-rate run of the rate it kept (the two must agree).
3. Supervised bound: `probe_information` at `ANALYSIS_PROBE_STEPS` L-BFGS iterations vs 300 (its default); prints
   the ratio and the bounds' difference in nats.

Inputs: a synthetic layer, `--clips` rows of a `--width` map with a decaying spectrum (a few latent factors, as
pooled CNN maps have), a second view of it with independent noise, and labels that are a linear function of the
latent factors. Each round times ours, then the reference; `--repeats` rounds give medians. Defaults take about a
minute on 2 CPU cores at the demo's widest layer (896 analysis clips x 4,096).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np
import torch
from timing import alternating_rounds

from barlow_speech.evaluation.analysis import ANALYSIS_PROBE_STEPS, CRITIC_LEARNING_RATES
from barlow_speech.evaluation.information import infonce_information, principal_components, probe_information


def synthetic_layer(
    clips: int, width: int, factors: int = 32, classes: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A `(clips, width)` layer with a decaying spectrum, a noisy second view of it and `(clips,)` labels."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(clips, factors)) * np.geomspace(3.0, 0.3, factors)
    mixing = rng.normal(size=(factors, width)) / np.sqrt(factors)
    layer = (latent @ mixing + 0.3 * rng.normal(size=(clips, width))).astype(np.float32)
    view = (latent @ mixing + 0.3 * rng.normal(size=(clips, width))).astype(np.float32)
    labels = (latent[:, :4] @ rng.normal(size=(4, classes))).argmax(axis=1)
    return layer, view, labels


def medians(ours: Callable, reference: Callable, repeats: int) -> tuple[float, float, object, object]:
    """Median seconds of `ours()` and `reference()` over alternating rounds, and the last result of each."""
    ours_times, reference_times, ours_result, reference_result = alternating_rounds(ours, reference, repeats)
    return statistics.median(ours_times), statistics.median(reference_times), ours_result, reference_result


def explained_variance(centred: torch.Tensor, basis_scores: torch.Tensor) -> float:
    """Variance of `centred` `(n, d)` captured by projected scores `(n, k)` (unwhitened components)."""
    return float(basis_scores.pow(2).sum() / centred.pow(2).sum())


def compare_components(layer: np.ndarray, dims: int, repeats: int) -> dict:
    x = torch.as_tensor(layer)
    ours_s, exact_s, (ours, _), (exact, _) = medians(
        lambda: principal_components(x, dims=dims, whiten=False),
        lambda: principal_components(x, dims=dims, whiten=False, exact=True),
        repeats,
    )
    centred = x - x.mean(dim=0)
    kept = explained_variance(centred, ours) / explained_variance(centred, exact)
    print(
        f"principal components ({layer.shape[0]} x {layer.shape[1]} -> {dims}): randomised {ours_s:.3f} s, "
        f"exact {exact_s:.3f} s; share of the exact top-{dims} variance kept: {100 * kept:.2f} %"
    )
    print(f"ratio exact / randomised SVD: {exact_s / ours_s:.2f}x")
    return {"ours_seconds": ours_s, "reference_seconds": exact_s, "variance_kept": kept}


def compare_critics(layer: np.ndarray, view: np.ndarray, dims: int, steps: int, repeats: int) -> dict:
    common = {"critic_dims": dims, "steps": steps, "seed": 0}
    rates = CRITIC_LEARNING_RATES
    ours_s, loop_s, ours, per_rate = medians(
        lambda: infonce_information(layer, view, learning_rate=rates, **common),
        lambda: [infonce_information(layer, view, learning_rate=rate, **common) for rate in rates],
        repeats,
    )
    kept = per_rate[rates.index(ours["learning_rate"])]
    difference = abs(ours["mutual_information_nats"] - kept["mutual_information_nats"])
    print(
        f"InfoNCE critics ({len(rates)} learning rates, {dims} x {dims}, {steps} steps): batched {ours_s:.2f} s, one "
        f"per rate {loop_s:.2f} s; estimate {ours['mutual_information_nats']:.4f} nats "
        f"(rate {ours['learning_rate']}), that rate alone {kept['mutual_information_nats']:.4f} nats, "
        f"|difference| {difference:.2e}"
    )
    print(f"ratio one critic per rate / batched grid: {loop_s / ours_s:.2f}x")
    return {"ours_seconds": ours_s, "reference_seconds": loop_s, "difference_nats": difference}


def compare_bound(layer: np.ndarray, labels: np.ndarray, dims: int, max_iter: int, repeats: int) -> dict:
    common = {"feature_dims": dims, "seeds": range(3)}
    ours_s, long_s, ours, long = medians(
        lambda: probe_information(layer, labels, max_iter=ANALYSIS_PROBE_STEPS, **common),
        lambda: probe_information(layer, labels, max_iter=max_iter, **common),
        repeats,
    )
    difference = abs(ours["mutual_information_nats"] - long["mutual_information_nats"])
    print(
        f"supervised bound ({dims} components, 3 splits): {ANALYSIS_PROBE_STEPS} iterations {ours_s:.2f} s "
        f"({ours['mutual_information_nats']:.3f} nats), {max_iter} iterations {long_s:.2f} s "
        f"({long['mutual_information_nats']:.3f} nats), |difference| {difference:.3f} nats"
    )
    print(f"ratio {max_iter} / {ANALYSIS_PROBE_STEPS} L-BFGS iterations: {long_s / ours_s:.2f}x")
    return {"ours_seconds": ours_s, "reference_seconds": long_s, "difference_nats": difference}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=896, help="rows of the layer (the analysis' train pairs)")
    parser.add_argument("--width", type=int, default=4096, help="pooled width of the layer")
    parser.add_argument("--dims", type=int, default=256, help="principal components kept (analyze's default)")
    parser.add_argument("--critic_steps", type=int, default=300)
    parser.add_argument("--max_iter", type=int, default=300, help="the reference's L-BFGS iterations")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians are reported")
    args = parser.parse_args(argv)
    layer, view, labels = synthetic_layer(args.clips, args.width)
    print(f"device: cpu, {torch.get_num_threads()} threads")
    return {
        "components": compare_components(layer, args.dims, args.repeats),
        "critics": compare_critics(layer, view, args.dims, args.critic_steps, args.repeats),
        "bound": compare_bound(layer, labels, args.dims, args.max_iter, args.repeats),
    }


if __name__ == "__main__":
    main()
