"""The dispatcher's statements: claim, lease, persist what the optimizer streams, finish.

Every statement that touches a running job is guarded by its lease (`lease_owner = $owner
AND state IN ('RUNNING', 'CANCELLING')`): a process that lost its lease (it stalled, the job
was taken over) can never write to the job again. Like `job_service.jobs`, each change bumps
the revision, writes a `job_event` row and NOTIFYs watchers, in one statement.
"""

# Statements here are assembled from constant fragments and numbered placeholders only;
# every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from job_service import domain, jobs, vocabulary
from job_service.database import Connection
from job_service.models import sql_in, sql_value

_J = vocabulary.JobState
_PENDING = sql_value(_J.PENDING)
_CANCELLED = sql_value(_J.CANCELLED)
_FAILED = sql_value(_J.FAILED)

_RUNNING = sql_in("state", vocabulary.LEASED_JOB_STATES)
_OWNED = f"id = $1 AND lease_owner = $2 AND {_RUNNING}"
# Decisions a new suggestion with the same fingerprint on the same target points at.
DECIDED = vocabulary.DECIDED_STATES

_CLAIM = jobs.change_statement(
    f"state = {sql_value(_J.RUNNING)}, attempt = attempt + 1, lease_owner = $1, "
    "lease_expire_time = now() + $2::interval, start_time = COALESCE(start_time, now()), "
    "run_after = NULL, error = NULL",
    # ARRAY(...) runs the locking subquery once, whatever plan the UPDATE gets.
    f"""id = ANY(ARRAY(SELECT id FROM job
                     WHERE state = {_PENDING} AND (run_after IS NULL OR run_after <= now())
                     ORDER BY create_time, id
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED))""",
    "'started'",
    returning=", workload",
)


async def claim(
    conn: Connection, owner: str, lease: timedelta, limit: int = 1
) -> list[tuple[domain.Job, bytes | None]]:
    """Takes up to `limit` of the oldest runnable PENDING jobs, in one statement: RUNNING
    under `owner`'s lease, one attempt more. Each comes with the workload an earlier attempt
    stored (sent back on a retry); oldest first."""
    rows = await conn.fetch(_CLAIM, owner, lease, limit)
    claimed = [(jobs.job_from_row(row), row["workload"]) for row in rows]
    claimed.sort(key=lambda c: (c[0].create_time, str(c[0].id)))
    return claimed


_HOLD = f"SELECT 1 FROM job WHERE {_OWNED} FOR SHARE"


async def hold(conn: Connection, job_id: uuid.UUID, owner: str) -> bool:
    """Whether `owner` still holds the job's lease; in a transaction, the job's row stays
    so until it ends (a reaper's takeover waits for it, or skips the job), so the writes
    after it are the lease owner's. False: the lease is lost."""
    return await conn.fetchval(_HOLD, job_id, owner) is not None


_RENEW = f"""
UPDATE job SET lease_expire_time = now() + $3::interval
WHERE {_OWNED}
RETURNING state, cancel_requested"""


async def renew(
    conn: Connection, job_id: uuid.UUID, owner: str, lease: timedelta
) -> tuple[str, bool] | None:
    """Extends the lease; returns (state, cancel_requested), or None when the lease is lost.

    Not an event: a lease renewal changes nothing a watcher cares about.
    """
    row = await conn.fetchrow(_RENEW, job_id, owner, lease)
    return None if row is None else (row["state"], row["cancel_requested"])


@dataclass
class Soft:
    """What progress and insight events folded into a write change (None: unchanged)."""

    stage: str | None = None
    percent: float | None = None
    message: str | None = None
    insights: int | None = None
    event_type: str = ""  # the last folded event's type, when nothing else is written

    def values(self) -> tuple[int | None, str | None, float | None, str | None]:
        return self.insights, self.stage, self.percent, self.message


def _soft_set(first: int) -> str:
    """The SET fragment applying `Soft.values()` bound from `$first` on."""
    return (
        f"insight_count = COALESCE(${first}, insight_count), "
        f"progress_stage = COALESCE(${first + 1}, progress_stage), "
        f"progress_percent = COALESCE(${first + 2}, progress_percent), "
        f"progress_message = COALESCE(${first + 3}, progress_message)"
    )


_WORKLOAD = jobs.change_statement(
    "workload = $3, statistics_start_time = $4, statistics_end_time = $5, query_count = $6, "
    + _soft_set(7),
    _OWNED,
    "'workload'",
)


async def record_workload(
    conn: Connection,
    job_id: uuid.UUID,
    owner: str,
    workload: bytes,
    window: tuple[datetime | None, datetime | None],
    query_count: int,
    soft: Soft | None = None,
) -> domain.Job | None:
    row = await conn.fetchrow(
        _WORKLOAD, job_id, owner, workload, *window, query_count, *(soft or Soft()).values()
    )
    return None if row is None else jobs.job_from_row(row)


_SOFT = jobs.change_statement(_soft_set(3), _OWNED, "$7::text")


