"""Jobs/s from CreateJob to SUCCEEDED with an empty workload, with 1 and with 2 job services
(each with an optimizer of its own) — BENCH.md "lifecycle"; target ≥ 150 jobs/s with 2.

    .venv/bin/python -m bench.lifecycle [--jobs 300] [--rounds 3]

The job is BENCH.md's: an ANALYZE with an empty workload (no queries given, and the target
database, which has no tables and no extensions, has no pg_stat_statements to read one from)
and analysis_types = [MISSING_INDEXES]. The optimizer still runs one statement on the target
per job (its capabilities read, on a session it reuses); it streams the empty workload, two
insights (pg_stat_statements missing, HypoPG missing) and the summary, and the job service
persists them (the workload, then the insights folded into the SUCCEEDED write).

A round creates `--jobs` jobs at 32 CreateJob calls in flight, spread over the job
services, and ends when every one is terminal; its rate is jobs / (last end_time - first
CreateJob sent). Latency per job is end_time - create_time (the store's clock, same
machine). Baseline, in the same store in the same run: a plain asyncpg loop over a copy
of the `job` table (same columns and indexes, its rows repeated, reset to PENDING) — claim with
`FOR UPDATE SKIP LOCKED`, then mark SUCCEEDED — on 16 connections (the dispatcher's
default concurrency), no events, no NOTIFY, no optimizer; its rounds alternate with the
others. The table also gives the CPU time per job of each group of processes (from /proc),
which says where a job's cost goes, and of the whole machine (the target's backends
included; on a quiet machine 2 cores / that figure bounds the rate).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Awaitable
from datetime import datetime

import asyncpg
import grpc
import psutil

from bench import _cluster
from bench import _platform as bp
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

IN_FLIGHT = 32
BASELINE_WORKERS = 16
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
CPU_GROUPS = ("job services", "optimizers", "store PG", "client", "whole machine")


def empty_job() -> job_pb2.Job:
    return job_pb2.Job(
        kind=job_pb2.Job.ANALYZE,
        target=_cluster.TARGET,
        analysis_types=[job_pb2.MISSING_INDEXES],
    )


def one_query_job() -> job_pb2.Job:
    """`--one-query`: a job that plans `SELECT 1` and looks for duplicate indexes (three
    statements on the target: capabilities, EXPLAIN, the catalog's indexes)."""
    return job_pb2.Job(
        kind=job_pb2.Job.ANALYZE,
        target=_cluster.TARGET,
        queries=["SELECT 1"],
        analysis_types=[job_pb2.DUPLICATE_INDEXES],
    )


JOB = empty_job


class Round:
    def __init__(self, jobs: int, seconds: float, latencies: list[float], failed: int) -> None:
        self.jobs, self.seconds, self.latencies, self.failed = jobs, seconds, latencies, failed
        self.cpu: dict[str, float] = {}  # CPU seconds per group of processes

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


class CpuMeter:
    """CPU time of the processes a round uses, by group: job services, optimizers, the job
    store's PostgreSQL (postmaster and backends) and this client; and the whole machine's
    busy time, which also counts the target's backends on the shared server (and whatever
    else runs on the machine meanwhile)."""

    def __init__(self, c: _cluster.Cluster) -> None:
        self.c = c

    def _groups(self) -> dict[str, list[psutil.Process]]:
        groups: dict[str, list[psutil.Process]] = {"job services": [], "optimizers": []}
        for proc in self.c.procs:
            if proc.popen is not None and proc.alive():
                key = "job services" if proc.module == "job_service" else "optimizers"
                groups[key].append(psutil.Process(proc.popen.pid))
        pid_file = self.c.store.data_dir / "postmaster.pid"
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        groups["store PG"] = [postmaster, *postmaster.children()]
        groups["client"] = [psutil.Process()]
        return groups

    def snapshot(self) -> dict[tuple[str, int], float]:
        out = {}
        for name, procs in self._groups().items():
            for p in procs:
                try:
                    t = p.cpu_times()
                except psutil.Error:
                    continue
                out[(name, p.pid)] = t.user + t.system
        # Everything that ran, the target's backends and other load included.
        m = psutil.cpu_times()
        out[("whole machine", 0)] = m.user + m.nice + m.system + m.irq + m.softirq + m.steal
        return out

    @staticmethod
    def used(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]):
        used: dict[str, float] = {}
        for key, seconds in after.items():
            used[key[0]] = used.get(key[0], 0.0) + seconds - before.get(key, 0.0)
        return used


