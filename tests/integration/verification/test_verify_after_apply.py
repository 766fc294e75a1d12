"""Verification after apply on a real target: an index that helps is IMPROVED, one that does
nothing NO_EFFECT, the drop of an index the workload uses REGRESSED (and, where the target's
policy says so, rolled back by "pgsage policy"), and a pg_stat_statements reset in the window
INCONCLUSIVE. The workloads run real statements on the target between the snapshots; the
verdicts come from what pg_stat_statements recorded of them."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import httpx

from job_service import database, domain, jobs
from pgsage import rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2, suggestion_pb2
from pgsage.jobs.v1 import verification_pb2 as vpb
from tests.support import stack as pgsage_stack
from tests.support.browser import REPO, run_flow
from tests.support.cli import run_pgsage

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion
Change = vpb.QueryVerification.Change
TERMINAL = (Job.SUCCEEDED, Job.FAILED, Job.CANCELLED)


async def setup_table(dsn: str, table: str, *, index_on: str | None = None) -> None:
    """`table` with 100,000 rows: 2,000 customers, a note; analysed."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, customer int NOT NULL, "
            "note text NOT NULL, amount int NOT NULL)"
        )
        await conn.execute(
            f"INSERT INTO {table} SELECT g, g % 2000, md5(g::text), g % 97 "  # noqa: S608
            "FROM generate_series(1, 100000) g"
        )
        if index_on:
            await conn.execute(f"CREATE INDEX {table}_{index_on}_idx ON {table} ({index_on})")
        await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


async def workload(dsn: str, sql: str, calls: int) -> str:
    """Runs `sql` (one `$1`) `calls` times with varying values; its pg_stat_statements id."""
    conn = await asyncpg.connect(dsn)
    try:
        statement = await conn.prepare(sql)
        for n in range(calls):
            await statement.fetch(n * 7 % 2000)
        fragment = sql.split(" WHERE ")[0]
        return str(
            await conn.fetchval(
                "SELECT queryid::text FROM pg_stat_statements "
                "WHERE strpos(query, $1) > 0 AND query NOT LIKE '%pg_stat_statements%' "
                "ORDER BY calls DESC LIMIT 1",
                fragment,
            )
        )
    finally:
        await conn.close()


async def approved(
    v, target: str, *, kind: str, sql: str, table: str, query: tuple[str, str], title: str = ""
):
    """A suggestion as an analysis of `target` would store it, approved (a create's rollback
    drops its index; a drop's recreates what the APPLY dropped)."""
    rollback = ""
    if sql.startswith("CREATE"):
        index = sql.split()[3]
        rollback = f"DROP INDEX CONCURRENTLY IF EXISTS public.{index}"
    db = database.Database(v.store_dsn, pool_size=1)
    try:
        async with db.connection() as conn:
            job, _ = await jobs.create(
                conn,
                domain.NewJob(
                    kind="ANALYZE",
                    target=target,
                    run_after=datetime.now(UTC) + timedelta(days=1),  # never claimed
                ),
            )
    finally:
        await db.close()
    await pgsage_stack.finish_job(v.store_dsn, f"jobs/{job.id}")
    name = await pgsage_stack.seed_suggestion(
        v.store_dsn,
        f"jobs/{job.id}",
        kind=kind,
        target=target,
        sql=sql,
        rollback_sql=rollback,
        table=table,
        query_impacts=[suggestion_pb2.QueryImpact(query_id=query[0], text=query[1])],
        **({"title": title} if title else {}),
    )
    return await v.stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=name))


async def finished(stub, name: str, limit: float = 120) -> job_pb2.Job:
    for _ in range(int(limit * 10)):
        job = await stub.GetJob(job_service_pb2.GetJobRequest(name=name))
        if job.state in TERMINAL:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {job}")


async def apply(v, s) -> job_pb2.Job:
    job = await v.stub.CreateJob(
        job_service_pb2.CreateJobRequest(
            job=Job(kind=Job.APPLY, target=s.target, suggestion=s.name)
        )
    )
    done = await finished(v.stub, job.name)
    assert done.state == Job.SUCCEEDED, done
    return done


async def verify_now(v, s) -> tuple[job_pb2.Job, Suggestion]:
    job = await v.stub.VerifySuggestion(job_service_pb2.VerifySuggestionRequest(name=s.name))
    assert job.kind == Job.VERIFY
    done = await finished(v.stub, job.name)
    assert done.state == Job.SUCCEEDED, done
    return done, await v.stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))


def the_query(result: vpb.Verification, query_id: str) -> vpb.QueryVerification:
    [q] = [q for q in result.queries if q.query_id == query_id]
    return q


async def index_exists(dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))
    finally:
        await conn.close()


