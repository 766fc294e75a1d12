"""BENCHMARK, APPLY and ROLLBACK jobs: carrying one suggestion to a target and back.

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
from typing import TYPE_CHECKING

import grpc
from google.protobuf import json_format

from job_service import audit, domain, errors, mappers, names, optimizer, suggestions
from job_service.database import Connection
from pgsage import failpoints
from pgsage.jobs.v1 import suggestion_pb2
from pgsage.optimizer.v1 import analysis_pb2, optimizer_service_pb2

if TYPE_CHECKING:
    from job_service.dispatcher import JobRun

log = logging.getLogger(__name__)

APPLICABLE = ("APPROVED", "APPLY_FAILED", "ROLLED_BACK")
ROLLBACKABLE = ("APPLIED", "ROLLBACK_FAILED")
LIVE = ("APPLYING", "APPLIED", "ROLLING_BACK", "ROLLBACK_FAILED")


def statement_of(s: domain.Suggestion) -> str:
    """What apply, benchmark and export run: the edit when there is one."""
    return s.edited_sql or s.sql


def rollback_of(s: domain.Suggestion) -> str:
    return s.edited_rollback_sql or s.rollback_sql


# -- preconditions (CreateJob) ---------------------------------------------------------

_ACTIVE_CHANGE_JOB = """
SELECT id, kind, state FROM job
WHERE suggestion_id = $1 AND kind IN ('BENCHMARK', 'APPLY', 'ROLLBACK')
  AND state IN ('PENDING', 'RUNNING', 'CANCELLING')
LIMIT 1"""

_APPLIED_TWIN = """
SELECT s.job_id, s.id, s.state,
       (SELECT j.id FROM job j WHERE j.suggestion_id = s.id AND j.kind = 'APPLY'
        ORDER BY j.create_time DESC LIMIT 1) AS apply_job
