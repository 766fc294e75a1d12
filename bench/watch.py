"""Commit-to-client latency of WatchJob with the watcher on the OTHER replica than the one
making the change — BENCH.md "watch"; target p99 ≤ 200 ms.

    .venv/bin/python -m bench.watch [--samples 200] [--in-flight 32]

Two job services on one job store, neither running jobs (PGSAGE_JOBS_MAX_CONCURRENT_JOBS=0,
so a job stays PENDING until the benchmark changes it). One sample: CreateJob on replica A;
WatchJob on replica B, whose first message (the job as it is) says the watch is live;
CancelJob on A (PENDING → CANCELLED: one committed statement with its NOTIFY); the time B's
watcher receives the `cancelled` change. "From commit" is receipt - the change's event_time
(the store's `now()` in that one-statement transaction, same machine clock: a hair before
the commit, so a slight over-estimate); the target applies to it. For a check that needs
no clock, the same receipt is also given from the moment CancelJob returned (the commit was
before: a lower bound) and from the moment it was sent (an upper bound).
Rows: one sample at a time, then `--in-flight` watchers doing the same at once (a stress
view: as fast as they can, so both replicas and the store share the machine's CPU and the
tail is mostly queueing for it; the row says how many samples per second that was).

Reference in the same run: PostgreSQL's own NOTIFY → LISTEN latency on the same store
(`SELECT pg_notify(...)` on one asyncpg connection, a listener callback on another), the
floor under any watch latency.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
import grpc

from bench import _cluster
from bench import _platform as bp
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc


def pending_job() -> job_pb2.Job:
    return job_pb2.Job(kind=job_pb2.Job.ANALYZE, target="nowhere", queries=["SELECT 1"])


async def one_sample(
    a: job_service_pb2_grpc.JobServiceStub, b: job_service_pb2_grpc.JobServiceStub
) -> tuple[float, float, float]:
    """Seconds from the change's commit (its event_time), from CancelJob's return and from
    CancelJob's send, to the watcher's receipt."""
    job = await a.CreateJob(job_service_pb2.CreateJobRequest(job=pending_job()), timeout=10)
    call = b.WatchJob(job_service_pb2.WatchJobRequest(name=job.name), timeout=30)
    try:
        first = await call.read()
        assert first.job.state == job_pb2.Job.PENDING, first

        async def next_change() -> tuple[float, float, job_service_pb2.WatchJobResponse]:
            response = await call.read()
            return time.perf_counter(), time.time(), response

        reader = asyncio.create_task(next_change())
        sent = time.perf_counter()
        await a.CancelJob(job_service_pb2.CancelJobRequest(name=job.name), timeout=10)
        returned = time.perf_counter()
        received, received_wall, response = await reader
        if response is grpc.aio.EOF or response.job.state != job_pb2.Job.CANCELLED:
            raise RuntimeError(f"unexpected watch message: {response}")
    finally:
        call.cancel()
    committed = response.event_time.ToNanoseconds() / 1e9
    return received_wall - committed, max(received - returned, 0.0), received - sent


async def notify_reference(dsn: str, samples: int) -> list[float]:
    """PostgreSQL NOTIFY → LISTEN callback latency on the store, one at a time."""
    sender, listener = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    arrived: asyncio.Queue[float] = asyncio.Queue()
    await listener.add_listener("pgsage_bench", lambda *_: arrived.put_nowait(time.perf_counter()))
    latencies = []
    try:
        for i in range(samples):
            sent = time.perf_counter()
            await sender.execute(f"SELECT pg_notify('pgsage_bench', '{i}')")
            latencies.append(await asyncio.wait_for(arrived.get(), 10) - sent)
    finally:
        await sender.close()
        await listener.close()
    return latencies


async def main(samples: int, in_flight: int) -> None:
    async with _cluster.cluster() as c:
        idle = {"PGSAGE_JOBS_MAX_CONCURRENT_JOBS": "0"}
        ja = c.job_service(None, "jobs-a", **idle)
        jb = c.job_service(None, "jobs-b", **idle)
        await c.start_all(ja, jb)
        async with (
            grpc.aio.insecure_channel(ja.address) as cha,
            grpc.aio.insecure_channel(jb.address) as chb,
        ):
            a = job_service_pb2_grpc.JobServiceStub(cha)
            b = job_service_pb2_grpc.JobServiceStub(chb)
            for _ in range(20):  # warm-up
                await one_sample(a, b)
            reference = await notify_reference(c.store_dsn, samples)
            serial = [await one_sample(a, b) for _ in range(samples)]
            concurrent: list[tuple[float, float, float]] = []
            per_worker = max(samples // in_flight, 5)

            async def worker() -> None:
                for _ in range(per_worker):
                    concurrent.append(await one_sample(a, b))

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            rate = len(concurrent) / (time.perf_counter() - started)

    def p(values: list[float], q: float) -> float:
        return bp.Run(len(values), 1, values).p(q)

    def row(label: str, samples: list[tuple[float, float, float]]) -> list[str]:
        cells = [label, str(len(samples))]
        for i in range(3):
            values = [s[i] for s in samples]
            cells += [bp.ms(p(values, 0.5)), bp.ms(p(values, 0.99))]
        return cells

    print(
        bp.table(
            "watch: CancelJob on replica A, WatchJob on replica B (ms)",
            [
                "watchers",
                "samples",
                "p50 from commit",
                "p99 from commit",
                "p50 from return",
                "p99 from return",
                "p50 from send",
                "p99 from send",
            ],
            [
                row("1 at a time", serial),
                row(f"{in_flight} at once ({rate:.0f} create+watch+cancel/s)", concurrent),
                [
                    "reference: PostgreSQL NOTIFY → LISTEN on the store",
                    str(len(reference)),
                    "",
                    "",
                    "",
                    "",
                    bp.ms(p(reference, 0.5)),
                    bp.ms(p(reference, 0.99)),
                ],
            ],
        )
    )
    one = p([s[0] for s in serial], 0.99)
    many = p([s[0] for s in concurrent], 0.99)
    print(
        f"\np99 commit-to-client: {bp.ms(one)} ms one at a time "
        f"(target <= 200 ms: {'met' if one <= 0.2 else 'MISSED'}), {bp.ms(many)} ms with "
        f"{in_flight} at once ({'met' if many <= 0.2 else 'MISSED'})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.samples, args.in_flight))
