"""Starting and stopping the optimizer service in-process: `start(settings)` gives a
running server with `.port` and `.stop()` (tests use it), `serve(settings)` the same as a
context manager (`python -m optimizer_service` runs it through `pgsage.server.main`).
`stop()` drains the calls, then closes the servicer's pooled target sessions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

from optimizer_service import metrics, peers
from optimizer_service.servicer import OptimizerServicer
from optimizer_service.settings import Settings
from pgsage import health, scrape, server
from pgsage.optimizer.v1 import optimizer_service_pb2, optimizer_service_pb2_grpc
from pgsage.server import HealthPort

log = logging.getLogger(__name__)

SERVICE_NAME = optimizer_service_pb2.DESCRIPTOR.services_by_name["OptimizerService"].full_name


@dataclass
class Running:
    """A started optimizer server."""

    server: server.Server
    settings: Settings
    servicer: OptimizerServicer
    metrics: scrape.Endpoint | None = None
    health_port: HealthPort | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _grace: list[float] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        host = self.settings.grpc_host
        return f"{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{self.port}"

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, drains the calls for `grace` seconds, then closes every pooled
        target session. A second call does nothing."""
        self._grace.append(self.settings.grace_seconds if grace is None else grace)
        await self._stack.aclose()


def build(settings: Settings, servicer: OptimizerServicer | None = None) -> server.Server:
    servicer = servicer or OptimizerServicer(settings)
    server_tls = settings.server_tls()
    # With mutual TLS, every OptimizerService RPC first checks the caller's identity.
    allowed = (
        frozenset(settings.allowed_clients)
        if server_tls is not None and server_tls.client_ca is not None
        else None
    )
    guarded = cast(OptimizerServicer, peers.Guarded(servicer, allowed))
    return server.build_server(
        host=settings.grpc_host,
        port=settings.grpc_port,
        port_setting="PGSAGE_OPTIMIZER_GRPC_PORT",
        service_names=[SERVICE_NAME],
        registrars=[
            lambda s: optimizer_service_pb2_grpc.add_OptimizerServiceServicer_to_server(guarded, s)
        ],
        credentials=server_tls.credentials() if server_tls is not None else None,
    )


async def start(settings: Settings) -> Running:
    """Builds, starts and marks SERVING an optimizer server for `settings`."""
    grace: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        servicer = OptimizerServicer(settings)
        stack.push_async_callback(servicer.close)  # the pooled target sessions, politely
        srv = build(settings, servicer)
        await srv.start()
        stack.push_async_callback(lambda: srv.stop(grace[-1] if grace else 0))
        endpoint = None
        if settings.metrics_port is not None:
            endpoint = await scrape.start_endpoint(
                settings.grpc_host,
                settings.metrics_port,
                setting="PGSAGE_OPTIMIZER_METRICS_PORT",
                collectors=[metrics.Sessions(settings)],
            )
            stack.push_async_callback(endpoint.close)
        health_port = None
        if settings.health_port is not None:
            health_port = await server.start_health_port(
                srv.health,
                host=settings.grpc_host,
                port=settings.health_port,
                setting="PGSAGE_OPTIMIZER_HEALTH_PORT",
            )
            stack.push_async_callback(health_port.stop)
        await srv.health.set("", health.SERVING)
        await srv.health.set(SERVICE_NAME, health.SERVING)
        running = Running(
            server=srv,
            settings=settings,
            servicer=servicer,
            metrics=endpoint,
            health_port=health_port,
            _stack=stack.pop_all(),
            _grace=grace,
        )
    log.info(
        "optimizer serving on port %d with targets: %s",
        srv.port,
        ", ".join(t.name for t in settings.targets) or "none",
    )
    return running


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Running]:
    """The running optimizer for the block's duration (`pgsage.server.main`'s shape)."""
    running = await start(settings)
    try:
        yield running
    finally:
        await running.stop()
