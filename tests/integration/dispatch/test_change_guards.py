"""A change job's writes are its lease's, and its end agrees with its suggestion.

Real processes (job service, optimizer) and a proxy in front of the optimizer whose Apply
first meddles with the job store as another party would (a takeover of the job's lease, a
move of the suggestion), then goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import grpc

from pgsage import errors
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc, suggestion_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2, optimizer_service_pb2_grpc
from tests.support.dispatch import (
    alice,
    approved_create_index,
    catalog,
    check_invariants,
    targets,
    wait_finished,
)

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion
Meddle = Callable[[asyncpg.Connection, asyncpg.Record], Awaitable[None]]

AFTER_TAKEOVER = "SELECT 'reported after the takeover'"


class Meddling(optimizer_service_pb2_grpc.OptimizerServiceServicer):
    """The real optimizer, except that Apply first runs `meddle` on the job store (with the
    running APPLY job's row), then either reports one statement and stalls (`stall`) or
    forwards to the real Apply."""

    def __init__(self, real: str, store_dsn: str, meddle: Meddle, *, stall: bool) -> None:
        self.channel = grpc.aio.insecure_channel(real)
        self.stub = optimizer_service_pb2_grpc.OptimizerServiceStub(self.channel)
        self.store_dsn, self.meddle, self.stall = store_dsn, meddle, stall

    async def Analyze(self, request, context):
        async for event in self.stub.Analyze(request):
            yield event

    async def ListTargets(self, request, context):
        return await self.stub.ListTargets(request)

    async def Apply(self, request, context):
        conn = await asyncpg.connect(self.store_dsn)
        try:
            job = await conn.fetchrow(
                "SELECT id, suggestion_id FROM job WHERE kind = 'APPLY' AND state = 'RUNNING'"
            )
            await self.meddle(conn, job)
        finally:
            await conn.close()
        if self.stall:
            yield optimizer_service_pb2.ApplyResponse(
                statement=optimizer_service_pb2.StatementExecution(
                    target="shop",
                    sql=AFTER_TAKEOVER,
                    phase=optimizer_service_pb2.StatementExecution.STARTED,
                )
            )
            await asyncio.sleep(30)  # the job service gives the call up first
            return
        async for event in self.stub.Apply(request):
            yield event


async def apply_meddled(cluster, meddle: Meddle, *, stall: bool) -> tuple[Job, Suggestion]:
    """An approved suggestion applied (one attempt per job) through `Meddling`; the job
    and the suggestion as they end."""
    before = {name for name, _ in await catalog(cluster.target_dsn)}
    opt = cluster.optimizer(targets=targets(cluster, apply_allowed=True)).start()
    await opt.wait_serving()
    proxy = Meddling(opt.address, cluster.store_dsn, meddle, stall=stall)
    server = grpc.aio.server()
    optimizer_service_pb2_grpc.add_OptimizerServiceServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        js = cluster.job_service(f"127.0.0.1:{port}", PGSAGE_JOBS_MAX_ATTEMPTS="1").start()
        await js.wait_serving()
        async with grpc.aio.insecure_channel(js.address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            s = await approved_create_index(stub, js.address)
            job = await stub.CreateJob(
                job_service_pb2.CreateJobRequest(
                    job=Job(kind=Job.APPLY, target="shop", suggestion=s.name)
                ),
                metadata=await alice(stub),
            )
            [done] = await wait_finished(js.address, [job.name], limit=90)
            final = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
        assert "unexpected error" not in js.log_path.read_text()
        conn = await cluster.store_conn()
        await check_invariants(conn)
        await conn.close()
        return done, final
    finally:
        await server.stop(0)
        await proxy.channel.close()
        conn = await asyncpg.connect(cluster.target_dsn)
        for name, _ in await catalog(cluster.target_dsn):
            if name not in before:
                await conn.execute(f'DROP INDEX IF EXISTS public."{name}"')
        await conn.close()


async def test_a_change_job_taken_over_writes_nothing_more(cluster):
    async def take_over(conn: asyncpg.Connection, job: asyncpg.Record) -> None:
        # Another replica took the job over (this one stalled): its lease, for a moment.
        await conn.execute(
            "UPDATE job SET lease_owner = 'js-someone-else', "
            "lease_expire_time = now() + interval '3 seconds' WHERE id = $1",
            job["id"],
        )

    done, final = await apply_meddled(cluster, take_over, stall=True)
    # The statement reported after the takeover was not audited by the job service that
    # lost the lease; the job was settled by the reaper (its lease lapsed).
    conn = await cluster.store_conn()
    try:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_record WHERE statement = $1", AFTER_TAKEOVER
        )
    finally:
        await conn.close()
    assert audited == 0
    assert done.state == Job.FAILED, done
    assert errors.from_status(done.error)[0] == "LEASE_LAPSED", done.error
    assert final.state == Suggestion.APPLY_FAILED, final


async def test_an_apply_whose_suggestion_moved_meanwhile_does_not_succeed(cluster):
    async def move_away(conn: asyncpg.Connection, job: asyncpg.Record) -> None:
        # Someone else settled the suggestion while its APPLY was on its way.
        await conn.execute(
            "UPDATE suggestion SET state = 'APPLY_FAILED', failure_reason = 'settled by hand', "
            "version = version + 1 WHERE id = $1",
            job["suggestion_id"],
        )

    done, final = await apply_meddled(cluster, move_away, stall=False)
    # The index was built (the optimizer says so), but the suggestion no longer agrees to
    # record it: the job does not end SUCCEEDED, and says why.
    assert done.state == Job.FAILED, done
    assert errors.from_status(done.error)[0] == "SUGGESTION_CHANGED", done.error
    assert "settled by hand" not in done.error.message and "APPLY_FAILED" in done.error.message
    assert final.state == Suggestion.APPLY_FAILED
    assert final.failure_reason == "settled by hand"
