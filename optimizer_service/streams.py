"""Relaying the events of one Benchmark, Apply or Rollback call to its gRPC stream.

The work runs in a task and emits proto messages into a queue; the stream sends them
wrapped in the call's response type. When the caller cancels, the stream's generator is
closed, the task is cancelled, and the work's own cleanup (dropping an invalid index, a
scratch schema) runs to its end before the handler returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from optimizer_service import ddl
from pgsage import tasks
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

_DONE = object()
_FIELDS: dict[type, str] = {
    analysis_pb2.Progress: "progress",
    pb.StatementExecution: "statement",
    pb.ChangeResult: "result",
    pb.BenchmarkResult: "result",
    pb.WorkloadSnapshot: "snapshot",
}


def progress(stage: str, percent: float, message: str) -> analysis_pb2.Progress:
    return analysis_pb2.Progress(stage=stage, percent=percent, message=message)


async def relay(
    work: Callable[[ddl.Emit], Awaitable[None]], response: Callable[..., Any]
) -> AsyncGenerator[Any, None]:
    """Runs `work(emit)` and yields each emitted message as `response(<field>=message)`."""
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def run() -> None:
        try:
            await work(queue.put_nowait)
        finally:
            queue.put_nowait(_DONE)

    task = asyncio.create_task(run())
    try:
        while (event := await queue.get()) is not _DONE:
            yield response(**{_FIELDS[type(event)]: event})
        await task  # re-raises what the work failed with
    finally:
        if not task.done():
            await tasks.stop(task)
        else:
            tasks.collect(task)  # the caller left before reading how the work ended
