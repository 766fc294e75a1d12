"""What-if engines: plan a statement as if a set of indexes existed, without changing the
target.

- `HypoPGEngine`: hypothetical indexes (HypoPG) that live only in the optimizer's own
  session; `hypopg_reset()` at the end.
- `TransactionalEngine` (opt-in per target): real indexes built inside one transaction that
  is always rolled back, each in a savepoint (one failure does not poison the rest), with the
  target's short `lock_timeout`. Each candidate is built once; a plan without some of them
  drops those inside a savepoint that is rolled back right after the EXPLAIN.

Both keep, per table, exactly the wanted indexes present when a statement is planned, and map
the index names in plans back to index definitions.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from typing import Any, Protocol

import asyncpg

from optimizer_service import errors, explain, metrics, sqltext
from optimizer_service.model import IndexDef, Table
from pgsage import sqlcheck

log = logging.getLogger(__name__)


class WhatIfError(Exception):
    """A what-if index could not be made (the candidate is then left out)."""


class Engine(Protocol):
    name: str

    async def size(self, index: IndexDef) -> int: ...

    async def plan(self, stmt: explain.Statement, config: frozenset[IndexDef]) -> Any: ...

    def index_of(self, plan_index_name: str) -> IndexDef | None: ...

    async def close(self) -> None: ...


_RECONCILE_SQL = """
SELECT (SELECT count(*) FROM unnest($1::oid[]) AS d(oid) WHERE hypopg_drop_index(d.oid))
           AS dropped,
       (SELECT array_agg(h.indexrelid::text || ':' || h.indexname ORDER BY t.ord)
        FROM unnest($2::text[]) WITH ORDINALITY AS t(sql, ord),
             LATERAL hypopg_create_index(t.sql) AS h) AS made
"""


class HypoPGEngine:
    """Hypothetical indexes in the optimizer's own session."""

    name = "hypopg"

    def __init__(self, conn: asyncpg.Connection, server_version_num: int) -> None:
        self.conn = conn
        self.version = server_version_num
        self.live: dict[IndexDef, tuple[int, str]] = {}
        self.by_name: dict[str, IndexDef] = {}
        self.sizes: dict[IndexDef, int] = {}

    async def _create(self, index: IndexDef) -> None:
        sql = sqltext.create_sql(index, concurrently=False, name="pgsage_hypo")
        try:
            row = await self.conn.fetchrow(
                "SELECT indexrelid, indexname FROM hypopg_create_index($1)", sql
            )
        except asyncpg.PostgresError as exc:
            if not errors.refused(exc):
                raise
            raise WhatIfError(errors.from_target(exc, "hypopg_create_index")) from exc
        self.live[index] = (row["indexrelid"], row["indexname"])
        self.by_name[row["indexname"]] = index

    async def _drop(self, index: IndexDef) -> None:
        oid, _ = self.live.pop(index)
        await self.conn.execute("SELECT hypopg_drop_index($1)", oid)

    async def size(self, index: IndexDef) -> int:
        if index not in self.sizes:
            leaves = await _leaves(self.conn, index.table)
            if leaves:  # a partitioned table: its index is the sum of one per partition
                self.sizes[index] = await self._sum_of_leaves(index, leaves)
                return self.sizes[index]
            if index not in self.live:
                await self._create(index)
            oid, _ = self.live[index]
            self.sizes[index] = int(
                await self.conn.fetchval("SELECT hypopg_relation_size($1)", oid)
            )
        return self.sizes[index]

    async def _sum_of_leaves(self, index: IndexDef, leaves: list[Table]) -> int:
        total = 0
        for leaf in leaves:
            sql = sqltext.create_sql(
                IndexDef(leaf, index.columns, index.include), concurrently=False, name="hypo"
            )
            oid = await self.conn.fetchval("SELECT indexrelid FROM hypopg_create_index($1)", sql)
            try:
                total += int(await self.conn.fetchval("SELECT hypopg_relation_size($1)", oid))
            finally:
                await self.conn.execute("SELECT hypopg_drop_index($1)", oid)
        return total

    async def _reconcile(self, config: frozenset[IndexDef], tables: set[Table]) -> None:
        """Makes the live hypothetical indexes on `tables` exactly those of `config`, in one
        round trip (the what-if loop is bound by round trips)."""
        drop = [i for i in self.live if i.table in tables and i not in config]
        create = sorted(i for i in config if i not in self.live)
        if not drop and not create:
            return
        if len(drop) + len(create) == 1:
            await (self._drop(drop[0]) if drop else self._create(create[0]))
            return
        try:
            row = await self.conn.fetchrow(
                _RECONCILE_SQL,
                [self.live[i][0] for i in drop],
                [sqltext.create_sql(i, concurrently=False, name="pgsage_hypo") for i in create],
            )
        except asyncpg.PostgresError as exc:
            if not errors.refused(exc):
                raise
            # HypoPG objects are not transactional: start over, one call at a time.
            await self.conn.execute("SELECT hypopg_reset()")
            self.live.clear()
            for index in sorted(config):
                await self._create(index)
            return
        for index in drop:
            del self.live[index]
        for index, pair in zip(create, row["made"] or [], strict=True):
            oid, name = pair.split(":", 1)
            self.live[index] = (int(oid), name)
            self.by_name[name] = index

    async def plan(self, stmt: explain.Statement, config: frozenset[IndexDef]) -> Any:
        metrics.whatif_plan(self.name)
        tables = stmt.facts.tables if stmt.facts else set()
        await self._reconcile(config, tables)
        return await explain.explain(self.conn, stmt, self.version)

    def index_of(self, plan_index_name: str) -> IndexDef | None:
        return self.by_name.get(plan_index_name)

    async def close(self) -> None:
        self.live.clear()
        if not self.conn.is_closed():
            await self.conn.execute("SELECT hypopg_reset()")


