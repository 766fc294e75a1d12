"""Planning the workload's statements once, before the what-if search: each becomes an
`explain.Statement` with its baseline plan facts, or is left out for a reason.

Statements left out are counted by reason and reported in one insight (`skipped_insight`),
not one line each: with thousands of pg_stat_statements entries, a list would bury the
rest. Those that read only system catalogs (a driver's type introspection, monitoring) are
counted, never named. A statement the target could not plan in time (its lock_timeout or
statement_timeout ran out) is left out too, and the workload phase is then incomplete:
`Planned.timeouts` says so, and the analysis reports it as such; when none could be planned
at all, the analysis fails with that timeout, naming the phase.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from optimizer_service import catalog, errors, explain, guard, parameters, plans, whatif
from optimizer_service import workload as workloads
from optimizer_service.model import Insight, Options, ParamMode, Source, Table, Workload

SYSTEM_SCHEMAS = workloads.SYSTEM_SCHEMAS
CATALOGS = "read only system catalogs"
# Query ids named per reason in the insight; the rest are counted.
SHOWN_IDS = 5
SHOWN_REASONS = 8


@dataclass
class Planned:
    statements: list[explain.Statement] = field(default_factory=list)
    writes: dict[Table, float] = field(default_factory=dict)
    # reason → (severity, query ids), in the order first met.
    skipped: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    # Statements whose planning ran into a lock or statement timeout.
    timeouts: dict[str, int] = field(default_factory=dict)
    # The first of them: when no statement could be planned, the phase could not run at
    # all, and the analysis fails with it (naming the phase).
    first_timeout: BaseException | None = None
    considered: int = 0

    def skip(self, severity: int, reason: str, query_id: str) -> None:
        level, ids = self.skipped.setdefault(reason, (severity, []))
        self.skipped[reason] = (max(level, severity), ids)
        ids.append(query_id)


def skipped_insight(planned: Planned) -> Insight | None:
    """One insight for every statement left out, grouped by reason with counts."""
    if not planned.skipped:
        return None
    count = sum(len(ids) for _, ids in planned.skipped.values())
    # The most serious first, the most frequent first; catalog readers (counted) last.
    groups = sorted(
        planned.skipped.items(), key=lambda g: (g[0] == CATALOGS, -g[1][0], -len(g[1][1]))
    )
    parts = []
    for reason, (_, ids) in groups[:SHOWN_REASONS]:
        part = f"{len(ids)} {reason}"
        if reason != CATALOGS:
            shown = ", ".join(ids[:SHOWN_IDS]) + (", …" if len(ids) > SHOWN_IDS else "")
            part += f" (query {shown})" if len(ids) == 1 else f" (queries {shown})"
        parts.append(part)
    rest = sum(len(ids) for _, (_, ids) in groups[SHOWN_REASONS:])
    if rest:
        parts.append(f"{rest} for other reasons")
    severity = max(level for level, _ in planned.skipped.values())
    return Insight(
        severity,
        "QUERIES_NOT_PLANNED",
        f"{count} of {planned.considered} statements were not planned: " + "; ".join(parts),
    )


class Planner:
    """Plans every statement of a workload on the analysis's session (or engine)."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        engine: whatif.Engine | None,
        options: Options,
        version: int,
        progress: Callable[[float, str], None],
    ) -> None:
        self.conn = conn
        self.engine = engine
        self.opts = options
        self.version = version
        self.progress = progress
        self.roots: dict[Table, Table] = {}

    async def plan_all(self, workload: Workload) -> Planned:
        out = Planned()
        queries = workload.queries[: self.opts.max_queries]
        out.considered = len(queries)
        total = max(len(queries), 1)
        # Partitions a plan scans are read as their partitioned table (plans.lift).
        self.roots = await catalog.partition_roots(self.conn) if queries else {}
        for n, query in enumerate(queries):
            self.progress(n / total, f"planning query {n + 1} of {total}")
            await self._one(query, out)
        if workload.source == Source.PG_STAT_STATEMENTS and out.statements:
            table_writes(await catalog.table_writes(self.conn), workload, out.writes)
        return out

    async def _one(self, query: workloads.Query, out: Planned) -> None:
        kind = workloads.statement_kind(query.text)
        if kind == "utility":
            out.skip(1, "not a SELECT, INSERT, UPDATE or DELETE statement", query.query_id)
            return
        if kind == "unparsable":
            out.skip(1, "could not be parsed", query.query_id)
            return
        if workloads.reads_only_catalogs(query.text):
            out.skip(1, CATALOGS, query.query_id)
            return
        # Planning folds constants and estimates with stable functions: a query that could
        # run a user's code is never planned.
        unsafe = await guard.check_query(self.conn, query.text)
        if unsafe:
            out.skip(2, f"not planned: {unsafe}", query.query_id)
            return
        count = workloads.param_count(query.text)
        mode, sql = ParamMode.LITERAL, query.text
        if count:
            mode, sql = await parameters.choose(self.conn, query.text, self.opts.parameter_mode)
        stmt = explain.Statement(query=query, sql=sql, mode=mode, params=count, kind=kind)
        try:
            try:
                plan = await self._plan(stmt)
            except asyncpg.PostgresError as exc:
                if mode != ParamMode.PG_STATS or not errors.refused(exc):
                    raise
                # A value from pg_stats can mistype a parameter (it arrives as text): the
                # generic plan of the original statement still tells the truth.
                stmt = explain.Statement(
                    query=query, sql=query.text, mode=ParamMode.GENERIC, params=count, kind=kind
                )
                plan = await self._plan(stmt)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if not errors.refused(exc, timeouts=True):  # the target gone: the analysis stops
                raise
            cause = errors.from_target(exc, "plan")
            timeout = errors.kind_of(exc)
            if timeout in (errors.Kind.LOCK_TIMEOUT, errors.Kind.STATEMENT_TIMEOUT):
                out.timeouts[str(timeout)] = out.timeouts.get(str(timeout), 0) + 1
                out.first_timeout = out.first_timeout or exc
                out.skip(2, f"ran out of time while being planned ({cause})", query.query_id)
            else:
                out.skip(2, f"could not be planned ({cause})", query.query_id)
            return
        stmt.plan = plan
        # Reading a big plan's expressions is pure CPU: off the event loop.
        stmt.facts = plans.lift(await asyncio.to_thread(plans.facts, plan), self.roots)
        if stmt.facts.tables and all(t.schema in SYSTEM_SCHEMAS for t in stmt.facts.tables):
            out.skip(1, CATALOGS, query.query_id)
            return
        if stmt.facts.modified is not None:
            rows = query.rows or query.calls
            out.writes[stmt.facts.modified] = out.writes.get(stmt.facts.modified, 0.0) + rows
        if kind != "insert":
            out.statements.append(stmt)

    async def _plan(self, stmt: explain.Statement) -> object:
        if self.engine is not None:
            return await self.engine.plan(stmt, frozenset())
        return await explain.explain(self.conn, stmt, self.version)


def table_writes(
    table_writes: dict[Table, catalog.TableWrites],
    workload: Workload,
    writes: dict[Table, float],
) -> None:
    """Adds pg_stat_user_tables' modified rows, scaled to the workload's window.

    Its counters run since the database's statistics reset, the workload's since
    pg_stat_statements' reset; without both starts the two cannot be compared (a bulk
    load long ago is no write load now), so only the workload's own DML counts then.
    """
    start, end = workload.window.start, workload.window.end
    for table, tw in table_writes.items():
        if start is None or end is None or tw.since is None:
            continue
        table_window = (end - tw.since).total_seconds()
        if table_window <= 0:
            continue
        share = min(1.0, max(0.0, (end - start).total_seconds()) / table_window)
        writes[table] = max(writes.get(table, 0.0), tw.rows_modified * share)
