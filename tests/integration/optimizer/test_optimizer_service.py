"""The optimizer's gRPC surface: targets, errors, workloads, cancellation, validation."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from optimizer_service import app as optimizer_app
from pgsage import rpc
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.optimizer import (
    ENGINES,
    analyze,
    of_kind,
    seeded_database,
    targets_for,
    workload,
)
from tests.support.pg import drop_database, dsn_for

SEED = """
CREATE EXTENSION pg_stat_statements;
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, created timestamp NOT NULL,
                     total int NOT NULL);
INSERT INTO orders
SELECT g, g % 3000, timestamp '2021-01-01' + g * interval '1 minute', g % 997
FROM generate_series(1, 150000) g;
CREATE INDEX orders_total_idx ON orders (total);
"""
SECRET = "s3cr3t-pw"
Q_CUSTOMER = "SELECT id, total FROM orders WHERE customer = 42"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("service", SEED)
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def server(database, optimizer_for):
    down = {
        "name": "down",
        "dsn": f"postgresql://pgsage:{SECRET}@127.0.0.1:{closed_port()}/nowhere",
    }
    return await optimizer_for([*targets_for(database), down])


@pytest.fixture(scope="module")
async def channel(server, channel_for):
    return channel_for(server)


@pytest.fixture(scope="module")
def stub(channel) -> pb_grpc.OptimizerServiceStub:
    return pb_grpc.OptimizerServiceStub(channel)


async def sessions(database: str) -> dict[int, str]:
    """pid → application_name of the optimizer's sessions on `database`: working ones are
    named `pgsage-optimizer`, pooled idle ones `pgsage-optimizer (idle)`."""
    conn = await asyncpg.connect(dsn_for(database))
    try:
        rows = await conn.fetch(
            "SELECT pid, application_name FROM pg_stat_activity "
            "WHERE application_name LIKE 'pgsage-optimizer%' AND datname = $1",
            database,
        )
    finally:
        await conn.close()
    return {r["pid"]: r["application_name"] for r in rows}


def working(found: dict[int, str]) -> set[int]:
    return {pid for pid, name in found.items() if name == "pgsage-optimizer"}


async def test_health_serving_overall_and_for_the_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", optimizer_app.SERVICE_NAME):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    listed = await health.List(health_pb2.HealthListRequest())
    assert optimizer_app.SERVICE_NAME in listed.statuses


async def test_list_targets_reports_capabilities_and_never_a_dsn(stub, database):
    reply = await stub.ListTargets(pb.ListTargetsRequest())
    by_name = {t.name: t for t in reply.targets}
    assert set(by_name) == {"hypopg", "transactional", "down"}
    assert by_name["hypopg"].reachable and by_name["hypopg"].hypopg_version == "1.3.1"
    assert by_name["hypopg"].what_if_engine == pb.WHAT_IF_ENGINE_HYPOPG
    assert by_name["transactional"].what_if_engine == pb.WHAT_IF_ENGINE_TRANSACTIONAL
    assert by_name["hypopg"].pg_stat_statements
    assert not by_name["down"].reachable and by_name["down"].unreachable_reason
    raw = reply.SerializeToString()
    assert SECRET.encode() not in raw and b"postgresql://" not in raw
    assert database.encode() not in raw


async def test_diagnostics_say_which_target_is_down_and_why(stub):
    reply = await stub.GetDiagnostics(pb.GetDiagnosticsRequest())
    by_name = {d.name: d for d in reply.dependencies}
    assert by_name["target:hypopg"].status == pb.Dependency.OK
    assert "hypopg 1.3.1" in by_name["target:hypopg"].message
    assert by_name["target:down"].status == pb.Dependency.DOWN
    assert "unreachable" in by_name["target:down"].message
    assert SECRET not in by_name["target:down"].message


async def test_unknown_target_is_not_found(stub):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await analyze(stub, pb.AnalyzeRequest(target="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert rpc.reason_of(info.value) == "TARGET_NOT_FOUND"
    assert "nope" in info.value.details()


async def test_unreachable_target_is_unavailable_naming_target_and_cause(stub):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await analyze(stub, pb.AnalyzeRequest(target="down"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert rpc.reason_of(info.value) == "TARGET_UNAVAILABLE"
    details = info.value.details()
    assert "'down'" in details and "refused" in details.lower()
    status = rpc.status_of(info.value)
    assert SECRET not in str(status) and "postgresql://" not in str(status)


@pytest.mark.parametrize("engine", ENGINES)
async def test_stream_order_and_an_unplannable_query_becomes_an_insight(stub, engine):
    # A replay: a request's own queries are checked (`sqlcheck`) and VACUUM is refused at
    # the door; a replayed workload (perhaps pg_stat_statements' texts) is taken as it is.
    replay = workload((Q_CUSTOMER, 5), ("SELECT * FROM no_such_table", 1), ("VACUUM", 1))
    replay.source = analysis_pb2.WORKLOAD_SOURCE_REPLAY
    events = await analyze(stub, pb.AnalyzeRequest(target=engine, workload=replay))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "workload" and kinds[-1] == "summary"
    assert events[0].workload.source == analysis_pb2.WORKLOAD_SOURCE_REPLAY
    assert len(events[0].workload.queries) == 3
    # Both statements left out are in one insight, by reason, each naming its query.
    ids = [q.query_id for q in events[0].workload.queries]
    [grouped] = [i for i in of_kind(events, "insight") if i.code == "QUERIES_NOT_PLANNED"]
    assert grouped.severity == analysis_pb2.SEVERITY_WARNING
    assert grouped.message.startswith("2 of 3 statements were not planned"), grouped.message
    assert f"1 could not be planned (SQLSTATE 42P01: undefined table) (query {ids[1]})" in (
        grouped.message
    )
    assert f"1 not a SELECT, INSERT, UPDATE or DELETE statement (query {ids[2]})" in (
        grouped.message
    )
    created = [
        a for a in of_kind(events, "advice") if a.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX
    ]
    assert [a.title for a in created] == ["Index on public.orders (customer)"]
    summary = of_kind(events, "summary")[0]
    assert summary.queries_analyzed == 1 and summary.insights == len(of_kind(events, "insight"))
    assert summary.workload_cost_after < summary.workload_cost_before
    # The unused index on `total` is found too, unverified or verified, never on the PK.
    drops = [a.sql for a in of_kind(events, "advice") if a.kind != 1]
    assert drops == ["DROP INDEX CONCURRENTLY IF EXISTS public.orders_total_idx"]


async def test_parameterised_queries_say_how_they_were_planned(stub):
    text = "SELECT id FROM orders WHERE customer = $1 AND created >= $2 AND created < $3"
    by_mode = {}
    for mode in (analysis_pb2.PARAMETER_MODE_UNSPECIFIED, analysis_pb2.PARAMETER_MODE_GENERIC):
        events = await analyze(
            stub,
            pb.AnalyzeRequest(
                target="hypopg",
                analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
                options=analysis_pb2.AnalysisOptions(parameter_mode=mode),
                workload=workload((text, 1)),
            ),
        )
        advice = of_kind(events, "advice")
        assert advice, of_kind(events, "insight")
        by_mode[mode] = advice[0].query_impacts[0].parameter_mode
    assert by_mode[analysis_pb2.PARAMETER_MODE_UNSPECIFIED] == analysis_pb2.PARAMETER_MODE_PG_STATS
    assert by_mode[analysis_pb2.PARAMETER_MODE_GENERIC] == analysis_pb2.PARAMETER_MODE_GENERIC


async def test_pg_stat_statements_workload_and_its_replay_give_the_same_advice(stub, database):
    conn = await asyncpg.connect(dsn_for(database))
    try:
        for n in range(30):
            await conn.fetch("SELECT id, total FROM orders WHERE customer = $1", n)
    finally:
        await conn.close()
    first = await analyze(stub, pb.AnalyzeRequest(target="hypopg"))
    w = first[0].workload
    assert w.source == analysis_pb2.WORKLOAD_SOURCE_PG_STAT_STATEMENTS
    assert w.HasField("window") and w.window.HasField("end_time")
    ours = [q for q in w.queries if "FROM orders WHERE customer" in q.text]
    assert ours and ours[0].calls >= 30 and ours[0].weight == ours[0].calls
    assert any(a.title == "Index on public.orders (customer)" for a in of_kind(first, "advice"))

    replay = analysis_pb2.Workload()
    replay.CopyFrom(w)
    replay.source = analysis_pb2.WORKLOAD_SOURCE_REPLAY
    second = await analyze(stub, pb.AnalyzeRequest(target="hypopg", workload=replay))
    assert second[0].workload.source == analysis_pb2.WORKLOAD_SOURCE_REPLAY
    assert [q.query_id for q in second[0].workload.queries] == [q.query_id for q in w.queries]
    assert [a.fingerprint for a in of_kind(second, "advice")] == [
        a.fingerprint for a in of_kind(first, "advice")
    ]


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_cancelled_analysis_leaves_no_session_on_the_target(stub, database, engine):
    # Enough distinct queries that the analysis is still running when it is cancelled.
    template = "SELECT id FROM orders WHERE customer = {n} AND total > {n} ORDER BY created"
    queries = [(template.format(n=n), 1) for n in range(60)]
    before = await sessions(database)  # idle sessions pooled by earlier analyses
    assert not working(before)
    call = stub.Analyze(pb.AnalyzeRequest(target=engine, workload=workload(*queries)))
    first = await call.read()
    assert first.WhichOneof("event") == "workload"
    used = working(await sessions(database))
    assert len(used) == 1
    call.cancel()
    # Its sessions are gone and none went back to the pool: what is left is a subset of
    # what was idle before, without the session the analysis used.
    for _ in range(100):
        after = await sessions(database)
        if not working(after) and set(after) <= set(before) - used:
            break
        await asyncio.sleep(0.1)
    assert not working(after)
    assert set(after) <= set(before) - used
    conn = await asyncpg.connect(dsn_for(database))
    try:  # the transactional engine's what-if indexes were rolled back
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE 'pgsage_whatif%'")
            == 0
        )
    finally:
        await conn.close()


async def validate(stub, sql: str, **extra) -> pb.ValidateStatementResponse:
    return await stub.ValidateStatement(
        pb.ValidateStatementRequest(target="hypopg", sql=sql, **extra)
    )


async def test_validate_statement_normalises_a_create_and_builds_its_rollback(stub):
    reply = await validate(
        stub,
        "create index concurrently orders_c_idx on orders (customer, (lower(total::text))) "
        "include (created) where total > 0",
        expected_kind=advice_pb2.ADVICE_KIND_CREATE_INDEX,
        expected_table="public.orders",
    )
    assert reply.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX
    assert reply.table == "public.orders" and reply.index_name == "orders_c_idx"
    assert reply.normalized_sql.startswith(
        "CREATE INDEX CONCURRENTLY orders_c_idx ON public.orders"
    )
    assert reply.rollback_sql == "DROP INDEX CONCURRENTLY IF EXISTS public.orders_c_idx"


async def test_validate_statement_drop_rollback_is_the_saved_definition(stub):
    reply = await validate(stub, "DROP INDEX CONCURRENTLY orders_total_idx")
    assert reply.kind == advice_pb2.ADVICE_KIND_DROP_UNUSED_INDEX
    assert reply.normalized_sql == "DROP INDEX CONCURRENTLY IF EXISTS public.orders_total_idx"
    assert reply.rollback_sql == (
        "CREATE INDEX CONCURRENTLY orders_total_idx ON public.orders USING btree (total)"
    )


@pytest.mark.parametrize(
    ("sql", "expected", "words"),
    [
        ("CREATE UNIQUE INDEX CONCURRENTLY u ON orders (customer)", {}, "UNIQUE"),
        ("CREATE INDEX u ON orders (customer)", {}, "CONCURRENTLY"),
        ("CREATE INDEX CONCURRENTLY u ON orders (customer) TABLESPACE x", {}, "TABLESPACE"),
        ("CREATE INDEX CONCURRENTLY u ON orders (nope)", {}, "no column"),
        ("CREATE INDEX CONCURRENTLY u ON nowhere (a)", {}, "does not exist"),
        ("DROP INDEX CONCURRENTLY orders_pkey", {}, "primary key"),
        ("DROP INDEX CONCURRENTLY missing_idx", {}, "does not exist"),
        ("DROP TABLE orders", {}, "only"),
        ("SELECT 1; SELECT 2", {}, "exactly one"),
        ("CREATE INDEX CONCURRENTLY ON", {}, "not valid SQL"),
        ("CREATE INDEX CONCURRENTLY ON orders (customer)", {}, "name the index"),
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS u ON orders (customer)", {}, "IF NOT EXISTS"),
        (
            "DROP INDEX CONCURRENTLY orders_total_idx",
            {"expected_kind": advice_pb2.ADVICE_KIND_CREATE_INDEX},
            "expected a CREATE",
        ),
        (
            "CREATE INDEX CONCURRENTLY u ON orders (customer)",
            {"expected_table": "public.customers"},
            "not on public.customers",
        ),
    ],
)
async def test_validate_statement_refuses_what_is_not_allowed(stub, sql, expected, words):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await validate(stub, sql, **expected)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc.reason_of(info.value) == "INVALID_STATEMENT"
    assert words.lower() in info.value.details().lower()
    _, metadata = rpc.errors.from_status(rpc.status_of(info.value))
    assert metadata["field"] == "sql"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.AnalyzeRequest(), "target"),
        (
            pb.AnalyzeRequest(
                target="hypopg", options=analysis_pb2.AnalysisOptions(storage_budget_bytes=-1)
            ),
            "options.storage_budget_bytes",
        ),
        (
            pb.AnalyzeRequest(
                target="hypopg", options=analysis_pb2.AnalysisOptions(max_index_columns=40)
            ),
            "options.max_index_columns",
        ),
        (
            pb.AnalyzeRequest(
                target="hypopg",
                workload=analysis_pb2.Workload(queries=[analysis_pb2.WorkloadQuery(text=" ")]),
            ),
            "workload.queries[0].text",
        ),
    ],
)
async def test_bad_analyze_requests_name_the_field(stub, request_, field):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await analyze(stub, request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, metadata = rpc.errors.from_status(rpc.status_of(info.value))
    assert metadata["field"] == field


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("VACUUM", "STATEMENT_KIND"),
        ("SELECT pg_sleep(5)", "FUNCTION_NOT_ALLOWED"),
        ("SELECT query_to_xml('select 1', true, true, '')", "FUNCTION_NOT_ALLOWED"),
        ("SELECT * FROM pg_authid", "CATALOG_READ"),
        ("SELECT 1; SELECT 2", "ONE_STATEMENT"),
    ],
)
async def test_a_requests_own_queries_are_checked_before_any_session(stub, database, text, rule):
    """The job service checks a job's queries at CreateJob; the optimizer, callable by the
    job service only, checks them again (`sqlcheck.check_query`) before it opens a session."""
    before = set(await sessions(database))
    request = pb.AnalyzeRequest(target="hypopg", workload=workload((Q_CUSTOMER, 1), (text, 1)))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await analyze(stub, request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc.reason_of(info.value) == "QUERY_NOT_ALLOWED"
    _, metadata = rpc.errors.from_status(rpc.status_of(info.value))
    assert metadata["field"] == "workload.queries[1]" and metadata["rule"] == rule
    assert set(await sessions(database)) <= before
