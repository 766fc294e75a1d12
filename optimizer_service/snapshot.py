"""Snapshot: the cumulative workload statistics of a target at one moment, for a verification.

A verification compares two snapshots (one when a change was applied, one a window later):
pg_stat_statements counts from its last reset, so only the difference between two
snapshots says what happened in between. One snapshot is three reads in one read-only
session that takes a place in the target's session budget (`targets.session`):

1. `pg_stat_statements_info` (PostgreSQL 14+): when the statistics were last reset, and how
   many entries were evicted since; with the target's clock;
2. pg_stat_statements of the current database, grouped by queryid (a statement run by
   several users, or nested and top level, is one): the whole workload's totals, the
   requested statements, and (when tables or query texts are asked for) the top
   `SCAN_LIMIT` statements by total time, parsed to find those that reference the tables
   or have the fingerprint of a requested text (`pglast.fingerprint`: constants ignored);
3. pg_stat_user_tables and pg_stat_user_indexes of the requested relations.

The standard deviation of a group is rebuilt from each row's sum of squares
(calls x (stddev² + mean²)), so the grouped figures are exact. pgsage's own statements (they
carry `targets.MARKER`) are never part of the workload.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime

import asyncpg
import pglast
from google.protobuf import timestamp_pb2
from pglast import ast

from optimizer_service import targets
from optimizer_service import workload as workloads
from optimizer_service.settings import Settings, TargetConfig
from pgsage import errors as pgsage_errors
from pgsage import sqlcheck
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

log = logging.getLogger(__name__)

MAX_IDS = 200
MAX_RELATIONS = 20
MAX_TABLE_STATEMENTS = 50
MAX_NAME = 200
SCAN_LIMIT = 500
MAX_TEXT = 2000
_QUERY_ID = re.compile(r"^-?[0-9]{1,20}$")

Emit = Callable[[object], None]

_INFO = """
SELECT clock_timestamp() AS now,
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss,
       to_regclass('pg_stat_statements_info') IS NOT NULL AS has_info
"""
_RESET = "SELECT stats_reset, dealloc FROM pg_stat_statements_info"

# One row per queryid of the current database, with the whole workload's totals; only the
# requested ids and the top `$3` by total time are returned.
_STATEMENTS = """
WITH q AS (
    SELECT s.queryid, min(s.query) AS query, sum(s.calls)::bigint AS calls,
           sum(s.total_exec_time) AS total,
           sum(s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2)) AS sumsq,
           sum(s.shared_blks_hit)::bigint AS hit, sum(s.shared_blks_read)::bigint AS read,
           sum(s.rows)::bigint AS rows
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = current_database() AND strpos(s.query, $1) = 0
    GROUP BY s.queryid
), r AS (
    SELECT q.*, row_number() OVER (ORDER BY total DESC, queryid) AS rank,
           count(*) OVER () AS all_statements, sum(calls) OVER () AS all_calls,
           sum(total) OVER () AS all_time
    FROM q
)
SELECT queryid::text AS query_id, query, calls, total, sumsq, hit, read, rows,
       all_statements, all_calls, all_time, queryid = ANY($2::bigint[]) AS requested
-- At least the top statement: its row carries the totals when nothing else is asked for
-- (a periodic snapshot); it is reported only if asked for.
FROM r WHERE queryid = ANY($2::bigint[]) OR rank <= GREATEST($3, 1)
UNION ALL
-- The totals when no statement matched (an empty workload).
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, false
WHERE NOT EXISTS (SELECT 1 FROM q)
"""

_TABLES = """
SELECT r.name, t.relid IS NOT NULL AS exists,
       COALESCE(t.seq_scan, 0) AS seq_scan, COALESCE(t.idx_scan, 0) AS idx_scan,
       COALESCE(t.n_tup_ins, 0) AS n_tup_ins, COALESCE(t.n_tup_upd, 0) AS n_tup_upd,
       COALESCE(t.n_tup_del, 0) AS n_tup_del, COALESCE(t.n_tup_hot_upd, 0) AS n_tup_hot_upd,
       COALESCE(t.n_live_tup, 0) AS n_live_tup