# One lock per target (per event loop) for the transactional engine's work: its real
# indexes take locks on the target's tables until the rollback (a build's SHARE lock blocks
# another analysis's DROP INDEX inside a savepoint), so two analyses of one target would
# time each other out. HypoPG's indexes live in one session only and need none.
_TARGET_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def target_lock(target: str) -> asyncio.Lock:
    """The lock that serialises the transactional engine's work on `target`."""
    locks = _TARGET_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(target, asyncio.Lock())


class TransactionalEngine:
    """Real indexes inside one transaction that is always rolled back."""

    name = "transactional"

    def __init__(self, conn: asyncpg.Connection, server_version_num: int) -> None:
        self.conn = conn
        self.version = server_version_num
        self.built: dict[IndexDef, str] = {}
        self.failed: dict[IndexDef, str] = {}
        # Builds a lock or statement timeout stopped: the what-if phase is incomplete.
        self.timed_out: dict[IndexDef, str] = {}
        self.by_name: dict[str, IndexDef] = {}
        self.sizes: dict[IndexDef, int] = {}
        self._names = itertools.count(1)
        self._open = False

    async def begin(self) -> None:
        await self.conn.execute("BEGIN READ WRITE")  # the session default is read-only
        self._open = True

    async def _build(self, index: IndexDef) -> None:
        if index in self.failed:
            raise WhatIfError(self.failed[index])
        name = f"pgsage_whatif_{next(self._names)}"
        await self.conn.execute("SAVEPOINT pgsage_build")
        try:
            await self.conn.execute(sqltext.create_sql(index, concurrently=False, name=name))
        except asyncpg.PostgresError as exc:
            if not errors.refused(exc, timeouts=True):  # one slow build skips that index
                raise
            await self.conn.execute("ROLLBACK TO SAVEPOINT pgsage_build")
            self.failed[index] = errors.from_target(exc, "what-if build")
            if errors.kind_of(exc) in (errors.Kind.LOCK_TIMEOUT, errors.Kind.STATEMENT_TIMEOUT):
                self.timed_out[index] = self.failed[index]
            raise WhatIfError(self.failed[index]) from exc
        await self.conn.execute("RELEASE SAVEPOINT pgsage_build")
        self.built[index] = name
        self.by_name[name] = index

    async def size(self, index: IndexDef) -> int:
        if index not in self.sizes:
            if index not in self.built:
                await self._build(index)
            schema = sqlcheck.quote_ident(index.table.schema)
            self.sizes[index] = int(
                await self.conn.fetchval(
                    # A partitioned table's index is one per partition, each sized here.
                    "SELECT GREATEST(pg_relation_size(to_regclass($1)), "
                    "(SELECT COALESCE(sum(pg_relation_size(relid)), 0) "
                    "FROM pg_partition_tree(to_regclass($1))))",
                    f"{schema}.{sqlcheck.quote_ident(self.built[index])}",
                )
            )
        return self.sizes[index]

    async def plan(self, stmt: explain.Statement, config: frozenset[IndexDef]) -> Any:
        metrics.whatif_plan(self.name)
        for index in sorted(config):
            if index not in self.built:
                await self._build(index)
        tables = stmt.facts.tables if stmt.facts else set()
        hide = sorted(i for i in self.built if i.table in tables and i not in config)
        await self.conn.execute("SAVEPOINT pgsage_plan")
        try:
            for index in hide:
                schema = sqlcheck.quote_ident(index.table.schema)
                name = sqlcheck.quote_ident(self.built[index])
                await self.conn.execute(f"DROP INDEX {schema}.{name}")
            return await explain.explain(self.conn, stmt, self.version)
        finally:
            await self.conn.execute("ROLLBACK TO SAVEPOINT pgsage_plan")

    def index_of(self, plan_index_name: str) -> IndexDef | None:
        return self.by_name.get(plan_index_name)

    async def close(self) -> None:
        if self._open and not self.conn.is_closed():
            await self.conn.execute("ROLLBACK")
        self._open = False


async def _leaves(conn: asyncpg.Connection, table: Table) -> list[Table]:
    """The leaf partitions of `table` when it is partitioned, else []."""
    rows = await conn.fetch(
        """
        SELECT n.nspname AS schema, c.relname AS name
        FROM pg_partition_tree(to_regclass($1)) t
        JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE t.isleaf AND t.level > 0
        ORDER BY 1, 2
        """,
        f"{sqlcheck.quote_ident(table.schema)}.{sqlcheck.quote_ident(table.name)}",
    )
    return [Table(r["schema"], r["name"]) for r in rows]