async def record_soft(
    conn: Connection, job_id: uuid.UUID, owner: str, soft: Soft
) -> domain.Job | None:
    """Progress and insight count on their own (no other event was waiting to carry
    them; a change job's progress)."""
    row = await conn.fetchrow(_SOFT, job_id, owner, *soft.values(), soft.event_type)
    return None if row is None else jobs.job_from_row(row)


_ADD_SUGGESTION = f"""
WITH owned AS (
    SELECT id FROM job WHERE {_OWNED} FOR UPDATE
), prior AS (
    SELECT job_id, id, state FROM suggestion
    WHERE target = $5 AND fingerprint = $7 AND job_id <> $1
      AND state = ANY($12::text[]) AND NOT superseded
    ORDER BY update_time DESC, id
    LIMIT 1
), s AS (
    INSERT INTO suggestion AS old (id, job_id, kind, state, target, title, fingerprint, sql,
                                   rollback_sql, details, attempt, prior_decision)
    SELECT $3, owned.id, $4,
           COALESCE((SELECT state FROM prior), {sql_value(vocabulary.SuggestionState.PENDING)}),
           $5, $6, $7, $8, $9, $10, $11,
           COALESCE((SELECT 'jobs/' || job_id || '/suggestions/' || id FROM prior), '')
    FROM owned
    ON CONFLICT (job_id, fingerprint) DO UPDATE
        SET attempt = EXCLUDED.attempt, superseded = false, details = EXCLUDED.details,
            update_time = now(), version = old.version + 1
        WHERE old.attempt < EXCLUDED.attempt
    RETURNING id, (xmax = 0) AS inserted
), u AS (
    -- CTEs share one snapshot: count what was there, plus what this statement inserted.
    UPDATE job SET suggestion_count = (SELECT count(*) FROM suggestion
                                       WHERE job_id = $1 AND NOT superseded)
                                      + (SELECT count(*) FROM s WHERE inserted),
                   {_soft_set(13)},
                   revision = revision + 1, update_time = now()
    WHERE id = (SELECT id FROM owned) AND EXISTS (SELECT 1 FROM s)
    RETURNING *
), e AS (
    INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot, suggestion_id)
    SELECT u.id, u.revision, 'suggestion', u.update_time, to_jsonb(u) - 'workload',
           (SELECT id FROM s) FROM u
)
SELECT (SELECT id FROM owned) AS owned, (SELECT id FROM s) AS suggestion_id,
       (SELECT {jobs.NOTIFY} FROM u)"""


async def add_suggestion(
    conn: Connection,
    job_id: uuid.UUID,
    owner: str,
    new: domain.NewSuggestion,
    soft: Soft | None = None,
) -> bool | None:
    """Stores a streamed suggestion, idempotent by fingerprint; None when the lease is lost.

    A suggestion already stored for this job (an earlier attempt streamed it) is kept and
    marked as produced again by this attempt. One whose fingerprint already has a decision
    on the same target arrives in that decision's state, pointing at it.
    Returns whether anything was stored or updated.
    """
    row = await conn.fetchrow(
        _ADD_SUGGESTION,
        job_id,
        owner,
        new.id,
        new.kind,
        new.target,
        new.title,
        new.fingerprint,
        new.sql,
        new.rollback_sql,
        new.details,
        new.attempt,
        list(DECIDED),
        *(soft or Soft()).values(),
    )
    if row["owned"] is None:
        return None
    return row["suggestion_id"] is not None


_SUCCEED = f"""
WITH owned AS (
    SELECT id, attempt FROM job WHERE {_OWNED} FOR UPDATE
), superseded AS (
    UPDATE suggestion SET superseded = true, update_time = now(), version = version + 1
    WHERE job_id = (SELECT id FROM owned) AND NOT superseded
      AND NOT (fingerprint = ANY($4::text[]))
    RETURNING id
), u AS (
    UPDATE job SET state = {sql_value(_J.SUCCEEDED)}, summary = $3, end_time = now(),
        insight_count = COALESCE($6, insight_count),
        expire_time = now() + $5::interval, lease_owner = NULL, lease_expire_time = NULL,
        progress_percent = 100, progress_stage = 'done', progress_message = 'finished',
        suggestion_count = (SELECT count(*) FROM suggestion
                            WHERE job_id = (SELECT id FROM owned) AND NOT superseded)
                           - (SELECT count(*) FROM superseded),
        revision = revision + 1, update_time = now()
    WHERE id = (SELECT id FROM owned)
    RETURNING *
), e AS (
    INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot)
    SELECT id, revision, 'succeeded', update_time, to_jsonb(u) - 'workload' FROM u
)
SELECT {jobs.COLUMNS}, {jobs.NOTIFY} FROM u"""


async def succeed(
    conn: Connection,
    job_id: uuid.UUID,
    owner: str,
    summary: bytes,
    valid_fingerprints: Sequence[str],
    ttl: timedelta,
    insights: int | None = None,
) -> domain.Job | None:
    """SUCCEEDED: stores the summary (and the final insight count) and marks suggestions
    outside its valid set superseded."""
    row = await conn.fetchrow(
        _SUCCEED, job_id, owner, summary, list(valid_fingerprints), ttl, insights
    )
    return None if row is None else jobs.job_from_row(row)


