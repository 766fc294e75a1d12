"""`pgsage` commands as a shell user runs them: output, messages and exit codes."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid

import grpc

from pgsage.cli.commands import login_name
from pgsage.embedded import free_port
from pgsage.jobs.v1 import job_service_pb2, job_service_pb2_grpc
from tests.support import stack as pgsage_stack
from tests.support.cli import PGSAGE, run_pgsage


async def test_analyze_then_list_show_and_cancel(pgsage, store):
    target = f"cli-{uuid.uuid4().hex[:6]}"
    created = await pgsage(
        "analyze", "--target", target, "--analysis", "missing", "--budget-mb", "5"
    )
    assert created.code == 0, created.err
    name = created.out.strip()
    assert name.startswith("jobs/")
    await pgsage_stack.seed_suggestion(store, name, title="Index on public.orders (customer_id)")

    listed = await pgsage("jobs", "list", "--target", target, "--state", "pending")
    assert listed.code == 0
    assert listed.out.splitlines()[0].split() == [
        "JOB",
        "KIND",
        "TARGET",
        "STATE",
        "PROGRESS",
        "SUGGESTIONS",
        "CREATED",
    ]
    assert name.removeprefix("jobs/") in listed.out and "pending" in listed.out

    as_json = await pgsage("jobs", "list", "--target", target, "--json")
    assert [j["name"] for j in json.loads(as_json.out)["jobs"]] == [name]

    shown = await pgsage("jobs", "show", name.removeprefix("jobs/"))
    assert shown.code == 0
    assert f"target:       {target}" in shown.out
    # Local mode: the job service takes the caller for the OS user.
    assert f"requested by: {login_name()}" in shown.out
    # Every value starts in one column, after its key and at least one space.
    facts = shown.out.split("\n\n")[0].splitlines()
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in facts}) == 1, facts
    assert all(line.split(":", 1)[1].startswith(" ") for line in facts), facts
    assert "progress:     waiting for a worker" in shown.out
    assert "Index on public.orders (customer_id)" in shown.out

    cancelled = await pgsage("jobs", "cancel", name)
    assert cancelled.code == 0 and cancelled.out.strip() == f"{name}: cancelled"


async def test_suggestions_list_approve_dismiss(pgsage, service, store):
    job = (await pgsage("analyze", "--target", "demo")).out.strip()
    first = await pgsage_stack.seed_suggestion(store, job, column="customer_id")
    second = await pgsage_stack.seed_suggestion(store, job, column="created_at")

    listed = await pgsage("suggestions", "list", "--job", job)
    assert listed.code == 0 and listed.out.count("pending") == 2

    approved = await pgsage("--actor", "alice", "suggestions", "approve", first)
    assert approved.code == 0 and approved.out.strip() == f"{first}: approved"
    assert "--actor / PGSAGE_ACTOR is ignored" in approved.err
    by_id = await pgsage(
        "suggestions",
        "dismiss",
        second.rsplit("/", 1)[1],
        "--job",
        job,
        "--reason",
        "not now",
        env={"PGSAGE_ACTOR": "bob"},
    )
    assert by_id.code == 0 and by_id.out.strip() == f"{second}: dismissed"
    assert "--actor / PGSAGE_ACTOR is ignored" in by_id.err
    # The audit trail names who did each: the verified caller (local mode: the OS user),
    # never the name the CLI was told.
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        for name, who in ((first, login_name()), (second, login_name())):
            trail = await stub.ListAuditRecords(
                job_service_pb2.ListAuditRecordsRequest(filter=f'resource = "{name}"')
            )
            assert [r.actor for r in trail.audit_records] == [who]

    again = await pgsage("suggestions", "approve", second)
    assert again.code == 1
    assert again.err.startswith("pgsage: ") and again.out == ""

    only_approved = await pgsage("suggestions", "list", "--job", job, "--state", "approved")
    assert first.rsplit("/", 1)[1] in only_approved.out
    assert second.rsplit("/", 1)[1] not in only_approved.out


async def _watch(pgsage, service, store, state: str, **seed: str):
    """Runs `analyze --watch`, then ends its job in `state` as the dispatcher would."""
    target = f"watch-{uuid.uuid4().hex[:6]}"
    watching = asyncio.create_task(pgsage("analyze", "--target", target, "--watch"))
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        jobs = []
        for _ in range(300):
            page = await stub.ListJobs(
                job_service_pb2.ListJobsRequest(filter=f'target = "{target}"'), timeout=5
            )
            jobs = list(page.jobs)
            if jobs:
                break
            await asyncio.sleep(0.05)
    name = jobs[0].name
    if seed:
        await pgsage_stack.seed_suggestion(store, name, **seed)
    await pgsage_stack.finish_job(store, name, state)
    return name, target, await watching


async def test_analyze_watch_follows_the_job_to_its_end(pgsage, service, store):
    title = "Index on public.orders (created_at)"
    name, target, result = await _watch(pgsage, service, store, "SUCCEEDED", title=title)
    assert result.code == 0, result.err
    assert f"{name} started on {target}" in result.err
    assert "succeeded" in result.err  # the progress lines
    assert "state:        succeeded" in result.out
    assert "progress:     done\n" in result.out
    assert title in result.out


async def test_analyze_watch_of_a_job_that_fails_exits_1(pgsage, service, store):
    _, _, result = await _watch(pgsage, service, store, "FAILED")
    assert result.code == 1
    assert "state:        failed" in result.out
    assert "progress:     failed at 0%\n" in result.out


async def test_errors_and_exit_codes(pgsage):
    unknown = await pgsage("jobs", "show", str(uuid.uuid4()))
    assert unknown.code == 1 and "does not exist" in unknown.err

    bad_name = await pgsage("jobs", "show", "jobs/a/b")
    assert bad_name.code == 2 and "is not a job" in bad_name.err

    usage = await pgsage("jobs", "frobnicate")
    assert usage.code == 2 and "usage:" in usage.err

    bad_state = await pgsage("jobs", "list", "--state", "sleeping")
    assert bad_state.code == 2 and "unknown state 'sleeping'" in bad_state.err

    server_says_invalid = await pgsage("analyze", "--target", "")
    assert server_says_invalid.code == 2 and "job.target" in server_says_invalid.err

    no_suggestion_job = await pgsage("suggestions", "approve", "abc")
    assert no_suggestion_job.code == 2


async def test_an_unreachable_job_service_exits_3_and_says_where():
    address = f"127.0.0.1:{free_port()}"
    result = await run_pgsage("jobs", "list", env={"PGSAGE_ADDRESS": address})
    assert result.code == 3
    assert result.err.strip().startswith(f"pgsage: cannot reach the job service at {address}")


async def test_ctrl_c_while_watching_leaves_the_job_running_and_says_so(service):
    process = await asyncio.create_subprocess_exec(
        str(PGSAGE),
        "--address",
        service.address,
        "analyze",
        "--target",
        "demo",
        "--watch",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    started = await asyncio.wait_for(process.stderr.readline(), 60)
    name = started.decode().split()[0]
    assert name.startswith("jobs/")
    process.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 130
    assert f"stopped watching; the job goes on: pgsage jobs show {name}" in err.decode()
    assert "Traceback" not in err.decode()
