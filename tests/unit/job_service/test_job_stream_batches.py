"""How the dispatcher groups the optimizer's events into writes: progress and insight events
already waiting (or following within the linger) are folded into the next write; each
workload, suggestion and summary ends a write of its own; and the end of the stream comes
after everything it followed."""

from __future__ import annotations

import asyncio

import grpc

from job_service.strategies.analysis import StreamEnded, next_batch
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb


def ev(kind: str, n: int = 0) -> pb.AnalyzeResponse:
    if kind == "workload":
        return pb.AnalyzeResponse(workload=analysis_pb2.Workload())
    if kind == "progress":
        return pb.AnalyzeResponse(progress=analysis_pb2.Progress(stage="s", percent=n))
    if kind == "insight":
        return pb.AnalyzeResponse(insight=analysis_pb2.Insight(code=f"I{n}"))
    if kind == "advice":
        return pb.AnalyzeResponse(advice=advice_pb2.Advice(fingerprint=f"f{n}"))
    return pb.AnalyzeResponse(summary=advice_pb2.Summary())


def kinds(batch: list[pb.AnalyzeResponse]) -> list[str]:
    return [e.WhichOneof("event") for e in batch]


async def batches(*items: object) -> list[tuple[list[str], StreamEnded | None]]:
    queue: asyncio.Queue[object] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    out = []
    while not queue.empty():
        batch, ended = await next_batch(queue)
        out.append((kinds(batch), ended))
    return out


async def test_waiting_progress_and_insights_fold_into_the_next_write():
    got = await batches(
        ev("insight", 1),
        ev("workload"),
        ev("progress", 10),
        ev("progress", 20),
        ev("advice", 1),
        ev("advice", 2),
        ev("insight", 2),
        ev("summary"),
    )
    assert got == [
        (["insight", "workload"], None),
        (["progress", "progress", "advice"], None),
        (["advice"], None),  # every suggestion is a write of its own
        (["insight", "summary"], None),
    ]


async def test_soft_events_with_nothing_after_them_are_written_alone():
    assert await batches(ev("progress", 5), ev("insight", 1)) == [(["progress", "insight"], None)]


async def test_progress_lingers_for_an_event_that_follows_at_once():
    queue: asyncio.Queue[object] = asyncio.Queue()
    queue.put_nowait(ev("insight", 1))
    asyncio.get_running_loop().call_later(0.005, queue.put_nowait, ev("summary"))
    batch, ended = await next_batch(queue)
    assert kinds(batch) == ["insight", "summary"] and ended is None


async def test_the_end_of_the_stream_comes_with_what_preceded_it():
    error = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "gone"
    )
    got = await batches(ev("workload"), ev("progress", 50), StreamEnded(error))
    assert got[0] == (["workload"], None)
    assert got[1][0] == ["progress"] and got[1][1] is not None and got[1][1].error is error


async def test_a_write_waits_for_the_next_event_only_when_none_is_here():
    queue: asyncio.Queue[object] = asyncio.Queue()
    task = asyncio.create_task(next_batch(queue))
    await asyncio.sleep(0.01)
    assert not task.done()
    queue.put_nowait(ev("progress", 1))
    batch, ended = await task
    assert kinds(batch) == ["progress"] and ended is None
