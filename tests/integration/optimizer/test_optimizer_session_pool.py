"""The optimizer's pool of analysis sessions on a real target: sequential analyses share
their sessions and give the same advice; a session that died while idle never fails an
analysis; idle sessions are reset, named idle, and closed after their idle time; a failed
analysis never gives its session back; an empty analysis costs one statement."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import asyncpg
import grpc
import pytest

from optimizer_service import analysis, mappers, model, pool, targets
from optimizer_service import app as optimizer_app
from optimizer_service.progress import Tracker
from optimizer_service.settings import Settings, TargetConfig
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.optimizer import analyze, of_kind, seeded_database, workload
from tests.support.pg import drop_database, dsn_for

SEED = """
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL);
INSERT INTO orders SELECT g, g % 3000, g % 997 FROM generate_series(1, 100000) g;
CREATE INDEX orders_total_idx ON orders (total);
"""
Q_CUSTOMER = "SELECT id, total FROM orders WHERE customer = 42"
MISSING = analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES
WORKING, IDLE = "pgsage-optimizer", "pgsage-optimizer (idle)"
ADVISE = pb.AnalyzeRequest(
    target="hypopg", analysis_types=[MISSING], workload=workload((Q_CUSTOMER, 1))
)
# No pg_stat_statements in this database, no queries given: nothing to plan.
EMPTY = pb.AnalyzeRequest(target="hypopg", analysis_types=[MISSING])


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("pool", SEED)
    yield name
    await drop_database(name)


def target_of(database: str) -> TargetConfig:
    return TargetConfig(name="hypopg", dsn=dsn_for(database), lock_timeout_ms=300)


@contextlib.asynccontextmanager
async def optimizer(
    database: str, **settings: object
) -> AsyncIterator[tuple[optimizer_app.Running, pb_grpc.OptimizerServiceStub]]:
    """An optimizer of its own for one test, so its pooled sessions are the only ones."""
    running = await optimizer_app.start(
        Settings(
            grpc_host="127.0.0.1",
            grpc_port=0,
            targets=[target_of(database)],
            **settings,
        )
    )
    channel = grpc.aio.insecure_channel(running.address)
    try:
        yield running, pb_grpc.OptimizerServiceStub(channel)
    finally:
        await channel.close()
        await running.stop(0)


@contextlib.asynccontextmanager
async def session_pool(database: str, **limits: object) -> AsyncIterator[pool.Pool]:
    sessions = pool.Pool(
        target_of(database),
        connect_timeout=5,
        max_idle=limits.get("max_idle", 4),
        idle_seconds=limits.get("idle_seconds", 60),
        setup=analysis.SESSION_SETUP,
    )
    try:
        yield sessions
    finally:
        await sessions.close()


async def backends(database: str) -> dict[int, tuple[str, datetime]]:
    """pid → (application_name, backend_start) of the optimizer's sessions on `database`."""
    conn = await asyncpg.connect(dsn_for(database))
    try:
        rows = await conn.fetch(
            "SELECT pid, application_name, backend_start FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name LIKE 'pgsage-optimizer%'",
            database,
        )
    finally:
        await conn.close()
    return {r["pid"]: (r["application_name"], r["backend_start"]) for r in rows}


async def eventually(database: str, check: Callable[[dict], bool]) -> dict:
    """The optimizer's sessions once `check` holds for them (a closed backend takes a moment
    to leave pg_stat_activity), or as they are after 20 s."""
    for _ in range(200):
        found = await backends(database)
        if check(found):
            return found
        await asyncio.sleep(0.1)
    return await backends(database)


async def terminate(database: str, pids: list[int]) -> None:
    conn = await asyncpg.connect(dsn_for(database))
    try:
        for pid in pids:
            assert await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    finally:
        await conn.close()


def fingerprints(events: list[pb.AnalyzeResponse]) -> list[str]:
    return [a.fingerprint for a in of_kind(events, "advice")]


async def test_sequential_analyses_reuse_their_sessions_and_give_the_same_advice(database):
    async with optimizer(database) as (_, stub):
        assert await backends(database) == {}
        first = await analyze(stub, ADVISE)
        pooled = await backends(database)
        assert pooled and {name for name, _ in pooled.values()} == {IDLE}
        second = await analyze(stub, ADVISE)
        # The very same backends (pid and start time): nothing opened, nothing closed.
        assert await backends(database) == pooled
        assert [a.title for a in of_kind(second, "advice")] == ["Index on public.orders (customer)"]
        assert fingerprints(second) == fingerprints(first)
    assert await eventually(database, lambda found: not found) == {}  # stop closed them


async def test_an_analysis_leaves_its_pooled_sessions_reset(database):
    async with optimizer(database) as (running, stub):
        events = await analyze(stub, ADVISE)
        assert of_kind(events, "advice")  # HypoPG made hypothetical indexes on the way
        sessions = running.servicer.pools.of(running.settings.target("hypopg"))
        assert sessions.idle == 2  # the analysis's own session and its HypoPG helper
        taken = [await sessions.acquire(targets.mark_working) for _ in range(2)]
        try:
            for conn, _ in taken:
                assert await conn.fetchval("SELECT count(*) FROM hypopg_list_indexes") == 0
                assert await conn.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
        finally:
            for conn, _ in taken:
                conn.terminate()


