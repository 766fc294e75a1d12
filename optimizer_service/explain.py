"""Planning one workload statement on a session, in its parameter mode.

Statements without `$n` are planned as written. Parameterised ones are planned with values
from pg_stats (already substituted by `parameters`), or generically: `EXPLAIN (GENERIC_PLAN)`
on PostgreSQL 16+, and before that `PREPARE` with `plan_cache_mode = force_generic_plan`
(then `EXECUTE` with NULLs, which a generic plan ignores). A fresh statement name per call
keeps a plan cached before a what-if change from being reused.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from optimizer_service.model import ParamMode, Query
from optimizer_service.plans import PlanFacts

_counter = itertools.count(1)


@dataclass
class Statement:
    """A workload query made ready to plan, with its baseline plan facts."""

    query: Query
    sql: str
    mode: ParamMode
    params: int
    kind: str
    facts: PlanFacts | None = None
    plan: Any = None

    @property
    def query_id(self) -> str:
        return self.query.query_id

    @property
    def weight(self) -> float:
        return self.query.weight


async def explain(conn: asyncpg.Connection, stmt: Statement, server_version_num: int) -> Any:
    """EXPLAIN (VERBOSE, FORMAT JSON) of `stmt`, as parsed JSON."""
    if stmt.mode != ParamMode.GENERIC or stmt.params == 0:
        return json.loads(await conn.fetchval("EXPLAIN (VERBOSE, FORMAT JSON) " + stmt.sql))
    if server_version_num >= 160000:
        return json.loads(
            await conn.fetchval("EXPLAIN (VERBOSE, GENERIC_PLAN, FORMAT JSON) " + stmt.sql)
        )
    name = f"pgsage_q{next(_counter)}"
    await conn.execute(f"PREPARE {name} AS {stmt.sql}")
    try:
        nulls = ", ".join(["NULL"] * stmt.params)
        return json.loads(
            await conn.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {name}({nulls})")
        )
    finally:
        # In an aborted transaction this fails too; the statement then dies with the session.
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute(f"DEALLOCATE {name}")
