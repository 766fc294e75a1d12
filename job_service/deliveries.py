"""The outbox's deliveries: the senders' claim and record, the delivery history, retention.

A sender claims due deliveries in one statement (`FOR UPDATE SKIP LOCKED`, so replicas
never take the same one) and holds each under a lease while it POSTs: no transaction stays
open across the network call. Its record of the attempt (the attempt row, and the delivery
DELIVERED, FAILED, or PENDING again with its next time) is one statement guarded by that
lease, so a sender that stalled past its lease records nothing over the one that took over.
"""

# Statements here are assembled from constant fragments and numbered placeholders only.
# ruff: noqa: S608

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from job_service import domain, errors, filters, jobs
from job_service.database import Connection
from job_service.models import sql_value
from job_service.vocabulary import DeliveryState, WebhookEventType

_PENDING = sql_value(DeliveryState.PENDING)

FILTER_FIELDS = {
    "state": filters.FieldSpec("enum", frozenset(DeliveryState)),
    "event_type": filters.FieldSpec("enum", frozenset(WebhookEventType)),
    "target": filters.FieldSpec("text"),
    "create_time": filters.FieldSpec("time"),
}


@dataclass(frozen=True)
class Claimed:
    """A delivery a sender holds, with what it needs to send it (the secret included)."""

    id: uuid.UUID
    attempt: int
    webhook_id: uuid.UUID
    url: str
    format: str
    secret: str | None
    enabled: bool
    event_id: uuid.UUID
    event_type: str
    target: str
    resource: str
    payload: dict[str, Any]
    event_time: datetime


@dataclass(frozen=True)
class Attempt:
    number: int
    time: datetime
    delivered: bool
    http_status: int
    error: str
    duration_seconds: float


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    target: str
    resource: str
    state: str
    next_attempt_time: datetime
    create_time: datetime
    attempts: tuple[Attempt, ...] = ()

    @property
    def name(self) -> str:
        return f"webhooks/{self.webhook_id}/deliveries/{self.id}"


_CLAIM = f"""
WITH due AS (
    SELECT id FROM webhook_delivery
    WHERE state = {_PENDING} AND next_attempt_time <= now()
      AND (lease_expire_time IS NULL OR lease_expire_time < now())
    ORDER BY next_attempt_time
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), c AS (
    UPDATE webhook_delivery AS d
    SET lease_owner = $1, lease_expire_time = now() + $2::interval,
        attempt_count = d.attempt_count + 1, update_time = now()
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.attempt_count, d.webhook_id, d.event_id
)
SELECT c.id, c.attempt_count AS attempt, w.id AS webhook_id, w.url, w.format, w.secret,
       w.enabled, e.id AS event_id, e.event_type, e.target, e.resource, e.payload,
       e.create_time AS event_time
FROM c JOIN webhook AS w ON w.id = c.webhook_id JOIN webhook_event AS e ON e.id = c.event_id
ORDER BY e.create_time"""


async def claim(conn: Connection, owner: str, lease: timedelta, limit: int) -> list[Claimed]:
    """Takes up to `limit` due deliveries under `owner`'s lease, one attempt more each."""
    rows = await conn.fetch(_CLAIM, owner, lease, limit)
    claimed = []
    for row in rows:
        values = dict(row)
        payload = values["payload"]
        values["payload"] = json.loads(payload) if isinstance(payload, str) else payload
        claimed.append(Claimed(**values))
    return claimed


_RECORD = f"""
WITH d AS (
    UPDATE webhook_delivery
    SET state = $3, next_attempt_time = now() + $4::interval,
        lease_owner = NULL, lease_expire_time = NULL, update_time = now()
    WHERE id = $1 AND lease_owner = $2 AND state = {_PENDING}
    RETURNING id, attempt_count
)
INSERT INTO webhook_attempt (delivery_id, number, delivered, http_status, error,
                             duration_seconds)
SELECT id, attempt_count, $5, $6, $7, $8 FROM d
ON CONFLICT DO NOTHING
RETURNING number"""


