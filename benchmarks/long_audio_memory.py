"""Peak memory of the feature extractor + forward pass on a 1-minute and a 20-minute clip, and their ratio (issue 33).

Each measurement runs in a fresh Python process: imports, the model (random weights, eval mode) and the clip (float32
noise) are loaded and a 1-s warm-up pass runs; the RSS is then read (the baseline) and the high-water mark reset
(`/proc/self/clear_refs`), and `extractor(clip)` + `model(**features)` run without gradients. The peak RSS (the
process' high-water mark VmHWM, which `clear_refs` resets) minus the baseline is what they needed; the absolute peak
is printed too. (`resource.getrusage`'s ru_maxrss cannot be used: a process started by another one inherits that
parent's RSS at `exec` as its ru_maxrss, so every measurement would read at least this script's own footprint.) The
outputs (`input_values`, `attention_mask`, `last_hidden_state`, `pooler_output`) grow with the clip by design, so the
peak beyond them is printed as well: the target is a 20-minute peak beyond the outputs within 2x of the 1-minute one.

Ours: chunked, the extractor computing `chunk_segments` segments per STFT call and the model running
`max_segments_per_forward` segments per backbone pass (the defaults, 32 each, or `--chunk_segments`). Reference: the
same code with chunking off (one STFT call and one backbone pass over every segment), what both did before issue 33.

    python benchmarks/long_audio_memory.py                                 # the demo's model and front end
    python benchmarks/long_audio_memory.py --front_ends demo default       # also the paper's 513-bin front end
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

FRONT_ENDS = {
    "demo": "the demo's small ResNet and front end (128 log-mel bands, n_fft 512, hop 256)",
    "default": "the demo's small ResNet on the default front end (513 linear STFT bins, n_fft 1024, hop 128)",
}
MODES = ("chunked", "unchunked")
MIB = 2**20


def status_bytes(field: str) -> int:
    """A memory field of Linux' `/proc/self/status` (`VmRSS`: resident now, `VmHWM`: its high-water mark) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status: this benchmark needs Linux")


def front_end_spec(front_end: str) -> dict:
    """The model config and feature extractor settings of a `FRONT_ENDS` entry, as JSON for a measuring process (which
    then imports only the model code, not the demo's training and data stack)."""
    from barlow_speech import BarlowSpeechFeatureExtractor
    from barlow_speech.recipes import SMALL_ENCODER

    extractor = SMALL_ENCODER.feature_extractor() if front_end == "demo" else BarlowSpeechFeatureExtractor()
    config = {**SMALL_ENCODER.config_kwargs(), "num_frequency_bins": extractor.num_bins}
    return {"config": config, "extractor": extractor.to_dict()}


def measure(spec: dict, seconds: float, mode: str, chunk_segments: int | None, threads: int | None) -> dict:
    """Run in a fresh process: the extractor + forward on one `seconds`-long clip; memory in bytes."""
    import numpy as np
    import torch

    from barlow_speech import BarlowSpeechConfig, BarlowSpeechFeatureExtractor, BarlowSpeechModel

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    extractor = BarlowSpeechFeatureExtractor.from_dict(spec["extractor"])
    config = BarlowSpeechConfig(**spec["config"])
    clip = np.random.default_rng(0).standard_normal(round(seconds * extractor.sampling_rate), dtype=np.float32) * 0.1
    segments = -(-len(clip) // extractor.segment_samples)  # back-to-back segments, the last one padded
    if mode == "unchunked":  # one STFT call and one backbone pass over every segment
        extractor.chunk_segments, config.max_segments_per_forward = segments, None
    elif chunk_segments is not None:
        extractor.chunk_segments = config.max_segments_per_forward = chunk_segments
    model = BarlowSpeechModel(config).eval()

    def run(audio: np.ndarray) -> int:
        """Extractor + forward; returns the bytes of their outputs."""
        features = extractor(audio, sampling_rate=extractor.sampling_rate, return_tensors="pt")
        with torch.no_grad():
            outputs = model(**features)
        tensors = [*features.values(), outputs.last_hidden_state, outputs.pooler_output]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)

    run(clip[: extractor.sampling_rate])  # warm-up: thread pools and oneDNN's first-call state are not the clip's
    baseline = status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts from the current RSS
    start = time.perf_counter()
    output_bytes = run(clip)
    return {
        "seconds": time.perf_counter() - start,
        "segments": segments,
        "baseline": baseline,
        "peak": status_bytes("VmHWM"),
        "outputs": output_bytes,
        "clip": clip.nbytes,
        "threads": torch.get_num_threads(),
        "chunks": [extractor.chunk_segments, config.max_segments_per_forward],
    }


