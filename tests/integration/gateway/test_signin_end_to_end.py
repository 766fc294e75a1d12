"""Sign-in end to end: the test OpenID provider, a gateway signing people in, and the real job
service verifying the ID token the gateway forwards (issuer, audience = the gateway's client
id, signature by the provider's JWKS) and mapping its `groups` claim to roles."""

from __future__ import annotations

import httpx
import pytest

from tests.support import stack as pgsage_stack
from tests.support.oidc import (
    CLIENT_ID,
    error_of,
    oidc_provider,
    oidc_settings,
    sign_in_without_a_browser,
)

BINDINGS = [
    {"group": "reviewers", "role": "REVIEWER", "targets": "*"},
    {"group": "operators", "role": "OPERATOR", "targets": "*"},
]


@pytest.fixture(scope="module")
async def signed_stack():
    port = pgsage_stack.free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        oidc_provider(f"{base}/auth/callback") as provider,
        pgsage_stack.job_store() as store,
        pgsage_stack.job_service(
            store,
            oidc_issuer=provider.issuer,
            oidc_audience=CLIENT_ID,
            role_bindings=BINDINGS,
        ) as service,
        pgsage_stack.gateway(
            service.address, http_port=port, **oidc_settings(provider.issuer, base)
        ) as gateway,
    ):
        yield store, gateway


async def test_the_job_service_knows_who_signed_in_and_what_they_may_do(signed_stack):
    store, gateway = signed_stack
    origin = {"Origin": gateway.url}
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=20) as rita,
        httpx.AsyncClient(base_url=gateway.url, timeout=20) as otto,
        httpx.AsyncClient(base_url=gateway.url, timeout=20) as nobody,
    ):
        anonymous = await nobody.get("/v1/jobs")
        assert error_of(anonymous)[:2] == (401, "UNAUTHENTICATED")

        await sign_in_without_a_browser(rita, "rita-reviewer")
        await sign_in_without_a_browser(otto, "otto-operator")
        caller = (await rita.get("/v1/caller")).json()
        assert caller["subject"] == "rita-reviewer" and caller["authMethod"] == "OIDC"
        assert {b["role"] for b in caller["roleBindings"]} == {"REVIEWER"}

        # Analysing is an operator's; a reviewer is refused by the job service, not the gateway.
        refused = await rita.post("/v1/jobs", json={"target": "demo"}, headers=origin)
        assert error_of(refused)[:2] == (403, "PERMISSION_DENIED")
        created = await otto.post("/v1/jobs", json={"target": "demo"}, headers=origin)
        assert created.status_code == 200, created.text
        job = created.json()
        name = await pgsage_stack.seed_suggestion(store, job["name"], column="status")

        # A cross-origin page cannot use Rita's session; her own page can.
        forged = await rita.post(
            f"/v1/{name}:approve", json={}, headers={"Origin": "http://evil.example"}
        )
        assert error_of(forged)[:3] == (403, "PERMISSION_DENIED", "CROSS_ORIGIN_REQUEST")
        approved = await rita.post(f"/v1/{name}:approve", json={}, headers=origin)
        assert approved.status_code == 200 and approved.json()["state"] == "APPROVED"
        trail = await rita.get("/v1/auditRecords", params={"filter": f'resource = "{name}"'})
        [record] = trail.json()["auditRecords"]
        assert record["action"] == "suggestion.approve" and record["authenticated"] is True
        assert record["actor"] == "Rita"

        # The change stream goes through with the session's token too.
        async with rita.stream("GET", f"/v1/{job['name']}/events") as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    break
