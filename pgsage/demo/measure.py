"""Before/after timings of the demo workload around a set of CREATE INDEX statements.

For every statement of the workload the same seeded parameter values are used before and
after: one warm-up pass, then `samples` timed calls; reads fetch their rows, writes run inside
a transaction that is rolled back (so measuring never changes the data, and the write cost of
the new indexes is counted). Between the two, the indexes are built (plain CREATE INDEX, then
ANALYZE); afterwards they are dropped again unless `keep`. The workload figure is the sum of
weight * median per round, before and after, and their ratio. Each read also says whether its
plan after uses one of the new indexes. Its own calls are kept out of pg_stat_statements
(`pg_stat_statements.track = none` in its session), so measuring does not distort the window
the optimizer analyses.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import time
from dataclasses import dataclass

import asyncpg

from pgsage.demo import schema, workload

_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


@dataclass(frozen=True)
class Timing:
    name: str
    weight: int
    write: bool
    before_ms: float
    after_ms: float
    uses_new_index: bool

    @property
    def ratio(self) -> float:
        return self.after_ms / self.before_ms if self.before_ms else 1.0


@dataclass(frozen=True)
class Measurement:
    statements: tuple[str, ...]
    index_names: tuple[str, ...]
    index_bytes: int
    timings: tuple[Timing, ...]

    def workload_ms(self, after: bool) -> float:
        return sum(t.weight * (t.after_ms if after else t.before_ms) for t in self.timings)


async def _time(
    conn: asyncpg.Connection, calls: list[tuple[workload.Statement, workload.Params]]
) -> dict[str, float]:
    """Median milliseconds per statement name over `calls` (after one warm-up pass)."""
    for st, params in calls:
        await _call(conn, st, params)
    samples: dict[str, list[float]] = {}
    for st, params in calls:
        started = time.perf_counter()
        await _call(conn, st, params)
        samples.setdefault(st.name, []).append(1000 * (time.perf_counter() - started))
    return {name: statistics.median(v) for name, v in samples.items()}


async def _call(conn: asyncpg.Connection, st: workload.Statement, params: workload.Params) -> None:
    if st.write:
        tx = conn.transaction()
        await tx.start()
        try:
            await workload.execute(conn, st, params)
        finally:
            await tx.rollback()
    else:
        await workload.execute(conn, st, params)


async def _indexes(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return {r["indexname"] for r in rows}


async def _plan_indexes(
    conn: asyncpg.Connection, st: workload.Statement, params: workload.Params
) -> set[str]:
    plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {st.sql}", *params))
    found: set[str] = set()
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        if "Index Name" in node:
            found.add(node["Index Name"])
        stack.extend(node.get("Plans", []))
    return found


async def measure(
    dsn: str, statements: list[str], *, samples: int = 15, keep: bool = False, seed: int = 11
) -> Measurement:
    """Times the workload, builds `statements`, times it again, drops them (unless `keep`)."""
    conn = await asyncpg.connect(dsn, server_settings={"pg_stat_statements.track": "none"})
    try:
        size = await _size(conn)
        rng = random.Random(seed)
        calls = [(st, st.params(rng, size)) for st in workload.STATEMENTS for _ in range(samples)]
        before = await _time(conn, calls)
        existing = await _indexes(conn)
        for s in statements:
            await conn.execute(_CONCURRENTLY.sub("", s))
        new = sorted(await _indexes(conn) - existing)
        index_bytes = 0
        for name in new:
            index_bytes += await conn.fetchval("SELECT pg_relation_size($1::regclass)", name)
        await conn.execute("ANALYZE")
        try:
            after = await _time(conn, calls)
            used = {
                st.name: bool(await _plan_indexes(conn, st, params) & set(new))
                for st, params in calls[::samples]
                if not st.write
            }
        finally:
            if not keep:
                for name in new:
                    await conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    finally:
        await conn.close()
    timings = tuple(
        Timing(
            st.name, st.weight, st.write, before[st.name], after[st.name], used.get(st.name, False)
        )
        for st in workload.STATEMENTS
    )
    return Measurement(tuple(statements), tuple(new), index_bytes, timings)


async def _size(conn: asyncpg.Connection) -> schema.Size:
    """The demo's row counts as they are now (parameters are drawn within them)."""
    row = await conn.fetchrow(
        "SELECT (SELECT max(id) FROM customers) AS c, (SELECT max(id) FROM products) AS p,"
        " (SELECT max(id) FROM orders) AS o, (SELECT max(id) FROM events) AS e"
    )
    return schema.Size(customers=row["c"], products=row["p"], orders=row["o"], events=row["e"])


def render(m: Measurement) -> str:
    """A table a person can paste into the README."""
    lines = [
        "| statement | calls / round | before (median ms) | after (median ms) | after / before "
        "| plan uses a new index |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in m.timings:
        uses = "—" if t.write else ("yes" if t.uses_new_index else "no")
        kind = " (write, rolled back)" if t.write else ""
        lines.append(
            f"| {t.name}{kind} | {t.weight} | {t.before_ms:.2f} | {t.after_ms:.2f} "
            f"| {t.ratio:.2f} | {uses} |"
        )
    before, after = m.workload_ms(False), m.workload_ms(True)
    lines += [
        "",
        f"Workload per round (sum of calls x median): {before:.0f} ms before, {after:.0f} ms "
        f"after: {after / before:.3f} of before ({before / after:.1f}x faster).",
        f"Indexes built ({len(m.index_names)}, {m.index_bytes / 1e6:.1f} MB real size):",
        *(f"  {s}" for s in m.statements),
    ]
    return "\n".join(lines)
