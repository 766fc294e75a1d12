"""From suggestion to production and back: APPLY and ROLLBACK jobs on a real target.

Real processes (job service, optimizer), a target database of this module's own on the
shared server; the target's catalog is the judge of what really happened.
"""

from __future__ import annotations

import asyncio

import asyncpg
import grpc

from pgsage import rpc
from pgsage.jobs.v1 import (
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    suggestion_pb2,
)
from pgsage.optimizer.v1 import optimizer_service_pb2, optimizer_service_pb2_grpc
from tests.support.dispatch import (
    alice,
    approved_create_index,
    catalog,
    check_invariants,
    targets,
    wait_finished,
)

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion


async def start(cluster, *, apply_allowed: bool = True, **job_env: str):
    opt = cluster.optimizer(targets=targets(cluster, apply_allowed=apply_allowed)).start()
    await opt.wait_serving()
    js = cluster.job_service(opt, **job_env).start()
    await js.wait_serving()
    return opt, js


async def run_change(stub, address: str, kind: int, suggestion: str) -> Job:
    job = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(job=Job(kind=kind, target="shop", suggestion=suggestion)),
        metadata=await alice(stub),
    )
    [done] = await wait_finished(address, [job.name], limit=90)
    return done


async def test_apply_then_rollback_leaves_the_catalog_as_it_was(cluster):
    _, js = await start(cluster)
    before = await catalog(cluster.target_dsn)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        s = await approved_create_index(stub, js.address)

        applied_job = await run_change(stub, js.address, Job.APPLY, s.name)
        assert applied_job.state == Job.SUCCEEDED, applied_job
        applied = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
        assert applied.state == Suggestion.APPLIED
        after_apply = await catalog(cluster.target_dsn)
        added = sorted(set(after_apply) - set(before))
        assert len(added) == 1 and added[0][1] is True, added  # one new, valid index

        # The same change cannot be applied twice.
        try:
            await stub.CreateJob(
                job_service_pb2.CreateJobRequest(
                    job=Job(kind=Job.APPLY, target="shop", suggestion=s.name)
                )
            )
            raise AssertionError("applying an APPLIED suggestion must be refused")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION

        rolled_job = await run_change(stub, js.address, Job.ROLLBACK, s.name)
        assert rolled_job.state == Job.SUCCEEDED, rolled_job
        rolled = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
        assert rolled.state == Suggestion.ROLLED_BACK
        assert await catalog(cluster.target_dsn) == before

        trail = await stub.ListAuditRecords(
            job_service_pb2.ListAuditRecordsRequest(filter=f'resource = "{s.name}"')
        )
        records = list(reversed(trail.audit_records))  # oldest first
        actions = [(r.action, r.outcome) for r in records]
        assert actions[0] == ("suggestion.approve", "OK") and records[0].actor == "alice"
        intent = actions.index(("apply.intent", "INTENT"))
        started = actions.index(("statement.execute", "STARTED"))
        assert intent < started, actions  # the intent is written before anything runs
        assert ("statement.execute", "SUCCEEDED") in actions
        assert ("suggestion.applied", "OK") in actions
        assert ("suggestion.rolled_back", "OK") in actions
        # What the jobs ran is the job service's doing, on behalf of who asked for the job.
        assert applied_job.creator == "alice" and rolled_job.creator == "alice"
        by_jobs = [r for r in records if r.actor.startswith("pgsage:jobs/")]
        assert by_jobs and all(r.on_behalf_of == "alice" for r in by_jobs), by_jobs
        theirs = await stub.ListAuditRecords(
            job_service_pb2.ListAuditRecordsRequest(filter='on_behalf_of = "alice"')
        )
        assert {r.name for r in theirs.audit_records} == {r.name for r in by_jobs}
        executed = [r.statement for r in records if r.action == "statement.execute"]
        assert any(st.startswith("CREATE INDEX CONCURRENTLY") for st in executed), executed
        assert any(st.startswith("DROP INDEX CONCURRENTLY") for st in executed), executed
    conn = await cluster.store_conn()
    await check_invariants(conn)
    await conn.close()


