"""TLS on every gRPC link, and mutual TLS between the job service and the optimizer.

Certificates are made per run with trustme: one CA for pgsage's services, and another CA
an attacker controls. Real processes (an optimizer and a job service with TLS and mTLS, on
ports of their own) analyse and change a real target; an in-process gateway reaches the job
service over TLS. Then the optimizer is called as an attacker would: in plaintext, with a
certificate from the other CA, with a trusted certificate whose identity is not allowed,
and with no certificate at all. Each is refused; health still answers a trusted client.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import app as gateway_app
from gateway.settings import GatewaySettings
from pgsage import rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc, suggestion_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2, optimizer_service_pb2_grpc
from tests.support.dispatch import Cluster, Proc

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion
ALICE = (("x-pgsage-actor", "alice"),)
OPTIMIZER_NAME = "optimizer.pgsage.test"
JOBS_NAME = "jobs.pgsage.test"
JOBS_CLIENT = "job-service.pgsage.test"


@dataclass
class Pki:
    """PEM files of one test: pgsage's CA and certificates, and an attacker's."""

    ca: Path
    optimizer: tuple[Path, Path]
    jobs: tuple[Path, Path]
    jobs_client: tuple[Path, Path]
    intruder: tuple[Path, Path]  # signed by pgsage's CA, identity not allowed
    foreign: tuple[Path, Path]  # the allowed identity, signed by another CA


def _write(cert: trustme.LeafCert, folder: Path, name: str) -> tuple[Path, Path]:
    chain, key = folder / f"{name}.crt", folder / f"{name}.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    return chain, key


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "certs"
    folder.mkdir()
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.crt"))
    return Pki(
        ca=folder / "ca.crt",
        optimizer=_write(ca.issue_cert(OPTIMIZER_NAME), folder, "optimizer"),
        jobs=_write(ca.issue_cert(JOBS_NAME), folder, "jobs"),
        jobs_client=_write(ca.issue_cert(JOBS_CLIENT), folder, "jobs-client"),
        intruder=_write(ca.issue_cert("intruder.pgsage.test"), folder, "intruder"),
        foreign=_write(other.issue_cert(JOBS_CLIENT), folder, "foreign"),
    )


def _creds(pki: Pki, cert: tuple[Path, Path] | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=cert[1].read_bytes() if cert else None,
        certificate_chain=cert[0].read_bytes() if cert else None,
    )


def _channel(address: str, creds: grpc.ChannelCredentials, name: str) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(
        address, creds, options=[("grpc.ssl_target_name_override", name)]
    )


async def _wait_serving(proc: Proc, channel: grpc.aio.Channel, limit: float = 60) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited: {proc.log_path.read_text()[-3000:]}")
        try:
            r = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            if r.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{proc.name} not SERVING: {proc.log_path.read_text()[-3000:]}")


async def _finished(stub: job_service_pb2_grpc.JobServiceStub, name: str) -> job_pb2.Job:
    terminal = {Job.SUCCEEDED, Job.FAILED, Job.CANCELLED}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = await stub.GetJob(job_service_pb2.GetJobRequest(name=name), timeout=5)
        if job.state in terminal:
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} did not finish")


def _start(cluster: Cluster, pki: Pki, **jobs_env: str) -> tuple[Proc, Proc]:
    optimizer = cluster.optimizer(
        targets=[
            {"name": "shop", "dsn": cluster.target_dsn, "apply_allowed": True},
        ],
        PGSAGE_OPTIMIZER_TLS_CERT_FILE=str(pki.optimizer[0]),
        PGSAGE_OPTIMIZER_TLS_KEY_FILE=str(pki.optimizer[1]),
        PGSAGE_OPTIMIZER_TLS_CLIENT_CA_FILE=str(pki.ca),
        PGSAGE_OPTIMIZER_ALLOWED_CLIENTS=JOBS_CLIENT,
    ).start()
    jobs = cluster.job_service(
        optimizer,
        PGSAGE_JOBS_TLS_CERT_FILE=str(pki.jobs[0]),
        PGSAGE_JOBS_TLS_KEY_FILE=str(pki.jobs[1]),
        PGSAGE_JOBS_OPTIMIZER_TLS_CA_FILE=str(pki.ca),
        PGSAGE_JOBS_OPTIMIZER_TLS_CERT_FILE=str(pki.jobs_client[0]),
        PGSAGE_JOBS_OPTIMIZER_TLS_KEY_FILE=str(pki.jobs_client[1]),
        PGSAGE_JOBS_OPTIMIZER_TLS_SERVER_NAME=OPTIMIZER_NAME,
        **jobs_env,
    ).start()
    return optimizer, jobs


async def test_jobs_run_over_mutual_tls_and_the_optimizer_logs_each_statement_with_its_job(
    cluster, pki
):
    optimizer, jobs = _start(cluster, pki)
    async with _channel(optimizer.address, _creds(pki, pki.jobs_client), OPTIMIZER_NAME) as ch:
        await _wait_serving(optimizer, ch)
    async with _channel(jobs.address, _creds(pki, None), JOBS_NAME) as channel:
        await _wait_serving(jobs, channel)
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        analysis = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                job=Job(
                    kind=Job.ANALYZE,
                    target="shop",
                    queries=["SELECT * FROM invoice WHERE account_id = 42"],
                )
            ),
            timeout=10,
        )
        done = await _finished(stub, analysis.name)
        assert done.state == Job.SUCCEEDED, done

        listed = await stub.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(parent=analysis.name)
        )
        [s] = [x for x in listed.suggestions if x.kind == Suggestion.CREATE_INDEX]
        await stub.ApproveSuggestion(
            job_service_pb2.ApproveSuggestionRequest(name=s.name), metadata=ALICE
        )
        apply = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                job=Job(kind=Job.APPLY, target="shop", suggestion=s.name)
            ),
            metadata=ALICE,
        )
        applied = await _finished(stub, apply.name)
        assert applied.state == Job.SUCCEEDED, applied

    # The optimizer's own log names the job behind the CREATE INDEX it ran on the target.
    apply_id = apply.name.removeprefix("jobs/")
    log = optimizer.log_path.read_text()
    created = [
        line
        for line in log.splitlines()
        if "statement job=" in line and "kind=CREATE" in line and "CREATE INDEX" in line
    ]
    assert created, log[-3000:]
    assert all(f"job={apply_id}" in line for line in created), created
    assert all("rpc=Apply" in line and "target=shop" in line for line in created), created
    # The analysis's statements carry its job id; the target's DSN is never logged.
    analysis_id = analysis.name.removeprefix("jobs/")
    assert re.search(rf"statement job={analysis_id} rpc=Analyze target=shop kind=", log)
    assert cluster.target_dsn not in log


async def test_the_gateway_reaches_the_job_service_over_mutual_tls(cluster, pki):
    optimizer, jobs = _start(cluster, pki, PGSAGE_JOBS_TLS_CLIENT_CA_FILE=str(pki.ca))
    gateway_cert = pki.intruder  # any certificate the CA signed
    async with _channel(jobs.address, _creds(pki, gateway_cert), JOBS_NAME) as channel:
        await _wait_serving(jobs, channel)
    running = await gateway_app.start(
        GatewaySettings(
            http_port=0,
            job_service_address=jobs.address,
            job_service_tls_ca_file=pki.ca,
            job_service_tls_cert_file=gateway_cert[0],
            job_service_tls_key_file=gateway_cert[1],
            job_service_tls_server_name=JOBS_NAME,
        )
    )
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            created = await http.post(
                "/v1/jobs", json={"kind": "ANALYZE", "target": "shop", "queries": ["SELECT 1"]}
            )
            assert created.status_code == 200, created.text
            name = created.json()["name"]
            got = await http.get(f"/v1/{name}")
            assert got.status_code == 200 and got.json()["name"] == name
    finally:
        await running.stop()

    # Plaintext, no client certificate, or one from another CA: no connection at all.
    async with grpc.aio.insecure_channel(jobs.address) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_pb2_grpc.HealthStub(plain).Check(
                health_pb2.HealthCheckRequest(), timeout=3
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    for cert in (None, pki.foreign):
        async with _channel(jobs.address, _creds(pki, cert), JOBS_NAME) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetJob(job_service_pb2.GetJobRequest(name=name), timeout=3)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    del optimizer


async def test_only_the_allowed_client_may_call_the_optimizer(cluster, pki):
    optimizer, _ = _start(cluster, pki)
    trusted = _creds(pki, pki.jobs_client)
    async with _channel(optimizer.address, trusted, OPTIMIZER_NAME) as channel:
        await _wait_serving(optimizer, channel)
        stub = optimizer_service_pb2_grpc.OptimizerServiceStub(channel)
        listed = await stub.ListTargets(optimizer_service_pb2.ListTargetsRequest(), timeout=5)
        assert [t.name for t in listed.targets] == ["shop"]

    rollback = optimizer_service_pb2.RollbackRequest(
        target="shop", rollback_sql="DROP INDEX CONCURRENTLY IF EXISTS invoice_pkey"
    )

    # Trusted CA, but an identity the optimizer does not allow: every OptimizerService RPC
    # is PERMISSION_DENIED, and nothing reaches the target.
    pb = optimizer_service_pb2
    calls = {
        "Analyze": pb.AnalyzeRequest(target="shop"),
        "Benchmark": pb.BenchmarkRequest(target="shop", sql="CREATE INDEX ON invoice (status)"),
        "Apply": pb.ApplyRequest(target="shop", sql="CREATE INDEX ON invoice (status)"),
        "Rollback": rollback,
        "ValidateStatement": pb.ValidateStatementRequest(target="shop", sql="DROP INDEX x"),
        "ListTargets": pb.ListTargetsRequest(),
        "GetDiagnostics": pb.GetDiagnosticsRequest(),
    }
    intruder = _creds(pki, pki.intruder)
    async with _channel(optimizer.address, intruder, OPTIMIZER_NAME) as channel:
        stub = optimizer_service_pb2_grpc.OptimizerServiceStub(channel)
        for method, request in calls.items():
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                call = getattr(stub, method)(request, timeout=5)
                if isinstance(call, grpc.aio.UnaryStreamCall):
                    async for _ in call:
                        pass
                else:
                    await call
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, method
            assert rpc.reason_of(denied.value) == "CLIENT_NOT_ALLOWED", method
            assert "intruder.pgsage.test" in denied.value.details()
        # Health stays open to any client that completes the handshake.
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING

    # The allowed identity on a certificate from another CA, no certificate, plaintext: the
    # connection itself fails.
    refused = [
        grpc.ssl_channel_credentials(
            root_certificates=pki.ca.read_bytes(),
            private_key=pki.foreign[1].read_bytes(),
            certificate_chain=pki.foreign[0].read_bytes(),
        ),
        _creds(pki, None),
    ]
    for creds in refused:
        async with _channel(optimizer.address, creds, OPTIMIZER_NAME) as channel:
            stub = optimizer_service_pb2_grpc.OptimizerServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.ListTargets(optimizer_service_pb2.ListTargetsRequest(), timeout=5)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.insecure_channel(optimizer.address) as plain:
        stub = optimizer_service_pb2_grpc.OptimizerServiceStub(plain)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            async for _ in stub.Rollback(rollback, timeout=5):
                pass
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE

    # The refusals are on record in the optimizer's log; the primary key is still there.
    log = optimizer.log_path.read_text()
    assert "refused Rollback" in log and "intruder.pgsage.test" in log
    assert not re.search(r"statement job=\S+ rpc=(Analyze|Benchmark|Apply|Rollback)", log)
    assert "Traceback" not in log
