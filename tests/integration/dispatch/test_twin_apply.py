"""Two suggestions with one fingerprint are never both applied, even when both APPLY jobs
were accepted before either began: the database refuses the second move to APPLYING
(`uq_suggestion_target_fingerprint_live`) and that job fails saying which twin holds the
change, instead of an INTERNAL error.

Real processes: an API-only job service accepts both jobs, then a dispatching replica and
the optimizer run them against a real target.
"""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from job_service import database, domain, suggestions
from pgsage import errors as pgsage_errors
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc, suggestion_pb2
from tests.support.dispatch import check_invariants, wait_finished

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion
SQL = "CREATE INDEX CONCURRENTLY invoice_account_twin_idx ON public.invoice (account_id)"


async def _seed_twins(store_dsn: str) -> list[str]:
    """Two finished analyses, each with the same change suggested."""
    conn = await asyncpg.connect(store_dsn)
    parents = [uuid.uuid4(), uuid.uuid4()]
    try:
        for parent in parents:
            await conn.execute(
                "INSERT INTO job (id, kind, state, target, end_time) "
                "VALUES ($1, 'ANALYZE', 'SUCCEEDED', 'shop', now())",
                parent,
            )
    finally:
        await conn.close()
    db = database.Database(store_dsn, pool_size=1)
    names = []
    try:
        async with db.connection() as c:
            for parent in parents:
                s = await suggestions.add(
                    c,
                    parent,
                    domain.NewSuggestion(
                        kind="CREATE_INDEX",
                        target="shop",
                        fingerprint="twin-fingerprint",
                        sql=SQL,
                        rollback_sql="DROP INDEX CONCURRENTLY IF EXISTS public."
                        "invoice_account_twin_idx",
                        title="Index on public.invoice (account_id)",
                    ),
                )
                names.append(f"jobs/{parent}/suggestions/{s.id}")
    finally:
        await db.close()
    return names


async def test_the_second_twin_apply_fails_naming_the_first(cluster):
    target = {"name": "shop", "dsn": cluster.target_dsn, "what_if_engine": "hypopg"}
    opt = cluster.optimizer(targets=[{**target, "apply_allowed": True}]).start()
    api = cluster.job_service(opt, name="api", PGSAGE_JOBS_MAX_CONCURRENT_JOBS="0").start()
    await opt.wait_serving()
    await api.wait_serving()
    twins = await _seed_twins(cluster.store_dsn)
    async with grpc.aio.insecure_channel(api.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        jobs = []
        for name in twins:
            await stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=name))
            jobs.append(
                await stub.CreateJob(
                    job_service_pb2.CreateJobRequest(
                        job=Job(kind=Job.APPLY, target="shop", suggestion=name)
                    )
                )
            )
        runner = cluster.job_service(opt, name="runner").start()
        await runner.wait_serving()
        done = await wait_finished(api.address, [j.name for j in jobs], limit=90)
        states = [
            (await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=n))).state
            for n in twins
        ]
    assert sorted(j.state for j in done) == sorted([Job.SUCCEEDED, Job.FAILED]), done
    winner = twins[[j.state for j in done].index(Job.SUCCEEDED)]
    failed = done[[j.state for j in done].index(Job.FAILED)]
    reason, _ = pgsage_errors.from_status(failed.error)
    assert failed.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert reason == "INVALID_STATE_TRANSITION"
    assert winner in failed.error.message
    assert sorted(states) == sorted([Suggestion.APPLIED, Suggestion.APPROVED])
    conn = await cluster.store_conn()
    try:
        await check_invariants(conn)
    finally:
        await conn.close()
