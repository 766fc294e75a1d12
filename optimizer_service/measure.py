"""Measuring one benchmark query: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` runs inside a
transaction that is always rolled back, and the per-query result.

Each side gets one warm-up run (not counted) and then `runs` measured ones. A SELECT runs
in a READ ONLY transaction, so even a function with side effects cannot write; a write runs
in a plain one, rolled back. For a drop, the "after" side drops the index inside that same
transaction first, so the index is gone only for the measured statement. Timings are the
executor's own (`Execution Time`, without planning); buffers are those of the
representative run (the one closest to the median), whose plan is reported.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from optimizer_service import ddl, errors, guard, redact, regression, samples, sandbox
from optimizer_service import workload as workloads
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

MEASURED = {"select", "insert", "update", "delete"}


@dataclass
class Prepared:
    """One query made ready to measure, or the reason it will not be."""

    query: analysis_pb2.WorkloadQuery
    sql: str = ""
    text: str = ""  # the statement as given, with its `$n` (what is reported, never values)
    kind: str = ""
    values: tuple[str, ...] = ()
    skipped: str = ""
    before: pb.Measurement | None = None
    after: pb.Measurement | None = None


async def prepare(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    where: str,
    query: Any,
    text: str,
    scratch: str | None = None,
) -> Prepared:
    """`text` (already rewritten for where it runs) with its `$n` values drawn.

    Never measured: a query that could run a user's code (`guard.check_query`), and on a
    scratch copy a write that still names a relation outside it (it would write to the
    target itself; rolled back, but a sequence or a function's effect is not)."""
    kind = workloads.statement_kind(text)
    if kind not in MEASURED:
        return Prepared(query, skipped=f"not measured: a {kind} statement")
    unsafe = await guard.check_query(conn, text, measured=True)
    if unsafe:
        return Prepared(query, skipped=f"not measured: {unsafe}")
    if scratch is not None and kind != "select":
        outside = [n for n in sandbox.relation_names(text) if not n.startswith(f"{scratch}.")]
        if outside:
            return Prepared(
                query, skipped="not measured: a write to a relation that was not copied"
            )
    try:
        values, sql = await samples.draw(conn, emit, where, text)
    except samples.NoValue as exc:
        return Prepared(query, skipped=str(exc))
    except asyncpg.PostgresError as exc:
        if not errors.refused(exc, timeouts=True):  # one query skipped, not the benchmark
            raise
        return Prepared(
            query, skipped=f"no parameter values: {errors.from_target(exc, 'draw values')}"
        )
    return Prepared(query, sql=sql, text=text, kind=kind, values=tuple(values))


def uses(node: object, index: str) -> bool:
    """Whether an EXPLAIN JSON plan reads index `index` anywhere."""
    if isinstance(node, dict):
        return node.get("Index Name") == index or any(uses(v, index) for v in node.values())
    if isinstance(node, list):
        return any(uses(v, index) for v in node)
    return False


async def measure(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    where: str,
    p: Prepared,
    runs: int,
    index: str,
    drop: str | None = None,
) -> pb.Measurement | str:
    """`runs` measured runs after one warm-up, or why the query failed.

    `index` is the benchmarked index's name (to tell whether plans use it); `drop`, when
    given, is the qualified index to drop inside each run's transaction.
    """
    explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {p.sql}"
    reported = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {p.text or p.sql}"
    # Writes (and a drop's DROP INDEX) run only on a sandbox or a scratch copy, in a
    # transaction that is always rolled back; every other run is READ ONLY.
    begin = "BEGIN READ ONLY" if p.kind == "select" and drop is None else "BEGIN READ WRITE"
    steps = [begin, *([f"DROP INDEX {drop}"] if drop else []), reported, "ROLLBACK"]
    plans: list[dict[str, Any]] = []
    for n in range(runs + 1):
        await conn.execute(begin)
        try:
            if drop:
                await conn.execute(f"DROP INDEX {drop}")
            raw = await ddl.run(
                conn, emit, where, explain, call=conn.fetchval, shown="; ".join(steps)
            )
        except asyncpg.PostgresError as exc:
            if not errors.refused(exc, timeouts=True):  # one query failed, not the benchmark
                raise
            return f"failed: {errors.from_target(exc, 'measure')}"
        finally:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.execute("ROLLBACK")
        if n > 0:
            plans.append(json.loads(str(raw))[0])
    timings = [float(plan["Execution Time"]) for plan in plans]
    stats = regression.summarize(timings)
    chosen = plans[regression.representative(timings)]
    top = chosen["Plan"]
    return pb.Measurement(
        median_ms=stats.median,
        spread_ms=stats.spread,
        min_ms=stats.minimum,
        max_ms=stats.maximum,
        runs=stats.runs,
        shared_hit_blocks=int(top.get("Shared Hit Blocks", 0)),
        shared_read_blocks=int(top.get("Shared Read Blocks", 0)),
        plan=json.dumps(chosen),
        index_used=uses(chosen, index),
    )


def _stats(m: pb.Measurement) -> regression.Stats:
    return regression.Stats(m.median_ms, m.spread_ms, m.min_ms, m.max_ms, m.runs)


def query_result(p: Prepared, show_values: bool = False) -> pb.QueryBenchmark:
    """The proto of one query's benchmark, with its regression flag; drawn values and the
    constants of its plans are redacted unless the target lets them be shown."""
    q = pb.QueryBenchmark(
        query_id=p.query.query_id or workloads.text_id(p.query.text),
        text=p.query.text,
        parameter_values=redact.values(p.values, show_values),
        skipped_reason=p.skipped,
    )
    if not p.skipped and p.before is not None and p.after is not None:
        q.before.CopyFrom(p.before)
        q.after.CopyFrom(p.after)
        q.before.plan = redact.plan_json(p.before.plan, show_values)
        q.after.plan = redact.plan_json(p.after.plan, show_values)
        q.regression = regression.regressed(_stats(p.before), _stats(p.after))
    return q
