"""The gateway's defences against what a browser can be made to do, as two ASGI middlewares.

`BrowserDefences` (outermost) answers every request with the security headers (a
Content-Security-Policy fit for the built UI: no inline script or style, `frame-ancestors
'none'`), and refuses before any route runs:
- a `Host` not in the allow-list (DNS rebinding) → 400 HOST_NOT_ALLOWED (probes exempt:
  kubelets call them by pod IP);
- a state-changing request (POST/PUT/PATCH/DELETE) whose `Origin` is not ours → 403. Without
  an `Origin`: allowed for clients bringing their own `Authorization` header, and in local mode
  (no session cookie exists there to ride on; every browser sends `Origin` on these methods);
- a body that is not `application/json` → 415 (a cross-site form or `text/plain` post);
- a body over `max_body_bytes` → 413, by `Content-Length` or counted while it streams in, so a
  large body is never buffered.

`Limits` (inside the session middleware, so it knows who is signed in) keeps a token bucket per
client (the session's subject, else the client address) and a cap on concurrent change
streams per client → 429 RESOURCE_EXHAUSTED with Retry-After.
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import errors
from gateway.settings import GatewaySettings, host_name
from pgsage import errors as pgsage_errors

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
# Answered whatever the Host header and never rate limited: the probes, and the metrics
# scrape (Prometheus, like a kubelet, calls the pod's address).
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
_MAX_BUCKETS = 10_000


async def _refuse(exc: pgsage_errors.PgsageError, send: Send, extra: list | None = None) -> None:
    response = errors.response_for(exc)
    for name, value in extra or []:
        response.headers.append(name, value)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class BrowserDefences:
    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = settings.host_allow_list()
        self.origin = settings.public_origin
        self.limit = settings.max_body_bytes
        headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if settings.secure_cookies:
            headers.append((b"strict-transport-security", b"max-age=31536000"))
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        try:
            refusal = self._check(scope)
        except pgsage_errors.PgsageError as exc:
            refusal = exc
        if refusal is not None:
            await _refuse(refusal, send_with_headers)
            return
        received = 0
        limit = self.limit

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise errors.BodyTooLarge(
                        f"the request body is larger than {limit} bytes",
                        metadata={"limit": limit},
                    )
            return message

        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if received > limit:
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"connection", b"close")],
                    }
            await send_with_headers(message)

        try:
            await self.app(scope, counted_receive, send_tracking)
        except errors.BodyTooLarge as exc:
            if started:
                raise
            await _refuse(exc, send_with_headers, [("connection", "close")])

    def _check(self, scope: Scope) -> pgsage_errors.PgsageError | None:
        method = scope["method"]
        host = origin = content_type = authorization = length = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"origin":
                origin = value
            elif key == b"content-type":
                content_type = value
            elif key == b"authorization":
                authorization = value
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
        host_text = (host or b"").decode("latin-1").lower()
        if scope["path"] not in PROBES and host_name(host_text) not in self.hosts:
            return errors.HostNotAllowed(
                "this gateway does not answer to that host name; set PGSAGE_GATEWAY_ALLOWED_HOSTS",
                metadata={"field": "Host"},
            )
        if method not in UNSAFE:
            return None
        expected = self.origin or f"{scope.get('scheme', 'http')}://{host_text}"
        if origin is not None:
            if origin.decode("latin-1").lower() != expected:
                return errors.CrossOrigin(
                    "cross-origin requests may not change anything", metadata={"field": "Origin"}
                )
        elif authorization is None and not self.settings.local_mode:
            return errors.CrossOrigin(
                "a browser request must carry an Origin header",
                reason="ORIGIN_REQUIRED",
                metadata={"field": "Origin"},
            )
        if length is not None:
            if not length.isdigit():
                return pgsage_errors.InvalidArgument(
                    "Content-Length", "Content-Length is not a number"
                )
            if int(length) > self.limit:
                return errors.BodyTooLarge(
                    f"the request body is larger than {self.limit} bytes",
                    metadata={"limit": self.limit},
                )
        has_body = chunked or (length is not None and int(length) > 0)
        if method in WITH_BODY and (content_type is not None or has_body):
            media = (content_type or b"").split(b";", 1)[0].strip().lower()
            if media != b"application/json":
                return errors.UnsupportedMediaType(
                    "the body must be JSON (Content-Type: application/json)",
                    metadata={"field": "Content-Type"},
                )
        return None


def _is_stream(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "GET" and path.startswith("/v1/jobs/") and path.endswith("/events")


class Limits:
    """Per-client token bucket and concurrent-stream cap (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.rate = settings.rate_limit_per_second
        self.burst = float(settings.rate_limit_burst)
        self.max_streams = settings.max_streams_per_client
        self.buckets: dict[str, tuple[float, float]] = {}
        self.streams: dict[str, int] = {}

    def _client(self, scope: Scope) -> str:
        session = scope.get("state", {}).get("session")
        if session is not None:
            return f"sub:{session.sub}"
        client = scope.get("client")
        return f"ip:{client[0] if client else '?'}"

    def _take(self, key: str) -> float:
        """0 if a request may go now, else the seconds until one may."""
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self.buckets) >= _MAX_BUCKETS and key not in self.buckets:
            self._prune(now)
        self.buckets[key] = (tokens - 1, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key, (_, last) in list(self.buckets.items()):
            if now - last > full_after:
                del self.buckets[key]
        if len(self.buckets) >= _MAX_BUCKETS:
            self.buckets.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        key = self._client(scope)
        wait = self._take(key)
        if wait:
            retry = str(max(1, math.ceil(wait)))
            await _refuse(
                errors.ResourceExhausted(
                    "too many requests; slow down",
                    reason="RATE_LIMITED",
                    metadata={"retryAfter": retry},
                ),
                send,
                [("retry-after", retry)],
            )
            return
        if not _is_stream(scope):
            await self.app(scope, receive, send)
            return
        if self.streams.get(key, 0) >= self.max_streams:
            await _refuse(
                errors.ResourceExhausted(
                    f"at most {self.max_streams} change streams at once per client",
                    reason="TOO_MANY_STREAMS",
                    metadata={"limit": self.max_streams},
                ),
                send,
                [("retry-after", "5")],
            )
            return
        self.streams[key] = self.streams.get(key, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.streams[key] - 1
            if left:
                self.streams[key] = left
            else:
                del self.streams[key]
