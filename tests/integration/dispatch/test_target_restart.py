"""A target restarted while a job analyses it, through real processes (`python -m
job_service`, `python -m optimizer_service`): the optimizer ends the stream UNAVAILABLE with
reason TARGET_UNAVAILABLE, the job service requeues the job with that reason (not as a
broken stream, not FAILED), and the job reaches SUCCEEDED once the target is back.

The target is a cluster of this module's own (restarted here; never the shared server).
The analysis is held at a known point without timing: a session of the test holds an
ACCESS EXCLUSIVE lock on the table the workload reads, so the optimizer's plan waits
(seen in pg_stat_activity) until the restart ends it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from google.rpc import status_pb2

from pgsage import errors as pgsage_errors
from pgsage.embedded import EmbeddedPostgres
from pgsage.jobs.v1 import job_pb2
from tests.support import clusters
from tests.support.dispatch import TARGET_SCHEMA, check_invariants, create_jobs, wait_finished

# The embedded PostgreSQL has no HypoPG: the transactional engine plans on it.
SCHEMA = TARGET_SCHEMA.replace("CREATE EXTENSION IF NOT EXISTS hypopg;", "")
OPTIMIZER_APPLICATION = "pgsage-optimizer"


@pytest.fixture(scope="module")
async def target() -> AsyncIterator[EmbeddedPostgres]:
    async with clusters.own_cluster("restart", "immediate") as pg:
        conn = await asyncpg.connect(pg.dsn())
        try:
            await conn.execute(SCHEMA)
        finally:
            await conn.close()
        yield pg


async def wait_for_waiting_optimizer(dsn: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                # at work for a job: `pgsage-optimizer jobs/<id>`
                "WHERE wait_event_type = 'Lock' AND split_part(application_name, ' jobs/', 1) = $1",
                OPTIMIZER_APPLICATION,
            ):
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("the optimizer never waited on the held lock")


async def requeue_reasons(store: asyncpg.Connection, name: str) -> list[str]:
    """The ErrorInfo reasons of every time the job went back to PENDING."""
    rows = await store.fetch(
        "SELECT snapshot->>'error' AS error FROM job_event "
        "WHERE job_id = $1 AND event_type = 'requeued' ORDER BY revision",
        uuid.UUID(name.rsplit("/", 1)[1]),
    )
    reasons = []
    for row in rows:
        # ->> gives bytea's JSON text form, `\x` and hex digits.
        status = status_pb2.Status.FromString(bytes.fromhex(row["error"].removeprefix("\\x")))
        reasons.append(pgsage_errors.from_status(status)[0])
    return reasons


async def test_a_target_restart_mid_job_requeues_it_as_target_unavailable_then_it_succeeds(
    cluster, target
):
    opt = cluster.optimizer(
        targets=[
            {
                "name": "shop",
                "dsn": target.dsn(),
                "what_if_engine": "transactional",
                "statement_timeout_ms": 120_000,
                "lock_timeout_ms": 120_000,
            }
        ]
    ).start()
    await opt.wait_serving()
    # One attempt: the target's absence must not use it, however many times the job waits.
    js = cluster.job_service(opt, PGSAGE_JOBS_MAX_ATTEMPTS="1").start()
    await js.wait_serving()
    blocker = await asyncpg.connect(target.dsn())
    try:
        await blocker.execute("BEGIN; LOCK TABLE invoice IN ACCESS EXCLUSIVE MODE")
        [name] = await create_jobs(js.address, 1)
        await wait_for_waiting_optimizer(target.dsn())
        # A fast stop terminates every backend (57P01): the optimizer's waiting plan too.
        await asyncio.to_thread(target.stop, "fast")
    finally:
        blocker.terminate()
    await asyncio.to_thread(target.start)
    [job] = await wait_finished(js.address, [name], limit=120)
    assert job.state == job_pb2.Job.SUCCEEDED, job
    assert job.attempt == 1, job
    assert job.counts.suggestions >= 1
    store = await cluster.store_conn()
    try:
        reasons = await requeue_reasons(store, name)
        # Every requeue was the target's absence, never a broken stream or INTERNAL.
        assert reasons and set(reasons) == {"TARGET_UNAVAILABLE"}, reasons
        await check_invariants(store)
    finally:
        await store.close()
    log = (cluster.tmp / "optimizer.log").read_text()
    assert "Traceback" not in log and target.dsn() not in log
