"""The protocol of BENCH.md, end to end: one database, every algorithm, every budget, one run.

For each budget: Extend (a fresh what-if session, so its time includes a cold cache, like
pgsage's), the per-query union trimmed to the budget, and pgsage through gRPC. The union is
computed once (it has no budget) and also reported unbounded. Every chosen set is scored by
`evaluator.evaluate`, the same code for all. At the largest budget pgsage's set is also built
for real to set real sizes beside HypoPG's estimates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

import asyncpg
import grpc

from bench.tpch import advisor, columns, data, evaluator, extend, queries, union, whatif

log = logging.getLogger(__name__)

MB = 1_000_000
BUDGETS_MB: dict[float, tuple[float, ...]] = {
    1.0: (100, 200, 500, 1000),
    0.01: (0.5, 1, 2.5, 5),
}
# Extend in the authors' framework (BENCH.md), relative workload cost in percent, SF 1.
REFERENCE_EXTEND = {100: 94.6, 200: 65.8, 500: 56.0, 1000: 51.8}


@dataclass(frozen=True)
class Result:
    """One algorithm's set at one budget, as the common evaluator scored it."""

    evaluation: evaluator.Evaluation
    seconds: float
    labels: tuple[str, ...]
    what_if_calls: int = 0
    cache_hits: int = 0


@dataclass(frozen=True)
class Row:
    budget_mb: float
    extend: Result
    union: Result
    pgsage: Result | None
    pgsage_error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """Everything one run measured; `report` turns it into the table."""

    scale: float
    database: str
    rows: tuple[Row, ...]
    union_unbounded: Result
    real_sizes: tuple[int, ...] | None  # pgsage's set at the largest budget, built for real
    query_count: int
    # The machine's 1-minute load average at the start and the end (times are wall clock).
    load: tuple[float, float] = (0.0, 0.0)


async def run(
    server_dsn: str,
    scale: float,
    *,
    database: str | None = None,
    with_pgsage: bool = True,
    real_sizes: bool = True,
) -> Outcome:
    """Loads (or reuses) the data and runs every algorithm at every budget of `scale`."""
    load_start = os.getloadavg()[0]
    dataset = data.Dataset(scale)
    dsn = await data.ensure_loaded(server_dsn, dataset, database)
    workload = queries.workload()
    conn = await asyncpg.connect(dsn)
    try:
        await queries.check_dialect(conn, workload)
        catalog = await columns.catalog(conn)
    finally:
        await conn.close()
    by_query = {q.number: columns.indexable_columns(q.text, catalog) for q in workload}
    indexable = frozenset().union(*by_query.values())

    started = time.perf_counter()
    w = await whatif.WhatIf.open(dsn, workload, catalog)
    try:
        picks = await union.select(w, by_query)
    finally:
        await w.close()
    union_seconds = time.perf_counter() - started
    union_unbounded = await _score(dsn, workload, [p.index for p in picks], union_seconds)

    rows = []
    async with contextlib.AsyncExitStack() as stack:
        channel = None
        if with_pgsage:
            channel = await stack.enter_async_context(advisor.optimizer(dsn))
        for budget in BUDGETS_MB[scale]:
            budget_bytes = round(budget * MB)
            log.info("budget %g MB: extend", budget)
            ext = await _extend(dsn, workload, catalog, indexable, budget_bytes)
            trimmed = union.trim(picks, budget_bytes)
            uni = await _score(dsn, workload, [p.index for p in trimmed], union_seconds)
            pg, error = None, None
            if channel is not None:
                log.info("budget %g MB: pgsage", budget)
                try:
                    pg = await _pgsage(channel, dsn, workload, budget_bytes)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    log.warning("pgsage failed at %g MB: %s", budget, error)
            rows.append(Row(budget, ext, uni, pg, error))

    sizes = None
    last = rows[-1].pgsage
    if real_sizes and last is not None and last.evaluation.statements:
        log.info("building pgsage's largest set for real (rolled back)")
        sizes = await evaluator.real_sizes(dsn, list(last.evaluation.statements))
    return Outcome(
        scale=scale,
        database=dsn.rpartition("/")[2],
        rows=tuple(rows),
        union_unbounded=union_unbounded,
        real_sizes=sizes,
        query_count=len(workload),
        load=(load_start, os.getloadavg()[0]),
    )


async def _score(
    dsn: str, workload: list[queries.Query], chosen: list[whatif.Index], seconds: float
) -> Result:
    ev = await evaluator.evaluate(dsn, workload, [i.sql for i in chosen])
    return Result(ev, seconds, tuple(str(i) for i in chosen))


async def _pgsage(
    channel: grpc.aio.Channel,
    dsn: str,
    workload: list[queries.Query],
    budget_bytes: int,
) -> Result:
    advice = await advisor.analyze(channel, workload, budget_bytes)
    return Result(
        await evaluator.evaluate(dsn, workload, list(advice.statements)),
        advice.seconds,
        tuple(whatif.describe(s) for s in advice.statements),
        advice.what_if_calls,
        advice.what_if_cache_hits,
    )


async def _extend(
    dsn: str,
    workload: list[queries.Query],
    catalog: columns.Catalog,
    indexable: frozenset[columns.Column],
    budget_bytes: int,
) -> Result:
    started = time.perf_counter()
    w = await whatif.WhatIf.open(dsn, workload, catalog)
    try:
        chosen = await extend.select(w, indexable, budget_bytes)
    finally:
        await w.close()
    seconds = time.perf_counter() - started
    ev = await evaluator.evaluate(dsn, workload, [i.sql for i in chosen])
    return Result(ev, seconds, tuple(str(i) for i in chosen), w.calls, w.cache_hits)
