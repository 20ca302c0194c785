"""The figures of a list of call durations (µs), computed as ``connector-host invoke
--repeat`` computes them (host/src/cli/repeat.rs): the median of an even count is the mean
of the two middle calls, p90 and p99 are nearest-rank."""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def summary(durations: Sequence[float]) -> dict[str, float]:
    """Mean, median, p90, p99 and min of at least one duration, to a tenth of a µs."""
    ordered = sorted(durations)
    count = len(ordered)

    def nearest_rank(fraction: float) -> float:
        return ordered[min(count, max(1, math.ceil(fraction * count))) - 1]

    return {
        "mean_us": round(statistics.fmean(ordered), 1),
        "median_us": round(statistics.median(ordered), 1),
        "p90_us": round(nearest_rank(0.9), 1),
        "p99_us": round(nearest_rank(0.99), 1),
        "min_us": round(ordered[0], 1),
    }
