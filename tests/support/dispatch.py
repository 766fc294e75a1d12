"""Helpers of the dispatcher's tests: job services and optimizers as subprocesses.

The job store is an embedded PostgreSQL this module owns (tests stop and restart it); the
target the optimizer analyses is a small database of its own on the shared server. Leases
are short (2 s) so takeovers happen quickly; failpoints are enabled per process by env.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pgsage.embedded import EmbeddedPostgres, free_port
from pgsage.jobs.v1 import (
    access_pb2,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    suggestion_pb2,
)

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2.0

TARGET_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE account (id bigint PRIMARY KEY, region int NOT NULL, email text NOT NULL);
CREATE TABLE invoice (id bigint PRIMARY KEY, account_id bigint NOT NULL, status int NOT NULL,
                      amount numeric NOT NULL, created date NOT NULL);
INSERT INTO account SELECT g, g % 50, 'user' || g || '@example.com'
  FROM generate_series(1, 20000) g;
INSERT INTO invoice SELECT g, 1 + (g * 7919) % 20000, g % 10, g % 1000, date '2024-01-01' + g % 700
  FROM generate_series(1, 100000) g;
ANALYZE;
"""
QUERIES = [
    "SELECT * FROM invoice WHERE account_id = 42",
    "SELECT count(*) FROM account WHERE email = 'user42@example.com'",
]


@dataclass
class Proc:
    """One service subprocess."""

    name: str
    args: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    popen: subprocess.Popen | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> Proc:
        env = {**self.env, **extra_env}
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", *self.args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        if not self.alive():
            return self.popen.returncode if self.popen else 0
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    async def wait_serving(self, limit: float = 30) -> None:
        deadline = time.monotonic() + limit
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if not self.alive():
                    raise AssertionError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
                try:
                    r = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if r.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not SERVING: {self.log_path.read_text()[-3000:]}")


@dataclass
class Cluster:
    """The processes of one test, and the job store they share."""

    store: EmbeddedPostgres
    store_dsn: str
    target_dsn: str
    tmp: Path
    procs: list[Proc] = field(default_factory=list)

    def optimizer(
        self, name: str = "optimizer", *, targets: list[dict] | None = None, **env: str
    ) -> Proc:
        port = free_port()
        if targets is None:
            targets = [{"name": "shop", "dsn": self.target_dsn, "what_if_engine": "hypopg"}]
        proc = Proc(
            name=name,
            args=["optimizer_service"],
            port=port,
            log_path=self.tmp / f"{name}.log",
            env={
                **_base_env(),
                "PGSAGE_OPTIMIZER_GRPC_PORT": str(port),
                "PGSAGE_OPTIMIZER_GRPC_HOST": "127.0.0.1",
                "PGSAGE_OPTIMIZER_TARGETS": json.dumps(targets),
                **env,
            },
        )
        self.procs.append(proc)
        return proc

    def job_service(self, optimizer: Proc | str, name: str = "jobs", **env: str) -> Proc:
        port = free_port()
        address = optimizer if isinstance(optimizer, str) else optimizer.address
        proc = Proc(
            name=name,
            args=["job_service"],
            port=port,
            log_path=self.tmp / f"{name}.log",
            env={
                **_base_env(),
                "PGSAGE_JOBS_DATABASE_URL": self.store_dsn,
                "PGSAGE_JOBS_GRPC_PORT": str(port),
                "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
                "PGSAGE_JOBS_OPTIMIZER_ADDRESS": address,
                "PGSAGE_JOBS_LEASE": f"PT{LEASE_SECONDS}S",
                "PGSAGE_JOBS_RETRY_BACKOFF": "PT0.2S",
                "PGSAGE_JOBS_MAX_RETRY_BACKOFF": "PT1S",
                "PGSAGE_JOBS_POLL_INTERVAL": "PT1S",
                "PGSAGE_FAILPOINTS_LOG": str(self.tmp / "failpoints.log"),
                **env,
            },
        )
        self.procs.append(proc)
        return proc

    def failpoint_hits(self) -> list[tuple[str, int]]:
        path = self.tmp / "failpoints.log"
        if not path.exists():
            return []
        return [(n, int(p)) for n, p in (line.split() for line in path.read_text().splitlines())]

    async def store_conn(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.store_dsn, timeout=10)


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if k in keep} | {"PYTHONUNBUFFERED": "1"}


