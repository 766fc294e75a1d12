"""Helpers and fixtures of the optimizer's integration tests: a fresh database per test
module on the shared PostgreSQL (with HypoPG), and a real optimizer gRPC server on port 0
whose targets point at it, once with each what-if engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
import pytest

from optimizer_service import app
from optimizer_service.settings import Settings
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support import pg

ENGINES = ("hypopg", "transactional")


async def seeded_database(prefix: str, seed_sql: str) -> str:
    """A new database on the shared server with hypopg, seeded and analysed; returns its name
    (drop it with `pg.drop_database`)."""
    return await pg.create_database(
        f"pgsage_opt_{prefix}", "CREATE EXTENSION hypopg", seed_sql, "VACUUM ANALYZE"
    )


def targets_for(database: str) -> list[dict[str, object]]:
    """One target per what-if engine, named after it, on `database`."""
    return [
        {
            "name": engine,
            "dsn": pg.dsn_for(database),
            "what_if_engine": engine,
            "lock_timeout_ms": 500,
        }
        for engine in ENGINES
    ]


@pytest.fixture(scope="module")
async def optimizer_for() -> AsyncIterator[Callable[[list[dict[str, object]]], object]]:
    """Starts optimizer servers for given targets (and other settings); all stopped at the
    end of the module."""
    running: list[app.Running] = []

    async def start(targets: list[dict[str, object]], **settings: object) -> app.Running:
        server = await app.start(
            Settings(grpc_host="127.0.0.1", grpc_port=0, targets=targets, **settings)
        )
        running.append(server)
        return server

    yield start
    for server in running:
        await server.stop(0)


@pytest.fixture(scope="module")
async def channel_for() -> AsyncIterator[Callable[[app.Running], grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []

    def open_channel(server: app.Running) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(server.address)
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        await channel.close()


def workload(*queries: tuple[str, float] | tuple[str, float, int, int]) -> analysis_pb2.Workload:
    """A request workload of (text, weight[, calls, rows]) tuples."""
    items = []
    for q in queries:
        text, weight = q[0], q[1]
        calls = q[2] if len(q) > 2 else 1
        rows = q[3] if len(q) > 3 else 0
        items.append(analysis_pb2.WorkloadQuery(text=text, weight=weight, calls=calls, rows=rows))
    return analysis_pb2.Workload(queries=items)


async def analyze(
    stub: pb_grpc.OptimizerServiceStub, request: pb.AnalyzeRequest
) -> list[pb.AnalyzeResponse]:
    """Every event of one Analyze stream."""
    return [event async for event in stub.Analyze(request, timeout=120)]


def of_kind(events: list[pb.AnalyzeResponse], kind: str) -> list[object]:
    return [getattr(e, kind) for e in events if e.WhichOneof("event") == kind]
