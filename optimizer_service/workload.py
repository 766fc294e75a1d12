"""The workload an analysis works on: pg_stat_statements, the request, or a replay.

pg_stat_statements gives the top statements by total execution time, weighted by calls,
over the window since its statistics were last reset; pgsage's own statements (they all
carry `MARKER`, see `targets`) are never part of it. Of thousands of entries, only the top
ones that together take a given share of the total time (`cover`, 95 % by default, at most
`max_queries`) are analysed; the workload keeps the count and total time of all of them, so
the coverage can be reported (and a replay reports the same). Queries given in a request get a
stable id (a hash of their text) and weight 1 unless they say otherwise. A replay (a retried
job sending back the workload of its first attempt) is used exactly as given, so the same
workload gives the same advice in the same order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pglast
from pglast import ast

from optimizer_service import targets
from optimizer_service.model import Query, Source, Window, Workload
from pgsage import sqlcheck

TOP_SQL = """
SELECT s.queryid::text AS query_id, s.query, s.calls, s.total_exec_time, s.rows,
       count(*) OVER () AS all_statements, sum(s.total_exec_time) OVER () AS all_time
FROM pg_stat_statements s
JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database()
  AND s.calls > 0
  AND strpos(s.query, $2) = 0
  AND s.query !~* '^\\s*(explain|prepare|deallocate|set|show|begin|commit|rollback)'
  AND s.query !~* '^\\s*(vacuum|analyze|create|drop|alter|select\\s+hypopg)'
ORDER BY s.total_exec_time DESC, s.queryid
LIMIT $1
"""


def text_id(text: str) -> str:
    """The id of a query given by text: a hash of its whitespace-normalized text."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def statement_kind(text: str) -> str:
    """`select`, `insert`, `update`, `delete` or `utility` (also for unparsable text)."""
    try:
        stmts = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return "unparsable"
    if len(stmts) != 1:
        return "utility"
    stmt = stmts[0].stmt
    kinds = {
        ast.SelectStmt: "select",
        ast.InsertStmt: "insert",
        ast.UpdateStmt: "update",
        ast.DeleteStmt: "delete",
    }
    return kinds.get(type(stmt), "utility")


SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema"})


def reads_only_catalogs(text: str) -> bool:
    """Whether every relation the statement reads is a system catalog (a driver's type
    introspection, a monitoring query): nothing an index of the user's could speed up.
    Names of its own CTEs are not relations; an unqualified `pg_*` name is the catalog
    (pg_catalog comes first on every search_path)."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return False
    nodes = list(sqlcheck.walk(tree))
    ctes = {n.ctename for n in nodes if isinstance(n, ast.CommonTableExpr) and n.ctename}
    relations = [n for n in nodes if isinstance(n, ast.RangeVar)]
    catalogs = 0
    for rel in relations:
        if rel.schemaname in SYSTEM_SCHEMAS or (
            rel.schemaname is None and (rel.relname or "").startswith("pg_")
        ):
            catalogs += 1
        elif not (rel.schemaname is None and rel.relname in ctes):
            return False
    return catalogs > 0


def param_count(text: str) -> int:
    """The highest `$n` in a statement (0 when it has none)."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return 0
    return max(
        (n.number or 0 for n in sqlcheck.walk(tree) if isinstance(n, ast.ParamRef)), default=0
    )


@dataclass(frozen=True)
class Coverage:
    """How much of a workload's total time its analysed statements take."""

    analysed: int
    total: int
    analysed_time_ms: float
    total_time_ms: float
    target_percent: float
    # Whether `max_queries` stopped the statements short of the target share.
    capped: bool

    @property
    def percent(self) -> float:
        if self.total_time_ms <= 0:
            return 0.0
        return round(min(100.0, 100.0 * self.analysed_time_ms / self.total_time_ms), 2)

    @property
    def left_out(self) -> int:
        return max(0, self.total - self.analysed)


