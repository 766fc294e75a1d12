"""Partitioned tables: the index is suggested on the partitioned table (sized as the sum of
its partitions' indexes), built with the partition-aware procedure (ON ONLY, then CREATE
INDEX CONCURRENTLY per partition and ATTACH), resumed from what pg_index says when an
earlier attempt stopped half way, and rolled back whole."""

from __future__ import annotations

import asyncpg
import pytest

from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from tests.support.apply import SUCCEEDED, collect, seeded_database, started_optimizer, statements
from tests.support.optimizer import analyze, of_kind, workload
from tests.support.pg import drop_database, dsn_for

__all__ = ["started_optimizer"]  # the fixture, used by name

CREATE = advice_pb2.ADVICE_KIND_CREATE_INDEX
SEED = """
CREATE EXTENSION hypopg;
CREATE TABLE readings (id int, at date NOT NULL, sensor int) PARTITION BY RANGE (at);
CREATE TABLE readings_h1 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE readings_h2 PARTITION OF readings FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
INSERT INTO readings SELECT g, '2024-01-01'::date + (g % 360), g % 2000
FROM generate_series(1, 200000) g;
"""
QUERY = "SELECT id FROM readings WHERE sensor = 42"


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("parts", SEED)
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def stub(database, started_optimizer):
    return await started_optimizer(
        [{"name": "parts", "dsn": dsn_for(database), "apply_allowed": True}]
    )


async def indexes(database: str) -> dict[str, tuple[str, bool]]:
    """Every index of the readings tree: name → (its table, valid)."""
    conn = await asyncpg.connect(dsn_for(database))
    try:
        rows = await conn.fetch(
            "SELECT c.relname, t.relname AS tbl, x.indisvalid FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname LIKE 'readings%'"
        )
        return {r["relname"]: (r["tbl"], r["indisvalid"]) for r in rows}
    finally:
        await conn.close()


async def partition_index_sizes(database: str, sql_for) -> int:
    """What the same index costs built on each partition, per HypoPG."""
    conn = await asyncpg.connect(dsn_for(database))
    try:
        total = 0
        for part in ("readings_h1", "readings_h2"):
            oid = await conn.fetchval(
                "SELECT indexrelid FROM hypopg_create_index($1)", sql_for(part)
            )
            total += await conn.fetchval("SELECT hypopg_relation_size($1)", oid)
        return total
    finally:
        await conn.close()


async def test_suggested_on_the_partitioned_table_sized_as_its_partitions(database, stub):
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target="parts",
            analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
            workload=workload((QUERY, 1, 100, 100)),
        ),
    )
    [advice] = of_kind(events, "advice")
    assert (
        advice.sql.startswith("CREATE INDEX CONCURRENTLY ")
        and " ON public.readings (sensor)" in advice.sql
    )
    expected = await partition_index_sizes(
        database, lambda part: f"CREATE INDEX ON {part} (sensor)"
    )
    assert advice.estimated_size_bytes == expected


async def test_built_partition_by_partition_resumed_and_rolled_back_whole(database, stub):
    sql = "CREATE INDEX CONCURRENTLY readings_sensor ON public.readings (sensor)"
    # An earlier attempt stopped half way: the parent's index and one partition's, attached.
    conn = await asyncpg.connect(dsn_for(database))
    oid_h1 = await conn.fetchval("SELECT 'readings_h1'::regclass::oid")
    await conn.execute("CREATE INDEX readings_sensor ON ONLY public.readings (sensor)")
    await conn.execute(f"CREATE INDEX readings_sensor_{oid_h1} ON public.readings_h1 (sensor)")
    await conn.execute(f"ALTER INDEX readings_sensor ATTACH PARTITION readings_sensor_{oid_h1}")
    await conn.close()
    assert (await indexes(database))["readings_sensor"] == ("readings", False)  # INVALID

    events, error = await collect(stub.Apply(pb.ApplyRequest(target="parts", kind=CREATE, sql=sql)))
    assert error is None, error
    ran = statements(events, SUCCEEDED)
    # The half-built tree is resumed, not dropped: only the missing partition is built.
    assert not any(s.startswith("DROP") for s in ran), ran
    builds = [s for s in ran if s.startswith("CREATE INDEX CONCURRENTLY")]
    h2 = await _oid(database, "readings_h2")
    assert builds == [
        f"CREATE INDEX CONCURRENTLY readings_sensor_{h2} ON public.readings_h2 (sensor)"
    ]
    assert any(s.startswith("ALTER INDEX public.readings_sensor ATTACH PARTITION") for s in ran)
    progress = [e.message for e in events if isinstance(e, analysis_pb2.Progress)]
    assert any("partition 1 of 2 (public.readings_h1): already built" in m for m in progress)
    [result] = [e for e in events if isinstance(e, pb.ChangeResult)]
    assert (result.index_exists, result.index_valid) == (True, True)
    assert result.index_size_bytes > 0  # the sum of its partitions' indexes
    found = await indexes(database)
    assert found["readings_sensor"] == ("readings", True)
    assert len(found) == 3 and all(valid for _, valid in found.values())

    events, error = await collect(
        stub.Rollback(
            pb.RollbackRequest(
                target="parts",
                kind=CREATE,
                rollback_sql="DROP INDEX CONCURRENTLY public.readings_sensor",
                expected_index_oid=result.index_oid,
                expected_index_definition=result.index_definition,
            )
        )
    )
    assert error is None, error
    assert "DROP INDEX IF EXISTS public.readings_sensor" in statements(events, SUCCEEDED)
    assert await indexes(database) == {}  # the whole tree is gone


async def _oid(database: str, table: str) -> int:
    conn = await asyncpg.connect(dsn_for(database))
    try:
        return await conn.fetchval("SELECT $1::regclass::oid", table)
    finally:
        await conn.close()
