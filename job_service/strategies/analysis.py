"""The analysis strategy: an ANALYZE job's Analyze stream, stored as it arrives.

The stream is read ahead of the writes (by a reader in the run's task group): the workload,
each suggestion and the summary get a statement of their own, and progress and insight
events that are already waiting when a write starts (or that come within `LINGER` with
nothing else to write) are folded into it (they only update the job's progress and counts),
so a burst of them costs one statement, not one each. Every statement is guarded by the
lease; the one storing the summary finishes the job (SUCCEEDED).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc

from job_service import comparisons, domain, ending, optimizer_mappers, runs
from job_service.strategies import RunContext
from pgsage import failpoints
from pgsage.optimizer.v1 import optimizer_service_pb2

log = logging.getLogger(__name__)

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


async def next_batch(
    queue: asyncio.Queue[object],
) -> tuple[list[optimizer_service_pb2.AnalyzeResponse], StreamEnded | None]:
    """The next events to store in one statement: whatever progress and insight events are
    here (or come within `LINGER`), up to and including the first workload, suggestion or
    summary (each suggestion is stored on its own); and the end of the stream if it came."""
    batch: list[optimizer_service_pb2.AnalyzeResponse] = []
    item = await queue.get()
    while True:
        if isinstance(item, StreamEnded):
            return batch, item
        batch.append(item)  # type: ignore[arg-type]
        if batch[-1].WhichOneof("event") not in FOLDED:
            return batch, None
        if queue.empty():
            # Only progress and insights so far: linger a moment for the event that most
            # likely follows at once, rather than write them on their own.
            try:
                async with asyncio.timeout(LINGER):
                    item = await queue.get()
            except TimeoutError:
                return batch, None
            continue
        item = queue.get_nowait()


class AnalysisStrategy:
    """An ANALYZE job (see the module docstring)."""

    outcome = "summary"

    def __init__(self, ctx: RunContext, workload: bytes | None) -> None:
        self.ctx = ctx
        self.workload = workload
        self.insights: list[optimizer_mappers.InsightTuple] = []

    async def load(self) -> ending.Outcome | None:
        return None

    async def begin(self) -> ending.Outcome | None:
        return None

    def open(self) -> grpc.aio.UnaryStreamCall:
        ctx = self.ctx
        request = optimizer_mappers.analyze_request(ctx.job, self.workload)
        stub = ctx.optimizer.stub()
        return stub.Analyze(request, timeout=ctx.timeout, metadata=ctx.metadata())

    async def consume(self, call: grpc.aio.UnaryStreamCall) -> bool:
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=READ_AHEAD)
        reader = self.ctx.spawn(self._read_ahead(call, queue), f"read-{self.ctx.job.id}")
        summary_seen = False
        ended: StreamEnded | None = None
        try:
            while not summary_seen and ended is None:
                batch, ended = await next_batch(queue)
                if batch:
                    summary_seen = await self._persist(batch)
        finally:
            reader.cancel()
            await asyncio.wait([reader])
        if ended is not None and ended.error is not None:
            raise ended.error
        return summary_seen

    async def finish(self) -> ending.Outcome | None:
        """The summary's statement already finished the job."""
        return None

    async def unsuccessful(self, state: str, why: str) -> None:
        """Nothing beyond the job: what was streamed stays."""

    def partial_summary(self) -> bytes:
        return optimizer_mappers.summary_from_optimizer(None, self.insights).SerializeToString()

    async def _read_ahead(
        self, call: grpc.aio.UnaryStreamCall, queue: asyncio.Queue[object]
    ) -> None:
        """Moves the stream's events into `queue` as they arrive, then how it ended, so the
        next events are already here while one is being stored."""
        try:
            async for event in call:
                self.ctx.received += 1
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

    async def _persist(self, batch: list[optimizer_service_pb2.AnalyzeResponse]) -> bool:
        """Stores a batch of streamed events; True once the summary (the last event) is
        stored."""
        self.ctx.idle.clear()
        try:
            return await self._store(batch)
        finally:
            self.ctx.idle.set()

    async def _store(self, batch: list[optimizer_service_pb2.AnalyzeResponse]) -> bool:
        """One guarded statement for the batch: its last event (a workload, a suggestion,
        the summary, or else the latest progress and insight count) with what the progress
        and insight events before it changed folded in."""
        ctx = self.ctx
        job_id, owner = ctx.job.id, ctx.owner
        soft = runs.Soft()
        for event in batch:
            which = event.WhichOneof("event")
            if which == "progress":
                p = event.progress
                soft.stage, soft.percent, soft.message = p.stage, p.percent, p.message
                soft.event_type = "progress"
            elif which == "insight":
                self.insights.append(optimizer_mappers.insight_tuple(event.insight))
                soft.insights = len(self.insights)
                soft.event_type = "insight"
        last = batch[-1]
        which = last.WhichOneof("event")
        result: object
        if which == "workload":
            workload = last.workload
            window = optimizer_mappers.window_of(workload)
            result = await ctx.guarded(
                "workload",
                lambda c: runs.record_workload(
                    c,
                    job_id,
                    owner,
                    workload.SerializeToString(),
                    window,
                    len(workload.queries),
                    soft,
                ),
            )
        elif which == "advice":
            new = optimizer_mappers.suggestion_from_advice(
                last.advice, ctx.job.target, ctx.job.attempt
            )
            result = await ctx.guarded(
                "suggestion", lambda c: runs.add_suggestion(c, job_id, owner, new, soft)
            )
            await failpoints.hit("between_events")
        elif which == "summary":
            summary = optimizer_mappers.summary_from_optimizer(last.summary, self.insights)
            fingerprints = list(last.summary.fingerprints)
            # Succeeds with the comparison with the target's previous analysis.
            result = await ctx.guarded(
                "summary",
                lambda c: comparisons.succeed(
                    c, ctx.job, owner, summary, fingerprints, ctx.job_ttl, len(self.insights)
                ),
            )
            await ctx.saw_own(result)  # type: ignore[arg-type]
            log.info("job %s: SUCCEEDED", job_id)
            return True
        elif soft.event_type:
            result = await ctx.guarded(
                soft.event_type, lambda c: runs.record_soft(c, job_id, owner, soft)
            )
        else:
            return False
        if isinstance(result, domain.Job):
            await ctx.saw_own(result)
        return False
