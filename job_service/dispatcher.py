"""The dispatcher: runs PENDING jobs on the optimizer, durably, on any replica.

One loop per process claims jobs (`FOR UPDATE SKIP LOCKED`, oldest first, as many in one
statement as it has room for), woken by LISTEN/NOTIFY when a job becomes PENDING, with a
polling fallback (a lost notification only delays). Each claimed job runs in a task of its
own: one `job_service.driver.Driver` (the lease, the stream, cancellation, the ending rules
of `job_service.ending`) with the strategy of its kind (`job_service.strategies`). Every
write of a running job is one short statement (or transaction) guarded by its lease.

Failure handling, the same for every kind of job, as DESIGN.md (Lifecycles) says (the table
is `job_service.ending`):
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
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from google.rpc import code_pb2

from job_service import changes, database, domain, errors, metrics, notifications, optimizer, runs
from job_service.driver import Driver
from job_service.ending import make_status
from job_service.strategies import RunContext, Strategy
from job_service.strategies.analysis import AnalysisStrategy
from job_service.strategies.change import ChangeStrategy
from job_service.strategies.verify import VerifyStrategy
from job_service.vocabulary import ErrorReason, JobKind

log = logging.getLogger(__name__)

T = TypeVar("T")


def new_owner_id() -> str:
    """A random id for this process's leases (never a host or pod name)."""
    return f"js-{uuid.uuid4().hex[:16]}"


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
            ErrorReason.LEASE_LAPSED,
            "the job service running this job stopped renewing its lease (it crashed or "
            "lost its database) and the job ran out of attempts",
        )
        total = 0
        while True:
            async with self.db.connection() as conn:
                reaped = await runs.reap_lapsed(conn, error, self.job_ttl)
            for job in reaped:
                metrics.RECONCILED.labels(job.state).inc()
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
            await asyncio.wait([self._loop_task])
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
        def strategy(ctx: RunContext) -> Strategy:
            if job.kind == JobKind.ANALYZE:
                return AnalysisStrategy(ctx, workload)
            if job.kind == JobKind.VERIFY:
                return VerifyStrategy(ctx)
            return ChangeStrategy(ctx)

        run = Driver(
            job=job,
            owner=self.owner,
            lease=self.lease,
            db=self.db,
            listener=self.listener,
            write=self.write,
            optimizer_client=self.optimizer,
            timeout=self.analyze_timeout,
            job_ttl=self.job_ttl,
            backoff=self.backoff,
            wake=self.wake,
            strategy=strategy,
        )
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
