"""BENCHMARK, APPLY and ROLLBACK jobs: the rules and statements of carrying one suggestion
to a target and back (the run itself is `job_service.strategies.change`).

They run in the dispatcher like analyses (lease, retry, cancel, exactly one terminal state)
on the optimizer's server-streaming Benchmark, Apply and Rollback. Around the stream:

- before anything runs, the suggestion moves APPROVED → APPLYING (or APPLIED →
  ROLLING_BACK) in a guarded statement, and the statement about to run is written to the
  audit trail as an INTENT, in the same transaction;
- every statement the optimizer reports (STARTED, then SUCCEEDED or FAILED) is audited;
- the end state follows what the optimizer read back from the target's catalog (pg_index),
  never what was merely attempted: APPLIED only when the index exists and is valid;
- a takeover after a crash mid-apply runs Apply again, which is idempotent on the target (a
  valid index is kept, an invalid one rebuilt) and reports what `pg_index` really holds.
A suggestion whose change job ended without a result (crashed on its last attempt, or
cancelled) is set to APPLY_FAILED / ROLLBACK_FAILED with that reason by `settle_orphans`.
"""

# Statements here are assembled from constant fragments and numbered placeholders only.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
import logging
import uuid

from job_service import audit, domain, errors, names, suggestions, vocabulary
from job_service.database import Connection
from job_service.models import sql_in, sql_value
from job_service.vocabulary import JobKind, SuggestionKind, SuggestionState
from pgsage.optimizer.v1 import optimizer_service_pb2

log = logging.getLogger(__name__)

_SS = SuggestionState
APPLICABLE = vocabulary.APPLICABLE_STATES
ROLLBACKABLE = vocabulary.ROLLBACKABLE_STATES
LIVE = vocabulary.LIVE_SUGGESTION_STATES


def statement_of(s: domain.Suggestion) -> str:
    """What apply, benchmark and export run: the edit when there is one."""
    return s.edited_sql or s.sql


def rollback_of(s: domain.Suggestion) -> str:
    return s.edited_rollback_sql or s.rollback_sql


# -- preconditions (CreateJob) ---------------------------------------------------------

_CHANGE_KIND = sql_in("kind", vocabulary.CHANGE_JOB_KINDS)
_LIVE = sql_in("state", vocabulary.LIVE_JOB_STATES)

_ACTIVE_CHANGE_JOB = f"""
SELECT id, kind, state FROM job
WHERE suggestion_id = $1 AND {_CHANGE_KIND}
  AND {_LIVE}
LIMIT 1"""

_APPLIED_TWIN = f"""
SELECT s.job_id, s.id, s.state,
       (SELECT j.id FROM job j WHERE j.suggestion_id = s.id AND j.kind = {sql_value(JobKind.APPLY)}
        ORDER BY j.create_time DESC LIMIT 1) AS apply_job
FROM suggestion s
WHERE s.target = $1 AND s.fingerprint = $2 AND s.id <> $3 AND s.state = ANY($4::text[])
LIMIT 1"""


async def check_no_conflict(conn: Connection, kind: str, s: domain.Suggestion) -> None:
    """FAILED_PRECONDITION when another row stands in the way of a `kind` job on `s`: an
    applied twin (same fingerprint, same target) of an APPLY, or a live change job.

    These reads explain a refusal early and clearly (`domain.check_can_start` judged the
    suggestion itself); what makes the rules hold under concurrency are the constraints
    `uq_job_suggestion_id_live` and `uq_suggestion_target_fingerprint_live` (translated to
    the same errors by `job_service.database`).
    """
    name = names.suggestion_name(s.job_id, s.id)
    if kind == JobKind.APPLY:
        twin = await conn.fetchrow(_APPLIED_TWIN, s.target, s.fingerprint, s.id, list(LIVE))
        if twin is not None:
            raise errors.ChangeAlreadyApplied(
                suggestion=name,
                twin=names.suggestion_name(twin["job_id"], twin["id"]),
                state=twin["state"],
                target=s.target,
                job=names.job_name(twin["apply_job"]) if twin["apply_job"] else "",
            )
    active = await conn.fetchrow(_ACTIVE_CHANGE_JOB, s.id)
    if active is not None:
        raise errors.ChangeInProgress(
            name, job=names.job_name(active["id"]), kind=active["kind"], state=active["state"]
        )


