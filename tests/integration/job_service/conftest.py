"""Fixtures of the job service's integration tests.

The shared PostgreSQL gets one migrated TEMPLATE database per test session; each test module
gets a database copied from it (`CREATE DATABASE x TEMPLATE t`, milliseconds) and a real
job service (`job_service.app.start`) on a gRPC port of its own. Tests that stop PostgreSQL
use an embedded cluster of their own instead (see test_job_health.py).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr

from job_service import app, database, domain, schema, suggestions
from job_service.settings import Settings
from pgsage import errors, rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support import pg


@pytest.fixture(scope="session")
async def template_db() -> AsyncIterator[str]:
    async with pg.database("pgsage_jobs_tmpl") as name:
        db = database.Database(pg.dsn_for(name), pool_size=1)
        try:
            await schema.upgrade(db.engine)
        finally:
            await db.close()
        yield name


@pytest.fixture(scope="module")
async def module_db(template_db: str) -> AsyncIterator[str]:
    """A migrated database of this module's own; yields its DSN."""
    async with pg.database("pgsage_jobs_test", template=template_db) as name:
        yield pg.dsn_for(name)


def _settings_for(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": SecretStr(url),
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "health_interval": timedelta(seconds=0.2),
        "shutdown_grace": timedelta(seconds=1),
        "optimizer_timeout": timedelta(seconds=1),
        # These tests drive the API on jobs exactly as they created them: the dispatcher is
        # paused (an API-only replica), so no job leaves PENDING behind the test's back.
        # tests/integration/dispatch runs jobs for real.
        "max_concurrent_jobs": 0,
        # No periodic snapshots: the snapshots a test lists are its own.
        "snapshot_interval": timedelta(0),
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A directory for an embedded cluster, outside pytest's tmp_path: concurrent pytest
    sessions reset /tmp/pytest-of-<user> to mode 0700, locking the cluster's user out."""
    path = Path(tempfile.mkdtemp(prefix="pgsage-jobs-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def settings_for():
    """Builds job-service settings for a database URL (port 0, fast health checks)."""
    return _settings_for


@pytest.fixture(scope="module")
async def service(module_db: str) -> AsyncIterator[app.RunningService]:
    running = await app.start(_settings_for(module_db))
    yield running
    await running.stop(0.5)


@pytest.fixture(scope="module")
async def channel(service: app.RunningService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(service.address) as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(channel: grpc.aio.Channel) -> job_service_pb2_grpc.JobServiceStub:
    return job_service_pb2_grpc.JobServiceStub(channel)


@pytest.fixture(scope="module")
async def db(module_db: str) -> AsyncIterator[database.Database]:
    """A direct pool on the module's database, for seeding and checking through the repo."""
    pool = database.Database(module_db, pool_size=2)
    yield pool
    await pool.close()


@pytest.fixture
def create(stub: job_service_pb2_grpc.JobServiceStub):
    """Creates an ANALYZE job through the API."""

    async def _create(target: str = "demo", **fields: object) -> job_pb2.Job:
        request = job_service_pb2.CreateJobRequest(job=job_pb2.Job(target=target, **fields))
        return await stub.CreateJob(request, timeout=10)

    return _create


@pytest.fixture
def seed(db: database.Database):
    """Stores a suggestion of a job through the repository (as the dispatcher will)."""

    async def _seed(job_name: str, **fields: object) -> domain.Suggestion:
        job_id = uuid.UUID(job_name.split("/")[1])
        values: dict[str, object] = {
            "kind": "CREATE_INDEX",
            "target": "demo",
            "fingerprint": uuid.uuid4().hex,
            "sql": "CREATE INDEX CONCURRENTLY orders_customer_idx ON public.orders (customer_id)",
            "rollback_sql": "DROP INDEX CONCURRENTLY IF EXISTS public.orders_customer_idx",
            "title": "Index on public.orders (customer_id)",
        }
        values.update(fields)
        async with db.connection() as conn:
            return await suggestions.add(conn, job_id, domain.NewSuggestion(**values))

    return _seed


@pytest.fixture
def finish(db: database.Database):
    """Moves a job to a terminal state directly (the dispatcher's part, not built yet)."""

    async def _finish(job_name: str, state: str = "SUCCEEDED") -> None:
        job_id = uuid.UUID(job_name.split("/")[1])
        async with db.connection() as conn:
            await conn.execute(
                "UPDATE job SET state = $2, end_time = now(), "
                "expire_time = now() + interval '30 days', revision = revision + 1 WHERE id = $1",
                job_id,
                state,
            )

    return _finish


async def _eventually(predicate, *, attempts: int = 150, delay: float = 0.1) -> None:
    for _ in range(attempts):
        if await predicate():
            return
        await asyncio.sleep(delay)
    raise AssertionError("condition never held")


@pytest.fixture
def eventually():
    """Polls an async predicate until it holds (behaviour, not timing, is asserted)."""
    return _eventually


async def _expect_error(call, code: grpc.StatusCode, reason: str) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    assert rpc.reason_of(caught.value) == reason, caught.value.details()
    return errors.from_status(rpc.status_of(caught.value))[1]


@pytest.fixture
def expect_error():
    """Awaits a call, asserting its code and `ErrorInfo.reason`; returns the metadata."""
    return _expect_error
