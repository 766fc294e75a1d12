"""The workload snapshots repository: `workload_snapshot` and `workload_snapshot_statement`.

A snapshot is what the optimizer's Snapshot read on a target at one moment (see
`optimizer_service.snapshot`): pg_stat_statements' totals and the figures of the statements
a verification cares about, plus the tables' and indexes' statistics (kept whole, as the
optimizer's message without its statements, in `detail`). Functions take a connection and
never commit; like the other repositories, every statement is built from constant
fragments and numbered placeholders.
"""

# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from job_service import domain, filters, jobs
from job_service.database import Connection
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt

FILTER_FIELDS = {
    "target": filters.FieldSpec("text"),
    "time": filters.FieldSpec("time"),
}

_COLUMNS = (
    "id, target, time, reason, suggestion_job_id, suggestion_id, job_id, stats_reset, "
    "deallocations, statements, calls, total_exec_time_ms, detail"
)
_STATEMENT_COLUMNS = (
    "query_id, text, statement_kind, calls, total_exec_time_ms, mean_exec_time_ms, "
    "stddev_exec_time_ms, shared_blks_hit, shared_blks_read, rows, requested_as, tables"
)


@dataclass(frozen=True)
class Figures:
    """One statement's cumulative pg_stat_statements figures at one moment."""

    query_id: str
    calls: int
    total_ms: float
    mean_ms: float
    stddev_ms: float
    shared_blks_hit: int = 0
    shared_blks_read: int = 0
    text: str = ""
    statement_kind: str = ""
    requested_as: str = ""
    tables: tuple[str, ...] = ()

    @property
    def sum_of_squares(self) -> float:
        """Σ x² over every call: rebuilds a window's spread from two cumulative figures."""
        return self.calls * (self.stddev_ms**2 + self.mean_ms**2)


@dataclass(frozen=True)
class Snapshot:
    """A stored (or just taken) snapshot; `detail` holds the tables' and indexes' figures."""

    id: uuid.UUID
    target: str
    time: datetime
    reason: str
    stats_reset: datetime | None
    deallocations: int
    statements: int
    calls: int
    total_exec_time_ms: float
    detail: opt.WorkloadSnapshot
    figures: dict[str, Figures] = field(default_factory=dict)
    suggestion_job_id: uuid.UUID | None = None
    suggestion_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None


def figures_of(s: opt.StatementStats) -> Figures:
    return Figures(
        query_id=s.query_id,
        calls=s.calls,
        total_ms=s.total_exec_time_ms,
        mean_ms=s.mean_exec_time_ms,
        stddev_ms=s.stddev_exec_time_ms,
        shared_blks_hit=s.shared_blks_hit,
        shared_blks_read=s.shared_blks_read,
        text=s.text,
        statement_kind=s.statement_kind,
        requested_as=s.requested_as,
        tables=tuple(s.tables),
    )


def from_optimizer(
    taken: opt.WorkloadSnapshot,
    reason: str,
    *,
    suggestion: domain.Suggestion | None = None,
    job_id: uuid.UUID | None = None,
) -> Snapshot:
    """A snapshot the optimizer streamed, ready to store (a new id)."""
    detail = opt.WorkloadSnapshot()
    detail.CopyFrom(taken)
    del detail.statement_stats[:]
    return Snapshot(
        id=uuid.uuid4(),
        target=taken.target,
        time=taken.time.ToDatetime(tzinfo=UTC),
        reason=reason,
        stats_reset=(
            taken.stats_reset.ToDatetime(tzinfo=UTC) if taken.HasField("stats_reset") else None
        ),
        deallocations=taken.deallocations,
        statements=taken.statements,
        calls=taken.calls,
        total_exec_time_ms=taken.total_exec_time_ms,
        detail=detail,
        figures={s.query_id: figures_of(s) for s in taken.statement_stats},
        suggestion_job_id=suggestion.job_id if suggestion else None,
        suggestion_id=suggestion.id if suggestion else None,
        job_id=job_id,
    )


