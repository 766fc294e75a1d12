"""The shared server runtime: health with Check, Watch and List; reflection; shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import socket
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pgsage import health, server
from pgsage.jobs.v1 import job_service_pb2

GRPCURL = str(pathlib.Path(sys.executable).parent / "grpcurl")
NAME = job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name


async def start():
    srv = server.build_server(host="127.0.0.1", port=0, service_names=[NAME], registrars=[])
    await srv.start()
    return srv


async def test_list_reports_every_service_and_follows_set():
    srv = await start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            listed = await stub.List(health_pb2.HealthListRequest(), timeout=5)
            assert {k: v.status for k, v in listed.statuses.items()} == {
                "": health.NOT_SERVING,
                NAME: health.NOT_SERVING,
            }
            await srv.health.set(NAME, health.SERVING)
            checked = await stub.Check(health_pb2.HealthCheckRequest(service=NAME), timeout=5)
            assert checked.status == health.SERVING
            unknown = stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
            try:
                await unknown
                raise AssertionError("unknown service must be NOT_FOUND")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await srv.stop(0)


async def test_watch_sees_graceful_shutdown_as_not_serving():
    srv = await start()
    await srv.health.set("", health.SERVING)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        first = await asyncio.wait_for(stream.read(), 5)
        assert first.status == health.SERVING
        await srv.health.enter_graceful_shutdown()
        second = await asyncio.wait_for(stream.read(), 5)
        assert second.status == health.NOT_SERVING
        stream.cancel()
    await srv.grpc_server.stop(0)


async def test_reflection_lets_grpcurl_list_and_describe():
    srv = await start()
    try:
        target = f"127.0.0.1:{srv.port}"
        listed = await asyncio.to_thread(
            subprocess.run,
            [GRPCURL, "-plaintext", target, "list"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed.returncode == 0, listed.stderr
        assert NAME in listed.stdout.split()
        assert "grpc.health.v1.Health" in listed.stdout.split()
        described = await asyncio.to_thread(
            subprocess.run,
            [GRPCURL, "-plaintext", target, "describe", NAME],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert described.returncode == 0, described.stderr
        assert "rpc CreateJob ( .pgsage.jobs.v1.CreateJobRequest )" in described.stdout
        listed_health = await asyncio.to_thread(
            subprocess.run,
            [GRPCURL, "-plaintext", target, "grpc.health.v1.Health/List"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed_health.returncode == 0, listed_health.stderr
        assert NAME in json.loads(listed_health.stdout)["statuses"]
    finally:
        await srv.stop(0)


# -- start-up: what stops a service is one line naming what to change ---------------------


def _run_module(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _the_error_line(done: subprocess.CompletedProcess[str]) -> str:
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    [line] = [ln for ln in output.splitlines() if " ERROR " in ln]
    return line


@pytest.mark.parametrize(
    ("module", "host_var", "port_var"),
    [
        ("optimizer_service", "PGSAGE_OPTIMIZER_GRPC_HOST", "PGSAGE_OPTIMIZER_GRPC_PORT"),
        ("gateway", "PGSAGE_GATEWAY_HOST", "PGSAGE_GATEWAY_HTTP_PORT"),
    ],
)
def test_a_taken_port_is_one_line_naming_the_setting(module, host_var, port_var):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _run_module(module, {host_var: "127.0.0.1", port_var: str(port)})
    assert done.returncode == 2
    line = _the_error_line(done)
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert port_var in line


@pytest.mark.parametrize(
    ("module", "variable", "value", "secret"),
    [
        ("optimizer_service", "PGSAGE_OPTIMIZER_GRPC_PORT", "fifty", None),
        (
            "optimizer_service",
            "PGSAGE_OPTIMIZER_TARGETS",
            '[{"name": "x", "dsn": "postgresql://u:hunter2@db/x", "bogus": 1}]',
            "hunter2",
        ),
        ("gateway", "PGSAGE_GATEWAY_HTTP_PORT", "70000", None),
        ("job_service", "PGSAGE_JOBS_POOL_SIZE", "many", None),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(module, variable, value, secret):
    done = _run_module(module, {variable: value})
    assert done.returncode == 2
    line = _the_error_line(done)
    assert "invalid" in line and variable in line
    if secret is not None:
        assert secret not in done.stdout + done.stderr