async def test_an_index_that_helps_is_improved_by_the_verify_job_its_apply_scheduled(verifying):
    v = verifying
    await setup_table(v.target_dsn, "t_improve")
    sql = "SELECT count(*) FROM t_improve WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 60)  # 60 sequential scans before
    s = await approved(
        v,
        "shop-soon",
        kind="CREATE_INDEX",
        sql="CREATE INDEX CONCURRENTLY t_improve_customer_idx ON public.t_improve (customer)",
        table="public.t_improve",
        query=(qid, sql),
    )
    applied = await apply(v, s)
    # The APPLY scheduled a VERIFY job, due after the target's window.
    listed = await v.stub.ListJobs(
        job_service_pb2.ListJobsRequest(filter='kind = VERIFY AND target = "shop-soon"')
    )
    [verify] = [j for j in listed.jobs if j.suggestion == s.name]
    assert verify.state == Job.PENDING and verify.creator == applied.creator
    assert verify.due_time.ToDatetime() > applied.end_time.ToDatetime()
    await workload(v.target_dsn, sql, 200)  # index scans after, well inside the window
    done = await finished(v.stub, verify.name)
    assert done.state == Job.SUCCEEDED, done
    result = done.verification
    assert result.verdict == vpb.IMPROVED, result.reason
    q = the_query(result, qid)
    assert q.affected and q.change == Change.FASTER and q.p_value < 0.01
    assert q.before.calls >= 60 and q.after.calls == 200
    assert q.after.mean_ms < q.before.mean_ms and q.change_percent < -50
    # Buffers: a scan of the table before, a few index pages after.
    assert q.after.shared_blks_hit_per_call * 10 < q.before.shared_blks_hit_per_call
    assert result.index.name == "public.t_improve_customer_idx" and result.index.exists
    assert result.index.scans_since_apply >= 200
    assert result.table.name == "public.t_improve"
    # The verdict is on the suggestion too, with the numbers.
    got = await v.stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
    assert got.verdict == vpb.IMPROVED and got.verification_result.job == done.name
    assert the_query(got.verification_result, qid).after.calls == 200
    by_verdict = await v.stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(parent="jobs/-", filter="verdict = IMPROVED")
    )
    assert s.name in {x.name for x in by_verdict.suggestions}
    # Both snapshots are kept, and listed for the target's chart.
    snaps = await v.stub.ListWorkloadSnapshots(
        job_service_pb2.ListWorkloadSnapshotsRequest(filter='target = "shop-soon"')
    )
    mine = [x for x in snaps.workload_snapshots if x.suggestion == s.name]
    assert [x.reason for x in mine] == ["VERIFY", "APPLY"]  # newest first
    assert mine[0].calls > mine[1].calls and mine[0].total_exec_time_ms > 0


async def test_an_index_no_query_uses_has_no_effect_from_the_cli(verifying):
    v = verifying
    await setup_table(v.target_dsn, "t_none")
    sql = "SELECT count(*) FROM t_none WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 60)
    s = await approved(
        v,
        "shop",
        kind="CREATE_INDEX",
        sql="CREATE INDEX CONCURRENTLY t_none_note_idx ON public.t_none (note)",
        table="public.t_none",
        query=(qid, sql),
    )
    await apply(v, s)
    await workload(v.target_dsn, sql, 60)
    verified = await run_pgsage("verify", s.name, "--watch", address=v.address)
    assert verified.code == 0, verified
    assert "verdict: NO_EFFECT" in verified.out and "no significant change" in verified.out
    assert "unchanged" in verified.out and "t_none_note_idx: 0 scans" in verified.out
    shown = await run_pgsage("suggestions", "show", s.name, address=v.address)
    assert shown.code == 0 and "verdict: NO_EFFECT" in shown.out, shown
    got = await v.stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
    done = await v.stub.GetJob(job_service_pb2.GetJobRequest(name=got.verification_result.job))
    result = done.verification
    assert result.verdict == vpb.NO_EFFECT, result.reason
    q = the_query(result, qid)
    assert q.change == Change.UNCHANGED and q.before.calls >= 60 and q.after.calls == 60
    assert result.index.exists and result.index.scans_since_apply == 0
    assert got.verdict == vpb.NO_EFFECT and got.state == Suggestion.APPLIED


