"""Speed of the linear probe solved in the row space of each label subset vs in the embedding's coordinates.

The demo's probes read pooled maps of 512 to 2,048 dimensions from 2,000 train clips, so its 5 % and 10 % label
subsets (100 and 200 clips) are far narrower than the embedding; `fit_logistic_heads` solves such runs
(`ROW_SPACE_MAX_RATIO`) in the row space of their features, the same iterates at about subset_size / dim of the cost
per iteration. Each round times the protocol (`linear_probe`) with the row-space solve, then with
`row_space=False`; `--repeats` rounds give the median of each. Prints both times, the speed-up and the top-1 of
both per fraction with their largest difference. Defaults (the demo's speaker probe of its deepest layers at 5 %
and 10 % labels: 2,048-d, 64 classes, 2 fractions x 3 seeds x 4 weight decays, 200 iterations) run in about half a
minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import functools
import statistics
from unittest import mock

from probes import make_embeddings
from timing import alternating_rounds

from barlow_speech.evaluation import probes
from barlow_speech.evaluation.probes import WEIGHT_DECAYS, linear_probe


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=3334, help="60 %% train: 2,000 at the default")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--steps", type=int, default=200, help="L-BFGS iterations at most")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    (xt, yt), (xv, yv), (xs, ys) = make_embeddings(args.clips, args.dim, args.classes)
    common = dict(fractions=args.fractions, seeds=range(args.seeds), steps=args.steps, device=args.device)
    direct = functools.partial(probes.fit_logistic_heads, row_space=False)

    def in_dim_coordinates():
        with mock.patch.object(probes, "fit_logistic_heads", direct):
            return linear_probe(xt, yt, xv, yv, xs, ys, **common)

    row_times, direct_times, ours, reference = alternating_rounds(
        lambda: linear_probe(xt, yt, xv, yv, xs, ys, **common), in_dim_coordinates, args.repeats
    )
    row, full = statistics.median(row_times), statistics.median(direct_times)
    print(
        f"{len(args.fractions) * args.seeds * len(WEIGHT_DECAYS)} probes ({len(args.fractions)} fractions x "
        f"{args.seeds} seeds x {len(WEIGHT_DECAYS)} weight decays), {len(xt)} train clips, {args.dim}-d, "
        f"{args.classes} classes, {args.steps} L-BFGS iterations at most"
    )
    print(f"row space: {row:.2f} s   dim coordinates: {full:.2f} s   speed-up: {full / row:.2f}x (medians)")
    differences = []
    for key in ours["fractions"]:
        a, b = 100 * ours["fractions"][key]["mean"], 100 * reference["fractions"][key]["mean"]
        differences.append(abs(a - b))
        print(f"  fraction {key:>5}: top-1 row space {a:.2f} %   dim coordinates {b:.2f} %   difference {a - b:+.2f}")
    print(f"largest top-1 difference: {max(differences):.2f} points")
    return {"ours_seconds": row, "reference_seconds": full, "largest_difference": max(differences)}


if __name__ == "__main__":
    main()
