"""Webhooks against a local receiver: events written with the change that causes them,
POSTed by any of two job-service replicas exactly once, retried after failures with each
attempt recorded, signed with the destination's secret, in GENERIC or Slack shape; the
secret never in a response or a log line; URLs checked.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from prometheus_client import REGISTRY

from job_service import app, ending, webhooks
from pgsage.jobs.v1 import webhook_pb2, webhook_pb2_grpc
from tests.support.receiver import receiver

SECRET = "whsec-4f1e8c0b9a7d6e5f"
FAST = {
    "webhook_timeout": timedelta(seconds=0.5),
    "webhook_retry_backoff": timedelta(milliseconds=50),
    "webhook_max_retry_backoff": timedelta(milliseconds=200),
    "webhook_poll_interval": timedelta(milliseconds=50),
    "webhook_max_attempts": 5,
    "public_url": "https://pgsage.example.com",
}
Delivery = webhook_pb2.WebhookDelivery


@pytest.fixture(scope="module")
async def replicas(module_db, settings_for) -> AsyncIterator[list[app.RunningService]]:
    """Two job services on one store, both sending webhooks (local mode)."""
    started = [await app.start(settings_for(module_db, **FAST)) for _ in range(2)]
    yield started
    for running in started:
        await running.stop(0.5)


@pytest.fixture(scope="module")
def service(replicas) -> app.RunningService:
    """Jobs are created through the first replica: the folder's own `service` would be a
    third sender on the store, without the public URL, racing the replicas for deliveries."""
    return replicas[0]


@pytest.fixture(scope="module")
async def hooks(replicas) -> AsyncIterator[webhook_pb2_grpc.WebhookServiceStub]:
    async with grpc.aio.insecure_channel(replicas[0].address) as channel:
        yield webhook_pb2_grpc.WebhookServiceStub(channel)


@pytest.fixture
async def made(hooks) -> AsyncIterator[list[str]]:
    """Names of webhooks a test created; deleted after it, so later events skip them."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            await hooks.DeleteWebhook(webhook_pb2.DeleteWebhookRequest(name=name))
        except grpc.aio.AioRpcError:
            pass


async def _hook(hooks, made, url: str, events, **fields) -> webhook_pb2.Webhook:
    created = await hooks.CreateWebhook(
        webhook_pb2.CreateWebhookRequest(
            webhook=webhook_pb2.Webhook(
                display_name=fields.pop("display_name", "dba"),
                url=url,
                event_types=events,
                **fields,
            )
        )
    )
    made.append(created.name)
    return created


async def _end(db, job_name: str, state: str, message: str = "") -> None:
    """Ends a job as its runner does (one UPDATE of its state, the error kept)."""
    error = ending.make_status(9, "CHANGE_NOT_DONE", message) if message else None
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE job SET state = $2, error = $3, end_time = now(), revision = revision + 1 "
            "WHERE id = $1",
            uuid.UUID(job_name.split("/")[1]),
            state,
            error,
        )


def _attempts(outcome: str) -> float:
    found = REGISTRY.get_sample_value(
        "pgsage_webhook_delivery_attempts_total", {"outcome": outcome}
    )
    return found or 0.0


async def _deliveries(hooks, name: str) -> list[Delivery]:
    answer = await hooks.ListWebhookDeliveries(
        webhook_pb2.ListWebhookDeliveriesRequest(parent=name, page_size=1000)
    )
    return list(answer.deliveries)


