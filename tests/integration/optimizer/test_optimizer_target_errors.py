"""A target that goes away or runs out of time mid-analysis, on a cluster of this module's
own (it is restarted; never the shared server): a restart while the analysis plans its
workload ends the Analyze stream UNAVAILABLE with reason TARGET_UNAVAILABLE (retryable,
never INTERNAL, the target named and its DSN not), and the next analysis works once the
target is back; a statement_timeout while the workload is planned is DEADLINE_EXCEEDED
naming the workload phase; an Apply by a role that does not own the table is
PERMISSION_DENIED naming the missing privilege in pgsage's words.

The analysis is held at a known point without timing: a session of the test holds an
ACCESS EXCLUSIVE lock on the table the workload reads, so the optimizer's plan of it waits
(seen in pg_stat_activity) until the target restarts or the statement_timeout fires."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from optimizer_service.targets import APPLICATION_NAME
from pgsage import rpc
from pgsage.embedded import EmbeddedPostgres
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support import clusters
from tests.support.optimizer import analyze, of_kind, workload

SEED = """
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL);
INSERT INTO orders SELECT g, g % 3000, g % 997 FROM generate_series(1, 50000) g;
ANALYZE orders;
CREATE ROLE pgsage_limited LOGIN;
GRANT SELECT ON orders TO pgsage_limited;
"""
QUERY = "SELECT id, total FROM orders WHERE customer = 42"
REQUEST = dict(
    analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
    workload=workload((QUERY, 1)),
)


@pytest.fixture(scope="module")
async def target() -> AsyncIterator[EmbeddedPostgres]:
    async with clusters.own_cluster(
        "optimizer-target-errors", "immediate", in_child=True
    ) as postgres:
        conn = await asyncpg.connect(postgres.dsn())
        try:
            await conn.execute(SEED)
        finally:
            await conn.close()
        yield postgres


@pytest.fixture(scope="module")
async def stub(target, optimizer_for, channel_for) -> pb_grpc.OptimizerServiceStub:
    server = await optimizer_for(
        [
            # Waits for locks longer than any test: only a restart ends the wait.
            {
                "name": "patient",
                "dsn": target.dsn(),
                "what_if_engine": "transactional",
                "statement_timeout_ms": 120_000,
                "lock_timeout_ms": 120_000,
            },
            # Its statement_timeout runs out before its lock_timeout.
            {
                "name": "hasty",
                "dsn": target.dsn(),
                "what_if_engine": "transactional",
                "statement_timeout_ms": 1_000,
                "lock_timeout_ms": 60_000,
            },
            # May apply, but connects as a role that does not own the table.
            {
                "name": "limited",
                "dsn": target.dsn().replace("postgres@", "pgsage_limited@"),
                "apply_allowed": True,
            },
        ]
    )
    return pb_grpc.OptimizerServiceStub(channel_for(server))


@contextlib.asynccontextmanager
async def table_locked(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """ACCESS EXCLUSIVE on `orders` until the block ends (or the target stops)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        yield conn
    finally:
        conn.terminate()


async def optimizer_waiting_on_lock(dsn: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND application_name = $1",
                APPLICATION_NAME,
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("the optimizer never waited on the held lock")


async def test_a_target_restart_mid_analysis_is_unavailable_then_analysis_works_again(stub, target):
    async with table_locked(target.dsn()):
        call = stub.Analyze(pb.AnalyzeRequest(target="patient", **REQUEST), timeout=120)
        events = []

        async def read() -> None:
            async for event in call:
                events.append(event)

        reader = asyncio.create_task(read())
        await optimizer_waiting_on_lock(target.dsn())
        # A fast stop terminates every backend (57P01), the waiting plan's included.
        await asyncio.to_thread(clusters.pg_ctl, target, "stop:fast", "start")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await reader
    error = info.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
    assert rpc.reason_of(error) == "TARGET_UNAVAILABLE"
    assert "target 'patient' is unreachable during the workload phase" in error.details()
    assert "postgresql://" not in str(rpc.status_of(error))
    assert [e.WhichOneof("event") for e in events if e.WhichOneof("event") != "progress"] == [
        "workload"
    ]
    # The target is back: the next analysis runs to its summary with the advice.
    again = await analyze(stub, pb.AnalyzeRequest(target="patient", **REQUEST))
    assert of_kind(again, "summary") and [a.title for a in of_kind(again, "advice")] == [
        "Index on public.orders (customer)"
    ]


async def test_a_statement_timeout_while_planning_the_workload_names_the_phase(stub, target):
    async with table_locked(target.dsn()):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await analyze(stub, pb.AnalyzeRequest(target="hasty", **REQUEST))
    error = info.value
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.details()
    assert rpc.reason_of(error) == "STATEMENT_TIMEOUT"
    assert "the workload phase of Analyze on target 'hasty'" in error.details()
    assert "statement_timeout" in error.details()


async def test_an_apply_without_the_privilege_is_permission_denied_naming_it(stub, target):
    sql = "CREATE INDEX CONCURRENTLY pgsage_orders_customer ON public.orders (customer)"
    call = stub.Apply(
        pb.ApplyRequest(target="limited", kind=advice_pb2.ADVICE_KIND_CREATE_INDEX, sql=sql),
        timeout=60,
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in call:
            pass
    error = info.value
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    assert rpc.reason_of(error) == "TARGET_PERMISSION_DENIED"
    assert "lacks ownership of table orders" in error.details()
    assert "target 'limited'" in error.details()
    conn = await asyncpg.connect(target.dsn())
    try:
        assert await conn.fetchval("SELECT to_regclass('pgsage_orders_customer')") is None
    finally:
        await conn.close()
