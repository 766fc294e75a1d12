"""The target page in the browser, on the built UI, with real data: a target cluster of its
own (pg_stat_statements), a real optimizer and job service (dispatcher running, periodic
snapshots every second), an index that helps applied and verified IMPROVED, an open
suggestion and a schedule; then the Targets list, the page's headline, workload charts,
before/after chart, open suggestions, schedule and analyses, the link from the jobs, and an
unknown target."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import grpc
import httpx
import pytest

from job_service import target_summary
from pgsage.jobs.v1 import job_service_pb2_grpc
from pgsage.jobs.v1 import verification_pb2 as vpb
from tests.integration.verification.conftest import Verifying
from tests.integration.verification.test_verify_after_apply import (
    apply,
    approved,
    setup_table,
    verify_now,
    workload,
)
from tests.support import clusters
from tests.support import stack as pgsage_stack
from tests.support.browser import run_flow

FLOW = Path(__file__).with_name("target_flow.mjs")


@pytest.fixture(scope="module")
async def stack(built_ui) -> AsyncIterator[tuple[Verifying, str]]:
    async with clusters.own_cluster("targetpage") as postgres:
        admin = await asyncpg.connect(postgres.dsn())
        await admin.execute("CREATE DATABASE shop")
        await admin.close()
        conn = await asyncpg.connect(postgres.dsn("shop"))
        await conn.execute("CREATE EXTENSION pg_stat_statements")
        await conn.close()
        target = {
            "name": "shop",
            "dsn": postgres.dsn("shop"),
            "what_if_engine": "transactional",
            "apply_allowed": True,
            "verification_window_seconds": 3600,
        }
        async with (
            pgsage_stack.job_store("pgsage_e2e_target") as store,
            pgsage_stack.optimizer([target]) as optimizer,
            pgsage_stack.job_service(
                store,
                optimizer_address=optimizer.address,
                max_concurrent_jobs=2,
                poll_interval=timedelta(seconds=0.2),
                optimizer_timeout=timedelta(seconds=5),
                snapshot_interval=timedelta(seconds=1),
            ) as service,
            pgsage_stack.gateway(service.address, ui_dir=built_ui) as gateway,
        ):
            address = f"127.0.0.1:{service.port}"
            async with grpc.aio.insecure_channel(address) as channel:
                v = Verifying(
                    postgres.dsn("shop"),
                    store,
                    address,
                    job_service_pb2_grpc.JobServiceStub(channel),
                    optimizer.address,
                )
                yield v, gateway.url


async def test_the_target_page_shows_the_verified_index_and_the_workload(stack):
    v, url = stack
    await setup_table(v.target_dsn, "t_orders")
    sql = "SELECT count(*) FROM t_orders WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 60)
    s = await approved(
        v,
        "shop",
        kind="CREATE_INDEX",
        sql="CREATE INDEX CONCURRENTLY t_orders_customer_idx ON public.t_orders (customer)",
        table="public.t_orders",
        query=(qid, sql),
        title="Index on public.t_orders (customer)",
    )
    analysis = s.name.split("/suggestions/")[0]
    # An open suggestion of the same analysis, with an estimated gain.
    await pgsage_stack.seed_suggestion(
        v.store_dsn,
        analysis,
        target="shop",
        table="public.t_orders",
        column="note",
        workload_improvement_percent=12.5,
    )
    await apply(v, s)
    await workload(v.target_dsn, sql, 200)
    _, verified = await verify_now(v, s)
    assert verified.verdict == vpb.IMPROVED
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        created = await http.post(
            "/v1/schedules", json={"target": "shop", "cron": "0 3 * * *", "displayName": "nightly"}
        )
        assert created.status_code == 200, created.text
        # Periodic snapshots every second: wait until the workload chart has points.
        for _ in range(100):
            summary = (await http.get("/v1/targets/shop/summary")).json()
            if sum(1 for p in summary.get("workload", []) if p.get("hasInterval")) >= 3:
                break
            await workload(v.target_dsn, sql, 5)
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no workload points: {summary.get('workload')}")
    output = await run_flow(
        "target",
        url,
        script=FLOW,
        env={
            "TITLE": "Index on public.t_orders (customer)",
            "OPEN_TITLE": "Index on public.t_orders (note)",
            "ANALYSIS": analysis,
            "PERCENT": target_summary.pct(summary["improvement"]["timeSavedPercent"]),
        },
    )
    assert "target flow passed" in output
