"""The jobs repository: every read and change of the `job` and `job_event` tables.

Functions take a connection (from `Database.connection()` or `.transaction()`) and never
commit. Each change is ONE guarded statement: a data-modifying CTE that updates the job
only from the states it may leave (and only at the expected revision when an etag was
given), bumps `revision`, writes the `job_event` row with the job as it now is, and sends
`NOTIFY pgsage_jobs '<job id> <revision>'` — all atomically. When the guard matches no
row, one read explains why (not found, etag mismatch, wrong state).
"""

# Statements here are assembled from constant fragments and numbered placeholders only;
# every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from job_service import domain, errors, filters, names
from job_service.database import Connection
from job_service.models import sql_in
from job_service.vocabulary import (
    FINISHED_JOB_STATES,
    JOB_KINDS,
    JOB_STATES,
    JOBS,
    LIVE_SUGGESTION_STATES,
    JobAction,
    JobState,
)

CHANNEL = "pgsage_jobs"
"""LISTEN/NOTIFY channel of job changes; the payload is `<job id> <revision> <state>`."""
NOTIFY = f"pg_notify('{CHANNEL}', id::text || ' ' || revision::text || ' ' || state)"
"""The notification of a changed job row, as an SQL expression over that row."""

FILTER_FIELDS = {
    "state": filters.FieldSpec("enum", frozenset(JOB_STATES)),
    "kind": filters.FieldSpec("enum", frozenset(JOB_KINDS)),
    "target": filters.FieldSpec("text"),
    "create_time": filters.FieldSpec("time"),
}
COUNT_FILTER_FIELDS = {k: v for k, v in FILTER_FIELDS.items() if k != "state"}

_FIELDS = [f for f in domain.Job.__dataclass_fields__]
COLUMNS = ", ".join(_FIELDS)
_FINISHED = sql_in("state", FINISHED_JOB_STATES)
_LIVE = sql_in("s.state", LIVE_SUGGESTION_STATES)


def job_from_row(row: Any) -> domain.Job:
    # COLUMNS lists the fields in the dataclass's order.
    return domain.Job.from_values(row[: len(_FIELDS)])


def job_from_snapshot(snapshot: dict[str, Any]) -> domain.Job:
    """The job as an event's `to_jsonb(job)` snapshot recorded it."""
    values: dict[str, Any] = {}
    for name, f in domain.Job.__dataclass_fields__.items():
        if name not in snapshot:
            continue
        value = snapshot[name]
        kind = str(f.type)
        if value is None:
            pass
        elif "datetime" in kind:
            value = datetime.fromisoformat(value)
        elif "uuid" in kind:
            value = uuid.UUID(value)
        elif "bytes" in kind:
            value = bytes.fromhex(value[2:])
        values[name] = value
    return domain.Job(**values)


