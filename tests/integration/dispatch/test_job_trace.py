"""A job is named on the target and traced end to end, through real processes
(`python -m job_service`, `python -m optimizer_service`, both with `PGSAGE_LOG_FORMAT=json`
and `OTEL_TRACES_EXPORTER=console`).

While the analysis waits on a lock the test holds, pg_stat_activity names the optimizer's
session `pgsage-optimizer jobs/<id>`. Once the job has succeeded, one trace goes from the job
service's run of the job through its gRPC call to the optimizer's Analyze and the analysis's
phases, and both services' JSON log lines about the job carry that trace's id."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from pgsage.embedded import free_port
from pgsage.jobs.v1 import job_pb2
from tests.support.dispatch import ROOT, _base_env, create_jobs, wait_finished

ANALYZE = "/pgsage.optimizer.v1.OptimizerService/Analyze"


async def waiting_optimizer_names(dsn: str, limit: float = 60) -> list[str]:
    """The application_name of the optimizer's sessions waiting on a lock, once there is one."""
    deadline = time.monotonic() + limit
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            names = await conn.fetch(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND application_name LIKE 'pgsage-optimizer%'"
            )
            if names:
                return [r["application_name"] for r in names]
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("the optimizer never waited on the held lock")


def read_lines(path: Path) -> tuple[list[dict], list[dict]]:
    """(log records, spans) of a service's output (its JSON lines: a library's warning on
    stderr may be plain text)."""
    records, spans = [], []
    text = path.read_text()
    assert "Traceback" not in text
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        (spans if "context" in item and "kind" in item else records).append(item)
    return records, spans


async def test_the_job_names_the_optimizer_session_and_one_trace_spans_both_services(
    cluster, target_dsn
):
    traced = {"PGSAGE_LOG_FORMAT": "json", "OTEL_TRACES_EXPORTER": "console"}
    target = {
        "name": "shop",
        "dsn": target_dsn,
        "what_if_engine": "hypopg",
        "statement_timeout_ms": 120_000,
        "lock_timeout_ms": 120_000,
    }
    opt = cluster.optimizer(targets=[target], **traced).start()
    await opt.wait_serving()
    js = cluster.job_service(opt, **traced).start()
    await js.wait_serving()
    blocker = await asyncpg.connect(target_dsn)
    try:
        await blocker.execute("BEGIN; LOCK TABLE invoice IN ACCESS EXCLUSIVE MODE")
        [name] = await create_jobs(js.address, 1)
        names = await waiting_optimizer_names(target_dsn)
    finally:
        await blocker.close()
    assert names == [f"pgsage-optimizer {name}"], names
    [job] = await wait_finished(js.address, [name], limit=120)
    assert job.state == job_pb2.Job.SUCCEEDED, job
    assert js.terminate() == 0 and opt.terminate() == 0
    job_id = name.removeprefix("jobs/")

    js_records, js_spans = read_lines(cluster.tmp / "jobs.log")
    opt_records, opt_spans = read_lines(cluster.tmp / "optimizer.log")
    [run] = [s for s in js_spans if s["name"] == "job.run"]
    assert run["attributes"]["pgsage.job"] == name
    trace_id = run["context"]["trace_id"]  # 0x-prefixed hex
    in_trace = [s for s in js_spans + opt_spans if s["context"]["trace_id"] == trace_id]
    by_name = {s["name"]: s for s in in_trace}
    # The job service's client call and the optimizer's server span of the same Analyze.
    client = [s for s in js_spans if s["name"] == ANALYZE and s["kind"] == "SpanKind.CLIENT"]
    server = [s for s in opt_spans if s["name"] == ANALYZE and s["kind"] == "SpanKind.SERVER"]
    assert [s["context"]["trace_id"] for s in client + server] == [trace_id, trace_id]
    assert server[0]["parent_id"] == client[0]["context"]["span_id"]
    # The job's phases on both sides.
    assert {"job.begin", "job.optimizer", "job.end"} <= set(by_name), sorted(by_name)
    assert {"analysis.workload", "analysis.plan"} <= set(by_name), sorted(by_name)
    # Probes (health checks, the job service's of the optimizer too) leave no span.
    assert not [s for s in js_spans + opt_spans if "grpc.health" in s["name"]]

    hex_id = trace_id.removeprefix("0x")
    about_job = [r for r in js_records + opt_records if r.get("job") == job_id]
    assert {r["logger"].split(".")[0] for r in about_job} >= {"job_service", "pgsage"}
    started = [r for r in opt_records if r["message"] == "analysis of target shop started"]
    assert [r["job"] for r in started] == [job_id]
    assert [r.get("trace_id") for r in started] == [hex_id]
    statements = [r for r in opt_records if r["logger"] == "pgsage.optimizer.statements"]
    assert statements and {r.get("trace_id") for r in statements} == {hex_id}
    attempt = [r for r in js_records if r["message"].startswith(f"job {job_id}: attempt")]
    assert [r.get("trace_id") for r in attempt] == [hex_id]


async def test_a_rest_call_continues_the_callers_trace_through_the_gateway_to_the_job_service(
    cluster,
):
    traced = {"PGSAGE_LOG_FORMAT": "json", "OTEL_TRACES_EXPORTER": "console"}
    js = cluster.job_service("127.0.0.1:9", **traced).start()  # no optimizer needed
    await js.wait_serving()
    port = free_port()
    log_path = cluster.tmp / "gateway.log"
    with log_path.open("ab") as log:
        gateway = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            env={
                **_base_env(),
                **traced,
                "PGSAGE_GATEWAY_HTTP_PORT": str(port),
                "PGSAGE_GATEWAY_JOB_SERVICE_ADDRESS": js.address,
            },
            cwd=ROOT,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(300):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            created = await http.post(
                "/v1/jobs",
                json={"target": "shop", "queries": ["SELECT 1"]},
                headers={"traceparent": f"00-{trace_id}-{parent}-01"},
            )
            assert created.status_code == 200, created.text
    finally:
        gateway.terminate()
        await asyncio.wait_for(gateway.wait(), 30)
    assert gateway.returncode == 0
    assert js.terminate() == 0
    _, gateway_spans = read_lines(log_path)
    _, js_spans = read_lines(cluster.tmp / "jobs.log")
    create = "/pgsage.jobs.v1.JobService/CreateJob"
    # One server span: the probes (/readyz above) leave none.
    [http_span] = [s for s in gateway_spans if s["kind"] == "SpanKind.SERVER"]
    assert http_span["name"].startswith("POST /v1/jobs")
    assert http_span["context"]["trace_id"] == f"0x{trace_id}"
    assert http_span["parent_id"] == f"0x{parent}"
    [client] = [s for s in gateway_spans if s["name"] == create]
    [server] = [s for s in js_spans if s["name"] == create]
    assert client["parent_id"] == http_span["context"]["span_id"]
    assert server["parent_id"] == client["context"]["span_id"]
    assert server["context"]["trace_id"] == f"0x{trace_id}"
