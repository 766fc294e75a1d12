"""The gRPC face of the optimizer: `pgsage.optimizer.v1.OptimizerService`.

Analyze runs the analysis in a task that feeds a queue; the stream sends what it queues,
plus the current progress every second while a long phase runs. When the caller cancels,
the stream's generator is closed, the task is cancelled, and the analysis terminates its
sessions on the target. Analyses take their sessions from a pool per target that the
servicer owns (`close()` at stop); every other RPC opens a session of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import grpc

from optimizer_service import (
    analysis,
    apply,
    benchmark,
    diagnostics,
    mappers,
    metrics,
    pool,
    snapshot,
    streams,
    targets,
    validation,
)
from optimizer_service import (
    errors as target_errors,
)
from optimizer_service import workload as workloads
from optimizer_service.model import Progress, Workload
from optimizer_service.progress import Tracker
from optimizer_service.settings import Settings
from pgsage import errors, failpoints, sqlcheck, tasks
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
_TELL = object()  # the tracker has news: a progress snapshot goes out at once
_DONE = object()
# The analysis stages (`Tracker.stage`) as a caller knows them, named by a timeout or a
# lost target: planning the workload, the what-if search, the drop checks.
PHASES = {
    "workload": "workload",
    "candidates": "what-if",
    "selection": "what-if",
    "advice": "what-if",
    "unused": "unused and duplicate index",
    "summary": "summary",
}


class OptimizerServicer(pb_grpc.OptimizerServiceServicer):
    """Stateless between calls (idle target sessions aside); every call resolves its target
    from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pools = pool.Pools(settings, setup=analysis.SESSION_SETUP)
        self.checker = diagnostics.Checker(settings)

    async def close(self) -> None:
        """Closes the idle analysis sessions of every target."""
        await self.pools.close()

    def _request(self, request: pb.AnalyzeRequest) -> analysis.Request:
        if not request.target:
            raise errors.InvalidArgument("target", "target is required")
        target = targets.resolve(self.settings, request.target)
        options = mappers.options_from_proto(request.options, list(request.analysis_types))
        given = mappers.workload_from_proto(request.workload)
        workload: Workload | None = None
        if given is not None:
            queries, source = given
            if source == workloads.Source.REQUEST:
                # Only the job service calls this API, and it checked these at CreateJob;
                # checked again (defence in depth) before any session opens. A replay is
                # the workload a first attempt streamed back, perhaps pg_stat_statements'
                # own texts, which no allow-list of a caller's SQL describes.
                sqlcheck.check_queries([q.text for q in queries], field="workload.queries")
            workload = workloads.from_request(queries, source)
            if source == workloads.Source.REPLAY:
                workload = Workload(
                    source,
                    workload.queries,
                    mappers.replay_window(request.workload),
                    *mappers.replay_totals(request.workload),
                )
        return analysis.Request(target=target, options=options, workload=workload)

    async def Analyze(
        self, request: pb.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.AnalyzeResponse]:
        req = self._request(request)
        queue: asyncio.Queue[object] = asyncio.Queue()
        tracker = Tracker(on_tell=lambda: queue.put_nowait(_TELL))

        async def emit(event: object) -> None:
            await queue.put(event)

        run = analysis.Analysis(req, emit, tracker, self.pools.of(req.target))

        async def work() -> None:
            try:
                await run.run()
            finally:
                await queue.put(_DONE)

        with (
            metrics.analysis(req.target.name),
            target_errors.translated(
                "Analyze", req.target.name, lambda: PHASES.get(tracker.stage, tracker.stage)
            ),
        ):
            log.info("analysis of target %s started", req.target.name)
            task = asyncio.create_task(work())
            loop = asyncio.get_running_loop()
            try:
                last_tick = loop.time()
                while True:
                    wait = max(0.0, last_tick + TICK_SECONDS - loop.time())
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=wait)
                    except TimeoutError:
                        event = None
                    if event is _DONE:
                        break
                    if event is _TELL:
                        last_tick = loop.time()
                        yield mappers.event_to_proto(tracker.snapshot())
                        continue
                    if event is not None and not isinstance(event, Progress):
                        yield mappers.event_to_proto(event)
                        # Crash and cancel tests widen the window between two events here.
                        await failpoints.hit("optimizer_between_events")
                    if loop.time() - last_tick >= TICK_SECONDS:
                        last_tick = loop.time()
                        yield mappers.event_to_proto(tracker.snapshot())
                await task  # re-raises what the analysis failed with
                log.info("analysis of target %s finished", req.target.name)
            finally:
                if not task.done():
                    await tasks.stop(task)
                    log.info("analysis of target %s cancelled", req.target.name)
                else:
                    tasks.collect(task)  # the caller left before reading how it ended

    async def ListTargets(
        self, request: pb.ListTargetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTargetsResponse:
        return pb.ListTargetsResponse(targets=await diagnostics.list_targets(self.checker))

    async def GetDiagnostics(
        self, request: pb.GetDiagnosticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDiagnosticsResponse:
        return pb.GetDiagnosticsResponse(dependencies=await diagnostics.dependencies(self.checker))

    async def ValidateStatement(
        self, request: pb.ValidateStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateStatementResponse:
        with target_errors.translated("ValidateStatement", request.target):
            return await validation.validate(self.settings, request)

    async def Benchmark(
        self, request: pb.BenchmarkRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.BenchmarkResponse]:
        async with contextlib.aclosing(
            streams.relay(
                lambda emit: benchmark.benchmark(self.settings, request, emit),
                pb.BenchmarkResponse,
            )
        ) as events:
            with target_errors.translated("Benchmark", request.target, lambda: "benchmark"):
                async for event in events:
                    yield event

    async def Apply(
        self, request: pb.ApplyRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ApplyResponse]:
        async with contextlib.aclosing(
            streams.relay(lambda emit: apply.apply(self.settings, request, emit), pb.ApplyResponse)
        ) as events:
            with target_errors.translated("Apply", request.target, lambda: "apply"):
                async for event in events:
                    yield event

    async def Rollback(
        self, request: pb.RollbackRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.RollbackResponse]:
        async with contextlib.aclosing(
            streams.relay(
                lambda emit: apply.rollback(self.settings, request, emit), pb.RollbackResponse
            )
        ) as events:
            with target_errors.translated("Rollback", request.target, lambda: "rollback"):
                async for event in events:
                    yield event

    async def Snapshot(
        self, request: pb.SnapshotRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SnapshotResponse]:
        async with contextlib.aclosing(
            streams.relay(
                lambda emit: snapshot.snapshot(self.settings, request, emit), pb.SnapshotResponse
            )
        ) as events:
            with target_errors.translated("Snapshot", request.target, lambda: "snapshot"):
                async for event in events:
                    yield event
