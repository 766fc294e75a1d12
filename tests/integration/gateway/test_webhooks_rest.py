"""The WebhookService over REST: `/v1/webhooks...` routes from its annotations, the secret
never in a response, errors as AIP-193 bodies naming the field, a test event delivered."""

from __future__ import annotations

import asyncio

from tests.support.receiver import receiver
from tests.support.stack import error_of

SECRET = "rest-secret-0123456789"


async def test_webhooks_over_rest(http):
    async with receiver() as rx:
        created = await http.post(
            "/v1/webhooks",
            json={
                "displayName": "ops chat",
                "url": rx.url,
                "eventTypes": ["JOB_FAILED", "ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS"],
                "format": "SLACK",
                "secret": SECRET,
            },
        )
        assert created.status_code == 200, created.text
        hook = created.json()
        assert hook["hasSecret"] is True and hook["enabled"] is True
        assert hook["format"] == "SLACK" and "secret" not in hook
        name = hook["name"]

        responses = [
            created,
            await http.get(f"/v1/{name}"),
            await http.get("/v1/webhooks"),
            await http.patch(
                f"/v1/{name}",
                params={"updateMask": "displayName,targetFilter"},
                json={"displayName": "ops", "targetFilter": "prod-*", "etag": hook["etag"]},
            ),
        ]
        for response in responses:
            assert response.status_code == 200, response.text
            assert SECRET not in response.text
        assert responses[-1].json()["targetFilter"] == "prod-*"

        tested = await http.post(f"/v1/{name}:test", json={})
        assert tested.status_code == 200, tested.text
        assert tested.json()["eventType"] == "PING"
        for _ in range(200):
            listed = (await http.get(f"/v1/{name}/deliveries")).json()
            if listed["deliveries"][0]["state"] == "DELIVERED":
                break
            await asyncio.sleep(0.05)
        (delivery,) = listed["deliveries"]
        assert delivery["state"] == "DELIVERED"
        assert delivery["attempts"][0]["httpStatus"] == 200
        assert set(rx.received[0].json) == {"text"} and rx.received[0].signed_with(SECRET)

        bad = await http.post(
            "/v1/webhooks",
            json={"displayName": "x", "url": "gopher://example.com", "eventTypes": ["JOB_FAILED"]},
        )
        status, code, reason, metadata = error_of(bad)
        assert (status, code, reason, metadata["field"]) == (
            400,
            "INVALID_ARGUMENT",
            "INVALID_FIELD",
            "webhook.url",
        )
        filtered = await http.get(f"/v1/{name}/deliveries", params={"filter": "state = NOPE"})
        assert error_of(filtered)[:3] == (400, "INVALID_ARGUMENT", "INVALID_FILTER")

        assert (await http.delete(f"/v1/{name}")).status_code == 200
        gone = await http.get(f"/v1/{name}")
        assert error_of(gone)[:3] == (404, "NOT_FOUND", "WEBHOOK_NOT_FOUND")


async def test_the_openapi_document_describes_the_webhook_routes(http):
    document = (await http.get("/openapi.json")).json()
    assert document["paths"]["/v1/webhooks/{webhook}/deliveries"]["get"]["tags"] == [
        "WebhookService"
    ]
    webhook = document["components"]["schemas"]["pgsage.jobs.v1.Webhook"]
    assert webhook["properties"]["hasSecret"]["readOnly"] is True
