"""ANALYZE jobs on a busy transactional target, through real processes: several at once all
succeed with the same suggestions, and one whose what-if builds a lock stopped says so in
its summary (never a silent success with fewer suggestions)."""

from __future__ import annotations

import asyncpg
import grpc

from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.dispatch import check_invariants, create_jobs, wait_finished

SUCCEEDED = job_pb2.Job.SUCCEEDED


def transactional(cluster) -> list[dict]:
    return [
        {
            "name": "shop_tx",
            "dsn": cluster.target_dsn,
            "what_if_engine": "transactional",
            "lock_timeout_ms": 500,
        }
    ]


async def suggestions(address: str, name: str) -> list[str]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        listed = await stub.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(parent=name), timeout=5
        )
    return sorted(s.sql for s in listed.suggestions)


async def test_concurrent_jobs_on_one_transactional_target_all_succeed_alike(cluster):
    opt = cluster.optimizer(targets=transactional(cluster)).start()
    await opt.wait_serving()
    js = cluster.job_service(opt).start()
    await js.wait_serving()
    names = await create_jobs(js.address, 6, target="shop_tx")
    jobs = await wait_finished(js.address, names, limit=120)
    assert [j.state for j in jobs] == [SUCCEEDED] * 6, [j.error for j in jobs]
    assert all(not j.summary.incomplete_phases for j in jobs)
    found = [await suggestions(js.address, name) for name in names]
    assert found[0] and found == [found[0]] * 6
    conn = await cluster.store_conn()
    await check_invariants(conn)
    await conn.close()


async def test_a_job_whose_what_if_builds_were_locked_out_says_so(cluster):
    opt = cluster.optimizer(targets=transactional(cluster)).start()
    await opt.wait_serving()
    js = cluster.job_service(opt).start()
    await js.wait_serving()
    holder = await asyncpg.connect(cluster.target_dsn)
    try:
        # A writer's open transaction on invoice: no index can be built on it meanwhile.
        await holder.execute("BEGIN; LOCK TABLE invoice IN ROW EXCLUSIVE MODE")
        [name] = await create_jobs(js.address, 1, target="shop_tx")
        [job] = await wait_finished(js.address, [name], limit=90)
    finally:
        await holder.close()
    assert job.state == SUCCEEDED, job.error
    assert list(job.summary.incomplete_phases) == ["what-if"]
    assert job.summary.recommendations[0].startswith("Incomplete: the what-if phase")
    [insight] = [i for i in job.summary.insights if i.code == "PHASE_INCOMPLETE"]
    assert insight.severity == "WARNING"
    assert "on public.invoice " in insight.message and "lock not available" in insight.message
    assert not any("invoice" in sql for sql in await suggestions(js.address, name))
