"""What a verification costs the target: statements and milliseconds per VERIFY job.

    .venv/bin/python -m bench.verify [--statements 1000] [--samples 30]

A VERIFY job asks the optimizer for one workload snapshot (`Snapshot`), and so does the APPLY
that scheduled it; everything it does on the target is that call. The benchmark starts an
embedded PostgreSQL of its own (pg_stat_statements preloaded) and fills pg_stat_statements
with `--statements` distinct statements over 200 tables, then, with a real optimizer in this
process, takes `--samples` snapshots shaped as a verification's (5 affected query ids, the
table, the index, up to 10 statements on the table) and reads from pg_stat_statements
itself what pgsage ran on the target: the optimizer connects as a role of its own
(`pgsage_bench`, with pg_read_all_stats), and everything that role ran is counted,
statements and execution time per snapshot, beside the wall time of the call. (The
`/* pgsage */` marker cannot be used for this: PostgreSQL 18's pg_stat_statements drops a
statement's leading comment from the text it keeps.)

Baseline in the same run: a bare `SELECT * FROM pg_stat_statements` from a plain session
(what any monitoring tool does), its execution time on the target and its wall time.
"""

# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import grpc

from optimizer_service import app as optimizer_app
from optimizer_service.settings import Settings
from pgsage.embedded import EmbeddedPostgres
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc

TABLES = 200
ROLE = "pgsage_bench"
_OWN = (
    "SELECT sum(calls)::bigint, sum(total_exec_time) FROM pg_stat_statements "
    "WHERE userid = $1::regrole"
)
_BARE = "SELECT * FROM pg_stat_statements"


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def fill(dsn: str, statements: int) -> list[str]:
    """`statements` distinct statements in pg_stat_statements; 5 query ids of table t0."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for n in range(TABLES):
            await conn.execute(
                f"CREATE TABLE t{n} (id int PRIMARY KEY, a int, b int, c int, d int)"
            )
            await conn.execute(
                f"INSERT INTO t{n} SELECT g, g % 10, g % 7, g % 5, g % 3 "
                "FROM generate_series(1, 200) g"
            )
        await conn.execute("CREATE INDEX t0_a_idx ON t0 (a)")
        shapes = ["id", "a", "b", "c", "d"]
        for k in range(statements):
            table, column = k % TABLES, shapes[(k // TABLES) % len(shapes)]
            extra = k // (TABLES * len(shapes))
            sql = f"SELECT count(*) FROM t{table} WHERE {column} = $1" + " AND id > $2" * (
                extra > 0
            )
            args = (1, 0)[: 1 + (extra > 0)]
            for _ in range(3):
                await conn.fetch(sql, *args)
        rows = await conn.fetch(
            "SELECT queryid::text FROM pg_stat_statements WHERE query LIKE '%FROM t0 %' "
            "ORDER BY total_exec_time DESC LIMIT 5"
        )
        return [r[0] for r in rows]
    finally:
        await conn.close()


async def own_usage(conn: asyncpg.Connection) -> tuple[int, float]:
    row = await conn.fetchrow(_OWN, ROLE)
    return int(row[0] or 0), float(row[1] or 0.0)


async def main(statements: int, samples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pgsage-bench-verify-") as home:
        postgres = EmbeddedPostgres(Path(home) / "data")
        await asyncio.to_thread(postgres.start)
        try:
            await run(postgres, statements, samples)
        finally:
            await asyncio.to_thread(postgres.stop, "fast")


async def run(postgres: EmbeddedPostgres, statements: int, samples: int) -> None:
    admin = await asyncpg.connect(postgres.dsn())
    await admin.execute("CREATE DATABASE shop")
    await admin.close()
    dsn = postgres.dsn("shop")
    ids = await fill(dsn, statements)
    setup = await asyncpg.connect(dsn)
    await setup.execute(f"CREATE ROLE {ROLE} LOGIN; GRANT pg_read_all_stats TO {ROLE}")
    await setup.close()
    own_dsn = dsn.replace(f"{postgres.dsn().split('://')[1].split('@')[0]}@", f"{ROLE}@", 1)
    target = {"name": "shop", "dsn": own_dsn, "what_if_engine": "transactional"}
    server = await optimizer_app.start(
        Settings(grpc_host="127.0.0.1", grpc_port=0, targets=[target])
    )
    watcher = await asyncpg.connect(dsn)
    try:
        tracked = await watcher.fetchval("SELECT count(*) FROM pg_stat_statements")
        # Baseline: a bare read of pg_stat_statements from a plain session.
        bare_wall: list[float] = []
        before = await watcher.fetchrow(
            "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0) "
            "FROM pg_stat_statements WHERE query = $1",
            _BARE,
        )
        reader = await asyncpg.connect(dsn)
        for _ in range(samples):
            start = time.perf_counter()
            await reader.fetch(_BARE)
            bare_wall.append((time.perf_counter() - start) * 1000)
        await reader.close()
        after = await watcher.fetchrow(
            "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0) "
            "FROM pg_stat_statements WHERE query = $1",
            _BARE,
        )
        bare_target_ms = (after[1] - before[1]) / samples
        request = pb.SnapshotRequest(
            target="shop",
            query_ids=ids,
            tables=["public.t0"],
            indexes=["public.t0_a_idx"],
            table_statements=10,
        )
        wall: list[float] = []
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb_grpc.OptimizerServiceStub(channel)
            async for _ in stub.Snapshot(request):  # warm-up (imports, caches)
                pass
            calls0, time0 = await own_usage(watcher)
            for _ in range(samples):
                start = time.perf_counter()
                async for event in stub.Snapshot(request):
                    assert event.WhichOneof("event") in ("snapshot", "progress")
                wall.append((time.perf_counter() - start) * 1000)
            calls1, time1 = await own_usage(watcher)
    finally:
        await watcher.close()
        await server.stop(0)
    per_calls = (calls1 - calls0) / samples
    per_ms = (time1 - time0) / samples
    print(
        f"\nverification cost on the target ({tracked} statements in pg_stat_statements, "
        f"{samples} samples)\n"
    )
    print("| what | statements on the target | target execution ms | wall ms p50 | wall ms p99 |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| baseline: bare SELECT * FROM pg_stat_statements | 1 | {bare_target_ms:.2f} | "
        f"{statistics.median(bare_wall):.2f} | {p99(bare_wall):.2f} |"
    )
    print(
        f"| one snapshot (Snapshot RPC, new session) | {per_calls:.1f} | {per_ms:.2f} | "
        f"{statistics.median(wall):.2f} | {p99(wall):.2f} |"
    )
    print(
        f"| per VERIFY job (1 snapshot) + its APPLY (1 snapshot) | {2 * per_calls:.1f} | "
        f"{2 * per_ms:.2f} | {2 * statistics.median(wall):.2f} | - |"
    )
    ratio = per_ms / bare_target_ms if bare_target_ms else float("nan")
    print(
        f"\nsnapshot / bare read, target execution time: {ratio:.2f}x; the statements counted "
        "are all the optimizer's role ran (session setup and the reads), as pg_stat_statements "
        "saw them"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    options = parser.parse_args()
    asyncio.run(main(options.statements, options.samples))
