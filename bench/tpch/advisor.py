"""pgsage itself: the real optimizer service, asked through its real gRPC interface.

`optimizer` starts `python -m optimizer_service` in a subprocess on a free port with one target,
the TPC-H database with the HypoPG engine (the subprocess launcher is the demo's,
`pgsage.demo.advice.optimizer`). `analyze` sends the workload in the request (source REQUEST,
each query with weight 1), the budget as `storage_budget_bytes` and the service's defaults for
everything else, and collects the CREATE INDEX advice of the stream. Its time is the wall time
of the whole Analyze call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench.tpch.queries import Query
from pgsage.demo import advice as launcher
from pgsage.optimizer.v1 import (
    advice_pb2,
    analysis_pb2,
    optimizer_service_pb2,
    optimizer_service_pb2_grpc,
)

TARGET = "tpch"
LOG = Path(__file__).resolve().parents[2] / "test-artifacts" / "optimizer-bench.log"


@dataclass(frozen=True)
class Advice:
    """What one Analyze call advised: the CREATE INDEX statements, with the service's view."""

    statements: tuple[str, ...]
    seconds: float
    estimated_bytes: tuple[int, ...]
    summary_improvement_percent: float | None
    what_if_calls: int = 0
    what_if_cache_hits: int = 0


@contextlib.asynccontextmanager
async def optimizer(target_dsn: str) -> AsyncIterator[grpc.aio.Channel]:
    """An optimizer subprocess serving the TPC-H target; yields a channel to it."""
    target = {"name": TARGET, "dsn": target_dsn, "what_if_engine": "hypopg"}
    async with (
        launcher.optimizer([target], LOG) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        yield channel


async def analyze(channel: grpc.aio.Channel, workload: list[Query], budget_bytes: int) -> Advice:
    """One Analyze call over `workload` with `budget_bytes`; the advice it streamed."""
    stub = optimizer_service_pb2_grpc.OptimizerServiceStub(channel)
    request = optimizer_service_pb2.AnalyzeRequest(
        target=TARGET,
        options=analysis_pb2.AnalysisOptions(storage_budget_bytes=budget_bytes),
        workload=analysis_pb2.Workload(
            source=analysis_pb2.WORKLOAD_SOURCE_REQUEST,
            queries=[
                analysis_pb2.WorkloadQuery(
                    query_id=q.query_id, text=q.text, calls=1, weight=q.weight
                )
                for q in workload
            ],
        ),
    )
    statements: list[str] = []
    sizes: list[int] = []
    improvement = None
    calls = hits = 0
    started = time.perf_counter()
    async for event in stub.Analyze(request, timeout=300):
        kind = event.WhichOneof("event")
        if kind == "advice" and event.advice.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX:
            statements.append(event.advice.sql)
            sizes.append(event.advice.estimated_size_bytes)
        elif kind == "summary":
            improvement = event.summary.workload_improvement_percent
            calls = event.summary.what_if_calls
            hits = event.summary.what_if_cache_hits
    return Advice(
        statements=tuple(statements),
        seconds=time.perf_counter() - started,
        estimated_bytes=tuple(sizes),
        summary_improvement_percent=improvement,
        what_if_calls=calls,
        what_if_cache_hits=hits,
    )