async def test_a_released_session_is_reset_named_idle_and_keeps_its_setup(database):
    async with session_pool(database) as sessions:
        conn, caps = await sessions.acquire(targets.capabilities)
        pid = conn.get_server_pid()
        await conn.fetchval(
            "SELECT indexrelid FROM hypopg_create_index($1)", "CREATE INDEX ON orders (customer)"
        )
        await conn.execute("PREPARE pgsage_left_over AS SELECT 1")
        assert (await backends(database))[pid][0] == WORKING
        await sessions.release(conn, targets.idle_reset_sql(caps))
        assert sessions.idle == 1
        assert (await backends(database))[pid][0] == IDLE
        again, _ = await sessions.acquire(targets.mark_working)
        assert again is conn and again.get_server_pid() == pid
        assert (await backends(database))[pid][0] == WORKING
        assert await again.fetchval("SELECT count(*) FROM hypopg_list_indexes") == 0
        assert await again.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
        # The session's setup was made once, when it was opened, and is still in force.
        assert await again.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        assert await again.fetchval("SHOW pg_stat_statements.track") == "none"
        # A cancelled analysis's backend, waiting on a lock, notices within 100 ms.
        assert await again.fetchval("SHOW client_connection_check_interval") == "100ms"
        await sessions.release(again, targets.idle_reset_sql(caps))


async def test_a_stricter_client_check_set_on_the_target_stays():
    name = await seeded_database("strict", "SELECT 1")
    try:
        admin = await asyncpg.connect(dsn_for(name))
        try:
            await admin.execute(
                f'ALTER DATABASE "{name}" SET client_connection_check_interval = 20'
            )
        finally:
            await admin.close()
        conn = await targets.connect(target_of(name), connect_timeout=5)
        try:
            assert await conn.fetchval("SHOW client_connection_check_interval") == "20ms"
        finally:
            await conn.close()
    finally:
        await drop_database(name)


async def test_a_pooled_session_killed_while_idle_does_not_fail_the_next_analysis(database):
    async with optimizer(database) as (_, stub):
        first = await analyze(stub, ADVISE)
        killed = await backends(database)
        await terminate(database, list(killed))
        second = await analyze(stub, ADVISE)
        assert fingerprints(second) == fingerprints(first) != []
        now = await backends(database)
        assert now and not set(now) & set(killed)


def blocking(coro) -> None:
    """Runs `coro` on a loop of its own in another thread, blocking this thread's loop."""
    with ThreadPoolExecutor(1) as executor:
        executor.submit(asyncio.run, coro).result()


async def test_a_pooled_session_that_died_unnoticed_is_replaced_on_first_use(database, caplog):
    async with session_pool(database) as sessions:
        conn, caps = await sessions.acquire(targets.capabilities)
        dead = conn.get_server_pid()
        await sessions.release(conn, targets.idle_reset_sql(caps))
        # Killed while this loop is blocked: asyncpg has not read the session's end when the
        # pool hands it out, so only its first statement can tell.
        blocking(terminate(database, [dead]))
        assert not conn.is_closed()
        with caplog.at_level(logging.INFO, logger="optimizer_service.pool"):
            fresh, fresh_caps = await sessions.acquire(targets.capabilities)
        assert "unusable" in caplog.text
        assert fresh is not conn and fresh.get_server_pid() != dead and fresh_caps == caps
        assert (await backends(database))[fresh.get_server_pid()][0] == WORKING
        fresh.terminate()


async def test_an_idle_session_is_closed_after_its_idle_time(database):
    async with optimizer(database, session_idle_seconds=0.5) as (_, stub):
        await analyze(stub, EMPTY)
        assert [name for name, _ in (await backends(database)).values()] == [IDLE]
        assert await eventually(database, lambda found: not found) == {}


async def test_a_failed_analysis_does_not_give_its_session_back(database, caplog):
    async with optimizer(database) as (_, stub):
        await analyze(stub, EMPTY)
        assert len(await backends(database)) == 1  # pooled, and taken by the next analysis
        locker = await asyncpg.connect(dsn_for(database))
        try:
            # An open DROP INDEX holds the index: reading its size waits past lock_timeout.
            await locker.execute("BEGIN; DROP INDEX orders_total_idx")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await analyze(
                    stub,
                    pb.AnalyzeRequest(
                        target="hypopg",
                        analysis_types=[analysis_pb2.ANALYSIS_TYPE_DUPLICATE_INDEXES],
                        workload=workload(("SELECT 1", 1)),
                    ),
                )
            # A lock timeout is the target's, reported as such (never INTERNAL).
            assert info.value.code() == grpc.StatusCode.ABORTED
            assert "canceling statement due to lock timeout" in caplog.text
        finally:
            await locker.close()  # rolls the DROP back
        assert await eventually(database, lambda found: not found) == {}


async def test_an_empty_analysis_on_a_pooled_session_runs_one_statement(database):
    async with session_pool(database) as sessions:
        conn, caps = await sessions.acquire(targets.capabilities)
        statements: list[str] = []
        conn.add_query_logger(lambda q: statements.append(q.query))
        await sessions.release(conn, targets.idle_reset_sql(caps))
        await asyncio.sleep(0)  # query loggers are called soon, not at once
        statements.clear()
        events: list[object] = []

        async def emit(event: object) -> None:
            events.append(event)

        request = analysis.Request(
            target=sessions.target,
            options=mappers.options_from_proto(analysis_pb2.AnalysisOptions(), [MISSING]),
            workload=None,
        )
        await analysis.Analysis(request, emit, Tracker(), sessions).run()
        await asyncio.sleep(0)
        # The capabilities read (which probes the session), then the pool's reset.
        assert len(statements) == 2, statements
        # (the working name, `targets.working_name()`, is its parameter)
        assert "server_version_num" in statements[0]
        assert "set_config('application_name', $1" in statements[0]
        assert statements[1] == targets.idle_reset_sql(caps)
        assert sessions.idle == 1
        assert isinstance(events[0], model.Workload) and isinstance(events[-1], model.Summary)
        assert [e.code for e in events[1:-1]] == ["PG_STAT_STATEMENTS_MISSING"]
