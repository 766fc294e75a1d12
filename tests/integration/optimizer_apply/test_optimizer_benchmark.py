"""Benchmark against real PostgreSQL: on a sampled scratch schema and on a sandbox target,
the index is used and reads far fewer buffers; nothing is left behind, also after a
failure or a cancel; a target with nowhere to benchmark says how to configure one."""

from __future__ import annotations

import json

import asyncpg
import grpc
import pytest

from pgsage import rpc
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from tests.support.apply import (
    FAILED,
    STARTED,
    SUCCEEDED,
    catalog,
    collect,
    eventually,
    results,
    seeded_database,
    statements,
)
from tests.support.pg import drop_database, dsn_for

SEED = """
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL);
INSERT INTO customers SELECT g, 'region ' || (g % 7) FROM generate_series(1, 5000) g;
CREATE TABLE orders (
    id int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    amount int NOT NULL,
    note text NOT NULL
);
INSERT INTO orders
SELECT g, g % 5000 + 1, g % 1000, repeat('x', 40) FROM generate_series(1, 200000) g;
CREATE INDEX orders_amount_idx ON orders (amount);
"""
CREATE = advice_pb2.ADVICE_KIND_CREATE_INDEX
INDEX = "CREATE INDEX CONCURRENTLY pgsage_orders_customer ON public.orders (customer_id)"
BY_CUSTOMER = "SELECT id, amount FROM orders WHERE customer_id = $1"
JOINED = (
    "SELECT c.region, sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.customer_id = $1 GROUP BY c.region"
)
WRITE = "UPDATE orders SET amount = $2 WHERE customer_id = $1"


def queries(*texts: str) -> list[analysis_pb2.WorkloadQuery]:
    return [analysis_pb2.WorkloadQuery(query_id=f"q{n}", text=t) for n, t in enumerate(texts)]


def sampled(runs: int, *texts: str) -> pb.BenchmarkRequest:
    """A benchmark of `INDEX` on the sampled target, measuring `texts` `runs` times."""
    return pb.BenchmarkRequest(
        target="sampled", kind=CREATE, sql=INDEX, runs=runs, queries=queries(*texts)
    )


@pytest.fixture(scope="module")
async def databases():
    target = await seeded_database("bench", SEED)
    box = await seeded_database("box", SEED)
    yield target, box
    await drop_database(target)
    await drop_database(box)


@pytest.fixture(scope="module")
async def stub(databases, started_optimizer):
    target, box = databases
    return await started_optimizer(
        [
            {
                "name": "sampled",
                "dsn": dsn_for(target),
                "benchmark_sampling": True,
                "sample_percent": 20,
                "show_values": True,  # this target lets drawn values be shown
            },
            {"name": "plain", "dsn": dsn_for(target)},
            {"name": "box", "dsn": dsn_for(box)},
            {"name": "boxed", "dsn": dsn_for(target), "sandbox": "box"},
        ]
    )


async def scratch_schemas(database: str) -> list[str]:
    conn = await asyncpg.connect(dsn_for(database))
    try:
        rows = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pgsage_bench_%'"
        )
        return [r["nspname"] for r in rows]
    finally:
        await conn.close()


def blocks(m: pb.Measurement) -> int:
    return m.shared_hit_blocks + m.shared_read_blocks