async def test_apply_on_a_target_that_forbids_it_fails_with_the_reason(cluster):
    _, js = await start(cluster, apply_allowed=False)
    before = await catalog(cluster.target_dsn)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        s = await approved_create_index(stub, js.address)
        job = await run_change(stub, js.address, Job.APPLY, s.name)
        assert job.state == Job.FAILED
        assert job.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], job.error
        failed = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
        assert failed.state == Suggestion.APPLY_FAILED
        assert "apply" in failed.failure_reason.lower()
    assert await catalog(cluster.target_dsn) == before


async def test_injected_sql_in_an_edit_never_runs(cluster):
    _, js = await start(cluster)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        s = await approved_create_index(stub, js.address)
        for sql in (
            "CREATE INDEX CONCURRENTLY x ON public.invoice (status); DROP TABLE public.invoice",
            "DROP TABLE public.invoice",
            "CREATE INDEX CONCURRENTLY x ON public.invoice ((pg_terminate_backend(1)::int))",
            # an index that is already there (a DBA's) would count as built, then be dropped
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS invoice_pkey ON public.invoice (status)",
        ):
            try:
                await stub.UpdateSuggestion(
                    job_service_pb2.UpdateSuggestionRequest(
                        suggestion={"name": s.name, "edited_sql": sql}
                    )
                )
                raise AssertionError(f"accepted: {sql}")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (sql, exc.details())
                assert rpc.reason_of(exc) == "INVALID_STATEMENT"
        # An expression index with an immutable function is a legitimate edit.
        fine = "CREATE INDEX CONCURRENTLY invoice_abs_amount_idx ON public.invoice (abs(amount))"
        edited = await stub.UpdateSuggestion(
            job_service_pb2.UpdateSuggestionRequest(suggestion={"name": s.name, "edited_sql": fine})
        )
        assert edited.edited_sql.startswith("CREATE INDEX CONCURRENTLY")
        assert "invoice_abs_amount_idx" in edited.edited_rollback_sql
        assert edited.state == Suggestion.PENDING  # an edit sends an approval back
    conn = await asyncpg.connect(cluster.target_dsn)
    assert await conn.fetchval("SELECT count(*) FROM invoice") == 100000
    await conn.close()


async def test_job_killed_during_the_build_ends_as_pg_index_says(cluster):
    # The third statement started is the CREATE INDEX CONCURRENTLY itself (after the two
    # SETs of lock and statement timeouts): the kill lands mid-build.
    opt, victim = await start(cluster, PGSAGE_FAILPOINTS="during_change=kill:3")
    before = await catalog(cluster.target_dsn)
    async with grpc.aio.insecure_channel(victim.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        s = await approved_create_index(stub, victim.address)
        job = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                job=Job(kind=Job.APPLY, target="shop", suggestion=s.name)
            )
        )
    for _ in range(300):
        if not victim.alive():
            break
        await asyncio.sleep(0.1)
    assert not victim.alive(), "the failpoint never fired"
    assert [h[0] for h in cluster.failpoint_hits()] == ["during_change"]
    survivor = cluster.job_service(opt, name="survivor").start()
    await survivor.wait_serving()
    [done] = await wait_finished(survivor.address, [job.name], limit=60)
    async with grpc.aio.insecure_channel(survivor.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        final = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
    now = await catalog(cluster.target_dsn)
    added = sorted(set(now) - set(before))
    assert all(valid for _, valid in now), f"an invalid index was left behind: {now}"
    if final.state == Suggestion.APPLIED:
        assert done.state == Job.SUCCEEDED and len(added) == 1
    else:
        assert final.state == Suggestion.APPLY_FAILED and not added, (final, added)
    # Leave the target as this module found it for the tests after this one.
    conn = await asyncpg.connect(cluster.target_dsn)
    for index, _ in added:
        await conn.execute(f'DROP INDEX IF EXISTS public."{index}"')
    await conn.close()
    conn = await cluster.store_conn()
    await check_invariants(conn)
    await conn.close()


async def test_benchmark_job_attaches_before_and_after_without_changing_state(cluster):
    target = {
        **targets(cluster, apply_allowed=False)[0],
        "benchmark_sampling": True,
        "sample_percent": 50.0,
    }
    opt = cluster.optimizer(targets=[target]).start()
    await opt.wait_serving()
    js = cluster.job_service(opt).start()
    await js.wait_serving()
    before = await catalog(cluster.target_dsn)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        s = await approved_create_index(stub, js.address)
        job = await run_change(stub, js.address, Job.BENCHMARK, s.name)
        assert job.state == Job.SUCCEEDED, job
        measured = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
        assert measured.state == Suggestion.APPROVED  # a benchmark never changes the state
        [result] = measured.benchmarks
        assert result.job == job.name and "sample" in result.environment.lower()
        [query] = result.queries
        assert query.after.index_used and not query.before.index_used
        before_blocks = query.before.shared_hit_blocks + query.before.shared_read_blocks
        after_blocks = query.after.shared_hit_blocks + query.after.shared_read_blocks
        assert after_blocks * 10 < before_blocks, (before_blocks, after_blocks)
        benchmarked = await stub.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(parent="jobs/-", filter="benchmarked = true")
        )
        assert [x.name for x in benchmarked.suggestions] == [s.name]
    # Nothing left on the target: no index, no scratch schema.
    assert await catalog(cluster.target_dsn) == before
    conn = await asyncpg.connect(cluster.target_dsn)
    schemas = await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgsage%'")
    await conn.close()
    assert schemas == 0