FROM suggestion s
WHERE s.target = $1 AND s.fingerprint = $2 AND s.id <> $3 AND s.state = ANY($4::text[])
LIMIT 1"""


async def check_can_start(conn: Connection, kind: str, s: domain.Suggestion) -> None:
    """FAILED_PRECONDITION unless a `kind` job may start on suggestion `s` now.

    These reads explain a refusal early and clearly; what makes the rules hold under
    concurrency are the constraints `uq_job_suggestion_id_live` and
    `uq_suggestion_target_fingerprint_live` (translated to the same errors by
    `job_service.database`).
    """
    name = names.suggestion_name(s.job_id, s.id)
    if kind == "BENCHMARK":
        # New indexes are built in the sandbox; drops are measured with the index dropped
        # inside a rolled-back transaction. Either way the suggestion's state stays.
        if s.state == "DISMISSED":
            raise errors.InvalidStateTransition(name, s.state, "benchmark", why="it was dismissed")
    elif kind == "APPLY":
        if s.state not in APPLICABLE:
            raise errors.InvalidStateTransition(
                name,
                s.state,
                "apply",
                why="only an APPROVED (or APPLY_FAILED, ROLLED_BACK) suggestion is applied",
            )
        if s.superseded:
            raise errors.InvalidStateTransition(
                name, "superseded", "apply", why="a later attempt of its job did not reach it"
            )
        twin = await conn.fetchrow(_APPLIED_TWIN, s.target, s.fingerprint, s.id, list(LIVE))
        if twin is not None:
            raise errors.ChangeAlreadyApplied(
                suggestion=name,
                twin=names.suggestion_name(twin["job_id"], twin["id"]),
                state=twin["state"],
                target=s.target,
                job=names.job_name(twin["apply_job"]) if twin["apply_job"] else "",
            )
    elif kind == "ROLLBACK":
        if s.state not in ROLLBACKABLE:
            raise errors.InvalidStateTransition(
                name,
                s.state,
                "roll back",
                why="only an APPLIED (or ROLLBACK_FAILED) suggestion is rolled back",
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


_ORPHANS = """
WITH o AS (
    SELECT s.id, s.job_id, s.state, s.target, j.id AS change_job, j.state AS job_state,
           j.creator
    FROM suggestion s JOIN job j ON j.suggestion_id = s.id
    WHERE s.state IN ('APPLYING', 'ROLLING_BACK') AND j.kind IN ('APPLY', 'ROLLBACK')
      AND j.state IN ('FAILED', 'CANCELLED')
      AND NOT EXISTS (SELECT 1 FROM job a WHERE a.suggestion_id = s.id
                      AND a.state IN ('PENDING', 'RUNNING', 'CANCELLING'))
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE suggestion s SET
    state = CASE o.state WHEN 'APPLYING' THEN 'APPLY_FAILED' ELSE 'ROLLBACK_FAILED' END,
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


# -- running a change job -------------------------------------------------------------------


class ChangeRun:
    """The BENCHMARK / APPLY / ROLLBACK part of a `JobRun`."""

    def __init__(self, run: JobRun) -> None:
        self.run = run
        self.d = run.d
        self.job = run.job
        self.actor = f"pgsage:{names.job_name(self.job.id)}"
        self.suggestion: domain.Suggestion | None = None
        # Why `begin` refused to start (reason, message), when a constraint said so.
        self.refusal: tuple[str, str] | None = None

    async def load(self) -> domain.Suggestion | None:
        job = self.job
        if job.suggestion_id is None or job.suggestion_job_id is None:
            return None
        async with self.d.db.connection() as conn:
            try:
                return await suggestions.get(conn, job.suggestion_job_id, job.suggestion_id)
            except errors.SuggestionNotFound:
                return None

    async def begin(self, s: domain.Suggestion) -> domain.Suggestion | None:
        """APPLYING / ROLLING_BACK, with the intent audited before anything runs."""
        kind = self.job.kind
        allowed: tuple[str, ...]
        if kind == "BENCHMARK":
            statement, to, allowed = statement_of(s), None, ()
        elif kind == "APPLY":
            statement, to, allowed = statement_of(s), "APPLYING", (*APPLICABLE, "APPLYING")
        else:
            statement, to = rollback_of(s), "ROLLING_BACK"
            allowed = (*ROLLBACKABLE, "ROLLING_BACK")

        async def action(conn: Connection) -> domain.Suggestion | None:
            async with conn.transaction():
                moved: domain.Suggestion | None = s
                if to is not None:
                    moved = await move(
                        conn,
                        s,
                        to,
                        allowed,
                        actor=self.actor,
                        on_behalf_of=self.job.creator,
                        action=f"suggestion.{kind.lower()}",
                        job_id=self.job.id,
                    )
                    if moved is None:
                        return None
                await audit.record(
                    conn,
                    audit.Entry(
                        actor=self.actor,
                        actor_subject=self.actor,
                        authenticated=True,
                        on_behalf_of=self.job.creator,
                        action=f"{kind.lower()}.intent",
                        resource=names.suggestion_name(s.job_id, s.id),
                        job_id=self.job.id,
                        target=s.target,
                        statement=statement,
                        outcome="INTENT",
                        detail=f"attempt {self.job.attempt}",
                    ),
                )
                return moved

        try:
            return await self.d.write(f"job {self.job.id} begin", action)
        except errors.ChangeAlreadyApplied as exc:
            # A twin got to APPLYING first (both jobs were created before either began).
            self.refusal = (exc.reason, exc.message)
            return None

    def request(self, s: domain.Suggestion) -> object:
        kind = mappers.ADVICE_KIND_BY_NAME[s.kind]
        if self.job.kind == "APPLY":
            return optimizer_service_pb2.ApplyRequest(
                target=s.target, kind=kind, sql=statement_of(s)
            )
        if self.job.kind == "ROLLBACK":
            # The optimizer drops only the index this APPLY built (same OID and definition),
            # and a drop's rollback recreates the definition the APPLY dropped.
            creates = s.kind == "CREATE_INDEX"
            return optimizer_service_pb2.RollbackRequest(
                target=s.target,
                kind=kind,
                rollback_sql=rollback_of(s),
                expected_index_oid=(s.applied_index_oid or 0) if creates else 0,
                expected_index_definition=(
                    s.applied_index_definition if creates else s.dropped_index_definition
                ),
            )
        details = suggestion_pb2.Suggestion.FromString(s.details or b"")
        return optimizer_service_pb2.BenchmarkRequest(
            target=s.target,
            kind=kind,
            sql=statement_of(s),
            rollback_sql=rollback_of(s),
            queries=[
                analysis_pb2.WorkloadQuery(query_id=q.query_id, text=q.text, weight=q.weight)
                for q in details.query_impacts
            ],
        )

    def call(self, request: object) -> grpc.aio.UnaryStreamCall:
        stub = self.d.optimizer.stub()
        timeout = self.d.analyze_timeout
        metadata = optimizer.job_metadata(self.job.id)
        if self.job.kind == "APPLY":
            return stub.Apply(request, timeout=timeout, metadata=metadata)
        if self.job.kind == "ROLLBACK":
            return stub.Rollback(request, timeout=timeout, metadata=metadata)
        return stub.Benchmark(request, timeout=timeout, metadata=metadata)

    async def statement(
        self, s: domain.Suggestion, e: optimizer_service_pb2.StatementExecution
    ) -> None:
        phase = optimizer_service_pb2.StatementExecution.Phase.Name(e.phase)
        entry = audit.Entry(
            actor=self.actor,
            actor_subject=self.actor,
            authenticated=True,
            on_behalf_of=self.job.creator,
            action="statement.execute",
            resource=names.suggestion_name(s.job_id, s.id),
            job_id=self.job.id,
            target=e.target or s.target,
            statement=e.sql,
            outcome=phase,
            detail=e.error,
        )

        async def action(conn: Connection) -> None:
            await audit.record(conn, entry)

        await self.d.write(f"job {self.job.id} audit", action)
        if phase == "STARTED":
            # Crash tests kill the job service here: the target is mid-statement.
            await failpoints.hit("during_change")

    async def finish(self, s: domain.Suggestion, result: object | None) -> str:
        """Stores the outcome; '' when the change is done, else why it is not."""
        kind = self.job.kind
        if kind == "BENCHMARK":
            assert isinstance(result, optimizer_service_pb2.BenchmarkResult)
            stored = suggestion_pb2.BenchmarkResult()
            # Same field names on both sides; a field the optimizer adds later is dropped
            # rather than failing the job.
            json_format.ParseDict(
                json_format.MessageToDict(result, preserving_proto_field_name=True),
                stored,
                ignore_unknown_fields=True,
            )
            stored.job = names.job_name(self.job.id)
            stored.create_time.GetCurrentTime()

            async def add(conn: Connection) -> object:
                return await conn.fetchrow(
                    _ADD_BENCHMARK, s.id, s.job_id, stored.SerializeToString()
                )

            await self.d.write(f"job {self.job.id} benchmark", add)
            return ""
        assert isinstance(result, optimizer_service_pb2.ChangeResult)
        creates = (kind == "APPLY") == (s.kind == "CREATE_INDEX")
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
            ("APPLIED", "APPLY_FAILED") if kind == "APPLY" else ("ROLLED_BACK", "ROLLBACK_FAILED")
        )
        record = self.applied(s, result) if kind == "APPLY" and ok else None
        await self.end(s, done if ok else failed, why, record)
        return why

    def applied(
        self, s: domain.Suggestion, result: optimizer_service_pb2.ChangeResult
    ) -> tuple[object, ...] | None:
        """What to remember of an APPLY for its ROLLBACK (`_RECORD_APPLIED`'s values).

        A create that found the index already in place on the job's first attempt did not
        build it (a DBA's index of that name and definition): nothing is recorded, so a
        rollback refuses to drop it. On a later attempt (a takeover) it is the build of an
        earlier attempt of this job."""
        if s.kind == "CREATE_INDEX":
            if result.already_in_place and self.job.attempt <= 1:
                return None
            return (s.id, s.job_id, result.index_oid or None, result.index_definition, None)
        if not result.index_definition:
            return None  # already gone: the definition recorded before (if any) stays
        return (s.id, s.job_id, None, None, result.index_definition)

    async def end(
        self, s: domain.Suggestion, to: str, reason: str, record: tuple[object, ...] | None = None
    ) -> None:
        current = ("APPLYING",) if self.job.kind == "APPLY" else ("ROLLING_BACK",)

        async def action(conn: Connection) -> None:
            async with conn.transaction():
                if record is not None:
                    await conn.execute(_RECORD_APPLIED, *record)
                await move(
                    conn,
                    dataclasses.replace(s, state=current[0]),
                    to,
                    current,
                    actor=self.actor,
                    on_behalf_of=self.job.creator,
                    action=f"suggestion.{to.lower()}",
                    job_id=self.job.id,
                    reason=reason,
                )

        await self.d.write(f"job {self.job.id} {to}", action)

    async def fail_reason(self, reason: str) -> None:
        """The change job failed for good: the suggestion says so too."""
        if self.job.kind == "BENCHMARK" or self.suggestion is None:
            return
        failed = "APPLY_FAILED" if self.job.kind == "APPLY" else "ROLLBACK_FAILED"
        await self.end(self.suggestion, failed, reason)