def analyze_job(queries: list[str] | None = None, target: str = "shop") -> job_pb2.Job:
    return job_pb2.Job(
        kind=job_pb2.Job.ANALYZE,
        target=target,
        queries=QUERIES if queries is None else queries,
    )


async def create_jobs(address: str, n: int, **kw) -> list[str]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        names = []
        for _ in range(n):
            job = await stub.CreateJob(
                job_service_pb2.CreateJobRequest(job=analyze_job(**kw)), timeout=10
            )
            names.append(job.name)
        return names


async def wait_finished(address: str, names: list[str], limit: float = 120) -> list[job_pb2.Job]:
    """Polls until every job is terminal (through whichever job service is up)."""
    terminal = {job_pb2.Job.SUCCEEDED, job_pb2.Job.FAILED, job_pb2.Job.CANCELLED}
    deadline = time.monotonic() + limit
    async with grpc.aio.insecure_channel(address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        while True:
            jobs = []
            try:
                for name in names:
                    jobs.append(
                        await stub.GetJob(job_service_pb2.GetJobRequest(name=name), timeout=5)
                    )
            except grpc.aio.AioRpcError:
                jobs = []
            if jobs and all(j.state in terminal for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                states = {j.name: job_pb2.Job.State.Name(j.state) for j in jobs}
                raise AssertionError(f"jobs not finished in {limit}s: {states}")
            await asyncio.sleep(0.2)


INVARIANTS = {
    # Every job is in one of the known states, and terminal ones have an end time.
    "terminal jobs without end_time": """
        SELECT count(*) FROM job
        WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND end_time IS NULL""",
    "RUNNING/CANCELLING without a live lease": """
        SELECT count(*) FROM job WHERE state IN ('RUNNING', 'CANCELLING')
          AND (lease_owner IS NULL OR lease_expire_time < now() - interval '1 second')""",
    "jobs reaching a terminal state other than exactly once": """
        SELECT count(*) FROM job j WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND
          (SELECT count(*) FROM job_event e WHERE e.job_id = j.id
             AND e.snapshot->>'state' IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) <> 1""",
    "suggestions stored twice": """
        SELECT count(*) FROM (SELECT job_id, fingerprint FROM suggestion
                              GROUP BY 1, 2 HAVING count(*) > 1) t""",
    "job suggestion counts that disagree with the table": """
        SELECT count(*) FROM job j WHERE state = 'SUCCEEDED' AND suggestion_count <>
          (SELECT count(*) FROM suggestion s WHERE s.job_id = j.id AND NOT s.superseded)""",
}


async def check_invariants(conn: asyncpg.Connection) -> None:
    broken = {}
    for name, sql in INVARIANTS.items():
        n = await conn.fetchval(sql)
        if n:
            broken[name] = n
    assert not broken, f"invariants broken: {broken}"


# Change jobs (APPLY, ROLLBACK) on the target, shared by test_changes and test_change_guards.


async def alice(stub) -> tuple[tuple[str, str], ...]:
    """Metadata of a verified caller named alice: an operator's API token (local mode still
    verifies tokens; without one the caller is the local OS user)."""
    expire = datetime.now(UTC) + timedelta(days=1)
    created = await stub.CreateApiToken(
        access_pb2.CreateApiTokenRequest(
            api_token={
                "display_name": "alice",
                "role_bindings": [{"role": access_pb2.OPERATOR, "targets": "*"}],
                "expire_time": expire,
            }
        )
    )
    return (("authorization", f"Bearer {created.secret}"),)


def targets(cluster, *, apply_allowed: bool) -> list[dict]:
    return [
        {
            "name": "shop",
            "dsn": cluster.target_dsn,
            "what_if_engine": "hypopg",
            "apply_allowed": apply_allowed,
        }
    ]


async def catalog(dsn: str) -> list[tuple]:
    """The target's indexes as pg_index sees them (name, valid)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' ORDER BY 1"
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def approved_create_index(stub, address: str) -> suggestion_pb2.Suggestion:
    """Runs an analysis and approves its index on invoice(account_id)."""
    [name] = await create_jobs(address, 1, queries=["SELECT * FROM invoice WHERE account_id = 42"])
    [job] = await wait_finished(address, [name], limit=60)
    assert job.state == job_pb2.Job.SUCCEEDED, job
    listed = await stub.ListSuggestions(job_service_pb2.ListSuggestionsRequest(parent=name))
    [s] = [x for x in listed.suggestions if x.kind == suggestion_pb2.Suggestion.CREATE_INDEX]
    return await stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=s.name), metadata=await alice(stub)
    )
