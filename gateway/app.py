"""The gateway's ASGI app: the transcoded REST API, job extras, probes, OpenAPI and the UI.

Errors are translated in one place (`gateway.errors.response_for`), registered here as the
app's exception handlers, so no route ever answers with a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import auth, defences, errors, identity, jobs, metrics, openapi, probes, rest, ui
from gateway.client import JobServiceClient
from gateway.oidc import OidcClient
from gateway.settings import GatewaySettings
from pgsage import errors as pgsage_errors
from pgsage import logs, server

log = logging.getLogger(__name__)

_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


async def _on_error(request: Request, exc: Exception) -> Response:
    return errors.response_for(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error: pgsage_errors.PgsageError = errors.MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}"
        )
    else:
        error = errors.RouteNotFound(f"no route {request.method} {request.url.path}")
    return errors.response_for(error)


def create_app(settings: GatewaySettings) -> Starlette:
    """The app; its lifespan opens the job-service channel (and the issuer's client)."""
    document = openapi.document()
    who = identity.Auth.of(settings)

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(document)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.client = JobServiceClient.open(
            settings.job_service_address, tls=settings.job_service_tls()
        )
        if not settings.local_mode:
            who.oidc = OidcClient(settings)
        try:
            yield
        finally:
            await app.state.client.close()
            if who.oidc is not None:
                await who.oidc.close()

    app_routes = [
        Route("/healthz", probes.healthz, methods=["GET"]),
        Route("/readyz", probes.readyz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/auth/login", auth.login, methods=["GET"]),
        Route("/auth/callback", auth.callback, methods=["GET"]),
        Route("/auth/logout", auth.logout, methods=["POST"]),
        Route("/auth/session", auth.session_info, methods=["GET"]),
        Route("/v1/jobs/{job}/result", jobs.result, methods=["GET"]),
        Route("/v1/jobs/{job}/events", jobs.events, methods=["GET"]),
        Route("/v1/jobs/{job}/patch.sql", jobs.patch_sql, methods=["GET"]),
        Route("/v1/{path:path}", rest.dispatch, methods=_METHODS),
        Route("/{path:path}", ui.page, methods=["GET"]),
    ]
    app = Starlette(
        routes=app_routes,
        exception_handlers={
            pgsage_errors.PgsageError: _on_error,
            grpc.RpcError: _on_error,
            HTTPException: _on_http_exception,
            Exception: _on_error,
        },
        middleware=[
            Middleware(metrics.HttpMetrics, app_routes=app_routes),  # outermost: every answer
            Middleware(defences.BrowserDefences, settings=settings),
            Middleware(identity.SessionMiddleware, auth=who),
            Middleware(defences.Limits, settings=settings),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.auth = who
    return app


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the process's `pgsage.server.main`
    (or whoever embeds the gateway) decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningGateway:
    """A gateway serving on a bound port, for `pgsage up`, tests and benchmarks."""

    server: uvicorn.Server
    task: asyncio.Task
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stops accepting, lets the requests in flight finish (up to 5 s), closes the
        job-service channel."""
        self.server.should_exit = True
        await self.task


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it Nagle's algorithm holds each response back ~40 ms (delayed ACKs).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise server.port_in_use(host, port, "PGSAGE_GATEWAY_HTTP_PORT") from exc
        raise server.StartupError(
            f"cannot listen on {host}:{port} ({exc.strerror}): check PGSAGE_GATEWAY_HOST"
        ) from exc
    sock.set_inheritable(True)
    return sock


async def start(settings: GatewaySettings) -> RunningGateway:
    """Binds `settings.http_port` (0 picks a free port) and serves in a task of this loop."""
    sock = _bind(settings.host, settings.http_port)
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level.lower(),
        access_log=False,
        # JSON logs: uvicorn's records go to the root logger's JSON handler.
        log_config=None if logs.is_json() else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    uv = _Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    while not uv.started:
        if task.done():
            await task
            raise server.StartupError("the gateway did not start; its log says why", 1)
        await asyncio.sleep(0.01)
    port = sock.getsockname()[1]
    log.info(
        "gateway on http://%s:%d (job service at %s)",
        settings.host,
        port,
        settings.job_service_address,
    )
    return RunningGateway(server=uv, task=task, port=port)


@contextlib.asynccontextmanager
async def serve(settings: GatewaySettings) -> AsyncIterator[RunningGateway]:
    """The running gateway for the block's duration (`pgsage.server.main`'s shape)."""
    running = await start(settings)
    try:
        yield running
    finally:
        await running.stop()
