"""The change strategy: a BENCHMARK, APPLY or ROLLBACK job carrying one suggestion to a target.

Around the optimizer's Benchmark, Apply or Rollback stream (see `job_service.changes` for the
rules and the statements):

- before anything runs, the suggestion moves APPROVED → APPLYING (or APPLIED → ROLLING_BACK)
  and the statement about to run is audited as an INTENT, in one transaction;
- every statement the optimizer reports (STARTED, then SUCCEEDED or FAILED) is audited;
- the end state follows what the optimizer read back from the target's catalog.
Every one of these writes is guarded by the job's lease (`runs.hold` in its transaction): a
write that finds the lease gone ends the run as lease lost, having written nothing. A
suggestion that refuses its final move (it is no longer APPLYING / ROLLING_BACK) fails the
job with SUGGESTION_CHANGED: a job never ends SUCCEEDED while its suggestion disagrees.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import grpc
from google.protobuf import duration_pb2, json_format
from google.rpc import code_pb2

from job_service import (
    audit,
    changes,
    domain,
    ending,
    errors,
    names,
    optimizer_mappers,
    runs,
    suggestions,
    verifications,
)
from job_service.database import Connection
from job_service.strategies import LeaseLost, RunContext
from job_service.vocabulary import ErrorReason, JobKind, JobState, SuggestionKind
from job_service.vocabulary import SuggestionState as _SS
from pgsage import failpoints
from pgsage.jobs.v1 import job_pb2, suggestion_pb2
from pgsage.optimizer.v1 import analysis_pb2, optimizer_service_pb2

log = logging.getLogger(__name__)


def _fail(reason: str, message: str) -> ending.Outcome:
    return ending.Outcome(
        ending.Action.FAIL, JobState.FAILED, code_pb2.FAILED_PRECONDITION, reason, message
    )


class ChangeStrategy:
    """A BENCHMARK / APPLY / ROLLBACK job (see the module docstring)."""

    outcome = "result"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.job = ctx.job
        self.actor = f"pgsage:{names.job_name(self.job.id)}"
        self.loaded: domain.Suggestion | None = None
        self.moved: domain.Suggestion | None = None  # as this run moved it
        self.result: object | None = None

    async def _held(self, conn: Connection) -> None:
        """The lease guard of a change write (in its transaction)."""
        if not await runs.hold(conn, self.job.id, self.ctx.owner):
            raise LeaseLost()

    async def load(self) -> ending.Outcome | None:
        job = self.job
        if job.suggestion_id is not None and job.suggestion_job_id is not None:
            ids = (job.suggestion_job_id, job.suggestion_id)

            async def get(conn: Connection) -> domain.Suggestion | None:
                try:
                    return await suggestions.get(conn, *ids)
                except errors.SuggestionNotFound:
                    return None

            self.loaded = await self.ctx.write(f"job {job.id} load", get)
        if self.loaded is None:
            return _fail(
                ErrorReason.SUGGESTION_NOT_FOUND, "the suggestion this job acts on no longer exists"
            )
        return None

    async def begin(self) -> ending.Outcome | None:
        """APPLYING / ROLLING_BACK, with the intent audited before anything runs."""
        s, kind = self.loaded, self.job.kind
        assert s is not None
        plan = changes.begin_plan(kind, s)

        async def action(conn: Connection) -> tuple[domain.Suggestion | None]:
            async with conn.transaction():
                await self._held(conn)
                moved: domain.Suggestion | None = s
                if plan.to is not None:
                    moved = await changes.move(
                        conn,
                        s,
                        plan.to,
                        plan.allowed,
                        actor=self.actor,
                        on_behalf_of=self.job.creator,
                        action=f"suggestion.{kind.lower()}",
                        job_id=self.job.id,
                    )
                    if moved is None:
                        return (None,)
                if kind == JobKind.ROLLBACK:
                    # Nothing will be left to verify: the waiting VERIFY jobs are cancelled.
                    await verifications.cancel_pending(conn, s.id, self.ctx.job_ttl)
                await audit.record(conn, self._entry(
                    s, action=f"{kind.lower()}.intent", target=s.target,
                    statement=plan.statement, outcome="INTENT",
                    detail=f"attempt {self.job.attempt}",
                ))  # fmt: skip
                return (moved,)

        try:
            (self.moved,) = await self.ctx.guarded("begin", action)
        except errors.ChangeAlreadyApplied as exc:
            # A twin got to APPLYING first (both jobs were created before either began).
            return _fail(exc.reason, exc.message)
        if self.moved is None:
            return _fail(
                ErrorReason.INVALID_STATE_TRANSITION,
                f"the suggestion changed since the job was created (it is {s.state} now)",
            )
        return None

    def open(self) -> grpc.aio.UnaryStreamCall:
        s = self.moved
        assert s is not None
        stub, kind = self.ctx.optimizer.stub(), self.job.kind
        timeout, metadata = self.ctx.timeout, self.ctx.metadata()
        # A change has no deadline of the job service's: a build may take hours, bounded by
        # its own build and lock timeouts (sent below, or the target's), cancelled by a
        # CancelJob, and its stream watched by keepalives and the lease.
        if kind == JobKind.APPLY:
            return stub.Apply(self._request(s), timeout=None, metadata=metadata)
        if kind == JobKind.ROLLBACK:
            return stub.Rollback(self._request(s), timeout=None, metadata=metadata)
        return stub.Benchmark(self._request(s), timeout=timeout, metadata=metadata)

    def _timeouts(self) -> dict[str, duration_pb2.Duration]:
        """The job's change_options as the optimizer request's timeouts (unset: the
        target's own)."""
        given = job_pb2.ChangeOptions.FromString(self.job.options or b"")
        out = {}
        if given.HasField("build_timeout"):
            out["statement_timeout"] = given.build_timeout
        if given.HasField("lock_timeout"):
            out["lock_timeout"] = given.lock_timeout
        return out

    def _request(self, s: domain.Suggestion) -> object:
        kind = optimizer_mappers.ADVICE_KIND_BY_NAME[s.kind]
        sql = changes.statement_of(s)
        if self.job.kind == JobKind.APPLY:
            return optimizer_service_pb2.ApplyRequest(
                target=s.target, kind=kind, sql=sql, **self._timeouts()
            )
        if self.job.kind == JobKind.ROLLBACK:
            # The optimizer drops only the index this APPLY built (same OID and definition),
            # and a drop's rollback recreates the definition the APPLY dropped.
            creates = s.kind == SuggestionKind.CREATE_INDEX
            return optimizer_service_pb2.RollbackRequest(
                **self._timeouts(),
                target=s.target,
                kind=kind,
                rollback_sql=changes.rollback_of(s),
                expected_index_oid=(s.applied_index_oid or 0) if creates else 0,
                expected_index_definition=(
                    s.applied_index_definition if creates else s.dropped_index_definition
                ),
            )
        details = suggestion_pb2.Suggestion.FromString(s.details or b"")
        return optimizer_service_pb2.BenchmarkRequest(
            target=s.target,
            kind=kind,
            sql=sql,
            rollback_sql=changes.rollback_of(s),
            queries=[
                analysis_pb2.WorkloadQuery(query_id=q.query_id, text=q.text, weight=q.weight)
                for q in details.query_impacts
            ],
        )

    async def consume(self, call: grpc.aio.UnaryStreamCall) -> bool:
        ctx = self.ctx
        async for event in call:
            ctx.received += 1
            which = event.WhichOneof("event")
            if which == "progress":
                p = event.progress
                soft = runs.Soft(p.stage, p.percent, p.message, event_type="progress")
                job = await ctx.guarded("progress", functools.partial(self._progress, soft=soft))
                await ctx.saw_own(job)
            elif which == "statement":
                await self._statement(event.statement)
            elif which == "result":
                self.result = event.result
        return self.result is not None

    async def _progress(self, conn: Connection, *, soft: runs.Soft) -> domain.Job | None:
        return await runs.record_soft(conn, self.job.id, self.ctx.owner, soft)

    async def _statement(self, e: optimizer_service_pb2.StatementExecution) -> None:
        s = self.moved
        assert s is not None
        phase = optimizer_service_pb2.StatementExecution.Phase.Name(e.phase)
        entry = self._entry(
            s, action="statement.execute", target=e.target or s.target, statement=e.sql,
            outcome=phase, detail=e.error,
        )  # fmt: skip

        async def action(conn: Connection) -> bool:
            async with conn.transaction():
                await self._held(conn)
                await audit.record(conn, entry)
            return True

        await self.ctx.guarded("audit", action)
        if phase == "STARTED":
            # Crash tests kill the job service here: the target is mid-statement.
            await failpoints.hit("during_change")

    def _entry(self, s: domain.Suggestion, **fields: str) -> audit.Entry:
        return audit.Entry(
            actor=self.actor,
            actor_subject=self.actor,
            authenticated=True,
            on_behalf_of=self.job.creator,
            resource=names.suggestion_name(s.job_id, s.id),
            job_id=self.job.id,
            **fields,  # type: ignore[arg-type]
        )

    async def finish(self) -> ending.Outcome:
        """Stores the result: SUCCEEDED when the change is done, else FAILED saying why."""
        s, kind, result = self.moved, self.job.kind, self.result
        assert s is not None
        if kind == JobKind.BENCHMARK:
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

            async def add(conn: Connection) -> bool:
                async with conn.transaction():
                    await self._held(conn)
                    await changes.add_benchmark(conn, s, stored.SerializeToString())
                return True

            await self.ctx.guarded("benchmark", add)
            log.info("job %s: BENCHMARK done", self.job.id)
            return ending.Outcome(ending.Action.FINISH, JobState.SUCCEEDED)
        assert isinstance(result, optimizer_service_pb2.ChangeResult)
        verdict = changes.verdict(kind, s, result, self.job.attempt)
        taken: optimizer_service_pb2.WorkloadSnapshot | None = None
        verify = kind == JobKind.APPLY and verdict.to == _SS.APPLIED
        if verify:
            # The start of the verification window: the workload as the change lands.
            taken = await verifications.take(
                self.ctx.optimizer, s, self.job.id, min(self.ctx.timeout, 60.0)
            )
        now = await self._end(verdict.to, verdict.why, verdict.record, verify=verify, taken=taken)
        if now is not None:
            return _fail(
                ErrorReason.SUGGESTION_CHANGED,
                f"{names.suggestion_name(s.job_id, s.id)} is {now} now, not {s.state}: it "
                f"was changed while this job ran, so what the change did ({verdict.to}"
                f"{': ' + verdict.why if verdict.why else ''}) is not recorded on it",
            )
        log.info("job %s: %s %s", self.job.id, kind, verdict.why or "done")
        if verdict.why:
            return _fail(ErrorReason.CHANGE_NOT_DONE, verdict.why)
        return ending.Outcome(ending.Action.FINISH, JobState.SUCCEEDED)

    async def _end(
        self,
        to: str,
        reason: str,
        record: tuple[object, ...] | None = None,
        *,
        verify: bool = False,
        taken: optimizer_service_pb2.WorkloadSnapshot | None = None,
    ) -> str | None:
        """Moves the suggestion from APPLYING / ROLLING_BACK to `to` (recording what an
        APPLY built, and with `verify` scheduling its verification from the snapshot
        `taken`); None once done, else the state it refused the move from."""
        s = self.moved
        assert s is not None
        current = _SS.APPLYING if self.job.kind == JobKind.APPLY else _SS.ROLLING_BACK
        live = dataclasses.replace(s, state=current)

        async def action(conn: Connection) -> tuple[str | None]:
            async with conn.transaction():
                await self._held(conn)
                if record is not None:
                    await changes.record_applied(conn, record)
                moved = await changes.move(
                    conn, live, to, (current,), actor=self.actor, on_behalf_of=self.job.creator,
                    action=f"suggestion.{to.lower()}", job_id=self.job.id, reason=reason,
                )  # fmt: skip
                if moved is not None:
                    if verify:
                        await verifications.schedule(
                            conn,
                            moved,
                            taken,
                            apply_job=self.job,  # type: ignore[arg-type]
                        )
                    return (None,)
                return (await changes.state_of(conn, s),)

        (refused,) = await self.ctx.guarded(to, action)
        return refused

    async def unsuccessful(self, state: str, why: str) -> None:
        """The change job failed for good (or was cancelled): the suggestion says so too.
        A suggestion that moved on meanwhile is left as it is."""
        if self.job.kind == JobKind.BENCHMARK or self.moved is None:
            return
        if state not in (JobState.FAILED, JobState.CANCELLED):
            return
        if state == JobState.CANCELLED and self._builds():
            # The optimizer stops a cancelled build and drops what it left (an INVALID
            # index, or the index if it finished as the cancel came): the change never
            # happened. Any later change reads pg_index first, whatever is there.
            back = _SS.APPROVED if self.job.kind == JobKind.APPLY else _SS.APPLIED
            await self._end(back, f"{why}; the build was stopped and its index dropped")
            return
        failed = _SS.APPLY_FAILED if self.job.kind == JobKind.APPLY else _SS.ROLLBACK_FAILED
        await self._end(failed, why)

    def _builds(self) -> bool:
        """Whether this job's statement creates an index (an APPLY of a new index, or the
        ROLLBACK of a drop), as opposed to dropping one."""
        s = self.moved
        assert s is not None
        creates = s.kind == SuggestionKind.CREATE_INDEX
        return creates if self.job.kind == JobKind.APPLY else not creates

    def partial_summary(self) -> bytes:
        return optimizer_mappers.summary_from_optimizer(None, []).SerializeToString()
