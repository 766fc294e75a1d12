"""Index advice on a small seeded schema, with both what-if engines (HypoPG and the
transactional engine): the choices a workload-level advisor must get right."""

from __future__ import annotations

import re

import asyncpg
import pytest

from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.optimizer import (
    ENGINES,
    analyze,
    of_kind,
    seeded_database,
    targets_for,
    workload,
)
from tests.support.pg import drop_database, dsn_for

SEED = """
-- A composite index beats either single column.
CREATE TABLE events (id int, tenant int, kind int, note text);
INSERT INTO events SELECT g, g % 100, (g / 100) % 50, 'n' FROM generate_series(1, 200000) g;

-- Benefit per byte: one big index against two small ones.
CREATE TABLE docs (id int, code text, body text);
INSERT INTO docs SELECT g, md5(g::text) || md5((g + 1)::text), 'b'
FROM generate_series(1, 100000) g;
CREATE TABLE small_a (id int, ref int, v int);
INSERT INTO small_a SELECT g, g, g % 7 FROM generate_series(1, 60000) g;
CREATE TABLE small_b (id int, ref int, v int);
INSERT INTO small_b SELECT g, g, g % 7 FROM generate_series(1, 60000) g;

-- Equality before range, although the range column is the more selective one.
CREATE TABLE orders_r (id int, customer int, created timestamp, total int);
INSERT INTO orders_r
SELECT g, g % 2000, timestamp '2020-01-01' + g * interval '1 minute', g % 1000
FROM generate_series(1, 200000) g;

-- A low-selectivity column, and a write-heavy table with a small read gain.
CREATE TABLE flags (id int, active boolean, payload text);
INSERT INTO flags SELECT g, g % 2 = 0, 'p' FROM generate_series(1, 100000) g;
CREATE TABLE hot (id int, bucket int, val int);
INSERT INTO hot SELECT g, g % 1000, 0 FROM generate_series(1, 50000) g;

-- An already indexed column.
CREATE TABLE users (id int, email text);
INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 50000) g;
CREATE INDEX users_email_idx ON users (email);
"""

Q_COMPOSITE = "SELECT id, note FROM events WHERE tenant = 7 AND kind = 3"
Q_BIG = (
    "SELECT id FROM docs "
    "WHERE code = 'c4ca4238a0b923820dcc509a6f75849bc81e728d9d4c2f636f067f89cc14862c'"
)
Q_SMALL_A = "SELECT v FROM small_a WHERE ref = 4242"
Q_SMALL_B = "SELECT v FROM small_b WHERE ref = 4242"
Q_RANGE = (
    "SELECT id, total FROM orders_r WHERE customer = 42 "
    "AND created >= '2020-02-01' AND created < '2020-03-15'"
)
Q_FLAGS = "SELECT count(*) FROM flags WHERE active"
Q_HOT = "SELECT val FROM hot WHERE bucket = 5"
Q_HOT_WRITE = "UPDATE hot SET val = val + 1"
Q_USERS = "SELECT id FROM users WHERE email = 'u123@example.com'"

MB = 1 << 20


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("advice", SEED)
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def stub(database, optimizer_for, channel_for) -> pb_grpc.OptimizerServiceStub:
    server = await optimizer_for(targets_for(database))
    return pb_grpc.OptimizerServiceStub(channel_for(server))


def creates(events) -> list[advice_pb2.Advice]:
    return [a for a in of_kind(events, "advice") if a.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX]


def keys(advice: advice_pb2.Advice) -> tuple[str, tuple[str, ...]]:
    """(table, key columns) of a CREATE INDEX advice, read from its SQL."""
    m = re.search(r" ON (\S+) \(([^)]*)\)", advice.sql)
    assert m, advice.sql
    return m.group(1), tuple(c.strip() for c in m.group(2).split(","))


def request(engine: str, w: analysis_pb2.Workload, budget: int = 0, **options) -> pb.AnalyzeRequest:
    return pb.AnalyzeRequest(
        target=engine,
        analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
        options=analysis_pb2.AnalysisOptions(storage_budget_bytes=budget, **options),
        workload=w,
    )


async def index_size(database: str, engine: str, ddl: str) -> int:
    """What the engine would say an index takes: HypoPG's estimate, or the real size of an
    index built inside a transaction that is rolled back."""
    conn = await asyncpg.connect(dsn_for(database))
    try:
        if engine == "hypopg":
            oid = await conn.fetchval("SELECT indexrelid FROM hypopg_create_index($1)", ddl)
            return await conn.fetchval("SELECT hypopg_relation_size($1)", oid)
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(ddl.replace("CREATE INDEX ", "CREATE INDEX pgsage_test_size "))
            return await conn.fetchval("SELECT pg_relation_size('pgsage_test_size')")
        finally:
            await tx.rollback()
    finally:
        await conn.close()