_INSERT = """
INSERT INTO workload_snapshot (id, target, time, reason, suggestion_job_id, suggestion_id,
                               job_id, stats_reset, deallocations, statements, calls,
                               total_exec_time_ms, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"""

# A statement's tables travel joined by the unit separator (arrays of arrays are not ragged).
_INSERT_STATEMENTS = f"""
INSERT INTO workload_snapshot_statement (snapshot_id, {_STATEMENT_COLUMNS})
SELECT $1, query_id, text, statement_kind, calls, total, mean, stddev, hit, read, rows,
       requested_as, string_to_array(NULLIF(tables_text, ''), chr(31))
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[],
            $7::float8[], $8::float8[], $9::bigint[], $10::bigint[],
            $11::bigint[], $12::text[], $13::text[])
    AS u(query_id, text, statement_kind, calls, total, mean, stddev, hit, read, rows,
         requested_as, tables_text)
"""


async def add(conn: Connection, s: Snapshot) -> None:
    """Stores a snapshot and its statements (two statements; the caller's transaction)."""
    await conn.execute(
        _INSERT,
        s.id,
        s.target,
        s.time,
        s.reason,
        s.suggestion_job_id,
        s.suggestion_id,
        s.job_id,
        s.stats_reset,
        s.deallocations,
        s.statements,
        s.calls,
        s.total_exec_time_ms,
        s.detail.SerializeToString(),
    )
    if not s.figures:
        return
    rows = list(s.figures.values())
    await conn.execute(
        _INSERT_STATEMENTS,
        s.id,
        [f.query_id for f in rows],
        [f.text for f in rows],
        [f.statement_kind for f in rows],
        [f.calls for f in rows],
        [f.total_ms for f in rows],
        [f.mean_ms for f in rows],
        [f.stddev_ms for f in rows],
        [f.shared_blks_hit for f in rows],
        [f.shared_blks_read for f in rows],
        [0 for _ in rows],
        [f.requested_as for f in rows],
        [chr(31).join(f.tables) for f in rows],
    )


def _figures(row: object) -> Figures:
    r = row  # an asyncpg Record
    return Figures(
        query_id=r["query_id"],  # type: ignore[index]
        calls=r["calls"],  # type: ignore[index]
        total_ms=r["total_exec_time_ms"],  # type: ignore[index]
        mean_ms=r["mean_exec_time_ms"],  # type: ignore[index]
        stddev_ms=r["stddev_exec_time_ms"],  # type: ignore[index]
        shared_blks_hit=r["shared_blks_hit"],  # type: ignore[index]
        shared_blks_read=r["shared_blks_read"],  # type: ignore[index]
        text=r["text"],  # type: ignore[index]
        statement_kind=r["statement_kind"],  # type: ignore[index]
        requested_as=r["requested_as"],  # type: ignore[index]
        tables=tuple(r["tables"] or ()),  # type: ignore[index]
    )


def _snapshot(row: object, figures: Sequence[Figures] = ()) -> Snapshot:
    r = row
    detail = opt.WorkloadSnapshot()
    if r["detail"]:  # type: ignore[index]
        detail.ParseFromString(r["detail"])  # type: ignore[index]
    return Snapshot(
        id=r["id"],  # type: ignore[index]
        target=r["target"],  # type: ignore[index]
        time=r["time"],  # type: ignore[index]
        reason=r["reason"],  # type: ignore[index]
        stats_reset=r["stats_reset"],  # type: ignore[index]
        deallocations=r["deallocations"],  # type: ignore[index]
        statements=r["statements"],  # type: ignore[index]
        calls=r["calls"],  # type: ignore[index]
        total_exec_time_ms=r["total_exec_time_ms"],  # type: ignore[index]
        detail=detail,
        figures={f.query_id: f for f in figures},
        suggestion_job_id=r["suggestion_job_id"],  # type: ignore[index]
        suggestion_id=r["suggestion_id"],  # type: ignore[index]
        job_id=r["job_id"],  # type: ignore[index]
    )


