"""Metrics and logs of the running services: a job service and an optimizer in-process, each
with its metrics port, a gateway in front, a real job run end to end, and the optimizer as a
real process writing JSON log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from optimizer_service import app as optimizer_app
from optimizer_service.settings import Settings as OptimizerSettings
from pgsage import logs
from pgsage.embedded import free_port
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt_pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as opt_grpc
from tests.support import stack as pgsage_stack
from tests.support.pg import SHARED_PG, dsn_for

JOBS = "pgsage.jobs.v1.JobService"
OPTIMIZER = "pgsage.optimizer.v1.OptimizerService"
QUERY = "SELECT id, note FROM item WHERE owner = 7"
REPO = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def handled(found: dict, service: str, method: str, code: str) -> float:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_code": code}
    return value(found, "pgsage_grpc_server_handled_total", **labels)


async def scrape(url: str) -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


async def scrape_until(url: str, ready: Callable[[dict], bool]) -> dict:
    """A scrape where `ready` holds: a run's end is recorded a moment after its job's final
    state is visible (at most 10 s)."""
    deadline = time.monotonic() + 10
    found = await scrape(url)
    while not ready(found) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        found = await scrape(url)
    return found


@pytest.fixture(scope="module")
async def target_dsn() -> AsyncIterator[str]:
    name = f"pgsage_metrics_target_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(SHARED_PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = dsn_for(name)
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        """
        CREATE EXTENSION hypopg;
        CREATE TABLE item (id bigint PRIMARY KEY, owner int NOT NULL, note text NOT NULL);
        INSERT INTO item SELECT g, g % 500, 'note ' || g FROM generate_series(1, 20000) g;
        ANALYZE item;
        """
    )
    await conn.close()
    try:
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def shop(dsn: str) -> dict[str, object]:
    return {"name": "shop", "dsn": dsn, "what_if_engine": "hypopg", "max_sessions": 3}


@pytest.fixture(scope="module")
async def optimizer(target_dsn: str) -> AsyncIterator[optimizer_app.Running]:
    settings = OptimizerSettings.model_validate(
        {
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "metrics_port": 0,
            "targets": [shop(target_dsn)],
            "grace_seconds": 1,
        }
    )
    running = await optimizer_app.start(settings)
    yield running
    await running.stop(0.5)


@pytest.fixture(scope="module")
async def service(optimizer: optimizer_app.Running) -> AsyncIterator:
    async with (
        pgsage_stack.job_store("pgsage_metrics") as store,
        pgsage_stack.job_service(
            store,
            metrics_port=0,
            max_concurrent_jobs=2,
            optimizer_address=optimizer.address,
            poll_interval=timedelta(seconds=0.2),
        ) as running,
    ):
        yield running


@pytest.fixture(scope="module")
async def stub(service) -> AsyncIterator[job_service_pb2_grpc.JobServiceStub]:
    async with grpc.aio.insecure_channel(service.address) as channel:
        yield job_service_pb2_grpc.JobServiceStub(channel)


def metrics_url(running) -> str:
    return f"http://127.0.0.1:{running.metrics.port}/metrics"


@pytest.fixture
def json_records() -> Iterator[io.StringIO]:
    """Every log record of this process during the test, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_job_service_rpcs_by_method_and_code(service, stub):
    before = await scrape(metrics_url(service))
    missing = f"jobs/{uuid.uuid4()}"
    with pytest.raises(grpc.aio.AioRpcError) as not_found:
        await stub.GetJob(job_service_pb2.GetJobRequest(name=missing), timeout=5)
    assert not_found.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.GetJob(job_service_pb2.GetJobRequest(name="jobs/not-a-uuid"), timeout=5)
    assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    for _ in range(2):
        await stub.ListJobs(job_service_pb2.ListJobsRequest(), timeout=5)
    after = await scrape(metrics_url(service))

    def delta(method: str, code: str) -> float:
        return handled(after, JOBS, method, code) - handled(before, JOBS, method, code)

    assert delta("GetJob", "NOT_FOUND") == 1
    assert delta("GetJob", "INVALID_ARGUMENT") == 1
    assert delta("GetJob", "OK") == 0
    assert delta("ListJobs", "OK") == 2
    count = "pgsage_grpc_server_handling_seconds_count"
    get_job = {"grpc_service": JOBS, "grpc_method": "GetJob"}
    assert value(after, count, **get_job) - value(before, count, **get_job) == 2


