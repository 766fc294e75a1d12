"""The common evaluator: every algorithm's chosen indexes are scored by this code, the same way.

One fresh session: `hypopg_reset()`, plan every query with no index, `hypopg_create_index` each
chosen statement, plan every query again. The relative workload cost is the weighted sum of
`EXPLAIN` total costs with the set divided by the sum without; sizes are
`hypopg_relation_size`. `real_sizes` builds a set for real to set real sizes beside the
estimates — inside a transaction that is rolled back, so other sessions on the shared database
never plan with those indexes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg

from bench.tpch import whatif
from bench.tpch.queries import Query


@dataclass(frozen=True)
class Evaluation:
    """The score of one set of CREATE INDEX statements on the workload."""

    statements: tuple[str, ...]
    cost_without: float
    cost_with: float
    # HypoPG's estimate of each statement's index, in the order of `statements`.
    sizes: tuple[int, ...]
    per_query: tuple[tuple[int, float, float], ...]  # (TPC-H number, cost without, cost with)

    @property
    def relative_cost(self) -> float:
        return self.cost_with / self.cost_without

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)


async def _costs(conn: asyncpg.Connection, workload: list[Query]) -> list[float]:
    costs = []
    for q in workload:
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {q.text}")
        costs.append(float(json.loads(plan)[0]["Plan"]["Total Cost"]))
    return costs


async def evaluate(dsn: str, workload: list[Query], statements: list[str]) -> Evaluation:
    """Scores `statements` (CREATE INDEX, CONCURRENTLY allowed) on `workload` (module docstring)."""
    statements = [whatif.normalise(s) for s in statements]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT hypopg_reset()")
        without = await _costs(conn, workload)
        sizes = []
        for s in statements:
            oid = await conn.fetchval("SELECT indexrelid FROM hypopg_create_index($1)", s)
            sizes.append(int(await conn.fetchval("SELECT hypopg_relation_size($1)", oid)))
        with_ = await _costs(conn, workload)
        await conn.execute("SELECT hypopg_reset()")
    finally:
        await conn.close()
    weights = [q.weight for q in workload]
    return Evaluation(
        statements=tuple(statements),
        cost_without=sum(w * c for w, c in zip(weights, without, strict=True)),
        cost_with=sum(w * c for w, c in zip(weights, with_, strict=True)),
        sizes=tuple(sizes),
        per_query=tuple((q.number, b, a) for q, b, a in zip(workload, without, with_, strict=True)),
    )


async def real_sizes(dsn: str, statements: list[str]) -> tuple[int, ...]:
    """Builds each index for real, reads `pg_relation_size`, and rolls everything back."""
    statements = [whatif.normalise(s) for s in statements]
    conn = await asyncpg.connect(dsn)
    sizes = []
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for s in statements:
                table = whatif.table_of(s)
                query = "SELECT array_agg(indexrelid) FROM pg_index WHERE indrelid = $1::regclass"
                before = set(await conn.fetchval(query, table) or [])
                await conn.execute(s)
                (oid,) = set(await conn.fetchval(query, table) or []) - before
                sizes.append(int(await conn.fetchval("SELECT pg_relation_size($1::oid)", oid)))
        finally:
            await tx.rollback()
    finally:
        await conn.close()
    return tuple(sizes)
