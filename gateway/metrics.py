"""The gateway's Prometheus metrics, served at `GET /metrics` on its HTTP port.

- `pgsage_http_requests_total{route, method, status}` and
  `pgsage_http_request_seconds{route, method}`: every HTTP request by route template
  (`/v1/{name=jobs/*}:cancel` for the transcoded REST API, the Starlette route's path otherwise,
  `<unmatched>` when none matched), counted when its response (a stream: its end) is done.

`HttpMetrics` is the outermost middleware, so it sees every answer: the defences' 413 and
429, the error handlers' statuses, and 500 for an error nothing handled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import routes
from pgsage import tracing
from pgsage.metrics import LATENCY_BUCKETS

REQUESTS = Counter(
    "pgsage_http_requests",
    "HTTP requests the gateway answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "pgsage_http_request_seconds",
    "Time from an HTTP request to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
UNMATCHED = "<unmatched>"
REST = "/v1/{path:path}"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


async def endpoint(request: Request) -> Response:
    """`GET /metrics`: every metric of this process, in Prometheus' text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def route_of(app_routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route `scope` goes to (bounded: never the raw path)."""
    for route in app_routes:
        match, _ = route.matches(scope)
        if match is Match.NONE:
            continue
        template = str(getattr(route, "path", UNMATCHED))
        if template == REST:
            found, _ = routes.find(scope["method"], scope["path"])
            if found is None:
                return UNMATCHED
            return found.template
        return template
    return UNMATCHED


_UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})


class HttpMetrics:
    """Counts and times every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp, app_routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = app_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless a response starts
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        # A server span per request while tracing is on (pgsage.tracing), probes and scrapes
        # left out: its calls to the job service are its children.
        traced = route_of(self.routes, scope) if tracing.enabled() else ""
        if traced in _UNTRACED:
            traced = ""
        with tracing.http_request(method, traced, scope["headers"]) as record_status:
            try:
                await self.app(scope, receive, sent)
            finally:
                record_status(status)
                route = route_of(self.routes, scope)
                REQUESTS.labels(route, method, str(status)).inc()
                REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - start)
