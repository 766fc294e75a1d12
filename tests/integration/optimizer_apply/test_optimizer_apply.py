"""Apply and Rollback against real PostgreSQL: catalog round trips, failed and cancelled
builds, idempotent retries, permission and injected SQL."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from google.protobuf import duration_pb2

from pgsage import rpc
from pgsage.optimizer.v1 import advice_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from tests.support.apply import (
    FAILED,
    STARTED,
    SUCCEEDED,
    catalog,
    collect,
    eventually,
    results,
    seeded_database,
    statements,
)
from tests.support.pg import drop_database, dsn_for

SEED = """
CREATE TABLE items (id int PRIMARY KEY, owner int NOT NULL, label text NOT NULL, price int);
INSERT INTO items SELECT g, g % 500, 'item ' || g, g % 100 FROM generate_series(1, 20000) g;
CREATE INDEX items_label_idx ON items (label);
CREATE TABLE t (a int);
INSERT INTO t SELECT generate_series(1, 100);
CREATE FUNCTION pwn(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
"""
CREATE = advice_pb2.ADVICE_KIND_CREATE_INDEX
DROP_UNUSED = advice_pb2.ADVICE_KIND_DROP_UNUSED_INDEX
OWNER_INDEX = "CREATE INDEX CONCURRENTLY pgsage_items_owner ON public.items (owner)"
OWNER_UNDO = "DROP INDEX CONCURRENTLY IF EXISTS public.pgsage_items_owner"


def built(result: pb.ChangeResult) -> dict[str, object]:
    """The Rollback fields naming the index an Apply reported building."""
    assert result.index_oid and result.index_definition
    return {
        "expected_index_oid": result.index_oid,
        "expected_index_definition": result.index_definition,
    }


def ms(value: int) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromMilliseconds(value)
    return d


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("apply", SEED)
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def stub(database, started_optimizer):
    return await started_optimizer(
        [
            {"name": "live", "dsn": dsn_for(database), "apply_allowed": True},
            {"name": "readonly", "dsn": dsn_for(database)},
        ]
    )


async def index_row(database: str, name: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(dsn_for(database))
    try:
        return await conn.fetchrow(
            "SELECT x.indisvalid FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE c.relname = $1",
            name,
        )
    finally:
        await conn.close()


async def test_apply_then_rollback_leaves_the_catalog_exactly_as_it_was(stub, database):
    before = await catalog(dsn_for(database))
    events, error = await collect(
        stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=OWNER_INDEX))
    )
    assert error is None
    assert statements(events, STARTED) == [
        "SET lock_timeout = 1000",
        # The build runs under the target's build timeout (none by default), not the
        # analysis statement_timeout: a build of a large table may take hours.
        "SET statement_timeout = 0",
        OWNER_INDEX,
    ]
    assert statements(events, SUCCEEDED) == statements(events, STARTED)
    [result] = results(events, pb.ChangeResult)
    assert (result.index_name, result.index_exists, result.index_valid) == (
        "pgsage_items_owner",
        True,
        True,
    )
    assert result.index_size_bytes > 0 and not result.already_in_place
    assert (await index_row(database, "pgsage_items_owner"))["indisvalid"] is True

    # a retry (a takeover after a crash) finds the index valid and builds nothing
    events, error = await collect(
        stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=OWNER_INDEX))
    )
    assert error is None and statements(events) == []
    [again] = results(events, pb.ChangeResult)
    assert again.already_in_place and again.index_exists and again.index_valid
    assert (again.index_oid, again.index_definition) == (
        result.index_oid,
        result.index_definition,
    )

    events, error = await collect(
        stub.Rollback(
            pb.RollbackRequest(target="live", kind=CREATE, rollback_sql=OWNER_UNDO, **built(result))
        )
    )
    assert error is None
    assert OWNER_UNDO in statements(events, SUCCEEDED)
    [gone] = results(events, pb.ChangeResult)
    assert not gone.index_exists and not gone.already_in_place
    assert await catalog(dsn_for(database)) == before

    events, error = await collect(
        stub.Rollback(
            pb.RollbackRequest(target="live", kind=CREATE, rollback_sql=OWNER_UNDO, **built(result))
        )
    )
    assert error is None and statements(events) == []
    assert results(events, pb.ChangeResult)[0].already_in_place


async def test_a_drop_and_its_rollback_restore_the_same_definition(stub, database):
    before = await catalog(dsn_for(database))
    drop = "DROP INDEX CONCURRENTLY public.items_label_idx"
    events, error = await collect(
        stub.Apply(pb.ApplyRequest(target="live", kind=DROP_UNUSED, sql=drop))
    )
    assert error is None
    assert not results(events, pb.ChangeResult)[0].index_exists
    assert await index_row(database, "items_label_idx") is None

    saved = "CREATE INDEX CONCURRENTLY items_label_idx ON public.items USING btree (label)"
    events, error = await collect(
        stub.Rollback(pb.RollbackRequest(target="live", kind=DROP_UNUSED, rollback_sql=saved))
    )
    assert error is None
    [result] = results(events, pb.ChangeResult)
    assert result.index_exists and result.index_valid
    assert await catalog(dsn_for(database)) == before


async def test_a_build_that_fails_on_the_data_leaves_no_invalid_index(stub, database):
    # price - 5 is zero on some rows: the build fails after the catalog entry exists
    sql = "CREATE INDEX CONCURRENTLY pgsage_items_ratio ON public.items ((100 / (price - 5)))"
    before = await catalog(dsn_for(database))
    events, error = await collect(stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=sql)))
    assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rpc.reason_of(error) == "STATEMENT_FAILED" and "division by zero" in error.details()
    assert sql in statements(events, FAILED)
    assert any(
        s.startswith("DROP INDEX CONCURRENTLY IF EXISTS") for s in statements(events, SUCCEEDED)
    )
    [result] = results(events, pb.ChangeResult)
    assert not result.index_exists
    assert await index_row(database, "pgsage_items_ratio") is None
    assert await catalog(dsn_for(database)) == before


async def test_a_build_stopped_by_lock_timeout_leaves_no_invalid_index(stub, database):
    """A writer's open transaction makes the build wait after its catalog entry is made."""
    blocker = await asyncpg.connect(dsn_for(database))
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("INSERT INTO items VALUES (100001, 1, 'held', 1)")
        call = stub.Apply(
            pb.ApplyRequest(target="live", kind=CREATE, sql=OWNER_INDEX, lock_timeout=ms(300))
        )
        events: list[object] = []
        error = None
        try:
            async for response in call:
                event = getattr(response, response.WhichOneof("event"))
                events.append(event)
                if isinstance(event, pb.StatementExecution) and event.phase == FAILED:
                    await tx.rollback()  # lets the cleanup's concurrent drop proceed
        except grpc.aio.AioRpcError as exc:
            error = exc
    finally:
        await blocker.close()
    assert error is not None and error.code() == grpc.StatusCode.ABORTED
    assert rpc.reason_of(error) == "LOCK_TIMEOUT"
    assert OWNER_INDEX in statements(events, FAILED)
    assert OWNER_UNDO in statements(events, SUCCEEDED)  # an invalid index was there, dropped
    [result] = results(events, pb.ChangeResult)
    assert not result.index_exists
    assert await index_row(database, "pgsage_items_owner") is None


async def test_a_cancelled_build_leaves_no_invalid_index(stub, database):
    blocker = await asyncpg.connect(dsn_for(database))
    observer = await asyncpg.connect(dsn_for(database))
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("INSERT INTO items VALUES (100002, 1, 'held', 1)")
        call = stub.Apply(
            pb.ApplyRequest(target="live", kind=CREATE, sql=OWNER_INDEX, lock_timeout=ms(60_000))
        )
        async for response in call:
            event = getattr(response, response.WhichOneof("event"))
            if isinstance(event, pb.StatementExecution) and event.sql == OWNER_INDEX:
                break  # the build has started

        async def invalid_index_exists() -> bool:
            return bool(
                await observer.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_index x "
                    "ON x.indexrelid = c.oid WHERE c.relname = 'pgsage_items_owner' "
                    "AND NOT x.indisvalid)"
                )
            )

        await eventually(invalid_index_exists, "the build made its (invalid) catalog entry")
        call.cancel()
        await tx.rollback()

        async def cleaned() -> bool:
            busy = await observer.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'pgsage-optimizer' AND datname = current_database()"
            )
            return busy == 0 and not await invalid_index_exists()

        await eventually(cleaned, "the optimizer dropped the invalid index and left")
    finally:
        await blocker.close()
        await observer.close()
    assert await index_row(database, "pgsage_items_owner") is None


