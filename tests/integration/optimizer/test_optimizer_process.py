"""`python -m optimizer_service` as a real process: settings from the environment, health
SERVING once started, a clean exit on SIGTERM, and a clear refusal of bad settings."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pgsage.embedded import free_port
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc

SECRET = "pw-never-logged"


async def test_runs_from_the_environment_and_stops_on_sigterm(tmp_path):
    port = free_port()
    toml = tmp_path / "targets.toml"
    toml.write_text(
        f'[[targets]]\nname = "filed"\ndsn = "postgresql://u:{SECRET}@127.0.0.1:{free_port()}/x"\n'
    )
    env = {
        **os.environ,
        "PGSAGE_OPTIMIZER_GRPC_HOST": "127.0.0.1",
        "PGSAGE_OPTIMIZER_GRPC_PORT": str(port),
        "PGSAGE_OPTIMIZER_TARGETS_FILE": str(toml),
        "PGSAGE_OPTIMIZER_TARGETS": json.dumps([{"name": "env", "dsn": "postgresql://h/d"}]),
        "PGSAGE_OPTIMIZER_CONNECT_TIMEOUT_SECONDS": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "optimizer_service",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = None
            for _ in range(100):
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    status = reply.status
                    break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
            assert status == health_pb2.HealthCheckResponse.SERVING
            targets = await pb_grpc.OptimizerServiceStub(channel).ListTargets(
                pb.ListTargetsRequest(), timeout=10
            )
            assert sorted(t.name for t in targets.targets) == ["env", "filed"]
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    assert SECRET not in output.decode()


async def test_bad_settings_fail_fast_naming_where():
    env = {**os.environ, "PGSAGE_OPTIMIZER_TARGETS": '[{"name": "x", "dsn": "d", "bogus": 1}]'}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "optimizer_service",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert "invalid optimizer settings" in output.decode()