async def statements_of(
    conn: Connection, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Figures]]:
    rows = await conn.fetch(
        f"SELECT snapshot_id, {_STATEMENT_COLUMNS} FROM workload_snapshot_statement "
        "WHERE snapshot_id = ANY($1::uuid[]) ORDER BY snapshot_id, total_exec_time_ms DESC",
        list(ids),
    )
    found: dict[uuid.UUID, list[Figures]] = {}
    for r in rows:
        found.setdefault(r["snapshot_id"], []).append(_figures(r))
    return found


async def applied(conn: Connection, suggestion_id: uuid.UUID) -> Snapshot | None:
    """The snapshot the suggestion's last APPLY took (the start of its window), if any."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM workload_snapshot WHERE suggestion_id = $1 AND reason = 'APPLY' "
        "ORDER BY time DESC, id DESC LIMIT 1",
        suggestion_id,
    )
    if row is None:
        return None
    stmts = await statements_of(conn, [row["id"]])
    return _snapshot(row, stmts.get(row["id"], ()))


_EARLIER = f"""
SELECT s.time, {", ".join("st." + c.strip() for c in _STATEMENT_COLUMNS.split(","))}
FROM workload_snapshot_statement st JOIN workload_snapshot s ON s.id = st.snapshot_id
WHERE s.target = $1 AND s.time < $2 AND s.stats_reset IS NOT DISTINCT FROM $3
  AND st.query_id = ANY($4::text[])
ORDER BY st.query_id, s.time DESC
LIMIT 2000"""


async def earlier(
    conn: Connection,
    target: str,
    before: datetime,
    stats_reset: datetime | None,
    query_ids: Sequence[str],
) -> dict[str, list[tuple[datetime, Figures]]]:
    """For each query id, the figures earlier snapshots of `target` (since the same
    statistics reset, before `before`) hold of it, newest first."""
    rows = await conn.fetch(_EARLIER, target, before, stats_reset, list(query_ids))
    found: dict[str, list[tuple[datetime, Figures]]] = {}
    for r in rows:
        found.setdefault(r["query_id"], []).append((r["time"], _figures(r)))
    return found


async def list_page(
    conn: Connection,
    flt: filters.Filter,
    position: tuple[datetime, uuid.UUID] | None,
    limit: int,
    visible: list[str] | None = None,
    *,
    with_statements: bool = True,
) -> tuple[list[Snapshot], tuple[datetime, uuid.UUID] | None]:
    """One page of snapshots, newest first (keyset on time, id), of the visible targets."""
    params = jobs.Params()
    where = jobs.visibility(params, visible)
    for term in flt.terms:
        if term.field == "target":
            where.append(f"target = {params.add(term.values[0])}")
        elif term.field == "time":
            where.append(f"time {term.op} {params.add(term.values[0])}")
    if position is not None:
        where.append(f"(time, id) < ({params.add(position[0])}, {params.add(position[1])})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM workload_snapshot {clause} "
        f"ORDER BY time DESC, id DESC LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    page = rows[:limit]
    stmts = await statements_of(conn, [r["id"] for r in page]) if with_statements else {}
    items = [_snapshot(r, stmts.get(r["id"], ())) for r in page]
    more = len(rows) > limit
    return items, ((items[-1].time, items[-1].id) if more and items else None)


_SWEEP = """
DELETE FROM workload_snapshot WHERE id IN (
    SELECT id FROM workload_snapshot WHERE time < now() - $1::interval
    ORDER BY time LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING id"""


async def delete_expired(conn: Connection, retention: timedelta, batch: int) -> int:
    """Deletes up to `batch` snapshots older than `retention`; how many."""
    return len(await conn.fetch(_SWEEP, retention, batch))