async def test_dropping_a_used_index_regresses_and_the_policy_rolls_it_back(verifying):
    v = verifying
    await setup_table(v.target_dsn, "t_drop", index_on="customer")
    sql = "SELECT count(*) FROM t_drop WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 200)  # index scans before
    s = await approved(
        v,
        "shop-strict",
        kind="DROP_UNUSED_INDEX",
        sql="DROP INDEX CONCURRENTLY public.t_drop_customer_idx",
        table="public.t_drop",
        query=(qid, sql),
    )
    await apply(v, s)
    assert not await index_exists(v.target_dsn, "public.t_drop_customer_idx")
    await workload(v.target_dsn, sql, 60)  # sequential scans after
    done, _ = await verify_now(v, s)
    result = done.verification
    assert result.verdict == vpb.REGRESSED, result.reason
    q = the_query(result, qid)
    assert q.change == Change.SLOWER and q.change_percent > 100
    assert result.rollback_job and "pgsage policy" in result.policy_action
    rollback = await finished(v.stub, result.rollback_job)
    assert rollback.state == Job.SUCCEEDED and rollback.kind == Job.ROLLBACK
    assert rollback.creator == "pgsage policy"
    # The index is back, exactly as it was.
    assert await index_exists(v.target_dsn, "public.t_drop_customer_idx")
    got = await v.stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
    assert got.state == Suggestion.ROLLED_BACK and got.verdict == vpb.REGRESSED
    trail = await v.stub.ListAuditRecords(
        job_service_pb2.ListAuditRecordsRequest(filter=f'resource = "{s.name}"')
    )
    [created] = [r for r in trail.audit_records if r.action == "job.create.rollback"]
    assert created.actor == "pgsage policy" and created.job == rollback.name
    assert "REGRESSED" in created.detail and done.name in created.detail
    ran = [
        r for r in trail.audit_records if r.job == rollback.name and r.action == "statement.execute"
    ]
    assert ran and all(r.on_behalf_of == "pgsage policy" for r in ran)
    assert any(r.statement.startswith("CREATE INDEX CONCURRENTLY") for r in ran)


async def test_a_regression_on_a_notify_target_is_recorded_and_the_change_stays(verifying):
    v = verifying
    await setup_table(v.target_dsn, "t_keep", index_on="customer")
    sql = "SELECT count(*) FROM t_keep WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 200)
    s = await approved(
        v,
        "shop",
        kind="DROP_UNUSED_INDEX",
        sql="DROP INDEX CONCURRENTLY public.t_keep_customer_idx",
        table="public.t_keep",
        query=(qid, sql),
    )
    await apply(v, s)
    await workload(v.target_dsn, sql, 60)
    done, got = await verify_now(v, s)
    assert done.verification.verdict == vpb.REGRESSED, done.verification.reason
    assert done.verification.policy_action.startswith("notify")
    assert not done.verification.rollback_job
    assert got.state == Suggestion.APPLIED and got.verdict == vpb.REGRESSED
    assert not await index_exists(v.target_dsn, "public.t_keep_customer_idx")


async def test_a_statistics_reset_in_the_window_is_inconclusive(verifying):
    v = verifying
    await setup_table(v.target_dsn, "t_reset")
    sql = "SELECT count(*) FROM t_reset WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 60)
    s = await approved(
        v,
        "shop",
        kind="CREATE_INDEX",
        sql="CREATE INDEX CONCURRENTLY t_reset_customer_idx ON public.t_reset (customer)",
        table="public.t_reset",
        query=(qid, sql),
    )
    await apply(v, s)
    conn = await asyncpg.connect(v.target_dsn)
    await conn.execute("SELECT pg_stat_statements_reset()")
    await conn.close()
    await workload(v.target_dsn, sql, 100)
    done, got = await verify_now(v, s)
    result = done.verification
    assert result.verdict == vpb.INCONCLUSIVE
    assert "reset" in result.reason and not result.queries
    assert got.verdict == vpb.INCONCLUSIVE


async def test_verify_needs_an_applied_suggestion_and_a_rollback_cancels_the_waiting_one(
    verifying,
):
    v = verifying
    await setup_table(v.target_dsn, "t_rules")
    sql = "SELECT count(*) FROM t_rules WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 5)
    s = await approved(
        v,
        "shop",
        kind="CREATE_INDEX",
        sql="CREATE INDEX CONCURRENTLY t_rules_customer_idx ON public.t_rules (customer)",
        table="public.t_rules",
        query=(qid, sql),
    )
    try:
        await v.stub.VerifySuggestion(job_service_pb2.VerifySuggestionRequest(name=s.name))
        raise AssertionError("an APPROVED suggestion was verified")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rpc.reason_of(exc) == "INVALID_STATE_TRANSITION"
    try:
        await v.stub.VerifySuggestion(
            job_service_pb2.VerifySuggestionRequest(name=f"jobs/{uuid.uuid4()}/suggestions/x")
        )
        raise AssertionError("a malformed name was accepted")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
    await apply(v, s)
    listed = await v.stub.ListJobs(job_service_pb2.ListJobsRequest(filter="kind = VERIFY"))
    [waiting] = [j for j in listed.jobs if j.suggestion == s.name]
    assert waiting.state == Job.PENDING  # an hour away
    rollback = await v.stub.CreateJob(
        job_service_pb2.CreateJobRequest(
            job=Job(kind=Job.ROLLBACK, target="shop", suggestion=s.name)
        )
    )
    assert (await finished(v.stub, rollback.name)).state == Job.SUCCEEDED
    gone = await v.stub.GetJob(job_service_pb2.GetJobRequest(name=waiting.name))
    assert gone.state == Job.CANCELLED