FROM unnest($1::text[]) WITH ORDINALITY AS r(name, n)
LEFT JOIN pg_stat_user_tables t ON t.relid = to_regclass(r.name)
ORDER BY r.n
"""

_INDEXES = """
SELECT r.name, i.indexrelid IS NOT NULL AS exists,
       CASE WHEN i.indexrelid IS NULL THEN '' ELSE format('%I.%I', i.schemaname, i.relname)
       END AS tbl,
       COALESCE(i.idx_scan, 0) AS idx_scan, COALESCE(i.idx_tup_read, 0) AS idx_tup_read,
       COALESCE(pg_relation_size(i.indexrelid), 0) AS size
FROM unnest($1::text[]) WITH ORDINALITY AS r(name, n)
LEFT JOIN pg_stat_user_indexes i ON i.indexrelid = to_regclass(r.name)
ORDER BY r.n
"""


def _names(field: str, values: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if len(names) > MAX_RELATIONS:
        raise pgsage_errors.InvalidArgument(field, f"{field}: at most {MAX_RELATIONS}")
    for name in names:
        if len(name) > MAX_NAME or not name.isprintable():
            raise pgsage_errors.InvalidArgument(
                field, f"{field}: a schema-qualified name, up to {MAX_NAME} printable characters"
            )
    return names


def _checked(request: pb.SnapshotRequest) -> tuple[list[int], list[str], list[str]]:
    """The request's query ids, tables and indexes, checked (INVALID_ARGUMENT naming the
    field); nothing reaches the target that is not a number or a relation name."""
    if len(request.query_ids) > MAX_IDS or len(request.queries) > MAX_IDS:
        raise pgsage_errors.InvalidArgument("query_ids", f"at most {MAX_IDS} queries")
    ids = []
    for i, value in enumerate(request.query_ids):
        if not _QUERY_ID.match(value) or not -(2**63) <= int(value) < 2**63:
            raise pgsage_errors.InvalidArgument(
                f"query_ids[{i}]", "a query id is pg_stat_statements' queryid, a 64-bit integer"
            )
        ids.append(int(value))
    if not 0 <= request.table_statements <= MAX_TABLE_STATEMENTS:
        raise pgsage_errors.InvalidArgument(
            "table_statements", f"table_statements is 0 to {MAX_TABLE_STATEMENTS}"
        )
    return ids, _names("tables", request.tables), _names("indexes", request.indexes)


def _fingerprint(text: str) -> str:
    try:
        return str(pglast.parser.fingerprint(text))
    except pglast.parser.ParseError:
        return ""


def _referenced(text: str, tables: list[str], visible: set[str]) -> list[str]:
    """Which of `tables` (schema-qualified) the statement reads or writes; an unqualified
    name counts for a table of that name in a schema on the search path (`visible`)."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return []
    found = []
    for node in sqlcheck.walk(tree):
        if not isinstance(node, ast.RangeVar) or not node.relname:
            continue
        for table in tables:
            schema, _, name = table.rpartition(".")
            if node.relname != name.strip('"'):
                continue
            if node.schemaname == schema.strip('"') or (
                node.schemaname is None and schema.strip('"') in visible
            ):
                found.append(table)
    return list(dict.fromkeys(found))


def _ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _stats(row: asyncpg.Record) -> pb.StatementStats:
    calls = int(row["calls"] or 0)
    total = float(row["total"] or 0.0)
    mean = total / calls if calls else 0.0
    variance = (float(row["sumsq"] or 0.0) / calls - mean * mean) if calls else 0.0
    text = row["query"] or ""
    return pb.StatementStats(
        query_id=row["query_id"],
        text=text[:MAX_TEXT],
        calls=calls,
        total_exec_time_ms=total,
        mean_exec_time_ms=mean,
        stddev_exec_time_ms=math.sqrt(max(variance, 0.0)),
        shared_blks_hit=int(row["hit"] or 0),
        shared_blks_read=int(row["read"] or 0),
        rows=int(row["rows"] or 0),
        statement_kind=workloads.statement_kind(text),
    )


def _policy(target: TargetConfig, snapshot: pb.WorkloadSnapshot) -> None:
    """The target's verification settings, on the snapshot."""
    snapshot.verification_window.FromMilliseconds(round(target.verification_window_seconds * 1000))
    snapshot.on_regression = (
        pb.ON_REGRESSION_ROLLBACK if target.on_regression == "rollback" else pb.ON_REGRESSION_NOTIFY
    )


