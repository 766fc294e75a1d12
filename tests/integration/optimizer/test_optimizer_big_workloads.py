"""Big workloads and busy targets: a workload of many statements is cut to the top ones by
total time and the coverage is reported; statements left out are grouped by reason in one
insight; a binding max_indexes is said; concurrent analyses of one transactional target
all reach the same advice; a lock that stops the what-if phase is reported, never silent."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.optimizer import ENGINES, analyze, of_kind, seeded_database, targets_for
from tests.support.pg import drop_database, dsn_for

SEED = """
CREATE EXTENSION pg_stat_statements;
CREATE TABLE orders (id int PRIMARY KEY, customer int, region int, status int, total int,
                     note text);
INSERT INTO orders
SELECT g, g % 5000, g % 3000, g % 4000, g % 7000, 'n' FROM generate_series(1, 200000) g;
CREATE TABLE lines (id int, order_id int, sku int);
INSERT INTO lines SELECT g, g % 200000, g % 9000 FROM generate_series(1, 200000) g;
"""

Q_CUSTOMER = "SELECT id, total FROM orders WHERE customer = 42"
Q_REGION = "SELECT id, note FROM orders WHERE region = 7"
Q_STATUS = "SELECT id FROM orders WHERE status = 11"
Q_SKU = "SELECT order_id FROM lines WHERE sku = 5"


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("big", SEED)
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def stub(database, optimizer_for, channel_for) -> pb_grpc.OptimizerServiceStub:
    server = await optimizer_for(targets_for(database))
    return pb_grpc.OptimizerServiceStub(channel_for(server))


def given(*queries: tuple[str, float]) -> analysis_pb2.Workload:
    """A workload of (text, total time in ms), each run once."""
    return analysis_pb2.Workload(
        queries=[
            analysis_pb2.WorkloadQuery(text=text, calls=1, weight=1.0, total_time_ms=ms)
            for text, ms in queries
        ]
    )


def insights(events, code: str) -> list[analysis_pb2.Insight]:
    return [i for i in of_kind(events, "insight") if i.code == code]


def creates(events) -> list[advice_pb2.Advice]:
    return [a for a in of_kind(events, "advice") if a.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX]


async def test_coverage_cuts_the_tail_of_a_big_workload_and_says_so(stub):
    # Two statements take almost all the time; 298 cheap ones the rest.
    template = "SELECT id FROM orders WHERE id = {n} AND total >= 0"
    tail = [(template.format(n=n), 1.0) for n in range(298)]
    w = given((Q_CUSTOMER, 20_000.0), (Q_REGION, 10_000.0), *tail)
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target="hypopg",
            analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
            workload=w,
        ),
    )
    workload = events[0].workload
    assert [q.text for q in workload.queries] == [Q_CUSTOMER, Q_REGION]
    assert workload.total_statements == 300 and workload.total_time_ms == 30_298.0
    [coverage] = insights(events, "WORKLOAD_COVERAGE")
    assert coverage.severity == analysis_pb2.SEVERITY_INFO
    assert "the 2 statements analysed take 99.0% of the workload's total" in coverage.message
    assert "298 statements taking the other 1.0% were left out" in coverage.message
    summary = of_kind(events, "summary")[0]
    assert summary.queries_analyzed == 2 and summary.queries_left_out == 298
    assert summary.workload_coverage_percent == pytest.approx(99.02, abs=0.01)
    assert any("covered 99.0% of the workload's total time" in r for r in summary.recommendations)
    assert {a.title for a in creates(events)} == {
        "Index on public.orders (customer)",
        "Index on public.orders (region)",
    }

    # Asked for everything but allowed 50 statements: max_queries stops it, and says so.
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target="hypopg",
            analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
            options=analysis_pb2.AnalysisOptions(max_queries=50, workload_coverage_percent=100),
            workload=w,
        ),
    )
    assert len(events[0].workload.queries) == 50
    [coverage] = insights(events, "WORKLOAD_COVERAGE")
    assert coverage.severity == analysis_pb2.SEVERITY_WARNING
    assert "max_queries = 50 stopped short of the 100% asked for" in coverage.message
    assert of_kind(events, "summary")[0].queries_left_out == 250


async def test_pg_stat_statements_is_cut_by_coverage_and_reported(stub, database):
    conn = await asyncpg.connect(dsn_for(database))
    try:
        await conn.execute(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
            "WHERE datname = current_database()), 0)"
        )
        # One heavy statement (a scan of 200,000 rows, 100 times) and 40 trivial ones, run
        # often enough to outlive the eviction of one-off entries on the shared server.
        for n in range(100):
            await conn.fetch("SELECT count(*) FROM orders WHERE customer = $1", n)
        for _ in range(20):
            for n in range(1, 41):
                await conn.fetch("SELECT " + ", ".join(["1"] * n))
    finally:
        await conn.close()
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target="hypopg", analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES]
        ),
    )
    workload = events[0].workload
    assert workload.source == analysis_pb2.WORKLOAD_SOURCE_PG_STAT_STATEMENTS
    assert any("FROM orders WHERE customer" in q.text for q in workload.queries)
    left_out = workload.total_statements - len(workload.queries)
    assert left_out > 0
    [coverage] = insights(events, "WORKLOAD_COVERAGE")
    assert f"{left_out} statements taking the other" in coverage.message
    summary = of_kind(events, "summary")[0]
    assert summary.queries_left_out == left_out
    assert 95.0 <= summary.workload_coverage_percent <= 100.0
    assert "Index on public.orders (customer)" in {a.title for a in creates(events)}


@pytest.mark.parametrize("engine", ENGINES)
async def test_statements_left_out_are_grouped_by_reason_in_one_insight(stub, engine):
    template = "SELECT * FROM no_such_table_{n}"
    missing = [template.format(n=n) for n in range(3)]
    utility = ["VACUUM", "CHECKPOINT"]
    catalogs = [
        "SELECT relname FROM pg_class WHERE relkind = 'r'",
        "SELECT typname FROM pg_type WHERE oid = 23",
        "SELECT attname FROM pg_catalog.pg_attribute WHERE attnum > 0",
        "WITH t AS (SELECT 1) SELECT nspname FROM pg_namespace, t",
    ]
    texts = [Q_CUSTOMER, *missing, *utility, *catalogs]
    replay = analysis_pb2.Workload(
        source=analysis_pb2.WORKLOAD_SOURCE_REPLAY,
        queries=[
            analysis_pb2.WorkloadQuery(query_id=f"q{n}", text=t, calls=1, weight=1.0)
            for n, t in enumerate(texts)
        ],
    )
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target=engine,
            analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
            workload=replay,
        ),
    )
    # One insight for all nine; none per statement.
    assert [i for i in of_kind(events, "insight") if i.query_id] == []
    [grouped] = insights(events, "QUERIES_NOT_PLANNED")
    assert grouped.severity == analysis_pb2.SEVERITY_WARNING
    message = grouped.message
    assert message.startswith("9 of 10 statements were not planned: "), message
    assert "3 could not be planned (SQLSTATE 42P01: undefined table) (queries q1, q2, q3)" in (
        message
    )
    assert "2 not a SELECT, INSERT, UPDATE or DELETE statement (queries q4, q5)" in message
    # Catalog readers are counted, not named.
    assert message.endswith("; 4 read only system catalogs"), message
    assert not any(f"q{n}" in message for n in range(6, 10))
    assert of_kind(events, "summary")[0].queries_analyzed == 1
    assert [a.title for a in creates(events)] == ["Index on public.orders (customer)"]


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_binding_max_indexes_is_reported(stub, engine):
    w = given((Q_CUSTOMER, 0.0), (Q_REGION, 0.0), (Q_STATUS, 0.0), (Q_SKU, 0.0))
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target=engine,
            analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
            options=analysis_pb2.AnalysisOptions(max_indexes=2, storage_budget_bytes=1 << 30),
            workload=w,
        ),
    )
    assert len(creates(events)) == 2
    [reached] = insights(events, "MAX_INDEXES_REACHED")
    assert reached.message.startswith("max_indexes = 2 stopped the selection at "), reached
    assert "of a 1024 MB budget; 2 more index(es) would each improve the workload" in (
        reached.message
    )
    summary = of_kind(events, "summary")[0]
    assert summary.max_indexes_reached
    assert any("max_indexes = 2 was reached" in r for r in summary.recommendations)
    # Room for all four: nothing to report.
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target=engine,
            analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
            options=analysis_pb2.AnalysisOptions(max_indexes=4, storage_budget_bytes=1 << 30),
            workload=w,
        ),
    )
    assert len(creates(events)) == 4 and not insights(events, "MAX_INDEXES_REACHED")
    assert not of_kind(events, "summary")[0].max_indexes_reached


def outcome(events) -> tuple[list[str], list[str], list[str]]:
    summary = of_kind(events, "summary")[0]
    return (
        [a.fingerprint for a in of_kind(events, "advice")],
        sorted(f"{i.code}: {i.message}" for i in of_kind(events, "insight")),
        list(summary.incomplete_phases),
    )


async def test_concurrent_transactional_analyses_of_one_target_all_agree(stub):
    w = given((Q_CUSTOMER, 0.0), (Q_REGION, 0.0), (Q_SKU, 0.0))
    request = pb.AnalyzeRequest(target="transactional", workload=w)
    alone = outcome(await analyze(stub, request))
    assert len(alone[0]) >= 3 and alone[2] == []
    together = await asyncio.gather(*(analyze(stub, request) for _ in range(10)))
    assert [outcome(events) for events in together] == [alone] * 10


async def test_a_lock_that_stops_the_what_if_builds_is_reported_not_silent(stub, database):
    w = given((Q_CUSTOMER, 0.0), (Q_SKU, 0.0))
    holder = await asyncpg.connect(dsn_for(database))
    try:
        # A writer's lock on `orders` (an open transaction): reads and plans go on, but no
        # index can be built on it until it ends.
        await holder.execute("BEGIN; LOCK TABLE orders IN ROW EXCLUSIVE MODE")
        events = await analyze(
            stub,
            pb.AnalyzeRequest(
                target="transactional",
                analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
                workload=w,
            ),
        )
    finally:
        await holder.close()
    [incomplete] = insights(events, "PHASE_INCOMPLETE")
    assert incomplete.severity == analysis_pb2.SEVERITY_WARNING
    message = incomplete.message
    assert message.startswith("the what-if phase (the what-if search for new indexes)"), message
    assert "could not be built (SQLSTATE 55P03: lock not available)" in message
    assert "on public.orders " in message and "lines" not in message
    summary = of_kind(events, "summary")[0]
    assert list(summary.incomplete_phases) == ["what-if"]
    assert summary.recommendations[0].startswith("Incomplete: the what-if phase")
    # What could be built still is.
    assert [a.title for a in creates(events)] == ["Index on public.lines (sku)"]
