"""A real analysis through the browser: the form starts it, the dispatcher runs it on the
optimizer against the demo shop, the job page follows it live to its end; then one
suggestion is approved, another dismissed, the filters agree, the patch holds exactly the
approved statement, and the approved suggestion is applied to the demo target and rolled back."""

from __future__ import annotations

import pgsage_stack
import pytest
from e2e_browser import run_flow


@pytest.fixture(scope="module")
async def running_stack(built_ui, demo_dsn):
    async with pgsage_stack.job_store("pgsage_e2e") as store:
        async with pgsage_stack.optimizer(pgsage_stack.demo_targets(demo_dsn)) as optimizer:
            async with pgsage_stack.job_service(
                store, optimizer_address=optimizer.address, max_concurrent_jobs=2
            ) as service:
                async with pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway:
                    yield gateway


async def test_an_analysis_of_the_demo_target_from_form_to_patch(running_stack):
    output = await run_flow("analysis", running_stack.url)
    assert "patch ok" in output and "apply and rollback ok" in output
    assert "flow analysis passed" in output
