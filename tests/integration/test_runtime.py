"""The shared server runtime: health with Check, Watch and List; reflection; shutdown."""

from __future__ import annotations

import asyncio
import json
import pathlib
import subprocess
import sys

import grpc
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