# -- guarded transitions -----------------------------------------------------------------

_MOVE = f"""
UPDATE suggestion SET state = $3, failure_reason = $4, version = version + 1,
                      update_time = now()
WHERE id = $1 AND job_id = $2 AND state = ANY($5::text[])
RETURNING {suggestions.COLUMNS}"""


# What an APPLY did on the target, for its ROLLBACK (NULL: keep what is recorded).
_RECORD_APPLIED = """
UPDATE suggestion
SET applied_index_oid = CASE WHEN $3::bigint IS NULL AND $4::text IS NULL
                             THEN applied_index_oid ELSE $3::bigint END,
    applied_index_definition = COALESCE($4::text, applied_index_definition),
    dropped_index_definition = COALESCE($5::text, dropped_index_definition)
WHERE id = $1 AND job_id = $2"""


async def move(
    conn: Connection,
    s: domain.Suggestion,
    to: str,
    allowed_from: tuple[str, ...],
    *,
    actor: str,
    action: str,
    job_id: uuid.UUID,
    reason: str = "",
    on_behalf_of: str = "",
) -> domain.Suggestion | None:
    """Moves `s` to `to` if it is in `allowed_from`, with its audit record; None if not."""
    row = await conn.fetchrow(_MOVE, s.id, s.job_id, to, reason, list(allowed_from))
    if row is None:
        return None
    moved = suggestions.from_row(row)
    await audit.record(
        conn,
        audit.Entry(
            actor=actor,
            actor_subject=actor,
            authenticated=True,
            action=action,
            resource=names.suggestion_name(s.job_id, s.id),
            job_id=job_id,
            target=s.target,
            outcome="OK",
            detail=reason,
            from_state=s.state,
            to_state=to,
            on_behalf_of=on_behalf_of,
        ),
    )
    return moved


_ADD_BENCHMARK = f"""
UPDATE suggestion SET benchmarks = ARRAY[$3::bytea] || benchmarks, version = version + 1,
                      update_time = now()
WHERE id = $1 AND job_id = $2
RETURNING {suggestions.COLUMNS}"""


_ORPHANS = f"""
WITH o AS (
    SELECT s.id, s.job_id, s.state, s.target, j.id AS change_job, j.state AS job_state,
           j.creator
    FROM suggestion s JOIN job j ON j.suggestion_id = s.id
    WHERE {sql_in("s.state", (SuggestionState.APPLYING, SuggestionState.ROLLING_BACK))}
      AND {sql_in("j.kind", (JobKind.APPLY, JobKind.ROLLBACK))}
      AND {sql_in("j.state", (vocabulary.JobState.FAILED, vocabulary.JobState.CANCELLED))}
      AND NOT EXISTS (SELECT 1 FROM job a WHERE a.suggestion_id = s.id
                      AND {sql_in("a.state", vocabulary.LIVE_JOB_STATES)})
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE suggestion s SET
    state = CASE o.state WHEN {sql_value(SuggestionState.APPLYING)}
                         THEN {sql_value(SuggestionState.APPLY_FAILED)}
                         ELSE {sql_value(SuggestionState.ROLLBACK_FAILED)} END,
    failure_reason = 'its ' || lower(o.job_state) || ' job ' || 'jobs/' || o.change_job
        || ' ended without a result; what the target holds is in pg_index',
    version = s.version + 1, update_time = now()
FROM o WHERE s.id = o.id
RETURNING s.id, s.job_id, s.target, o.state AS from_state, s.state AS to_state,
          s.failure_reason, o.change_job, o.creator"""


