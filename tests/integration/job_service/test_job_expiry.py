"""Expiry: finished jobs past their expire_time are deleted with their suggestions and
events, in bounded batches, except jobs owning a suggestion live on a target."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc

from job_service import app, expiry
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc


async def test_sweep_deletes_expired_jobs_in_batches_but_keeps_live_ones(
    stub, create, seed, db, finish
):
    def job_id(job) -> uuid.UUID:
        return uuid.UUID(job.name.split("/")[1])

    expired = [await create("expiry") for _ in range(5)]
    for job in expired:
        await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name))
    await seed(expired[0].name, target="expiry", state="DISMISSED")
    live = await create("expiry")
    await seed(live.name, target="expiry", state="APPLIED")
    await finish(live.name)
    fresh = await create("expiry")
    await stub.CancelJob(job_service_pb2.CancelJobRequest(name=fresh.name))
    pending = await create("expiry")

    ids = [job_id(j) for j in [*expired, live]]
    async with db.connection() as conn:
        # The cancelled jobs got end + 30 days; move these into the past.
        assert await conn.fetchval(
            "SELECT bool_and(expire_time - end_time = interval '30 days') FROM job "
            "WHERE id = ANY($1::uuid[])",
            [job_id(j) for j in expired],
        )
        await conn.execute(
            "UPDATE job SET expire_time = now() - interval '1 second' WHERE id = ANY($1::uuid[])",
            ids,
        )

    assert await expiry.sweep(db, batch=2) == 5
    async with db.connection() as conn:
        left = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM job WHERE target = 'expiry'",
            )
        }
        assert left == {job_id(live), job_id(fresh), job_id(pending)}
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM suggestion WHERE job_id = ANY($1::uuid[])",
                [job_id(j) for j in expired],
            )
            == 0
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM job_event WHERE job_id = ANY($1::uuid[])",
                [job_id(j) for j in expired],
            )
            == 0
        )
    assert await expiry.sweep(db, batch=2) == 0


async def test_the_service_sweeps_in_the_background(module_db, settings_for, eventually):
    running = await app.start(settings_for(module_db, expiry_interval=timedelta(seconds=0.2)))
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            job = await stub.CreateJob(
                job_service_pb2.CreateJobRequest(job=job_pb2.Job(target="sweeper")), timeout=5
            )
            await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name), timeout=5)
            async with running.db.connection() as conn:
                await conn.execute(
                    "UPDATE job SET expire_time = now() - interval '1 second' WHERE id = $1",
                    uuid.UUID(job.name.split("/")[1]),
                )

            async def gone() -> bool:
                try:
                    await stub.GetJob(job_service_pb2.GetJobRequest(name=job.name), timeout=5)
                except grpc.aio.AioRpcError as exc:
                    return exc.code() == grpc.StatusCode.NOT_FOUND
                return False

            await eventually(gone)
    finally:
        await running.stop(0)
