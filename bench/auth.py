"""The cost of authentication: GetJob p99 at 1 in flight and CreateJob/s at 32 in flight with
a JWT and with a pgsage API token, beside the same calls in local mode — issue 10; target
≥ 80 % of local mode's throughput, and the issuer's keys (JWKS) never fetched per call.

    .venv/bin/python -m bench.auth [--calls 2000] [--seconds 3] [--rounds 3]

Two job services on one database: one in local mode, one with a real issuer (discovery and
JWKS served over HTTP by the tests' issuer, `tests/support/issuer.py`).
Rounds alternate the three modes so each sees the same machine noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import grpc

from bench import _platform as bp
from pgsage.jobs.v1 import access_pb2, job_pb2, job_service_pb2
from tests.support.issuer import Issuer, bearer

IN_FLIGHT = 32
JOBS = 500
MODES = ("local mode (baseline)", "JWT", "API token")


async def main(calls: int, seconds: float, rounds: int) -> None:
    name = bp.unique_name("pgsage_bench_auth")
    url = await bp.create_database(name)
    issuer = Issuer()
    secured_env = {
        "PGSAGE_JOBS_OIDC_ISSUER": issuer.url,
        "PGSAGE_JOBS_OIDC_AUDIENCE": issuer.audience,
        "PGSAGE_JOBS_ROLE_BINDINGS": json.dumps([{"group": "dba", "role": "ADMIN"}]),
    }
    try:
        async with (
            bp.job_service(url) as local_address,
            bp.job_service(url, **secured_env) as secured_address,
            grpc.aio.insecure_channel(local_address) as local_channel,
            grpc.aio.insecure_channel(secured_address) as secured_channel,
        ):
            local, secured = bp.jobs_stub(local_channel), bp.jobs_stub(secured_channel)
            jwt_md = issuer.bearer("bench", groups=["dba"])
            expire = datetime.now(UTC) + timedelta(days=1)
            created = await secured.CreateApiToken(
                access_pb2.CreateApiTokenRequest(
                    api_token={
                        "display_name": "bench",
                        "role_bindings": [{"role": access_pb2.ADMIN, "targets": "*"}],
                        "expire_time": expire,
                    }
                ),
                metadata=jwt_md,
            )
            ways = {
                MODES[0]: (local, ()),
                MODES[1]: (secured, jwt_md),
                MODES[2]: (secured, bearer(created.secret)),
            }
            names = [
                (
                    await local.CreateJob(
                        job_service_pb2.CreateJobRequest(job=job_pb2.Job(target=f"t{i % 10}"))
                    )
                ).name
                for i in range(JOBS)
            ]
            rng = random.Random(7)
            prefix = uuid.uuid4().hex[:8]

            def getter(stub, metadata):
                async def get(_: int) -> object:
                    request = job_service_pb2.GetJobRequest(name=rng.choice(names))
                    return await stub.GetJob(request, metadata=metadata, timeout=10)

                return get

            def creator(stub, metadata, mode):
                async def create(i: int) -> object:
                    return await stub.CreateJob(
                        job_service_pb2.CreateJobRequest(
                            job=job_pb2.Job(target=f"bench-{i % 10}"),
                            request_id=f"{prefix}-{mode}-{uuid.uuid4().hex[:6]}-{i}",
                        ),
                        metadata=metadata,
                        timeout=10,
                    )

                return create

            gets = {m: getter(*ways[m]) for m in MODES}
            creates = {m: creator(*ways[m], i) for i, m in enumerate(MODES)}
            for m in MODES:  # warm up connections, caches and prepared statements
                await bp.closed_loop(gets[m], in_flight=1, calls=200)
                await bp.closed_loop(creates[m], in_flight=IN_FLIGHT, seconds=1)
            fetches_before = issuer.jwks_fetches
            get_runs: dict[str, list[bp.Run]] = {m: [] for m in MODES}
            create_runs: dict[str, list[bp.Run]] = {m: [] for m in MODES}
            for _ in range(rounds):
                for m in MODES:
                    get_runs[m].append(
                        await bp.closed_loop(gets[m], in_flight=1, calls=calls // rounds)
                    )
                    create_runs[m].append(
                        await bp.closed_loop(creates[m], in_flight=IN_FLIGHT, seconds=seconds)
                    )
            fetches = issuer.jwks_fetches - fetches_before
    finally:
        issuer.close()
        await bp.drop_database(name)

    def p99(runs: list[bp.Run]) -> float:
        return bp.Run(0, 1, [x for r in runs for x in r.latencies]).p(0.99)

    base_rate = bp.median([r.rate for r in create_runs[MODES[0]]])
    base_p99 = p99(get_runs[MODES[0]])
    rows = []
    verdicts = []
    for m in MODES:
        rate = bp.median([r.rate for r in create_runs[m]])
        rows.append(
            [
                m,
                bp.ms(p99(get_runs[m])),
                f"{p99(get_runs[m]) / base_p99:.2f}x",
                f"{rate:.0f}",
                f"{rate / base_rate:.0%}",
            ]
        )
        verdicts.append(rate / base_rate >= 0.8)
    print(
        bp.table(
            f"auth: GetJob {calls} calls at 1 in flight; CreateJob {IN_FLIGHT} in flight, "
            f"{rounds} rounds x {seconds:g} s",
            ["caller", "GetJob p99 ms", "p99 vs local", "CreateJob/s (median)", "vs local"],
            rows,
        )
    )
    verdict = "met" if all(verdicts) else "MISSED"
    print(
        f"\nCreateJob/s with credentials >= 80 % of local mode: {verdict}; "
        f"JWKS fetched {fetches} time(s) during the measured calls (target: 0)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.seconds, args.rounds))
