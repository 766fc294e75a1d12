"""The issue's browser scenario, signed in through a real OpenID provider (`oidc-provider`,
tests/oidc/provider.mjs, its login page driven by Chromium): a reviewer can approve but not
apply (the button is disabled, and the job service refuses); an operator, another identity,
applies what the reviewer approved; on a two-person target the operator cannot apply what
they approved themselves (disabled in the UI, refused with TWO_PERSON_RULE by the server)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, oidc_provider

FLOW = Path(__file__).with_name("access_flow.mjs")
# Groups the provider gives ("rita-reviewer" -> reviewers) mapped to roles; demo needs two people.
ROLE_BINDINGS = [
    {"group": "reviewers", "role": "REVIEWER", "targets": "*"},
    {"group": "operators", "role": "OPERATOR", "targets": "*"},
]


@pytest.fixture(scope="module")
async def signed_in_stack(built_ui, demo_dsn):
    port = pgsage_stack.free_port()
    public_url = f"http://127.0.0.1:{port}"
    async with oidc_provider(f"{public_url}/auth/callback") as provider:
        issuer = provider.issuer
        async with pgsage_stack.job_store("pgsage_e2e") as store:
            async with pgsage_stack.optimizer(pgsage_stack.demo_targets(demo_dsn)) as optimizer:
                async with pgsage_stack.job_service(
                    store,
                    optimizer_address=optimizer.address,
                    oidc_issuer=issuer,
                    oidc_audience=CLIENT_ID,
                    role_bindings=ROLE_BINDINGS,
                    two_person_targets=["demo"],
                ) as service:
                    async with pgsage_stack.gateway(
                        service.address,
                        ui_dir=built_ui,
                        http_port=port,
                        public_url=public_url,
                        oidc_issuer=issuer,
                        oidc_client_id=CLIENT_ID,
                        oidc_client_secret=CLIENT_SECRET,
                        session_secret=secrets.token_urlsafe(32),
                    ) as gateway:
                        assert gateway.url.rstrip("/") == public_url
                        yield store, gateway


async def test_reviewer_approves_operator_applies_two_person_rule_holds(signed_in_stack):
    store, gateway = signed_in_stack

    async def on_request(verb: str, job: str) -> None:
        assert verb == "run", verb
        # The dispatcher's part: the analysis Otto started finds three suggestions.
        await pgsage_stack.seed_suggestion(store, job, column="customer_id")
        await pgsage_stack.seed_suggestion(
            store, job, table="public.order_items", column="order_id"
        )
        await pgsage_stack.seed_suggestion(store, job, table="public.events", column="kind")
        await pgsage_stack.finish_job(store, job)

    output = await run_flow("oidc", gateway.url, on_request, script=FLOW)
    assert "flow oidc passed" in output