@pytest.mark.parametrize("engine", ENGINES)
async def test_composite_beats_two_single_column_indexes_when_one_fits(stub, database, engine):
    single = await index_size(database, engine, "CREATE INDEX ON events (tenant)")
    composite = await index_size(database, engine, "CREATE INDEX ON events (tenant, kind)")
    budget = int(max(single, composite) * 1.1)
    assert budget < 2 * single  # room for one index only
    events = await analyze(stub, request(engine, workload((Q_COMPOSITE, 1)), budget))
    chosen = creates(events)
    assert [keys(a) for a in chosen] == [("public.events", ("tenant", "kind"))]
    advice = chosen[0]
    assert advice.sql.startswith("CREATE INDEX CONCURRENTLY pgsage_events_tenant_kind_")
    assert advice.rollback_sql == (
        f"DROP INDEX CONCURRENTLY IF EXISTS public.{advice.sql.split()[3]}"
    )
    assert advice.query_impacts[0].cost_after < advice.query_impacts[0].cost_before / 5
    assert advice.estimated_size_bytes > 0 and advice.workload_improvement_percent > 50
    # The evidence plans name the index as the advice's SQL does, whatever the engine.
    assert advice.evidence and advice.sql.split()[3] in advice.evidence[0].plan_after
    assert {(c.table, c.column) for c in advice.columns} == {
        ("public.events", "tenant"),
        ("public.events", "kind"),
    }
    assert advice.query_impacts[0].parameter_mode == analysis_pb2.PARAMETER_MODE_LITERAL


@pytest.mark.parametrize("engine", ENGINES)
async def test_benefit_per_byte_prefers_two_small_indexes_over_one_big(stub, database, engine):
    big = await index_size(database, engine, "CREATE INDEX ON docs (code)")
    small_a = await index_size(database, engine, "CREATE INDEX ON small_a (ref)")
    small_b = await index_size(database, engine, "CREATE INDEX ON small_b (ref)")
    budget = big + min(small_a, small_b) // 2
    # The trap: the big index alone fits, and gains more than either small one.
    assert small_a + small_b <= budget < big + min(small_a, small_b)
    w = workload((Q_BIG, 10), (Q_SMALL_A, 15), (Q_SMALL_B, 15))
    events = await analyze(stub, request(engine, w, budget))
    assert sorted(keys(a) for a in creates(events)) == [
        ("public.small_a", ("ref",)),
        ("public.small_b", ("ref",)),
    ]
    summary = of_kind(events, "summary")[0]
    assert summary.added_bytes <= budget


@pytest.mark.parametrize("engine", ENGINES)
async def test_equality_columns_come_before_range_columns(stub, engine):
    events = await analyze(stub, request(engine, workload((Q_RANGE, 1)), 64 * MB))
    assert [keys(a) for a in creates(events)] == [("public.orders_r", ("customer", "created"))]


@pytest.mark.parametrize("engine", ENGINES)
async def test_write_heavy_table_and_low_selectivity_column_get_nothing(stub, engine):
    reads_only = await analyze(stub, request(engine, workload((Q_HOT, 1), (Q_FLAGS, 1)), 64 * MB))
    # Without the writes, the small read gain on `hot` does earn an index ...
    assert [keys(a) for a in creates(reads_only)] == [("public.hot", ("bucket",))]
    with_writes = await analyze(
        stub,
        request(
            engine, workload((Q_HOT, 1), (Q_FLAGS, 1), (Q_HOT_WRITE, 10, 10, 500_000)), 64 * MB
        ),
    )
    # ... but every write to it would now maintain the index: not worth it.
    assert creates(with_writes) == []
    assert of_kind(with_writes, "summary")[0].queries_analyzed == 3


@pytest.mark.parametrize("engine", ENGINES)
async def test_already_indexed_column_gets_nothing(stub, engine):
    w = workload((Q_USERS, 100), (Q_COMPOSITE, 1))
    events = await analyze(stub, request(engine, w, 64 * MB))
    tables = [keys(a)[0] for a in creates(events)]
    assert tables == ["public.events"]


@pytest.mark.parametrize("engine", ENGINES)
async def test_same_input_gives_the_same_advice_in_the_same_order(stub, engine):
    w = workload((Q_COMPOSITE, 3), (Q_RANGE, 2), (Q_SMALL_A, 1), (Q_SMALL_B, 1), (Q_HOT, 1))
    first = await analyze(stub, request(engine, w, 64 * MB))
    second = await analyze(stub, request(engine, w, 64 * MB))
    prints = [a.fingerprint for a in of_kind(first, "advice")]
    assert len(prints) >= 4
    assert prints == [a.fingerprint for a in of_kind(second, "advice")]
    assert list(of_kind(first, "summary")[0].fingerprints) == prints
    assert [a.sql for a in of_kind(first, "advice")] == [a.sql for a in of_kind(second, "advice")]
