"""The browser UI through the gateway, on the built UI and a real stack (Chromium).

Flow: start an analysis of the demo target from the form, watch it finish live, approve one
suggestion, dismiss another, filter, edit SQL (refused, then accepted), resolve an etag
conflict, download the patch, find the job in the history. The dispatcher is paused here:
when the flow asks, the test streams known suggestions into the job store the way the
dispatcher does (through the job service's repository), so the flow knows what to edit.
(test_analysis.py runs a real analysis with the dispatcher.)
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from pgsage.jobs.v1 import suggestion_pb2
from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow

Impact = suggestion_pb2.QueryImpact
Measurement = suggestion_pb2.Measurement

# A benchmark where one of two queries got slower (stored as the dispatcher stores one).
REGRESSING_BENCHMARK = suggestion_pb2.BenchmarkResult(
    environment="sandbox target demo_sandbox",
    index_name="order_items_order_id_idx",
    index_size_bytes=26_738_688,
    regression=True,
    queries=[
        suggestion_pb2.QueryBenchmark(
            query_id="101",
            text="SELECT * FROM order_items WHERE order_id = $1",
            parameter_values=["4211"],
            before=Measurement(median_ms=41.5, spread_ms=1.2, runs=5, shared_hit_blocks=5120),
            after=Measurement(
                median_ms=0.08, spread_ms=0.01, runs=5, shared_hit_blocks=4, index_used=True
            ),
        ),
        suggestion_pb2.QueryBenchmark(
            query_id="102",
            text="INSERT INTO order_items (order_id, product_id) VALUES ($1, $2)",
            parameter_values=["4211", "17"],
            before=Measurement(median_ms=0.20, spread_ms=0.01, runs=5, shared_hit_blocks=6),
            after=Measurement(median_ms=0.31, spread_ms=0.01, runs=5, shared_hit_blocks=9),
            regression=True,
        ),
    ],
)

SUGGESTIONS = [
    {
        "table": "public.orders",
        "column": "customer_id",
        "rationale": "Orders are looked up by customer in 3 of the 5 costliest queries; "
        "each reads the whole table today.",
        "estimated_size_bytes": 9_437_184,
        "workload_improvement_percent": 38.4,
        "confidence": 0.92,
        "risk": "LOW",
        "query_impacts": [
            Impact(
                text="SELECT * FROM orders WHERE customer_id = $1", cost_before=8210, cost_after=12
            ),
        ],
    },
    {
        "kind": "DROP_UNUSED_INDEX",
        "title": "Drop unused index public.events_kind_idx",
        "sql": "DROP INDEX CONCURRENTLY public.events_kind_idx",
        "rollback_sql": "CREATE INDEX CONCURRENTLY events_kind_idx ON public.events (kind)",
        "table": "public.events",
        "rationale": "No scan since the statistics were reset; each insert pays for it.",
        "estimated_size_bytes": 2_621_440,
        "confidence": 0.7,
        "risk": "MEDIUM",
    },
    {
        "table": "public.order_items",
        "column": "order_id",
        "rationale": "Joins from orders to order_items scan order_items in full.",
        "estimated_size_bytes": 26_738_688,
        "workload_improvement_percent": 21.7,
        "confidence": 0.85,
        "risk": "LOW",
    },
]


async def add_benchmark(
    store: str, suggestion: str, result: suggestion_pb2.BenchmarkResult
) -> None:
    """Prepends `result` to the suggestion's benchmarks, as a finished BENCHMARK job does."""
    suggestion_id = suggestion.rsplit("/", 1)[1]
    conn = await asyncpg.connect(store)
    try:
        updated = await conn.execute(
            "UPDATE suggestion SET benchmarks = ARRAY[$2::bytea] || benchmarks,"
            " version = version + 1 WHERE id = $1",
            suggestion_id,
            result.SerializeToString(),
        )
        assert updated == "UPDATE 1", updated
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


async def test_analysis_review_and_patch_in_the_browser(stack):
    store, gateway = stack

    async def on_request(verb: str, name: str) -> None:
        if verb == "run":  # the dispatcher's part: suggestions stream in, then the job ends
            for fields in SUGGESTIONS:
                stored = await pgsage_stack.seed_suggestion(store, name, **fields)
                if fields.get("column") == "order_id":
                    await add_benchmark(store, stored, REGRESSING_BENCHMARK)
            await pgsage_stack.finish_job(store, name)
        elif verb == "touch":  # another reviewer changes the suggestion (its etag moves on)
            async with httpx.AsyncClient(base_url=gateway.url) as client:
                response = await client.patch(
                    f"/v1/{name}", params={"updateMask": "notes"}, json={"notes": "looked at it"}
                )
                assert response.status_code == 200, response.text
        else:
            raise AssertionError(f"unknown request {verb}")

    output = await run_flow("main", gateway.url, on_request)
    assert "patch ok" in output and "flow main passed" in output


@pytest.fixture(scope="module")
async def unreachable_stack(built_ui):
    dead = f"postgresql://postgres@127.0.0.1:{pgsage_stack.free_port()}/nothing"
    async with pgsage_stack.job_store("pgsage_e2e") as store:
        async with pgsage_stack.optimizer(pgsage_stack.demo_targets(dead)) as optimizer:
            address = optimizer.address
            async with pgsage_stack.job_service(store, optimizer_address=address) as service:
                async with pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway:
                    yield gateway


async def test_history_pages_and_an_unreachable_target_in_the_browser(unreachable_stack):
    async with httpx.AsyncClient(base_url=unreachable_stack.url) as client:
        names = []
        for _ in range(27):
            response = await client.post("/v1/jobs", json={"target": "demo"})
            names.append(response.json()["name"])
        for name in names[:2]:
            assert (await client.post(f"/v1/{name}:cancel")).status_code == 200
    output = await run_flow("history", unreachable_stack.url)
    assert "flow history passed" in output
