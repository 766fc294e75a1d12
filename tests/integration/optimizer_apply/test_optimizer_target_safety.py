"""Analyses and benchmarks cannot change a target or carry its data away: sessions are
read-only and marked, caller queries that would run a user's code are neither planned nor
measured (the side-effect sequence never moves), a target's error texts are reduced to
their SQLSTATE, drawn values and plan constants are redacted, and a benchmark's statements
never become the workload of a later analysis. Nothing here may hold a card number: no
response, no log line."""

from __future__ import annotations

import logging

import asyncpg
import grpc
import pytest

from optimizer_service import targets
from optimizer_service.settings import TargetConfig
from pgsage import rpc
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from tests.support.apply import collect, results, seeded_database
from tests.support.attacks import SEED, leaks, side_effects
from tests.support.pg import drop_database, dsn_for

CREATE = advice_pb2.ADVICE_KIND_CREATE_INDEX
CARD_INDEX = "CREATE INDEX CONCURRENTLY pgsage_secrets_card ON public.secrets (card)"
B_INDEX = "CREATE INDEX CONCURRENTLY pgsage_t_b_a ON public.t (b, a)"


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("safety", SEED)
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def stub(database, started_optimizer):
    dsn = dsn_for(database)
    return await started_optimizer(
        [
            {"name": "prod", "dsn": dsn},  # apply not allowed, values not shown
            {"name": "sampled", "dsn": dsn, "benchmark_sampling": True, "sample_percent": 100},
        ]
    )


def queries(*texts: str) -> list[analysis_pb2.WorkloadQuery]:
    return [analysis_pb2.WorkloadQuery(query_id=f"q{n}", text=t) for n, t in enumerate(texts)]


async def benchmark_card_index(
    stub: object, *texts: str
) -> tuple[list[object], grpc.aio.AioRpcError | None]:
    """One run of `texts` before and after an index on the cards, on the sampled target."""
    request = pb.BenchmarkRequest(
        target="sampled", kind=CREATE, sql=CARD_INDEX, runs=1, queries=queries(*texts)
    )
    return await collect(stub.Benchmark(request))  # type: ignore[attr-defined]


async def analyze(stub: object, request: pb.AnalyzeRequest) -> list[pb.AnalyzeResponse]:
    return [e async for e in stub.Analyze(request, timeout=120)]  # type: ignore[attr-defined]


async def test_target_sessions_are_read_only_and_every_statement_is_marked(database):
    target = TargetConfig(name="prod", dsn=dsn_for(database))
    conn = await targets.connect(target, connect_timeout=5)
    try:
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        assert await conn.fetchval("SHOW application_name") == targets.APPLICATION_NAME
        assert (await conn.fetchval("SELECT current_query()")).startswith(targets.MARKER)
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("INSERT INTO t VALUES (0, 0, 'x')")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.fetchval("SELECT nextval('side_effects')")
    finally:
        await conn.close()


async def test_caller_queries_that_would_run_a_users_code_are_never_planned(stub, database, caplog):
    caplog.set_level(logging.DEBUG)
    before = await side_effects(dsn_for(database))
    attacks = queries(
        "SELECT * FROM t WHERE a = bump(1)",
        "SELECT * FROM t WHERE a === 5",
        "SELECT * FROM t WHERE a = 5::checked_int",
        "SELECT * FROM t WHERE note = 7::text",
    )
    # Given in a request, the first three are refused at the door (`sqlcheck`: a function,
    # an operator, a type off the allow-lists), before any session.
    for n, rule in enumerate(["FUNCTION_NOT_ALLOWED", "OPERATOR_NOT_ALLOWED", "TYPE_NOT_ALLOWED"]):
        given = analysis_pb2.Workload(queries=[attacks[n]])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await analyze(stub, pb.AnalyzeRequest(target="prod", workload=given))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, metadata = rpc.errors.from_status(rpc.status_of(info.value))
        assert metadata["field"] == "workload.queries[0]" and metadata["rule"] == rule
    # A replayed workload is not held to a caller's rules (it may be pg_stat_statements'
    # texts); the target's catalog refuses all four before they are planned.
    replay = analysis_pb2.Workload(queries=attacks, source=analysis_pb2.WORKLOAD_SOURCE_REPLAY)
    events = await analyze(stub, pb.AnalyzeRequest(target="prod", workload=replay))
    # One insight for all four, by reason, each reason naming its query.
    [grouped] = [
        e.insight
        for e in events
        if e.WhichOneof("event") == "insight" and e.insight.code == "QUERIES_NOT_PLANNED"
    ]
    assert grouped.message.startswith("4 of 4 statements were not planned: "), grouped.message
    reasons = dict(
        (part.rsplit(" (query ", 1)[1].rstrip(")"), part)
        for part in grouped.message.split(": ", 1)[1].split("; ")
    )
    assert set(reasons) == {"q0", "q1", "q2", "q3"}, reasons
    assert "bump" in reasons["q0"] and "===" in reasons["q1"] and "checked_int" in reasons["q2"]
    assert await side_effects(dsn_for(database)) == before
    assert leaks(*events, caplog.text) == []


