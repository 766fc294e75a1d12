"""ListJobs p99 at 1 call in flight over 1,000,000 jobs, for each filter shape, on the first
page and on page 1,000 — BENCH.md "list"; target every shape ≤ 10 ms.

    .venv/bin/python -m bench.list [--calls 300] [--reseed]

The jobs are seeded once with generate_series into the database `pgsage_bench_list` (kept
between runs; --reseed starts afresh): 10 targets, 70 % SUCCEEDED, create times 30 s apart
over ~11.5 months, expiring in 10 years (so the expiry sweep leaves them alone).
Page 1,000 (rows 49,951-50,000) is reached by walking the real tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
import grpc

from bench import _platform as bp
from pgsage.jobs.v1 import job_service_pb2

DATABASE = "pgsage_bench_list"
ROWS = 1_000_000
PAGE = 50
SHAPES = {
    "no filter": "",
    "state": "state = SUCCEEDED",
    "target": 'target = "target-3"',
    "state + target": 'state = SUCCEEDED AND target = "target-3"',
    "create_time range": (
        'create_time >= "2025-03-01T00:00:00Z" AND create_time < "2025-09-01T00:00:00Z"'
    ),
}

SEED = """
INSERT INTO job (id, kind, state, target, create_time, update_time, start_time, end_time,
                 expire_time, attempt, revision)
SELECT gen_random_uuid(),
       (ARRAY['ANALYZE', 'ANALYZE', 'ANALYZE', 'BENCHMARK', 'APPLY'])[1 + i % 5],
       CASE WHEN i % 10 < 7 THEN 'SUCCEEDED' WHEN i % 10 = 7 THEN 'FAILED'
            WHEN i % 10 = 8 THEN 'CANCELLED' ELSE 'PENDING' END,
       'target-' || (i / 10 % 10),
       t, t, t, t + interval '20 seconds',
       -- Far in the future: the service's expiry sweep must not eat the data set mid-run.
       CASE WHEN i % 10 < 9 THEN now() + interval '10 years' END, 1, 3
FROM generate_series(1, $1) AS i,
     LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + i * interval '30 seconds') AS s(t)
"""


async def seed(reseed: bool) -> str:
    url = await bp.create_database(DATABASE, fresh=reseed)
    conn = await asyncpg.connect(url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM job")
        if count != ROWS:
            started = time.perf_counter()
            await conn.execute("TRUNCATE job CASCADE")
            await conn.execute(SEED, ROWS)
            await conn.execute("VACUUM ANALYZE job")
            print(f"seeded {ROWS:,} jobs in {time.perf_counter() - started:.0f} s\n")
    finally:
        await conn.close()
    return url


async def main(calls: int, reseed: bool) -> None:
    url = await seed(reseed)
    rows = []
    async with bp.job_service(url) as address, grpc.aio.insecure_channel(address) as channel:
        stub = bp.jobs_stub(channel)
        for shape, flt in SHAPES.items():
            # Page 1,000 starts after 49,950 rows: 49 pages of 1,000, then 19 of 50.
            token = ""
            for size, pages in ((1000, 49), (PAGE, 19)):
                for _ in range(pages):
                    response = await stub.ListJobs(
                        job_service_pb2.ListJobsRequest(
                            filter=flt, page_size=size, page_token=token
                        ),
                        timeout=30,
                    )
                    token = response.next_page_token
            for label, page_token in (("1", ""), ("1,000", token)):
                request = job_service_pb2.ListJobsRequest(
                    filter=flt, page_size=PAGE, page_token=page_token
                )

                async def call(_: int, request=request, shape=shape, label=label) -> object:
                    response = await stub.ListJobs(request, timeout=10)
                    assert len(response.jobs) == PAGE, (shape, label)
                    return response

                await bp.closed_loop(call, in_flight=1, calls=30)
                run = await bp.closed_loop(call, in_flight=1, calls=calls)
                rows.append([shape, label, bp.ms(run.p(0.5)), bp.ms(run.p(0.99))])
        # No baseline is asked for; Check in the same run shows how noisy the machine was.
        check = await bp.closed_loop(bp.health_check(channel), in_flight=1, calls=calls)
        rows.append(
            [
                "(grpc.health.v1/Check, noise reference)",
                "-",
                bp.ms(check.p(0.5)),
                bp.ms(check.p(0.99)),
            ]
        )
    print(
        bp.table(
            f"list: ListJobs, {ROWS:,} jobs, page size {PAGE}, 1 in flight, {calls} calls each",
            ["filter", "page", "p50 ms", "p99 ms"],
            rows,
        )
    )
    worst = max(float(r[3]) for r in rows[:-1])
    print(f"\nworst p99 = {worst:.2f} ms (target <= 10 ms: {'met' if worst <= 10 else 'MISSED'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.reseed))
