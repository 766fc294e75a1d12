"""Index DDL is exactly what was reviewed, checked through the target's catalog: domains
with a CHECK, user casts, user operators and IMMUTABLE-lying functions are refused by name
before anything runs (the side-effect sequence never moves); IF NOT EXISTS is refused; a
rollback drops only the index pgsage's Apply built, never a DBA's index of that name."""

from __future__ import annotations

import logging

import asyncpg
import grpc
import pytest

from pgsage import rpc
from pgsage.optimizer.v1 import advice_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from tests.support.apply import catalog, collect, results, seeded_database
from tests.support.attacks import SEED, leaks, side_effects
from tests.support.pg import drop_database, dsn_for

CREATE = advice_pb2.ADVICE_KIND_CREATE_INDEX
DROP_UNUSED = advice_pb2.ADVICE_KIND_DROP_UNUSED_INDEX


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("guard", SEED)
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def stub(database, started_optimizer):
    return await started_optimizer(
        [{"name": "live", "dsn": dsn_for(database), "apply_allowed": True}]
    )


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("CREATE INDEX CONCURRENTLY g1 ON public.t ((a::checked_int))", "checked_int"),
        ("CREATE INDEX CONCURRENTLY g2 ON public.t ((CAST(a AS checked_int)))", "checked_int"),
        ("CREATE INDEX CONCURRENTLY g3 ON public.t ((a::text))", "bump_text"),
        ("CREATE INDEX CONCURRENTLY g4 ON public.t (a) WHERE a === 1", "==="),
        ("CREATE INDEX CONCURRENTLY g5 ON public.t ((bump(a)))", "bump"),
        ("CREATE INDEX CONCURRENTLY g6 ON public.t (a) WHERE bump(1) = 1", "bump"),
        ("CREATE INDEX CONCURRENTLY g7 ON public.t ((abs(bump(a))))", "bump"),
        ("CREATE INDEX CONCURRENTLY g8 ON public.t (a int_bump_ops)", "int_bump_ops"),
        ("CREATE INDEX CONCURRENTLY g9 ON public.t (note COLLATE my_c)", "my_c"),
    ],
)
async def test_an_index_that_would_run_a_users_code_is_refused_and_nothing_runs(
    stub, database, sql, named, caplog
):
    caplog.set_level(logging.DEBUG)
    dsn = dsn_for(database)
    before, catalog_before = await side_effects(dsn), await catalog(dsn)
    for call in (
        stub.ValidateStatement(pb.ValidateStatementRequest(target="live", sql=sql)),
        stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=sql)),
    ):
        if isinstance(call, grpc.aio.UnaryUnaryCall):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            error, events = info.value, []
        else:
            events, error = await collect(call)
        assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, sql
        assert rpc.reason_of(error) == "INVALID_STATEMENT"
        assert named in error.details(), error.details()
        assert events == []
    assert await side_effects(dsn) == before  # no user code ran, not even once
    assert await catalog(dsn) == catalog_before
    assert leaks(caplog.text) == []


async def test_if_not_exists_on_a_dbas_index_is_refused_and_the_index_stays(stub, database):
    dsn = dsn_for(database)
    before = await catalog(dsn)
    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_b_dba ON public.t (a)"
    for call in (
        stub.ValidateStatement(pb.ValidateStatementRequest(target="live", sql=sql)),
        stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=sql)),
    ):
        if isinstance(call, grpc.aio.UnaryUnaryCall):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            error = info.value
        else:
            _, error = await collect(call)
        assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "IF NOT EXISTS" in error.details()
    assert await catalog(dsn) == before


