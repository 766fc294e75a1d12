"""On PostgreSQL 18 without HypoPG (the embedded cluster the demo uses): the transactional
engine analyses a pg_stat_statements workload of `$n` statements, generic plans included,
and leaves nothing behind; the HypoPG engine says why it skipped index analysis."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support import clusters
from tests.support.optimizer import analyze, of_kind

SEED = """
CREATE TABLE tickets (id int PRIMARY KEY, project int NOT NULL, state int NOT NULL,
                      opened timestamptz NOT NULL);
INSERT INTO tickets
SELECT g, g % 400, g % 5, timestamptz '2022-01-01' + g * interval '5 minutes'
FROM generate_series(1, 80000) g;
ANALYZE tickets;
"""


@pytest.fixture(scope="module")
async def pg18():
    async with clusters.own_cluster("optimizer-pg18") as postgres:
        conn = await asyncpg.connect(postgres.dsn())
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute(SEED)
            for n in range(20):
                await conn.fetch("SELECT id, state FROM tickets WHERE project = $1", n)
                await conn.fetch(
                    "SELECT count(*) FROM tickets WHERE project = $1 AND opened >= $2",
                    n,
                    datetime(2022, 6, 1, tzinfo=UTC),
                )
        finally:
            await conn.close()
        yield postgres


@pytest.fixture(scope="module")
async def stub(pg18, optimizer_for, channel_for):
    server = await optimizer_for(
        [
            {"name": "demo", "dsn": pg18.dsn(), "what_if_engine": "transactional"},
            {"name": "plain", "dsn": pg18.dsn(), "what_if_engine": "hypopg"},
        ]
    )
    return pb_grpc.OptimizerServiceStub(channel_for(server))


@pytest.mark.parametrize(
    "mode", [analysis_pb2.PARAMETER_MODE_GENERIC, analysis_pb2.PARAMETER_MODE_UNSPECIFIED]
)
async def test_transactional_engine_on_pg18_with_parameterised_statements(stub, pg18, mode):
    events = await analyze(
        stub,
        pb.AnalyzeRequest(
            target="demo",
            analysis_types=[analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES],
            options=analysis_pb2.AnalysisOptions(parameter_mode=mode),
        ),
    )
    assert events[0].workload.source == analysis_pb2.WORKLOAD_SOURCE_PG_STAT_STATEMENTS
    ours = {q.query_id for q in events[0].workload.queries if "WHERE project = $1" in q.text}
    assert len(ours) == 2
    # (The seed's own statements, normalised by pg_stat_statements, may not be plannable.)
    assert not [i for i in of_kind(events, "insight") if i.query_id in ours]
    created = [
        a for a in of_kind(events, "advice") if a.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX
    ]
    assert created and created[0].sql.split(" ON ")[1].startswith("public.tickets (project")
    modes = {i.parameter_mode for a in created for i in a.query_impacts}
    expected = (
        analysis_pb2.PARAMETER_MODE_GENERIC
        if mode == analysis_pb2.PARAMETER_MODE_GENERIC
        else analysis_pb2.PARAMETER_MODE_PG_STATS
    )
    assert modes == {expected}
    conn = await asyncpg.connect(pg18.dsn())
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE tablename = 'tickets'") == 1
        )  # only the primary key: every what-if index was rolled back
    finally:
        await conn.close()


async def test_hypopg_engine_without_hypopg_skips_index_analysis_with_an_insight(stub):
    events = await analyze(stub, pb.AnalyzeRequest(target="plain"))
    assert "HYPOPG_MISSING" in {i.code for i in of_kind(events, "insight")}
    assert of_kind(events, "summary")
