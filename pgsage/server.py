"""Building and running pgsage's services the same way for every one of them.

`build_server` registers a gRPC service's servicers, health (with List), reflection, the
metrics interceptor (`pgsage.metrics`) and the error interceptor, and binds the port (0
picks a free one). `main` is every service's `python -m …`: it sets up logging
(`PGSAGE_LOG_FORMAT`, `pgsage.logs`) and tracing (`OTEL_*`, `pgsage.tracing`), reads the
settings, enters the service's `serve(settings)` (an async context manager that starts
every part on one `AsyncExitStack`), waits for SIGTERM or SIGINT, and leaves it
(NOT_SERVING first, then drain, then close). Whatever stops start-up is one line in the
log and an exit code: 2 for a setting to change (a bad value, a port in use), 1 for
anything else (a database that is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pydantic
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pgsage import errors, health, logs, metrics, rpc, tls, tracing

log = logging.getLogger(__name__)


class StartupError(Exception):
    """What stops a service from starting, said in one line; `exit_code` 2 means a setting
    to change, 1 anything else."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def port_in_use(host: str, port: int, setting: str) -> StartupError:
    return StartupError(
        f"port {port} on {host or '*'} is already in use: stop what holds it, or set "
        f"{setting} to a free port (0 picks one)"
    )


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


def _check_free(host: str, port: int, setting: str) -> None:
    """Raises `port_in_use` when `host:port` is taken, before grpc tries it (grpc would log
    its own multi-line complaint first)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # grpc says what is wrong with the host
    for family, kind, proto, _, where in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise port_in_use(host, port, setting) from exc


def build_server(
    *,
    host: str,
    port: int,
    port_setting: str = "the service's port setting",
    service_names: Sequence[str],
    registrars: Sequence[Registrar],
    max_workers_hint: int = 0,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> Server:
    """Creates a grpc.aio server with pgsage's standard parts, bound to `host:port`.

    `service_names` are the full names of the services (`pgsage.jobs.v1.JobService`), used
    for health and reflection; `registrars` add the servicers. `interceptors` run inside the
    error interceptor (so their `PgsageError`s become rich statuses), which runs inside the
    metrics interceptor (outermost: it counts the status the error interceptor made).
    With `credentials` the port serves TLS only (`pgsage.tls.ServerTls.credentials()`);
    without, plaintext. A port that cannot be bound raises `StartupError` naming
    `port_setting`, the setting that chose it.
    """
    del max_workers_hint  # grpc.aio needs no thread pool
    pool = descriptor_pool.Default()
    for name in service_names:
        # Reflection serves the default pool: a service whose generated module was never
        # imported would be listed but not describable.
        pool.FindServiceByName(name)
    server = grpc.aio.server(
        # Tracing outermost (when on): the call's span is current for every line it logs.
        interceptors=[
            *tracing.server_interceptors(),
            metrics.RpcInterceptor(),
            rpc.ErrorInterceptor(),
            *interceptors,
        ],
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
    if port:
        _check_free(host, port, port_setting)
    try:
        if credentials is not None:
            bound = server.add_secure_port(address, credentials)
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError:  # grpcio raises on some platforms instead of returning 0
        bound = 0
    if bound == 0:
        raise port_in_use(host, port, port_setting)
    return Server(grpc_server=server, health=health_servicer, port=bound)


@dataclass
class HealthPort:
    """A plaintext port serving only `grpc.health.v1` (`start_health_port`)."""

    grpc_server: grpc.aio.Server
    port: int

    async def stop(self) -> None:
        await self.grpc_server.stop(0)


async def start_health_port(
    health_servicer: health.HealthServicer, *, host: str, port: int, setting: str
) -> HealthPort:
    """Starts a plaintext gRPC port on `host:port` serving only `grpc.health.v1`, answered
    by the service's own `health_servicer` (same statuses, NOT_SERVING when it drains).

    Kubernetes' native `grpc:` probes cannot speak TLS: with TLS on the service's port, the
    probes use this one, which tells nothing but serving statuses. A port that cannot be
    bound raises `StartupError` naming `setting`.
    """
    grpc_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    if port:
        _check_free(host, port, setting)
    try:
        bound = grpc_server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise port_in_use(host, port, setting)
    await grpc_server.start()
    log.info("health-only port %d (plaintext, grpc.health.v1)", bound)
    return HealthPort(grpc_server=grpc_server, port=bound)


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


S = TypeVar("S", bound=pydantic.BaseModel)


def describe_settings_error(exc: pydantic.ValidationError, env_prefix: str) -> str:
    """One line naming each bad setting by its environment variable, without its value
    (values may be secrets)."""
    problems = []
    for error in exc.errors():
        where = [str(part) for part in error["loc"]]
        name = env_prefix + where[0].upper() if where else env_prefix.rstrip("_")
        inside = ".".join(where[1:])
        problems.append(f"{name}{f' ({inside})' if inside else ''}: {error['msg']}")
    return "; ".join(problems)


async def _serve_until_signal(serve: Callable[[S], Any], settings: S) -> None:
    async with serve(settings):
        # Everything allocated so far lives as long as the process: keep it out of the
        # collector's full passes, which would otherwise add milliseconds to unlucky calls.
        gc.collect()
        gc.freeze()
        await wait_for_signal()
        log.info("stopping: NOT_SERVING, then draining")


def main(
    *,
    service: str,
    settings_type: Callable[[], S],
    env_prefix: str,
    serve: Callable[[S], contextlib.AbstractAsyncContextManager[Any]],
    log_level: Callable[[S], str] = lambda settings: "INFO",
) -> int:
    """A service's `python -m`: settings, then `serve(settings)` until SIGTERM/SIGINT.

    Returns the exit code: 0 after a signal, 2 for a setting to change, 1 for anything
    else that stopped start-up, each said in one line (no traceback).
    """
    try:
        log_format = logs.log_format()
    except ValueError as exc:
        logs.configure("text")
        log.error("cannot start the %s: %s", service, exc)
        return 2
    logs.configure(log_format)
    try:
        tracing.configure(service.replace(" ", "-"))
    except tracing.SettingsError as exc:
        log.error("cannot start the %s: %s", service, exc)
        return 2
    try:
        settings = settings_type()
    except pydantic.ValidationError as exc:
        log.error(
            "invalid %s settings (%s*): %s",
            service,
            env_prefix,
            describe_settings_error(exc, env_prefix),
        )
        return 2
    except (tls.SettingsError, StartupError) as exc:
        log.error("cannot start the %s: %s", service, exc)
        return 2
    except OSError as exc:  # a file a setting names (targets, certificates)
        log.error("cannot start the %s: cannot read %s: %s", service, exc.filename, exc.strerror)
        return 2
    logging.getLogger().setLevel(log_level(settings).upper())
    try:
        asyncio.run(_serve_until_signal(serve, settings))
    except StartupError as exc:
        log.error("cannot start the %s: %s", service, exc)
        return exc.exit_code
    except errors.PgsageError as exc:
        log.error("cannot start the %s: %s", service, exc.message)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            log.error("cannot start the %s: %s", service, exc.strerror)
            return 2
        log.error("cannot start the %s: %s", service, exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
