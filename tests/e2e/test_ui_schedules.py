"""The Schedules page (create, refusal next to the field, pause, resume, delete) and an
analysis's comparison with the previous one (counts, what is gone, the "new since last
analysis" badge), in the browser on the built UI.

The dispatcher is paused; the test stores two finished analyses of the demo target as the
dispatcher would, the second with its comparison and its new suggestion flagged.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from pgsage.jobs.v1 import job_pb2
from tests.support import schedules as support
from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow

FLOW = Path(__file__).with_name("schedules_flow.mjs")


@pytest.fixture(scope="module")
async def stack(built_ui):
    async with (
        pgsage_stack.job_store("pgsage_e2e_sched") as store,
        support.known_targets(["demo"]) as optimizer,
        pgsage_stack.job_service(store, optimizer_address=optimizer) as service,
        pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway,
    ):
        yield store, gateway


async def test_schedules_page_and_what_is_new_since_the_last_analysis(stack):
    store, gateway = stack
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        first = (await client.post("/v1/jobs", json={"target": "demo"})).json()["name"]
        second = (await client.post("/v1/jobs", json={"target": "demo"})).json()["name"]
    kept = uuid.uuid4().hex
    gone = await pgsage_stack.seed_suggestion(
        store, first, table="public.payments", column="order_id"
    )
    await pgsage_stack.seed_suggestion(store, first, fingerprint=kept)
    await pgsage_stack.seed_suggestion(store, second, fingerprint=kept)
    fresh = uuid.uuid4().hex
    await pgsage_stack.seed_suggestion(
        store, second, fingerprint=fresh, table="public.events", column="kind"
    )
    comparison = job_pb2.AnalysisComparison(
        previous_job=first, new_count=1, gone_count=1, unchanged_count=1,
        new_fingerprints=[fresh],
        gone=[job_pb2.ComparedSuggestion(
            fingerprint="f", suggestion=gone, title="Index on public.payments (order_id)",
            kind="CREATE_INDEX", previous_improvement_percent=12.5,
        )],
    )  # fmt: skip
    for job in (first, second):
        await pgsage_stack.finish_job(store, job)
    conn = await asyncpg.connect(store)
    try:
        await conn.execute(
            "UPDATE job SET summary = $2 WHERE id = $1",
            uuid.UUID(second.split("/")[1]),
            job_pb2.Summary(comparison=comparison).SerializeToString(),
        )
        await conn.execute(
            "UPDATE suggestion SET new_since_last_analysis = true WHERE fingerprint = $1", fresh
        )
    finally:
        await conn.close()
    await run_flow("schedules", gateway.url, script=FLOW, env={"PGSAGE_COMPARED": second})