async def record(
    conn: Connection,
    delivery_id: uuid.UUID,
    owner: str,
    *,
    state: DeliveryState,
    retry_in: timedelta,
    delivered: bool,
    http_status: int,
    error: str,
    duration_seconds: float,
) -> bool:
    """Records one attempt and where the delivery goes next; False when the lease was lost."""
    number = await conn.fetchval(
        _RECORD,
        delivery_id,
        owner,
        str(state),
        retry_in,
        delivered,
        http_status,
        error,
        duration_seconds,
    )
    return number is not None


async def list_page(
    conn: Connection,
    webhook_id: uuid.UUID,
    flt: filters.Filter,
    position: tuple[datetime, uuid.UUID] | None,
    limit: int,
    visible: list[str] | None,
) -> domain.Page:
    """One page of a destination's deliveries, newest first, of the targets `visible`
    covers (None: all; PINGs, which have no target, show to every role), with attempts."""
    params = jobs.Params(webhook_id)
    where = ["d.webhook_id = $1"]
    if visible is not None:
        where.append(f"(e.target LIKE ANY({params.add(visible, 'text[]')}) OR e.target = '')")
    for term in flt.terms:
        column = {"state": "d.state", "event_type": "e.event_type", "target": "e.target"}.get(
            term.field
        )
        if column is not None:
            where.append(f"{column} = ANY({params.add([str(v) for v in term.values], 'text[]')})")
        elif term.field == "create_time":
            where.append(f"d.create_time {term.op} {params.add(term.values[0])}")
    if position is not None:
        where.append(
            f"(d.create_time, d.id) < ({params.add(position[0])}, {params.add(position[1])})"
        )
    rows = await conn.fetch(
        "SELECT d.id, d.webhook_id, d.event_id, e.event_type, e.target, e.resource, d.state, "
        "d.next_attempt_time, d.create_time "
        "FROM webhook_delivery AS d JOIN webhook_event AS e ON e.id = d.event_id "
        f"WHERE {' AND '.join(where)} ORDER BY d.create_time DESC, d.id DESC "
        f"LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    page = [Delivery(**dict(r)) for r in rows[:limit]]
    attempts = await _attempts(conn, [d.id for d in page])
    items = tuple(
        Delivery(**{**d.__dict__, "attempts": tuple(attempts.get(d.id, ()))}) for d in page
    )
    more = len(rows) > limit
    return domain.Page(items, (items[-1].create_time, items[-1].id) if more else None)


async def get(conn: Connection, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery:
    row = await conn.fetchrow(
        "SELECT d.id, d.webhook_id, d.event_id, e.event_type, e.target, e.resource, d.state, "
        "d.next_attempt_time, d.create_time "
        "FROM webhook_delivery AS d JOIN webhook_event AS e ON e.id = d.event_id "
        "WHERE d.webhook_id = $1 AND d.id = $2",
        webhook_id,
        delivery_id,
    )
    if row is None:
        raise errors.WebhookNotFound(f"webhooks/{webhook_id}")
    attempts = await _attempts(conn, [delivery_id])
    return Delivery(**dict(row), attempts=tuple(attempts.get(delivery_id, ())))


async def _attempts(conn: Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Attempt]]:
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT delivery_id, number, time, delivered, http_status, error, duration_seconds "
        "FROM webhook_attempt WHERE delivery_id = ANY($1::uuid[]) ORDER BY delivery_id, number",
        list(ids),
    )
    found: dict[uuid.UUID, list[Attempt]] = {}
    for r in rows:
        values = dict(r)
        found.setdefault(values.pop("delivery_id"), []).append(Attempt(**values))
    return found


async def sweep(conn: Connection, retention: timedelta, batch: int = 500) -> int:
    """Deletes events older than `retention` (with their deliveries and attempts) that no
    destination is still waiting to receive; returns how many."""
    deleted = await conn.fetchval(
        f"""
        WITH old AS (
            SELECT id FROM webhook_event AS e
            WHERE create_time < now() - $1::interval
              AND NOT EXISTS (SELECT 1 FROM webhook_delivery AS d
                              WHERE d.event_id = e.id AND d.state = {_PENDING})
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        ), gone AS (DELETE FROM webhook_event WHERE id IN (SELECT id FROM old) RETURNING 1)
        SELECT count(*) FROM gone""",
        retention,
        batch,
    )
    return int(deleted)
