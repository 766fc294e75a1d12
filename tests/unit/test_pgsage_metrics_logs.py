"""The shared metrics and log parts: the RPC interceptor on a real grpc.aio server, the
`/metrics` endpoint over HTTP, JSON log lines and their context fields."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from job_service import database
from job_service import metrics as job_metrics
from pgsage import logs, scrape, server
from pgsage.embedded import free_port

HEALTH = "grpc.health.v1.Health"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def handled(found: dict, method: str, code: str) -> float:
    return value(
        found,
        "pgsage_grpc_server_handled_total",
        grpc_service=HEALTH,
        grpc_method=method,
        grpc_code=code,
    )


async def get(port: int, path: str = "/metrics") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", timeout=10)


async def test_every_call_is_counted_with_its_final_code_and_timed():
    srv = server.build_server(host="127.0.0.1", port=0, service_names=[HEALTH], registrars=[])
    await srv.start()
    endpoint = await scrape.start_endpoint("127.0.0.1", 0, setting="TEST_METRICS_PORT")
    try:
        before = samples((await get(endpoint.port)).text)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
            assert missing.value.code() is grpc.StatusCode.NOT_FOUND
            # Bytes that are no request: the error interceptor answers INVALID_ARGUMENT,
            # and that is the code counted.
            with pytest.raises(grpc.aio.AioRpcError) as malformed:
                await channel.unary_unary(f"/{HEALTH}/Check")(b"\xff\xff\xff", timeout=5)
            assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            # A stream counts when it ends: here the client leaves it.
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
            await watch.read()
            watch.cancel()
        response = await get(endpoint.port)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        after = samples(response.text)
        for _ in range(100):  # the server sees the cancel a moment after the client
            if handled(after, "Watch", "CANCELLED") > handled(before, "Watch", "CANCELLED"):
                break
            await asyncio.sleep(0.05)
            after = samples((await get(endpoint.port)).text)
        for method, code, more in [
            ("Check", "OK", 1),
            ("Check", "NOT_FOUND", 1),
            ("Check", "INVALID_ARGUMENT", 1),
            ("Watch", "CANCELLED", 1),
        ]:
            assert handled(after, method, code) - handled(before, method, code) == more
        count = "pgsage_grpc_server_handling_seconds_count"
        labels = {"grpc_service": HEALTH, "grpc_method": "Check"}
        assert value(after, count, **labels) - value(before, count, **labels) == 3
        bucket = "pgsage_grpc_server_handling_seconds_bucket"
        assert value(after, bucket, **labels, le="+Inf") == value(after, count, **labels)
    finally:
        await endpoint.close()
        await srv.stop(0)


async def test_the_endpoint_answers_metrics_only():
    endpoint = await scrape.start_endpoint("127.0.0.1", 0, setting="TEST_METRICS_PORT")
    try:
        assert (await get(endpoint.port, "/other")).status_code == 404
        async with httpx.AsyncClient() as client:
            posted = await client.post(f"http://127.0.0.1:{endpoint.port}/metrics")
        assert posted.status_code == 405
        assert "process_cpu_seconds_total" in (await get(endpoint.port)).text
    finally:
        await endpoint.close()


async def test_a_port_in_use_names_the_setting():
    endpoint = await scrape.start_endpoint("127.0.0.1", 0, setting="TEST_METRICS_PORT")
    try:
        with pytest.raises(server.StartupError, match="TEST_METRICS_PORT") as taken:
            await scrape.start_endpoint("127.0.0.1", endpoint.port, setting="TEST_METRICS_PORT")
        assert taken.value.exit_code == 2
    finally:
        await endpoint.close()


async def test_a_scrape_answers_without_job_counts_when_the_store_is_down():
    # Nothing listens on this port: the job counts cannot be read.
    down = database.Database(f"postgresql://postgres@127.0.0.1:{free_port()}/x", pool_size=1,
                             connect_timeout=0.5)  # fmt: skip
    counts = job_metrics.JobCounts(down)
    endpoint = await scrape.start_endpoint(
        "127.0.0.1", 0, setting="T", collectors=[counts], before_scrape=counts.refresh
    )
    try:
        response = await get(endpoint.port)
        assert response.status_code == 200
        assert "pgsage_grpc_server_handled_total" in response.text
        assert "pgsage_jobs{" not in response.text
    finally:
        await endpoint.close()
        await down.close()


async def test_a_scrape_does_not_wait_for_a_refresh_that_hangs():
    async def hang() -> None:
        await asyncio.Event().wait()

    endpoint = await scrape.start_endpoint("127.0.0.1", 0, setting="T", before_scrape=hang)
    try:
        response = await get(endpoint.port)  # its client's timeout is 10 s
        assert response.status_code == 200
        assert "process_cpu_seconds_total" in response.text
    finally:
        await endpoint.close()


def _json_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


async def test_json_lines_carry_the_context_of_their_task():
    logger, stream = _json_logger()

    async def call(job: str) -> None:
        logs.bind(rpc="Analyze", job=job, target="shop")
        # A structured field of the record never stands in for a context field.
        logger.info("working on %s", job, extra={"pgsage": {"job": "other", "kind": "SELECT"}})

    await asyncio.gather(call("j-1"), call("j-2"))
    logger.info("outside")  # the tasks' fields stay in their tasks
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "working on j-1",
        "working on j-2",
        "outside",
        "failed",
    ]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert line["time"].endswith("+00:00")
    assert lines[0] | {"time": ""} == {
        "time": "",
        "level": "INFO",
        "logger": logger.name,
        "message": "working on j-1",
        "rpc": "Analyze",
        "job": "j-1",
        "target": "shop",
        "kind": "SELECT",
    }
    assert lines[1]["job"] == "j-2"
    assert "job" not in lines[2] and "rpc" not in lines[2]
    assert lines[3]["level"] == "ERROR"
    assert "ValueError: boom" in lines[3]["exception"]


def test_log_format_setting():
    assert logs.log_format({}) == "text"
    assert logs.log_format({"PGSAGE_LOG_FORMAT": "JSON"}) == "json"
    assert logs.log_format({"PGSAGE_LOG_FORMAT": "text"}) == "text"
    with pytest.raises(ValueError, match="PGSAGE_LOG_FORMAT must be 'json' or 'text'"):
        logs.log_format({"PGSAGE_LOG_FORMAT": "xml"})


async def test_a_collector_that_fails_answers_500_and_logs_why(caplog):
    class Broken:
        def collect(self):
            raise RuntimeError("a collector's bug")

    endpoint = await scrape.start_endpoint("127.0.0.1", 0, setting="T", collectors=[Broken()])
    try:
        response = await get(endpoint.port)
        assert response.status_code == 500
        assert "collecting the metrics failed" in response.text
        assert "Traceback" not in response.text
        failures = [r.exc_info[1] for r in caplog.records if r.exc_info]
        assert any(str(exc) == "a collector's bug" for exc in failures)
    finally:
        await endpoint.close()
