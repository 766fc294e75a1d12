"""The browser tells the person when a job they watch finishes (a toast, and the Notification
API when allowed), and the Webhooks page adds a destination: the built UI on a real stack
with the dispatcher paused, jobs ended by the test when the flow asks (`notify_flow.mjs`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import pg
from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow

FLOW = Path(__file__).with_name("notify_flow.mjs")


@pytest.fixture(scope="module")
async def stack(built_ui):
    # A reachable target (an empty database): nothing runs on it, the dispatcher is paused.
    async with pg.database("pgsage_e2e_notify_target") as target:
        targets = pgsage_stack.demo_targets(pg.dsn_for(target))
        async with pgsage_stack.job_store("pgsage_e2e") as store:
            async with pgsage_stack.optimizer(targets) as optimizer:
                address = optimizer.address
                async with pgsage_stack.job_service(store, optimizer_address=address) as service:
                    async with pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway:
                        yield store, gateway


async def test_a_watched_job_that_finishes_shows_a_toast(stack):
    store, gateway = stack
    finished: list[str] = []

    async def on_request(verb: str, argument: str) -> None:
        assert verb == "finish", verb
        name, state = argument.split()
        await pgsage_stack.finish_job(store, name, state)
        finished.append(name)

    output = await run_flow("notify", gateway.url, on_request, script=FLOW)
    assert "flow notify passed" in output
    assert len(finished) == 3
