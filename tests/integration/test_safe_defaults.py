"""Safe by default: each service's real entry point refuses, in one line, to serve beyond
loopback without authentication, and to start with half-configured TLS.

Every case is a real `python -m <service>` subprocess: it must exit non-zero before binding
anything, with exactly one line on stderr naming what to configure, and no traceback.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pgsage.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")
    base = {k: v for k, v in os.environ.items() if k in keep}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**base, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _refused(done: subprocess.CompletedProcess, *names: str) -> None:
    assert done.returncode != 0, done
    # One log record (the environment may add unrelated interpreter warnings around it).
    lines = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for name in names:
        assert name in lines[0], lines[0]


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert("optimizer.pgsage.test")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key", "junk")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    paths["cert"].write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    paths["junk"].write_text("not a certificate\n")
    return paths


def test_the_job_service_refuses_a_wide_bind_without_an_issuer(tmp_path):
    done = _run(
        "job_service",
        {"PGSAGE_JOBS_GRPC_HOST": "0.0.0.0", "PGSAGE_JOBS_DATA_DIR": str(tmp_path / "pg")},
        tmp_path,
    )
    _refused(done, "PGSAGE_JOBS_GRPC_HOST=0.0.0.0", "PGSAGE_JOBS_OIDC_ISSUER")
    assert not (tmp_path / "pg").exists()  # refused before anything started


def test_the_optimizer_refuses_a_wide_bind_without_mutual_tls(tmp_path, certs):
    done = _run("optimizer_service", {"PGSAGE_OPTIMIZER_GRPC_HOST": "::"}, tmp_path)
    _refused(done, "PGSAGE_OPTIMIZER_GRPC_HOST=::", "_TLS_CLIENT_CA_FILE", "_ALLOWED_CLIENTS")
    # TLS without a client CA is not enough either: anyone could call Apply.
    done = _run(
        "optimizer_service",
        {
            "PGSAGE_OPTIMIZER_GRPC_HOST": "0.0.0.0",
            "PGSAGE_OPTIMIZER_TLS_CERT_FILE": str(certs["cert"]),
            "PGSAGE_OPTIMIZER_TLS_KEY_FILE": str(certs["key"]),
        },
        tmp_path,
    )
    _refused(done, "PGSAGE_OPTIMIZER_GRPC_HOST=0.0.0.0", "mutual TLS")


def test_the_gateway_refuses_a_wide_bind_without_sign_in(tmp_path):
    done = _run("gateway", {"PGSAGE_GATEWAY_HOST": "0.0.0.0"}, tmp_path)
    _refused(done, "PGSAGE_GATEWAY_HOST=0.0.0.0", "PGSAGE_GATEWAY_OIDC_ISSUER")


def test_half_configured_tls_is_one_line_naming_the_setting(tmp_path, certs):
    cases = [
        (
            "job_service",
            {"PGSAGE_JOBS_TLS_CERT_FILE": str(certs["cert"])},
            ["PGSAGE_JOBS_TLS_KEY_FILE is required"],
        ),
        (
            "job_service",
            {
                "PGSAGE_JOBS_OPTIMIZER_TLS_CA_FILE": str(certs["junk"]),
                "PGSAGE_JOBS_DATA_DIR": str(tmp_path / "pg"),
            },
            ["PGSAGE_JOBS_OPTIMIZER_TLS_CA_FILE", "no PEM certificate"],
        ),
        (
            "optimizer_service",
            {
                "PGSAGE_OPTIMIZER_TLS_CERT_FILE": str(certs["cert"]),
                "PGSAGE_OPTIMIZER_TLS_KEY_FILE": str(certs["cert"]),
            },
            ["PGSAGE_OPTIMIZER_TLS_KEY_FILE", "no PEM private key"],
        ),
        (
            "optimizer_service",
            {
                "PGSAGE_OPTIMIZER_TLS_CERT_FILE": str(certs["cert"]),
                "PGSAGE_OPTIMIZER_TLS_KEY_FILE": str(certs["key"]),
                "PGSAGE_OPTIMIZER_TLS_CLIENT_CA_FILE": str(certs["ca"]),
            },
            ["PGSAGE_OPTIMIZER_ALLOWED_CLIENTS is empty"],
        ),
        (
            "gateway",
            {"PGSAGE_GATEWAY_JOB_SERVICE_TLS_CA_FILE": str(tmp_path / "missing.pem")},
            ["PGSAGE_GATEWAY_JOB_SERVICE_TLS_CA_FILE", "cannot read", "missing.pem"],
        ),
    ]
    for module, env, words in cases:
        _refused(_run(module, env, tmp_path), *words)
    # The key's contents never reach the message.
    done = _run(
        "optimizer_service",
        {
            "PGSAGE_OPTIMIZER_TLS_CERT_FILE": str(certs["key"]),
            "PGSAGE_OPTIMIZER_TLS_KEY_FILE": str(certs["key"]),
        },
        tmp_path,
    )
    _refused(done, "PGSAGE_OPTIMIZER_TLS_CERT_FILE")
    assert "PRIVATE KEY" not in done.stderr


async def test_the_optimizer_serves_beyond_loopback_with_mutual_tls(tmp_path, certs):
    port = free_port()
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "optimizer_service",
        env={k: v for k, v in os.environ.items() if k in keep}
        | {
            "PGSAGE_OPTIMIZER_GRPC_HOST": "0.0.0.0",
            "PGSAGE_OPTIMIZER_GRPC_PORT": str(port),
            "PGSAGE_OPTIMIZER_TLS_CERT_FILE": str(certs["cert"]),
            "PGSAGE_OPTIMIZER_TLS_KEY_FILE": str(certs["key"]),
            "PGSAGE_OPTIMIZER_TLS_CLIENT_CA_FILE": str(certs["ca"]),
            "PGSAGE_OPTIMIZER_ALLOWED_CLIENTS": '["optimizer.pgsage.test"]',
        },
        cwd=tmp_path,
    )
    creds = grpc.ssl_channel_credentials(
        root_certificates=certs["ca"].read_bytes(),
        private_key=certs["key"].read_bytes(),
        certificate_chain=certs["cert"].read_bytes(),
    )
    try:
        options = [("grpc.ssl_target_name_override", "optimizer.pgsage.test")]
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=options) as ch:
            deadline = time.monotonic() + 30
            while True:
                assert proc.returncode is None, "the optimizer exited"
                try:
                    r = await health_pb2_grpc.HealthStub(ch).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                    assert r.status == health_pb2.HealthCheckResponse.SERVING
                    break
                except grpc.aio.AioRpcError:
                    assert time.monotonic() < deadline, "the optimizer did not serve"
                    await asyncio.sleep(0.2)
        # The compose healthcheck's probe: over mutual TLS it sees SERVING; without a client
        # certificate the handshake fails.
        probe = [
            f"--ca={certs['ca']}",
            "--server-name=optimizer.pgsage.test",
            f"127.0.0.1:{port}",
        ]
        mutual = [f"--cert={certs['cert']}", f"--key={certs['key']}", *probe]
        assert await _probe(mutual, tmp_path) == 0
        assert await _probe(probe, tmp_path) == 1
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


async def _probe(args: list[str], cwd: Path) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgsage.probe", *args, cwd=cwd, stdout=subprocess.DEVNULL
    )
    return await asyncio.wait_for(proc.wait(), 30)
