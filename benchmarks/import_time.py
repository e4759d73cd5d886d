"""`import barlow_speech` vs what any transformers model costs to import, and vs importing the trainer too.

Each statement runs in a fresh interpreter, timed inside it (interpreter start-up excluded), rounds alternating so
that machine load hits every statement alike; the median of `--repeats` rounds is reported. The training names
(`BarlowTwinsTrainer`, `BarlowTwinsArguments`) load on first access, so `import barlow_speech` should cost about what
`from transformers import PreTrainedModel` does (torch + transformers' modeling code), well under the eager import.

    python benchmarks/import_time.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

STATEMENTS = {
    "import transformers": "import transformers",
    "from transformers import PreTrainedModel": "from transformers import PreTrainedModel",
    "import barlow_speech": "import barlow_speech",
    "import barlow_speech + BarlowTwinsTrainer": "import barlow_speech; barlow_speech.BarlowTwinsTrainer",
}


def time_import(statement: str) -> float:
    """Seconds `statement` takes in a fresh interpreter."""
    code = f"import time; start = time.perf_counter(); {statement}; print(time.perf_counter() - start)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {label: [] for label in STATEMENTS}
    for _ in range(args.repeats):
        for label, statement in STATEMENTS.items():
            times[label].append(time_import(statement))
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, seconds in medians.items():
        print(f"{label}: {seconds:.2f} s")
    ours = medians["import barlow_speech"]
    print(
        f"ratio import barlow_speech / from transformers import PreTrainedModel: "
        f"{ours / medians['from transformers import PreTrainedModel']:.2f}x"
    )
    print(f"ratio import barlow_speech / import transformers: {ours / medians['import transformers']:.2f}x")
    print(
        "ratio import barlow_speech / with the trainer: "
        f"{ours / medians['import barlow_speech + BarlowTwinsTrainer']:.2f}x"
    )
    return medians


if __name__ == "__main__":
    main()
