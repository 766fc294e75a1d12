"""The webhook repository: destinations, and `emit`, the one way events enter the outbox.

`emit(conn, event_type, target, payload, resource=...)` runs in the caller's transaction:
the event is stored (one delivery per enabled destination whose filter matches) only if that
transaction commits, and the caller never waits on a network call. Jobs' own events
(JOB_FAILED, ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS) are emitted by the `job_webhook_events`
trigger of migration 0011 through the same SQL function.

A `Webhook` never carries its secret: only the sender's claim (`job_service.deliveries`)
reads it, to sign.
"""

# Statements here are assembled from constant fragments and numbered placeholders only.
# ruff: noqa: S608

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from job_service import domain, errors
from job_service.database import Connection
from job_service.principals import like_pattern
from job_service.vocabulary import WebhookEventType

NAME_PATTERN = "webhooks/{uuid}"


@dataclass(frozen=True)
class Webhook:
    id: uuid.UUID
    display_name: str
    url: str
    event_types: tuple[str, ...]
    target_filter: str
    format: str
    has_secret: bool
    enabled: bool
    creator: str
    version: int
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return f"webhooks/{self.id}"

    @property
    def etag(self) -> str:
        return domain.etag_of(self.version)


def parse_name(name: str, field: str = "name") -> uuid.UUID:
    prefix, _, rest = name.partition("/")
    if prefix == "webhooks" and len(rest) == 36:
        try:
            return uuid.UUID(rest)
        except ValueError:
            pass
    raise errors.InvalidName(field, name, NAME_PATTERN)


_COLUMNS = (
    "id, display_name, url, event_types, target_filter, format, secret IS NOT NULL AS has_secret, "
    "enabled, creator, version, create_time, update_time"
)


def _webhook(row: Any) -> Webhook:
    values = dict(row)
    values["event_types"] = tuple(values["event_types"])
    return Webhook(**values)


def target_pattern(target_filter: str) -> str:
    """The SQL LIKE pattern of a target filter ('' is every target)."""
    return like_pattern(target_filter or "*")


async def create(
    conn: Connection,
    *,
    display_name: str,
    url: str,
    event_types: Sequence[str],
    target_filter: str,
    format: str,
    secret: str | None,
    enabled: bool,
    creator: str,
) -> Webhook:
    row = await conn.fetchrow(
        "INSERT INTO webhook (id, display_name, url, event_types, target_filter, target_pattern, "
        "format, secret, enabled, creator) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        f"RETURNING {_COLUMNS}",
        uuid.uuid4(),
        display_name,
        url,
        list(event_types),
        target_filter,
        target_pattern(target_filter),
        format,
        secret,
        enabled,
        creator,
    )
    return _webhook(row)


async def get(conn: Connection, webhook_id: uuid.UUID) -> Webhook:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM webhook WHERE id = $1", webhook_id)
    if row is None:
        raise errors.WebhookNotFound(f"webhooks/{webhook_id}")
    return _webhook(row)


async def list_page(
    conn: Connection, position: tuple[datetime, uuid.UUID] | None, limit: int
) -> domain.Page:
    """One page of destinations, newest first, keyset after `position`."""
    values: list[object] = []
    where = ""
    if position is not None:
        values.extend(position)
        where = "WHERE (create_time, id) < ($1, $2)"
    values.append(limit + 1)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM webhook {where} ORDER BY create_time DESC, id DESC "
        f"LIMIT ${len(values)}",
        *values,
    )
    items = tuple(_webhook(r) for r in rows[:limit])
    more = len(rows) > limit
    return domain.Page(items, (items[-1].create_time, items[-1].id) if more else None)


# Columns UpdateWebhook may set, each with its SQL (target_filter also sets its pattern).
_SETTERS = {
    "display_name": "display_name = {}",
    "url": "url = {}",
    "event_types": "event_types = {}",
    "target_filter": "target_filter = {0}, target_pattern = {1}",
    "format": "format = {}",
    "secret": "secret = {}",
    "enabled": "enabled = {}",
}