class FlakyApply(optimizer_service_pb2_grpc.OptimizerServiceServicer):
    """The real optimizer behind a proxy whose Apply misbehaves as `plan` says, one entry per
    call: "unreached" (UNAVAILABLE before anything is sent, as a dropped connection looks),
    "broke" (one statement event, then UNAVAILABLE); afterwards it forwards."""

    def __init__(self, real: str, plan: list[str]) -> None:
        self.channel = grpc.aio.insecure_channel(real)
        self.stub = optimizer_service_pb2_grpc.OptimizerServiceStub(self.channel)
        self.plan = plan
        self.calls = 0

    async def Analyze(self, request, context):
        async for event in self.stub.Analyze(request):
            yield event

    async def ListTargets(self, request, context):
        return await self.stub.ListTargets(request)

    async def Apply(self, request, context):
        what = self.plan[self.calls] if self.calls < len(self.plan) else "forward"
        self.calls += 1
        if what == "unreached":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
        if what == "broke":
            yield optimizer_service_pb2.ApplyResponse(
                statement=optimizer_service_pb2.StatementExecution(
                    target="shop",
                    sql="SET lock_timeout = 1",
                    phase=optimizer_service_pb2.StatementExecution.STARTED,
                )
            )
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the optimizer went away")
        async for event in self.stub.Apply(request):
            yield event


