"""Shared parts of the platform benchmarks (create, read, list; see ../shared/BENCH.md).

Each benchmark runs a real job service as a subprocess (`python -m job_service`) against a
database of its own on the shared PostgreSQL, drives it from this process over gRPC, measures
its baseline (`grpc.health.v1/Check` on the same server) in the same run, and prints one table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from job_service import database, schema
from pgsage.embedded import free_port
from pgsage.jobs.v1 import job_service_pb2_grpc
from tests.support.pg import SHARED_PG

# The server the benchmarks use: PGSAGE_BENCH_PG, else the tests' shared server.
BENCH_PG = os.environ.get("PGSAGE_BENCH_PG", SHARED_PG)


def dsn(db_name: str) -> str:
    url = database.async_url(BENCH_PG).set(database=db_name, drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def create_database(name: str, *, fresh: bool = True) -> str:
    """Creates (or, with fresh=False, keeps) database `name`, migrated; returns its DSN."""
    admin = await asyncpg.connect(BENCH_PG)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and fresh:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not exists or fresh:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db = database.Database(dsn(name), pool_size=1)
    try:
        await schema.upgrade(db.engine)
    finally:
        await db.close()
    return dsn(name)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(BENCH_PG)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def job_service(url: str, **settings: str) -> AsyncIterator[str]:
    """Runs `python -m job_service` on `url`; yields its address; SIGTERM at the end.

    `settings` are more environment variables (`PGSAGE_JOBS_OIDC_ISSUER=...`)."""
    port = free_port()
    env = {
        **os.environ,
        "PGSAGE_JOBS_DATABASE_URL": url,
        "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
        "PGSAGE_JOBS_GRPC_PORT": str(port),
        "PGSAGE_JOBS_POOL_SIZE": "20",
        # These benchmarks measure the API; running jobs is the lifecycle benchmark's part.
        "PGSAGE_JOBS_MAX_CONCURRENT_JOBS": "0",
        **settings,
    }
    # The service logs as in production (INFO); the log goes to a file, not the table.
    log_path = Path(tempfile.gettempdir()) / f"pgsage-bench-job-service-{port}.log"
    log_file = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "job_service", env=env, stdout=log_file, stderr=log_file
    )
    address = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(300):
                with contextlib.suppress(grpc.aio.AioRpcError):
                    response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                if proc.returncode is not None:
                    raise RuntimeError(f"job service exited during start-up; see {log_path}")
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"job service did not become SERVING; see {log_path}")
        yield address
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
        log_file.close()


@dataclass
class Run:
    """Calls completed in a closed loop: their count, wall time and latencies (seconds)."""

    calls: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def closed_loop(
    call: Callable[[int], Awaitable[object]],
    *,
    in_flight: int,
    seconds: float | None = None,
    calls: int | None = None,
) -> Run:
    """Keeps `in_flight` calls going for `seconds` (or until `calls` are done)."""
    latencies: list[float] = []
    counter = 0
    started = time.perf_counter()
    deadline = started + seconds if seconds else float("inf")

    async def worker() -> None:
        nonlocal counter
        while time.perf_counter() < deadline and (calls is None or counter < calls):
            counter += 1
            t0 = time.perf_counter()
            await call(counter)
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return Run(len(latencies), time.perf_counter() - started, latencies)


def health_check(channel: grpc.aio.Channel) -> Callable[[int], Awaitable[object]]:
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest()

    async def call(_: int) -> object:
        return await stub.Check(request, timeout=10)

    return call


def jobs_stub(channel: grpc.aio.Channel) -> job_service_pb2_grpc.JobServiceStub:
    return job_service_pb2_grpc.JobServiceStub(channel)


def median(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table a person can paste into a note."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
