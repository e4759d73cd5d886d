"""Speed of the vectorised linear probe vs a loop of scikit-learn LogisticRegression fits, same protocol.

Both solve the same L2-regularised logistic regressions (sklearn's `C = 1 / (weight_decay * n)`) on the same
label subsets and keep the weight decay with the best validation accuracy. Each round times ours, then the
sklearn loop; `--repeats` rounds give the median of each (the machine may be shared). Prints both times, the
speed-up and the top-1 of both per fraction with their largest difference ("equal accuracy" = within 1
point). Defaults run in under a minute on 2 CPU cores; the paper's setting is
`--seeds 50 --dim 2048 --clips 7500` (4 fractions x 50 seeds; add `--device cuda` on a GPU).
`--threads N` caps torch's and the BLAS threads of both sides (default: each library's own choice).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics

import numpy as np
import torch
from sklearn_probe import sklearn_probe_reference
from threadpoolctl import threadpool_limits
from timing import alternating_rounds

from barlow_speech.evaluation.probes import linear_probe


def make_embeddings(clips: int, dim: int, classes: int, seed: int = 0):
    """Gaussian class clusters in `dim` dimensions, split 60/20/20 into train/validation/test."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, clips)
    x = (rng.normal(size=(classes, dim))[labels] * 0.3 + rng.normal(size=(clips, dim))).astype(np.float32)
    a, b = int(0.6 * clips), int(0.8 * clips)
    return (x[:a], labels[:a]), (x[a:b], labels[a:b]), (x[b:], labels[b:])


@contextlib.contextmanager
def thread_cap(threads: int | None):
    """Cap torch's intra-op threads and every BLAS/OpenMP pool at `threads` (None: leave them as they are)."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(previous)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=1500)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.5, 1.0])
    parser.add_argument("--weight_decays", type=float, nargs="+", default=[1e-2, 1e-1])
    parser.add_argument("--steps", type=int, default=300, help="L-BFGS iterations at most (ours)")
    parser.add_argument("--max_iter", type=int, default=1000, help="sklearn's max_iter")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    (xt, yt), (xv, yv), (xs, ys) = make_embeddings(args.clips, args.dim, args.classes)
    common = dict(fractions=args.fractions, seeds=range(args.seeds), weight_decays=args.weight_decays)
    with thread_cap(args.threads):
        ours_times, loop_times, ours, reference = alternating_rounds(
            lambda: linear_probe(xt, yt, xv, yv, xs, ys, steps=args.steps, device=args.device, **common),
            lambda: sklearn_probe_reference(xt, yt, xv, yv, xs, ys, max_iter=args.max_iter, **common),
            args.repeats,
        )
    vectorised, loop = statistics.median(ours_times), statistics.median(loop_times)
    heads = len(args.fractions) * args.seeds * len(args.weight_decays)
    print(
        f"{heads} probes ({len(args.fractions)} fractions x {args.seeds} seeds x "
        f"{len(args.weight_decays)} weight decays), "
        f"{args.clips} clips, {args.dim}-d, {args.classes} classes, threads {args.threads or 'default'}, "
        f"{ours['probe']['iterations']} L-BFGS iterations at most per batch"
    )
    print(
        f"rounds: vectorised {' '.join(f'{t:.2f}' for t in ours_times)} s   "
        f"sklearn loop {' '.join(f'{t:.2f}' for t in loop_times)} s"
    )
    print(
        f"vectorised: {vectorised:.2f} s   sklearn loop: {loop:.2f} s   speed-up: {loop / vectorised:.1f}x (medians)"
    )
    differences = []
    for key in ours["fractions"]:
        a, b = 100 * ours["fractions"][key]["mean"], 100 * reference["fractions"][key]["mean"]
        differences.append(abs(a - b))
        print(f"  fraction {key:>5}: top-1 vectorised {a:.2f} %   sklearn {b:.2f} %   difference {a - b:+.2f} points")
    print(
        f"largest top-1 difference: {max(differences):.2f} points "
        f"({'within' if max(differences) <= 1.0 else 'NOT within'} 1 point)"
    )


if __name__ == "__main__":
    main()
