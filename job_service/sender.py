"""The webhook sender: every replica POSTs the outbox's due deliveries, none twice.

A background loop (`pgsage.periodic`) claims due deliveries (`job_service.deliveries.claim`:
`FOR UPDATE SKIP LOCKED` and a lease, so two replicas never take the same one), POSTs each
with httpx under a short timeout, and records the attempt in one lease-guarded statement.
Nothing here runs inside a job's transaction or on a job's task: a destination that is slow
or down costs its own deliveries' attempts, never a job's time.

An attempt is DELIVERED on a 2xx answer. Connection errors, timeouts, 408, 425, 429 and 5xx
are tried again after an exponential backoff with jitter (a `Retry-After` of a 429 or 503 is
honoured up to the backoff's cap), until `max_attempts`; any other answer (3xx: redirects are
not followed; 4xx) and an address the egress policy refuses (`job_service.destinations`)
fail at once. Each attempt's recorded reason is an HTTP status or the kind of connection
failure: never the URL, a header or the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx

from job_service import database, deliveries, destinations, metrics, payloads, sealing
from job_service.vocabulary import DeliveryState
from pgsage import periodic
from pgsage.version import version

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})
SWEEP_EVERY = 60.0


class Sender:
    """Sends due deliveries from this process (see the module docstring)."""

    def __init__(
        self,
        db: database.Database,
        *,
        owner: str,
        policy: destinations.Policy,
        timeout: timedelta,
        max_attempts: int,
        backoff: timedelta,
        max_backoff: timedelta,
        retention: timedelta,
        public_url: str | None = None,
        batch: int = 16,
        sealer: sealing.Sealer | None = None,
    ) -> None:
        self.db = db
        self.owner = owner
        self.policy = policy
        self.timeout = timeout.total_seconds()
        self.max_attempts = max_attempts
        self.backoff = backoff.total_seconds()
        self.max_backoff = max_backoff.total_seconds()
        self.retention = retention
        self.public_url = public_url
        self.batch = batch
        self.sealer = sealer or sealing.Sealer()
        # The lease outlasts a whole attempt: resolving, connecting, the answer.
        self.lease = timedelta(seconds=self.timeout + destinations.RESOLVE_SECONDS + 30)
        self._client: httpx.AsyncClient | None = None
        self._last_sweep = 0.0
        self.sent = 0

    def retry_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before attempt `attempt + 1`: exponential, capped, half of it jittered."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** max(attempt - 1, 0))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay

    async def run_once(self) -> int:
        """Sends every delivery due now (batch by batch); returns how many were attempted."""
        total = 0
        while True:
            async with self.db.connection() as conn:
                claimed = await deliveries.claim(conn, self.owner, self.lease, self.batch)
            if claimed:
                await asyncio.gather(*(self._deliver(c) for c in claimed))
                total += len(claimed)
            if len(claimed) < self.batch:
                break
        if time.monotonic() - self._last_sweep > SWEEP_EVERY:
            self._last_sweep = time.monotonic()
            async with self.db.connection() as conn:
                swept = await deliveries.sweep(conn, self.retention)
            if swept:
                log.info("deleted %d webhook event(s) past their retention", swept)
        return total

    async def _deliver(self, claimed: deliveries.Claimed) -> None:
        started = time.monotonic()
        outcome = await self._attempt(claimed)
        delivered, status, error, retry, retry_after = outcome
        if delivered:
            state = DeliveryState.DELIVERED
        elif retry and claimed.attempt < self.max_attempts:
            state = DeliveryState.PENDING
        else:
            state = DeliveryState.FAILED
        delay = self.retry_delay(claimed.attempt, retry_after) if state == "PENDING" else 0.0
        outcome_label = "RETRY" if state == DeliveryState.PENDING else str(state)
        metrics.WEBHOOK_ATTEMPTS.labels(outcome_label).inc()
        metrics.WEBHOOK_SECONDS.labels(outcome_label).observe(time.monotonic() - started)
        try:
            async with self.db.connection() as conn:
                kept = await deliveries.record(
                    conn,
                    claimed.id,
                    self.owner,
                    state=state,
                    retry_in=timedelta(seconds=delay),
                    delivered=delivered,
                    http_status=status,
                    error=error,
                    duration_seconds=time.monotonic() - started,
                )
        except Exception:
            # The lease lapses and another sender (or this one) tries again.
            log.warning("webhook delivery %s: its attempt could not be recorded", claimed.id)
            return
        self.sent += 1
        host = _host(claimed.url)
        if not kept:
            log.warning(
                "webhook delivery %s: lease lost before its attempt was recorded", claimed.id
            )
        elif delivered:
            log.info("webhook delivery %s (%s to %s): delivered, attempt %d", claimed.id,
                     claimed.event_type, host, claimed.attempt)  # fmt: skip
        else:
            log.info("webhook delivery %s (%s to %s): attempt %d failed (%s), now %s", claimed.id,
                     claimed.event_type, host, claimed.attempt, error, state)  # fmt: skip

    async def _attempt(
        self, claimed: deliveries.Claimed
    ) -> tuple[bool, int, str, bool, float | None]:
        """(delivered, HTTP status, error, worth another attempt, Retry-After seconds)."""
        if not claimed.enabled:
            return False, 0, "not sent: the destination is disabled", False, None
        try:
            destination = destinations.parse(claimed.url)
        except Exception:
            return False, 0, "not sent: the destination's URL is not valid", False, None
        try:
            addresses = await destinations.resolve(destination.host, destination.port)
        except destinations.Refused as exc:
            return False, 0, f"not sent: {exc}", True, None
        try:
            address = self.policy.check(addresses)[0]
        except destinations.Refused as exc:
            return False, 0, f"not sent: {exc}", False, None
        body = payloads.body(
            format=claimed.format,
            event_id=str(claimed.event_id),
            event_type=claimed.event_type,
            event_time=claimed.event_time.isoformat(),
            target=claimed.target,
            resource=claimed.resource,
            payload=claimed.payload,
            public_url=self.public_url,
        )
        url = httpx.URL(destination.url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"pgsage-webhooks/{version()}",
            "Host": url.netloc.decode("ascii"),
            "X-Pgsage-Event": claimed.event_type,
            "X-Pgsage-Event-Id": str(claimed.event_id),
            "X-Pgsage-Delivery": str(claimed.id),
        }
        try:
            secret = self.sealer.open(claimed.secret)
        except sealing.Unreadable as exc:
            return False, 0, f"not sent: {exc}", False, None
        if secret:
            headers[payloads.SIGNATURE_HEADER] = payloads.signature(secret, int(time.time()), body)
        extensions = {}
        if destination.scheme == "https" and destinations.literal(destination.host) is None:
            extensions["sni_hostname"] = destination.host
        assert self._client is not None, "the sender is not started"
        try:
            response = await self._client.post(
                url.copy_with(host=str(address)),
                content=body,
                headers=headers,
                extensions=extensions,
            )
        except httpx.TimeoutException:
            return False, 0, f"timed out after {self.timeout:g} s", True, None
        except httpx.ConnectError as exc:
            return False, 0, _connect_error(exc), True, None
        except httpx.HTTPError as exc:
            return False, 0, f"request failed ({type(exc).__name__})", True, None
        status = response.status_code
        if 200 <= status < 300:
            return True, status, "", False, None
        retry = status in RETRIED_STATUSES or status >= 500
        why = f"HTTP {status}" + ("" if retry else ": not retried")
        return False, status, why, retry, _retry_after(response)

    @contextlib.asynccontextmanager
    async def running(self, interval: float) -> AsyncIterator[Sender]:
        """Sends every `interval` seconds while the block runs (the HTTP client with it)."""
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=self.batch),
        ) as client:
            self._client = client
            async with periodic.every(interval, self.run_once, name="webhook sender"):
                yield self
            self._client = None


def _host(url: str) -> str:
    try:
        return destinations.parse(url).host
    except Exception:
        return "?"


def _connect_error(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "TLS handshake failed"
    if "unreachable" in text:
        return "network unreachable"
    return "could not connect"


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None
