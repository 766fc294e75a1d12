"""Planning one workload statement on a session, in its parameter mode.

Statements without `$n` are planned as written. Parameterised ones are planned with values
from pg_stats (already substituted by `parameters`), or generically: `PREPARE` with
`plan_cache_mode = force_generic_plan`, then `EXPLAIN EXECUTE` with NULLs, which a generic
plan ignores (the same plan `EXPLAIN (GENERIC_PLAN)` gives on 16+). A fresh statement name
per call keeps a plan cached before a what-if change from being reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from optimizer_service.model import ParamMode, Query
from optimizer_service.plans import PlanFacts

_counter = itertools.count(1)
# EXPLAIN output longer than this is parsed off the event loop (a big plan takes a while).
BIG_PLAN_CHARS = 200_000


async def _parsed(text: str) -> Any:
    if len(text) > BIG_PLAN_CHARS:
        return await asyncio.to_thread(json.loads, text)
    return json.loads(text)


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
    """EXPLAIN (VERBOSE, FORMAT JSON) of `stmt`, as parsed JSON.

    Generic plans go through PREPARE on every version: asyncpg always uses the extended
    protocol for queries that return rows, where the `$n` of `EXPLAIN (GENERIC_PLAN)` would be
    taken as parameters of the EXPLAIN itself. The session runs with
    `plan_cache_mode = force_generic_plan` (set by the analysis).
    """
    del server_version_num  # the same path serves every supported version
    if stmt.mode != ParamMode.GENERIC or stmt.params == 0:
        return await _parsed(await conn.fetchval("EXPLAIN (VERBOSE, FORMAT JSON) " + stmt.sql))
    name = f"pgsage_q{next(_counter)}"
    await conn.execute(f"PREPARE {name} AS {stmt.sql}")
    try:
        nulls = ", ".join(["NULL"] * stmt.params)
        return await _parsed(
            await conn.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {name}({nulls})")
        )
    finally:
        # In an aborted transaction this fails too; the statement then dies with the session.
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute(f"DEALLOCATE {name}")