async def settle_orphans(conn: Connection) -> int:
    """Suggestions left APPLYING/ROLLING_BACK by a change job that ended without a result."""
    rows = await conn.fetch(_ORPHANS)
    for r in rows:
        await audit.record(
            conn,
            audit.Entry(
                actor="pgsage",
                actor_subject="pgsage",
                authenticated=True,
                action="suggestion.settle",
                resource=names.suggestion_name(r["job_id"], r["id"]),
                job_id=r["change_job"],
                target=r["target"],
                outcome="OK",
                detail=r["failure_reason"],
                from_state=r["from_state"],
                to_state=r["to_state"],
                on_behalf_of=r["creator"],
            ),
        )
    return len(rows)


# -- what a change job does (pure) --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BeginPlan:
    """What a change job's first write does: the statement it audits as INTENT, and the
    move of the suggestion (none for a BENCHMARK)."""

    statement: str
    to: str | None
    allowed: tuple[str, ...]


def begin_plan(kind: str, s: domain.Suggestion) -> BeginPlan:
    if kind == JobKind.BENCHMARK:
        return BeginPlan(statement_of(s), None, ())
    # A takeover begins again from the state its first attempt moved the suggestion to.
    if kind == JobKind.APPLY:
        return BeginPlan(statement_of(s), _SS.APPLYING, (*APPLICABLE, _SS.APPLYING))
    return BeginPlan(rollback_of(s), _SS.ROLLING_BACK, (*ROLLBACKABLE, _SS.ROLLING_BACK))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Where an APPLY or ROLLBACK leaves its suggestion, from what the optimizer read back
    from the target's catalog: `to`, why it is not done ('' when it is), and what to record
    of an APPLY for its ROLLBACK (`_RECORD_APPLIED`'s values, or None)."""

    to: str
    why: str
    record: tuple[object, ...] | None


def verdict(
    kind: str, s: domain.Suggestion, result: optimizer_service_pb2.ChangeResult, attempt: int
) -> Verdict:
    creates = (kind == JobKind.APPLY) == (s.kind == SuggestionKind.CREATE_INDEX)
    if creates:
        ok = result.index_exists and result.index_valid
        why = (
            ""
            if ok
            else (
                f"index {result.index_name} is INVALID"
                if result.index_exists
                else f"index {result.index_name} does not exist"
            )
        )
    else:
        ok = not result.index_exists
        why = "" if ok else f"index {result.index_name} still exists"
    done, failed = (
        (_SS.APPLIED, _SS.APPLY_FAILED)
        if kind == JobKind.APPLY
        else (_SS.ROLLED_BACK, _SS.ROLLBACK_FAILED)
    )
    record = applied(s, result, attempt) if kind == JobKind.APPLY and ok else None
    return Verdict(done if ok else failed, why, record)


def applied(
    s: domain.Suggestion, result: optimizer_service_pb2.ChangeResult, attempt: int
) -> tuple[object, ...] | None:
    """What to remember of an APPLY for its ROLLBACK (`_RECORD_APPLIED`'s values).

    A create that found the index already in place on the job's first attempt did not build
    it (a DBA's index of that name and definition): nothing is recorded, so a rollback
    refuses to drop it. On a later attempt (a takeover) it is the build of an earlier
    attempt of this job."""
    if s.kind == SuggestionKind.CREATE_INDEX:
        if result.already_in_place and attempt <= 1:
            return None
        return (s.id, s.job_id, result.index_oid or None, result.index_definition, None)
    if not result.index_definition:
        return None  # already gone: the definition recorded before (if any) stays
    return (s.id, s.job_id, None, None, result.index_definition)


# -- a change job's statements (the caller's transaction holds the lease) -------------------


async def add_benchmark(conn: Connection, s: domain.Suggestion, result: bytes) -> None:
    await conn.fetchrow(_ADD_BENCHMARK, s.id, s.job_id, result)


async def record_applied(conn: Connection, record: tuple[object, ...]) -> None:
    await conn.execute(_RECORD_APPLIED, *record)


async def state_of(conn: Connection, s: domain.Suggestion) -> str:
    """The suggestion's state now ('' when it is gone)."""
    state = await conn.fetchval(
        "SELECT state FROM suggestion WHERE id = $1 AND job_id = $2", s.id, s.job_id
    )
    return state or ""