async def test_a_targets_errors_and_values_never_leave_it(stub, database, caplog):
    caplog.set_level(logging.DEBUG)
    dsn = dsn_for(database)
    before = await side_effects(dsn)
    # Analysis: an error that would echo a card number is its SQLSTATE only.
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target="prod",
            workload=analysis_pb2.Workload(
                queries=queries(
                    "SELECT * FROM t WHERE a = (SELECT card FROM secrets WHERE id = 7)::int",
                    "SELECT id FROM secrets WHERE card = $1",
                )
            ),
        ),
    )
    assert leaks(*events) == []
    # Benchmark: drawn card numbers and the plans' constants are redacted; an error that
    # echoes one is its SQLSTATE.
    events, error = await benchmark_card_index(
        stub,
        "SELECT id FROM secrets WHERE card = $1",
        "SELECT a FROM t WHERE a = (SELECT card FROM secrets WHERE id = $1)::int",
    )
    assert error is None, error
    [result] = results(events, pb.BenchmarkResult)
    by_id = {q.query_id: q for q in result.queries}
    assert list(by_id["q0"].parameter_values) == ["<redacted>"]
    assert "<redacted>" in by_id["q0"].after.plan  # the drawn card in its condition
    # PostgreSQL says `value "4111..." is out of range for type integer`: not returned
    assert by_id["q1"].skipped_reason.startswith("failed: SQLSTATE 22003"), by_id["q1"]
    # A write through a user function, a query reading data through a function, a sequence
    # bump, a foreign session killed: refused before anything runs (`sqlcheck`), named.
    for text, name in [
        ("UPDATE t SET b = bump(b) WHERE a = $1", "bump"),
        (
            "SELECT query_to_xml('SELECT card FROM secrets', true, false, '')::varchar::int",
            "query_to_xml",
        ),
        ("INSERT INTO t (a, b, note) VALUES (nextval('side_effects'), 1, 'x')", "nextval"),
        (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1",
            "pg_terminate_backend",
        ),
    ]:
        refused, error = await benchmark_card_index(
            stub, "SELECT id FROM secrets WHERE card = $1", text
        )
        assert refused == [] and error is not None
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        _, metadata = rpc.errors.from_status(rpc.status_of(error))
        assert metadata["field"] == "queries[1].text" and metadata["object"] == name
        events.append(error.details())
    assert leaks(*events, caplog.text) == []
    assert await side_effects(dsn) == before


async def test_a_benchmark_leaves_nothing_in_the_next_analysis_workload(stub, database):
    dsn = dsn_for(database)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
            "WHERE datname = current_database()), 0)"
        )
        for b in range(5):
            await conn.fetch("SELECT a FROM t WHERE b = $1 ORDER BY a", b)
    finally:
        await conn.close()
    events, error = await collect(
        stub.Benchmark(
            pb.BenchmarkRequest(
                target="sampled",
                kind=CREATE,
                sql=B_INDEX,
                runs=1,
                queries=queries("SELECT a FROM t WHERE b = $1 ORDER BY a"),
            )
        )
    )
    assert error is None, error
    events = await analyze(stub, pb.AnalyzeRequest(target="prod"))
    [workload] = [e.workload for e in events if e.WhichOneof("event") == "workload"]
    texts = [q.text for q in workload.queries]
    assert any("FROM t WHERE b = $1" in t for t in texts), texts
    assert [t for t in texts if "pgsage" in t] == []
    insights = [e.insight for e in events if e.WhichOneof("event") == "insight"]
    assert [i for i in insights if i.code == "QUERY_NOT_PLANNABLE"] == [], insights


@pytest.mark.parametrize(
    ("table", "named", "query"),
    [
        ("guarded", "checked_int", "SELECT a FROM guarded WHERE a = 3"),
        ("checked", "bump_ok", "SELECT a FROM checked WHERE a = 3"),
    ],
)
async def test_a_sample_whose_copy_would_run_a_users_code_is_refused(
    stub, database, table, named, query
):
    dsn = dsn_for(database)
    before = await side_effects(dsn)
    _, error = await collect(
        stub.Benchmark(
            pb.BenchmarkRequest(
                target="sampled",
                kind=CREATE,
                sql=f"CREATE INDEX CONCURRENTLY pgsage_{table}_a ON public.{table} (a)",
                runs=1,
                queries=queries(query),
            )
        )
    )
    assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rpc.reason_of(error) == "SAMPLE_RUNS_USER_CODE" and named in error.details()
    assert await side_effects(dsn) == before
    conn = await asyncpg.connect(dsn)
    try:  # and the scratch schema is gone
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgsage_bench_%'"
            )
            == 0
        )
    finally:
        await conn.close()