_FINISH = jobs.change_statement(
    "state = $3, error = $4, summary = COALESCE($6, summary), end_time = now(), "
    "expire_time = now() + $5::interval, lease_owner = NULL, lease_expire_time = NULL",
    _OWNED,
    "lower(state)",
)


async def finish(
    conn: Connection,
    job_id: uuid.UUID,
    owner: str,
    state: str,
    error: bytes | None,
    ttl: timedelta,
    summary: bytes | None = None,
) -> domain.Job | None:
    """FAILED or CANCELLED (with the error saying why); the streamed suggestions stay."""
    row = await conn.fetchrow(_FINISH, job_id, owner, state, error, ttl, summary)
    return None if row is None else jobs.job_from_row(row)


_REQUEUE = jobs.change_statement(
    f"""state = CASE
           WHEN cancel_requested THEN {_CANCELLED}
           WHEN $4 AND attempt >= max_attempts THEN {_FAILED}
           ELSE {_PENDING} END,
       attempt = CASE WHEN $4 THEN attempt ELSE attempt - 1 END,
       error = $3,
       run_after = now() + $5::interval,
       end_time = CASE WHEN cancel_requested OR ($4 AND attempt >= max_attempts)
                       THEN now() END,
       expire_time = CASE WHEN cancel_requested OR ($4 AND attempt >= max_attempts)
                          THEN now() + $6::interval END,
       lease_owner = NULL, lease_expire_time = NULL""",
    _OWNED,
    f"CASE state WHEN {_PENDING} THEN 'requeued' ELSE lower(state) END",
)


async def requeue(
    conn: Connection,
    job_id: uuid.UUID,
    owner: str,
    *,
    error: bytes | None,
    used_attempt: bool,
    delay: timedelta,
    ttl: timedelta,
) -> domain.Job | None:
    """Back to PENDING, runnable after `delay`; FAILED when the last attempt was used.

    `used_attempt=False` (the optimizer could not be reached before a stream started, or
    this process is shutting down) gives the attempt back.
    """
    row = await conn.fetchrow(_REQUEUE, job_id, owner, error, used_attempt, delay, ttl)
    return None if row is None else jobs.job_from_row(row)


_REAP = f"""
WITH lapsed AS (
    SELECT id FROM job
    WHERE {_RUNNING} AND lease_expire_time < now()
    ORDER BY lease_expire_time
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), u AS (
    UPDATE job SET
        state = CASE
            WHEN cancel_requested THEN {_CANCELLED}
            WHEN attempt >= max_attempts THEN {_FAILED}
            ELSE {_PENDING} END,
        error = CASE WHEN cancel_requested THEN error ELSE $2 END,
        end_time = CASE WHEN cancel_requested OR attempt >= max_attempts THEN now() END,
        expire_time = CASE WHEN cancel_requested OR attempt >= max_attempts
                           THEN now() + $3::interval END,
        lease_owner = NULL, lease_expire_time = NULL, run_after = NULL,
        revision = revision + 1, update_time = now()
    FROM lapsed WHERE job.id = lapsed.id
    RETURNING job.*
), e AS (
    INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot)
    SELECT id, revision, 'lease_lapsed', update_time, to_jsonb(u) - 'workload' FROM u
)
SELECT {jobs.COLUMNS}, {jobs.NOTIFY} FROM u"""


async def reap_lapsed(
    conn: Connection, error: bytes, ttl: timedelta, batch: int = 100
) -> list[domain.Job]:
    """Jobs whose owner stopped renewing: requeued, failed after the last attempt, or
    cancelled when a cancel was asked for. `error` says what happened (kept on FAILED)."""
    rows = await conn.fetch(_REAP, batch, error, ttl)
    return [jobs.job_from_row(r) for r in rows]


async def owned_jobs(conn: Connection, owner: str) -> list[uuid.UUID]:
    rows = await conn.fetch(f"SELECT id FROM job WHERE lease_owner = $1 AND {_RUNNING}", owner)
    return [r["id"] for r in rows]


_RELEASE = jobs.change_statement(
    f"""state = CASE WHEN cancel_requested THEN {_CANCELLED} ELSE {_PENDING} END,
       attempt = CASE WHEN cancel_requested THEN attempt ELSE attempt - 1 END,
       end_time = CASE WHEN cancel_requested THEN now() END,
       expire_time = CASE WHEN cancel_requested THEN now() + $2::interval END,
       lease_owner = NULL, lease_expire_time = NULL, run_after = NULL""",
    f"lease_owner = $1 AND {_RUNNING}",
    f"CASE state WHEN {_PENDING} THEN 'released' ELSE lower(state) END",
)


async def release_all(conn: Connection, owner: str, ttl: timedelta) -> list[domain.Job]:
    """Hands back every job `owner` still holds (graceful shutdown): PENDING with the
    attempt given back, or CANCELLED when a cancel was asked for."""
    rows = await conn.fetch(_RELEASE, owner, ttl)
    return [jobs.job_from_row(r) for r in rows]