def cover(
    queries: Sequence[Query], percent: float, limit: int, total_time_ms: float | None = None
) -> tuple[Query, ...]:
    """The top queries by total time (ties by id) until they take `percent` of
    `total_time_ms` (by default the queries' own total), at most `limit` of them, in their
    given order. Queries without times are all kept (up to `limit`)."""
    total = sum(q.total_time_ms for q in queries) if total_time_ms is None else total_time_ms
    if total <= 0:
        return tuple(queries[:limit])
    goal = total * min(max(percent, 0.0), 100.0) / 100.0 * (1 - 1e-9)
    ranked = sorted(
        range(len(queries)), key=lambda n: (-queries[n].total_time_ms, queries[n].query_id)
    )
    taken: set[int] = set()
    covered = 0.0
    for n in ranked:
        if covered >= goal or len(taken) >= limit:
            break
        taken.add(n)
        covered += queries[n].total_time_ms
    return tuple(q for n, q in enumerate(queries) if n in taken)


def coverage(workload: Workload, target_percent: float, limit: int) -> Coverage | None:
    """The coverage of `workload`, or None when its source gives no times."""
    if workload.total_time_ms <= 0:
        return None
    analysed = sum(q.total_time_ms for q in workload.queries)
    short = analysed < workload.total_time_ms * target_percent / 100.0 * (1 - 1e-9)
    return Coverage(
        analysed=len(workload.queries),
        total=max(workload.total_statements, len(workload.queries)),
        analysed_time_ms=analysed,
        total_time_ms=workload.total_time_ms,
        target_percent=target_percent,
        capped=short and len(workload.queries) >= limit,
    )


def with_totals(workload: Workload, percent: float, limit: int) -> Workload:
    """A given workload cut to its top statements by time (`cover`), keeping the count and
    total time of all of them; a workload that already carries totals (a replay) is used as
    it is, and one without times too."""
    if workload.total_statements:
        return workload
    total = sum(q.total_time_ms for q in workload.queries)
    if total <= 0:
        return workload
    kept = cover(workload.queries, percent, limit)
    return Workload(workload.source, kept, workload.window, len(workload.queries), total)


def from_request(queries: list[Query], source: Source) -> Workload:
    """A workload given by the caller; ids and weights filled in where missing."""
    filled = []
    for q in queries:
        filled.append(
            Query(
                query_id=q.query_id or text_id(q.text),
                text=q.text,
                calls=q.calls or 1,
                total_time_ms=q.total_time_ms,
                weight=q.weight if q.weight > 0 else float(q.calls or 1),
                rows=q.rows,
            )
        )
    return Workload(source=source, queries=tuple(filled), window=Window(None, None))


async def stats_window_start(conn: asyncpg.Connection) -> datetime | None:
    """When pg_stat_statements (or else the database's statistics) were last reset."""
    start = None
    if await conn.fetchval("SELECT to_regclass('pg_stat_statements_info') IS NOT NULL"):
        start = await conn.fetchval("SELECT stats_reset FROM pg_stat_statements_info")
    if start is None:
        start = await conn.fetchval(
            "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
        )
    return start


async def from_pg_stat_statements(conn: asyncpg.Connection, limit: int, percent: float) -> Workload:
    """The top statements of this database by total time that take `percent` of the total
    (at most `limit`), weighted by calls."""
    rows = await conn.fetch(TOP_SQL, limit, targets.MARKER)
    every = tuple(
        Query(
            query_id=r["query_id"],
            text=r["query"],
            calls=int(r["calls"]),
            total_time_ms=float(r["total_exec_time"]),
            weight=float(r["calls"]),
            rows=int(r["rows"]),
        )
        for r in rows
    )
    total = int(rows[0]["all_statements"]) if rows else 0
    total_time = float(rows[0]["all_time"] or 0.0) if rows else 0.0
    queries = cover(every, percent, limit, total_time)
    start = await stats_window_start(conn)
    return Workload(
        source=Source.PG_STAT_STATEMENTS,
        queries=queries,
        window=Window(start=start, end=datetime.now(UTC)),
        total_statements=total,
        total_time_ms=total_time,
    )