async def test_a_sampled_benchmark_uses_the_index_and_leaves_no_scratch_schema(stub, databases):
    target, _ = databases
    before = await catalog(dsn_for(target))
    request = sampled(3, BY_CUSTOMER, JOINED, WRITE)
    events, error = await collect(stub.Benchmark(request))
    assert error is None, error
    [result] = results(events, pb.BenchmarkResult)
    assert result.environment.startswith("sample 20% in schema pgsage_bench_")
    assert result.index_size_bytes > 0 and result.index_name.startswith("pgsage_bench_")
    by_id = {q.query_id: q for q in result.queries}
    for qid in ("q0", "q1", "q2"):
        q = by_id[qid]
        assert not q.skipped_reason, q.skipped_reason
        assert len(q.parameter_values) == (2 if qid == "q2" else 1), q.parameter_values
        assert all(v.isdigit() for v in q.parameter_values)
        assert q.before.runs == 3 and q.after.runs == 3
        assert not q.before.index_used and q.after.index_used, qid
        # a read touches a few pages instead of the whole sample; a write also updates indexes
        fewer = 5 if qid != "q2" else 1
        assert blocks(q.after) * fewer < blocks(q.before), (qid, blocks(q.before), blocks(q.after))
        assert q.before.min_ms <= q.before.median_ms <= q.before.max_ms
        json.loads(q.after.plan)
    # customers followed the sampled orders' keys: the join of a drawn customer finds rows
    joined = json.loads(by_id["q1"].after.plan)
    assert joined["Plan"]["Actual Rows"] >= 1
    # the write ran in a transaction that was rolled back: the target is unchanged
    ran = statements(events, SUCCEEDED)
    assert any(
        s.startswith("BEGIN READ WRITE; EXPLAIN (ANALYZE, BUFFERS") and "UPDATE" in s for s in ran
    )
    assert any("TABLESAMPLE BERNOULLI (20)" in s for s in ran)
    assert any("WHERE EXISTS" in s for s in ran)  # orders follow the sampled customers
    assert any(s.startswith("DROP SCHEMA IF EXISTS pgsage_bench_") for s in ran)
    assert statements(events, STARTED) == [*ran]
    assert await scratch_schemas(target) == []
    assert await catalog(dsn_for(target)) == before
    conn = await asyncpg.connect(dsn_for(target))
    try:
        assert await conn.fetchval("SELECT sum(amount) FROM orders") == sum(
            g % 1000 for g in range(1, 200001)
        )
    finally:
        await conn.close()


async def test_a_query_off_the_rules_is_refused_before_anything_runs(stub, databases):
    """Measured queries are held to the rules of a caller's query (`sqlcheck.check_query`):
    a VACUUM among them refuses the request, naming it, before any session or sample."""
    target, _ = databases
    before = await catalog(dsn_for(target))
    request = sampled(1, BY_CUSTOMER, JOINED, WRITE, "VACUUM orders")
    events, error = await collect(stub.Benchmark(request))
    assert events == [] and error is not None
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc.reason_of(error) == "QUERY_NOT_ALLOWED"
    _, metadata = rpc.errors.from_status(rpc.status_of(error))
    assert metadata["field"] == "queries[3].text" and metadata["rule"] == "STATEMENT_KIND"
    assert await scratch_schemas(target) == []
    assert await catalog(dsn_for(target)) == before


async def test_a_sandbox_benchmark_runs_there_and_removes_its_index(stub, databases):
    target, box = databases
    target_before, box_before = await catalog(dsn_for(target)), await catalog(dsn_for(box))
    request = pb.BenchmarkRequest(
        target="boxed", kind=CREATE, sql=INDEX, runs=2, queries=queries(BY_CUSTOMER)
    )
    events, error = await collect(stub.Benchmark(request))
    assert error is None, error
    [result] = results(events, pb.BenchmarkResult)
    assert result.environment == "sandbox target box"
    [q] = result.queries
    assert q.after.index_used and blocks(q.after) * 5 < blocks(q.before)
    assert {e.target for e in events if isinstance(e, pb.StatementExecution)} == {"box"}
    assert await catalog(dsn_for(box)) == box_before
    assert await catalog(dsn_for(target)) == target_before


