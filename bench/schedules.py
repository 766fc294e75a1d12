"""Tick-to-job latency of schedules: 1,000 schedules across 2 job services, beside plain
CreateJob in the same run.

    .venv/bin/python -m bench.schedules [--schedules 1000] [--ticks 6] [--every 5] [--poll 1]

Two job services (`python -m job_service`, dispatchers paused: the jobs stay PENDING, so
only the scheduler is measured) share a job store (an embedded PostgreSQL of the
benchmark's own). `--schedules` schedules all tick every `--every` seconds — the worst case:
every tick brings the whole set due at once. After `--ticks` ticks the schedules are paused
and, for every job they created, the latency is from its tick (`schedule_time`) to the
arrival of its NOTIFY at a listener of the benchmark's (sent at commit: when dispatchers
can see it; one machine, one clock). `--poll` is each replica's
`PGSAGE_JOBS_SCHEDULE_POLL_INTERVAL`: a tick waits up to one poll before any replica looks,
so the median sits near half of it plus the firing itself.

Baselines in the same run, on the same job services:
- CreateJob at 1 call in flight (latency: the API's hot path, one job);
- the same number of jobs as one tick brings, created with CreateJob at 32 in flight (how
  long a client-driven burst takes), beside how long the scheduler took from a tick to the
  last job of that tick.
Also printed: how the ticks' jobs split between the two replicas (from their logs).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import grpc

from bench import _cluster
from bench import _platform as bp
from job_service import database, schema
from pgsage.embedded import EmbeddedPostgres
from pgsage.jobs.v1 import job_pb2, job_service_pb2, schedule_pb2, schedule_pb2_grpc
from tests.support import schedules as support

TARGET = "bench"
FIRED = re.compile(r"firing (\d+) schedule tick\(s\)")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _store(tmp: Path) -> tuple[EmbeddedPostgres, str]:
    store = EmbeddedPostgres(tmp / "store")
    await asyncio.to_thread(store.start)
    conn = await asyncpg.connect(store.dsn())
    await conn.execute('CREATE DATABASE "jobs"')
    await conn.close()
    db = database.Database(store.dsn("jobs"), pool_size=1)
    try:
        await schema.upgrade(db.engine)
    finally:
        await db.close()
    return store, store.dsn("jobs")


async def main(schedules: int, ticks: int, every: int, poll: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pgsage-bench-schedules-"))
    store, dsn = await _store(tmp)
    c = _cluster.Cluster(store=store, store_dsn=dsn, target_dsn="", tmp=tmp)
    try:
        async with support.known_targets([TARGET]) as optimizer:
            env = {
                "PGSAGE_JOBS_OPTIMIZER_ADDRESS": optimizer,
                "PGSAGE_JOBS_MAX_CONCURRENT_JOBS": "0",
                "PGSAGE_JOBS_SCHEDULE_POLL_INTERVAL": f"PT{poll}S",
                "PGSAGE_JOBS_SCHEDULE_MIN_INTERVAL": "PT1S",
                "PGSAGE_JOBS_SCHEDULE_BATCH": "500",
            }
            a = c.job_service(None, name="a", **env)
            b = c.job_service(None, name="b", **env)
            await c.start_all(a, b)
            results = await _measure(c, a, b, schedules, ticks, every)
    finally:
        for proc in c.procs:
            await asyncio.to_thread(proc.stop, 10)
        await asyncio.to_thread(store.stop, "immediate")
        shutil.rmtree(tmp, ignore_errors=True)
    print(results)


async def _measure(
    c: _cluster.Cluster, a: _cluster.Proc, b: _cluster.Proc, n: int, ticks: int, every: int
) -> str:
    async with (
        grpc.aio.insecure_channel(a.address) as ca,
        grpc.aio.insecure_channel(b.address) as cb,
    ):
        stubs = [bp.jobs_stub(ca), bp.jobs_stub(cb)]
        sched = schedule_pb2_grpc.ScheduleServiceStub(ca)

        async def create(i: int) -> object:
            return await stubs[i % 2].CreateJob(
                job_service_pb2.CreateJobRequest(job=job_pb2.Job(target=TARGET)), timeout=10
            )

        await bp.closed_loop(create, in_flight=8, calls=200)  # warm-up
        single = await bp.closed_loop(create, in_flight=1, calls=500)
        burst = await bp.closed_loop(create, in_flight=32, calls=n)

        prefix = uuid.uuid4().hex[:8]

        async def make(i: int) -> object:
            return await sched.CreateSchedule(
                schedule_pb2.CreateScheduleRequest(
                    schedule=schedule_pb2.Schedule(target=TARGET, cron=f"* * * * * */{every}"),
                    request_id=f"{prefix}-{i}",
                ),
                timeout=10,
            )

        # A job is there for its dispatchers once committed: its NOTIFY arrives then.
        seen: dict[uuid.UUID, float] = {}

        def on_job(_c: object, _pid: int, _channel: str, payload: str) -> None:
            job_id, _, state = payload.split(" ")
            if state == "PENDING":
                seen.setdefault(uuid.UUID(job_id), time.time())

        listener = await c.store_conn()
        await listener.add_listener("pgsage_jobs", on_job)
        await bp.closed_loop(make, in_flight=16, calls=n)
        conn = await c.store_conn()
        try:
            first_tick = await conn.fetchval("SELECT max(next_run_time) FROM schedule")
            await asyncio.sleep(
                max(0.0, first_tick.timestamp() - time.time()) + (ticks - 0.5) * every
            )
            await conn.execute("UPDATE schedule SET paused = true, next_run_time = NULL")
            await asyncio.sleep(1)  # the last notifications arrive
            rows = await conn.fetch(
                "SELECT id, schedule_time FROM job "
                "WHERE schedule_id IS NOT NULL AND schedule_time >= $1",
                first_tick,
            )
            duplicates = await conn.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM job WHERE schedule_id IS NOT NULL "
                "GROUP BY schedule_id, schedule_time HAVING count(*) > 1) d"
            )
        finally:
            await conn.close()
            await listener.close()
    latencies = [seen[r["id"]] - r["schedule_time"].timestamp() for r in rows if r["id"] in seen]
    by_tick: dict[object, list[float]] = {}
    for r in rows:
        if r["id"] in seen:
            by_tick.setdefault(r["schedule_time"], []).append(seen[r["id"]])
    # How long until the whole of a tick's burst was there (its last job notified).
    spans = [max(times) - t.timestamp() for t, times in by_tick.items() if len(times) == n]
    share = [sum(int(x) for x in FIRED.findall(p.log_path.read_text())) for p in (a, b)]
    tick_median = statistics.median(latencies)
    lines = [
        bp.table(
            f"Schedules: {n} schedules every {every} s, 2 job services, {len(by_tick)} ticks "
            f"({len(latencies)} jobs, {duplicates} ticks with more than one job)",
            ["what", "median ms", "p95 ms", "max ms", "vs CreateJob median"],
            [
                [
                    "tick → job committed and notified (scheduler)",
                    bp.ms(tick_median),
                    bp.ms(_p(latencies, 0.95)),
                    bp.ms(max(latencies)),
                    f"{tick_median / single.p(0.5):.1f}x",
                ],
                [
                    "CreateJob, 1 in flight (baseline)",
                    bp.ms(single.p(0.5)),
                    bp.ms(single.p(0.95)),
                    bp.ms(max(single.latencies)),
                    "1.0x",
                ],
            ],
        ),
        "",
        bp.table(
            f"{n} jobs at once: until the last one is there",
            ["how", "seconds (median)", "jobs/s"],
            [
                [
                    f"one tick of the scheduler ({len(spans)} full ticks)",
                    f"{statistics.median(spans):.3f}" if spans else "-",
                    f"{n / statistics.median(spans):.0f}" if spans else "-",
                ],
                [
                    f"{n} CreateJob calls at 32 in flight (baseline)",
                    f"{burst.seconds:.3f}",
                    f"{burst.rate:.0f}",
                ],
            ],
        ),
        "",
        f"jobs fired per replica (from their logs): a {share[0]}, b {share[1]}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=6)
    parser.add_argument("--every", type=int, default=5, help="seconds between ticks")
    parser.add_argument("--poll", type=float, default=1.0, help="each replica's poll, seconds")
    args = parser.parse_args()
    asyncio.run(main(args.schedules, args.ticks, args.every, args.poll))
