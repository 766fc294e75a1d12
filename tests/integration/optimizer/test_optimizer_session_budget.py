"""The session budget of a target (`max_sessions`): every session the optimizer opens on a
target, idle kept ones included, fits in it; work beyond it waits its turn and says so;
analyses of one target at once all end with their advice; an idle kept session gives its
place up to waiting work rather than make it wait out its idle time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from optimizer_service import app as optimizer_app
from optimizer_service.settings import Settings, TargetConfig
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.optimizer import of_kind, seeded_database, workload
from tests.support.pg import drop_database, dsn_for

SEED = """
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL);
INSERT INTO orders SELECT g, g % 3000, g % 997 FROM generate_series(1, 100000) g;
"""
MISSING = analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES
ADVISE = pb.AnalyzeRequest(
    target="shop",
    analysis_types=[MISSING],
    workload=workload(("SELECT id, total FROM orders WHERE customer = 42", 1)),
)


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("budget", SEED)
    yield name
    await drop_database(name)


@contextlib.asynccontextmanager
async def optimizer(
    database: str, max_sessions: int, **settings: object
) -> AsyncIterator[pb_grpc.OptimizerServiceStub]:
    target = TargetConfig(name="shop", dsn=dsn_for(database), max_sessions=max_sessions)
    running = await optimizer_app.start(
        Settings(grpc_host="127.0.0.1", grpc_port=0, targets=[target], **settings)
    )
    channel = grpc.aio.insecure_channel(running.address)
    try:
        yield pb_grpc.OptimizerServiceStub(channel)
    finally:
        await channel.close()
        await running.stop(0)


async def sessions_on(conn: asyncpg.Connection, database: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = $1 AND application_name LIKE 'pgsage-optimizer%'",
        database,
    )


async def analyse(stub: pb_grpc.OptimizerServiceStub) -> tuple[list[str], list[pb.AnalyzeResponse]]:
    """The progress messages and every response of one Analyze."""
    responses = [r async for r in stub.Analyze(ADVISE, timeout=120)]
    messages = [r.progress.message for r in responses if r.WhichOneof("event") == "progress"]
    return messages, responses


async def test_analyses_at_once_share_the_budget_wait_their_turn_and_all_advise(database):
    async with optimizer(database, max_sessions=1) as stub:
        watcher = await asyncpg.connect(dsn_for(database))
        peak = 0
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, await sessions_on(watcher, database))
                await asyncio.sleep(0.01)

        watching = asyncio.create_task(watch())
        try:
            results = await asyncio.gather(*(analyse(stub) for _ in range(4)))
        finally:
            done.set()
            await watching
            await watcher.close()
    # Never more than one session on the target, idle kept ones included.
    assert peak == 1
    for _, responses in results:
        advice = of_kind(responses, "advice")
        assert [a.sql for a in advice] and "(customer" in advice[0].sql
    # Somebody waited, and said so in the words a person reads in the job's progress.
    waited = [m for messages, _ in results for m in messages if m.startswith("waiting for")]
    assert waited and "waiting for a session on shop (1 of 1 in use" in waited[0]


async def test_an_idle_kept_session_gives_its_place_to_waiting_work(database):
    # Idle sessions would be kept for 10 minutes: the validation below may not wait for that.
    async with optimizer(database, max_sessions=1, session_idle_seconds=600) as stub:
        await analyse(stub)  # leaves its session idle in the pool, holding the one place
        watcher = await asyncpg.connect(dsn_for(database))
        try:
            assert await sessions_on(watcher, database) == 1
            checked = await stub.ValidateStatement(
                pb.ValidateStatementRequest(
                    target="shop",
                    sql="CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total)",
                    expected_table="public.orders",
                ),
                timeout=20,
            )
            assert checked.index_name == "orders_total_idx"
        finally:
            await watcher.close()
