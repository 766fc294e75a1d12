"""The cost of the audit trail's hash chain: appends/s with the chaining trigger beside the
same INSERT into an unchained copy of the table (same run, same connections), and the rate
at which VerifyAuditTrail's walk recomputes the chain.

    .venv/bin/python -m bench.audit [--seconds 3] [--rows 200000]

Appends run at 1 and 16 in flight: the trigger serialises writers on one advisory lock held
to each writer's commit, so concurrency is where its cost shows. `--rows 1000000` measures
the walk over a million records (filled by one INSERT ... SELECT, chained by the trigger).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from bench import _platform as bp
from job_service import audit, auditchain, database

# The repository's own INSERT, aimed at the unchained copy for the baseline.
_PLAIN_INSERT = audit._INSERT.replace("INTO audit_record", "INTO audit_plain")
_PLAIN_TABLE = """
CREATE TABLE audit_plain (LIKE audit_record INCLUDING DEFAULTS);
ALTER TABLE audit_plain ALTER chain_position DROP NOT NULL, ALTER prev_digest DROP NOT NULL,
    ALTER digest DROP NOT NULL"""
_FILL = """
INSERT INTO audit_record (id, actor, action, resource, outcome, target, statement, detail)
SELECT gen_random_uuid(), 'bench', 'statement.execute', 'jobs/x/suggestions/' || g,
       'SUCCEEDED', 'bench', 'CREATE INDEX CONCURRENTLY ix ON t (a)', 'row ' || g
FROM generate_series(1, $1) g"""


def _args(entry: audit.Entry) -> tuple:
    return (
        entry.id,
        entry.actor,
        entry.authenticated,
        entry.action,
        entry.resource,
        entry.job_id,
        entry.target,
        entry.statement,
        entry.outcome,
        entry.detail,
        entry.from_state,
        entry.to_state,
        entry.on_behalf_of,
        entry.actor_subject,
        entry.actor_method,
    )


def _entry() -> audit.Entry:
    return audit.Entry(
        actor="bench",
        action="statement.execute",
        resource=f"jobs/{uuid.uuid4()}",
        outcome="SUCCEEDED",
        target="bench",
        detail="x" * 80,
    )


async def main(seconds: float, rows: int) -> None:
    name = bp.unique_name("pgsage_bench_audit")
    url = await bp.create_database(name)
    db = database.Database(url, pool_size=16)
    results = []
    try:
        async with db.connection() as conn:
            await conn.execute(_PLAIN_TABLE)

        def appender(sql: str):
            async def append(i: int) -> None:
                async with db.connection() as conn:
                    await conn.execute(sql, *_args(_entry()))

            return append

        for in_flight in (1, 16):
            plain, chained = [], []
            for _ in range(3):
                plain.append(
                    await bp.closed_loop(
                        appender(_PLAIN_INSERT), in_flight=in_flight, seconds=seconds
                    )
                )
                chained.append(
                    await bp.closed_loop(
                        appender(audit._INSERT), in_flight=in_flight, seconds=seconds
                    )
                )
            for label, runs in (("unchained (baseline)", plain), ("chained", chained)):
                lat = [x for r in runs for x in r.latencies]
                whole = bp.Run(len(lat), 1, lat)
                results.append(
                    [
                        f"append, {in_flight} in flight, {label}",
                        f"{bp.median([r.rate for r in runs]):.0f}",
                        bp.ms(whole.p(0.5)),
                        bp.ms(whole.p(0.99)),
                    ]
                )

        # In chunks: each statement stays within the pool's command timeout.
        for done in range(0, rows, 20_000):
            async with db.connection() as conn:
                await conn.execute(_FILL, min(20_000, rows - done))
        async with db.connection() as conn:
            total = await conn.fetchval("SELECT count(*) FROM audit_record")
        started = time.perf_counter()
        verdict = await auditchain.verify(db)
        took = time.perf_counter() - started
        assert verdict.intact and verdict.records_checked == total, verdict.message
        results.append([f"verify {total} records", f"{total / took:.0f} records/s", "", ""])
    finally:
        await db.close()
        await bp.drop_database(name)
    print(
        bp.table(
            f"audit chain: {seconds:g} s rounds (median of 3)",
            ["what", "per second", "p50 ms", "p99 ms"],
            results,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rows))