async def test_delivered_after_failures_with_every_attempt_recorded_and_signed(
    hooks, made, create, db, eventually, caplog
):
    caplog.set_level(logging.DEBUG)
    before = {o: _attempts(o) for o in ("DELIVERED", "RETRY", "FAILED")}
    async with receiver() as rx:
        rx.script = ["500", "503", "hang"]  # then 200
        hook = await _hook(
            hooks, made, rx.url, [webhook_pb2.JOB_FAILED], secret=SECRET, target_filter="demo"
        )
        assert hook.has_secret and not hook.secret and SECRET not in str(hook)
        job = await create("demo")
        other = await create("elsewhere")  # outside the target filter: nothing sent
        await _end(db, job.name, "FAILED", "the index build ran past its timeout")
        await _end(db, other.name, "FAILED", "no")

        async def delivered() -> bool:
            found = await _deliveries(hooks, hook.name)
            return len(found) == 1 and found[0].state == Delivery.DELIVERED

        await eventually(delivered)
        (delivery,) = await _deliveries(hooks, hook.name)
        attempts = [(a.number, a.delivered, a.http_status, a.error) for a in delivery.attempts]
        assert attempts == [
            (1, False, 500, "HTTP 500"),
            (2, False, 503, "HTTP 503"),
            (3, False, 0, "timed out after 0.5 s"),
            (4, True, 200, ""),
        ]
        assert delivery.event_type == webhook_pb2.JOB_FAILED
        assert delivery.resource == job.name and delivery.target == "demo"
        # pgsage_webhook_delivery_attempts_total (both replicas run in this process).
        assert {o: _attempts(o) - n for o, n in before.items()} == {
            "DELIVERED": 1,
            "RETRY": 3,
            "FAILED": 0,
        }

        # Four POSTs of one event, each signed with the secret over its own timestamp.
        assert len(rx.received) == 4
        assert {r.headers["x-pgsage-event-id"] for r in rx.received} == {delivery.event_id}
        assert all(r.signed_with(SECRET) for r in rx.received)
        assert not rx.received[0].signed_with(SECRET + "x")
        body = rx.received[-1].json
        assert body["type"] == "JOB_FAILED" and body["resource"] == job.name
        assert body["data"]["job"]["state"] == "FAILED"
        assert body["data"]["error"]["message"] == "the index build ran past its timeout"
        assert body["text"] == (
            "pgsage: analyze job on demo failed: the index build ran past its timeout"
        )
        assert body["url"] == f"https://pgsage.example.com/{job.name}"
    assert SECRET not in caplog.text


async def test_new_suggestions_in_slack_shape_and_none_for_known_ones(
    hooks, made, create, seed, db, eventually
):
    async with receiver() as rx:
        hook = await _hook(
            hooks,
            made,
            rx.url,
            [webhook_pb2.ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS],
            format=webhook_pb2.SLACK,
        )
        fresh = await create("demo")
        await seed(fresh.name, title="Index on public.orders (customer_id)")
        await seed(fresh.name, title="Known one", state="DISMISSED", prior_decision="jobs/x")
        await _end(db, fresh.name, "SUCCEEDED")
        known = await create("demo")  # only suggestions with earlier decisions: no event
        await seed(known.name, title="Known again", state="APPROVED", prior_decision="jobs/y")
        await _end(db, known.name, "SUCCEEDED")
        empty = await create("demo")
        await _end(db, empty.name, "SUCCEEDED")

        async def sent() -> bool:
            found = await _deliveries(hooks, hook.name)
            return bool(found) and all(d.state == Delivery.DELIVERED for d in found)

        await eventually(sent)
        assert [d.resource for d in await _deliveries(hooks, hook.name)] == [fresh.name]
        (post,) = rx.received
        assert post.json == {
            "text": "pgsage: the analysis of demo found 1 new suggestion: Index on public.orders "
            f"(customer_id) <https://pgsage.example.com/{fresh.name}|{fresh.name}>"
        }
        assert "x-pgsage-signature" not in post.headers  # no secret: not signed


async def test_two_replicas_send_each_event_once(hooks, made, create, db, eventually):
    async with receiver() as rx:
        hook = await _hook(hooks, made, rx.url, [webhook_pb2.JOB_FAILED])
        names = [(await create("demo")).name for _ in range(30)]
        for name in names:
            await _end(db, name, "FAILED", "broken")

        async def all_sent() -> bool:
            found = await _deliveries(hooks, hook.name)
            return len(found) == 30 and all(d.state == Delivery.DELIVERED for d in found)

        await eventually(all_sent)
        assert sorted(r.json["resource"] for r in rx.received) == sorted(names)
        assert all(len(d.attempts) == 1 for d in await _deliveries(hooks, hook.name))


