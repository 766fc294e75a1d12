"""The verify strategy: a VERIFY job judging an APPLIED suggestion's change.

Around the optimizer's Snapshot stream (see `job_service.verifications` for the rules and
statements, `job_service.verification` for the judgement):

- before the call, the suggestion must still be APPLIED (else the job FAILS with
  FAILED_PRECONDITION: there is no change on the target to verify);
- the snapshot that arrives is compared with the one its APPLY took (and earlier ones of
  the target, for the window before the change);
- in one transaction guarded by the lease: the snapshot is stored, the target's policy acts
  on the verdict (`job_service.policy`: a ROLLBACK on behalf of "pgsage policy" after a
  REGRESSED one where the target says so), the verification is written on the job (event
  `verdict`) and on the suggestion, and the verdict is announced.
A VERIFY job only reads the target, so it never waits for (nor blocks) a change job.
"""

from __future__ import annotations

import logging

import grpc
from google.rpc import code_pb2

from job_service import (
    domain,
    ending,
    errors,
    names,
    policy,
    runs,
    snapshots,
    suggestions,
    verification,
    verifications,
)
from job_service.database import Connection
from job_service.strategies import LeaseLost, RunContext
from job_service.vocabulary import (
    ErrorReason,
    JobState,
    OnRegression,
    SnapshotReason,
    SuggestionState,
)
from pgsage.jobs.v1 import verification_pb2 as vpb
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt

log = logging.getLogger(__name__)


class VerifyStrategy:
    """A VERIFY job (see the module docstring)."""

    outcome = "snapshot"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.job = ctx.job
        self.loaded: domain.Suggestion | None = None
        self.taken: opt.WorkloadSnapshot | None = None

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
                ErrorReason.SUGGESTION_NOT_FOUND,
                "the suggestion this job verifies no longer exists",
            )
        if self.loaded.state != SuggestionState.APPLIED:
            return _fail(
                ErrorReason.INVALID_STATE_TRANSITION,
                f"the suggestion is {self.loaded.state} now: only an APPLIED suggestion's "
                "change is on the target to verify",
            )
        return None

    async def begin(self) -> ending.Outcome | None:
        return None

    def open(self) -> grpc.aio.UnaryStreamCall:
        assert self.loaded is not None
        return self.ctx.optimizer.stub().Snapshot(
            verifications.scope(self.loaded).request,
            timeout=self.ctx.timeout,
            metadata=self.ctx.metadata(),
        )

    async def consume(self, call: grpc.aio.UnaryStreamCall) -> bool:
        ctx = self.ctx
        async for event in call:
            ctx.received += 1
            which = event.WhichOneof("event")
            if which == "progress":
                p = event.progress
                soft = runs.Soft(p.stage, p.percent, p.message, event_type="progress")

                async def progress(conn: Connection, soft: runs.Soft = soft) -> domain.Job | None:
                    return await runs.record_soft(conn, self.job.id, ctx.owner, soft)

                await ctx.saw_own(await ctx.guarded("progress", progress))
            elif which == "snapshot":
                self.taken = event.snapshot
        return self.taken is not None

    async def finish(self) -> ending.Outcome | None:
        s, taken, job = self.loaded, self.taken, self.job
        assert s is not None and taken is not None
        now = snapshots.from_optimizer(taken, SnapshotReason.VERIFY, suggestion=s, job_id=job.id)
        what = verifications.scope(s)

        async def read(conn: Connection) -> tuple[object, ...]:
            applied = await snapshots.applied(conn, s.id)
            earlier = {}
            if applied is not None and applied.figures:
                earlier = await snapshots.earlier(
                    conn, s.target, applied.time, applied.stats_reset, list(applied.figures)
                )
            return applied, earlier

        applied, earlier = await self.ctx.write(f"job {job.id} baseline", read)
        affected = [
            f.query_id
            for f in (applied.figures.values() if applied is not None else ())  # type: ignore[attr-defined]
            if f.requested_as
        ]
        result = verification.verify(
            verification.Inputs(
                affected=affected,
                names_queries=bool(what.affected),
                applied=applied,  # type: ignore[arg-type]
                now=now,
                earlier=earlier,  # type: ignore[arg-type]
                index=what.index,
                creates=what.creates,
                table=what.table,
            )
        )
        result.job = names.job_name(job.id)
        result.create_time.GetCurrentTime()
        on_regression = (
            OnRegression.ROLLBACK
            if taken.on_regression == opt.ON_REGRESSION_ROLLBACK
            else OnRegression.NOTIFY
        )
        verdict = vpb.Verdict.Name(result.verdict)

        async def store(conn: Connection) -> domain.Job:
            async with conn.transaction():
                if not await runs.hold(conn, job.id, self.ctx.owner):
                    raise LeaseLost()
                await snapshots.add(conn, now)
                await policy.act(conn, s, job, result, on_regression)
                data = result.SerializeToString()
                if not await verifications.record_on_suggestion(conn, s, verdict, data):
                    state = await conn.fetchval("SELECT state FROM suggestion WHERE id = $1", s.id)
                    result.policy_action = (
                        f"not recorded on the suggestion: it is {state or 'gone'} now"
                    )
                    data = result.SerializeToString()
                message = f"{verdict}: {result.reason}"
                recorded = await verifications.record_on_job(
                    conn, job.id, self.ctx.owner, data, message
                )
                if recorded is None:
                    raise LeaseLost()
                return recorded

        await self.ctx.saw_own(await self.ctx.guarded("verdict", store))
        log.info("job %s: VERIFY %s: %s", job.id, verdict, result.reason)
        return ending.Outcome(ending.Action.FINISH, JobState.SUCCEEDED)

    async def unsuccessful(self, state: str, why: str) -> None:
        """A verification that did not finish changes nothing on the suggestion."""

    def partial_summary(self) -> bytes:
        return b""


def _fail(reason: str, message: str) -> ending.Outcome:
    return ending.Outcome(
        ending.Action.FAIL, JobState.FAILED, code_pb2.FAILED_PRECONDITION, reason, message
    )
