"""SIGKILL of the job service running a job → the job RUNNING under a new owner, beside the
lease length — BENCH.md "recovery"; target ≤ lease + 5 s.

    .venv/bin/python -m bench.recovery [--leases 30,2] [--samples 3,8]

Two job services (A and B) on one store and one optimizer. A job analyses `SELECT * FROM t`
on a target where the benchmark keeps `t` locked, so it stays RUNNING with its stream open
(the optimizer's session waits on the lock). A sample: CreateJob; wait until the job is
RUNNING and the optimizer waits; SIGKILL the job service whose lease it holds (found by
its owner id in that process's log); then poll the store every 10 ms until the job is
RUNNING again under another owner (the survivor's reaper requeued it once the lease
lapsed, and its dispatcher claimed it). Printed per lease: the time from the kill, and
how much of it was the lease still running at the kill (its expiry - the kill: a lease is
renewed every third of its length, so a kill finds 2/3 to all of it left) and the rest
(takeover after the lapse). Then the job is cancelled and the killed service restarted.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import grpc

from bench import _cluster
from bench import _platform as bp
from bench.cancel import TARGET_SQL, slow_job
from pgsage.jobs.v1 import job_service_pb2, job_service_pb2_grpc


async def running_owner(c: _cluster.Cluster, job_id: str, limit: float = 30) -> str:
    conn = await c.store_conn()
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            row = await conn.fetchrow("SELECT state, lease_owner FROM job WHERE id = $1", job_id)
            if row["state"] == "RUNNING" and row["lease_owner"]:
                return row["lease_owner"]
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    raise RuntimeError(f"job {job_id} never RUNNING")


async def optimizer_waits(c: _cluster.Cluster, limit: float = 30) -> None:
    conn = await c.target_conn()
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            n = await conn.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database()
                     AND split_part(application_name, ' jobs/', 1) = 'pgsage-optimizer'
                     AND wait_event_type = 'Lock'"""
            )
            if n:
                return
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    raise RuntimeError("the optimizer never waited on the lock")


async def one_sample(c: _cluster.Cluster, services: list[_cluster.Proc]) -> tuple[float, float]:
    """(seconds from the kill to RUNNING under a new owner, lease left at the kill)."""
    alive = next(p for p in services if p.alive())
    async with grpc.aio.insecure_channel(alive.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        job = await stub.CreateJob(job_service_pb2.CreateJobRequest(job=slow_job()), timeout=10)
    job_id = job.name.removeprefix("jobs/")
    owner = await running_owner(c, job_id)
    await optimizer_waits(c)
    victim = next(p for p in services if owner in p.log_path.read_text(errors="replace"))
    survivor = next(p for p in services if p is not victim)
    conn = await c.store_conn()
    try:
        expires = await conn.fetchval("SELECT lease_expire_time FROM job WHERE id = $1", job_id)
        killed = time.time()
        victim.kill()
        while True:
            row = await conn.fetchrow("SELECT state, lease_owner FROM job WHERE id = $1", job_id)
            if row["state"] == "RUNNING" and row["lease_owner"] not in (None, owner):
                taken = time.time()
                break
            if row["state"] not in ("RUNNING", "PENDING"):
                raise RuntimeError(f"job {job_id} ended {row['state']} instead of a takeover")
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    async with grpc.aio.insecure_channel(survivor.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        await stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name), timeout=10)
    victim.start()
    await victim.wait_serving()
    return taken - killed, expires.timestamp() - killed


async def main(leases: list[float], samples: list[int]) -> None:
    results: dict[float, list[tuple[float, float]]] = {}
    async with _cluster.cluster(TARGET_SQL) as c:
        opt = c.optimizer("optimizer", {"lock_timeout_ms": 3_600_000})
        await c.start_all(opt)
        holder = await c.target_conn()
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        try:
            for lease, n in zip(leases, samples, strict=True):
                env = {"PGSAGE_JOBS_LEASE": f"PT{lease:g}S"}
                services = [
                    c.job_service(opt, f"jobs-a-{lease:g}s", **env),
                    c.job_service(opt, f"jobs-b-{lease:g}s", **env),
                ]
                await c.start_all(*services)
                for _ in range(n):
                    results.setdefault(lease, []).append(await one_sample(c, services))
                for proc in services:
                    await asyncio.to_thread(proc.stop, 15)
        finally:
            await tx.rollback()
            await holder.close()

    rows = []
    verdicts = []
    for lease, got in results.items():
        times = [t for t, _ in got]
        left = [x for _, x in got]
        after = [t - x for t, x in got]
        whole = bp.Run(len(times), 1, times)
        rows.append(
            [
                f"{lease:g}",
                str(len(got)),
                f"{bp.median(times):.2f}",
                f"{whole.p(0.99):.2f}",
                f"{bp.median(left):.2f}",
                f"{bp.median(after):.2f}",
                f"{max(after):.2f}",
                f"{lease + 5:g}",
            ]
        )
        verdicts.append(f"lease {lease:g} s: {'met' if max(times) <= lease + 5 else 'MISSED'}")
    print(
        bp.table(
            "recovery: SIGKILL of the job service running a job -> RUNNING under a new owner (s)",
            [
                "lease s",
                "kills",
                "takeover p50",
                "p99 (= max)",
                "lease left at kill p50",
                "after lapse p50",
                "after lapse max",
                "target",
            ],
            rows,
        )
    )
    print("\nworst takeover <= lease + 5 s: " + "; ".join(verdicts))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leases", default="30,2", help="lease lengths in seconds")
    parser.add_argument("--samples", default="3,8", help="kills per lease")
    args = parser.parse_args()
    asyncio.run(
        main([float(x) for x in args.leases.split(",")], [int(x) for x in args.samples.split(",")])
    )
