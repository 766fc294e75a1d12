"""GetJob latency p50/p99 at 1 and at 32 calls in flight, beside grpc.health.v1/Check on
the same server and client — BENCH.md "read"; target p99 at 1 in flight ≤ 5 ms.

    .venv/bin/python -m bench.read [--calls 2000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random

import grpc

from bench import _platform as bp
from pgsage.jobs.v1 import job_pb2, job_service_pb2

JOBS = 1000


async def main(calls: int, seconds: float) -> None:
    name = bp.unique_name("pgsage_bench_read")
    url = await bp.create_database(name)
    try:
        async with bp.job_service(url) as address, grpc.aio.insecure_channel(address) as channel:
            check = bp.health_check(channel)
            stub = bp.jobs_stub(channel)
            names = [
                (
                    await stub.CreateJob(
                        job_service_pb2.CreateJobRequest(job=job_pb2.Job(target=f"t{i % 10}")),
                        timeout=10,
                    )
                ).name
                for i in range(JOBS)
            ]
            rng = random.Random(7)

            async def get(_: int) -> object:
                request = job_service_pb2.GetJobRequest(name=rng.choice(names))
                return await stub.GetJob(request, timeout=10)

            await bp.closed_loop(check, in_flight=1, calls=200)
            await bp.closed_loop(get, in_flight=1, calls=200)
            results = {}
            for in_flight in (1, 32):
                kwargs = {"calls": calls} if in_flight == 1 else {"seconds": seconds}
                results[("Check", in_flight)] = await bp.closed_loop(
                    check, in_flight=in_flight, **kwargs
                )
                results[("GetJob", in_flight)] = await bp.closed_loop(
                    get, in_flight=in_flight, **kwargs
                )
    finally:
        await bp.drop_database(name)

    rows = []
    for in_flight in (1, 32):
        for call in ("Check", "GetJob"):
            run = results[(call, in_flight)]
            label = "grpc.health.v1/Check (baseline)" if call == "Check" else "GetJob"
            rows.append(
                [label, str(in_flight), f"{run.rate:.0f}", bp.ms(run.p(0.5)), bp.ms(run.p(0.99))]
            )
    print(
        bp.table(
            f"read: {JOBS} jobs; {calls} calls at 1 in flight, {seconds:g} s at 32",
            ["call", "in flight", "calls/s", "p50 ms", "p99 ms"],
            rows,
        )
    )
    get1, check1 = results[("GetJob", 1)], results[("Check", 1)]
    verdict = "met" if get1.p(0.99) <= 0.005 else "MISSED"
    print(
        f"\nGetJob p99 at 1 in flight = {bp.ms(get1.p(0.99))} ms "
        f"({get1.p(0.99) / check1.p(0.99):.1f}x Check's p99; target <= 5 ms: {verdict})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.seconds))