async def test_an_invalid_index_left_earlier_is_dropped_and_built_again(stub, database):
    conn = await asyncpg.connect(dsn_for(database))
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await conn.execute(
                "CREATE INDEX CONCURRENTLY pgsage_items_price ON items ((100 / (price - 5)))"
            )
    finally:
        await conn.close()
    assert (await index_row(database, "pgsage_items_price"))["indisvalid"] is False
    sql = "CREATE INDEX CONCURRENTLY pgsage_items_price ON public.items (price)"
    events, error = await collect(stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=sql)))
    assert error is None
    done = statements(events, SUCCEEDED)
    assert done.index("DROP INDEX CONCURRENTLY IF EXISTS public.pgsage_items_price") < done.index(
        sql
    )
    [result] = results(events, pb.ChangeResult)
    assert result.index_exists and result.index_valid and not result.already_in_place
    _, error = await collect(
        stub.Rollback(
            pb.RollbackRequest(
                target="live",
                kind=CREATE,
                rollback_sql="DROP INDEX CONCURRENTLY IF EXISTS public.pgsage_items_price",
                **built(result),
            )
        )
    )
    assert error is None


@pytest.mark.parametrize("method", ["Apply", "Rollback"])
async def test_a_target_without_permission_is_failed_precondition(stub, database, method):
    request = (
        pb.ApplyRequest(target="readonly", kind=CREATE, sql=OWNER_INDEX)
        if method == "Apply"
        else pb.RollbackRequest(target="readonly", kind=CREATE, rollback_sql=OWNER_UNDO)
    )
    events, error = await collect(getattr(stub, method)(request))
    assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rpc.reason_of(error) == "APPLY_NOT_ALLOWED"
    assert "readonly" in error.details() and "apply_allowed" in error.details()
    assert events == []
    assert await index_row(database, "pgsage_items_owner") is None


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY x ON t (a); DROP TABLE t",
        "DROP TABLE t",
        "CREATE TABLE evil (a int)",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
        "CREATE INDEX CONCURRENTLY x ON t (pwn(a))",
        "CREATE INDEX CONCURRENTLY x ON t (a) WHERE pwn(a) > 0",
        "CREATE INDEX x ON t (a)",
        "DROP INDEX CONCURRENTLY items_pkey",
    ],
)
async def test_injected_sql_is_invalid_argument_and_never_runs(stub, database, sql):
    before = await catalog(dsn_for(database))
    for call, field in (
        (stub.Apply(pb.ApplyRequest(target="live", sql=sql)), "sql"),
        (stub.Rollback(pb.RollbackRequest(target="live", rollback_sql=sql)), "rollback_sql"),
    ):
        events, error = await collect(call)
        assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, sql
        assert rpc.reason_of(error) == "INVALID_STATEMENT"
        assert rpc.status_of(error).details and field in str(rpc.status_of(error))
        assert events == []
    conn = await asyncpg.connect(dsn_for(database))
    try:
        assert await conn.fetchval("SELECT count(*) FROM t") == 100
        assert await conn.fetchval("SELECT to_regclass('evil')") is None
    finally:
        await conn.close()
    assert await catalog(dsn_for(database)) == before


