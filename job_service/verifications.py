"""VERIFY jobs: the rules and statements of verifying an applied suggestion (the run itself
is `job_service.strategies.verify`; the judgement `job_service.verification`).

- When an APPLY succeeds, its run takes a workload snapshot of the target (`take`) and, in
  the transaction that records APPLIED, stores it and creates the VERIFY job that will
  compare against it once the target's verification window has passed (`schedule`). The
  suggestion's verdict of an earlier apply is cleared then.
- A ROLLBACK that begins cancels the suggestion's VERIFY jobs still waiting
  (`cancel_pending`): there is no change left to verify.
- A VERIFY job records its Verification on the job (its `summary` column, event
  `verdict`) and, while the suggestion is still APPLIED, on the suggestion (`record`).
What a snapshot asks the optimizer for comes from the suggestion (`request`): its affected
queries, its table, the index its statement creates or drops, and up to
`TABLE_STATEMENTS` statements per table that reference the table (a drop's risk, and the
writes that pay for a new index).
"""

# ruff: noqa: S608

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc

from job_service import changes, domain, jobs, optimizer, snapshots
from job_service.database import Connection
from job_service.models import sql_value
from job_service.vocabulary import JobKind, JobState, SnapshotReason, SuggestionKind
from pgsage import errors as pgsage_errors
from pgsage import sqlcheck
from pgsage.jobs.v1 import suggestion_pb2
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt

log = logging.getLogger(__name__)

TABLE_STATEMENTS = 10
DEFAULT_WINDOW = timedelta(hours=1)


def _qualified(schema: str | None, name: str) -> str:
    """`schema.name` as to_regclass reads it (no schema: public, the default search path)."""
    return f"{sqlcheck.quote_ident(schema or 'public')}.{sqlcheck.quote_ident(name)}"


@dataclass(frozen=True)
class Scope:
    """What a verification of one suggestion looks at."""

    request: opt.SnapshotRequest
    affected: tuple[str, ...]  # query ids as snapshots report them (`requested_as`)
    index: str
    table: str
    creates: bool


def scope(s: domain.Suggestion) -> Scope:
    """The snapshot request of a verification of `s`, and what to judge in it."""
    details = suggestion_pb2.Suggestion.FromString(s.details or b"")
    ids, texts = [], []
    for q in details.query_impacts:
        if q.query_id.lstrip("-").isdigit() and len(q.query_id) <= 20:
            ids.append(q.query_id)
        elif q.text:
            texts.append(analysis_pb2.WorkloadQuery(query_id=q.query_id, text=q.text))
    index, table = "", ""
    try:
        parsed = sqlcheck.check_index_statement(changes.statement_of(s), field="sql")
    except pgsage_errors.PgsageError:
        parsed = None
    tables = list(details.tables)
    if parsed is not None:
        if parsed.action == "create" and parsed.table:
            # A new index lives in its table's schema.
            index = _qualified(parsed.table_schema, parsed.index)
            on = _qualified(parsed.table_schema, parsed.table)
            if on not in tables:
                tables.insert(0, on)
        else:
            index = _qualified(parsed.index_schema, parsed.index)
    table = tables[0] if tables else ""
    request = opt.SnapshotRequest(
        target=s.target,
        query_ids=ids[:200],
        queries=texts[:200],
        tables=tables[:20],
        indexes=[index] if index else [],
        table_statements=TABLE_STATEMENTS if tables else 0,
    )
    affected = tuple(dict.fromkeys([*ids, *(t.query_id for t in texts)]))
    return Scope(request, affected, index, table, s.kind == SuggestionKind.CREATE_INDEX)