async def lifecycle_round(c: _cluster.Cluster, addresses: list[str], n: int) -> Round:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    stubs = [job_service_pb2_grpc.JobServiceStub(ch) for ch in channels]
    ids: list[str] = []
    turn = itertools.cycle(range(len(stubs)))
    store = await c.store_conn()
    try:
        started = time.time()
        counter = iter(range(n))

        async def creator() -> None:
            for _ in counter:
                job = await stubs[next(turn)].CreateJob(
                    job_service_pb2.CreateJobRequest(job=JOB()), timeout=30
                )
                ids.append(job.name.removeprefix("jobs/"))

        await asyncio.gather(*(creator() for _ in range(IN_FLIGHT)))
        deadline = time.monotonic() + 120
        while True:
            done = await store.fetchval(
                "SELECT count(*) FROM job WHERE id = ANY($1::uuid[]) AND state = ANY($2)",
                ids,
                list(TERMINAL),
            )
            if done == n:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {n} jobs finished in 120 s")
            await asyncio.sleep(0.05)
        rows = await store.fetch(
            "SELECT state, create_time, end_time FROM job WHERE id = ANY($1::uuid[])", ids
        )
    finally:
        await store.close()
        for ch in channels:
            await ch.close()
    last: datetime = max(r["end_time"] for r in rows)
    latencies = [(r["end_time"] - r["create_time"]).total_seconds() for r in rows]
    failed = sum(1 for r in rows if r["state"] != "SUCCEEDED")
    return Round(n, last.timestamp() - started, latencies, failed)


async def baseline_round(c: _cluster.Cluster, n: int, meter: CpuMeter | None = None) -> Round:
    """Claim-and-finish over `bench_job`, a copy of `job` reset to PENDING."""
    setup = await c.store_conn()
    try:
        await setup.execute(
            """
            DROP TABLE IF EXISTS bench_job;
            CREATE TABLE bench_job (LIKE job INCLUDING ALL);
            """
        )
        await setup.execute(
            """
            INSERT INTO bench_job
            SELECT (jsonb_populate_record(NULL::bench_job, to_jsonb(j)
                    || jsonb_build_object('id', gen_random_uuid(), 'request_id', NULL))).*
            FROM job j, generate_series(1, $1) AS copies
            LIMIT $1;
            UPDATE bench_job SET state = 'PENDING', lease_owner = NULL,
                lease_expire_time = NULL, end_time = NULL, start_time = NULL, attempt = 0,
                create_time = clock_timestamp(), update_time = clock_timestamp();
            ANALYZE bench_job;
            """.replace("$1", str(int(n)))
        )
        count = await setup.fetchval("SELECT count(*) FROM bench_job")
    finally:
        await setup.close()
    if count < n:
        raise RuntimeError(f"baseline: only {count} jobs to copy, {n} needed")
    conns = [await c.store_conn() for _ in range(BASELINE_WORKERS)]
    claim = """
        UPDATE bench_job SET state = 'RUNNING', attempt = attempt + 1, lease_owner = $1,
            lease_expire_time = now() + interval '30 seconds',
            start_time = COALESCE(start_time, now()), update_time = now()
        WHERE id = (SELECT id FROM bench_job WHERE state = 'PENDING'
                    ORDER BY create_time, id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id"""
    finish = """
        UPDATE bench_job SET state = 'SUCCEEDED', end_time = now(), update_time = now(),
            lease_owner = NULL, lease_expire_time = NULL
        WHERE id = $1 AND lease_owner = $2 AND state = 'RUNNING'"""
    latencies: list[float] = []

    async def worker(conn: asyncpg.Connection, owner: str) -> None:
        while True:
            t0 = time.perf_counter()
            job_id = await conn.fetchval(claim, owner)
            if job_id is None:
                return
            await conn.execute(finish, job_id, owner)
            latencies.append(time.perf_counter() - t0)

    try:
        before = meter.snapshot() if meter else {}
        started = time.perf_counter()
        await asyncio.gather(*(worker(conn, f"w{i}") for i, conn in enumerate(conns)))
        seconds = time.perf_counter() - started
        # Measured before the connections close: their backends' CPU counts.
        cpu = meter.used(before, meter.snapshot()) if meter else {}
    finally:
        for conn in conns:
            await conn.close()
    result = Round(len(latencies), seconds, latencies, 0)
    result.cpu = cpu
    return result


