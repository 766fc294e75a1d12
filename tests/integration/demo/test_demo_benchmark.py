"""A benchmark of the demo database's top suggestion: the index is used, far fewer buffers.

The real optimizer (subprocess, gRPC) analyses a small demo database, then benchmarks its top
CREATE INDEX advice on a sampled scratch copy of the demo (the demo target allows sampling),
and leaves nothing behind on the target.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import grpc
import pytest

from pgsage.demo import advice, build, config
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2, optimizer_service_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as rpc
from tests.support.pg import SHARED_PG, drop_database, unique_name


@pytest.fixture(scope="module")
async def demo():
    name = unique_name("pgsage_test_demobench")
    built = await build.build(SHARED_PG, name, scale=0.05, rounds=2)
    try:
        yield built
    finally:
        await drop_database(name)


async def _indexes_and_schemas(dsn: str) -> tuple[list, int]:
    conn = await asyncpg.connect(dsn)
    try:
        indexes = await conn.fetch("SELECT indexname FROM pg_indexes ORDER BY 1")
        schemas = await conn.fetchval(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgsage%'"
        )
        return [r[0] for r in indexes], schemas
    finally:
        await conn.close()


async def test_benchmark_of_the_top_suggestion_shows_the_index_used_and_fewer_buffers(demo):
    # The whole (small) demo is copied: a 10 % sample of a 0.05-scale demo is too small for
    # any plan to prefer an index.
    target = {**config.target(demo.dsn), "sample_percent": 100.0}
    before_catalog = await _indexes_and_schemas(demo.dsn)
    log_path = Path("test-artifacts") / "optimizer-demo-benchmark.log"
    async with advice.optimizer([target], log_path) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = rpc.OptimizerServiceStub(channel)
            top = None
            async for event in stub.Analyze(
                optimizer_service_pb2.AnalyzeRequest(target=config.TARGET_NAME), timeout=300
            ):
                if (
                    event.WhichOneof("event") == "advice"
                    and event.advice.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX
                ):
                    top = event.advice
                    break
            assert top is not None, "the demo has missing indexes to suggest"
            request = optimizer_service_pb2.BenchmarkRequest(
                target=config.TARGET_NAME,
                kind=top.kind,
                sql=top.sql,
                rollback_sql=top.rollback_sql,
                queries=[
                    analysis_pb2.WorkloadQuery(query_id=q.query_id, text=q.text, weight=q.weight)
                    for q in top.query_impacts
                ],
                runs=3,
            )
            result = None
            async for event in stub.Benchmark(request, timeout=300):
                if event.WhichOneof("event") == "result":
                    result = event.result
    assert result is not None
    measured = [q for q in result.queries if not q.skipped_reason]
    assert measured, [q.skipped_reason for q in result.queries]
    best = max(
        measured,
        key=lambda q: (
            (q.before.shared_hit_blocks + q.before.shared_read_blocks)
            - (q.after.shared_hit_blocks + q.after.shared_read_blocks)
        ),
    )
    assert best.after.index_used and not best.before.index_used, best
    before = best.before.shared_hit_blocks + best.before.shared_read_blocks
    after = best.after.shared_hit_blocks + best.after.shared_read_blocks
    assert after * 5 < before, (top.title, before, after)
    assert result.index_size_bytes > 0
    # Nothing left behind: no index, no scratch schema.
    assert await _indexes_and_schemas(demo.dsn) == before_catalog