async def take(
    client: optimizer.OptimizerClient,
    s: domain.Suggestion,
    job_id: uuid.UUID,
    deadline: float,
) -> opt.WorkloadSnapshot | None:
    """A snapshot for the suggestion's verification, read now; None (logged) when the
    optimizer or the target cannot give one (the change stands; its verification will
    say it has no figures from before)."""
    try:
        call = client.stub().Snapshot(
            scope(s).request, timeout=deadline, metadata=optimizer.job_metadata(job_id)
        )
        async for event in call:
            if event.WhichOneof("event") == "snapshot":
                return event.snapshot
    except (TimeoutError, grpc.aio.AioRpcError) as exc:
        log.warning("job %s: no snapshot for the verification: %s", job_id, exc)
    return None


def window_of(taken: opt.WorkloadSnapshot | None) -> timedelta:
    if taken is None or not taken.HasField("verification_window"):
        return DEFAULT_WINDOW
    return taken.verification_window.ToTimedelta()


_CLEAR_VERDICT = """
UPDATE suggestion SET verdict = NULL, verification = NULL WHERE id = $1 AND job_id = $2"""


async def schedule(
    conn: Connection,
    s: domain.Suggestion,
    taken: opt.WorkloadSnapshot | None,
    *,
    apply_job: domain.Job,
) -> domain.Job:
    """Stores the APPLY's snapshot and creates the VERIFY job due after the target's
    verification window (in the caller's transaction, with the APPLIED move)."""
    if taken is not None:
        await snapshots.add(
            conn,
            snapshots.from_optimizer(
                taken, SnapshotReason.APPLY, suggestion=s, job_id=apply_job.id
            ),
        )
    await conn.execute(_CLEAR_VERDICT, s.id, s.job_id)
    job, _ = await jobs.create(
        conn,
        domain.NewJob(
            kind=JobKind.VERIFY,
            target=s.target,
            suggestion_job_id=s.job_id,
            suggestion_id=s.id,
            max_attempts=apply_job.max_attempts,
            creator=apply_job.creator,
            run_after=datetime.now(UTC) + window_of(taken),
        ),
    )
    log.info("job %s: VERIFY job %s due in %s", apply_job.id, job.id, window_of(taken))
    return job


_CANCEL_PENDING = jobs.change_statement(
    f"state = {sql_value(JobState.CANCELLED)}, cancel_requested = true, end_time = now(), "
    "expire_time = now() + $2::interval, progress_message = 'its suggestion is being rolled back'",
    f"suggestion_id = $1 AND kind = {sql_value(JobKind.VERIFY)} "
    f"AND state = {sql_value(JobState.PENDING)}",
    "'cancelled'",
)


async def cancel_pending(conn: Connection, suggestion_id: uuid.UUID, ttl: timedelta) -> int:
    """Cancels the suggestion's VERIFY jobs still waiting (a rollback begins)."""
    return len(await conn.fetch(_CANCEL_PENDING, suggestion_id, ttl))


_RECORD_ON_JOB = jobs.change_statement(
    "summary = $3, progress_stage = 'verdict', progress_percent = 100, progress_message = $4",
    "id = $1 AND lease_owner = $2 AND state IN ('RUNNING', 'CANCELLING')",
    "'verdict'",
)

_RECORD_ON_SUGGESTION = f"""
UPDATE suggestion SET verdict = $3, verification = $4, version = version + 1,
                      update_time = now()
WHERE id = $1 AND job_id = $2 AND state = {sql_value("APPLIED")}
RETURNING id"""


async def record_on_job(
    conn: Connection, job_id: uuid.UUID, owner: str, verification: bytes, message: str
) -> domain.Job | None:
    """The VERIFY job's result (lease-guarded; event `verdict`); None when the lease is lost."""
    row = await conn.fetchrow(_RECORD_ON_JOB, job_id, owner, verification, message[:500])
    return None if row is None else jobs.job_from_row(row)


async def record_on_suggestion(
    conn: Connection, s: domain.Suggestion, verdict: str, verification: bytes
) -> bool:
    """The verdict on the suggestion, if it is still APPLIED; whether it was."""
    found = await conn.fetchval(_RECORD_ON_SUGGESTION, s.id, s.job_id, verdict, verification)
    return found is not None
