"""Health follows PostgreSQL: NOT_SERVING while the job store's database (an embedded
cluster this test owns) is down, SERVING again when it is back, without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from job_service import app
from pgsage import health
from pgsage.embedded import EmbeddedPostgres
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support import clusters


@pytest.fixture
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    async with clusters.own_cluster("jobs-health", "immediate") as postgres:
        yield postgres


async def test_health_follows_the_database(own_postgres, settings_for, eventually, expect_error):
    running = await app.start(settings_for(own_postgres.dsn("postgres")))
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            health_stub = health_pb2_grpc.HealthStub(channel)
            stub = job_service_pb2_grpc.JobServiceStub(channel)

            async def status_is(wanted: int) -> bool:
                statuses = await health_stub.List(health_pb2.HealthListRequest(), timeout=5)
                return all(
                    statuses.statuses[name].status == wanted for name in ("", app.SERVICE_NAME)
                )

            assert await status_is(health.SERVING)
            job = await stub.CreateJob(
                job_service_pb2.CreateJobRequest(job=job_pb2.Job(target="demo")), timeout=5
            )

            await asyncio.to_thread(own_postgres.stop, "fast")
            await eventually(lambda: status_is(health.NOT_SERVING))
            await expect_error(
                stub.GetJob(job_service_pb2.GetJobRequest(name=job.name), timeout=10),
                grpc.StatusCode.UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
            )
            diagnostics = await stub.GetDiagnostics(job_service_pb2.GetDiagnosticsRequest())
            database = {d.name: d for d in diagnostics.dependencies}["database"]
            assert database.status == job_service_pb2.Dependency.DOWN and database.message

            await asyncio.to_thread(own_postgres.start)
            await eventually(lambda: status_is(health.SERVING))
            got = await stub.GetJob(job_service_pb2.GetJobRequest(name=job.name), timeout=5)
            assert got.name == job.name

            # The notification listener reconnected too: watches see changes again.
            async def listening() -> bool:
                return running.listener.connected

            await eventually(listening)
            stream = stub.WatchJob(job_service_pb2.WatchJobRequest(name=job.name))
            first = await asyncio.wait_for(stream.read(), 10)
            assert first.job.state == job_pb2.Job.PENDING
            await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name), timeout=5)
            change = await asyncio.wait_for(stream.read(), 10)
            assert change.event_type == "cancelled"
    finally:
        await running.stop(0)