async def test_a_job_run_is_measured_and_logged_with_its_id(service, optimizer, stub, json_records):
    jobs_before = await scrape(metrics_url(service))
    optimizer_before = await scrape(metrics_url(optimizer))
    job = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(
            job=job_pb2.Job(kind=job_pb2.Job.ANALYZE, target="shop", queries=[QUERY])
        ),
        timeout=10,
    )
    deadline = time.monotonic() + 120
    while job.state not in (job_pb2.Job.SUCCEEDED, job_pb2.Job.FAILED, job_pb2.Job.CANCELLED):
        assert time.monotonic() < deadline, f"job still {job_pb2.Job.State.Name(job.state)}"
        await asyncio.sleep(0.2)
        job = await stub.GetJob(job_service_pb2.GetJobRequest(name=job.name), timeout=5)
    assert job.state == job_pb2.Job.SUCCEEDED, job.error
    job_id = job.name.split("/", 1)[1]

    run = {"kind": "ANALYZE", "outcome": "SUCCEEDED"}
    runs = "pgsage_job_run_seconds_count"
    jobs_after = await scrape_until(
        metrics_url(service),
        lambda found: value(found, runs, **run) > value(jobs_before, runs, **run),
    )
    assert value(jobs_after, runs, **run) - value(jobs_before, runs, **run) == 1
    assert value(jobs_after, "pgsage_jobs", kind="ANALYZE", state="SUCCEEDED") == 1
    assert value(jobs_after, "pgsage_jobs", kind="ANALYZE", state="PENDING") == 0

    after = await scrape(metrics_url(optimizer))
    assert (
        handled(after, OPTIMIZER, "Analyze", "OK")
        - handled(optimizer_before, OPTIMIZER, "Analyze", "OK")
        == 1
    )
    ok = {"target": "shop", "outcome": "ok"}
    analyses = "pgsage_optimizer_analysis_seconds_count"
    assert value(after, analyses, **ok) - value(optimizer_before, analyses, **ok) == 1
    plans = "pgsage_optimizer_whatif_plans_total"
    hypopg = {"engine": "hypopg", "target": "shop"}
    assert value(after, plans, **hypopg) > value(optimizer_before, plans, **hypopg)
    assert value(after, "pgsage_optimizer_target_sessions_limit", target="shop") == 3
    assert 0 <= value(after, "pgsage_optimizer_target_sessions", target="shop") <= 3
    assert value(after, "pgsage_optimizer_target_sessions_waiting", target="shop") == 0

    lines = [json.loads(line) for line in json_records.getvalue().splitlines()]
    mine = [line for line in lines if line.get("job") == job_id]
    by_logger = {line["logger"] for line in mine}
    # The job service's run of it, and the optimizer's work for it (the id came in the
    # call's metadata), each line naming the job and the target.
    assert "job_service.driver" in by_logger
    started = [
        line
        for line in mine
        if line["logger"] == "optimizer_service.servicer"
        and line["message"] == "analysis of target shop started"
    ]
    assert len(started) == 1
    assert started[0]["rpc"] == "Analyze" and started[0]["target"] == "shop"
    assert all(line["target"] == "shop" for line in mine)


