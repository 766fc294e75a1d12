"""The dispatcher: runs PENDING jobs on the optimizer, durably, on any replica.

One loop per process claims jobs (`FOR UPDATE SKIP LOCKED`, oldest first, as many in one
statement as it has room for), woken by LISTEN/NOTIFY when a job becomes PENDING, with a
polling fallback (a lost notification only delays). Each claimed job runs in a task of its
own (`JobRun`): it holds a lease that it renews while the stream lives, opens the
optimizer's `Analyze` stream with a deadline, and persists the events as they arrive, each
write one short statement guarded by the lease. The stream is read ahead of the writes: the
workload, each suggestion and the summary get a statement of their own, and progress and
insight events that are already waiting when a write starts (or that come within 20 ms
with nothing else to write) are folded into it (they only update the job's progress and
counts), so a burst of them costs one statement, not one each.

Failure handling, the same for every kind of job (one method, `JobRun._stream_ended`,
decides how a stream ended), as DESIGN.md (Lifecycles) says:
- optimizer unreachable before the stream starts → back to PENDING after a backoff, the
  attempt given back (jobs wait, they do not burn attempts);
- a stream that breaks after it started → PENDING after a backoff, attempt used; FAILED with
  the reason after the last attempt;
- the optimizer answers with an error of the request (unknown target, bad options) → FAILED;
- cancel asked (CANCELLING) → the stream is cancelled, the job ends CANCELLED, what was
  streamed stays;
- the lease is lost (this process stalled and was taken over) → the run stops writing;
- this process dies → its leases lapse; any replica's reaper requeues the jobs;
- graceful shutdown → the runs stop and hand their jobs back at once (no attempt used).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import grpc
from google.rpc import code_pb2

from job_service import (
    changes,
    database,
    domain,
    errors,
    mappers,
    notifications,
    optimizer,
    runs,
)
from pgsage import errors as pgsage_errors
from pgsage import failpoints, rpc
from pgsage.optimizer.v1 import optimizer_service_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")

# Statuses of a started stream worth another attempt (the optimizer or its target hiccuped).
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    }
)


def new_owner_id() -> str:
    """A random id for this process's leases (never a host or pod name)."""
    return f"js-{uuid.uuid4().hex[:16]}"


def make_status(code: int, reason: str, message: str) -> bytes:
    """A serialized `google.rpc.Status` with an `ErrorInfo`, for `job.error`."""
    error = pgsage_errors.PgsageError(message, reason=reason)
    status = error.to_status()
    status.code = code
    return status.SerializeToString()


# Events stored by folding them into the next statement when that is already here.
FOLDED = frozenset({"progress", "insight"})
# Events read ahead of the one being stored.
READ_AHEAD = 64
# How long progress and insights wait for a following event to be stored with (seconds):
# invisible to a person watching, and it saves a write per burst.
LINGER = 0.02


@dataclass
class StreamEnded:
    """How a stream ended: None (it ended), the call's error, or its cancellation."""

    error: BaseException | None


class LeaseLost(Exception):
    """This process no longer owns the job (it was taken over, or it finished elsewhere)."""


