"""Builds the demo database from nothing: schema, data, constraints, indexes, statistics, workload.

The database is dropped and created again, so a build always gives the same starting point.
After the load: `ANALYZE`, then the statistics are reset (`pg_stat_reset()` for index usage and
`pg_stat_statements_reset` for this database only), so the window the optimizer analyses holds
exactly the workload that follows — the unused indexes show no scan, the statements show
their calls. A backend hands its table and index counters to the statistics system when it
exits (or up to a second later while idle), so the reset waits for the loading session to be
gone, and the build returns only once the workload's sessions are gone too: otherwise the
load's million inserts could land in the window, or the workload's scans after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg

from pgsage.demo import schema, workload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Built:
    """What a build did, for the printout."""

    dsn: str
    size: schema.Size
    rows: dict[str, int]
    calls: int
    load_seconds: float
    workload_seconds: float


def dsn_for(server_dsn: str, database: str) -> str:
    """`server_dsn` pointing at `database` instead."""
    base, _, _ = server_dsn.rpartition("/")
    return f"{base}/{database}"


async def recreate_database(server_dsn: str, database: str) -> str:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    return dsn_for(server_dsn, database)


async def reset_statistics(conn: asyncpg.Connection) -> None:
    """Starts a fresh statistics window for this database (index usage and statements)."""
    await conn.execute("SELECT pg_stat_reset()")
    await conn.execute(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
        " WHERE datname = current_database()), 0)"
    )


async def wait_sessions_gone(dsn: str, pids: set[int], limit_s: float = 30) -> None:
    """Waits until the backends `pids` have exited (and so flushed their statistics)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + limit_s
        while await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"sessions {sorted(pids)} still open after {limit_s:g} s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def build(server_dsn: str, database: str, scale: float, rounds: int) -> Built:
    """Creates the demo database at `scale` and runs `rounds` rounds of its workload."""
    size = schema.Size.at(scale)
    started = time.perf_counter()
    dsn = await recreate_database(server_dsn, database)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute(schema.TABLES)
        for statement, params in schema.data(size):
            await conn.execute(statement, *params)
        await conn.execute(schema.FOREIGN_KEYS)
        await conn.execute(schema.INDEXES)
        await conn.execute("VACUUM ANALYZE")
        rows = {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")  # noqa: S608 - fixed names
            for t in ("customers", "products", "orders", "order_items", "payments", "events")
        }
        loader = conn.get_server_pid()
    finally:
        await conn.close()
    await wait_sessions_gone(dsn, {loader})
    conn = await asyncpg.connect(dsn)
    try:
        await reset_statistics(conn)
    finally:
        await conn.close()
    load_seconds = time.perf_counter() - started
    log.info("demo data loaded in %.1f s; running %d workload rounds", load_seconds, rounds)
    started = time.perf_counter()
    n, pids = await workload.run(dsn, size, rounds)
    await wait_sessions_gone(dsn, pids)
    return Built(dsn, size, rows, n, load_seconds, time.perf_counter() - started)
