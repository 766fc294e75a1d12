"""CreateJob/s at 32 calls in flight, beside grpc.health.v1/Check/s (same client, same
concurrency, same server) — BENCH.md "create"; target ≥ 20 % of Check/s.

    .venv/bin/python -m bench.create [--seconds 3] [--rounds 3]

Rounds alternate Check and CreateJob so both see the same machine noise; the table shows
the median rate of the rounds and latency p50/p99 over every call.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import grpc

from bench import _platform as bp
from pgsage.jobs.v1 import job_pb2, job_service_pb2

IN_FLIGHT = 32


async def main(seconds: float, rounds: int) -> None:
    name = bp.unique_name("pgsage_bench_create")
    url = await bp.create_database(name)
    try:
        async with bp.job_service(url) as address, grpc.aio.insecure_channel(address) as channel:
            check = bp.health_check(channel)
            stub = bp.jobs_stub(channel)
            prefix = uuid.uuid4().hex[:8]

            async def create(i: int) -> object:
                return await stub.CreateJob(
                    job_service_pb2.CreateJobRequest(
                        job=job_pb2.Job(target=f"bench-{i % 10}"), request_id=f"{prefix}-{i}"
                    ),
                    timeout=10,
                )

            # Warm up both paths (connections, prepared statements).
            await bp.closed_loop(check, in_flight=IN_FLIGHT, seconds=1)
            await bp.closed_loop(create, in_flight=IN_FLIGHT, seconds=1)
            checks, creates = [], []
            for _ in range(rounds):
                checks.append(await bp.closed_loop(check, in_flight=IN_FLIGHT, seconds=seconds))
                creates.append(await bp.closed_loop(create, in_flight=IN_FLIGHT, seconds=seconds))
    finally:
        await bp.drop_database(name)

    def row(label: str, runs: list[bp.Run]) -> list[str]:
        latencies = [x for r in runs for x in r.latencies]
        whole = bp.Run(len(latencies), 1, latencies)
        return [
            label,
            f"{bp.median([r.rate for r in runs]):.0f}",
            bp.ms(whole.p(0.5)),
            bp.ms(whole.p(0.99)),
        ]

    check_rate = bp.median([r.rate for r in checks])
    create_rate = bp.median([r.rate for r in creates])
    print(
        bp.table(
            f"create: {IN_FLIGHT} in flight, {rounds} rounds x {seconds:g} s",
            ["call", "calls/s (median)", "p50 ms", "p99 ms"],
            [row("grpc.health.v1/Check (baseline)", checks), row("CreateJob", creates)],
        )
    )
    ratio = create_rate / check_rate
    verdict = "met" if ratio >= 0.2 else "MISSED"
    print(f"\nCreateJob/s = {ratio:.0%} of Check/s (target >= 20 %: {verdict})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rounds))
