"""What an analysis says about its own scope and limits, in plain words: how much of the
workload it covered, a max_indexes that stopped the selection, and phases that could not
run (or not completely). Each is an insight, and a line of the summary's recommendations,
so a person reading only the summary still learns that the advice is partial.
"""

from __future__ import annotations

from optimizer_service.model import Insight
from optimizer_service.workload import Coverage

INFO, WARNING, ERROR = 1, 2, 3
MIB = 1 << 20


def mib(size: int) -> str:
    return f"{size / MIB:.0f} MB" if size >= MIB else f"{size / 1024:.0f} kB"


def seconds(ms: float) -> str:
    return f"{ms / 1000:,.1f} s"


def coverage_insight(c: Coverage, max_queries: int) -> Insight:
    """How much of the workload's total time the analysed statements take."""
    head = (
        f"the {c.analysed} statements analysed take {c.percent:.1f}% of the workload's total "
        f"execution time ({seconds(c.analysed_time_ms)} of {seconds(c.total_time_ms)}, "
        f"{c.total} statements)"
    )
    if not c.left_out:
        return Insight(INFO, "WORKLOAD_COVERAGE", head + "; none was left out")
    tail = f"; {c.left_out} statements taking the other {100 - c.percent:.1f}% were left out"
    if c.capped:
        return Insight(
            WARNING,
            "WORKLOAD_COVERAGE",
            head + tail + f": max_queries = {max_queries} stopped short of the "
            f"{c.target_percent:g}% asked for (raise max_queries to cover more)",
        )
    return Insight(
        INFO,
        "WORKLOAD_COVERAGE",
        head + tail + f" (workload_coverage_percent = {c.target_percent:g})",
    )


def coverage_line(c: Coverage) -> str:
    return (
        f"The analysis covered {c.percent:.1f}% of the workload's total time "
        f"({c.analysed} of {c.total} statements; {c.left_out} left out)."
    )


def max_indexes_insight(
    max_indexes: int, used: int, budget: int, more: int, min_percent: float
) -> Insight:
    return Insight(
        INFO,
        "MAX_INDEXES_REACHED",
        f"max_indexes = {max_indexes} stopped the selection at {mib(used)} of a "
        f"{mib(budget)} budget; {more} more index(es) would each improve the workload by at "
        f"least {min_percent:g}% (raise max_indexes to see them)",
    )


def max_indexes_line(max_indexes: int, more: int) -> str:
    return (
        f"max_indexes = {max_indexes} was reached: {more} more worthwhile index(es) fit the "
        "budget; raise max_indexes to see them."
    )


# The phases a caller knows (as in the RPC errors): what each does.
PHASES = {
    "workload": "planning the workload's statements",
    "what-if": "the what-if search for new indexes",
}


def phase_incomplete(phase: str, what: str, cause: str) -> Insight:
    """A phase that ran, but not over everything: `what` it could not do, and why."""
    return Insight(
        WARNING,
        "PHASE_INCOMPLETE",
        f"the {phase} phase ({PHASES[phase]}) is incomplete: {what} ({cause}); the advice "
        "may miss indexes they would need; run the analysis again when the target is "
        "less busy",
    )


def phase_failed(phase: str, cause: str) -> Insight:
    """A phase that could not run to its end: its results are left out of the advice."""
    return Insight(
        ERROR,
        "PHASE_FAILED",
        f"the {phase} phase ({PHASES[phase]}) could not finish: {cause}; this run suggests "
        "no new index; run the analysis again when the target is less busy",
    )


def phases_line(phases: list[str]) -> str:
    return (
        f"Incomplete: the {' and '.join(phases)} phase(s) could not run completely (a lock or "
        "statement timeout); the advice may be partial — run the analysis again."
    )
