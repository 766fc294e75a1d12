"""pgsage itself: the real optimizer service, asked through its real gRPC interface.

`OptimizerProcess` starts `python -m optimizer_service` as a subprocess on a free port with one
target (the TPC-H database, HypoPG engine), configured the documented way (the
`PGSAGE_OPTIMIZER_` environment), and waits for `grpc.health.v1` to report SERVING. `analyze`
sends the workload in the request (source REQUEST, each query with weight 1), the budget as
`storage_budget_bytes` and the service's defaults for everything else, and collects the
CREATE INDEX advice of the stream. The time is the wall time of the whole Analyze call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.tpch.queries import Query
from pgsage import embedded
from pgsage.optimizer.v1 import (
    advice_pb2,
    analysis_pb2,
    optimizer_service_pb2,
    optimizer_service_pb2_grpc,
)

SERVICE = "pgsage.optimizer.v1.OptimizerService"
TARGET = "tpch"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Advice:
    """What one Analyze call advised: the CREATE INDEX statements, with the service's view."""

    statements: tuple[str, ...]
    seconds: float
    estimated_bytes: tuple[int, ...]
    summary_improvement_percent: float | None
    what_if_calls: int = 0
    what_if_cache_hits: int = 0
    insights: tuple[str, ...] = field(default=())


class OptimizerProcess:
    """The optimizer service in a subprocess of its own, for the duration of an `async with`."""

    def __init__(self, target_dsn: str, *, what_if_engine: str = "hypopg") -> None:
        self._target = {"name": TARGET, "dsn": target_dsn, "what_if_engine": what_if_engine}
        self.port = embedded.free_port()
        self._proc: asyncio.subprocess.Process | None = None
        self._log = ROOT / "test-artifacts" / f"optimizer-bench-{self.port}.log"
        self.channel: grpc.aio.Channel | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> OptimizerProcess:
        env = {
            **os.environ,
            "PGSAGE_OPTIMIZER_GRPC_HOST": "127.0.0.1",
            "PGSAGE_OPTIMIZER_GRPC_PORT": str(self.port),
            "PGSAGE_OPTIMIZER_TARGETS": json.dumps([self._target]),
        }
        self._log.parent.mkdir(exist_ok=True)
        with self._log.open("wb") as log_file:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "optimizer_service",
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.channel = grpc.aio.insecure_channel(self.address)
        try:
            await self._wait_serving(limit_s=60)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _wait_serving(self, limit_s: float) -> None:
        assert self.channel is not None and self._proc is not None
        stub = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + limit_s
        while True:
            if self._proc.returncode is not None:
                raise RuntimeError(
                    f"optimizer_service exited with {self._proc.returncode}; see {self._log}"
                )
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"optimizer_service not SERVING after {limit_s:g} s; see {self._log}"
                )
            await asyncio.sleep(0.2)

    async def __aexit__(self, *exc: object) -> None:
        if self.channel is not None:
            await self.channel.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 20)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()

    async def analyze(self, workload: list[Query], budget_bytes: int) -> Advice:
        """One Analyze call over `workload` with `budget_bytes`; the advice it streamed."""
        assert self.channel is not None
        stub = optimizer_service_pb2_grpc.OptimizerServiceStub(self.channel)
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
        insights: list[str] = []
        improvement = None
        calls = hits = 0
        started = time.perf_counter()
        async for event in stub.Analyze(request, timeout=300):
            kind = event.WhichOneof("event")
            if kind == "advice" and event.advice.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX:
                statements.append(event.advice.sql)
                sizes.append(event.advice.estimated_size_bytes)
            elif kind == "insight":
                insights.append(f"{event.insight.code}: {event.insight.message}")
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
            insights=tuple(insights),
        )
