"""Starting and stopping the optimizer service in-process: `start(settings)` gives a
running server with `.port` and `.stop()`; `__main__` and tests both use it. `stop()` also
closes the servicer's pooled target sessions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from optimizer_service import peers
from optimizer_service.servicer import OptimizerServicer
from optimizer_service.settings import Settings
from pgsage import health, server
from pgsage.optimizer.v1 import optimizer_service_pb2, optimizer_service_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = optimizer_service_pb2.DESCRIPTOR.services_by_name["OptimizerService"].full_name


@dataclass
class Running:
    """A started optimizer server."""

    server: server.Server
    settings: Settings
    servicer: OptimizerServicer

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        host = self.settings.grpc_host
        return f"{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{self.port}"

    async def stop(self, grace: float | None = None) -> None:
        """Drains the calls, then closes every pooled target session."""
        try:
            await self.server.stop(self.settings.grace_seconds if grace is None else grace)
        finally:
            await self.servicer.close()


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
        service_names=[SERVICE_NAME],
        registrars=[
            lambda s: optimizer_service_pb2_grpc.add_OptimizerServiceServicer_to_server(guarded, s)
        ],
        credentials=server_tls.credentials() if server_tls is not None else None,
    )


async def start(settings: Settings) -> Running:
    """Builds, starts and marks SERVING an optimizer server for `settings`."""
    servicer = OptimizerServicer(settings)
    srv = build(settings, servicer)
    await srv.start()
    await srv.health.set("", health.SERVING)
    await srv.health.set(SERVICE_NAME, health.SERVING)
    log.info(
        "optimizer serving on port %d with targets: %s",
        srv.port,
        ", ".join(t.name for t in settings.targets) or "none",
    )
    return Running(server=srv, settings=settings, servicer=servicer)
