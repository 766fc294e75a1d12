"""A real analysis through the browser: the form starts it, the dispatcher runs it on the
optimizer against the demo shop, the job page follows it live to its end; then one
suggestion is approved, another dismissed, the filters agree, the patch holds exactly the
approved statement, and the approved suggestion is applied to the demo target and rolled back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow


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


@pytest.fixture(scope="module")
async def unbenchmarkable_stack(built_ui, demo_dsn):
    """The demo target with no sandbox, sampling not allowed and apply forbidden."""
    target = {
        **pgsage_stack.demo_targets(demo_dsn)[0],
        "benchmark_sampling": False,
        "apply_allowed": False,
    }
    async with pgsage_stack.job_store("pgsage_e2e") as store:
        async with pgsage_stack.optimizer([target]) as optimizer:
            async with pgsage_stack.job_service(
                store, optimizer_address=optimizer.address, max_concurrent_jobs=2
            ) as service:
                async with pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway:
                    yield gateway


async def test_benchmark_and_apply_refused_by_the_target_config_say_why(unbenchmarkable_stack):
    """A real analysis (over REST), then Benchmark in the browser: the job fails, and the row
    says in plain words why and how to configure a sandbox or sampling; Apply, confirmed,
    fails the same way, naming the setting that forbids it."""
    async with httpx.AsyncClient(base_url=unbenchmarkable_stack.url) as client:
        created = await client.post("/v1/jobs", json={"target": "demo"})
        assert created.status_code == 200, created.text
        name = created.json()["name"]
        async with asyncio.timeout(120):
            while (job := (await client.get(f"/v1/{name}")).json())["state"] != "SUCCEEDED":
                assert job["state"] in ("PENDING", "RUNNING"), job
                await asyncio.sleep(0.2)
    output = await run_flow("unconfigured", f"{unbenchmarkable_stack.url}#{name}")
    assert "flow unconfigured passed" in output
