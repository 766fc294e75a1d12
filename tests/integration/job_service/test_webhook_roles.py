"""Who may do what with webhooks, with an identity provider configured: admins of every
target manage them; every role lists them without secrets and sees URLs only to the host;
deliveries show only for targets the caller may view; the egress policy refuses private,
loopback and link-local addresses unless a network is allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import grpc
import pytest

from job_service import app, webhooks
from pgsage import errors, rpc
from pgsage.jobs.v1 import webhook_pb2, webhook_pb2_grpc
from tests.support.issuer import Issuer
from tests.support.receiver import receiver

SECRET = "whsec-only-admins-set-this"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture(scope="module")
async def hooks(
    module_db, settings_for, issuer
) -> AsyncIterator[webhook_pb2_grpc.WebhookServiceStub]:
    settings = settings_for(
        module_db,
        oidc_issuer=issuer.url,
        oidc_audience=issuer.audience,
        role_bindings=[
            {"group": "dba", "role": "ADMIN", "targets": "*"},
            {"group": "staging-admins", "role": "ADMIN", "targets": "staging-*"},
            {"group": "ops", "role": "OPERATOR", "targets": "*"},
            {"group": "staging-viewers", "role": "VIEWER", "targets": "staging-*"},
        ],
        # The receiver listens on loopback; [::1] and the rest stay refused.
        webhook_allowed_networks=["127.0.0.0/8"],
        webhook_poll_interval=timedelta(milliseconds=50),
    )
    running = await app.start(settings)
    async with grpc.aio.insecure_channel(running.address) as channel:
        yield webhook_pb2_grpc.WebhookServiceStub(channel)
    await running.stop(0.5)


async def _code(call) -> tuple[grpc.StatusCode, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), errors.from_status(rpc.status_of(caught.value))[1]


def _new(url: str, **fields) -> webhook_pb2.CreateWebhookRequest:
    return webhook_pb2.CreateWebhookRequest(
        webhook=webhook_pb2.Webhook(
            display_name="chat", url=url, event_types=[webhook_pb2.REGRESSION], **fields
        )
    )


async def test_admins_manage_every_role_reads_without_secrets(hooks, issuer, db, eventually):
    admin = issuer.bearer("dana", groups=["dba"], name="Dana")
    staging_admin = issuer.bearer("sam", groups=["staging-admins"])
    operator = issuer.bearer("otto", groups=["ops"])
    viewer = issuer.bearer("vic", groups=["staging-viewers"])
    nobody = issuer.bearer("nina", groups=[])

    async with receiver(path="/services/T0/B0/tokenInThePath") as rx:
        for who in (staging_admin, operator, viewer):
            code, metadata = await _code(hooks.CreateWebhook(_new(rx.url), metadata=who))
            assert code == grpc.StatusCode.PERMISSION_DENIED
            assert metadata["permission"] == "webhooks.create"
        code, _ = await _code(
            hooks.ListWebhooks(webhook_pb2.ListWebhooksRequest(), metadata=nobody)
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED

        hook = await hooks.CreateWebhook(_new(rx.url, secret=SECRET), metadata=admin)
        assert hook.url == rx.url and hook.creator == "Dana" and hook.has_secret

        for who in (operator, viewer, staging_admin):
            listed = await hooks.ListWebhooks(webhook_pb2.ListWebhooksRequest(), metadata=who)
            (seen,) = [w for w in listed.webhooks if w.name == hook.name]
            assert seen.url == rx.url.split("/services")[0] + "/…"
            assert seen.has_secret and SECRET not in str(listed)
            got = await hooks.GetWebhook(
                webhook_pb2.GetWebhookRequest(name=hook.name), metadata=who
            )
            assert "tokenInThePath" not in str(got)
            for call in (
                hooks.DeleteWebhook(webhook_pb2.DeleteWebhookRequest(name=hook.name), metadata=who),
                hooks.TestWebhook(webhook_pb2.TestWebhookRequest(name=hook.name), metadata=who),
                hooks.UpdateWebhook(
                    webhook_pb2.UpdateWebhookRequest(
                        webhook=webhook_pb2.Webhook(name=hook.name, enabled=False)
                    ),
                    metadata=who,
                ),
            ):
                assert (await _code(call))[0] == grpc.StatusCode.PERMISSION_DENIED

        # Deliveries show for the targets the caller may view.
        async with db.transaction() as conn:
            await webhooks.emit(conn, "REGRESSION", "prod-eu", {"text": "prod"})
            await webhooks.emit(conn, "REGRESSION", "staging-1", {"text": "staging"})

        async def both_sent() -> bool:
            return len(rx.received) == 2

        await eventually(both_sent)
        request = webhook_pb2.ListWebhookDeliveriesRequest(parent=hook.name)
        every = await hooks.ListWebhookDeliveries(request, metadata=admin)
        assert sorted(d.target for d in every.deliveries) == ["prod-eu", "staging-1"]
        some = await hooks.ListWebhookDeliveries(request, metadata=viewer)
        assert [d.target for d in some.deliveries] == ["staging-1"]
        assert all(r.signed_with(SECRET) for r in rx.received)

        await hooks.DeleteWebhook(webhook_pb2.DeleteWebhookRequest(name=hook.name), metadata=admin)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://10.1.2.3:8080/hook",
        "http://192.168.0.10/hook",
        "http://[::1]:9000/hook",
        "http://[::ffff:169.254.169.254]/x",
        "http://0.0.0.0:8080/",
        "http://224.0.0.1/",
    ],
)
async def test_private_loopback_and_link_local_addresses_are_refused(hooks, issuer, url):
    admin = issuer.bearer("dana", groups=["dba"])
    code, metadata = await _code(hooks.CreateWebhook(_new(url), metadata=admin))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata["field"] == "webhook.url"


async def test_a_name_that_does_not_resolve_is_checked_again_before_each_post(
    hooks, issuer, db, eventually
):
    """A name that does not resolve yet is accepted at creation (it may be set up later); the
    sender resolves and checks it before every POST and records why nothing was sent."""
    admin = issuer.bearer("dana", groups=["dba"])
    hook = await hooks.CreateWebhook(_new("http://unresolvable.invalid/hook"), metadata=admin)
    async with db.transaction() as conn:
        assert await webhooks.emit(conn, "REGRESSION", "prod", {"text": "x"}) == 1

    async def tried() -> bool:
        found = await hooks.ListWebhookDeliveries(
            webhook_pb2.ListWebhookDeliveriesRequest(parent=hook.name), metadata=admin
        )
        return bool(found.deliveries and found.deliveries[0].attempts)

    await eventually(tried)
    found = await hooks.ListWebhookDeliveries(
        webhook_pb2.ListWebhookDeliveriesRequest(parent=hook.name), metadata=admin
    )
    assert found.deliveries[0].attempts[0].error == "not sent: its host name does not resolve"
    await hooks.DeleteWebhook(webhook_pb2.DeleteWebhookRequest(name=hook.name), metadata=admin)
