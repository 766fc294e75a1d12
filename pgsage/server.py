"""Building and running a pgsage gRPC server the same way for every service.

`build_server` registers the service's servicers, health (with List), reflection and the
error interceptor, and binds the port (0 picks a free one). `serve` runs it until SIGTERM or
SIGINT, then shuts down gracefully: NOT_SERVING first, then drain, then return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pgsage import health, rpc

log = logging.getLogger(__name__)

Registrar = Callable[[grpc.aio.Server], None]


@dataclass
class Server:
    """A started-or-startable gRPC server with its health servicer and bound port."""

    grpc_server: grpc.aio.Server
    health: health.HealthServicer
    port: int

    async def start(self) -> None:
        await self.grpc_server.start()

    async def stop(self, grace: float) -> None:
        """NOT_SERVING first (so probes drain traffic away), then a graceful stop."""
        await self.health.enter_graceful_shutdown()
        await self.grpc_server.stop(grace)


def build_server(
    *,
    host: str,
    port: int,
    service_names: Sequence[str],
    registrars: Sequence[Registrar],
    max_workers_hint: int = 0,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> Server:
    """Creates a grpc.aio server with pgsage's standard parts, bound to `host:port`.

    `service_names` are the full names of the services (`pgsage.jobs.v1.JobService`), used
    for health and reflection; `registrars` add the servicers. `interceptors` run inside the
    error interceptor (which stays outermost, so their `PgsageError`s become rich statuses).
    With `credentials` the port serves TLS only (`pgsage.tls.ServerTls.credentials()`);
    without, plaintext.
    """
    del max_workers_hint  # grpc.aio needs no thread pool
    pool = descriptor_pool.Default()
    for name in service_names:
        # Reflection serves the default pool: a service whose generated module was never
        # imported would be listed but not describable.
        pool.FindServiceByName(name)
    server = grpc.aio.server(
        interceptors=[rpc.ErrorInterceptor(), *interceptors],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ],
    )
    for register in registrars:
        register(server)
    health_servicer = health.HealthServicer(list(service_names))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    address = f"{host}:{port}"
    if credentials is not None:
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {host}:{port} (is it in use?)")
    return Server(grpc_server=server, health=health_servicer, port=bound)


async def wait_for_signal() -> None:
    """Returns when the process receives SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


async def run_until_signal(
    server: Server,
    *,
    grace: float,
    on_stopping: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Waits for SIGTERM/SIGINT, then: NOT_SERVING, `on_stopping`, drain, stop."""
    await wait_for_signal()
    log.info("stopping: NOT_SERVING, draining for up to %.1fs", grace)
    await server.health.enter_graceful_shutdown()
    if on_stopping is not None:
        await on_stopping()
    await server.grpc_server.stop(grace)
    log.info("stopped")
