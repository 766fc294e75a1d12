"""Builds of any length, watched: an APPLY runs under its own build and lock timeouts (not
the analysis statement_timeout), streams the build's progress into the job, and a build that
runs past its build timeout fails at once, leaving the target as it was.

Real processes (job service, optimizer); a blocker session holding a write transaction on
the indexed table makes the build wait ("waiting for writers before build") for as long as
the test decides, so no test depends on how fast the machine builds an index.
"""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
from google.protobuf import duration_pb2

from pgsage import errors, rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc, suggestion_pb2
from tests.support.dispatch import (
    alice,
    approved_create_index,
    catalog,
    check_invariants,
    wait_finished,
)

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromMilliseconds(int(value * 1000))
    return d


async def start(cluster, **target: object):
    shop = {"name": "shop", "dsn": cluster.target_dsn, "what_if_engine": "hypopg"}
    shop.update(apply_allowed=True, **target)
    opt = cluster.optimizer(targets=[shop]).start()
    await opt.wait_serving()
    js = cluster.job_service(opt).start()
    await js.wait_serving()
    return js


async def blocked_apply(
    cluster, stub, suggestion: str, options: job_pb2.ChangeOptions, hold: float
):
    """Creates the APPLY while a write transaction on invoice is open, and keeps it open for
    `hold` seconds once the build waits for it; returns the job's progress as it was seen."""
    blocker = await asyncpg.connect(cluster.target_dsn)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("UPDATE invoice SET amount = amount WHERE id = 1")
    seen: list[job_pb2.Progress] = []
    try:
        job = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                job=Job(
                    kind=Job.APPLY, target="shop", suggestion=suggestion, change_options=options
                )
            ),
            metadata=await alice(stub),
        )
        loop = asyncio.get_running_loop()
        until = None
        for _ in range(600):
            now = await stub.GetJob(job_service_pb2.GetJobRequest(name=job.name))
            if now.progress.stage == "build":
                seen.append(now.progress)
                until = until or loop.time() + hold
            if now.state in (Job.SUCCEEDED, Job.FAILED, Job.CANCELLED) or (
                until is not None and loop.time() >= until
            ):
                break
            await asyncio.sleep(0.1)
    finally:
        await tx.rollback()
        await blocker.close()
    return job, seen


async def test_a_build_outlasting_the_statement_timeout_succeeds_and_shows_its_progress(cluster):
    # Analyses on this target stop a statement after 0.3 s; the build waits 2 s for a writer.
    js = await start(cluster, statement_timeout_ms=300)
    before = await catalog(cluster.target_dsn)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        listed = await stub.ListTargets(job_service_pb2.ListTargetsRequest())
        [shop] = listed.targets
        assert shop.build_timeout.ToMilliseconds() == 0  # none, by default
        assert shop.lock_timeout.ToMilliseconds() == 1000
        s = await approved_create_index(stub, js.address)
        options = job_pb2.ChangeOptions(lock_timeout=seconds(60))
        job, seen = await blocked_apply(cluster, stub, s.name, options, hold=2.0)
        [done] = await wait_finished(js.address, [job.name], limit=60)
        assert done.state == Job.SUCCEEDED, done
        assert done.attempt == 1
        assert done.change_options.lock_timeout.ToMilliseconds() == 60_000
    # While it waited, the job said what the build was doing, from pg_stat_progress_create_index.
    assert seen, "no build progress reached the job"
    assert any("waiting for writers before build" in p.message for p in seen), seen
    assert any("transactions" in p.message for p in seen), seen
    added = sorted(set(await catalog(cluster.target_dsn)) - set(before))
    assert len(added) == 1 and added[0][1] is True, added
    conn = await asyncpg.connect(cluster.target_dsn)
    await conn.execute(f'DROP INDEX public."{added[0][0]}"')
    await conn.close()


