"""`pgsage.jobs.v1.WebhookService`: webhook destinations and their delivery history.

Admins of every target manage destinations (they hold the signing secrets, and a
destination may receive events of any target). Every role may read them: the URL shows
whole to admins only (a path may hold a credential, as a Slack webhook's does), others see
its scheme and host; deliveries show only for targets the caller may view. A secret is
write-only: no response carries it and no log line names it (`has_secret` says whether one
is set).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import grpc
from google.protobuf import duration_pb2, empty_pb2, timestamp_pb2

from job_service import (
    authz,
    database,
    deliveries,
    destinations,
    errors,
    filters,
    pagination,
    sealing,
    webhooks,
)
from job_service.principals import Principal, Role
from job_service.vocabulary import FILTERABLE_EVENT_TYPES, WebhookFormat
from pgsage import errors as pgsage_errors
from pgsage.jobs.v1 import webhook_pb2, webhook_pb2_grpc

log = logging.getLogger(__name__)

MAX_DISPLAY_NAME = 100
MAX_TARGET_FILTER = 200
SECRET_LENGTH = (16, 256)
UPDATABLE = ("display_name", "url", "event_types", "target_filter", "format", "secret", "enabled")


def _ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _admin(context: grpc.aio.ServicerContext, permission: str) -> Principal:
    caller = authz.principal_of(context)
    authz.require_any(caller)
    authz.require(caller, Role.ADMIN, None, permission=permission)
    return caller


def _reader(context: grpc.aio.ServicerContext) -> Principal:
    caller = authz.principal_of(context)
    authz.require_any(caller)
    return caller


def _display_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise errors.MissingField("webhook.display_name")
    if len(name) > MAX_DISPLAY_NAME or not name.isprintable():
        raise errors.InvalidField(
            "webhook.display_name",
            f"webhook.display_name is up to {MAX_DISPLAY_NAME} printable characters",
        )
    return name


def _event_types(values: Iterable[int]) -> list[str]:
    names = []
    for i, value in enumerate(values):
        name = webhook_pb2.WebhookEventType.Name(value) if value in _KNOWN_EVENTS else ""
        if name not in FILTERABLE_EVENT_TYPES:
            raise errors.InvalidField(
                f"webhook.event_types[{i}]",
                f"webhook.event_types[{i}] must be one of {', '.join(FILTERABLE_EVENT_TYPES)}",
            )
        names.append(name)
    if not names:
        raise errors.MissingField("webhook.event_types")
    return list(dict.fromkeys(names))


_KNOWN_EVENTS = frozenset(webhook_pb2.WebhookEventType.values())


def _target_filter(value: str) -> str:
    pattern = value.strip()
    if pattern == "*":
        return ""
    if len(pattern) > MAX_TARGET_FILTER or not pattern.isprintable():
        raise errors.InvalidField(
            "webhook.target_filter",
            f"webhook.target_filter is a pattern of up to {MAX_TARGET_FILTER} characters",
        )
    return pattern


def _format(value: int) -> str:
    if value == webhook_pb2.WEBHOOK_FORMAT_UNSPECIFIED:
        return WebhookFormat.GENERIC
    if value not in webhook_pb2.WebhookFormat.values():
        raise errors.InvalidField("webhook.format", "webhook.format must be GENERIC or SLACK")
    return webhook_pb2.WebhookFormat.Name(value)


def _secret(value: str) -> str | None:
    if not value:
        return None
    low, high = SECRET_LENGTH
    if not low <= len(value) <= high or not value.isprintable():
        # The message never echoes the value.
        raise errors.InvalidField(
            "webhook.secret", f"webhook.secret is {low} to {high} printable characters"
        )
    return value


class WebhookServicer(webhook_pb2_grpc.WebhookServiceServicer):
    """The WebhookService RPCs (see the module docstring)."""

    def __init__(
        self,
        *,
        db: database.Database,
        policy: destinations.Policy,
        sealer: sealing.Sealer | None = None,
    ) -> None:
        self._db = db
        self._egress = policy
        self._sealer = sealer or sealing.Sealer()

    async def _url(self, value: str) -> str:
        destination = destinations.parse(value)
        await destinations.check_on_save(destination, self._egress, "webhook.url")
        return destination.url

    async def CreateWebhook(
        self, request: webhook_pb2.CreateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.Webhook:
        caller = _admin(context, "webhooks.create")
        if not request.HasField("webhook"):
            raise errors.MissingField("webhook")
        given = request.webhook
        display_name = _display_name(given.display_name)
        url = await self._url(given.url)
        async with self._db.connection() as conn:
            created = await webhooks.create(
                conn,
                display_name=display_name,
                url=url,
                event_types=_event_types(given.event_types),
                target_filter=_target_filter(given.target_filter),
                format=_format(given.format),
                secret=self._sealer.seal(_secret(given.secret)),
                enabled=given.enabled if given.HasField("enabled") else True,
                creator=caller.display_name,
            )
        log.info("webhook %s (%s, to %s) created by %s", created.name, display_name,
                 destinations.parse(url).host, caller.subject)  # fmt: skip
        return _webhook_to_proto(created, caller)

    async def GetWebhook(
        self, request: webhook_pb2.GetWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.Webhook:
        caller = _reader(context)
        webhook_id = webhooks.parse_name(request.name)
        async with self._db.connection() as conn:
            found = await webhooks.get(conn, webhook_id)
        return _webhook_to_proto(found, caller)

    async def ListWebhooks(
        self, request: webhook_pb2.ListWebhooksRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.ListWebhooksResponse:
        caller = _reader(context)
        size = pagination.page_size(request.page_size)
        position = pagination.decode(request.page_token, "webhooks")
        async with self._db.connection() as conn:
            page = await webhooks.list_page(conn, position, size)
        return webhook_pb2.ListWebhooksResponse(
            webhooks=[_webhook_to_proto(w, caller) for w in page.items],
            next_page_token=(
                pagination.encode(page.next_position, "webhooks") if page.next_position else ""
            ),
        )

    async def UpdateWebhook(
        self, request: webhook_pb2.UpdateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.Webhook:
        caller = _admin(context, "webhooks.update")
        if not request.HasField("webhook"):
            raise errors.MissingField("webhook")
        given = request.webhook
        webhook_id = webhooks.parse_name(given.name, "webhook.name")
        paths = list(request.update_mask.paths)
        if not paths:
            paths = [p for p in UPDATABLE if p not in ("secret", "enabled")]
            if given.HasField("enabled"):
                paths.append("enabled")
        changes: dict[str, object] = {}
        for path in dict.fromkeys(paths):
            if path == "display_name":
                changes[path] = _display_name(given.display_name)
            elif path == "url":
                changes[path] = await self._url(given.url)
            elif path == "event_types":
                changes[path] = _event_types(given.event_types)
            elif path == "target_filter":
                changes[path] = _target_filter(given.target_filter)
            elif path == "format":
                changes[path] = _format(given.format)
            elif path == "secret":
                changes[path] = self._sealer.seal(_secret(given.secret))
            elif path == "enabled":
                changes[path] = given.enabled
            else:
                raise errors.InvalidField(
                    "update_mask", f"update_mask may name {', '.join(UPDATABLE)}, not {path!r}"
                )
        async with self._db.connection() as conn:
            updated = await webhooks.update(conn, webhook_id, changes, given.etag)
        log.info("webhook %s updated (%s) by %s", updated.name, ", ".join(changes) or "nothing",
                 caller.subject)  # fmt: skip
        return _webhook_to_proto(updated, caller)

    async def DeleteWebhook(
        self, request: webhook_pb2.DeleteWebhookRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        caller = _admin(context, "webhooks.delete")
        webhook_id = webhooks.parse_name(request.name)
        async with self._db.connection() as conn:
            await webhooks.delete(conn, webhook_id)
        log.info("webhook %s deleted by %s", request.name, caller.subject)
        return empty_pb2.Empty()

    async def ListWebhookDeliveries(
        self,
        request: webhook_pb2.ListWebhookDeliveriesRequest,
        context: grpc.aio.ServicerContext,
    ) -> webhook_pb2.ListWebhookDeliveriesResponse:
        caller = _reader(context)
        webhook_id = webhooks.parse_name(request.parent, "parent")
        flt = filters.parse(request.filter, deliveries.FILTER_FIELDS)
        size = pagination.page_size(request.page_size)
        position = pagination.decode(request.page_token, flt.digest)
        async with self._db.connection() as conn:
            await webhooks.get(conn, webhook_id)  # NOT_FOUND first
            page = await deliveries.list_page(
                conn, webhook_id, flt, position, size, authz.visible_patterns(caller)
            )
        return webhook_pb2.ListWebhookDeliveriesResponse(
            deliveries=[_delivery_to_proto(d) for d in page.items],
            next_page_token=(
                pagination.encode(page.next_position, flt.digest) if page.next_position else ""
            ),
        )

    async def TestWebhook(
        self, request: webhook_pb2.TestWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.WebhookDelivery:
        caller = _admin(context, "webhooks.test")
        webhook_id = webhooks.parse_name(request.name)
        async with self._db.transaction() as conn:
            found = await webhooks.get(conn, webhook_id)
            if not found.enabled:
                raise pgsage_errors.FailedPrecondition(
                    f"{found.name} is disabled; enable it before testing it",
                    reason="WEBHOOK_DISABLED",
                    metadata={"resource": found.name},
                )
            delivery_id = await webhooks.ping(conn, webhook_id, caller.display_name)
            delivery = await deliveries.get(conn, webhook_id, delivery_id)
        log.info("webhook %s: test event queued by %s", found.name, caller.subject)
        return _delivery_to_proto(delivery)


def _webhook_to_proto(webhook: webhooks.Webhook, caller: Principal) -> webhook_pb2.Webhook:
    """The destination as `caller` may see it: never its secret; the whole URL for admins."""
    if caller.may_everywhere(Role.ADMIN):
        url = webhook.url
    else:
        try:
            url = destinations.parse(webhook.url).origin
        except pgsage_errors.PgsageError:
            url = ""
    return webhook_pb2.Webhook(
        name=webhook.name,
        display_name=webhook.display_name,
        url=url,
        event_types=[webhook_pb2.WebhookEventType.Value(t) for t in webhook.event_types],
        target_filter=webhook.target_filter,
        format=webhook_pb2.WebhookFormat.Value(webhook.format),
        has_secret=webhook.has_secret,
        enabled=webhook.enabled,
        creator=webhook.creator,
        create_time=_ts(webhook.create_time),
        update_time=_ts(webhook.update_time),
        etag=webhook.etag,
    )


def _delivery_to_proto(delivery: deliveries.Delivery) -> webhook_pb2.WebhookDelivery:
    message = webhook_pb2.WebhookDelivery(
        name=delivery.name,
        event_id=str(delivery.event_id),
        event_type=webhook_pb2.WebhookEventType.Value(delivery.event_type),
        target=delivery.target,
        resource=delivery.resource,
        state=webhook_pb2.WebhookDelivery.State.Value(delivery.state),
        create_time=_ts(delivery.create_time),
    )
    if delivery.state == "PENDING":
        message.next_attempt_time.CopyFrom(_ts(delivery.next_attempt_time))
    for attempt in delivery.attempts:
        took = duration_pb2.Duration()
        took.FromNanoseconds(int(attempt.duration_seconds * 1e9))
        message.attempts.append(
            webhook_pb2.WebhookDeliveryAttempt(
                number=attempt.number,
                time=_ts(attempt.time),
                delivered=attempt.delivered,
                http_status=attempt.http_status,
                error=attempt.error,
                duration=took,
            )
        )
    return message
