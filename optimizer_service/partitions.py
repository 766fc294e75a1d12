"""Indexes on partitioned tables, built and dropped the way PostgreSQL allows.

`CREATE INDEX CONCURRENTLY` refuses a partitioned table, and a plain `CREATE INDEX` on one
locks every partition against writes for the whole build. So an APPLY on a partitioned
table runs the partition-aware procedure:

1. `CREATE INDEX IF NOT EXISTS <name> ON ONLY <table> (...)`: the parent's index, INVALID
   and empty for now (a brief lock on the parent only);
2. for each partition, level by level: a sub-partitioned one gets its own `ON ONLY` index;
   a leaf gets `CREATE INDEX CONCURRENTLY <name>_<partition oid> ON <partition> (...)`,
   watched like any build; then `ALTER INDEX <parent's index> ATTACH PARTITION <it>`;
3. once every partition's index is attached, PostgreSQL marks the parent's index valid.

It is resumable, pg_index first: a retried APPLY skips every partition whose index is
already valid and attached, drops an INVALID one and builds it again. A ROLLBACK (or the
cleanup of a failed or cancelled APPLY) drops the whole tree with one `DROP INDEX` of the
parent's index (partitioned indexes cannot be dropped concurrently: it takes a brief
ACCESS EXCLUSIVE lock on each partition, bounded by the lock timeout) plus any partition
index left unattached.
"""

from __future__ import annotations

import asyncpg
import pglast
from pglast import ast

from optimizer_service import buildwatch, ddl
from optimizer_service.settings import TargetConfig
from pgsage.sqlcheck import quote_ident
from pgsage.sqlcheck.render import render

_TREE = """
SELECT t.relid::bigint AS oid, n.nspname AS schema, c.relname AS name, t.isleaf, t.level,
       pn.nspname AS parent_schema, p.relname AS parent_name
FROM pg_partition_tree(to_regclass($1)) t
JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class p ON p.oid = t.parentrelid
LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE t.level > 0
ORDER BY t.level, c.relname"""

_ATTACHED = """
SELECT EXISTS (SELECT 1 FROM pg_inherits i
               WHERE i.inhrelid = to_regclass($1) AND i.inhparent = to_regclass($2))"""


async def is_partitioned_table(conn: asyncpg.Connection, table: str) -> bool:
    """Whether `table` (schema-qualified, as the catalog names it) is partitioned."""
    kind = await conn.fetchval(
        "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)", _qualified_text(table)
    )
    return kind == "p"


async def is_partitioned_index(conn: asyncpg.Connection, schema: str, name: str) -> bool:
    kind = await conn.fetchval(
        "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)", _q(schema, name)
    )
    return kind == "I"


def _q(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _qualified_text(table: str) -> str:
    schema, _, name = table.partition(".")
    return _q(schema, name)


def partition_index_name(name: str, oid: int) -> str:
    """The name of `name`'s index on the partition with `oid` (stable across attempts)."""
    suffix = f"_{oid}"
    return name[: 63 - len(suffix)] + suffix


def _statement(
    sql: str, *, name: str, schema: str, table: str, only: bool, concurrent: bool
) -> str:
    stmt = pglast.parse_sql(sql)[0].stmt
    assert isinstance(stmt, ast.IndexStmt) and stmt.relation is not None  # checked before
    stmt.idxname = name
    stmt.concurrent = concurrent
    stmt.if_not_exists = only  # the ON ONLY index of a retried APPLY may exist already
    stmt.relation.schemaname = schema
    stmt.relation.relname = table
    stmt.relation.inh = not only
    return render(stmt)


async def build(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    target: TargetConfig,
    change_sql: str,
    schema: str,
    name: str,
    table: str,
    t: ddl.Timeouts,
    connect_timeout: float,
) -> None:
    """Runs the partition-aware procedure (see the module doc) for `change_sql`."""
    where = target.name
    root_schema, _, root_name = table.partition(".")
    await ddl.set_timeouts(conn, emit, where, t)
    parent_sql = _statement(
        change_sql, name=name, schema=root_schema, table=root_name, only=True, concurrent=False
    )
    await ddl.run(conn, emit, where, parent_sql)
    tree = await conn.fetch(_TREE, _qualified_text(table))
    index_of = {(root_schema, root_name): name}
    leaves = sum(1 for p in tree if p["isleaf"])
    done = 0
    for part in tree:
        own = partition_index_name(name, int(part["oid"]))
        index_of[(part["schema"], part["name"])] = own
        parent_index = index_of[(part["parent_schema"], part["parent_name"])]
        state = await ddl.index_state(conn, part["schema"], own)
        attached = await conn.fetchval(
            _ATTACHED, _q(part["schema"], own), _q(part["parent_schema"], parent_index)
        )
        if part["isleaf"]:
            done += 1
            label = f"partition {done} of {leaves} ({part['schema']}.{part['name']})"
            if state.exists and state.valid and attached:
                emit(buildwatch.progress(100 * done / leaves, f"{label}: already built"))
                continue
            if state.exists:
                await ddl.drop_invalid(conn, emit, where, part["schema"], own, t, also_valid=True)
            sql = _statement(
                change_sql,
                name=own,
                schema=part["schema"],
                table=part["name"],
                only=False,
                concurrent=True,
            )
            await ddl.set_timeouts(conn, emit, where, t, build=True)
            async with buildwatch.watching(
                target, conn.get_server_pid(), label, emit, connect_timeout, prefix=label
            ):
                await ddl.run(conn, emit, where, sql)
            await ddl.set_timeouts(conn, emit, where, t)
        elif not state.exists:
            sql = _statement(
                change_sql, name=own, schema=part["schema"], table=part["name"], only=True,
                concurrent=False,
            )  # fmt: skip
            await ddl.run(conn, emit, where, sql)
        if not attached:
            await ddl.run(
                conn,
                emit,
                where,
                f"ALTER INDEX {_q(part['parent_schema'], parent_index)} "
                f"ATTACH PARTITION {_q(part['schema'], own)}",
            )


async def drop_all(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    where: str,
    schema: str,
    name: str,
    table: str,
    t: ddl.Timeouts,
) -> ddl.IndexState:
    """Drops a partitioned index with every partition index attached to it, and those of
    `name`'s partition indexes a broken APPLY left unattached; the state after."""
    await ddl.set_timeouts(conn, emit, where, t)
    tree = await conn.fetch(_TREE, _qualified_text(table)) if table else []
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", _q(schema, name)):
        await ddl.run(conn, emit, where, f"DROP INDEX IF EXISTS {_q(schema, name)}")
    for part in tree:  # what the DROP above did not take with it: never attached
        own = _q(part["schema"], partition_index_name(name, int(part["oid"])))
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", own):
            concurrently = "CONCURRENTLY " if part["isleaf"] else ""
            await ddl.run(conn, emit, where, f"DROP INDEX {concurrently}IF EXISTS {own}")
    return await ddl.index_state(conn, schema, name)
