"""The demo database: built small on the shared server, it has exactly the flaws it promises.

Missing indexes on foreign keys, unused indexes, a prefix-covered and an exact duplicate, and a
pg_stat_statements window that holds the parameterised workload with its frequencies; the
measuring command builds indexes, sees the plans use them, and leaves no index behind; and the
real optimizer, over gRPC with the demo's transactional target, finds those flaws.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import asyncpg
import pglast
import pytest
from pglast import ast

from optimizer_service import settings
from pgsage.demo import advice, build, config, measure, schema, workload
from tests.support.pg import SHARED_PG, drop_database, unique_name

ROUNDS = 2


@pytest.fixture(scope="module")
async def demo():
    name = unique_name("pgsage_test_demo")
    built = await build.build(SHARED_PG, name, scale=0.05, rounds=ROUNDS)
    try:
        yield built
    finally:
        await drop_database(name)


async def _fetch(dsn: str, sql: str, *args):
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


LEADING_COLUMNS = """
SELECT c.relname AS table, a.attname AS column
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
"""

INDEX_KEYS = """
SELECT ic.relname AS name, i.indisunique AS is_unique,
       array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.n) AS columns
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace ns ON ns.oid = ic.relnamespace WHERE ns.nspname = 'public'
"""


async def test_foreign_keys_exist_but_their_columns_have_no_index(demo):
    fks = await _fetch(demo.dsn, "SELECT conname FROM pg_constraint WHERE contype = 'f'")
    assert len(fks) == 5
    leading = {(r["table"], r["column"]) for r in await _fetch(demo.dsn, LEADING_COLUMNS)}
    for missing in schema.MISSING:
        assert missing not in leading, f"{missing} should have no index"


async def test_unused_indexes_have_no_scan_after_the_workload(demo):
    rows = await _fetch(demo.dsn, "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes")
    scans = {r["indexrelname"]: r["idx_scan"] for r in rows}
    for name in schema.UNUSED:
        assert scans[name] == 0, name
    # The statistics window does see the indexes the workload does use.
    assert scans["orders_status_created_at_idx"] > 0
    assert scans["customers_pkey"] > 0


async def test_duplicates_are_prefixes_of_the_indexes_that_cover_them(demo):
    keys = {r["name"]: r for r in await _fetch(demo.dsn, INDEX_KEYS)}
    for redundant, covering in schema.DUPLICATES:
        short, long = list(keys[redundant]["columns"]), list(keys[covering]["columns"])
        assert long[: len(short)] == short, (redundant, covering)
        assert not keys[redundant]["is_unique"]
    assert keys["customers_email_key"]["is_unique"]


async def test_pg_stat_statements_holds_the_parameterised_workload_with_its_frequencies(demo):
    rows = await _fetch(
        demo.dsn,
        "SELECT query, calls FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    for st in workload.STATEMENTS:
        prefix = st.sql.split("$")[0].split("'")[0]
        found = [r for r in rows if r["query"].startswith(prefix)]
        assert len(found) == 1, f"{st.name}: {[r['query'] for r in rows]}"
        assert "$1" in found[0]["query"]
        assert found[0]["calls"] == st.weight * ROUNDS, st.name
    # Nothing from the load itself: the window starts after it.
    assert not [r for r in rows if "generate_series" in r["query"]]


async def test_events_is_the_write_heavy_table(demo):
    rows = await _fetch(
        demo.dsn,
        "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS writes FROM pg_stat_user_tables",
    )
    writes = {r["relname"]: r["writes"] for r in rows}
    assert max(writes, key=writes.get) == "events"
    assert writes["events"] >= 60 * ROUNDS


async def test_measure_builds_the_indexes_sees_them_used_and_drops_them(demo):
    before = {r["name"] for r in await _fetch(demo.dsn, INDEX_KEYS)}
    result = await measure.measure(
        demo.dsn,
        ["CREATE INDEX CONCURRENTLY ON orders (customer_id, created_at)"],
        samples=3,
    )
    assert {r["name"] for r in await _fetch(demo.dsn, INDEX_KEYS)} == before
    assert len(result.index_names) == 1 and result.index_bytes > 0
    timings = {t.name: t for t in result.timings}
    assert set(timings) == {st.name for st in workload.STATEMENTS}
    assert timings["customer_orders"].uses_new_index
    assert not timings["order_payment"].uses_new_index


def test_the_printed_target_is_a_valid_optimizer_target():
    dsn = "postgresql://postgres@127.0.0.1:5999/pgsage_demo"
    parsed = tomllib.loads(config.toml(dsn))["targets"]
    target = settings.TargetConfig.model_validate(parsed[0])
    assert target.name == "demo"
    assert target.what_if_engine == "transactional"
    assert target.apply_allowed
    assert target.dsn.get_secret_value() == dsn


def _leading_column(create_sql: str) -> tuple[str, str]:
    stmt = pglast.parse_sql(create_sql)[0].stmt
    assert isinstance(stmt, ast.IndexStmt), create_sql
    return stmt.relation.relname, stmt.indexParams[0].name


def _dropped_index(drop_sql: str) -> str:
    stmt = pglast.parse_sql(drop_sql)[0].stmt
    assert isinstance(stmt, ast.DropStmt), drop_sql
    return stmt.objects[0][-1].sval


async def test_the_optimizer_finds_the_flaws_and_its_indexes_serve_the_workload(demo):
    log_path = Path("test-artifacts") / "optimizer-demo-test.log"
    async with advice.optimizer([config.target(demo.dsn)], log_path) as address:
        got = await advice.analyze(address)

    # Every query of the demo's workload was planned (the driver's catalog queries that
    # pg_stat_statements also holds are skipped, not failed).
    assert not [i for i in got.insights if "could not be planned" in i], got.insights
    leading = {_leading_column(sql) for sql in got.creates}
    for hot_foreign_key in [
        ("orders", "customer_id"),
        ("order_items", "order_id"),
        ("payments", "order_id"),
    ]:
        assert hot_foreign_key in leading, got.titles
    dropped = {_dropped_index(sql) for sql in got.drops}
    assert set(schema.UNUSED) | {redundant for redundant, _ in schema.DUPLICATES} <= dropped
    kept = {covering for _, covering in schema.DUPLICATES} | {"customers_pkey", "orders_pkey"}
    assert not dropped & kept

    result = await measure.measure(demo.dsn, list(got.creates), samples=1)
    uses = {t.name: t.uses_new_index for t in result.timings}
    assert uses["customer_orders"] and uses["order_items"] and uses["order_payment"]
