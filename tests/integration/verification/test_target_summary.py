"""The target page's data on a real target: GetTargetSummary (gRPC and REST) after an index
that helps was applied and verified, an unknown target NOT_FOUND, and the periodic workload
snapshots, one per target and tick with two job services on one store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import grpc
import httpx
import pytest

from pgsage import errors, rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2
from pgsage.jobs.v1 import verification_pb2 as vpb
from tests.integration.verification.test_verify_after_apply import (
    apply,
    approved,
    setup_table,
    verify_now,
    workload,
)
from tests.support import stack as pgsage_stack

Job = job_pb2.Job


async def test_the_summary_shows_the_verified_change_and_how_much_faster_it_made_the_target(
    verifying,
):
    v = verifying
    await setup_table(v.target_dsn, "t_page")
    sql = "SELECT count(*) FROM t_page WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 60)
    s = await approved(
        v,
        "shop",
        kind="CREATE_INDEX",
        sql="CREATE INDEX CONCURRENTLY t_page_customer_idx ON public.t_page (customer)",
        table="public.t_page",
        query=(qid, sql),
        title="index for the page",
    )
    await apply(v, s)
    await workload(v.target_dsn, sql, 200)
    _, verified = await verify_now(v, s)
    assert verified.verdict == vpb.IMPROVED

    summary = await v.stub.GetTargetSummary(
        job_service_pb2.GetTargetSummaryRequest(name="targets/shop")
    )
    assert summary.name == "targets/shop" and summary.target == "shop"
    assert summary.info.name == "shop" and summary.info.reachable
    # The analysis the suggestion came from, and the change with its verdict and figures.
    assert s.name.split("/suggestions/")[0] in {j.name for j in summary.analyses}
    [change] = [c for c in summary.applied_changes if c.name == s.name]
    assert change.verdict == vpb.IMPROVED
    [q] = [q for q in change.verification_result.queries if q.query_id == qid]
    assert q.before.calls >= 60 and q.after.calls == 200
    assert q.after.mean_ms < q.before.mean_ms
    # The headline comes from that verdict: the query's 200 calls at the mean before vs after.
    i = summary.improvement
    assert i.applied_changes == 1 and i.improved == 1 and i.unverified == 0
    assert i.time_before_ms == pytest.approx(200 * q.before.mean_ms, rel=0.05)
    assert i.time_after_ms == pytest.approx(200 * q.after.mean_ms, rel=0.05)
    assert i.time_saved_percent > 50 and i.speedup > 2 and i.time_saved_ms_per_hour > 0
    assert "1 verified change (1 improved)" in i.headline and "less time" in i.headline
    # The APPLY's and the VERIFY's snapshots make the workload series, oldest first.
    reasons = [p.reason for p in summary.workload]
    assert reasons[-2:] == ["APPLY", "VERIFY"]
    last = summary.workload[-1]
    assert last.has_interval and last.interval_calls >= 200 and last.interval_exec_time_ms > 0
    assert summary.snapshot_interval.ToTimedelta() == timedelta(0)  # off in this stack

    # The same through the gateway's REST route.
    async with pgsage_stack.gateway(v.address) as gw:
        async with httpx.AsyncClient(base_url=gw.url, timeout=10) as http:
            got = await http.get("/v1/targets/shop/summary")
            assert got.status_code == 200, got.text
            body = got.json()
            assert body["improvement"]["improved"] == 1
            assert body["appliedChanges"][0]["verdict"] == "IMPROVED"
            assert body["improvement"]["headline"] == i.headline
            missing = await http.get("/v1/targets/nowhere/summary")
            assert missing.status_code == 404, missing.text
            assert "targets/nowhere does not exist" in missing.text


async def test_an_unknown_target_and_a_bad_name_are_refused_clearly(verifying):
    v = verifying
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await v.stub.GetTargetSummary(
            job_service_pb2.GetTargetSummaryRequest(name="targets/nowhere")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    reason, _ = errors.from_status(rpc.status_of(caught.value))
    assert reason == "TARGET_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await v.stub.GetTargetSummary(job_service_pb2.GetTargetSummaryRequest(name="shop"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "name must look like 'targets/{target}'" in caught.value.details()


async def test_two_job_services_take_one_periodic_snapshot_per_target_and_tick(verifying):
    v = verifying
    interval = timedelta(seconds=1)
    target = await asyncpg.connect(v.target_dsn)
    try:
        for n in range(5):  # a workload, so that the totals are not zero
            await target.fetchval("SELECT 1 + $1::int", n)
    finally:
        await target.close()
    async with (
        pgsage_stack.job_service(
            v.store_dsn,
            optimizer_address=v.optimizer_address,
            optimizer_timeout=timedelta(seconds=5),
            snapshot_interval=interval,
        ) as a,
        pgsage_stack.job_service(
            v.store_dsn,
            optimizer_address=v.optimizer_address,
            optimizer_timeout=timedelta(seconds=5),
            snapshot_interval=interval,
        ) as b,
    ):
        # Until every target has three ticks (about three seconds; more on a busy machine).
        store = await asyncpg.connect(v.store_dsn)
        try:
            for _ in range(120):
                fewest = await store.fetchval(
                    "SELECT min(n) FROM (SELECT count(*) AS n FROM snapshot_tick GROUP BY target) x"
                )
                if (fewest or 0) >= 3 and await store.fetchval(
                    "SELECT count(DISTINCT target) FROM snapshot_tick"
                ) == 3:
                    break
                await asyncio.sleep(0.25)
        finally:
            await store.close()
    # Both stopped: what each says it stored is final.
    assert a.watch is not None and b.watch is not None
    taken_here = a.watch.taken + b.watch.taken
    conn = await asyncpg.connect(v.store_dsn)
    try:
        ticks = await conn.fetch(
            "SELECT t.target, t.tick, t.snapshot_id, s.reason, s.target AS snapshot_target "
            "FROM snapshot_tick t LEFT JOIN workload_snapshot s ON s.id = t.snapshot_id"
        )
        periodic = await conn.fetchval(
            "SELECT count(*) FROM workload_snapshot WHERE reason = 'PERIODIC'"
        )
        per_tick = await conn.fetchval(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM workload_snapshot s "
            "JOIN snapshot_tick t ON t.snapshot_id = s.id GROUP BY t.target, t.tick) x"
        )
    finally:
        await conn.close()
    # Every tick has its snapshot, of its target; no tick has two; nothing else was stored.
    assert all(t["reason"] == "PERIODIC" and t["snapshot_target"] == t["target"] for t in ticks)
    assert per_tick == 1 and periodic == len(ticks) == taken_here
    by_target: dict[str, set] = {}
    for t in ticks:
        by_target.setdefault(t["target"], set()).add(t["tick"])
    # Three targets (one database), three ticks or more each.
    assert set(by_target) == {"shop", "shop-strict", "shop-soon"}
    assert all(len(ticks_of) >= 3 for ticks_of in by_target.values()), by_target
    # The summary charts them.
    summary = await v.stub.GetTargetSummary(
        job_service_pb2.GetTargetSummaryRequest(name="targets/shop-strict")
    )
    periodic_points = [p for p in summary.workload if p.reason == "PERIODIC"]
    assert len(periodic_points) == len(by_target["shop-strict"])
    # Each holds the database's pg_stat_statements totals (the target has a workload).
    assert all(p.calls >= 5 and p.total_exec_time_ms > 0 for p in periodic_points)
    assert any(p.has_interval and p.interval_seconds > 0 for p in summary.workload)
