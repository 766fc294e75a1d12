"""Health-only plaintext ports (`PGSAGE_JOBS_HEALTH_PORT`, `PGSAGE_OPTIMIZER_HEALTH_PORT`):
Kubernetes' native gRPC probes cannot speak TLS, so with TLS on a service's port they probe
this one. It answers grpc.health.v1 with the service's own statuses and serves nothing else;
a taken one stops start-up in one line naming the setting."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from optimizer_service import app as optimizer_app
from optimizer_service.settings import Settings as OptimizerSettings
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt_pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as opt_grpc
from tests.support import pg
from tests.support import stack as pgsage_stack

ROOT = Path(__file__).resolve().parents[2]
OPTIMIZER = "pgsage.optimizer.v1.OptimizerService"
JOBS = "pgsage.jobs.v1.JobService"


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    paths["cert"].write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    return paths


@pytest.fixture
async def tls_optimizer(certs) -> AsyncIterator[optimizer_app.Running]:
    settings = OptimizerSettings.model_validate(
        {
            "grpc_port": 0,
            "health_port": 0,
            "tls_cert_file": certs["cert"],
            "tls_key_file": certs["key"],
            "grace_seconds": 1,
        }
    )
    running = await optimizer_app.start(settings)
    try:
        yield running
    finally:
        await running.stop(0.5)


async def check(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return reply.status


async def test_a_plaintext_probe_reaches_the_health_port_of_a_tls_optimizer(tls_optimizer):
    assert tls_optimizer.health_port is not None
    port = tls_optimizer.health_port.port
    assert port != tls_optimizer.port
    serving = health_pb2.HealthCheckResponse.SERVING
    assert await check(port) == serving
    assert await check(port, OPTIMIZER) == serving
    # The service's own port speaks TLS only: the same plaintext probe fails there.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await check(tls_optimizer.port)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    # Nothing but health on the health port: neither the service nor reflection.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await opt_grpc.OptimizerServiceStub(channel).ListTargets(
                opt_pb.ListTargetsRequest(), timeout=5
            )
        assert other.value.code() == grpc.StatusCode.UNIMPLEMENTED
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as listing:
            async for _ in reflect.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            ):
                pass
        assert listing.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_the_job_services_health_port_follows_its_status():
    async with (
        pgsage_stack.job_store("pgsage_health_port") as store,
        pgsage_stack.job_service(store, health_port=0) as running,
    ):
        assert running.health_port is not None
        port = running.health_port.port
        assert await check(port, JOBS) == health_pb2.HealthCheckResponse.SERVING
        await running.server.health.enter_graceful_shutdown()
        assert await check(port, JOBS) == health_pb2.HealthCheckResponse.NOT_SERVING


def test_health_ports_are_off_by_default():
    assert OptimizerSettings().health_port is None


def _run(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")
    base = {k: v for k, v in os.environ.items() if k in keep}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.parametrize(
    ("module", "setting"),
    [
        ("optimizer_service", "PGSAGE_OPTIMIZER_HEALTH_PORT"),
        ("job_service", "PGSAGE_JOBS_HEALTH_PORT"),
    ],
)
async def test_a_taken_health_port_is_one_line_naming_the_setting(module, setting):
    async with pg.database("pgsage_health_taken") as store:
        env = {
            "PGSAGE_OPTIMIZER_GRPC_PORT": "0",
            "PGSAGE_JOBS_GRPC_PORT": "0",
            "PGSAGE_JOBS_DATABASE_URL": pg.dsn_for(store),
        }
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            taken = holder.getsockname()[1]
            done = await asyncio.to_thread(_run, module, {**env, setting: str(taken)})
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr
    assert setting in errors[0] and str(taken) in errors[0], errors[0]
    assert "Traceback" not in done.stderr