async def test_emit_joins_the_callers_transaction(replicas, hooks, made, db, eventually):
    """What the verification's verdicts use: nothing is sent unless the caller commits."""
    async with receiver() as rx:
        hook = await _hook(
            hooks, made, rx.url, [webhook_pb2.REGRESSION], secret=SECRET, target_filter="prod-*"
        )
        payload = {"text": "pgsage: an index made 2 queries slower on prod-eu", "verdict": "X"}
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                queued = await webhooks.emit(conn, "REGRESSION", "prod-eu", payload)
                assert queued == 1
                raise RuntimeError("the verification's transaction rolls back")
        async with db.transaction() as conn:
            assert await webhooks.emit(conn, "REGRESSION", "staging", payload) == 0
            assert await webhooks.emit(conn, "ROLLBACK_BY_POLICY", "prod-eu", payload) == 0
            assert (
                await webhooks.emit(
                    conn, "REGRESSION", "prod-eu", payload, resource="jobs/a/suggestions/b"
                )
                == 1
            )

        async def sent() -> bool:
            return len(rx.received) == 1 and (await _deliveries(hooks, hook.name))[0].state == 2

        await eventually(sent)
        body = rx.received[0].json
        assert body["text"] == payload["text"]
        assert body["data"] == {"verdict": "X"} and body["resource"] == "jobs/a/suggestions/b"
        assert rx.received[0].signed_with(SECRET)


async def test_give_up_on_answers_not_worth_another_try_and_after_the_last_attempt(
    hooks, made, create, db, eventually
):
    async with receiver() as gone, receiver() as broken:
        gone.script = ["404"]
        broken.script = ["500"] * 10
        not_found = await _hook(hooks, made, gone.url, [webhook_pb2.JOB_FAILED])
        failing = await _hook(hooks, made, broken.url, [webhook_pb2.JOB_FAILED])
        await _end(db, (await create("demo")).name, "FAILED", "x")

        async def settled() -> bool:
            a = await _deliveries(hooks, not_found.name)
            b = await _deliveries(hooks, failing.name)
            return bool(a and b) and a[0].state == b[0].state == Delivery.FAILED

        await eventually(settled)
        (a,) = await _deliveries(hooks, not_found.name)
        assert [x.error for x in a.attempts] == ["HTTP 404: not retried"]
        (b,) = await _deliveries(hooks, failing.name)
        assert [x.http_status for x in b.attempts] == [500] * 5  # webhook_max_attempts
        failed = await hooks.ListWebhookDeliveries(
            webhook_pb2.ListWebhookDeliveriesRequest(parent=failing.name, filter="state = FAILED")
        )
        assert len(failed.deliveries) == 1