async def read(
    conn: asyncpg.Connection, target: TargetConfig, request: pb.SnapshotRequest
) -> pb.WorkloadSnapshot:
    """The snapshot of `target` on `conn` (see the module doc)."""
    ids, tables, indexes = _checked(request)
    info = await conn.fetchrow(_INFO)
    if info["pgss"] is None:
        raise pgsage_errors.FailedPrecondition(
            f"pg_stat_statements is not installed in target {target.name}'s database "
            "(CREATE EXTENSION pg_stat_statements), so its workload cannot be measured",
            reason="PG_STAT_STATEMENTS_MISSING",
            metadata={"target": target.name},
        )
    snapshot = pb.WorkloadSnapshot(target=target.name, time=_ts(info["now"]))
    _policy(target, snapshot)
    if info["has_info"]:
        reset = await conn.fetchrow(_RESET)
        if reset["stats_reset"] is not None:
            snapshot.stats_reset.CopyFrom(_ts(reset["stats_reset"]))
        snapshot.deallocations = int(reset["dealloc"] or 0)
    texts = {q.query_id: _fingerprint(q.text) for q in request.queries if q.text.strip()}
    wanted = {fp: qid for qid, fp in texts.items() if fp}
    scan = SCAN_LIMIT if (tables and request.table_statements) or wanted else 0
    rows = await conn.fetch(_STATEMENTS, targets.MARKER, ids, scan)
    visible: set[str] = set()
    if tables and request.table_statements:
        visible = set(await conn.fetchval("SELECT current_schemas(false)::text[]") or [])
    per_table: dict[str, int] = {}
    # Cheap text tests first: only a statement that names a table (or is a requested text's
    # candidate) is parsed.
    bare = {t: t.rpartition(".")[2].strip('"').lower() for t in tables}
    for row in rows:
        snapshot.statements = int(row["all_statements"] or 0)
        snapshot.calls = int(row["all_calls"] or 0)
        snapshot.total_exec_time_ms = float(row["all_time"] or 0.0)
        if row["query_id"] is None:
            continue
        text = row["query"] or ""
        requested_as = row["query_id"] if row["requested"] else ""
        if not requested_as and wanted:
            requested_as = wanted.get(_fingerprint(text), "")
        on: list[str] = []
        if tables and request.table_statements:
            lowered = text.lower()
            named = [t for t in tables if bare[t] in lowered]
            # Only the workload's reads and writes: not DDL, VACUUM or a driver's catalog reads.
            if named and workloads.statement_kind(text) in _DML:
                on = _referenced(text, named, visible)
            room = [t for t in on if per_table.get(t, 0) < request.table_statements]
            for t in room:
                per_table[t] = per_table.get(t, 0) + 1
            if not room:
                on = []
        if requested_as or on:
            stats = _stats(row)
            stats.requested_as = requested_as
            stats.tables.extend(on)
            snapshot.statement_stats.append(stats)
    if tables:
        for t in await conn.fetch(_TABLES, tables):
            snapshot.table_stats.append(
                pb.TableStats(
                    table=t["name"],
                    exists=t["exists"],
                    **{k: int(t[k]) for k in _TABLE_COUNTERS},
                )
            )
    if indexes:
        for i in await conn.fetch(_INDEXES, indexes):
            snapshot.index_stats.append(
                pb.IndexStats(
                    index=i["name"],
                    exists=i["exists"],
                    table=i["tbl"],
                    idx_scan=int(i["idx_scan"]),
                    idx_tup_read=int(i["idx_tup_read"]),
                    size_bytes=int(i["size"]),
                )
            )
    return snapshot


_DML = ("select", "insert", "update", "delete")
_TABLE_COUNTERS = (
    "seq_scan",
    "idx_scan",
    "n_tup_ins",
    "n_tup_upd",
    "n_tup_del",
    "n_tup_hot_upd",
    "n_live_tup",
)


async def snapshot(settings: Settings, request: pb.SnapshotRequest, emit: Emit) -> None:
    """Takes the snapshot in a read-only session of the target's budget and emits it."""
    if not request.target:
        raise pgsage_errors.InvalidArgument("target", "target is required")
    target = targets.resolve(settings, request.target)
    _checked(request)  # refuse bad input before a session is opened

    def waiting(message: str) -> None:
        emit(analysis_pb2.Progress(stage="waiting", message=message))

    async with targets.session(
        target, connect_timeout=settings.connect_timeout_seconds, waiting=waiting
    ) as conn:
        taken = await read(conn, target, request)
    log.info(
        "snapshot of target %s: %d statements, %d tables, %d indexes",
        target.name,
        len(taken.statement_stats),
        len(taken.table_stats),
        len(taken.index_stats),
    )
    emit(taken)