class Dispatcher:
    """Claims and runs jobs in this process; see the module docstring."""

    def __init__(
        self,
        *,
        db: database.Database,
        listener: notifications.Listener,
        optimizer_client: optimizer.OptimizerClient,
        lease: timedelta,
        max_concurrent: int,
        poll_interval: timedelta,
        analyze_timeout: timedelta,
        job_ttl: timedelta,
        retry_backoff: timedelta,
        max_retry_backoff: timedelta,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.listener = listener
        self.optimizer = optimizer_client
        self.lease = lease
        self.max_concurrent = max_concurrent
        self.poll_interval = poll_interval.total_seconds()
        self.analyze_timeout = analyze_timeout.total_seconds()
        self.job_ttl = job_ttl
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        self.owner = owner or new_owner_id()
        self._wake = asyncio.Event()
        self._runs: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.jobs_run = 0

    # -- lifecycle -------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Requeues (or fails, or cancels) every job whose lease has lapsed. Start-up runs
        this before reporting SERVING; the loop runs it again every poll."""
        error = make_status(
            code_pb2.UNAVAILABLE,
            "LEASE_LAPSED",
            "the job service running this job stopped renewing its lease (it crashed or "
            "lost its database) and the job ran out of attempts",
        )
        total = 0
        while True:
            async with self.db.connection() as conn:
                reaped = await runs.reap_lapsed(conn, error, self.job_ttl)
            for job in reaped:
                log.info(
                    "job %s: lease lapsed, now %s (attempt %d of %d)",
                    job.id,
                    job.state,
                    job.attempt,
                    job.max_attempts,
                )
            total += len(reaped)
            if len(reaped) < 100:
                async with self.db.connection() as conn:
                    settled = await changes.settle_orphans(conn)
                if settled:
                    log.info("%d suggestion(s) settled after their change job ended", settled)
                return total

    def wake(self) -> None:
        """Something changed (a job was created, retried or requeued): look for work now."""
        self._wake.set()

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="dispatcher")

    async def stop(self) -> None:
        """Stops claiming; running jobs are handed back (PENDING, attempt given back)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._runs.values()):
            task.cancel()
        if self._runs:
            await asyncio.gather(*self._runs.values(), return_exceptions=True)
        # Whatever a run's own hand-back did (or did not get to do), nothing stays leased
        # to this process: one guarded statement gives every job it holds back.
        try:
            async with asyncio.timeout(5):
                async with self.db.connection() as conn:
                    released = await runs.release_all(conn, self.owner, self.job_ttl)
        except (TimeoutError, errors.DatabaseUnavailable) as exc:
            log.warning("could not hand jobs back (their leases will lapse): %s", exc)
            return
        for job in released:
            log.info("job %s: handed back on shutdown (%s)", job.id, job.state)

    @property
    def running(self) -> int:
        return len(self._runs)

    # -- the claim loop --------------------------------------------------------------

    async def _loop(self) -> None:
        reap_every = max(self.lease.total_seconds() / 3, 0.2)
        last_reap = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            try:
                if loop.time() - last_reap >= reap_every:
                    last_reap = loop.time()
                    await self.reconcile()
                while (room := self.max_concurrent - len(self._runs)) > 0 and not self._stopping:
                    # One statement claims as many jobs as there is room for.
                    async with self.db.connection() as conn:
                        claimed = await runs.claim(conn, self.owner, self.lease, room)
                    for job, workload in claimed:
                        self._spawn(job, workload)
                    if len(claimed) < room:
                        break
            except errors.DatabaseUnavailable as exc:
                log.warning("dispatcher: job store unavailable: %s", exc.message)
            except Exception:
                log.exception("dispatcher: unexpected error while claiming")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.poll_interval, reap_every)):
                    await self._wake.wait()

    def _spawn(self, job: domain.Job, workload: bytes | None) -> None:
        run = JobRun(self, job, workload)
        task = asyncio.create_task(run.run(), name=f"job-{job.id}")
        self._runs[job.id] = task

        def done(_: asyncio.Task[None], job_id: uuid.UUID = job.id) -> None:
            self._runs.pop(job_id, None)
            self.jobs_run += 1
            self._wake.set()  # room for another job

        task.add_done_callback(done)

    def backoff(self, attempt: int) -> timedelta:
        """Exponential backoff with jitter for the `attempt`-th retry."""
        base = self.retry_backoff.total_seconds() * (2 ** max(attempt - 1, 0))
        capped = min(base, self.max_retry_backoff.total_seconds())
        return timedelta(seconds=capped * random.uniform(0.8, 1.2))

    async def write(self, what: str, action: Callable[[database.Connection], Awaitable[T]]) -> T:
        """Runs one guarded statement, waiting out a database outage (the job store may
        restart under a running job: nothing streamed is dropped, the stream just waits)."""
        delay = 0.1
        while True:
            try:
                async with self.db.connection() as conn:
                    return await action(conn)
            except errors.DatabaseUnavailable as exc:
                if self._stopping:
                    raise
                log.warning("%s: job store unavailable (%s); retrying", what, exc.message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


class JobRun:
    """One attempt of one job in this process."""

    def __init__(self, dispatcher: Dispatcher, job: domain.Job, workload: bytes | None) -> None:
        self.d = dispatcher
        self.job = job
        self.workload = workload
        self.id = job.id
        self._cancel_seen = asyncio.Event()
        self._lease_lost = asyncio.Event()
        self._call: grpc.aio.UnaryStreamCall | None = None
        self._insights: list[mappers.InsightTuple] = []
        self._received = 0
        # The highest revision this run wrote itself (its notifications need no re-read),
        # and the lease keeper's doorbell, rung to stop it once the run is over.
        self._written = job.revision
        self._finished = False
        self._bell: notifications.Subscription | None = None
        # Clear while this run stores a streamed event (its revision is not known yet).
        self._idle = asyncio.Event()
        self._idle.set()

    async def run(self) -> None:
        job = self.job
        log.info(
            "job %s: attempt %d of %d on %s", job.id, job.attempt, job.max_attempts, self.d.owner
        )
        keeper = asyncio.create_task(self._keep_lease(), name=f"lease-{job.id}")
        try:
            await failpoints.hit("after_claim")
            await self._execute()
        except asyncio.CancelledError:
            # Graceful shutdown: hand the job back at once, no attempt used.
            await self._cancel_call()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    async with self.d.db.connection() as conn:
                        handed = await runs.requeue(
                            conn,
                            job.id,
                            self.d.owner,
                            error=None,
                            used_attempt=False,
                            delay=timedelta(0),
                            ttl=self.d.job_ttl,
                        )
                if handed is not None:
                    log.info("job %s: handed back on shutdown", job.id)
            raise
        except LeaseLost:
            log.warning("job %s: lease lost; another replica owns it now", job.id)
            await self._cancel_call()
        except Exception:
            # A bug, not a hiccup: retrying would most likely fail the same way. The job
            # fails now with a generic reason (the details stay in this log).
            log.exception("job %s: unexpected error in its run", job.id)
            await self._cancel_call()
            with contextlib.suppress(Exception):
                await self._fail(
                    code_pb2.INTERNAL,
                    "INTERNAL",
                    "the job service hit an unexpected error running this job; its log "
                    "has the details",
                )
        finally:
            # Stop the keeper between two renewals rather than cancel it mid-statement: a
            # statement cancelled in flight costs a cancel request on a new connection.
            self._finished = True
            if self._bell is not None:
                self._bell.ring()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(5):
                    await keeper
            keeper.cancel()

    # -- the lease -------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        """Renews the lease every third of its length, and at once on a change of the job
        made by someone else (a cancel arrives by NOTIFY), until the run ends.

        Notifications of this run's own writes are skipped: each of those statements
        returns the job, cancel flag included (`_saw_own`), so re-reading it would tell
        nothing new. A ring without a revision (the listener reconnected) always re-reads.
        """
        every = self.d.lease.total_seconds() / 3
        loop = asyncio.get_running_loop()
        async with self.d.listener.subscribe(self.id) as bell:
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
                            await self._idle.wait()
                    if self._finished:
                        return
                    if revision <= self._written:
                        continue
                due = loop.time() + every
                try:
                    async with self.d.db.connection() as conn:
                        state = await runs.renew(conn, self.id, self.d.owner, self.d.lease)
                except errors.DatabaseUnavailable:
                    continue
                if state is None:
                    self._lease_lost.set()
                    await self._cancel_call()
                    return
                if state[1] and not self._cancel_seen.is_set():
                    log.info("job %s: cancel requested", self.id)
                    self._cancel_seen.set()
                    await self._cancel_call()

    async def _cancel_call(self) -> None:
        if self._call is not None and not self._call.done():
            self._call.cancel()

    # -- the stream ------------------------------------------------------------------

    async def _execute(self) -> None:
        job = self.job
        if job.kind != "ANALYZE":
            await self._execute_change()
            return
        if not await self.d.optimizer.ready(self.d.optimizer.timeout):
            await self._requeue_unreached(
                f"the optimizer at {self.d.optimizer.address or '(not configured)'} "
                "cannot be reached; the job waits for it"
            )
            return
        request = mappers.analyze_request(job, self.workload)
        stub = self.d.optimizer.stub()
        self._call = stub.Analyze(
            request, timeout=self.d.analyze_timeout, metadata=optimizer.job_metadata(job.id)
        )
        if self._cancel_seen.is_set():
            self._call.cancel()
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=READ_AHEAD)
        reader = asyncio.create_task(self._read_ahead(self._call, queue), name=f"read-{job.id}")
        summary_seen = False
        ended: StreamEnded | None = None
        try:
            while not summary_seen and ended is None:
                batch, ended = await self._next_batch(queue)
                if batch:
                    summary_seen = await self._persist(batch)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        # The summary, once stored, finished the job; anything else is settled here.
        await self._stream_ended(
            None if ended is None else ended.error, outcome_seen=summary_seen, outcome="summary"
        )

    async def _read_ahead(
        self, call: grpc.aio.UnaryStreamCall, queue: asyncio.Queue[object]
    ) -> None:
        """Moves the stream's events into `queue` as they arrive, then how it ended, so the
        next events are already here while one is being stored."""
        try:
            async for event in call:
                self._received += 1
                await queue.put(event)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this reader was stopped
            await queue.put(StreamEnded(exc))  # the call was cancelled
        except grpc.aio.AioRpcError as exc:
            await queue.put(StreamEnded(exc))
        else:
            await queue.put(StreamEnded(None))

    @staticmethod
    async def _next_batch(
        queue: asyncio.Queue[object],
    ) -> tuple[list[optimizer_service_pb2.AnalyzeResponse], StreamEnded | None]:
        """The next events to store in one statement: whatever progress and insight events
        are here (or come within `LINGER`), up to and including the first workload,
        suggestion or summary (each suggestion is stored on its own); and the end of the
        stream if it came."""
        batch: list[optimizer_service_pb2.AnalyzeResponse] = []
        item = await queue.get()
        while True:
            if isinstance(item, StreamEnded):
                return batch, item
            batch.append(item)  # type: ignore[arg-type]
            if batch[-1].WhichOneof("event") not in FOLDED:
                return batch, None
            if queue.empty():
                # Only progress and insights so far: linger a moment for the event that
                # most likely follows at once, rather than write them on their own.
                try:
                    async with asyncio.timeout(LINGER):
                        item = await queue.get()
                except TimeoutError:
                    return batch, None
                continue
            item = queue.get_nowait()

    async def _execute_change(self) -> None:
        """A BENCHMARK, APPLY or ROLLBACK job (see `job_service.changes`)."""
        change = changes.ChangeRun(self)
        s = await change.load()
        if s is None:
            await self._fail(
                code_pb2.FAILED_PRECONDITION,
                "SUGGESTION_NOT_FOUND",
                "the suggestion this job acts on no longer exists",
            )
            return
        if not await self.d.optimizer.ready(self.d.optimizer.timeout):
            await self._requeue_unreached(
                f"the optimizer at {self.d.optimizer.address or '(not configured)'} "
                "cannot be reached; the job waits for it"
            )
            return
        moved = await change.begin(s)
        if moved is None:
            reason, message = change.refusal or (
                "INVALID_STATE_TRANSITION",
                f"the suggestion changed since the job was created (it is {s.state} now)",
            )
            await self._fail(code_pb2.FAILED_PRECONDITION, reason, message)
            return
        change.suggestion = moved
        self._call = change.call(change.request(moved))
        if self._cancel_seen.is_set():
            self._call.cancel()
        result: object | None = None
        ended: BaseException | None = None
        try:
            async for event in self._call:
                self._received += 1
                which = event.WhichOneof("event")
                if which == "progress":
                    p = event.progress
                    done = await self.d.write(
                        f"job {self.id} progress",
                        functools.partial(
                            runs.record_soft,
                            job_id=self.id,
                            owner=self.d.owner,
                            soft=runs.Soft(p.stage, p.percent, p.message, event_type="progress"),
                        ),
                    )
                    if done is None:
                        self._lease_lost.set()
                        raise LeaseLost()
                elif which == "statement":
                    await change.statement(moved, event.statement)
                elif which == "result":
                    result = event.result
        except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
            ended = exc
        if not await self._stream_ended(
            ended,
            outcome_seen=result is not None,
            outcome="result",
            on_unsuccessful=change.fail_reason,
        ):
            return
        why = await change.finish(moved, result)
        if why:
            await self._fail(code_pb2.FAILED_PRECONDITION, "CHANGE_NOT_DONE", why)
        else:
            await self._finish("SUCCEEDED", None)
        log.info("job %s: %s %s", self.id, self.job.kind, why or "done")

    async def _persist(self, batch: list[optimizer_service_pb2.AnalyzeResponse]) -> bool:
        """Stores a batch of streamed events; True once the summary (the last event) is
        stored."""
        self._idle.clear()
        try:
            return await self._store(batch)
        finally:
            self._idle.set()

    async def _store(self, batch: list[optimizer_service_pb2.AnalyzeResponse]) -> bool:
        """One guarded statement for the batch: its last event (a workload, a suggestion,
        the summary, or else the latest progress and insight count) with what the progress
        and insight events before it changed folded in."""
        owner = self.d.owner
        soft = runs.Soft()
        for event in batch:
            which = event.WhichOneof("event")
            if which == "progress":
                p = event.progress
                soft.stage, soft.percent, soft.message = p.stage, p.percent, p.message
                soft.event_type = "progress"
            elif which == "insight":
                self._insights.append(mappers.insight_tuple(event.insight))
                soft.insights = len(self._insights)
                soft.event_type = "insight"
        last = batch[-1]
        which = last.WhichOneof("event")
        result: object
        if which == "workload":
            workload = last.workload
            window = mappers.window_of(workload)
            result = await self.d.write(
                f"job {self.id} workload",
                lambda c: runs.record_workload(
                    c,
                    self.id,
                    owner,
                    workload.SerializeToString(),
                    window,
                    len(workload.queries),
                    soft,
                ),
            )
        elif which == "advice":
            new = mappers.suggestion_from_advice(last.advice, self.job.target, self.job.attempt)
            result = await self.d.write(
                f"job {self.id} suggestion",
                lambda c: runs.add_suggestion(c, self.id, owner, new, soft),
            )
            await failpoints.hit("between_events")
        elif which == "summary":
            summary = mappers.summary_from_optimizer(last.summary, self._insights)
            fingerprints = list(last.summary.fingerprints)
            result = await self.d.write(
                f"job {self.id} summary",
                lambda c: runs.succeed(
                    c,
                    self.id,
                    owner,
                    summary.SerializeToString(),
                    fingerprints,
                    self.d.job_ttl,
                    len(self._insights),
                ),
            )
            if not isinstance(result, domain.Job):
                raise LeaseLost()
            self._written = max(self._written, result.revision)
            log.info("job %s: SUCCEEDED", self.id)
            return True
        elif soft.event_type:
            result = await self.d.write(
                f"job {self.id} {soft.event_type}",
                lambda c: runs.record_soft(c, self.id, owner, soft),
            )
        else:
            return False
        if result is None:
            self._lease_lost.set()
            raise LeaseLost()
        if isinstance(result, domain.Job):
            await self._saw_own(result)
        return False

    async def _saw_own(self, job: domain.Job) -> None:
        """Notes a write of this run: its notification needs no re-read by the keeper, and
        a cancel committed before it shows in the row it returned."""
        self._written = max(self._written, job.revision)
        if job.cancel_requested and not self._cancel_seen.is_set():
            log.info("job %s: cancel requested", self.id)
            self._cancel_seen.set()
            await self._cancel_call()

    # -- endings ---------------------------------------------------------------------

    async def _stream_ended(
        self,
        error: BaseException | None,
        *,
        outcome_seen: bool,
        outcome: str,
        on_unsuccessful: Callable[[str], Awaitable[None]] | None = None,
    ) -> bool:
        """Decides what any job becomes once its optimizer stream is over (the rules of the
        module docstring). True when the stream's `outcome` (an analysis's summary, a
        change's result) arrived and the caller finishes the job with it; else the job is
        settled here (False), or LeaseLost, or on shutdown CancelledError, is raised.

        `error` is how the stream ended: None (it ended, or the caller stopped reading at
        its outcome), the call's AioRpcError, or the CancelledError of iterating a
        cancelled call. `on_unsuccessful(why)` is awaited when the job ends FAILED or
        CANCELLED here (a change job's suggestion records why).
        """

        async def unsuccessful(state: str, why: str) -> None:
            if on_unsuccessful is not None and state in ("FAILED", "CANCELLED"):
                await on_unsuccessful("cancelled while it ran" if state == "CANCELLED" else why)

        broke = error if isinstance(error, grpc.aio.AioRpcError) else None
        if isinstance(error, asyncio.CancelledError) and not (
            self._lease_lost.is_set() or self._cancel_seen.is_set()
        ):
            # Not this run's doing (a cancel, a lost lease): the shutdown, which cancels
            # this task too (`run` hands the job back).
            raise asyncio.CancelledError()
        if self._lease_lost.is_set():
            raise LeaseLost()
        if outcome_seen and broke is None:
            return True
        if self._cancel_seen.is_set():
            await unsuccessful("CANCELLED", "")
            await self._cancelled()
            return False
        if broke is None:
            message = f"the optimizer's stream ended before its {outcome}"
            job = await self._retry(
                used_attempt=True,
                code=code_pb2.UNAVAILABLE,
                reason="STREAM_ENDED_EARLY",
                message=message,
            )
            await unsuccessful(job.state, message)
            return False
        status = rpc.status_of(broke)
        reason, _ = pgsage_errors.from_status(status)
        code = broke.code()
        if code not in RETRYABLE:
            await unsuccessful("FAILED", status.message)
            await self._finish("FAILED", status.SerializeToString())
            log.info("job %s: FAILED (%s %s)", self.id, code.name, reason)
            return False
        # A transport failure before anything arrived: the optimizer was not reached.
        if self._received == 0 and not reason:
            job = await self._requeue_unreached(
                f"the optimizer at {self.d.optimizer.address} went away before the stream "
                f"started ({code.name}); the job waits for it"
            )
        else:
            job = await self._retry(
                used_attempt=True,
                code=status.code or code.value[0],
                reason=reason or "OPTIMIZER_STREAM_BROKEN",
                message=f"the optimizer's stream broke: {code.name}: {status.message}"[:900],
            )
        await unsuccessful(job.state, status.message or code.name)
        return False

    async def _requeue_unreached(self, message: str) -> domain.Job:
        return await self._retry(
            used_attempt=False,
            code=code_pb2.UNAVAILABLE,
            reason="OPTIMIZER_UNAVAILABLE",
            message=message,
        )

    async def _retry(
        self, *, used_attempt: bool, code: int, reason: str, message: str
    ) -> domain.Job:
        error = make_status(code, reason, message)
        delay = self.d.backoff(self.job.attempt)
        job = await self.d.write(
            f"job {self.id} requeue",
            lambda c: runs.requeue(
                c,
                self.id,
                self.d.owner,
                error=error,
                used_attempt=used_attempt,
                delay=delay,
                ttl=self.d.job_ttl,
            ),
        )
        if job is None:
            raise LeaseLost()
        log.info(
            "job %s: %s after %s (%s)",
            self.id,
            job.state,
            reason,
            "attempt used" if used_attempt else "attempt given back",
        )
        self.d.wake()
        return job

    async def _cancelled(self) -> None:
        await failpoints.hit("while_cancelling")
        summary = mappers.summary_from_optimizer(None, self._insights)
        await self._finish(
            "CANCELLED",
            make_status(code_pb2.CANCELLED, "JOB_CANCELLED", "the job was cancelled"),
            summary=summary.SerializeToString(),
        )
        log.info("job %s: CANCELLED", self.id)

    async def _fail(self, code: int, reason: str, message: str) -> None:
        await self._finish("FAILED", make_status(code, reason, message))

    async def _finish(self, state: str, error: bytes | None, summary: bytes | None = None) -> None:
        job = await self.d.write(
            f"job {self.id} {state}",
            lambda c: runs.finish(c, self.id, self.d.owner, state, error, self.d.job_ttl, summary),
        )
        if job is None:
            raise LeaseLost()
