"""The `GET /metrics` endpoint of the job service and the optimizer, on a port of its own.

It serves Prometheus' text format: the process-wide registry (`pgsage.metrics`, each
service's own metrics, the process collectors) plus a service instance's collectors, read at
scrape time. `before_scrape` refreshes what those read (the job service counts its jobs in
one query); it is given `SCRAPE_TIMEOUT` seconds, so a scrape never hangs on a database that
is down (the metrics it would refresh are then left out).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from pgsage import server

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT = 2.0


class _Union:
    """The process-wide registry and an instance's own collectors, as one registry."""

    def __init__(self, collectors: Sequence[Collector]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        for collector in self._collectors:
            yield from collector.collect()


def exposition(collectors: Sequence[Collector] = ()) -> bytes:
    """The text exposition of every metric of this process (and `collectors`)."""
    return generate_latest(_Union(collectors))  # type: ignore[arg-type]


class Endpoint:
    """A running `GET /metrics` server; `port` is the bound one."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        before_scrape: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.collectors = collectors
        self.before_scrape = before_scrape
        self.port = 0
        self._server: asyncio.Server | None = None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _body(self) -> bytes:
        if self.before_scrape is not None:
            try:
                await asyncio.wait_for(self.before_scrape(), SCRAPE_TIMEOUT)
            except Exception as exc:  # a scrape still answers, without what failed
                log.debug("metrics: refresh before a scrape failed: %s", type(exc).__name__)
        try:
            return exposition(self.collectors)
        except Exception:  # a collector's bug: this scrape fails, the next one may not
            log.exception("metrics: collecting failed")
            raise

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                parts = head.split(b"\r\n", 1)[0].split()
                method, path = [*parts, b"", b""][:2]
                path = path.split(b"?", 1)[0]
                if method not in (b"GET", b"HEAD"):
                    status, kind, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
                elif path != b"/metrics":
                    status, kind, body = "404 Not Found", "text/plain", b"see /metrics\n"
                else:
                    try:
                        status, kind, body = "200 OK", CONTENT_TYPE_PLAIN_0_0_4, await self._body()
                    except Exception:  # logged by _body
                        status, kind = "500 Internal Server Error", "text/plain"
                        body = b"collecting the metrics failed; the service's log says why\n"
                headers = (
                    f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                writer.write(headers.encode() + (body if method != b"HEAD" else b""))
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that sent no request in time, or left
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def start_endpoint(
    host: str,
    port: int,
    *,
    setting: str,
    collectors: Sequence[Collector] = (),
    before_scrape: Callable[[], Awaitable[None]] | None = None,
) -> Endpoint:
    """Serves `GET /metrics` on `host:port` (0 picks a free port); a port that cannot be
    bound raises `pgsage.server.StartupError` naming `setting`."""
    endpoint = Endpoint(collectors, before_scrape)
    try:
        endpoint._server = await asyncio.start_server(
            endpoint._handle, host, port, reuse_address=True
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise server.port_in_use(host, port, setting) from exc
        raise server.StartupError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
    endpoint.port = endpoint._server.sockets[0].getsockname()[1]
    log.info("metrics on http://%s:%d/metrics", host, endpoint.port)
    return endpoint