async def update(
    conn: Connection,
    webhook_id: uuid.UUID,
    changes: Mapping[str, object],
    etag: str = "",
) -> Webhook:
    """Applies `changes` (column → value) in one guarded statement; ABORTED when `etag` is
    given and stale."""
    expected_version = None
    if etag:
        expected_version = domain.version_of_etag(etag)
        expected_version = -1 if expected_version is None else expected_version
    values: list[object] = [webhook_id]
    sets = []
    for column, value in changes.items():
        values.append(value)
        if column == "target_filter":
            values.append(target_pattern(str(value)))
            sets.append(_SETTERS[column].format(f"${len(values) - 1}", f"${len(values)}"))
        else:
            sets.append(_SETTERS[column].format(f"${len(values)}"))
    guard = ""
    if expected_version is not None:
        values.append(expected_version)
        guard = f" AND version = ${len(values)}"
    row = await conn.fetchrow(
        f"UPDATE webhook SET {', '.join([*sets, 'version = version + 1, update_time = now()'])} "
        f"WHERE id = $1{guard} RETURNING {_COLUMNS}",
        *values,
    )
    if row is None:
        current = await get(conn, webhook_id)  # NOT_FOUND, or the etag was stale
        raise errors.EtagMismatch(current.name, etag, current.etag)
    return _webhook(row)


async def delete(conn: Connection, webhook_id: uuid.UUID) -> None:
    """Deletes a destination with its deliveries (their events stay for other destinations)."""
    deleted = await conn.fetchval("DELETE FROM webhook WHERE id = $1 RETURNING id", webhook_id)
    if deleted is None:
        raise errors.WebhookNotFound(f"webhooks/{webhook_id}")


async def emit(
    conn: Connection,
    event_type: WebhookEventType | str,
    target: str,
    payload: Mapping[str, Any],
    *,
    resource: str = "",
) -> int:
    """Queues an event for every enabled destination whose filter matches, in the caller's
    transaction (it is sent only if that commits). Returns how many deliveries were queued.

    `payload` is JSON-serialisable facts: the GENERIC body carries it as `data`; a `text`
    key (one line a person reads) becomes the SLACK body's text and the GENERIC body's
    `text`. `resource` names what it is about (`jobs/{job}/suggestions/{suggestion}`).
    """
    kind = WebhookEventType(event_type)
    return int(
        await conn.fetchval(
            "SELECT webhook_emit($1, $2, $3, $4::jsonb)",
            str(kind),
            target,
            resource,
            # A plain JSON object: the store's connections encode jsonb themselves
            # (`database._codecs`), so a string here would be stored as a JSON string.
            json.loads(json.dumps(payload, default=str)),
        )
    )


async def ping(conn: Connection, webhook_id: uuid.UUID, caller: str) -> uuid.UUID:
    """Queues a PING to this destination only; returns the delivery's id."""
    payload = json.dumps({"text": f"pgsage test event, sent at the request of {caller}"})
    delivery = await conn.fetchval(
        """
        WITH hook AS (SELECT id FROM webhook WHERE id = $1),
        ev AS (
            INSERT INTO webhook_event (id, event_type, target, resource, payload)
            SELECT gen_random_uuid(), 'PING', '', 'webhooks/' || $1::text, $2::jsonb
            WHERE EXISTS (SELECT 1 FROM hook) RETURNING id
        )
        INSERT INTO webhook_delivery (id, webhook_id, event_id, state)
        SELECT gen_random_uuid(), hook.id, ev.id, 'PENDING' FROM hook CROSS JOIN ev
        RETURNING id""",
        webhook_id,
        payload,
    )
    if delivery is None:
        raise errors.WebhookNotFound(f"webhooks/{webhook_id}")
    return delivery
