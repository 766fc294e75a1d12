"""The printout of bench/bigdb.py: Markdown tables a person can paste into a note."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bench import _platform as bp
from bench._bigdb_build import Built
from bench._bigdb_measure import Analysis, Apply, Concurrency, med

MIB = 1 << 20
GIB = 1 << 30
APPLY_TARGET = 1.1  # pgsage's APPLY ≤ 1.1 x the bare CREATE INDEX CONCURRENTLY


@dataclass
class Outcome:
    built: Built
    optimizer_idle_rss: int = 0
    optimizer_rss_after: int = 0  # when idle again after the analyses
    analyses: list[Analysis] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # how 2000 statements ended
    apply: Apply | None = None
    concurrency: Concurrency | None = None
    load: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0


def _size(n: int) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def _build(b: Built) -> str:
    how = "reused (built earlier in" if b.reused else "built in"
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in b.steps.items())
    rows = [
        ["build", f"{how} {b.seconds:.0f} s{')' if b.reused else ''}: {steps}"],
        ["database", _size(b.database_bytes)],
        ["events", f"{b.events_rows:,} rows, table {_size(b.events_table_bytes)}, "
         f"indexes {_size(b.events_index_bytes)}"],
        ["readings (partitioned)", f"{b.readings_rows:,} rows in {b.readings_partitions} "
         f"partitions, {_size(b.readings_bytes)}"],
        ["tables", f"{b.tables} (partitions not counted)"],
        ["pg_stat_statements", f"{b.statements:,} distinct statements, "
         f"{b.statements_time_ms / 1000:,.1f} s of execution time"],
    ]  # fmt: skip
    return bp.table("Target", ["", ""], rows)


def _label(a: Analysis) -> str:
    cov = f"{a.coverage_asked:g} %" if a.coverage_asked else "default (95 %)"
    return f"{a.max_queries} @ {cov}"


def _analyses(o: Outcome) -> str:
    groups: dict[str, list[Analysis]] = {}
    for a in o.analyses:
        groups.setdefault(_label(a), []).append(a)
    rows = []
    for label, runs in groups.items():
        ok = [a for a in runs if not a.error]
        if not ok:
            rows.append([label, f"error: {runs[0].error}"] + [""] * 10)
            continue

        def m(get: object, runs: list[Analysis] = ok) -> float:
            return med([get(a) for a in runs])  # type: ignore[operator]

        rows.append([
            label, f"{len(ok)}", f"{m(lambda a: a.seconds):.1f} s",
            f"{m(lambda a: a.peak_rss) / MIB:.0f} MiB",
            f"{m(lambda a: a.what_if_calls):,.0f}",
            f"{m(lambda a: a.cache_hits):,.0f}",
            f"{m(lambda a: a.analysed):.0f} of {ok[0].total_statements:,}",
            f"{m(lambda a: a.coverage):.1f} %",
            f"{m(lambda a: a.first_progress):.2f} s",
            f"{m(lambda a: a.events_per_second):.1f}",
            f"{m(lambda a: a.longest_gap):.2f} s",
            f"{m(lambda a: a.suggestions):.0f}"
            + (f" (incomplete: {', '.join(ok[0].incomplete)})" if ok[0].incomplete else ""),
        ])  # fmt: skip
    header = [
        "max_queries @ coverage", "runs", "wall (median)", "peak RSS", "what-if calls",
        "cache hits",
        "statements analysed", "coverage", "first progress", "progress events/s",
        "longest gap", "CREATE INDEX",
    ]  # fmt: skip
    title = "Analyze (straight to the optimizer, pg_stat_statements workload)"
    text = bp.table(title, header, rows)
    lines = [
        text,
        "",
        f"Optimizer RSS when idle (baseline): {o.optimizer_idle_rss / MIB:.0f} MiB; idle again "
        f"after these analyses: {o.optimizer_rss_after / MIB:.0f} MiB.",
    ]
    small, large = groups.get("200 @ 100 %", []), groups.get("1000 @ 100 %", [])
    small, large = [a for a in small if not a.error], [a for a in large if not a.error]
    if small and large:

        def ratio(get: object) -> str:
            a, b = med([get(x) for x in large]), med([get(x) for x in small])  # type: ignore[operator]
            return f"{a / b:.2f}x" if b else "-"

        lines.append(
            f"1000 vs 200 statements: wall {ratio(lambda a: a.seconds)}, peak RSS "
            f"{ratio(lambda a: a.peak_rss)}, RSS above idle "
            f"{ratio(lambda a: a.peak_rss - o.optimizer_idle_rss)}, what-if calls "
            f"{ratio(lambda a: a.what_if_calls)}, what-if cache hits "
            f"{ratio(lambda a: a.cache_hits)}."
        )
    for how, what in o.refused.items():
        lines.append(f"max_queries = 2000 {how}: {what}")
    return "\n".join(lines)


def _apply(a: Apply) -> str:
    if a.error and not (a.pgsage and a.bare):
        return f"### APPLY vs bare CREATE INDEX CONCURRENTLY\n\nnot measured: {a.error}"
    bare, ours = med([b.seconds for b in a.bare]), med([b.seconds for b in a.pgsage])
    rows = [
        ["bare CREATE INDEX CONCURRENTLY (baseline)", f"{len(a.bare)}", f"{bare:.1f} s",
         "", "1.00x", "", ""],
        ["pgsage APPLY job, CreateJob → SUCCEEDED seen", f"{len(a.pgsage)}", f"{ours:.1f} s",
         f"{med([b.job_seconds for b in a.pgsage]):.1f} s", f"{ours / bare:.2f}x",
         f"{med([b.first_progress for b in a.pgsage]):.2f} s",
         f"{med([b.progress_events for b in a.pgsage]):.0f} "
         f"({med([b.events_per_second for b in a.pgsage]):.2f}/s)"],
    ]  # fmt: skip
    header = [
        "build", "runs", "wall (median)", "job start → end", "ratio",
        "first build progress", "build progress events",
    ]  # fmt: skip
    verdict = "met" if ours / bare <= APPLY_TARGET else "NOT met"
    phases = a.pgsage[0].phases if a.pgsage else ()
    return "\n".join([
        bp.table("APPLY of the top suggestion vs the bare build, same run", header, rows),
        "",
        f"Statement: `{a.suggestion_sql}` (estimated {_size(a.estimated_bytes)}, "
        f"real {_size(a.index_bytes)}).",
        f"Target ≤ {APPLY_TARGET}x: {verdict}. Phases seen: {' → '.join(phases) or '-'}."
        + (f" Error: {a.error}" if a.error else ""),
    ])  # fmt: skip


def _concurrency(c: Concurrency) -> str:
    if c.error and not c.seconds:
        return f"### Concurrent analyses\n\nnot measured: {c.error}"
    rows = [
        ["one analysis job alone (baseline)", "1", f"{c.alone_seconds:.1f} s", "", ""],
        [f"{c.jobs} analysis jobs at once (2 job services x {c.jobs // 2})", f"{c.jobs}",
         f"{c.seconds:.1f} s", f"{c.seconds / (c.jobs * c.alone_seconds):.2f}x"
         if c.alone_seconds else "-",
         ", ".join(f"{k} {v}" for k, v in sorted(c.states.items()))],
    ]  # fmt: skip
    verdict = "held" if c.peak_sessions <= c.cap else "EXCEEDED"
    return "\n".join([
        bp.table("Concurrent analyses of the one target", [
            "", "jobs", "wall", "wall / (jobs x alone)", "ended"], rows),
        "",
        f"Peak pgsage sessions on the target: {c.peak_sessions} (working {c.peak_working}) "
        f"with max_sessions = {c.cap}: cap {verdict} ({c.samples:,} samples of "
        "pg_stat_activity, every 20 ms). Same suggestions as the job alone: "
        f"{'yes' if c.same_suggestions else 'NO'}." + (f" Error: {c.error}" if c.error else ""),
    ])  # fmt: skip


def render(o: Outcome) -> str:
    parts = [
        f"## pgsage on a production-size target (scale {o.built.scale})",
        "",
        f"{os.cpu_count()} cores; 1-minute load {o.load[0]:.1f} at the start, {o.load[1]:.1f} "
        f"at the end; whole run {o.seconds:.0f} s.",
        "",
        _build(o.built),
        "",
        _analyses(o),
    ]
    if o.apply is not None:
        parts += ["", _apply(o.apply)]
    if o.concurrency is not None:
        parts += ["", _concurrency(o.concurrency)]
    return "\n".join(parts)


def verdict(o: Outcome) -> int:
    """0: the targets were met (APPLY ≤ 1.1 x bare, the session cap held, every concurrent
    job succeeded); 1: measured, not met; 2: a part could not be measured."""
    a, c = o.apply, o.concurrency
    if (
        a is None
        or c is None
        or a.error
        or c.error
        or any(x.error for x in o.analyses if x.max_queries <= 1000)
    ):
        return 2
    ours, bare = med([b.seconds for b in a.pgsage]), med([b.seconds for b in a.bare])
    met = ours <= APPLY_TARGET * bare and c.peak_sessions <= c.cap
    return 0 if met and c.states.get("SUCCEEDED") == c.jobs else 1