@pytest.mark.parametrize("where", ["sampled", "boxed"])
async def test_a_drop_is_measured_without_the_index_and_the_index_stays(stub, databases, where):
    target, box = databases
    target_before, box_before = await catalog(dsn_for(target)), await catalog(dsn_for(box))
    request = pb.BenchmarkRequest(
        target=where,
        kind=advice_pb2.ADVICE_KIND_DROP_UNUSED_INDEX,
        sql="DROP INDEX CONCURRENTLY public.orders_amount_idx",
        runs=2,
        queries=queries("SELECT count(*) FROM orders WHERE amount = $1"),
    )
    events, error = await collect(stub.Benchmark(request))
    assert error is None, error
    [result] = results(events, pb.BenchmarkResult)
    [q] = result.queries
    assert not q.skipped_reason, q.skipped_reason
    assert q.before.index_used and not q.after.index_used
    assert blocks(q.after) > 5 * blocks(q.before)
    assert result.index_size_bytes > 0
    measured = [s for s in statements(events, SUCCEEDED) if "EXPLAIN" in s]
    assert any("DROP INDEX" in s and s.endswith("ROLLBACK") for s in measured)
    assert await catalog(dsn_for(target)) == target_before
    assert await catalog(dsn_for(box)) == box_before
    assert await scratch_schemas(target) == []


async def test_a_failed_benchmark_still_removes_its_scratch_schema(stub, databases):
    target, _ = databases
    broken = "CREATE INDEX CONCURRENTLY pgsage_orders_ratio ON public.orders ((1 / (amount - 5)))"
    request = pb.BenchmarkRequest(
        target="sampled", kind=CREATE, sql=broken, runs=1, queries=queries(BY_CUSTOMER)
    )
    events, error = await collect(stub.Benchmark(request))
    assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "division by zero" in error.details()
    assert any("pgsage_bench_" in s and "amount - 5" in s for s in statements(events, FAILED))
    assert any(s.startswith("DROP SCHEMA") for s in statements(events, SUCCEEDED))
    assert await scratch_schemas(target) == []


async def test_a_cancelled_benchmark_still_removes_its_scratch_schema(stub, databases):
    target, _ = databases
    request = pb.BenchmarkRequest(
        target="sampled", kind=CREATE, sql=INDEX, runs=50, queries=queries(BY_CUSTOMER)
    )
    call = stub.Benchmark(request)
    async for response in call:
        event = getattr(response, response.WhichOneof("event"))
        if isinstance(event, pb.StatementExecution) and event.sql.startswith("BEGIN"):
            break  # measuring on the scratch copy
    assert len(await scratch_schemas(target)) == 1
    call.cancel()
    conn = await asyncpg.connect(dsn_for(target))
    try:

        async def cleaned() -> bool:
            busy = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'pgsage-optimizer' AND datname = current_database()"
            )
            return busy == 0 and not await scratch_schemas(target)

        await eventually(cleaned, "the scratch schema was dropped after the cancel")
    finally:
        await conn.close()


async def test_nowhere_to_benchmark_says_how_to_configure_one(stub):
    request = pb.BenchmarkRequest(
        target="plain", kind=CREATE, sql=INDEX, queries=queries(BY_CUSTOMER)
    )
    events, error = await collect(stub.Benchmark(request))
    assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rpc.reason_of(error) == "BENCHMARK_NOT_CONFIGURED"
    assert "sandbox" in error.details() and "benchmark_sampling" in error.details()
    assert events == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.BenchmarkRequest(target="sampled", kind=CREATE, sql=INDEX, runs=-1), "runs"),
        (
            pb.BenchmarkRequest(target="sampled", kind=CREATE, sql=INDEX, sample_percent=150),
            "sample_percent",
        ),
        (pb.BenchmarkRequest(target="sampled", kind=CREATE, sql="DROP TABLE orders"), "sql"),
        (
            pb.BenchmarkRequest(
                target="sampled",
                kind=CREATE,
                sql=INDEX,
                queries=[analysis_pb2.WorkloadQuery(text=" ")],
            ),
            "queries[0].text",
        ),
    ],
)
async def test_bad_benchmark_requests_name_the_field(stub, databases, request_, field):
    events, error = await collect(stub.Benchmark(request_))
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in str(rpc.status_of(error))
    assert events == []
    assert await scratch_schemas(databases[0]) == []
