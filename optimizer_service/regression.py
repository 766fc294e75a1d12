"""The numbers of a benchmark: summary statistics of repeated runs, and the regression rule.

Pure functions, no I/O, so the rule can be tested with synthetic timings.

The rule: a query regresses when its median after the change is slower than its median
before by more than max(10 % of the before-median, 3 x the run-to-run spread). The spread
is the median absolute deviation (MAD), robust to one slow outlier run; of the two sides,
the larger spread is used, so noise on either side never flags a suggestion.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_RELATIVE = 0.10
SPREADS = 3.0


@dataclass(frozen=True)
class Stats:
    """Median, spread (MAD), min and max of one side's timings, in milliseconds."""

    median: float
    spread: float
    minimum: float
    maximum: float
    runs: int


def summarize(timings: Sequence[float]) -> Stats:
    """The summary of one side's timings; at least one timing is required."""
    if not timings:
        raise ValueError("no timings to summarize")
    median = statistics.median(timings)
    spread = statistics.median(abs(t - median) for t in timings)
    return Stats(median, spread, min(timings), max(timings), len(timings))


def threshold(before: Stats, after: Stats) -> float:
    """How much slower (ms) the after-median may be before it counts as a regression."""
    return max(MIN_RELATIVE * before.median, SPREADS * max(before.spread, after.spread))


def regressed(before: Stats, after: Stats) -> bool:
    """Whether `after` is slower than `before` beyond the noise (see the module doc)."""
    return after.median - before.median > threshold(before, after)


def representative(timings: Sequence[float]) -> int:
    """The index of the run closest to the median (its plan is the one reported)."""
    median = statistics.median(timings)
    return min(range(len(timings)), key=lambda i: (abs(timings[i] - median), i))