async def test_a_rollback_never_drops_an_index_pgsage_did_not_build(stub, database):
    dsn = dsn_for(database)
    undo = "DROP INDEX CONCURRENTLY IF EXISTS public.t_b_dba"
    # The DBA's index, with no record of a pgsage build, or with another index's record.
    for expected in ({}, {"expected_index_oid": 1, "expected_index_definition": "x"}):
        events, error = await collect(
            stub.Rollback(
                pb.RollbackRequest(target="live", kind=CREATE, rollback_sql=undo, **expected)
            )
        )
        assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rpc.reason_of(error) == "INDEX_NOT_BUILT_BY_PGSAGE"
        assert "t_b_dba" in error.details()
        assert [e for e in events if isinstance(e, pb.StatementExecution)] == []
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('public.t_b_dba')") is not None
    finally:
        await conn.close()


async def test_a_rollback_keeps_a_dbas_index_that_replaced_pgsages(stub, database):
    dsn = dsn_for(database)
    sql = "CREATE INDEX CONCURRENTLY pgsage_t_note ON public.t (note)"
    events, error = await collect(stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=sql)))
    assert error is None, error
    [applied] = results(events, pb.ChangeResult)
    assert applied.index_oid and applied.index_definition.startswith("CREATE INDEX pgsage_t_note")
    conn = await asyncpg.connect(dsn)
    try:  # a DBA drops it and builds their own of the same name and definition
        await conn.execute("DROP INDEX pgsage_t_note")
        await conn.execute("CREATE INDEX pgsage_t_note ON t (note)")
        dba_oid = await conn.fetchval("SELECT 'pgsage_t_note'::regclass::oid")
        undo = "DROP INDEX CONCURRENTLY IF EXISTS public.pgsage_t_note"
        events, error = await collect(
            stub.Rollback(
                pb.RollbackRequest(
                    target="live",
                    kind=CREATE,
                    rollback_sql=undo,
                    expected_index_oid=applied.index_oid,
                    expected_index_definition=applied.index_definition,
                )
            )
        )
        assert error is not None and rpc.reason_of(error) == "INDEX_NOT_BUILT_BY_PGSAGE"
        assert str(applied.index_oid) in error.details() and str(dba_oid) in error.details()
        assert await conn.fetchval("SELECT 'pgsage_t_note'::regclass::oid") == dba_oid
    finally:
        await conn.execute("DROP INDEX IF EXISTS pgsage_t_note")
        await conn.close()


async def test_a_valid_index_of_that_name_with_other_expressions_is_not_taken_for_built(
    stub, database
):
    conn = await asyncpg.connect(dsn_for(database))
    try:
        await conn.execute("CREATE INDEX pgsage_t_expr ON t (lower(note))")
        sql = "CREATE INDEX CONCURRENTLY pgsage_t_expr ON public.t (upper(note))"
        events, error = await collect(
            stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=sql))
        )
        assert error is not None and rpc.reason_of(error) == "INDEX_NAME_TAKEN"
        assert results(events, pb.ChangeResult) == []
    finally:
        await conn.execute("DROP INDEX IF EXISTS pgsage_t_expr")
        await conn.close()


async def test_a_drops_rollback_recreates_exactly_the_definition_it_dropped(stub, database):
    dsn = dsn_for(database)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE INDEX t_partial_dba ON t (a DESC, b) WHERE b > 2")
        original = await conn.fetchval("SELECT pg_get_indexdef('t_partial_dba'::regclass)")
    finally:
        await conn.close()
    drop = "DROP INDEX CONCURRENTLY public.t_partial_dba"
    events, error = await collect(
        stub.Apply(pb.ApplyRequest(target="live", kind=DROP_UNUSED, sql=drop))
    )
    assert error is None, error
    [dropped] = results(events, pb.ChangeResult)
    assert not dropped.index_exists and dropped.index_definition == original
    events, error = await collect(
        stub.Rollback(
            pb.RollbackRequest(
                target="live",
                kind=DROP_UNUSED,
                rollback_sql="CREATE INDEX CONCURRENTLY t_partial_dba ON public.t (a)",
                expected_index_definition=dropped.index_definition,
            )
        )
    )
    assert error is None, error
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT pg_get_indexdef('t_partial_dba'::regclass)") == original
    finally:
        await conn.execute("DROP INDEX IF EXISTS t_partial_dba")
        await conn.close()