async def test_crud_test_ping_etags_and_the_secret_write_only(hooks, made, eventually, caplog):
    caplog.set_level(logging.DEBUG)
    async with receiver() as rx:
        slack_like = rx.url + "/T000/B000/XXXXsecretpath"
        hook = await _hook(hooks, made, rx.url, [webhook_pb2.JOB_FAILED], secret=SECRET)
        assert hook.enabled and hook.format == webhook_pb2.GENERIC and hook.url == rx.url
        got = await hooks.GetWebhook(webhook_pb2.GetWebhookRequest(name=hook.name))
        listed = await hooks.ListWebhooks(webhook_pb2.ListWebhooksRequest())
        assert hook.name in [w.name for w in listed.webhooks]
        for message in (got, listed):
            assert SECRET not in str(message) and SECRET not in message.SerializeToString().decode(
                errors="replace"
            )

        ping = await hooks.TestWebhook(webhook_pb2.TestWebhookRequest(name=hook.name))
        assert ping.event_type == webhook_pb2.PING and ping.state == Delivery.PENDING

        async def pinged() -> bool:
            return len(rx.received) == 1

        await eventually(pinged)
        assert rx.received[0].signed_with(SECRET)
        assert rx.received[0].json["type"] == "PING"

        # Rotate the secret (write-only: the answer says only that one is set).
        rotated = await hooks.UpdateWebhook(
            webhook_pb2.UpdateWebhookRequest(
                webhook=webhook_pb2.Webhook(name=hook.name, secret=SECRET + "-2", etag=got.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["secret"]),
            )
        )
        assert rotated.has_secret and SECRET not in str(rotated)
        with pytest.raises(grpc.aio.AioRpcError) as stale:
            await hooks.UpdateWebhook(
                webhook_pb2.UpdateWebhookRequest(
                    webhook=webhook_pb2.Webhook(name=hook.name, enabled=False, etag=got.etag),
                    update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
                )
            )
        assert stale.value.code() == grpc.StatusCode.ABORTED
        changed = await hooks.UpdateWebhook(
            webhook_pb2.UpdateWebhookRequest(
                webhook=webhook_pb2.Webhook(
                    name=hook.name,
                    url=slack_like,
                    enabled=False,
                    format=webhook_pb2.SLACK,
                    event_types=[webhook_pb2.JOB_FAILED, webhook_pb2.REGRESSION],
                ),
                update_mask=field_mask_pb2.FieldMask(
                    paths=["url", "enabled", "format", "event_types"]
                ),
            )
        )
        assert not changed.enabled and changed.format == webhook_pb2.SLACK
        assert list(changed.event_types) == [webhook_pb2.JOB_FAILED, webhook_pb2.REGRESSION]
        with pytest.raises(grpc.aio.AioRpcError) as disabled:
            await hooks.TestWebhook(webhook_pb2.TestWebhookRequest(name=hook.name))
        assert disabled.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        await hooks.DeleteWebhook(webhook_pb2.DeleteWebhookRequest(name=hook.name))
        for call in (
            hooks.GetWebhook(webhook_pb2.GetWebhookRequest(name=hook.name)),
            hooks.ListWebhookDeliveries(webhook_pb2.ListWebhookDeliveriesRequest(parent=hook.name)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await call
            assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert SECRET not in caplog.text and "XXXXsecretpath" not in caplog.text


_MISSING, _INVALID = "REQUIRED_FIELD_MISSING", "INVALID_FIELD"


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"url": "ftp://example.com/x"}, "webhook.url", _INVALID),
        ({"url": "https://"}, "webhook.url", _INVALID),
        ({"url": "https://user:pw@example.com/x"}, "webhook.url", _INVALID),
        ({"url": "https://example.com/x#frag"}, "webhook.url", _INVALID),
        ({"url": "https://example.com/" + "a" * 2100}, "webhook.url", _INVALID),
        ({"url": ""}, "webhook.url", _MISSING),
        ({"display_name": ""}, "webhook.display_name", _MISSING),
        ({"event_types": []}, "webhook.event_types", _MISSING),
        ({"event_types": [webhook_pb2.PING]}, "webhook.event_types[0]", _INVALID),
        ({"event_types": [webhook_pb2.JOB_FAILED, 99]}, "webhook.event_types[1]", _INVALID),
        ({"secret": "short-secret"}, "webhook.secret", _INVALID),
        ({"format": 7}, "webhook.format", _INVALID),
    ],
)
async def test_bad_destinations_are_refused_naming_the_field(
    hooks, expect_error, fields, field, reason
):
    values = {
        "display_name": "x",
        "url": "https://hooks.example.com/pgsage",
        "event_types": [webhook_pb2.JOB_FAILED],
        **fields,
    }
    call = hooks.CreateWebhook(webhook_pb2.CreateWebhookRequest(webhook=values))
    metadata = await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert metadata["field"] == field
    assert "short-secret" not in str(metadata)
