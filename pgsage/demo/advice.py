"""Asks the optimizer for its advice on the demo, through its real gRPC interface.

Either a running optimizer is given (`address`, with the demo configured as a target there),
or one is started for the call: `optimizer` runs `python -m optimizer_service` in a subprocess
on a free port with exactly the given targets (the demo's is `config.target`), configured the
documented way (`PGSAGE_OPTIMIZER_*`); the TPC-H benchmark starts its optimizer the same way.
The workload is the optimizer's default: the demo database's pg_stat_statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pgsage import embedded
from pgsage.demo import config
from pgsage.optimizer.v1 import advice_pb2, optimizer_service_pb2, optimizer_service_pb2_grpc

SERVICE = "pgsage.optimizer.v1.OptimizerService"


@dataclass(frozen=True)
class Advice:
    creates: tuple[str, ...]
    drops: tuple[str, ...]
    titles: tuple[str, ...]
    insights: tuple[str, ...] = ()  # "CODE: message"


@contextlib.asynccontextmanager
async def optimizer(targets: list[dict[str, object]], log_path: Path) -> AsyncIterator[str]:
    """An optimizer subprocess serving `targets`, once SERVING; yields its address."""
    port = embedded.free_port()
    env = {
        **os.environ,
        "PGSAGE_OPTIMIZER_GRPC_HOST": "127.0.0.1",
        "PGSAGE_OPTIMIZER_GRPC_PORT": str(port),
        "PGSAGE_OPTIMIZER_TARGETS": json.dumps(targets),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "optimizer_service",
            env=env,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    address = f"127.0.0.1:{port}"
    try:
        await _wait_serving(address, proc, log_path)
        yield address
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_serving(address: str, proc: asyncio.subprocess.Process, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"optimizer_service exited; see {log_path}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                request = health_pb2.HealthCheckRequest(service=SERVICE)
                reply = await stub.Check(request, timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"optimizer_service not SERVING after 60 s; see {log_path}")
            await asyncio.sleep(0.2)


async def analyze(address: str, target: str = config.TARGET_NAME) -> Advice:
    """One Analyze of `target` with the optimizer's defaults; the advice it streamed."""
    creates, drops, titles, insights = [], [], [], []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = optimizer_service_pb2_grpc.OptimizerServiceStub(channel)
        request = optimizer_service_pb2.AnalyzeRequest(target=target)
        async for event in stub.Analyze(request, timeout=600):
            if event.WhichOneof("event") == "insight":
                insights.append(f"{event.insight.code}: {event.insight.message}")
            if event.WhichOneof("event") != "advice":
                continue
            a = event.advice
            titles.append(a.title)
            if a.kind == advice_pb2.ADVICE_KIND_CREATE_INDEX:
                creates.append(a.sql)
            else:
                drops.append(a.sql)
    return Advice(tuple(creates), tuple(drops), tuple(titles), tuple(insights))