async def test_verify_and_the_verdict_over_rest(verifying):
    v = verifying
    await setup_table(v.target_dsn, "t_rest")
    sql = "SELECT count(*) FROM t_rest WHERE customer = $1"
    qid = await workload(v.target_dsn, sql, 60)
    s = await approved(
        v,
        "shop",
        kind="CREATE_INDEX",
        sql="CREATE INDEX CONCURRENTLY t_rest_customer_idx ON public.t_rest (customer)",
        table="public.t_rest",
        query=(qid, sql),
    )
    async with (
        pgsage_stack.gateway(v.address) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=20) as http,
    ):
        refused = await http.post(f"/v1/{s.name}:verify", json={})
        status, code, reason, _ = pgsage_stack.error_of(refused)
        assert (status, code, reason) == (400, "FAILED_PRECONDITION", "INVALID_STATE_TRANSITION")
        missing = await http.post(
            f"/v1/jobs/{uuid.uuid4()}/suggestions/{uuid.uuid4()}:verify", json={}
        )
        assert missing.status_code == 404
        await apply(v, s)
        await workload(v.target_dsn, sql, 100)
        started = await http.post(f"/v1/{s.name}:verify", json={"requestId": "rest-verify-1"})
        # (The verdict is then read over REST, and seen in the browser.)
        assert started.status_code == 200, started.text
        job = started.json()
        assert job["kind"] == "VERIFY" and job["suggestion"] == s.name
        again = await http.post(f"/v1/{s.name}:verify", json={"requestId": "rest-verify-1"})
        assert again.json()["name"] == job["name"]  # idempotent
        done = await finished(v.stub, job["name"])
        assert done.state == Job.SUCCEEDED, done
        got = (await http.get(f"/v1/{s.name}")).json()
        assert got["verdict"] == "IMPROVED", got.get("verificationResult")
        [q] = [x for x in got["verificationResult"]["queries"] if x["queryId"] == qid]
        assert q["change"] == "FASTER" and q["after"]["calls"] == "100"
        snaps = (
            await http.get('/v1/workloadSnapshots?filter=target%20%3D%20"shop"&totalsOnly=true')
        ).json()
        assert snaps["workloadSnapshots"] and all(
            "snapshotStatements" not in x for x in snaps["workloadSnapshots"]
        )

        output = await run_flow(
            "verification",
            gateway.url,
            script=REPO / "tests" / "e2e" / "verification_flow.mjs",
            env={"JOB": s.name.split("/suggestions/")[0], "TITLE": s.title, "QUERY": sql},
        )
        assert "verification flow passed" in output


async def test_a_regression_and_its_policy_rollback_are_queued_for_webhooks(verifying):
    """The verdict, the regression and the policy's rollback reach the webhook outbox in the
    VERIFY job's transaction (the sender's delivery is tested with the webhooks)."""
    v = verifying
    store = await asyncpg.connect(v.store_dsn)
    try:
        await store.execute(
            "INSERT INTO webhook (id, display_name, url, event_types, format, creator) "
            "VALUES ($1, 'dba', 'https://hooks.example/pgsage', $2, 'GENERIC', 'test')",
            uuid.uuid4(),
            ["VERIFICATION_VERDICT", "REGRESSION", "ROLLBACK_BY_POLICY"],
        )
        await setup_table(v.target_dsn, "t_hook", index_on="customer")
        sql = "SELECT count(*) FROM t_hook WHERE customer = $1"
        qid = await workload(v.target_dsn, sql, 200)
        s = await approved(
            v,
            "shop-strict",
            kind="DROP_UNUSED_INDEX",
            sql="DROP INDEX CONCURRENTLY public.t_hook_customer_idx",
            table="public.t_hook",
            query=(qid, sql),
        )
        await apply(v, s)
        await workload(v.target_dsn, sql, 60)
        done, _ = await verify_now(v, s)
        assert done.verification.verdict == vpb.REGRESSED, done.verification.reason
        events = {
            r["event_type"]: r
            for r in await store.fetch(
                "SELECT event_type, target, payload FROM webhook_event WHERE resource = $1",
                s.name,
            )
        }
    finally:
        await store.close()
    assert set(events) == {"VERIFICATION_VERDICT", "REGRESSION", "ROLLBACK_BY_POLICY"}
    rolled = json.loads(events["ROLLBACK_BY_POLICY"]["payload"])
    assert rolled["verdict"] == "REGRESSED" and rolled["job"] == done.verification.rollback_job
    assert "rolled back by pgsage policy" in rolled["text"]
    assert all(e["target"] == "shop-strict" for e in events.values())
