"""Timing the benchmarks share: one timed call, and alternating rounds of ours and a reference."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(function: Callable, *args, **kwargs) -> tuple[Any, float]:
    """`function(*args, **kwargs)` and its wall-clock seconds."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def alternating_rounds(
    ours: Callable[[], Any], reference: Callable[[], Any], repeats: int
) -> tuple[list[float], list[float], Any, Any]:
    """Seconds of every round of `ours()` then `reference()` (alternating, so load on a shared machine hits both
    alike), and the last result of each."""
    ours_times, reference_times = [], []
    for _ in range(repeats):
        ours_result, seconds = timed(ours)
        ours_times.append(seconds)
        reference_result, seconds = timed(reference)
        reference_times.append(seconds)
    return ours_times, reference_times, ours_result, reference_result
