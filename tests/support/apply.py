"""Helpers of the Apply/Rollback/Benchmark tests: databases of their own on the shared
PostgreSQL, a real optimizer gRPC server on port 0, and catalog snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import grpc
import pytest

from optimizer_service import app
from optimizer_service.settings import Settings
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support import pg

STARTED = pb.StatementExecution.STARTED
SUCCEEDED = pb.StatementExecution.SUCCEEDED
FAILED = pb.StatementExecution.FAILED


async def seeded_database(prefix: str, seed_sql: str) -> str:
    """A new database on the shared server, seeded and analysed; returns its name (drop it
    with `pg.drop_database`)."""
    return await pg.create_database(f"pgsage_apply_{prefix}", seed_sql, "VACUUM ANALYZE")


@pytest.fixture(scope="module")
async def started_optimizer() -> AsyncIterator[Callable[[list[dict[str, object]]], object]]:
    """Starts an optimizer for given targets and returns a stub; all stopped at the end."""
    running: list[tuple[app.Running, grpc.aio.Channel]] = []

    async def start(targets: list[dict[str, object]]) -> pb_grpc.OptimizerServiceStub:
        server = await app.start(Settings(grpc_host="127.0.0.1", grpc_port=0, targets=targets))
        channel = grpc.aio.insecure_channel(server.address)
        running.append((server, channel))
        return pb_grpc.OptimizerServiceStub(channel)

    yield start
    for server, channel in running:
        await channel.close()
        await server.stop(0)


async def collect(call: object) -> tuple[list[object], grpc.aio.AioRpcError | None]:
    """Every event of a stream (unwrapped from its oneof) and the error it ended with."""
    events: list[object] = []
    try:
        async for response in call:  # type: ignore[attr-defined]
            events.append(getattr(response, response.WhichOneof("event")))
    except grpc.aio.AioRpcError as exc:
        return events, exc
    return events, None


def statements(events: list[object], phase: int | None = None) -> list[str]:
    return [
        e.sql
        for e in events
        if isinstance(e, pb.StatementExecution) and (phase is None or e.phase == phase)
    ]


def results(events: list[object], kind: type) -> list[object]:
    return [e for e in events if isinstance(e, kind)]


async def catalog(dsn: str) -> list[tuple[object, ...]]:
    """The indexes of a database's user tables as pg_indexes and pg_index say."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT i.schemaname, i.tablename, i.indexname, i.indexdef,
                   x.indisvalid, x.indisready, x.indislive
            FROM pg_indexes i
            JOIN pg_class c ON c.relname = i.indexname
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
            JOIN pg_index x ON x.indexrelid = c.oid
            WHERE i.schemaname NOT IN ('pg_catalog', 'information_schema')
            ORDER BY 1, 2, 3
            """
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def eventually(check: Callable[[], object], what: str, attempts: int = 300) -> None:
    """Polls an async `check` until it is truthy (bounded), else fails naming `what`."""
    for _ in range(attempts):
        if await check():  # type: ignore[misc]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