class Params:
    """Numbered bind parameters ($1, $2, ...) collected while building a statement."""

    def __init__(self, *initial: object) -> None:
        self.values: list[object] = list(initial)

    def add(self, value: object, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{'::' + cast if cast else ''}"


def change_statement(set_clause: str, where: str, event_type: str, returning: str = "") -> str:
    """A guarded update of one job that also writes its event and notifies watchers.

    `event_type` is an SQL expression over the updated row (usually a literal); `returning`
    adds columns after the job's (e.g. `", workload"`).
    """
    return f"""
WITH u AS (
    UPDATE job SET {set_clause}, revision = revision + 1, update_time = now()
    WHERE {where}
    RETURNING *
), e AS (
    INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot)
    SELECT id, revision, {event_type}, update_time, to_jsonb(u) - 'workload' FROM u
)
SELECT {COLUMNS}{returning}, {NOTIFY} FROM u"""


_CREATE = f"""
WITH ins AS (
    INSERT INTO job (id, request_id, kind, state, target, analysis_types, options, queries,
                     suggestion_job_id, suggestion_id, max_attempts, creator, run_after)
    VALUES ($1, $2, $3, '{JobState.PENDING}', $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (request_id) DO UPDATE SET request_id = EXCLUDED.request_id
    RETURNING *, (xmax = 0) AS inserted
), e AS (
    INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot)
    SELECT id, revision, 'created', create_time, to_jsonb(ins) - 'workload' - 'inserted'
    FROM ins WHERE inserted
)
SELECT {COLUMNS}, inserted,
       CASE WHEN inserted THEN {NOTIFY} END
FROM ins"""


async def create(conn: Connection, new: domain.NewJob) -> tuple[domain.Job, bool]:
    """Inserts a PENDING job (or returns the one with the same request id); one round trip.

    Returns the job and whether this call created it. A second live change job on one
    suggestion violates `uq_job_suggestion_id_live`: `errors.ChangeInProgress`, naming the
    live one (translated by `job_service.database`).
    """
    row = await conn.fetchrow(
        _CREATE,
        uuid.uuid4(),
        new.request_id,
        new.kind,
        new.target,
        list(new.analysis_types),
        new.options,
        list(new.queries),
        new.suggestion_job_id,
        new.suggestion_id,
        new.max_attempts,
        new.creator,
        new.run_after,
    )
    return job_from_row(row), bool(row["inserted"])


async def by_request_id(conn: Connection, request_id: str) -> domain.Job | None:
    """The job a CreateJob with this idempotency key created, if any."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM job WHERE request_id = $1", request_id)
    return None if row is None else job_from_row(row)


async def get(conn: Connection, job_id: uuid.UUID) -> domain.Job:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM job WHERE id = $1", job_id)
    if row is None:
        raise errors.JobNotFound(names.job_name(job_id))
    return job_from_row(row)


def visibility(params: Params, visible: list[str] | None, column: str = "target") -> list[str]:
    """The condition limiting rows to targets matching `visible` (LIKE patterns from
    `authz.visible_patterns`; None: every target)."""
    if visible is None:
        return []
    return [f"{column} LIKE ANY({params.add(visible, 'text[]')})"]


def _conditions(flt: filters.Filter, params: Params, visible: list[str] | None = None) -> list[str]:
    where: list[str] = visibility(params, visible)
    for term in flt.terms:
        if term.field == "state":
            continue  # each state is a branch of its own (see `list_page`)
        if term.field in ("kind", "target"):
            if len(term.values) == 1:
                where.append(f"{term.field} = {params.add(term.values[0])}")
            else:
                where.append(f"{term.field} = ANY({params.add(list(term.values))})")
        elif term.field == "create_time":
            where.append(f"create_time {term.op} {params.add(term.values[0])}")
    return where


async def list_page(
    conn: Connection,
    flt: filters.Filter,
    position: tuple[datetime, uuid.UUID] | None,
    limit: int,
    visible: list[str] | None = None,
) -> domain.Page:
    """One page of jobs, newest first, after `position` (keyset on create_time, id), of the
    targets matching `visible` (None: all)."""
    params = Params()
    where = _conditions(flt, params, visible)
    if position is not None:
        where.append(f"(create_time, id) < ({params.add(position[0])}, {params.add(position[1])})")
    limit_param = params.add(limit + 1)
    order = "ORDER BY create_time DESC, id DESC"
    states = flt.get("state")
    if states:
        # One ordered index scan per state, merged: `state IN (...)` alone would make the
        # planner sort every matching row before the LIMIT.
        branches = [
            f"(SELECT {COLUMNS} FROM job WHERE "
            + " AND ".join([f"state = {params.add(state)}", *where])
            + f" {order} LIMIT {limit_param})"
            for state in states[0].values
        ]
        sql = f"SELECT * FROM ({' UNION ALL '.join(branches)}) AS s {order} LIMIT {limit_param}"
    else:
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {COLUMNS} FROM job {clause} {order} LIMIT {limit_param}"
    rows = await conn.fetch(sql, *params.values)
    jobs = tuple(job_from_row(r) for r in rows[:limit])
    more = len(rows) > limit
    return domain.Page(jobs, (jobs[-1].create_time, jobs[-1].id) if more else None)


async def count_by_state(
    conn: Connection, flt: filters.Filter, visible: list[str] | None = None
) -> dict[str, int]:
    params = Params()
    where = _conditions(flt, params, visible)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT state, count(*) AS n FROM job {clause} GROUP BY state", *params.values
    )
    counts: dict[str, int] = dict.fromkeys(JOB_STATES, 0)
    counts.update({r["state"]: r["n"] for r in rows})
    return counts


def expected_version(etag: str) -> int | None:
    """The version an etag names; None when no etag was given, -1 when it is not ours."""
    if not etag:
        return None
    version = domain.version_of_etag(etag)
    return -1 if version is None else version


async def _explain(conn: Connection, job_id: uuid.UUID, etag: str) -> domain.Job:
    """After a guard matched nothing: NOT_FOUND, ABORTED for a stale etag, or the job."""
    job = await get(conn, job_id)
    if etag and job.revision != expected_version(etag):
        raise errors.EtagMismatch(names.job_name(job_id), etag, job.etag)
    return job


_P, _CANCELLED = JobState.PENDING, JobState.CANCELLED
_CANCEL = change_statement(
    f"state = CASE state WHEN '{_P}' THEN '{_CANCELLED}' ELSE '{JobState.CANCELLING}' END, "
    "cancel_requested = true, "
    f"end_time = CASE state WHEN '{_P}' THEN now() ELSE end_time END, "
    f"expire_time = CASE state WHEN '{_P}' THEN now() + $3::interval ELSE expire_time END",
    f"id = $1 AND {sql_in('state', JOBS.sources(JobAction.CANCEL))} "
    "AND ($2::bigint IS NULL OR revision = $2)",
    f"CASE state WHEN '{_CANCELLED}' THEN 'cancelled' ELSE 'cancelling' END",
)


async def cancel(conn: Connection, job_id: uuid.UUID, etag: str, ttl: timedelta) -> domain.Job:
    """PENDING → CANCELLED at once; RUNNING → CANCELLING (its runner stops it).

    CANCELLING and CANCELLED jobs come back unchanged; finished ones cannot be cancelled.
    """
    name = names.job_name(job_id)
    revision = expected_version(etag)
    row = await conn.fetchrow(_CANCEL, job_id, revision, ttl)
    if row is not None:
        return job_from_row(row)
    job = await _explain(conn, job_id, etag)
    if job.state in JOBS.results(JobAction.CANCEL):
        return job
    raise errors.InvalidStateTransition(name, job.state, "cancel", why="it has finished")


_RETRY = change_statement(
    f"state = '{JobState.PENDING}', error = NULL, summary = NULL, start_time = NULL, "
    "end_time = NULL, expire_time = NULL, lease_owner = NULL, lease_expire_time = NULL, "
    "cancel_requested = false, progress_stage = '', progress_percent = 0, "
    "progress_message = '', query_count = 0, insight_count = 0, suggestion_count = 0, "
    "max_attempts = attempt + $3",
    f"id = $1 AND {sql_in('state', JOBS.sources(JobAction.RETRY))} "
    "AND ($2::bigint IS NULL OR revision = $2)",
    "'retried'",
)


async def retry(conn: Connection, job_id: uuid.UUID, etag: str, attempts: int) -> domain.Job:
    """FAILED or CANCELLED → PENDING with `attempts` more attempts; the stored workload stays."""
    name = names.job_name(job_id)
    revision = expected_version(etag)
    row = await conn.fetchrow(_RETRY, job_id, revision, attempts)
    if row is not None:
        return job_from_row(row)
    job = await _explain(conn, job_id, etag)
    raise errors.InvalidStateTransition(
        name, job.state, "retry", why="only FAILED or CANCELLED jobs can be retried"
    )


_DELETE = f"""
DELETE FROM job AS j
WHERE id = $1 AND {_FINISHED} AND ($2::bigint IS NULL OR revision = $2)
  AND NOT EXISTS (SELECT 1 FROM suggestion AS s WHERE s.job_id = j.id AND {_LIVE})
RETURNING id"""

_LIVE_SUGGESTION = f"""
SELECT id, state, target FROM suggestion AS s WHERE job_id = $1 AND {_LIVE} LIMIT 1"""


async def delete(conn: Connection, job_id: uuid.UUID, etag: str) -> None:
    """Deletes a finished job with its suggestions and events.

    Never a job owning a suggestion that is live on a target (APPLYING, APPLIED,
    ROLLING_BACK, ROLLBACK_FAILED): the way back from that change must stay.
    """
    name = names.job_name(job_id)
    revision = expected_version(etag)
    if await conn.fetchval(_DELETE, job_id, revision) is not None:
        return
    job = await _explain(conn, job_id, etag)
    if not job.finished:
        raise errors.JobNotDeletable(name, f"it is {job.state}; cancel it and wait until it ends")
    live = await conn.fetchrow(_LIVE_SUGGESTION, job_id)
    if live is not None:
        raise errors.JobNotDeletable(
            name,
            f"its suggestion {names.suggestion_name(job_id, live['id'])} is {live['state']} "
            f"on target {live['target']!r}; roll it back first",
        )
    raise errors.JobNotDeletable(name, "it changed meanwhile; try again")


async def events_after(
    conn: Connection, job_id: uuid.UUID, revision: int, limit: int = 500
) -> Sequence[domain.JobEvent]:
    """The job's events with a revision greater than `revision`, oldest first."""
    rows = await conn.fetch(
        "SELECT revision, event_type, event_time, snapshot, suggestion_id FROM job_event "
        "WHERE job_id = $1 AND revision > $2 ORDER BY revision LIMIT $3",
        job_id,
        revision,
        limit,
    )
    return [
        domain.JobEvent(
            job_id=job_id,
            revision=r["revision"],
            event_type=r["event_type"],
            event_time=r["event_time"],
            job=job_from_snapshot(r["snapshot"]),
            suggestion_id=r["suggestion_id"],
        )
        for r in rows
    ]


_SWEEP = f"""
DELETE FROM job WHERE id IN (
    SELECT id FROM job AS j
    WHERE expire_time <= now() AND {_FINISHED}
      AND NOT EXISTS (SELECT 1 FROM suggestion AS s WHERE s.job_id = j.id AND {_LIVE})
    ORDER BY expire_time
    LIMIT $1
    FOR UPDATE SKIP LOCKED)
RETURNING id"""


async def delete_expired(conn: Connection, batch: int) -> list[uuid.UUID]:
    """Deletes up to `batch` expired jobs (not those with live suggestions); their ids."""
    return [r["id"] for r in await conn.fetch(_SWEEP, batch)]