async def test_a_build_past_its_build_timeout_fails_at_once_and_leaves_nothing(cluster):
    js = await start(cluster)
    before = await catalog(cluster.target_dsn)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        s = await approved_create_index(stub, js.address)
        options = job_pb2.ChangeOptions(build_timeout=seconds(0.5), lock_timeout=seconds(60))
        job, _ = await blocked_apply(cluster, stub, s.name, options, hold=5.0)
        [done] = await wait_finished(js.address, [job.name], limit=60)
        assert done.state == Job.FAILED, done
        # Not retried: another attempt would wait as long.
        assert done.attempt == 1 and done.max_attempts > 1
        reason, metadata = errors.from_status(done.error)
        assert (reason, metadata.get("phase")) == ("BUILD_TIMEOUT", "build"), done.error
        assert "build timeout (0.5 s)" in done.error.message, done.error.message
    assert await catalog(cluster.target_dsn) == before  # no INVALID index left behind
    conn = await cluster.store_conn()
    await check_invariants(conn)
    await conn.close()


async def test_change_options_are_checked_and_only_for_changes(cluster):
    js = await start(cluster)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        cases = [
            (
                Job(target="shop", change_options=job_pb2.ChangeOptions(build_timeout=seconds(1))),
                "job.change_options",
            ),
            (
                Job(
                    kind=Job.APPLY,
                    target="shop",
                    suggestion="jobs/00000000-0000-0000-0000-000000000001/suggestions/"
                    "00000000-0000-0000-0000-000000000002",
                    change_options=job_pb2.ChangeOptions(lock_timeout=seconds(0)),
                ),
                "job.change_options.lock_timeout",
            ),
            (
                Job(
                    kind=Job.ROLLBACK,
                    target="shop",
                    suggestion="jobs/00000000-0000-0000-0000-000000000001/suggestions/"
                    "00000000-0000-0000-0000-000000000002",
                    change_options=job_pb2.ChangeOptions(build_timeout=seconds(90_000)),
                ),
                "job.change_options.build_timeout",
            ),
        ]
        for job, field in cases:
            try:
                await stub.CreateJob(job_service_pb2.CreateJobRequest(job=job))
                raise AssertionError(f"{field} must be refused")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc
                _, metadata = errors.from_status(rpc.status_of(exc))
                assert metadata.get("field") == field, (field, exc.details())


async def test_a_cancelled_build_stops_drops_its_index_and_puts_the_suggestion_back(cluster):
    js = await start(cluster)
    before = await catalog(cluster.target_dsn)
    blocker = await asyncpg.connect(cluster.target_dsn)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("UPDATE invoice SET amount = amount WHERE id = 1")
    try:
        async with grpc.aio.insecure_channel(js.address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            s = await approved_create_index(stub, js.address)
            job = await stub.CreateJob(
                job_service_pb2.CreateJobRequest(
                    job=Job(
                        kind=Job.APPLY,
                        target="shop",
                        suggestion=s.name,
                        change_options=job_pb2.ChangeOptions(lock_timeout=seconds(120)),
                    )
                ),
                metadata=await alice(stub),
            )
            for _ in range(300):  # until the build waits for the blocker
                now = await stub.GetJob(job_service_pb2.GetJobRequest(name=job.name))
                if "waiting for writers" in now.progress.message:
                    break
                await asyncio.sleep(0.1)
            assert "waiting for writers" in now.progress.message, now.progress
            await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name))
            [done] = await wait_finished(js.address, [job.name], limit=60)
            assert done.state == Job.CANCELLED, done
            back = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
            assert back.state == Suggestion.APPROVED, back
    finally:
        await tx.rollback()
        await blocker.close()
    # Nothing of the build is left, valid or INVALID (the cleanup runs on after the cancel).
    for _ in range(100):
        if await catalog(cluster.target_dsn) == before:
            break
        await asyncio.sleep(0.1)
    assert await catalog(cluster.target_dsn) == before
    conn = await cluster.store_conn()
    await check_invariants(conn)
    await conn.close()