def measure_in_child(script: str, options: dict, what: str) -> dict:
    """Run `script --child OPTIONS_JSON` in a fresh interpreter (its own peak RSS) and return the JSON its last line
    prints; a failure names `what` was measured and the child's stderr."""
    command = [sys.executable, script, "--child", json.dumps(options)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"measuring {what} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child_or_main(measure: Callable[..., dict], main: Callable[[], object]) -> None:
    """A fresh-process benchmark's entry: `--child OPTIONS_JSON` prints `measure(**options)` as JSON, anything else
    runs `main()`."""
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(**json.loads(sys.argv[2]))))
    else:
        main()


def measure_in_fresh_process(spec: dict, minutes: float, mode: str, args: argparse.Namespace) -> dict:
    options = {"spec": spec, "seconds": minutes * 60, "mode": mode, "chunk_segments": args.chunk_segments}
    return measure_in_child(__file__, {**options, "threads": args.threads}, f"{minutes:g} min {mode}")


def describe(minutes: float, run: dict) -> str:
    """One measurement as a line: the peak over the baseline, the absolute peak, the outputs and the rest."""
    return (
        f"{minutes:g} min ({run['segments']} segments, {run['threads']} threads, {run['seconds']:.1f} s): peak "
        f"{run['extra'] / MIB:,.1f} MiB over the baseline (absolute {run['peak'] / MIB:,.0f} MiB; baseline "
        f"{run['baseline'] / MIB:,.0f} MiB, holding the {run['clip'] / MIB:,.1f} MiB clip); outputs "
        f"{run['outputs'] / MIB:,.1f} MiB, beyond them {run['beyond_outputs'] / MIB:,.1f} MiB"
    )


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--front_ends", nargs="+", choices=list(FRONT_ENDS), default=["demo"])
    parser.add_argument("--short_minutes", type=float, default=1.0)
    parser.add_argument("--long_minutes", type=float, default=20.0)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="chunked (ours), unchunked")
    parser.add_argument(
        "--chunk_segments",
        type=int,
        default=None,
        help="segments per STFT call and per backbone pass when chunked (default: the extractor's and config's)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    lengths = (args.short_minutes, args.long_minutes)
    results: dict = {}
    for front_end in args.front_ends:
        print(f"{front_end}: {FRONT_ENDS[front_end]}; CPU, random weights, no gradients")
        spec = front_end_spec(front_end)
        for mode in args.modes:
            runs = {minutes: measure_in_fresh_process(spec, minutes, mode, args) for minutes in lengths}
            stft, backbone = runs[args.long_minutes]["chunks"]
            how = (
                f"{stft} segments per STFT call, {backbone} per backbone pass"
                if mode == "chunked"
                else "the reference"
            )
            print(f"  {mode} ({how}):")
            for minutes, run in runs.items():
                run["extra"] = run["peak"] - run["baseline"]
                run["beyond_outputs"] = run["extra"] - run["outputs"]
                print(f"    {describe(minutes, run)}")
            short, long = runs[args.short_minutes], runs[args.long_minutes]
            label = f"ratio {args.long_minutes:g} min / {args.short_minutes:g} min, {mode}"
            print(f"  {label}: {long['extra'] / short['extra']:.2f}x")
            print(f"  {label}, beyond the outputs: {long['beyond_outputs'] / short['beyond_outputs']:.2f}x")
            results[front_end, mode] = runs
    return results


if __name__ == "__main__":
    child_or_main(measure, main)