async def test_bad_timeouts_and_kinds_name_their_field(stub):
    cases = [
        (
            pb.ApplyRequest(target="live", kind=CREATE, sql=OWNER_INDEX, lock_timeout=ms(-5)),
            "lock_timeout",
        ),
        (pb.ApplyRequest(target="live", kind=99, sql=OWNER_INDEX), "kind"),
        (pb.ApplyRequest(target="live", kind=CREATE, sql=""), "sql"),
        (pb.ApplyRequest(kind=CREATE, sql=OWNER_INDEX), "target"),
    ]
    for request, field in cases:
        _, error = await collect(stub.Apply(request))
        assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in str(rpc.status_of(error))
    _, error = await collect(stub.Apply(pb.ApplyRequest(target="nope", sql=OWNER_INDEX)))
    assert error is not None and error.code() == grpc.StatusCode.NOT_FOUND


async def test_an_index_on_built_in_expressions_applies_and_rolls_back(stub, database):
    before = await catalog(dsn_for(database))
    sql = (
        "CREATE INDEX CONCURRENTLY pgsage_items_lower "
        "ON public.items (lower(label)) WHERE price + 1 > 50"
    )
    events, error = await collect(stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=sql)))
    assert error is None, error
    [result] = results(events, pb.ChangeResult)
    assert result.index_valid
    undo = "DROP INDEX CONCURRENTLY IF EXISTS public.pgsage_items_lower"
    events, error = await collect(
        stub.Rollback(
            pb.RollbackRequest(target="live", kind=CREATE, rollback_sql=undo, **built(result))
        )
    )
    assert error is None and not results(events, pb.ChangeResult)[0].index_exists
    assert await catalog(dsn_for(database)) == before


async def test_a_valid_index_of_that_name_but_another_definition_is_refused(stub, database):
    events, error = await collect(
        stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=OWNER_INDEX))
    )
    assert error is None
    [result] = results(events, pb.ChangeResult)
    try:
        other = "CREATE INDEX CONCURRENTLY pgsage_items_owner ON public.items (owner, price)"
        events, error = await collect(
            stub.Apply(pb.ApplyRequest(target="live", kind=CREATE, sql=other))
        )
        assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rpc.reason_of(error) == "INDEX_NAME_TAKEN"
        assert statements(events) == []
    finally:
        await collect(
            stub.Rollback(
                pb.RollbackRequest(
                    target="live", kind=CREATE, rollback_sql=OWNER_UNDO, **built(result)
                )
            )
        )
    assert await index_row(database, "pgsage_items_owner") is None
