"""WatchJob: the current job, every change live (also from another replica), replay from a
revision out of the events table, and the end of the stream when the job finishes."""

from __future__ import annotations

import asyncio

import grpc

from job_service import app
from pgsage import rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

Job = job_pb2.Job


async def read(stream, count: int) -> list[job_service_pb2.WatchJobResponse]:
    return [await asyncio.wait_for(stream.read(), 10) for _ in range(count)]


async def test_watch_streams_changes_until_the_job_ends_then_replays(stub, create, seed):
    job = await create("watch")
    stream = stub.WatchJob(job_service_pb2.WatchJobRequest(name=job.name))
    (first,) = await read(stream, 1)
    assert first.event_type == "current" and first.revision == 1 and first.job == job
    s = await seed(job.name, target="watch")
    (added,) = await read(stream, 1)
    assert added.event_type == "suggestion" and added.revision == 2
    assert added.suggestion.name.endswith(str(s.id)) and added.job.counts.suggestions == 1
    await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name))
    (cancelled,) = await read(stream, 1)
    assert cancelled.event_type == "cancelled" and cancelled.job.state == Job.CANCELLED
    assert await asyncio.wait_for(stream.read(), 10) is grpc.aio.EOF

    replay = [
        r
        async for r in stub.WatchJob(
            job_service_pb2.WatchJobRequest(name=job.name, since_revision=1)
        )
    ]
    assert [(r.revision, r.event_type) for r in replay] == [(2, "suggestion"), (3, "cancelled")]
    assert replay[0].job.state == Job.PENDING and replay[1].job.state == Job.CANCELLED
    assert replay[1].job == cancelled.job
    # A finished job watched from now: just the job as it is.
    now = [r async for r in stub.WatchJob(job_service_pb2.WatchJobRequest(name=job.name))]
    assert [(r.revision, r.event_type) for r in now] == [(3, "current")]


async def test_watch_errors(stub, create, expect_error):
    job = await create("watch")

    async def first(request):
        async for response in stub.WatchJob(request):
            return response

    await expect_error(
        first(job_service_pb2.WatchJobRequest(name=job.name, since_revision=5)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await expect_error(
        first(job_service_pb2.WatchJobRequest(name=job.name.replace(job.name[-4:], "0000"))),
        grpc.StatusCode.NOT_FOUND,
        "JOB_NOT_FOUND",
    )


async def test_a_watcher_on_another_replica_sees_each_change(stub, create, module_db, settings_for):
    other = await app.start(settings_for(module_db))
    try:
        async with grpc.aio.insecure_channel(other.address) as channel:
            remote = job_service_pb2_grpc.JobServiceStub(channel)
            job = await create("replicas")
            stream = remote.WatchJob(job_service_pb2.WatchJobRequest(name=job.name))
            (first,) = await read(stream, 1)
            assert first.revision == 1
            # The change is made through the first replica; only NOTIFY tells the second.
            await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name))
            (change,) = await read(stream, 1)
            assert change.event_type == "cancelled" and change.revision == 2

            # Stopping a replica ends its watches with UNAVAILABLE and where to resume.
            running = await create("replicas")
            stream = remote.WatchJob(job_service_pb2.WatchJobRequest(name=running.name))
            await read(stream, 1)
            await other.stop(1)
            try:
                await asyncio.wait_for(stream.read(), 10)
                raise AssertionError("the watch must end when its replica stops")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                assert rpc.reason_of(exc) == "SHUTTING_DOWN"
    finally:
        await other.stop(0)