async def apply_through(cluster, plan: list[str]) -> tuple[Job, Suggestion, int]:
    """An approved suggestion applied by a job service (one attempt per job) whose optimizer
    is `FlakyApply(plan)` in front of the real one; the job, the suggestion, Apply calls."""
    before = {name for name, _ in await catalog(cluster.target_dsn)}
    opt = cluster.optimizer(targets=targets(cluster, apply_allowed=True)).start()
    await opt.wait_serving()
    proxy = FlakyApply(opt.address, plan)
    server = grpc.aio.server()
    optimizer_service_pb2_grpc.add_OptimizerServiceServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        js = cluster.job_service(f"127.0.0.1:{port}", PGSAGE_JOBS_MAX_ATTEMPTS="1").start()
        await js.wait_serving()
        async with grpc.aio.insecure_channel(js.address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            s = await approved_create_index(stub, js.address)
            done = await run_change(stub, js.address, Job.APPLY, s.name)
            final = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
        assert "unexpected error" not in js.log_path.read_text()
        conn = await cluster.store_conn()
        await check_invariants(conn)
        await conn.close()
        return done, final, proxy.calls
    finally:
        await server.stop(0)
        await proxy.channel.close()
        # The next test analyses the same target: what this one built goes.
        conn = await asyncpg.connect(cluster.target_dsn)
        for name, _ in await catalog(cluster.target_dsn):
            if name not in before:
                await conn.execute(f'DROP INDEX IF EXISTS public."{name}"')
        await conn.close()


async def test_an_apply_that_never_reached_the_optimizer_uses_no_attempt(cluster):
    done, final, calls = await apply_through(cluster, ["unreached", "unreached"])
    # One attempt allowed, two unreached calls: they gave their attempt back each time.
    assert done.state == Job.SUCCEEDED and done.attempt == 1 and calls == 3, (done, calls)
    assert final.state == Suggestion.APPLIED


async def test_an_apply_broken_on_its_last_attempt_says_why_on_the_suggestion(cluster):
    done, final, calls = await apply_through(cluster, ["broke"])
    assert done.state == Job.FAILED and calls == 1, done
    assert final.state == Suggestion.APPLY_FAILED
    assert "the optimizer went away" in final.failure_reason, final.failure_reason
    # Nothing was built: the proxy broke before the real Apply ran.
    assert not [name for name, _ in await catalog(cluster.target_dsn) if "account_id" in name]


async def _stored(cluster, name: str) -> asyncpg.Record:
    """What the job store remembers of the APPLY of suggestion `name`."""
    conn = await cluster.store_conn()
    try:
        return await conn.fetchrow(
            "SELECT applied_index_oid, applied_index_definition FROM suggestion WHERE id = $1",
            name.rsplit("/", 1)[-1],
        )
    finally:
        await conn.close()


async def test_a_rollback_drops_only_the_index_its_apply_built(cluster):
    _, js = await start(cluster)
    before = await catalog(cluster.target_dsn)
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        s = await approved_create_index(stub, js.address)
        index = s.sql.split()[3]  # CREATE INDEX CONCURRENTLY <name> ON ...

        # A DBA builds that very index (same name, same definition) before the APPLY runs.
        target = await asyncpg.connect(cluster.target_dsn)
        try:
            await target.execute(s.sql)
            dba_oid = await target.fetchval("SELECT to_regclass($1)::oid", f"public.{index}")
            applied_job = await run_change(stub, js.address, Job.APPLY, s.name)
            assert applied_job.state == Job.SUCCEEDED, applied_job
            # Found in place on the first attempt: not pgsage's build, nothing recorded.
            stored = await _stored(cluster, s.name)
            assert stored["applied_index_oid"] is None and not stored["applied_index_definition"]

            rolled_job = await run_change(stub, js.address, Job.ROLLBACK, s.name)
            assert rolled_job.state == Job.FAILED, rolled_job
            rolled = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=s.name))
            assert rolled.state == Suggestion.ROLLBACK_FAILED
            assert index in rolled.failure_reason and "not dropped" in rolled.failure_reason
            assert (
                await target.fetchval("SELECT to_regclass($1)::oid", f"public.{index}") == dba_oid
            )

            # Once the DBA's index is gone the rollback has nothing to do; a new APPLY builds
            # pgsage's own index and records it ...
            await target.execute(f"DROP INDEX public.{index}")
            rolled_job = await run_change(stub, js.address, Job.ROLLBACK, s.name)
            assert rolled_job.state == Job.SUCCEEDED, rolled_job
            applied_job = await run_change(stub, js.address, Job.APPLY, s.name)
            assert applied_job.state == Job.SUCCEEDED, applied_job
            built = await target.fetchrow(
                "SELECT c.oid, pg_get_indexdef(c.oid) AS def FROM pg_class c "
                "WHERE c.oid = to_regclass($1)",
                f"public.{index}",
            )
            stored = await _stored(cluster, s.name)
            assert stored["applied_index_oid"] == built["oid"]
            assert stored["applied_index_definition"] == built["def"]
            # ... and its ROLLBACK drops exactly that one.
            rolled_job = await run_change(stub, js.address, Job.ROLLBACK, s.name)
            assert rolled_job.state == Job.SUCCEEDED, rolled_job
            assert await catalog(cluster.target_dsn) == before
        finally:
            await target.execute(f"DROP INDEX IF EXISTS public.{index}")
            await target.close()


async def test_malformed_protobuf_to_the_job_service_is_invalid_argument(cluster):
    _, js = await start(cluster)
    garbage = b"\x0a\xff\xff\xff\xff\x0f\x01"  # a length past the end of the message
    async with grpc.aio.insecure_channel(js.address) as channel:
        for method in ("GetJob", "CreateJob"):
            call = channel.unary_unary(f"/pgsage.jobs.v1.JobService/{method}")
            try:
                await call(garbage, timeout=10)
                raise AssertionError(f"{method} accepted bytes that are no message")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, exc)
                assert rpc.reason_of(exc) == "MALFORMED_REQUEST"
    assert "Traceback" not in js.log_path.read_text()
