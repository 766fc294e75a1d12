"""The driver of one attempt of one job: the lease, the stream, cancellation and the ending.

Every kind of job runs the same way; what differs (which optimizer call, what its events
become, what the outcome finishes) is a strategy (`job_service.strategies`) handed an explicit
`RunContext`. The lease keeper, the strategy's stream reader and the run itself live in one
`asyncio.TaskGroup`, so any of them failing ends the run in a defined way:

- the lease is lost (the keeper's renewal or any guarded write finds 0 rows) → `LeaseLost`
  ends the group: the stream is cancelled, nothing more is written (the new owner, or the
  reaper, settles the job);
- an unexpected error in any of them → the job fails with a generic INTERNAL reason (the
  details stay in this log), if the lease still allows the write;
- a cancel of the run's task from outside (shutdown) → the job is handed back (PENDING, no
  attempt used) and the cancel propagates.
How the stream ended becomes the job's outcome in `job_service.ending.decide`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import grpc
from google.rpc import code_pb2

from job_service import database, domain, ending, errors, metrics, notifications, optimizer, runs
from job_service.ending import make_status
from job_service.strategies import LeaseLost, RunContext, Strategy, Write
from job_service.vocabulary import JobState
from pgsage import errors as pgsage_errors
from pgsage import failpoints, logs, rpc, tracing

log = logging.getLogger(__name__)


class Driver:
    """One attempt of one job in this process (see the module docstring)."""

    def __init__(
        self,
        *,
        job: domain.Job,
        owner: str,
        lease: timedelta,
        db: database.Database,
        listener: notifications.Listener,
        write: Write,
        optimizer_client: optimizer.OptimizerClient,
        timeout: float,
        job_ttl: timedelta,
        backoff: Callable[[int], timedelta],
        wake: Callable[[], None],
        strategy: Callable[[RunContext], Strategy],
    ) -> None:
        self.job = job
        self.id = job.id
        self._db = db
        self._listener = listener
        self._backoff = backoff
        self._wake = wake
        self.ctx = RunContext(
            job=job,
            owner=owner,
            lease=lease,
            write=self._noting_end(write),
            optimizer=optimizer_client,
            timeout=timeout,
            job_ttl=job_ttl,
            spawn=self._spawn,
            saw_own=self._saw_own,
        )
        self.ctx.idle.set()
        self.strategy = strategy(self.ctx)
        self._group: asyncio.TaskGroup | None = None
        self._call: grpc.aio.UnaryStreamCall | None = None
        self._cancel_seen = False
        # The highest revision this run wrote itself (its notifications need no re-read),
        # and the lease keeper's doorbell, rung to stop it once the run is over.
        self._written = job.revision
        self._finished = False
        self._settled = False  # this run wrote the job's end: its lease is gone by design
        self._bell: notifications.Subscription | None = None
        self.timer = metrics.RunTimer(job.kind)  # pgsage_job_run_seconds, by how it ended

    async def run(self) -> None:
        job = self.job
        # One trace per attempt (when tracing is on): its phases and the optimizer's call
        # are its children, and the optimizer continues it.
        attributes: dict[str, str | int] = {
            "pgsage.job": f"jobs/{job.id}",
            "pgsage.job.kind": str(job.kind),
            "pgsage.target": job.target,
            "pgsage.job.attempt": job.attempt,
        }
        with tracing.span("job.run", **attributes):
            await self._run()

    async def _run(self) -> None:
        job = self.job
        logs.bind(job=str(job.id), target=job.target)  # this run's task and its children
        log.info("job %s: attempt %d of %d on %s", job.id, job.attempt, job.max_attempts,
                 self.ctx.owner)  # fmt: skip
        try:
            await self._group_run()
        except asyncio.CancelledError:
            # Stopped from outside (shutdown): the policy gives the job back; the cancel
            # propagates whatever the hand-back did.
            self.timer.outcome = "HANDED_BACK"
            await self._act(self._decide(ending.Ended(ending.StreamEnd.STOPPING)), None)
            raise
        except LeaseLost:
            self.timer.outcome = "LEASE_LOST"
            log.warning("job %s: lease lost; another replica owns it now", job.id)
        except Exception:
            # A bug, not a hiccup: retrying would most likely fail the same way. The job
            # fails now with a generic reason (the details stay in this log).
            log.exception("job %s: unexpected error in its run", job.id)
            try:
                await self._fail(
                    code_pb2.INTERNAL,
                    "INTERNAL",  # a bare status code name (pgsage.errors)
                    "the job service hit an unexpected error running this job; its log "
                    "has the details",
                )
            except (LeaseLost, errors.DatabaseUnavailable):
                log.warning("job %s: could not record its failure", job.id)
        finally:
            self.timer.done()

    async def _group_run(self) -> None:
        """The run, the keeper and the reader in one group; its first failure, unwrapped
        (a lost lease first), is what ended the run."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                keeper = group.create_task(self._keep_lease(), name=f"lease-{self.id}")
                try:
                    await failpoints.hit("after_claim")
                    await self._execute()
                finally:
                    self._cancel_call()
                    # Stop the keeper between two renewals rather than cancel it
                    # mid-statement (that costs a cancel request on a new connection).
                    self._finished = True
                    if self._bell is not None:
                        self._bell.ring()
                    await asyncio.wait([keeper], timeout=5)
                    keeper.cancel()
        except BaseExceptionGroup as group:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise asyncio.CancelledError() from group
            lost, rest = group.split(LeaseLost)
            if lost is not None:
                raise LeaseLost() from group
            assert rest is not None
            raise _first(rest) from group

    def _noting_end(self, write: Write) -> Write:
        """`write`, noting the state a write of this run ended the job in (for the metrics:
        the analysis strategy stores its success itself)."""

        async def noted(what: str, action: Callable[[database.Connection], Any]) -> Any:
            result = await write(what, action)
            if isinstance(result, domain.Job) and result.finished:
                self.timer.outcome = str(result.state)
            return result

        return noted

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._group is not None
        return self._group.create_task(coro, name=name)

    # -- the lease -------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        """Renews the lease every third of its length, and at once on a change of the job
        made by someone else (a cancel arrives by NOTIFY), until the run ends; raises
        LeaseLost (ending the run) when the renewal finds the job is no longer ours.

        Notifications of this run's own writes are skipped: each of those statements
        returns the job, cancel flag included (`_saw_own`), so re-reading it would tell
        nothing new. A ring without a revision (the listener reconnected) always re-reads.
        """
        every = self.ctx.lease.total_seconds() / 3
        loop = asyncio.get_running_loop()
        async with self._listener.subscribe(self.id) as bell:
            self._bell = bell
            due = loop.time() + every
            while not self._finished:
                rang = await bell.wait(max(due - loop.time(), 0.0))
                revision = bell.take()
                if self._finished:
                    return
                if rang and loop.time() < due and revision is not None:
                    # A ring while this run stores an event is most likely that write's
                    # own: decide once it has returned and its revision is known.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1):
                            await self.ctx.idle.wait()
                    if self._finished:
                        return
                    if revision <= self._written:
                        continue
                due = loop.time() + every
                try:
                    async with self._db.connection() as conn:
                        state = await runs.renew(conn, self.id, self.ctx.owner, self.ctx.lease)
                except errors.DatabaseUnavailable:
                    continue
                if state is None:
                    # Not lost if this run's own final write gave it up meanwhile.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1):
                            await self.ctx.idle.wait()
                    if self._settled or self._finished:
                        return
                    raise LeaseLost()
                if state[1]:
                    self._cancel_requested()

    async def _saw_own(self, job: domain.Job) -> None:
        """Notes a write of this run: its notification needs no re-read by the keeper, and
        a cancel committed before it shows in the row it returned."""
        self._written = max(self._written, job.revision)
        if job.finished:
            self._settled = True
        if job.cancel_requested:
            self._cancel_requested()

    def _cancel_requested(self) -> None:
        if not self._cancel_seen:
            log.info("job %s: cancel requested", self.id)
            self._cancel_seen = True
        self._cancel_call()

    def _cancel_call(self) -> None:
        if self._call is not None and not self._call.done():
            self._call.cancel()

    # -- the stream ------------------------------------------------------------------

    async def _execute(self) -> None:
        strategy, ctx = self.strategy, self.ctx
        with tracing.span("job.begin"):
            early = await strategy.load()
            if early is None and not await ctx.optimizer.ready(ctx.optimizer.timeout):
                ended = ending.Ended(ending.StreamEnd.BROKE, grpc.StatusCode.UNAVAILABLE)
                early = self._decide(ended)
            if early is None:
                early = await strategy.begin()
        if early is not None:
            with tracing.span("job.end"):
                await self._act(early, None)
            return
        broke: grpc.aio.AioRpcError | None = None
        cancelled = seen = False
        with tracing.span("job.optimizer"):
            self._call = strategy.open()
            if self._cancel_seen:
                self._call.cancel()
            try:
                seen = await strategy.consume(self._call)
            except grpc.aio.AioRpcError as exc:
                broke = exc
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # this run is stopped from outside: it propagates
                cancelled = True  # the call was cancelled (a cancel, or its channel closed)
        with tracing.span("job.end"):
            await self._act(self._decide(self._ended(broke, cancelled, seen)), broke)

    def _ended(
        self, broke: grpc.aio.AioRpcError | None, cancelled: bool, seen: bool
    ) -> ending.Ended:
        started = self.ctx.received > 0
        if broke is not None:
            status = rpc.status_of(broke)
            reason, _ = pgsage_errors.from_status(status)
            return ending.Ended(
                ending.StreamEnd.BROKE, broke.code(), reason, status.message, started
            )
        if seen:
            return ending.Ended(ending.StreamEnd.COMPLETED, started=started)
        if cancelled:
            return ending.Ended(ending.StreamEnd.CANCELLED, started=started)
        return ending.Ended(ending.StreamEnd.NO_OUTCOME, started=started)

    def _decide(self, ended: ending.Ended) -> ending.Outcome:
        return ending.decide(
            ended,
            cancel_requested=self._cancel_seen,
            lease_held=True,  # a lost lease raised LeaseLost where it was found
            attempt=self.job.attempt,
            max_attempts=self.job.max_attempts,
            outcome=self.strategy.outcome,
            optimizer=self.ctx.optimizer.address or "",
        )

    # -- endings ---------------------------------------------------------------------

    async def _act(self, outcome: ending.Outcome, broke: grpc.aio.AioRpcError | None) -> None:
        """Does what the ending policy decided."""
        action, strategy = outcome.action, self.strategy
        if action is ending.Action.LEASE_LOST:
            raise LeaseLost()
        if action is ending.Action.GIVE_BACK:
            self.timer.outcome = "HANDED_BACK"
            await self._give_back()  # the channel closed under it: this process stops
            return
        if action is ending.Action.FINISH:
            final = await strategy.finish()
            if final is not None and final.action is ending.Action.FINISH:
                await self._finish(JobState.SUCCEEDED, None)
            elif final is not None:  # the outcome says the job failed (the strategy said why)
                await self._fail(final.code, final.reason, final.message)
            return
        if action is ending.Action.CANCEL:
            await strategy.unsuccessful(JobState.CANCELLED, "cancelled while it ran")
            await failpoints.hit("while_cancelling")
            await self._finish(JobState.CANCELLED, make_status(outcome.code, outcome.reason,
                                                        outcome.message))  # fmt: skip
            log.info("job %s: CANCELLED", self.id)
            return
        if action is ending.Action.FAIL:
            why = outcome.message
            await strategy.unsuccessful(JobState.FAILED, why)
            error = rpc.status_of(broke).SerializeToString() if broke is not None else None
            await self._finish(
                JobState.FAILED, error or make_status(outcome.code, outcome.reason, why)
            )
            log.info("job %s: FAILED (%s)", self.id, outcome.reason)
            return
        why = outcome.message
        if broke is not None:
            why = rpc.status_of(broke).message or broke.code().name
        if outcome.state is JobState.FAILED:
            # The last attempt: the strategy's own record (a change's suggestion) is
            # written while the lease still holds, before the requeue gives the job up.
            await strategy.unsuccessful(JobState.FAILED, why)
        await self._retry(outcome, used_attempt=action is ending.Action.RETRY)

    async def _retry(self, outcome: ending.Outcome, *, used_attempt: bool) -> None:
        error = make_status(outcome.code, outcome.reason, outcome.message)
        delay = self._backoff(self.job.attempt)
        ctx = self.ctx
        self._settled = True  # the write below gives the lease up (or finds it lost)
        job = await ctx.guarded(
            "requeue",
            lambda c: runs.requeue(
                c,
                self.id,
                ctx.owner,
                error=error,
                used_attempt=used_attempt,
                delay=delay,
                ttl=ctx.job_ttl,
            ),
        )
        self.timer.outcome = "RETRY" if job.state == JobState.PENDING else str(job.state)
        log.info("job %s: %s after %s (%s)", self.id, job.state, outcome.reason,
                 "attempt used" if used_attempt else "attempt given back")  # fmt: skip
        self._wake()

    async def _fail(self, code: int, reason: str, message: str) -> None:
        await self._finish(JobState.FAILED, make_status(code, reason, message))

    async def _finish(
        self, state: JobState, error: bytes | None, summary: bytes | None = None
    ) -> None:
        ctx = self.ctx
        if state is JobState.CANCELLED:
            summary = self.strategy.partial_summary()
        self._settled = True  # the write below gives the lease up (or finds it lost)
        await ctx.guarded(
            state,
            lambda c: runs.finish(c, self.id, ctx.owner, state, error, ctx.job_ttl, summary),
        )

    async def _give_back(self) -> None:
        """Shutdown: the job goes back at once, no attempt used (at most 3 seconds)."""
        self._cancel_call()
        ctx = self.ctx
        try:
            async with asyncio.timeout(3):
                async with self._db.connection() as conn:
                    handed = await runs.requeue(
                        conn,
                        self.id,
                        ctx.owner,
                        error=None,
                        used_attempt=False,
                        delay=timedelta(0),
                        ttl=ctx.job_ttl,
                    )
        except (TimeoutError, errors.DatabaseUnavailable):
            return  # the dispatcher's release, or the reaper, hands it back
        if handed is not None:
            log.info("job %s: handed back on shutdown", self.id)


def _first(group: BaseExceptionGroup) -> BaseException:  # type: ignore[type-arg]
    """The first error of a (possibly nested) group."""
    first = group.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first
