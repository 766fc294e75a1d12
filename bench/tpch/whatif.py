"""HypoPG what-if costs in one session of its own, with a cost cache.

`WhatIf` answers "what would the planner's total cost of this query be if exactly these indexes
existed?" Hypothetical indexes live in the session only (HypoPG), so nothing on the database
changes. HypoPG 1.3 cannot hide an index, so before each EXPLAIN the session's hypothetical
indexes on the query's tables are made equal to the wanted ones (created or dropped as needed);
indexes on other tables cannot change the plan and are left in place.

The cache key is the query and its relevant wanted indexes — those with a key column the query
refers to (the rule of the authors' framework: an index on none of a query's columns cannot
serve it) — so a configuration that differs only in irrelevant indexes is answered without
planning. Sizes are HypoPG's estimates, cached per index statement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
import pglast
from pglast import ast

from bench.tpch import columns
from bench.tpch.queries import Query


@dataclass(frozen=True, order=True)
class Index:
    """A plain B-tree index: a table and its key columns, in order."""

    table: str
    columns: tuple[str, ...]

    @property
    def sql(self) -> str:
        return f"CREATE INDEX ON {self.table} ({', '.join(self.columns)})"

    def __str__(self) -> str:
        return f"{self.table}({', '.join(self.columns)})"


_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


def normalise(statement: str) -> str:
    """A CREATE INDEX statement as HypoPG takes it: no CONCURRENTLY, no trailing `;`."""
    return _CONCURRENTLY.sub("", statement).strip().removesuffix(";").strip()


def _index_stmt(statement: str) -> ast.IndexStmt:
    stmt = pglast.parse_sql(statement)[0].stmt
    if not isinstance(stmt, ast.IndexStmt):
        raise ValueError(f"not a CREATE INDEX statement: {statement[:200]}")
    return stmt


def table_of(statement: str) -> str:
    """The (unqualified) table a CREATE INDEX statement indexes."""
    return _index_stmt(statement).relation.relname


def describe(statement: str) -> str:
    """`table(a, b)` for a CREATE INDEX statement, with INCLUDE and a partial marker if any."""
    stmt = _index_stmt(statement)
    keys = ", ".join(p.name or "<expr>" for p in stmt.indexParams)
    text = f"{stmt.relation.relname}({keys})"
    if stmt.indexIncludingParams:
        text += " INCLUDE (" + ", ".join(p.name for p in stmt.indexIncludingParams) + ")"
    if stmt.whereClause is not None:
        text += " WHERE …"
    if stmt.accessMethod and stmt.accessMethod != "btree":
        text += f" USING {stmt.accessMethod}"
    return text


def key_columns(statement: str) -> frozenset[columns.Column] | None:
    """The plain key columns of a CREATE INDEX statement; None when a key is an expression."""
    stmt = _index_stmt(statement)
    names = [p.name for p in stmt.indexParams]
    if any(n is None for n in names):
        return None
    return frozenset(columns.Column(stmt.relation.relname, n) for n in names)


class WhatIf:
    """A HypoPG session over one workload (see the module docstring)."""

    def __init__(self, conn: asyncpg.Connection, workload: list[Query], catalog: columns.Catalog):
        self._conn = conn
        self.workload = workload
        self._tables: dict[str, frozenset[str]] = {
            q.query_id: _tables_of(q.text, catalog) for q in workload
        }
        self._columns = {q.query_id: columns.referenced_columns(q.text, catalog) for q in workload}
        self._present: dict[str, int] = {}  # statement -> hypothetical index oid
        self._table: dict[str, str] = {}
        self._keys: dict[str, frozenset[columns.Column] | None] = {}
        self._sizes: dict[str, int] = {}
        self._costs: dict[tuple[str, frozenset[str]], float] = {}
        self.calls = 0
        self.cache_hits = 0

    @classmethod
    async def open(
        cls, dsn: str, workload: list[Query], catalog: columns.Catalog | None = None
    ) -> WhatIf:
        conn = await asyncpg.connect(dsn)
        await conn.execute("SELECT hypopg_reset()")
        return cls(conn, workload, catalog or await columns.catalog(conn))

    async def close(self) -> None:
        await self._conn.close()

    def tables(self, query: Query) -> frozenset[str]:
        return self._tables[query.query_id]

    def _table_of(self, statement: str) -> str:
        if statement not in self._table:
            self._table[statement] = table_of(statement)
        return self._table[statement]

    def _relevant(self, statement: str, query: Query) -> bool:
        if self._table_of(statement) not in self._tables[query.query_id]:
            return False
        if statement not in self._keys:
            self._keys[statement] = key_columns(statement)
        keys = self._keys[statement]
        return keys is None or not keys.isdisjoint(self._columns[query.query_id])

    async def _create(self, statement: str) -> int:
        row = await self._conn.fetchrow("SELECT indexrelid FROM hypopg_create_index($1)", statement)
        oid = int(row["indexrelid"])
        self._present[statement] = oid
        if statement not in self._sizes:
            self._sizes[statement] = int(
                await self._conn.fetchval("SELECT hypopg_relation_size($1)", oid)
            )
        return oid

    async def size(self, statement: str) -> int:
        """HypoPG's estimated size of the index, in bytes."""
        statement = normalise(statement)
        if statement not in self._sizes:
            await self._create(statement)
        return self._sizes[statement]

    async def cost(self, query: Query, config: Iterable[str]) -> float:
        """Planner total cost of `query` if exactly the indexes of `config` existed."""
        tables = self._tables[query.query_id]
        wanted = frozenset(s for s in map(normalise, config) if self._relevant(s, query))
        key = (query.query_id, wanted)
        self.calls += 1
        if key in self._costs:
            self.cache_hits += 1
            return self._costs[key]
        for statement, oid in list(self._present.items()):
            if statement not in wanted and self._table_of(statement) in tables:
                await self._conn.fetchval("SELECT hypopg_drop_index($1)", oid)
                del self._present[statement]
        for statement in sorted(wanted - self._present.keys()):
            await self._create(statement)
        plan = await self._conn.fetchval(f"EXPLAIN (FORMAT JSON) {query.text}")
        cost = float(json.loads(plan)[0]["Plan"]["Total Cost"])
        self._costs[key] = cost
        return cost

    async def workload_cost(self, config: Iterable[str]) -> float:
        """Weighted sum of the workload's costs under `config`."""
        config = list(config)
        return sum([q.weight * await self.cost(q, config) for q in self.workload])


def _tables_of(sql: str, catalog: columns.Catalog) -> frozenset[str]:
    return frozenset(
        node.relname
        for node in columns.walk(pglast.parse_sql(sql))
        if isinstance(node, ast.RangeVar) and node.relname in catalog
    )
