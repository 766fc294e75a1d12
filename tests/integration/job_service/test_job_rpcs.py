"""Jobs through the real gRPC API: create, get, list, count, cancel, retry, delete."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from pgsage import errors, rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2

Job = job_pb2.Job


async def test_create_then_get_returns_the_stored_job(stub, create):
    options = job_pb2.AnalysisOptions(storage_budget_bytes=10_000_000, max_indexes=3)
    job = await create(
        "demo",
        analysis_types=[job_pb2.MISSING_INDEXES],
        options=options,
        queries=["SELECT 1"],
    )
    assert job.state == Job.PENDING and job.kind == Job.ANALYZE
    assert job.revision == 1 and job.etag
    got = await stub.GetJob(job_service_pb2.GetJobRequest(name=job.name), timeout=5)
    assert got == job
    assert got.options.max_indexes == 3 and list(got.queries) == ["SELECT 1"]


async def test_create_is_idempotent_under_50_concurrent_calls(stub, db):
    request = job_service_pb2.CreateJobRequest(
        job=Job(target="idem"), request_id="req-50-concurrent"
    )
    jobs = await asyncio.gather(*(stub.CreateJob(request, timeout=20) for _ in range(50)))
    assert len({j.name for j in jobs}) == 1
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM job WHERE target = 'idem'") == 1
        # One creation event, not fifty.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM job_event e JOIN job j ON j.id = e.job_id "
                "WHERE j.target = 'idem'"
            )
            == 1
        )


@pytest.mark.parametrize(
    ("job", "request_id", "field"),
    [
        (None, "", "job"),
        (Job(), "", "job.target"),
        (Job(target="x", kind=Job.APPLY), "", "job.suggestion"),
        (Job(target="x", suggestion="jobs/1/suggestions/2"), "", "job.suggestion"),
        (Job(target="x", kind=Job.APPLY, suggestion="nope"), "", "job.suggestion"),
        (Job(target="x", analysis_types=[0]), "", "job.analysis_types"),
        (Job(target="x", options=job_pb2.AnalysisOptions(max_indexes=-1)), "", None),
        (Job(target="x"), "r" * 129, "request_id"),
        (Job(target="x", queries=["  "]), "", "job.queries[0]"),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(stub, job, request_id, field):
    request = job_service_pb2.CreateJobRequest(job=job, request_id=request_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateJob(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, metadata = errors.from_status(rpc.status_of(caught.value))
    assert metadata["field"] == (field or "job.options.max_indexes")


async def test_apply_job_needs_an_existing_suggestion_on_its_target(
    stub, create, seed, expect_error
):
    parent = await create("demo")
    missing = f"{parent.name}/suggestions/00000000-0000-0000-0000-000000000000"
    call = stub.CreateJob(
        job_service_pb2.CreateJobRequest(job=Job(target="demo", kind=Job.APPLY, suggestion=missing))
    )
    await expect_error(call, grpc.StatusCode.NOT_FOUND, "SUGGESTION_NOT_FOUND")
    s = await seed(parent.name)
    name = f"{parent.name}/suggestions/{s.id}"
    other = stub.CreateJob(
        job_service_pb2.CreateJobRequest(job=Job(target="other", kind=Job.APPLY, suggestion=name))
    )
    await expect_error(other, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD")
    # Only an approved suggestion is applied, and only one change job at a time.
    apply = job_service_pb2.CreateJobRequest(
        job=Job(target="demo", kind=Job.APPLY, suggestion=name)
    )
    await expect_error(
        stub.CreateJob(apply), grpc.StatusCode.FAILED_PRECONDITION, "INVALID_STATE_TRANSITION"
    )
    rollback = job_service_pb2.CreateJobRequest(
        job=Job(target="demo", kind=Job.ROLLBACK, suggestion=name)
    )
    await expect_error(
        stub.CreateJob(rollback), grpc.StatusCode.FAILED_PRECONDITION, "INVALID_STATE_TRANSITION"
    )
    await stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=name))
    job = await stub.CreateJob(apply)
    assert job.kind == Job.APPLY and job.suggestion == name
    await expect_error(
        stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                job=Job(target="demo", kind=Job.APPLY, suggestion=name)
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )


async def test_get_errors(stub, expect_error):
    await expect_error(
        stub.GetJob(job_service_pb2.GetJobRequest(name="jobs/not-a-uuid")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_NAME",
    )
    meta = await expect_error(
        stub.GetJob(
            job_service_pb2.GetJobRequest(name="jobs/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12)
        ),
        grpc.StatusCode.NOT_FOUND,
        "JOB_NOT_FOUND",
    )
    assert meta["resource"].startswith("jobs/")


async def test_list_filters_and_count(stub, create, db, finish):
    a = await create("list-a", kind=Job.ANALYZE)
    b = await create("list-a")
    c = await create("list-b")
    await finish(b.name, "FAILED")
    await stub.CancelJob(job_service_pb2.CancelJobRequest(name=c.name))

    async def names(flt: str) -> list[str]:
        response = await stub.ListJobs(job_service_pb2.ListJobsRequest(filter=flt), timeout=5)
        return [j.name for j in response.jobs]

    assert await names('target = "list-a"') == [b.name, a.name]  # newest first
    assert await names('target = "list-a" AND state = PENDING') == [a.name]
    assert await names("target = list-b AND state = (CANCELLED, FAILED)") == [c.name]
    assert await names('state = (FAILED, CANCELLED) AND target = "list-a"') == [b.name]
    assert await names('kind = APPLY AND target = "list-a"') == []
    since = a.create_time.ToJsonString()
    assert await names(f'create_time >= "{since}" AND target = "list-a"') == [b.name, a.name]
    assert await names(f'create_time < "{since}" AND target = "list-a"') == []

    counts = await stub.CountJobs(job_service_pb2.CountJobsRequest(filter='target = "list-a"'))
    by_state = {Job.State.Name(c.state): c.count for c in counts.counts}
    assert by_state == {
        "PENDING": 1,
        "RUNNING": 0,
        "CANCELLING": 0,
        "SUCCEEDED": 0,
        "FAILED": 1,
        "CANCELLED": 0,
    }
    assert counts.total == 2


@pytest.mark.parametrize(
    "flt",
    [
        "state = DONE",
        "color = red",
        "state > PENDING",
        "target = (a, b)",
        "state = PENDING OR state = RUNNING",
        'create_time >= "yesterday"',
        'create_time >= "2026-01-01T00:00:00"',
        "state = PENDING AND state = RUNNING",
        "state =",
        "target = 'x'",
    ],
)
async def test_list_rejects_a_bad_filter(stub, flt, expect_error):
    meta = await expect_error(
        stub.ListJobs(job_service_pb2.ListJobsRequest(filter=flt)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FILTER",
    )
    assert meta["field"] == "filter"


async def test_count_refuses_a_state_term(stub, expect_error):
    await expect_error(
        stub.CountJobs(job_service_pb2.CountJobsRequest(filter="state = PENDING")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FILTER",
    )


async def test_page_token_is_bound_to_its_filter(stub, create, expect_error):
    for _ in range(3):
        await create("tokens")
    first = await stub.ListJobs(
        job_service_pb2.ListJobsRequest(filter='target = "tokens"', page_size=2)
    )
    assert len(first.jobs) == 2 and first.next_page_token
    second = await stub.ListJobs(
        job_service_pb2.ListJobsRequest(
            filter='target = "tokens"', page_size=2, page_token=first.next_page_token
        )
    )
    assert len(second.jobs) == 1 and not second.next_page_token
    for token, flt in [(first.next_page_token, "state = PENDING"), ("garbage", "")]:
        meta = await expect_error(
            stub.ListJobs(job_service_pb2.ListJobsRequest(filter=flt, page_token=token)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
        )
        assert meta["field"] == "page_token"
    # The same filter written differently is the same filter.
    same = await stub.ListJobs(
        job_service_pb2.ListJobsRequest(
            filter='target="tokens"', page_size=2, page_token=first.next_page_token
        )
    )
    assert [j.name for j in same.jobs] == [j.name for j in second.jobs]


async def test_cancel_lifecycle(stub, create, db, expect_error, finish):
    job = await create("cancel")
    stale = job.etag
    cancelled = await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name, etag=job.etag))
    assert cancelled.state == Job.CANCELLED and cancelled.cancel_requested
    assert cancelled.revision == job.revision + 1 and cancelled.etag != stale
    assert cancelled.HasField("end_time") and cancelled.HasField("expire_time")
    # Again: unchanged, no new revision.
    again = await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name))
    assert again == cancelled
    await expect_error(
        stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name, etag=stale)),
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
    )
    # A running job goes CANCELLING (its runner finishes the cancel).
    running = await create("cancel")
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE job SET state = 'RUNNING' WHERE id = $1::uuid", running.name.split("/")[1]
        )
    cancelling = await stub.CancelJob(job_service_pb2.CancelJobRequest(name=running.name))
    assert cancelling.state == Job.CANCELLING and cancelling.cancel_requested
    assert not cancelling.HasField("end_time")
    unchanged = await stub.CancelJob(job_service_pb2.CancelJobRequest(name=running.name))
    assert unchanged.revision == cancelling.revision
    # A finished one cannot be cancelled.
    done = await create("cancel")
    await finish(done.name)
    await expect_error(
        stub.CancelJob(job_service_pb2.CancelJobRequest(name=done.name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )


async def test_retry_requeues_failed_and_cancelled_jobs_keeping_the_workload(
    stub, create, db, expect_error
):
    job = await create("retry")
    await expect_error(
        stub.RetryJob(job_service_pb2.RetryJobRequest(name=job.name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE job SET state = 'FAILED', attempt = 3, workload = '\\x0102'::bytea, "
            "error = '\\x08'::bytea, end_time = now(), expire_time = now() WHERE id = $1::uuid",
            job.name.split("/")[1],
        )
    retried = await stub.RetryJob(job_service_pb2.RetryJobRequest(name=job.name))
    assert retried.state == Job.PENDING
    assert not retried.HasField("error") and not retried.HasField("end_time")
    assert not retried.HasField("expire_time")
    assert retried.attempt == 3 and retried.max_attempts == 6
    async with db.connection() as conn:
        workload = await conn.fetchval(
            "SELECT workload FROM job WHERE id = $1::uuid", job.name.split("/")[1]
        )
    assert workload == b"\x01\x02"
    cancelled = await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name))
    again = await stub.RetryJob(job_service_pb2.RetryJobRequest(name=job.name, etag=cancelled.etag))
    assert again.state == Job.PENDING


async def test_delete_only_finished_jobs_without_live_suggestions(
    stub, create, seed, db, expect_error, finish
):
    pending = await create("delete")
    await expect_error(
        stub.DeleteJob(job_service_pb2.DeleteJobRequest(name=pending.name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "JOB_NOT_DELETABLE",
    )
    for live_state in ("APPLYING", "APPLIED", "ROLLING_BACK", "ROLLBACK_FAILED"):
        owner = await create("delete")
        await seed(owner.name, state=live_state)
        await finish(owner.name)
        meta = await expect_error(
            stub.DeleteJob(job_service_pb2.DeleteJobRequest(name=owner.name)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "JOB_NOT_DELETABLE",
        )
        assert meta["resource"] == owner.name
    done = await create("delete")
    await seed(done.name, state="DISMISSED")
    await finish(done.name)
    await expect_error(
        stub.DeleteJob(job_service_pb2.DeleteJobRequest(name=done.name, etag="999")),
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
    )
    await stub.DeleteJob(job_service_pb2.DeleteJobRequest(name=done.name))
    await expect_error(
        stub.GetJob(job_service_pb2.GetJobRequest(name=done.name)),
        grpc.StatusCode.NOT_FOUND,
        "JOB_NOT_FOUND",
    )
    async with db.connection() as conn:
        job_id = done.name.split("/")[1]
        assert (
            await conn.fetchval("SELECT count(*) FROM suggestion WHERE job_id = $1::uuid", job_id)
            == 0
        )
        assert (
            await conn.fetchval("SELECT count(*) FROM job_event WHERE job_id = $1::uuid", job_id)
            == 0
        )
    await expect_error(
        stub.DeleteJob(job_service_pb2.DeleteJobRequest(name=done.name)),
        grpc.StatusCode.NOT_FOUND,
        "JOB_NOT_FOUND",
    )