async def test_a_failing_stream_counts_with_its_code(optimizer):
    before = await scrape(metrics_url(optimizer))
    async with grpc.aio.insecure_channel(optimizer.address) as channel:
        stub = opt_grpc.OptimizerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            async for _ in stub.Analyze(opt_pb.AnalyzeRequest(target="nowhere"), timeout=10):
                pass
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
        await stub.ListTargets(opt_pb.ListTargetsRequest(), timeout=10)
    after = await scrape(metrics_url(optimizer))
    assert (
        handled(after, OPTIMIZER, "Analyze", "NOT_FOUND")
        - handled(before, OPTIMIZER, "Analyze", "NOT_FOUND")
        == 1
    )
    assert (
        handled(after, OPTIMIZER, "ListTargets", "OK")
        - handled(before, OPTIMIZER, "ListTargets", "OK")
        == 1
    )


async def test_gateway_requests_by_route_template_and_status(service):
    async with (
        pgsage_stack.gateway(service.address) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=20) as http,
    ):
        before = samples((await http.get("/metrics")).text)
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/v1/jobs")).status_code == 200
        assert (await http.get(f"/v1/jobs/{uuid.uuid4()}")).status_code == 404
        assert (await http.get(f"/v1/jobs/{uuid.uuid4()}")).status_code == 404
        assert (await http.post("/v1/nothing/here", json={})).status_code == 404
        response = await http.get("/metrics")
        assert response.status_code == 200
        after = samples(response.text)

    def delta(route: str, method: str, status: str) -> float:
        labels = {"route": route, "method": method, "status": status}
        name = "pgsage_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("/healthz", "GET", "200") == 1
    assert delta("/v1/jobs", "GET", "200") == 1
    assert delta("/v1/{name=jobs/*}", "GET", "404") == 2
    assert delta("<unmatched>", "POST", "404") == 1
    assert delta("/metrics", "GET", "200") == 1  # the first scrape
    count = "pgsage_http_request_seconds_count"
    get_job = {"route": "/v1/{name=jobs/*}", "method": "GET"}
    assert value(after, count, **get_job) - value(before, count, **get_job) == 2
    # The gateway's process serves every metric of it: the job service's RPCs made for it.
    assert handled(after, JOBS, "ListJobs", "OK") >= 1


def _env(**values: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return env | {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"} | values


TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING|ERROR) ")


async def test_the_optimizer_process_writes_json_lines(target_dsn, tmp_path):
    port, metrics_port = free_port(), free_port()
    log_path = tmp_path / "optimizer.log"
    with log_path.open("w") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "optimizer_service",
            env=_env(
                PGSAGE_LOG_FORMAT="json",
                PGSAGE_OPTIMIZER_GRPC_PORT=str(port),
                PGSAGE_OPTIMIZER_METRICS_PORT=str(metrics_port),
                PGSAGE_OPTIMIZER_TARGETS=json.dumps([shop(target_dsn)]),
            ),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    job_id = str(uuid.uuid4())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), 30)
            stub = opt_grpc.OptimizerServiceStub(channel)
            request = opt_pb.AnalyzeRequest(target="shop")
            request.workload.queries.add(text=QUERY, weight=1, calls=1)
            events = stub.Analyze(request, timeout=120, metadata=(("x-pgsage-job", job_id),))
            async for _ in events:
                pass
        found = await scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert handled(found, OPTIMIZER, "Analyze", "OK") == 1
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    stderr = log_path.read_text()
    assert proc.returncode == 0, stderr
    lines = stderr.splitlines()
    assert not [line for line in lines if TEXT_LINE.match(line)]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
    started = [r for r in records if r["message"] == "analysis of target shop started"]
    assert len(started) == 1
    assert started[0]["job"] == job_id
    assert started[0]["rpc"] == "Analyze"
    assert started[0]["target"] == "shop"
    statements = [r for r in records if r["logger"] == "pgsage.optimizer.statements"]
    assert statements and all(r["job"] == job_id for r in statements)


def test_an_unknown_log_format_stops_start_up_naming_the_variable():
    done = subprocess.run(
        [sys.executable, "-m", "optimizer_service"],
        env=_env(PGSAGE_LOG_FORMAT="xml", PGSAGE_OPTIMIZER_GRPC_PORT="0"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "PGSAGE_LOG_FORMAT must be 'json' or 'text'" in done.stderr
    assert "Traceback" not in done.stderr
