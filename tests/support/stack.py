"""Real pgsage parts for the gateway, CLI and browser tests: a migrated job store on the
shared PostgreSQL, a job service (`job_service.app.start`) and a gateway (`gateway.app.start`),
each on a port of its own, plus seeding through the job service's repository for what the
dispatcher will do once it exists (suggestions, finished jobs).

Imported by the conftests of tests/integration/gateway, tests/integration/cli and tests/e2e.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr

from gateway import app as gateway_app
from gateway.settings import GatewaySettings
from job_service import app as job_app
from job_service import database, domain, jobs, schema, suggestions
from job_service.settings import Settings as JobSettings
from optimizer_service import app as optimizer_app
from optimizer_service.settings import Settings as OptimizerSettings
from pgsage.demo import build as demo_build
from pgsage.demo import config as demo_config
from pgsage.embedded import free_port
from pgsage.jobs.v1 import suggestion_pb2
from tests.support import pg

REPO = Path(__file__).resolve().parents[2]
__all__ = ["free_port"]
UI_DIST = REPO / "gateway" / "ui" / "dist"


@asynccontextmanager
async def job_store(prefix: str = "pgsage_gw") -> AsyncIterator[str]:
    """A migrated job-store database of its own on the shared server; yields its DSN."""
    async with pg.database(prefix) as name:
        db = database.Database(pg.dsn_for(name), pool_size=1)
        try:
            await schema.upgrade(db.engine)
        finally:
            await db.close()
        yield pg.dsn_for(name)


@asynccontextmanager
async def demo_database(scale: float = 0.01, rounds: int = 1) -> AsyncIterator[str]:
    """The demo shop (`pgsage.demo`) on the shared server, its workload run; yields its DSN."""
    name = pg.unique_name("pgsage_test_demo")
    try:
        built = await demo_build.build(pg.SHARED_PG, name, scale, rounds)
        yield built.dsn
    finally:
        await pg.drop_database(name)


def demo_targets(dsn: str) -> list[dict]:
    """The optimizer's targets for the demo database (transactional what-if, as the demo's)."""
    return [demo_config.target(dsn)]


@asynccontextmanager
async def job_service(store_dsn: str, **overrides: object) -> AsyncIterator[job_app.RunningService]:
    """A job service on `store_dsn`, dispatcher paused unless `max_concurrent_jobs` is given."""
    values: dict[str, object] = {
        "database_url": SecretStr(store_dsn),
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "health_interval": timedelta(seconds=0.2),
        "shutdown_grace": timedelta(seconds=1),
        "optimizer_timeout": timedelta(seconds=1),
        # The dispatcher paused: these tests run jobs themselves (`seed_suggestion`,
        # `finish_job`), so every change they see is one they made.
        "max_concurrent_jobs": 0,
        # No periodic snapshots unless a test asks: the snapshots a test lists are its own.
        "snapshot_interval": timedelta(0),
    }
    values.update(overrides)
    running = await job_app.start(JobSettings.model_validate(values))
    try:
        yield running
    finally:
        await running.stop(0.5)


@asynccontextmanager
async def optimizer(targets: list[dict] | None = None) -> AsyncIterator[optimizer_app.Running]:
    """A real optimizer service knowing `targets` (dicts of its target settings)."""
    settings = OptimizerSettings.model_validate(
        {"grpc_host": "127.0.0.1", "grpc_port": 0, "targets": targets or [], "grace_seconds": 1}
    )
    running = await optimizer_app.start(settings)
    try:
        yield running
    finally:
        await running.stop(0.5)


@asynccontextmanager
async def gateway(address: str, **overrides: object) -> AsyncIterator[gateway_app.RunningGateway]:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "http_port": 0,
        "job_service_address": address,
        "log_level": "WARNING",
    }
    values.update(overrides)
    running = await gateway_app.start(GatewaySettings.model_validate(values))
    try:
        yield running
    finally:
        await running.stop()


def _ids(job_name: str) -> uuid.UUID:
    return uuid.UUID(job_name.split("/")[1])


async def seed_suggestion(store_dsn: str, job_name: str, **fields: object) -> str:
    """Stores a suggestion of `job_name` as the dispatcher will; returns its name.

    `details` fields (rationale, improvement, ...) go in as a Suggestion message.
    """
    detail_fields = {
        k: fields.pop(k)
        for k in list(fields)
        if k in suggestion_pb2.Suggestion.DESCRIPTOR.fields_by_name
        and k not in ("kind", "target", "fingerprint", "sql", "rollback_sql", "title", "state")
    }
    table = fields.pop("table", "public.orders")
    column = fields.pop("column", "customer_id")
    index = f"{table.split('.')[-1]}_{column}_idx"
    values: dict[str, object] = {
        "kind": "CREATE_INDEX",
        "target": "demo",
        "fingerprint": uuid.uuid4().hex,
        "sql": f"CREATE INDEX CONCURRENTLY {index} ON {table} ({column})",
        "rollback_sql": f"DROP INDEX CONCURRENTLY IF EXISTS {table.split('.')[0]}.{index}",
        "title": f"Index on {table} ({column})",
        "details": suggestion_pb2.Suggestion(tables=[table], **detail_fields).SerializeToString(),
    }
    values.update(fields)
    db = database.Database(store_dsn, pool_size=1)
    try:
        async with db.connection() as conn:
            stored = await suggestions.add(conn, _ids(job_name), domain.NewSuggestion(**values))
    finally:
        await db.close()
    return f"{job_name}/suggestions/{stored.id}"


async def finish_job(store_dsn: str, job_name: str, state: str = "SUCCEEDED") -> None:
    """Ends a job as the dispatcher will (a guarded change with its event row)."""
    conn = await asyncpg.connect(store_dsn)
    try:
        statement = jobs.change_statement(  # the repository's guarded change + event row
            "state = $2, end_time = now(), expire_time = now() + interval '30 days'",
            "id = $1 AND state IN ('PENDING', 'RUNNING')",
            "$3::text",
        )
        await conn.fetchrow(statement, _ids(job_name), state, state.lower())
    finally:
        await conn.close()


def error_of(response: httpx.Response) -> tuple[int, str, str, dict]:
    """(HTTP status, gRPC status name, ErrorInfo reason, ErrorInfo metadata) of an error."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == response.status_code
    assert "Traceback" not in response.text
    info = next((d for d in error["details"] if d["@type"].endswith("google.rpc.ErrorInfo")), {})
    if info:
        assert info["domain"] == "pgsage.dev"
    return response.status_code, error["status"], info.get("reason", ""), info.get("metadata", {})
