"""Identity and access in the browser, on a local-mode stack (no identity provider): the
header says who you are and that this is local mode; the audit page filters by actor,
target, action and time and pages through what the job service recorded; admins verify the
audit trail's hash chain (and it names a record altered in the store); API tokens are
created (the secret shown once), listed without their secret and revoked; an admin deletes a
job (its audit records stay); every write the page sends is JSON."""

from __future__ import annotations

import getpass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow

FLOW = Path(__file__).with_name("access_flow.mjs")
APPROVALS = 27  # on demo: more than the audit page's 25 a page
STAGING_APPROVALS = 3


@pytest.fixture(scope="module")
async def stack(built_ui, demo_dsn):
    async with pgsage_stack.job_store("pgsage_e2e") as store:
        async with pgsage_stack.optimizer(pgsage_stack.demo_targets(demo_dsn)) as optimizer:
            address = optimizer.address
            async with pgsage_stack.job_service(store, optimizer_address=address) as service:
                async with pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway:
                    job = await approve_some(store, gateway.url)
                    yield store, gateway, job


async def approve_some(store: str, url: str) -> str:
    """Approvals through the REST API, as the local user: 27 on demo, 3 on staging, of one
    finished job (returned)."""
    async with httpx.AsyncClient(base_url=url) as client:
        created = await client.post("/v1/jobs", json={"target": "demo"})
        assert created.status_code == 200, created.text
        job = created.json()["name"]
        for i in range(APPROVALS + STAGING_APPROVALS):
            target = "demo" if i < APPROVALS else "staging"
            name = await pgsage_stack.seed_suggestion(store, job, column=f"c{i}", target=target)
            etag = (await client.get(f"/v1/{name}")).json()["etag"]
            approved = await client.post(f"/v1/{name}:approve", json={"etag": etag})
            assert approved.status_code == 200, approved.text
        await pgsage_stack.finish_job(store, job)
    return job


async def test_local_mode_header_audit_page_and_api_tokens(stack):
    _, gateway, job = stack
    env = {
        "JOB": job,
        "PGSAGE_USER": getpass.getuser(),
        "APPROVALS": str(APPROVALS),
        "STAGING_APPROVALS": str(STAGING_APPROVALS),
    }
    output = await run_flow("local", gateway.url, script=FLOW, env=env)
    assert "flow local passed" in output


async def test_verify_chain_names_a_record_altered_in_the_store(stack):
    store, gateway, _ = stack

    async def on_request(verb: str, record: str) -> None:
        assert verb == "tamper", verb
        conn = await asyncpg.connect(store)
        try:
            changed = await conn.execute(
                "UPDATE audit_record SET detail = 'nothing to see' WHERE id = $1",
                record.removeprefix("auditRecords/"),
            )
            assert changed == "UPDATE 1", changed
        finally:
            await conn.close()

    output = await run_flow("verify", gateway.url, on_request, script=FLOW)
    assert "flow verify passed" in output
