"""What a newcomer stumbled on in the UI, checked in the browser on the built UI.

The stack runs with the dispatcher paused: the test stores what the dispatcher would (an
analysis with a summary and suggestions, a benchmark that ran on a 10 % sample, a benchmark
job's audited statements, a failed analysis, a later analysis meeting an approved change
again), then `newcomer_flow.mjs` checks each page says plainly what it shows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from job_service import audit
from pgsage.jobs.v1 import job_pb2, suggestion_pb2
from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow

FLOW = Path(__file__).with_name("newcomer_flow.mjs")

Impact = suggestion_pb2.QueryImpact
Measurement = suggestion_pb2.Measurement

# The statements a benchmark on a sample runs, each reported STARTED then with its outcome.
BENCHMARK_STATEMENTS = [
    "CREATE SCHEMA pgsage_scratch_1",
    "CREATE TABLE pgsage_scratch_1.orders AS SELECT * FROM public.orders"
    " TABLESAMPLE SYSTEM (10) REPEATABLE (42)",
    "CREATE INDEX orders_customer_id_idx ON pgsage_scratch_1.orders (customer_id)",
    "DROP SCHEMA pgsage_scratch_1 CASCADE",
]


def sampled_benchmark(job: str) -> suggestion_pb2.BenchmarkResult:
    """A benchmark on a 10 % sample: the index measured 1 MB there (the estimate was 9 MB)."""
    return suggestion_pb2.BenchmarkResult(
        job=job,
        environment="sample 10% in schema pgsage_scratch_1 on demo",
        index_name="orders_customer_id_idx",
        index_size_bytes=1_048_576,
        queries=[
            suggestion_pb2.QueryBenchmark(
                query_id="201",
                text="SELECT * FROM orders WHERE customer_id = $1 AND status = $2",
                parameter_values=["4211", "'shipped'"],
                before=Measurement(median_ms=12.4, spread_ms=0.6, runs=5, shared_hit_blocks=880),
                after=Measurement(
                    median_ms=0.05, spread_ms=0.01, runs=5, shared_hit_blocks=4, index_used=True
                ),
            )
        ],
    )


async def store_job_facts(store: str, job: str, result: suggestion_pb2.BenchmarkResult | None,
                          suggestion: str | None = None,
                          summary: job_pb2.Summary | None = None) -> None:  # fmt: skip
    """Attaches `result` to `suggestion` and `summary` to `job`, as a finished job does."""
    conn = await asyncpg.connect(store)
    try:
        if result is not None and suggestion is not None:
            updated = await conn.execute(
                "UPDATE suggestion SET benchmarks = ARRAY[$2::bytea] || benchmarks,"
                " version = version + 1 WHERE id = $1",
                uuid.UUID(suggestion.rsplit("/", 1)[1]),
                result.SerializeToString(),
            )
            assert updated == "UPDATE 1", updated
        if summary is not None:
            updated = await conn.execute(
                "UPDATE job SET summary = $2 WHERE id = $1",
                uuid.UUID(job.split("/")[1]),
                summary.SerializeToString(),
            )
            assert updated == "UPDATE 1", updated
    finally:
        await conn.close()


async def record_benchmark_statements(store: str, job: str, suggestion: str, creator: str) -> None:
    """The audit records a benchmark job writes: its intent, then each statement's start and
    outcome (one record per statement phase, each in its own transaction)."""
    job_id = uuid.UUID(job.split("/")[1])
    actor = f"pgsage:{job}"

    def entry(**fields: str) -> audit.Entry:
        return audit.Entry(
            actor=actor, actor_subject=actor, authenticated=True, on_behalf_of=creator,
            resource=suggestion, job_id=job_id, target="demo", **fields,  # type: ignore[arg-type]
        )  # fmt: skip

    conn = await asyncpg.connect(store)
    try:
        await audit.record(conn, entry(action="benchmark.intent", outcome="INTENT"))
        for sql in BENCHMARK_STATEMENTS:
            for phase in ("STARTED", "SUCCEEDED"):
                await audit.record(
                    conn, entry(action="statement.execute", statement=sql, outcome=phase)
                )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def stack(built_ui, demo_dsn):
    async with pgsage_stack.job_store("pgsage_e2e") as store:
        async with pgsage_stack.optimizer(pgsage_stack.demo_targets(demo_dsn)) as optimizer:
            address = optimizer.address
            async with pgsage_stack.job_service(store, optimizer_address=address) as service:
                async with pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway:
                    yield store, gateway


async def test_what_a_newcomer_stumbled_on(stack):
    store, gateway = stack
    async with httpx.AsyncClient(base_url=gateway.url) as client:

        async def create(**body: str) -> dict:
            response = await client.post("/v1/jobs", json={"target": "demo", **body})
            assert response.status_code == 200, response.text
            return response.json()

        # An analysis with a summary: a sampled-benchmark index, a drop no query uses, and a
        # change already rolled back.
        analysis = (await create())["name"]
        fingerprint = uuid.uuid4().hex
        indexed = await pgsage_stack.seed_suggestion(
            store, analysis, fingerprint=fingerprint, estimated_size_bytes=9_437_184,
            workload_improvement_percent=38.4, confidence=0.9, risk="LOW",
            rationale="Orders are looked up by customer.",
            query_impacts=[Impact(text="SELECT * FROM orders WHERE customer_id = $1",
                                  cost_before=8210.5, cost_after=12.25)],
        )  # fmt: skip
        await pgsage_stack.seed_suggestion(
            store, analysis, kind="DROP_UNUSED_INDEX",
            title="Drop unused index public.events_kind_idx",
            sql="DROP INDEX CONCURRENTLY public.events_kind_idx",
            rollback_sql="CREATE INDEX CONCURRENTLY events_kind_idx ON public.events (kind)",
            table="public.events", estimated_size_bytes=2_621_440, risk="MEDIUM",
        )  # fmt: skip
        await pgsage_stack.seed_suggestion(
            store, analysis, table="public.order_items", column="product_id",
            state="ROLLED_BACK", workload_improvement_percent=4.0,
        )  # fmt: skip
        await pgsage_stack.finish_job(store, analysis)
        summary = job_pb2.Summary(
            workload_cost_before=1_234_567.8,
            workload_cost_after=12_345.4,
            workload_improvement_percent=99.0,
        )
        await store_job_facts(store, analysis, None, summary=summary)

        # Approved by the caller (local mode), then benchmarked by a BENCHMARK job.
        current = (await client.get(f"/v1/{indexed}")).json()
        approved = await client.post(f"/v1/{indexed}:approve", json={"etag": current["etag"]})
        assert approved.status_code == 200, approved.text
        benchmark = await create(kind="BENCHMARK", suggestion=indexed)
        await record_benchmark_statements(store, benchmark["name"], indexed, benchmark["creator"])
        result = sampled_benchmark(benchmark["name"])
        await store_job_facts(store, benchmark["name"], result, indexed)
        await pgsage_stack.finish_job(store, benchmark["name"])

        # A later analysis meets the approved change again: it arrives decided.
        later = (await create())["name"]
        again = await pgsage_stack.seed_suggestion(
            store, later, fingerprint=fingerprint, state="APPROVED"
        )
        conn = await asyncpg.connect(store)
        try:  # as the dispatcher stores it: pointing at the suggestion holding the decision
            await conn.execute(
                "UPDATE suggestion SET prior_decision = $2 WHERE id = $1",
                uuid.UUID(again.rsplit("/", 1)[1]),
                indexed,
            )
        finally:
            await conn.close()
        await pgsage_stack.finish_job(store, later)

        # An analysis that failed before it suggested anything.
        failed = (await create())["name"]
        await pgsage_stack.finish_job(store, failed, state="FAILED")

    names = {
        "ANALYSIS": analysis,
        "LATER": later,
        "FAILED": failed,
        "BENCHMARK_JOB": benchmark["name"],
        "PRIOR": indexed,
    }
    output = await run_flow(
        "newcomer",
        gateway.url,
        script=FLOW,
        env={f"PGSAGE_{k}": v for k, v in names.items()},
    )
    assert "flow newcomer passed" in output
