"""The workload an analysis works on: pg_stat_statements, the request, or a replay.

pg_stat_statements gives the top statements by total execution time, weighted by calls,
over the window since its statistics were last reset; pgsage's own statements (they all
carry `MARKER`, see `targets`) are never part of it. Queries given in a request get a
stable id (a hash of their text) and weight 1 unless they say otherwise. A replay (a retried
job sending back the workload of its first attempt) is used exactly as given, so the same
workload gives the same advice in the same order.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import asyncpg
import pglast
from pglast import ast

from optimizer_service import targets
from optimizer_service.model import Query, Source, Window, Workload
from pgsage import sqlcheck

TOP_SQL = """
SELECT s.queryid::text AS query_id, s.query, s.calls, s.total_exec_time, s.rows
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


async def from_pg_stat_statements(conn: asyncpg.Connection, limit: int) -> Workload:
    """The top `limit` statements of this database by total time, weighted by calls."""
    rows = await conn.fetch(TOP_SQL, limit, targets.MARKER)
    queries = tuple(
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
    start = await stats_window_start(conn)
    return Workload(
        source=Source.PG_STAT_STATEMENTS,
        queries=queries,
        window=Window(start=start, end=datetime.now(UTC)),
    )