async def main(jobs: int, rounds: int) -> None:
    results: dict[str, list[Round]] = {}
    async with _cluster.cluster() as c:
        meter = CpuMeter(c)

        async def measured(key: str, work: Awaitable[Round]) -> None:
            before = meter.snapshot()
            result = await work
            result.cpu = result.cpu or meter.used(before, meter.snapshot())
            results.setdefault(key, []).append(result)

        opt1, opt2 = c.optimizer("optimizer-1"), c.optimizer("optimizer-2")
        js1 = c.job_service(opt1, "jobs-1")
        js2 = c.job_service(opt2, "jobs-2")
        await c.start_all(opt1, js1)
        # Warm-up: connections, prepared statements, the optimizer's first target session.
        await lifecycle_round(c, [js1.address], 50)
        await baseline_round(c, jobs)
        # Baseline rounds alternate with the others, so both see the same machine noise.
        for _ in range(rounds):
            await measured("1", lifecycle_round(c, [js1.address], jobs))
            await measured("baseline", baseline_round(c, jobs, meter))
        await c.start_all(opt2, js2)
        await lifecycle_round(c, [js1.address, js2.address], 50)
        for _ in range(rounds):
            await measured("2", lifecycle_round(c, [js1.address, js2.address], jobs))
            await measured("baseline", baseline_round(c, jobs, meter))

    base = bp.median([r.rate for r in results["baseline"]])

    def row(label: str, key: str) -> list[str]:
        runs = results[key]
        latencies = sorted(x for r in runs for x in r.latencies)
        whole = bp.Run(len(latencies), 1, latencies)
        rate = bp.median([r.rate for r in runs])
        failed = sum(r.failed for r in runs)
        done = sum(r.jobs for r in runs)
        cpu = " / ".join(
            f"{sum(r.cpu.get(g, 0.0) for r in runs) / done * 1000:.1f}" for g in CPU_GROUPS
        )
        return [
            label,
            f"{rate:.0f}",
            f"{rate / base:.1%}",
            bp.ms(whole.p(0.5)),
            bp.ms(whole.p(0.99)),
            cpu,
            str(failed),
        ]

    print(
        bp.table(
            f"lifecycle ({JOB.__name__}): {jobs} jobs per round, {rounds} rounds, "
            f"{IN_FLIGHT} CreateJob in flight",
            [
                "setup",
                "jobs/s (median)",
                "of baseline",
                "latency p50 ms (queue incl.)",
                "p99 ms",
                "CPU ms per job: " + " / ".join(CPU_GROUPS),
                "not SUCCEEDED",
            ],
            [
                row("1 job service + 1 optimizer", "1"),
                row("2 job services + 2 optimizers", "2"),
                row(
                    f"baseline: asyncpg SKIP LOCKED claim+finish, {BASELINE_WORKERS} conns",
                    "baseline",
                ),
            ],
        )
    )
    two = bp.median([r.rate for r in results["2"]])
    verdict = "met" if two >= 150 else "MISSED"
    print(
        f"\n2 job services: {two:.0f} jobs/s = {two / base:.1%} of the baseline "
        f"(target >= 150 jobs/s: {verdict}). Latency: CreateJob to SUCCEEDED per job "
        "(baseline: claim to finish)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--one-query", action="store_true", help="plan SELECT 1 per job (not BENCH.md's job)"
    )
    args = parser.parse_args()
    if args.one_query:
        JOB = one_query_job
    asyncio.run(main(args.jobs, args.rounds))
