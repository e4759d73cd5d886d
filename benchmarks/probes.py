"""Speed of the vectorised linear probe vs a loop of scikit-learn LogisticRegression fits, same protocol.

Prints both wall times, the speed-up ratio and the mean top-1 per fraction of each. Defaults run in about
a minute on a laptop CPU; the paper's setting is
`--seeds 50 --dim 2048 --clips 7500` (4 fractions x 50 seeds; use `--device cuda` on a GPU).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from barlow_speech.evaluation.probes import linear_probe, sklearn_probe_reference


def make_embeddings(clips: int, dim: int, classes: int, seed: int = 0):
    """Gaussian class clusters in `dim` dimensions, split 60/20/20 into train/validation/test."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, clips)
    x = (rng.normal(size=(classes, dim))[labels] * 0.3 + rng.normal(size=(clips, dim))).astype(np.float32)
    a, b = int(0.6 * clips), int(0.8 * clips)
    return (x[:a], labels[:a]), (x[a:b], labels[a:b]), (x[b:], labels[b:])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=1500)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.5, 1.0])
    parser.add_argument("--weight_decays", type=float, nargs="+", default=[1e-2, 1e-1])
    parser.add_argument("--learning_rate", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    (xt, yt), (xv, yv), (xs, ys) = make_embeddings(args.clips, args.dim, args.classes)
    common = dict(fractions=args.fractions, seeds=range(args.seeds), weight_decays=args.weight_decays)
    start = time.perf_counter()
    ours = linear_probe(xt, yt, xv, yv, xs, ys, learning_rates=[args.learning_rate], steps=args.steps, device=args.device, **common)
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    reference = sklearn_probe_reference(xt, yt, xv, yv, xs, ys, **common)
    loop = time.perf_counter() - start
    heads = len(args.fractions) * args.seeds * len(args.weight_decays)
    print(f"{heads} probes ({len(args.fractions)} fractions x {args.seeds} seeds x {len(args.weight_decays)} weight decays), "
          f"{args.clips} clips, {args.dim}-d, {args.classes} classes")
    print(f"vectorised: {vectorised:.2f} s   sklearn loop: {loop:.2f} s   speed-up: {loop / vectorised:.1f}x")
    for key in ours["fractions"]:
        print(f"  fraction {key:>5}: top-1 vectorised {100 * ours['fractions'][key]['mean']:.2f} %   sklearn {100 * reference['fractions'][key]['mean']:.2f} %")


if __name__ == "__main__":
    main()
