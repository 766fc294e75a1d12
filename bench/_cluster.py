"""A job store, a target and real service processes for the dispatcher benchmarks
(lifecycle, watch, cancel, recovery; see ../shared/BENCH.md).

Same setup as the dispatcher's tests: the job store is an embedded PostgreSQL this module
starts in a temporary directory (two job services share it, so they really are two
processes on one store), the target the optimizers analyse is a database of its own on the
shared server, and `python -m job_service` / `python -m optimizer_service` run as
subprocesses whose logs go to files in the temporary directory (printed on failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench._platform import BENCH_PG
from job_service import database, schema
from pgsage.embedded import EmbeddedPostgres, free_port

ROOT = Path(__file__).resolve().parents[1]
TARGET = "bench"


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if k in keep} | {"PYTHONUNBUFFERED": "1"}


@dataclass
class Proc:
    """One service subprocess; `start` may be called again after a kill."""

    name: str
    module: str
    env: dict[str, str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        if self.popen is not None and self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL when it does not exit in `timeout` seconds."""
        if self.popen is None or not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    async def wait_serving(self, limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(
                        f"{self.name} exited; log {self.log_path}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(grpc.aio.AioRpcError):
                    r = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if r.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} not SERVING; log {self.log_path}:\n{self.log_tail()}")


@dataclass
class Cluster:
    """The processes of one benchmark, their job store and their target."""

    store: EmbeddedPostgres
    store_dsn: str
    target_dsn: str
    tmp: Path
    procs: list[Proc] = field(default_factory=list)

    def optimizer(
        self, name: str = "optimizer", target: dict[str, object] | None = None, **env: str
    ) -> Proc:
        """An optimizer with the target `bench`; `target` overrides its config (timeouts)."""
        port = free_port()
        config = {"name": TARGET, "dsn": self.target_dsn, "what_if_engine": "hypopg"}
        targets = [config | (target or {})]
        proc = Proc(
            name=name,
            module="optimizer_service",
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

    def job_service(self, optimizer: Proc | None, name: str = "jobs", **env: str) -> Proc:
        """A job service on the shared store; `env` holds PGSAGE_JOBS_* overrides."""
        port = free_port()
        if optimizer is not None:
            env = {"PGSAGE_JOBS_OPTIMIZER_ADDRESS": optimizer.address, **env}
        proc = Proc(
            name=name,
            module="job_service",
            port=port,
            log_path=self.tmp / f"{name}.log",
            env={
                **_base_env(),
                "PGSAGE_JOBS_DATABASE_URL": self.store_dsn,
                "PGSAGE_JOBS_GRPC_PORT": str(port),
                "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
                "PGSAGE_JOBS_POOL_SIZE": "20",
                **env,
            },
        )
        self.procs.append(proc)
        return proc

    async def start_all(self, *procs: Proc) -> None:
        for proc in procs:
            proc.start()
        await asyncio.gather(*(proc.wait_serving() for proc in procs))

    async def store_conn(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.store_dsn, timeout=10)

    async def target_conn(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.target_dsn, timeout=10)


def _shared_dsn(db: str) -> str:
    return BENCH_PG.rsplit("/", 1)[0] + f"/{db}"


@contextlib.asynccontextmanager
async def cluster(target_sql: str = "") -> AsyncIterator[Cluster]:
    """A migrated job store (embedded PostgreSQL) and a target database (shared server)
    made with `target_sql`; every process, the store and the target go at the end."""
    tmp = Path(tempfile.mkdtemp(prefix="pgsage-bench-"))
    store = EmbeddedPostgres(tmp / "store")
    await asyncio.to_thread(store.start)
    target_db = f"pgsage_bench_target_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(BENCH_PG)
    c: Cluster | None = None
    try:
        conn = await asyncpg.connect(store.dsn())
        await conn.execute('CREATE DATABASE "jobs"')
        await conn.close()
        db = database.Database(store.dsn("jobs"), pool_size=1)
        try:
            await schema.upgrade(db.engine)
        finally:
            await db.close()
        await admin.execute(f'CREATE DATABASE "{target_db}"')
        if target_sql:
            conn = await asyncpg.connect(_shared_dsn(target_db))
            await conn.execute(target_sql)
            await conn.close()
        c = Cluster(
            store=store, store_dsn=store.dsn("jobs"), target_dsn=_shared_dsn(target_db), tmp=tmp
        )
        yield c
    except BaseException:
        if c is not None:
            for proc in c.procs:
                if proc.log_path.exists():
                    print(
                        f"--- {proc.name} ({proc.log_path}):\n{proc.log_tail(1500)}",
                        file=sys.stderr,
                    )
        raise
    finally:
        if c is not None:
            for proc in c.procs:
                await asyncio.to_thread(proc.stop, 10)
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
        await admin.close()
        await asyncio.to_thread(store.stop, "immediate")
        shutil.rmtree(tmp, ignore_errors=True)
